/*
 * Readiness of host fds (the container's stdio, timerfds, host sockets): one host epoll per
 * sandbox, registered edge-triggered for every event, and one sentry thread that waits on it
 * and turns each host event into waitqueue_wake() on the owning object's wait queue.  Poll
 * ops then see host-backed files like any other: a zero-timeout host poll says what is ready
 * now, and the wait queue says when to look again.  Whoever blocks (poll, select, epoll) just
 * sleeps on its own wake sequence, so no waiter ever needs a host ppoll of its own.
 *
 * Host events name a slot of a table (index and generation), never a pointer: a watch that
 * stops bumps its slot's generation under the table lock, so an event read from the host
 * before the EPOLL_CTL_DEL can no longer reach it.  The watcher calls waitqueue_wake under
 * that lock, which makes host_watch_stop() a barrier for running wake-ups.
 *
 * The same per-sandbox state (struct poll_ctx, created on first use) holds the lock that
 * serialises epoll-in-epoll insertions and the wait queue every signalfd sleeps on: it lives
 * as long as the kernel, so a signalfd that outlives the process it watched never leaves a
 * waiter on freed memory (a woken reader just looks at its own queues again).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define WATCH_EVENTS (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLET)
#define STOP_KEY (~0ull)

struct poll_slot {
	struct host_watch *hw; /* NULL when free */
	uint32_t gen;
};

struct poll_ctx {
	pthread_mutex_t lock; /* slots, thread start */
	int epfd;
	int stop_fd;          /* eventfd: tells the watcher thread to leave */
	bool running;
	pthread_t thread;
	struct poll_slot *slots;
	uint32_t nslots, nfree_hint;
	pthread_mutex_t epoll_nest_lock;
	uint64_t epoll_walk_gen; /* under epoll_nest_lock */
	struct waitqueue signal_wq; /* signalfd readers and pollers of the whole sandbox */
};

struct poll_ctx *poll_ctx_of(struct kernel *k)
{
	struct poll_ctx *pc = __atomic_load_n(&k->poll_ctx, __ATOMIC_ACQUIRE), *expected = NULL;

	if (pc)
		return pc;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return NULL;
	pthread_mutex_init(&pc->lock, NULL);
	pthread_mutex_init(&pc->epoll_nest_lock, NULL);
	waitqueue_init(&pc->signal_wq);
	pc->epfd = pc->stop_fd = -1;
	if (!__atomic_compare_exchange_n(&k->poll_ctx, &expected, pc, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(pc);
		return expected;
	}
	return pc;
}

pthread_mutex_t *poll_ctx_epoll_lock(struct poll_ctx *pc)
{
	return &pc->epoll_nest_lock;
}

uint64_t poll_ctx_epoll_walk(struct poll_ctx *pc)
{
	return ++pc->epoll_walk_gen;
}

struct waitqueue *poll_ctx_signal_wq(struct poll_ctx *pc)
{
	return &pc->signal_wq;
}

void signalfd_notify(struct kernel *k)
{
	struct poll_ctx *pc = __atomic_load_n(&k->poll_ctx, __ATOMIC_ACQUIRE);

	/* No poll state yet means no signalfd has ever been made: nobody to wake. */
	if (pc)
		waitqueue_wake(&pc->signal_wq, LINUX_POLLIN);
}

static void *watcher_main(void *arg)
{
	struct poll_ctx *pc = arg;
	struct epoll_event ev[64];

	for (;;) {
		int n = epoll_wait(pc->epfd, ev, (int)ARRAY_SIZE(ev), -1);

		if (n < 0 && errno != EINTR) {
			log_err("host fd watcher: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		pthread_mutex_lock(&pc->lock);
		for (int i = 0; i < n; i++) {
			uint64_t key = ev[i].data.u64;
			uint32_t idx = (uint32_t)key, gen = (uint32_t)(key >> 32);

			if (key == STOP_KEY) {
				pthread_mutex_unlock(&pc->lock);
				return NULL;
			}
			if (idx < pc->nslots && pc->slots[idx].hw && pc->slots[idx].gen == gen)
				waitqueue_wake(&pc->slots[idx].hw->wq, ev[i].events);
		}
		pthread_mutex_unlock(&pc->lock);
	}
}

/* Starts the host epoll and the watcher thread (pc->lock held). */
static int watcher_start(struct poll_ctx *pc)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_KEY};
	sigset_t all, old;
	int r;

	if (pc->running)
		return 0;
	if (pc->epfd < 0 && (pc->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	if (pc->stop_fd < 0) {
		if ((pc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return -errno;
		if (epoll_ctl(pc->epfd, EPOLL_CTL_ADD, pc->stop_fd, &ev) < 0)
			return -errno;
	}
	/* The watcher takes no host signal (SIG_TASK_INTERRUPT is for task threads). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&pc->thread, NULL, watcher_main, pc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pc->running = true;
	return 0;
}

void poll_ctx_free(struct poll_ctx *pc)
{
	uint64_t one = 1;

	if (!pc)
		return;
	if (pc->running) {
		if (write(pc->stop_fd, &one, sizeof(one)) < 0)
			log_warn("host fd watcher: cannot stop: %s", strerror(errno));
		else
			pthread_join(pc->thread, NULL);
	}
	if (pc->epfd >= 0)
		close(pc->epfd);
	if (pc->stop_fd >= 0)
		close(pc->stop_fd);
	free(pc->slots);
	free(pc);
}

/* A free slot for hw (pc->lock held); -ENOMEM. */
static int slot_alloc(struct poll_ctx *pc, struct host_watch *hw)
{
	uint32_t i;

	for (i = pc->nfree_hint; i < pc->nslots && pc->slots[i].hw; i++)
		;
	if (i == pc->nslots) {
		uint32_t n = pc->nslots ? pc->nslots * 2 : 16;
		struct poll_slot *s = realloc(pc->slots, n * sizeof(*s));

		if (!s)
			return -ENOMEM;
		memset(s + pc->nslots, 0, (n - pc->nslots) * sizeof(*s));
		pc->slots = s;
		pc->nslots = n;
	}
	pc->slots[i].hw = hw;
	pc->nfree_hint = i + 1;
	return (int)i;
}

void host_watch_init(struct host_watch *hw, int hostfd)
{
	memset(hw, 0, sizeof(*hw));
	waitqueue_init(&hw->wq);
	pthread_mutex_init(&hw->lock, NULL);
	hw->fd = hostfd;
}

/* Registers hw with k's watcher (hw->lock held). */
static void host_watch_start(struct host_watch *hw, struct kernel *k)
{
	struct poll_ctx *pc = poll_ctx_of(k);
	struct epoll_event ev = {.events = WATCH_EVENTS};
	int idx;

	if (!pc)
		return; /* ENOMEM: try again at the next poll */
	pthread_mutex_lock(&pc->lock);
	if (watcher_start(pc) < 0 || (idx = slot_alloc(pc, hw)) < 0) {
		pthread_mutex_unlock(&pc->lock);
		return;
	}
	hw->key = (uint64_t)pc->slots[idx].gen << 32 | (uint32_t)idx;
	ev.data.u64 = hw->key;
	if (epoll_ctl(pc->epfd, EPOLL_CTL_ADD, hw->fd, &ev) < 0) {
		/* EPERM: regular files and the like, which are always ready. */
		hw->always_ready = errno == EPERM;
		pc->slots[idx].hw = NULL;
		pc->slots[idx].gen++;
		pthread_mutex_unlock(&pc->lock);
		hw->started = hw->always_ready;
		return;
	}
	pthread_mutex_unlock(&pc->lock);
	hw->pc = pc;
	hw->started = true;
}

unsigned host_watch_poll(struct host_watch *hw, struct poll_table *pt)
{
	struct pollfd p = {
		.fd = hw->fd,
		.events = POLLIN | POLLOUT | POLLPRI | POLLRDNORM | POLLWRNORM | POLLRDHUP,
	};
	struct task *t = poll_task(pt);

	if (pt && pt->queue && t) {
		pthread_mutex_lock(&hw->lock);
		if (!hw->started)
			host_watch_start(hw, t->k);
		pthread_mutex_unlock(&hw->lock);
		poll_wait(pt, &hw->wq);
	}
	if (poll(&p, 1, 0) < 0)
		return 0;
	return (unsigned)p.revents;
}

void host_watch_stop(struct host_watch *hw)
{
	struct poll_ctx *pc = hw->pc;
	uint32_t idx = (uint32_t)hw->key;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	epoll_ctl(pc->epfd, EPOLL_CTL_DEL, hw->fd, NULL);
	if (idx < pc->nslots && pc->slots[idx].hw == hw) {
		pc->slots[idx].hw = NULL;
		pc->slots[idx].gen++;
		if (idx < pc->nfree_hint)
			pc->nfree_hint = idx;
	}
	pthread_mutex_unlock(&pc->lock);
	hw->pc = NULL;
	hw->started = false;
}
