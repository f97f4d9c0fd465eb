/*
 * Readiness: how files report events and how poll, select and epoll wait for them
 * (src/sentry/kernel/poll.c, src/sentry/kernel/host_poll.c, src/sentry/fs/epoll).
 *
 * A file's poll op returns the events ready now and, when pt is not NULL, calls
 * poll_wait(pt, wq) for every wait queue on which a later change will be announced with
 * waitqueue_wake(wq, events).  The poll_table implementation (poll/select: wake the task;
 * epoll: a callback that marks the item ready) owns the waiters it registers and removes them.
 * Wakers pass the events that changed (POLLIN when data arrives, POLLOUT when room frees,
 * POLLHUP/POLLERR when a peer goes); waiters may be filtered on them.
 *
 * Files backed by host fds (the container's stdio, timerfds, host sockets) get their
 * readiness from one host epoll per sandbox, watched by a sentry thread that turns host
 * events into waitqueue_wake on the file's wait queue (struct host_watch).
 *
 * Lock order: an epoll's mtx (items; outer epoll before a nested one) before file and
 * object locks (pipe, kernel->lock for signalfd); wait-queue locks before an epoll's ready
 * list lock (wake callbacks).  The host watcher's lock is taken with no other lock held
 * except when it calls waitqueue_wake.
 */
#ifndef CV_SENTRY_POLL_H
#define CV_SENTRY_POLL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvisor/abi/linux/poll.h"
#include "cvisor/sentry/kernel.h"

struct task;
struct file;
struct poll_ctx;

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

/* Shorthands for poll ops. */
#define POLL_READABLE (LINUX_POLLIN | LINUX_POLLRDNORM)
#define POLL_WRITABLE (LINUX_POLLOUT | LINUX_POLLWRNORM)

struct poll_table {
	/* Registers interest in wq; implementations allocate and track their waiters.  NULL:
	 * only report readiness (epoll rescans, nested checks). */
	void (*queue)(struct poll_table *pt, struct waitqueue *wq);
	uint64_t events;   /* what the caller waits for (hint) */
	struct task *task; /* the polling task, or NULL (signalfd reads its signals) */
	int depth;         /* epoll files being polled above this one (loop guard) */
};

static inline void poll_wait(struct poll_table *pt, struct waitqueue *wq)
{
	if (pt && pt->queue)
		pt->queue(pt, wq);
}

/* The polling task of pt, or NULL. */
static inline struct task *poll_task(const struct poll_table *pt)
{
	return pt ? pt->task : NULL;
}

/* ---- poll(2) and select(2) core (kernel/poll.c) -------------------------------------------- */

/* One descriptor to watch: revents = (file's events & events), POLLNVAL for a closed fd. */
struct poll_req {
	int fd;          /* < 0: ignored (revents 0) */
	unsigned events; /* the caller adds POLLERR|POLLHUP for poll(2) */
	unsigned revents;
};

/*
 * Waits until at least one of reqs is ready, the deadline passes (CLOCK_MONOTONIC ns, 0 =
 * none) or a signal arrives; with nowait, only looks once.  Fills every revents.  Returns the
 * number of ready entries, 0 at the deadline, -EINTR when a signal is pending, -ENOMEM.
 */
long poll_fds(struct task *t, struct poll_req *reqs, size_t n, uint64_t deadline, bool nowait);

/*
 * The blocking loop of event files: calls try(arg) until it returns anything but -EAGAIN,
 * sleeping on wq (a waiter for events) between tries.  With nonblock, returns try's first
 * answer.  Returns try's result or -ERESTARTSYS when a signal interrupts the wait.
 */
long wait_event(struct task *t, struct waitqueue *wq, uint64_t events, bool nonblock,
		long (*try)(void *arg), void *arg);

/* ---- host fd readiness (kernel/host_poll.c) ------------------------------------------------ */

/*
 * Readiness of one host fd, delivered to wq by the sandbox's watcher thread.  Embed it in the
 * object owning the fd, host_watch_init() it, and call host_watch_poll() from the poll op;
 * the watch starts on first use and host_watch_stop() (before closing the fd) ends it.
 */
struct host_watch {
	struct waitqueue wq; /* woken with POLL* events when the host fd's readiness changes */
	pthread_mutex_t lock;
	int fd;
	bool started;     /* registered with the watcher (or found unpollable) */
	bool always_ready; /* the host cannot poll it (regular files): never wakes */
	uint64_t key;     /* the watcher's slot and generation */
	struct poll_ctx *pc;
};

void host_watch_init(struct host_watch *hw, int hostfd);
/*
 * Registers pt on hw (starting the watch with pt's task's kernel when needed) and returns the
 * host fd's ready POLL* events now, from a zero-timeout host poll.
 */
unsigned host_watch_poll(struct host_watch *hw, struct poll_table *pt);
/* Ends the watch; no wake-up runs on hw->wq after it returns. */
void host_watch_stop(struct host_watch *hw);

/* Frees the kernel's poll state (k->poll_ctx): stops the watcher thread. */
void poll_ctx_free(struct poll_ctx *pc);
/* The kernel's poll state, created on first use; NULL on ENOMEM. */
struct poll_ctx *poll_ctx_of(struct kernel *k);
/* Serialises epoll-in-epoll insertions (loop checks) of one sandbox. */
pthread_mutex_t *poll_ctx_epoll_lock(struct poll_ctx *pc);
/* A new generation number for one loop check (epoll nesting lock held). */
uint64_t poll_ctx_epoll_walk(struct poll_ctx *pc);
/* The queue signalfds wait on, woken by signalfd_notify() (event_files.h). */
struct waitqueue *poll_ctx_signal_wq(struct poll_ctx *pc);

/* ---- epoll (fs/epoll) ---------------------------------------------------------------------- */

#define EPOLL_MAX_NESTS 4

/* A new epoll file (one reference; close-on-exec is the caller's fd flag); ERR_PTR. */
struct file *epoll_file_new(struct task *t);
bool file_is_epoll(const struct file *f);
/*
 * EPOLL_CTL_ADD/MOD/DEL of target (borrowed, fd is its number) in epf.  ev is ignored for
 * DEL.  Returns 0 or -EINVAL, -EEXIST, -ENOENT, -EPERM, -ELOOP, -ENOMEM.
 */
int epoll_ctl_file(struct task *t, struct file *epf, int op, int fd, struct file *target,
		   const struct linux_epoll_event *ev);
/*
 * Collects up to max ready events into out, waiting as poll_fds does.  Returns the count,
 * 0 at the deadline, -EINTR when a signal is pending.
 */
long epoll_wait_file(struct task *t, struct file *epf, struct linux_epoll_event *out, int max,
		     uint64_t deadline, bool nowait);
/* Called by the vfs when a file watched by epolls is released: drops its registrations. */
void epoll_file_release(struct file *f);

#endif
