/*
 * Processes that exit while many of their threads are blocked (a JVM's exit): each of 40
 * children starts 24 threads that wait on a futex or sleep, then calls exit_group from the
 * main thread or from one of the threads.  The sandbox tears all those threads down at once
 * while the address space goes; every child must be reaped with its status.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 40
#define THREADS 24

static uint32_t word;
static int started;

static void *blocked(void *arg)
{
	long i = (long)arg;

	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	if (i % 3 == 0) {
		struct timespec ts = {5, 0};

		nanosleep(&ts, NULL);
	} else if (i == THREADS - 1 && (i & 1)) {
		while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < THREADS)
			sched_yield();
		syscall(SYS_exit_group, 5); /* a thread ends the process */
	} else {
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	}
	return NULL;
}

static int child(int n)
{
	pthread_t t;

	for (long i = 0; i < THREADS - (n & 1 ? 0 : 1); i++)
		if (pthread_create(&t, NULL, blocked, (void *)i) != 0)
			return 2;
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < THREADS - 1)
		sched_yield();
	if (n & 1)
		pause(); /* the last thread calls exit_group */
	syscall(SYS_exit_group, 5);
	return 3;
}

int main(void)
{
	int bad = 0;

	for (int n = 0; n < CHILDREN; n++) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			_exit(child(n));
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 5) {
			printf("child %d: status %#x\n", n, status);
			bad++;
		}
	}
	printf("%d children exited with 5, %d did not\n", CHILDREN - bad, bad);
	return bad != 0;
}
