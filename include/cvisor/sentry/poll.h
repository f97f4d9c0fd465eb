/*
 * Readiness: how files report events and how poll, select and epoll wait for them
 * (src/sentry/kernel/poll.c, src/sentry/fs/epoll).
 *
 * A file's poll op returns the events ready now and, when pt is not NULL, calls
 * poll_wait(pt, wq) for every wait queue on which a later change will be announced with
 * waitqueue_wake(wq, events).  The poll_table implementation (poll/select: wake the task;
 * epoll: a callback that marks the item ready) owns the waiters it registers and removes them.
 */
#ifndef CV_SENTRY_POLL_H
#define CV_SENTRY_POLL_H

#include <stdint.h>

struct waitqueue;

/* Linux event bits (asm-generic/poll.h). */
#define LINUX_POLLIN 0x0001u
#define LINUX_POLLPRI 0x0002u
#define LINUX_POLLOUT 0x0004u
#define LINUX_POLLERR 0x0008u
#define LINUX_POLLHUP 0x0010u
#define LINUX_POLLNVAL 0x0020u
#define LINUX_POLLRDNORM 0x0040u
#define LINUX_POLLRDBAND 0x0080u
#define LINUX_POLLWRNORM 0x0100u
#define LINUX_POLLWRBAND 0x0200u
#define LINUX_POLLMSG 0x0400u
#define LINUX_POLLRDHUP 0x2000u

struct poll_table {
	/* Registers interest in wq; implementations allocate and track their waiters. */
	void (*queue)(struct poll_table *pt, struct waitqueue *wq);
	uint64_t events; /* what the caller waits for (hint) */
};

static inline void poll_wait(struct poll_table *pt, struct waitqueue *wq)
{
	if (pt && pt->queue)
		pt->queue(pt, wq);
}

#endif
