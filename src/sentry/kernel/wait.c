/*
 * Wait queues and task blocking.  A task sleeps on its own futex word (wake_seq); wakers bump
 * it.  Signals interrupt a sleeping task the same way, and a task blocked in a host call
 * (task_host_wait) is kicked with SIG_TASK_INTERRUPT, which sentry threads only unblock
 * inside ppoll, so no wake-up is lost.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/task.h"
#include "kernel_internal.h"

uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void waitqueue_init(struct waitqueue *wq)
{
	pthread_mutex_init(&wq->lock, NULL);
	wq->head.next = wq->head.prev = &wq->head;
}

void waitqueue_add(struct waitqueue *wq, struct waiter *w, struct task *t, uint64_t events)
{
	w->task = t;
	w->events = events;
	pthread_mutex_lock(&wq->lock);
	w->next = &wq->head;
	w->prev = wq->head.prev;
	wq->head.prev->next = w;
	wq->head.prev = w;
	pthread_mutex_unlock(&wq->lock);
}

void waitqueue_remove(struct waitqueue *wq, struct waiter *w)
{
	pthread_mutex_lock(&wq->lock);
	if (w->next) {
		w->prev->next = w->next;
		w->next->prev = w->prev;
		w->next = w->prev = NULL;
	}
	pthread_mutex_unlock(&wq->lock);
}

void waitqueue_wake(struct waitqueue *wq, uint64_t events)
{
	pthread_mutex_lock(&wq->lock);
	for (struct waiter *w = wq->head.next; w != &wq->head; w = w->next) {
		if (!(w->events & events))
			continue;
		if (w->callback)
			w->callback(w, events);
		else if (w->task)
			task_wake(w->task);
	}
	pthread_mutex_unlock(&wq->lock);
}

bool waitqueue_empty(struct waitqueue *wq)
{
	bool e;

	pthread_mutex_lock(&wq->lock);
	e = wq->head.next == &wq->head;
	pthread_mutex_unlock(&wq->lock);
	return e;
}

uint32_t task_wake_seq(struct task *t)
{
	return __atomic_load_n(&t->wake_seq, __ATOMIC_ACQUIRE);
}

void task_wake(struct task *t)
{
	__atomic_add_fetch(&t->wake_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &t->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	if (__atomic_load_n(&t->in_host_wait, __ATOMIC_SEQ_CST))
		pthread_kill(t->thread, SIG_TASK_INTERRUPT);
}

static int sleep_on(struct task *t, uint32_t seq, uint64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	long r;

	if (deadline_ns) {
		uint64_t now = clock_mono_ns();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((deadline_ns - now) % 1000000000ull);
		tsp = &ts;
	}
	__atomic_store_n(&t->sleeping, 1, __ATOMIC_RELAXED);
	r = syscall(SYS_futex, &t->wake_seq, FUTEX_WAIT_PRIVATE, seq, tsp, NULL, 0);
	__atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
	if (r < 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

int task_block(struct task *t, uint32_t seq, uint64_t deadline_ns)
{
	int r;

	if (task_signal_pending(t))
		return -EINTR;
	r = sleep_on(t, seq, deadline_ns);
	if (task_signal_pending(t))
		return -EINTR;
	return r;
}

int task_block_killable(struct task *t, uint32_t seq, uint64_t deadline_ns)
{
	int r;

	if (__atomic_load_n(&t->killed, __ATOMIC_ACQUIRE))
		return -EINTR;
	r = sleep_on(t, seq, deadline_ns);
	if (__atomic_load_n(&t->killed, __ATOMIC_ACQUIRE))
		return -EINTR;
	return r;
}

static void on_task_interrupt(int sig)
{
	(void)sig;
}

void task_host_wait_setup(void)
{
	struct sigaction sa = {.sa_handler = on_task_interrupt};

	/* A real handler: with SIG_DFL the kick would be dropped (the sandbox is the init of its
	 * pid namespace) or, elsewhere, kill the process. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_TASK_INTERRUPT, &sa, NULL);
}

int task_host_wait(struct task *t, int hostfd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = hostfd, .events = events};
	struct timespec ts, *tsp = NULL;
	sigset_t unblocked;
	int r;

	sigfillset(&unblocked);
	sigdelset(&unblocked, SIG_TASK_INTERRUPT);
	__atomic_store_n(&t->in_host_wait, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (task_signal_pending(t)) {
			r = -EINTR;
			break;
		}
		if (deadline_ns) {
			uint64_t now = clock_mono_ns();

			if (now >= deadline_ns) {
				r = -ETIMEDOUT;
				break;
			}
			ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000ull);
			ts.tv_nsec = (long)((deadline_ns - now) % 1000000000ull);
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, &unblocked);
		if (r > 0) {
			r = 0;
			break;
		}
		if (r < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
	}
	__atomic_store_n(&t->in_host_wait, 0, __ATOMIC_SEQ_CST);
	return r;
}
