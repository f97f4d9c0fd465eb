/* bench.h: the timing loop shared by the micro benchmarks in tools/bench/micro/.
 *
 * Every program runs one operation in a loop and prints one line:
 *
 *   BENCH name=<name> ns=<median> min=<min> max=<max> iters=<per rep> reps=<reps> [pinned=0|1]
 *
 * (nanoseconds per operation), or on failure, before exiting with status 1:
 *
 *   BENCH-ERROR name=<name> what=<call> errno=<n> (<strerror>)
 *
 * Options, before the program's own arguments:
 *   -t MS   target time of one repetition (default 100)
 *   -r N    repetitions (default 5); the line reports the median, min and max of them
 *   -T MS   overall budget: stop after this much time if at least one rep is done
 *           (default 4 * reps * rep time)
 * The iteration count adapts: it doubles from 1 until a batch takes an eighth of a rep,
 * then is scaled to one rep. An operation costs 30 ns natively and 30 us or more under a
 * ptrace sandbox, so a fixed count would be either too short or take forever.
 */
#ifndef CV_BENCH_MICRO_BENCH_H
#define CV_BENCH_MICRO_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_REPS 64

/* Runs the operation n times. Returns 0, or -errno after printing nothing. */
typedef int (*bench_fn)(void *arg, long n);

struct bench_opts {
	double rep_ns;
	int reps;
	double budget_ns;
};

static const char *bench_name = "?";
static const char *bench_extra = "";	/* appended to the BENCH line, e.g. " pinned=1" */

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reports a failed call and exits: the harness shows the line as the reason. */
static inline void bench_fail(const char *what, int err)
{
	printf("BENCH-ERROR name=%s what=%s errno=%d (%s)\n", bench_name, what, err,
	       strerror(err));
	fflush(stdout);
	exit(1);
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Parses -t/-r/-T; returns the index of the first program argument. */
static inline int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	int i = 1;

	o->rep_ns = 100e6;
	o->reps = 5;
	o->budget_ns = 0;
	while (i + 1 < argc && argv[i][0] == '-' && argv[i][2] == '\0') {
		double v = atof(argv[i + 1]);

		switch (argv[i][1]) {
		case 't': o->rep_ns = v * 1e6; break;
		case 'r': o->reps = (int)v; break;
		case 'T': o->budget_ns = v * 1e6; break;
		default: fprintf(stderr, "unknown option %s\n", argv[i]); exit(2);
		}
		i += 2;
	}
	if (o->reps < 1)
		o->reps = 1;
	if (o->reps > BENCH_MAX_REPS)
		o->reps = BENCH_MAX_REPS;
	if (o->budget_ns <= 0)
		o->budget_ns = 4.0 * o->reps * o->rep_ns;
	return i;
}

/* Times fn over n iterations; exits on failure. */
static inline double bench_batch(bench_fn fn, void *arg, long n)
{
	uint64_t t0 = bench_now_ns();
	int r = fn(arg, n);

	if (r < 0)
		bench_fail("op", -r);
	return (double)(bench_now_ns() - t0);
}

/* Calibrates, runs the repetitions and prints the BENCH line. */
static inline void bench_run(const char *name, const struct bench_opts *o, bench_fn fn, void *arg)
{
	double v[BENCH_MAX_REPS], t;
	uint64_t start = bench_now_ns();
	long n = 1;
	int reps = 0;

	bench_name = name;
	for (;;) {	/* calibration, which is also the warm-up */
		t = bench_batch(fn, arg, n);
		if (t >= o->rep_ns / 8 || n >= (1L << 40))
			break;
		n *= 2;
	}
	if (t < o->rep_ns)
		n = (long)((double)n * o->rep_ns / (t > 0 ? t : 1));
	if (n < 1)
		n = 1;
	while (reps < o->reps) {
		v[reps++] = bench_batch(fn, arg, n) / (double)n;
		if ((double)(bench_now_ns() - start) > o->budget_ns)
			break;
	}
	qsort(v, (size_t)reps, sizeof(v[0]), bench_cmp);
	printf("BENCH name=%s ns=%.1f min=%.1f max=%.1f iters=%ld reps=%d%s\n", name, v[reps / 2],
	       v[0], v[reps - 1], n, reps, bench_extra);
	fflush(stdout);
}

/* Asks for CPU 0 only (inherited by children and threads), so that a ping-pong between two
 * tasks measures the wake-up path rather than where the scheduler happened to put them: on a
 * 2-vCPU VM a cross-CPU wake-up costs 25-70 us, a same-CPU switch 3 us, and unpinned runs
 * flip between the two. A sandbox may refuse or ignore the request (it does not own host
 * CPUs); the BENCH line then says pinned=0. */
static inline void bench_pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	bench_extra = sched_setaffinity(0, sizeof(set), &set) == 0 ? " pinned=1" : " pinned=0";
}

#endif
