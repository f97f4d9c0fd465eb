/*
 * Private to src/sentry/fs/epoll.
 *
 * An epoll instance keeps its interest list in a hash keyed by (file, fd), as Linux does, and
 * a ready list fed by wake-up callbacks hung on the wait queues each watched file names in
 * its poll op.  Items hold no reference on their file: the vfs calls epoll_file_release()
 * when a watched file's last reference goes, and that removes every item on it.
 *
 * Locks: ep->mtx guards the interest list, each item's hooks and the scans that call poll ops;
 * ep->lock guards the ready list and item event masks and is taken by wake callbacks (under
 * a wait queue's lock), so nothing is called with it held; links->lock guards a file's list
 * of items.  Order: ep->mtx, then (poll ops' locks), then wait-queue locks, then ep->lock or
 * links->lock.
 */
#ifndef CV_SENTRY_FS_EPOLL_INTERNAL_H
#define CV_SENTRY_FS_EPOLL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/poll.h"

/* Flags that are not events (what a disabled EPOLLONESHOT item keeps). */
#define EP_FLAG_BITS (LINUX_EPOLLET | LINUX_EPOLLONESHOT | LINUX_EPOLLWAKEUP | LINUX_EPOLLEXCLUSIVE)

struct epitem;

/* A waiter on one of the watched file's wait queues. */
struct ep_hook {
	struct waiter w; /* callback: ep_hook_wake */
	struct waitqueue *wq;
	struct epitem *epi;
	struct ep_hook *next;
};

struct epitem {
	struct epoll *ep;
	struct file *file; /* not referenced */
	int fd;
	uint32_t events;   /* requested events and flags [ep->lock] */
	uint64_t data;
	bool ready;        /* on ep's ready list [ep->lock] */
	bool in_tx;        /* taken off it by a scan in progress [ep->lock] */
	bool ovf;          /* an event came during that scan [ep->lock] */
	struct epitem *rd_next, *rd_prev; /* [ep->lock] */
	struct ep_hook *hooks;            /* [ep->mtx] */
	struct epitem *hash_next;         /* [ep->mtx] */
	struct epitem *fnext, *fprev;     /* the file's items [links->lock] */
};

/* The items watching one file (struct file.epoll_links). */
struct epoll_links {
	pthread_mutex_t lock;
	struct epitem *head;
};

struct epoll {
	int refs;
	pthread_mutex_t mtx;
	pthread_mutex_t lock;
	struct epitem rd;          /* ready list sentinel [lock] */
	struct waitqueue wq;       /* epoll_wait sleepers */
	struct waitqueue poll_wq;  /* pollers of the epoll file itself (poll, nested epolls) */
	struct epitem **hash;      /* [mtx] */
	size_t hcap, nitems;
	struct file *file;         /* the epoll's own file (not referenced) [mtx], NULL once
				    * it is being released */
	/* Loop checks' memo (under the sandbox's epoll nesting lock): the number of epoll
	 * instances in the longest chain below and above this one, for walk down_gen/up_gen. */
	uint64_t down_gen, up_gen;
	int down, up;
};

void ep_get(struct epoll *ep);
void ep_put(struct epoll *ep);
/* The epoll behind an epoll file, or NULL. */
struct epoll *file_epoll(const struct file *f);

/* Ready list (ep->lock held): add at the tail or the head, remove. */
void ep_rd_add(struct epoll *ep, struct epitem *epi, bool head);
void ep_rd_del(struct epoll *ep, struct epitem *epi);
/* Wakes epoll_wait sleepers and pollers of ep. */
void ep_wake(struct epoll *ep);

/* Polls one item's file (without registering) and masks with its events. */
unsigned ep_item_poll(struct epitem *epi, struct task *t, int depth);

/*
 * May target be added to ep (epoll_nest.c)?  -ELOOP when ep is reachable from target or the
 * chain of nested epolls through them would exceed EPOLL_MAX_NESTS + 1 instances.  Called
 * with the sandbox's epoll nesting lock held and no epoll mtx.
 */
int ep_check_nesting(struct task *t, struct epoll *ep, struct epoll *target);

/* The epoll file's poll op (epoll_wait.c). */
unsigned ep_file_poll(struct file *f, struct poll_table *pt);

#endif
