/* Kernel timers: a binary min-heap of deadlines served by one thread per kernel. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "cvisor/log.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/ktimer.h"

struct ktimer_base {
	pthread_mutex_t lock;
	bool running_thread;
	pthread_cond_t cond;      /* timer thread: earliest deadline changed */
	pthread_cond_t done;      /* cancellers: a callback finished */
	struct ktimer **heap;
	size_t n, cap;
	struct ktimer *running;
	bool stop;
	pthread_t thread;
};

static void swap(struct ktimer_base *b, size_t i, size_t j)
{
	struct ktimer *t = b->heap[i];

	b->heap[i] = b->heap[j];
	b->heap[j] = t;
	b->heap[i]->heap_idx = i;
	b->heap[j]->heap_idx = j;
}

static void sift_up(struct ktimer_base *b, size_t i)
{
	while (i > 0 && b->heap[(i - 1) / 2]->deadline > b->heap[i]->deadline) {
		swap(b, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct ktimer_base *b, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < b->n && b->heap[l]->deadline < b->heap[m]->deadline)
			m = l;
		if (r < b->n && b->heap[r]->deadline < b->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		swap(b, i, m);
		i = m;
	}
}

static void heap_remove(struct ktimer_base *b, struct ktimer *kt)
{
	size_t i = kt->heap_idx;

	if (i == SIZE_MAX)
		return;
	b->n--;
	if (i != b->n) {
		swap(b, i, b->n);
		sift_down(b, i);
		sift_up(b, i);
	}
	kt->heap_idx = SIZE_MAX;
}

static int heap_insert(struct ktimer_base *b, struct ktimer *kt)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct ktimer **h = realloc(b->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		b->heap = h;
		b->cap = cap;
	}
	b->heap[b->n] = kt;
	kt->heap_idx = b->n++;
	sift_up(b, kt->heap_idx);
	return 0;
}

/* Pops the first expired timer, re-queueing periodic ones; NULL if none is due. */
static struct ktimer *pop_due(struct ktimer_base *b, uint64_t now)
{
	struct ktimer *kt;

	if (!b->n || b->heap[0]->deadline > now)
		return NULL;
	kt = b->heap[0];
	heap_remove(b, kt);
	kt->overrun = 0;
	if (kt->period) {
		uint64_t missed = (now - kt->deadline) / kt->period;

		kt->overrun = missed;
		kt->deadline += (missed + 1) * kt->period;
		heap_insert(b, kt);
	} else {
		kt->deadline = 0;
	}
	return kt;
}

static void wait_until(struct ktimer_base *b, uint64_t deadline)
{
	struct timespec ts;

	if (!deadline) {
		pthread_cond_wait(&b->cond, &b->lock);
		return;
	}
	ts.tv_sec = (time_t)(deadline / 1000000000ull);
	ts.tv_nsec = (long)(deadline % 1000000000ull);
	pthread_cond_timedwait(&b->cond, &b->lock, &ts);
}

static void *timer_main(void *arg)
{
	struct ktimer_base *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		struct ktimer *kt = pop_due(b, clock_mono_ns());

		if (!kt) {
			wait_until(b, b->n ? b->heap[0]->deadline : 0);
			continue;
		}
		b->running = kt;
		pthread_mutex_unlock(&b->lock);
		kt->fn(kt);
		pthread_mutex_lock(&b->lock);
		b->running = NULL;
		pthread_cond_broadcast(&b->done);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int ktimer_start(struct kernel *k)
{
	struct ktimer_base *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_cond_init(&b->done, NULL);
	pthread_condattr_destroy(&ca);
	k->timers = b;
	return 0;
}

int ktimer_run(struct kernel *k)
{
	struct ktimer_base *b = k->timers;
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&b->thread, NULL, timer_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	b->running_thread = true;
	return 0;
}

void ktimer_stop(struct kernel *k)
{
	struct ktimer_base *b = k->timers;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->running_thread)
		pthread_join(b->thread, NULL);
	free(b->heap);
	free(b);
	k->timers = NULL;
}

void ktimer_init(struct ktimer *kt, ktimer_fn fn, void *priv)
{
	kt->deadline = kt->period = kt->overrun = 0;
	kt->fn = fn;
	kt->priv = priv;
	kt->heap_idx = SIZE_MAX;
}

void ktimer_arm(struct kernel *k, struct ktimer *kt, uint64_t deadline, uint64_t period)
{
	struct ktimer_base *b = k->timers;

	pthread_mutex_lock(&b->lock);
	heap_remove(b, kt);
	kt->deadline = deadline;
	kt->period = period;
	if (deadline && heap_insert(b, kt) < 0) {
		log_warn("timer: out of memory; a timer did not arm");
		kt->deadline = 0;
	}
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void ktimer_cancel(struct kernel *k, struct ktimer *kt)
{
	struct ktimer_base *b = k->timers;

	pthread_mutex_lock(&b->lock);
	heap_remove(b, kt);
	kt->deadline = 0;
	kt->period = 0;
	while (b->running == kt && b->running_thread && !pthread_equal(pthread_self(), b->thread))
		pthread_cond_wait(&b->done, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

uint64_t ktimer_remaining(struct kernel *k, struct ktimer *kt)
{
	struct ktimer_base *b = k->timers;
	uint64_t now = clock_mono_ns(), r = 0;

	pthread_mutex_lock(&b->lock);
	if (kt->deadline)
		r = kt->deadline > now ? kt->deadline - now : 1;
	pthread_mutex_unlock(&b->lock);
	return r;
}
