/* Private to src/sentry/fs/pipe. */
#ifndef CV_SENTRY_FS_PIPE_INTERNAL_H
#define CV_SENTRY_FS_PIPE_INTERNAL_H

#include <pthread.h>

#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/poll.h"

struct pipe_slot {
	char *page;
	uint32_t off, len;
	bool packet;
	bool nomerge; /* filled by a splice: writes never top it up (Linux's CAN_MERGE unset) */
};

struct pipe {
	pthread_mutex_t lock;
	int refs;
	struct waitqueue wq;
	struct pipe_slot *slots; /* ring of nslots (a power of two) */
	uint32_t nslots;
	uint32_t head, tail;     /* slots [tail, head) hold data; indexes wrap freely */
	size_t nbytes;
	uint32_t resv;           /* free slots promised to splices reading their data in */
	bool rd_busy;            /* a splice is passing on data it has not consumed yet */
	int readers, writers;
	unsigned r_counter, w_counter; /* opens so far, for FIFO opens and POLLHUP */
	char *spare;             /* a free page kept for the next write */
	int fifo_files;          /* files of the FIFO inode holding it (under the inode's lock) */
};

#define PIPE_WAKE_READERS (LINUX_POLLIN | LINUX_POLLRDNORM)
#define PIPE_WAKE_WRITERS (LINUX_POLLOUT | LINUX_POLLWRNORM)

static inline uint32_t pipe_used(const struct pipe *p)
{
	return p->head - p->tail;
}

/* Slots a writer may fill now (p->lock held): reserved ones count as used. */
static inline uint32_t pipe_room(const struct pipe *p)
{
	return p->nslots - pipe_used(p) - p->resv;
}

static inline struct pipe_slot *pipe_slot_at(struct pipe *p, uint32_t i)
{
	return &p->slots[i & (p->nslots - 1)];
}

/* A page for a new slot, the spare one if any (p->lock held); NULL on ENOMEM. */
char *pipe_page_alloc(struct pipe *p);
/* Frees the page of the slot at the tail, keeping one spare, and drops the slot (p->lock). */
void pipe_slot_drop(struct pipe *p);

/*
 * A FIFO open: counts the new reader and/or writer, then waits for the other end as fifo(7)
 * says (a lone writer always waits or, nonblocking, fails with -ENXIO; a lone reader waits
 * unless nonblocking; O_RDWR never waits).  *w_seen gets the writer counter for pipe_poll.
 * Returns 0, -ENXIO or -ERESTARTSYS (the counts undone).
 */
int pipe_fifo_join(struct pipe *p, struct task *t, bool rd, bool wr, bool nonblock,
		   unsigned *w_seen);

#endif
