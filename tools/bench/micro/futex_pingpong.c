/* Futex ping-pong between two threads of one process pinned to CPU 0 (see bench_pin_cpu0): per
 * round trip, two FUTEX_WAKEs and two FUTEX_WAITs that block (no spinning), i.e. two
 * cross-thread wake-ups.
 * usage: futex_pingpong [bench opts] */
#include "bench.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static _Atomic int turn;	/* 0: main's turn, 1: peer's turn, 2: stop */

static void fwait(int val)
{
	while (atomic_load(&turn) == val)
		syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void fwake(void)
{
	syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *peer(void *arg)
{
	for (;;) {
		fwait(0);
		if (atomic_load(&turn) == 2)
			return NULL;
		atomic_store(&turn, 0);
		fwake();
	}
}

static int pingpong(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		atomic_store(&turn, 1);
		fwake();
		fwait(1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	pthread_t t;
	int r;

	bench_parse(argc, argv, &o);
	bench_name = "futex_pingpong";
	bench_pin_cpu0();
	r = pthread_create(&t, NULL, peer, NULL);
	if (r)
		bench_fail("pthread_create", r);
	bench_run("futex_pingpong", &o, pingpong, NULL);
	atomic_store(&turn, 2);
	fwake();
	pthread_join(t, NULL);
	return 0;
}
