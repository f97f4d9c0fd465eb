/*
 * A thread that writes to a pipe and is joined at once, thousands of times: pthread_join waits
 * on the thread id word the exiting thread's CLONE_CHILD_CLEARTID clears.  The wait once
 * pinned the word's page, the clearing write then went to a copy of that page, and the waiter
 * slept on the stale value forever (ptrace).
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];

static void *writer(void *arg)
{
	char c = (char)(long)arg;

	return write(fds[1], &c, 1) == 1 ? NULL : (void *)1;
}

int main(void)
{
	long bad = 0, sum = 0;

	if (pipe(fds) < 0)
		return 1;
	for (long i = 0; i < 6000; i++) {
		pthread_t t;
		void *ret;
		char c;

		if (pthread_create(&t, NULL, writer, (void *)(i & 63)) != 0 || pthread_join(t, &ret) != 0 ||
		    ret || read(fds[0], &c, 1) != 1)
			bad++;
		else
			sum += c;
	}
	printf("6000 threads joined, %ld failed, bytes sum %ld\n", bad, sum);
	return bad != 0;
}
