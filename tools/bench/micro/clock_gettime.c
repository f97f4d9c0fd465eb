/* clock_gettime(CLOCK_MONOTONIC): served by the vDSO natively; a sandbox that traps it is slow.
 * usage: clock_gettime [bench opts] */
#include "bench.h"

static int clock_loop(void *arg, long n)
{
	struct timespec ts;

	for (long i = 0; i < n; i++)
		if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
			return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_parse(argc, argv, &o);
	bench_run("clock_gettime", &o, clock_loop, NULL);
	return 0;
}
