/*
 * Kernel timers (src/sentry/kernel/ktimer.c): callbacks at CLOCK_MONOTONIC deadlines, run on
 * one timer thread per kernel.  Used by itimers, POSIX timers, alarm and timerfd.
 *
 * Lock order: callbacks run with no timer lock held and may take kernel->lock; never call
 * ktimer_cancel() while holding a lock the callback takes.
 */
#ifndef CV_SENTRY_KTIMER_H
#define CV_SENTRY_KTIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel;
struct ktimer;

typedef void (*ktimer_fn)(struct ktimer *kt);

struct ktimer {
	uint64_t deadline; /* CLOCK_MONOTONIC ns; 0 when disarmed */
	uint64_t period;   /* re-armed by this much after firing; 0 = one shot */
	uint64_t overrun;  /* periods missed at the last firing */
	ktimer_fn fn;
	void *priv;
	size_t heap_idx;   /* position in the heap, SIZE_MAX when not queued */
};

/* Sets up the kernel's timers; timers armed before ktimer_run() fire once it runs. */
int ktimer_start(struct kernel *k);
/* Starts the timer thread (after the sandbox confined itself).  Returns 0 or -errno. */
int ktimer_run(struct kernel *k);
/* Stops it (all timers must be cancelled). */
void ktimer_stop(struct kernel *k);

void ktimer_init(struct ktimer *kt, ktimer_fn fn, void *priv);
/* (Re)arms kt to fire at deadline, then every period ns (0 = once).  deadline 0 disarms. */
void ktimer_arm(struct kernel *k, struct ktimer *kt, uint64_t deadline, uint64_t period);
/* Disarms kt and waits for a running callback of kt to return (not from the callback). */
void ktimer_cancel(struct kernel *k, struct ktimer *kt);
/* Remaining ns until kt fires (0 when disarmed). */
uint64_t ktimer_remaining(struct kernel *k, struct ktimer *kt);

#endif
