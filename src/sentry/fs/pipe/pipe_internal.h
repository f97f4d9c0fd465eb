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
};

struct pipe {
	pthread_mutex_t lock;
	int refs;
	struct waitqueue wq;
	struct pipe_slot *slots; /* ring of nslots (a power of two) */
	uint32_t nslots;
	uint32_t head, tail;     /* slots [tail, head) hold data; indexes wrap freely */
	size_t nbytes;
	int readers, writers;
	unsigned r_counter, w_counter; /* opens so far, for FIFO opens and POLLHUP */
	char *spare;             /* a free page kept for the next write */
	int fifo_files;          /* files of the FIFO inode holding it (under the inode's lock) */
};

#define PIPE_WAKE_READERS (LINUX_POLLIN | LINUX_POLLRDNORM)
#define PIPE_WAKE_WRITERS (LINUX_POLLOUT | LINUX_POLLWRNORM)

/*
 * A FIFO open: counts the new reader and/or writer, then waits for the other end as fifo(7)
 * says (a lone writer always waits or, nonblocking, fails with -ENXIO; a lone reader waits
 * unless nonblocking; O_RDWR never waits).  *w_seen gets the writer counter for pipe_poll.
 * Returns 0, -ENXIO or -ERESTARTSYS (the counts undone).
 */
int pipe_fifo_join(struct pipe *p, struct task *t, bool rd, bool wr, bool nonblock,
		   unsigned *w_seen);

#endif
