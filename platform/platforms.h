/*
 * The platform backends compiled into cvisor, one ops table each (platform/<name>/).
 * platform.c lists them explicitly; nothing registers itself.
 */
#ifndef CV_PLATFORM_PLATFORMS_H
#define CV_PLATFORM_PLATFORMS_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

#include "cvisor/platform.h"

extern const struct platform_ops ptrace_platform_ops;
extern const struct platform_ops systrap_platform_ops;
extern const struct platform_ops kvm_platform_ops;

/* Helpers of the backends' probes (platform.c). */

/* Writes the printf-style reason into why (when why and n are set) and returns err. */
int platform_why(char *why, size_t n, int err, const char *fmt, ...) __printf(4, 5);
/* A small decimal number read from a file such as /proc/sys/kernel/yama/ptrace_scope; -1 if
 * unreadable. */
long platform_read_long(const char *path);

/*
 * The *parent thread* of a stub-process backend (ptrace, systrap): a sentry thread that runs
 * `create` (forking the master stub, whose PR_SET_PDEATHSIG then names this thread) and then
 * only waits until stop.  Its exit kills every stub, so it lives exactly as long as the
 * platform.  All signals are blocked in it: no sentry handler ever runs there.
 */
struct platform_parent {
	pthread_t thread;
	bool started;
	sem_t ready, stop;
	int (*create)(void *arg);
	void *arg;
	int err; /* create's result */
};

/* Starts the thread and waits for create's result (or -errno of pthread_create). */
int platform_parent_start(struct platform_parent *pp, int (*create)(void *), void *arg);
/* Ends the thread (no-op when never started). */
void platform_parent_stop(struct platform_parent *pp);

#endif
