/*
 * fork while another thread of the process is exiting, many times over: a thread that exits at
 * once (or after a little work, or several of them), the main thread forking right away, the
 * child leaving with _exit, the parent reaping it and joining the threads.  The child must run
 * to its exit and the parent go on each time.  A hang of this shape was reported on systrap
 * (the child stuck before its next system call); this program has not reproduced it (about
 * 40 000 forks on systrap, under CPU load too), nor the pthread_join hang fixed in 449a428.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 200
#define MAX_THREADS 4

static volatile long sink;

static void *quick(void *arg)
{
	return arg;
}

static void *busy(void *arg)
{
	for (long i = 0; i < 2000; i++)
		sink += i;
	pthread_exit(arg);
}

static int join_all(pthread_t *t, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		void *ret;

		if (pthread_join(t[i], &ret) != 0 || ret != (void *)(long)(i + 1))
			bad = 1;
	}
	return bad;
}

/*
 * One round: n threads running fn, a fork at once (or once they are joined: their exit may
 * still be under way in the sandbox), the child making a system call or two before _exit.
 * 0 if everything went as it should.
 */
static int round_once(int n, void *(*fn)(void *), int join_first, int code)
{
	pthread_t t[MAX_THREADS];
	int status, bad = 0;
	pid_t pid;

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)(long)(i + 1)) != 0)
			return 1;
	if (join_first)
		bad |= join_all(t, n);
	pid = fork();
	if (pid == 0) {
		if (code & 1)
			_exit(getppid() > 0 ? code : 99);
		_exit(code);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != code)
		bad = 1;
	if (!join_first)
		bad |= join_all(t, n);
	return bad;
}

int main(void)
{
	static const struct {
		const char *name;
		int threads;
		void *(*fn)(void *);
		int join_first;
	} variants[] = {
		{ "one thread returning", 1, quick, 0 },
		{ "one thread calling pthread_exit after some work", 1, busy, 0 },
		{ "four threads returning", 4, quick, 0 },
		{ "four threads calling pthread_exit after some work", 4, busy, 0 },
		{ "one thread joined, then a fork", 1, quick, 1 },
		{ "four threads joined, then a fork", 4, busy, 1 },
	};
	int failed = 0;

	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		int bad = 0;

		for (int i = 0; i < ROUNDS; i++)
			bad += round_once(variants[v].threads, variants[v].fn, variants[v].join_first,
					  i & 63);
		printf("%s: %d forks, %d failed\n", variants[v].name, ROUNDS, bad);
		failed += bad;
	}
	return failed != 0;
}
