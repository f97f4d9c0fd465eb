/*
 * The vDSO's clocks, read first thing in the program, agree with the kernel's (the raw
 * syscalls): CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME, gettimeofday and time, within a
 * millisecond, and never go backwards over a busy stretch.  t_procdev.sh also checks, from the
 * sentry's --strace log, that none of these calls trapped.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failed;

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void check(const char *what, int ok)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	failed |= !ok;
}

/* vDSO, kernel, vDSO: each later than the one before, give or take 1 ms. */
static void agree(const char *name, clockid_t id)
{
	struct timespec a, b, c;
	char what[64];

	clock_gettime(id, &a);
	syscall(SYS_clock_gettime, id, &b);
	clock_gettime(id, &c);
	snprintf(what, sizeof(what), "%s: vDSO and kernel agree", name);
	check(what, ns(&b) > ns(&a) - 1000000 && ns(&c) > ns(&b) - 1000000 && ns(&c) >= ns(&a) &&
			    ns(&c) - ns(&a) < 1000000000);
}

int main(void)
{
	struct timespec prev, now;
	struct timeval tv, ktv;
	time_t t, kt;
	int backwards = 0;

	agree("CLOCK_MONOTONIC", CLOCK_MONOTONIC);
	agree("CLOCK_REALTIME", CLOCK_REALTIME);
	agree("CLOCK_BOOTTIME", CLOCK_BOOTTIME);

	gettimeofday(&tv, NULL);
	syscall(SYS_gettimeofday, &ktv, NULL);
	check("gettimeofday: vDSO and kernel agree",
	      ktv.tv_sec * 1000000 + ktv.tv_usec > tv.tv_sec * 1000000 + tv.tv_usec - 1000 &&
		      ktv.tv_sec - tv.tv_sec < 2);
	t = time(NULL);
	kt = syscall(SYS_time, NULL);
	check("time: vDSO and kernel agree", kt >= t && kt - t < 2);

	/* 100 ms of reads across the sentry's first recalibration (50 ms after its start). */
	clock_gettime(CLOCK_MONOTONIC, &prev);
	for (int64_t start = ns(&prev); ns(&prev) - start < 100000000; prev = now) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		backwards += ns(&now) < ns(&prev);
	}
	check("CLOCK_MONOTONIC never goes backwards", !backwards);
	return failed;
}
