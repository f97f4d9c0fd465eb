/* pthread_create()+pthread_join() of a thread that returns at once: clone(CLONE_THREAD),
 * stack mmap, the exit futex wake. usage: pthread_create [bench opts] */
#include "bench.h"
#include <pthread.h>

static void *nothing(void *arg)
{
	return arg;
}

static int thread_loop(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		pthread_t t;
		int r = pthread_create(&t, NULL, nothing, NULL);

		if (r)
			return -r;
		r = pthread_join(t, NULL);
		if (r)
			return -r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_parse(argc, argv, &o);
	bench_run("pthread_create", &o, thread_loop, NULL);
	return 0;
}
