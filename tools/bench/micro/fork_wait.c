/* fork() of a small process whose child exits at once, and waitpid(): address-space copy
 * (copy-on-write), task creation, exit and reaping. usage: fork_wait [bench opts] */
#include "bench.h"
#include <sys/wait.h>

static int fork_loop(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return -errno;
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid)
			return -errno;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return -ECHILD;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_parse(argc, argv, &o);
	bench_run("fork_wait", &o, fork_loop, NULL);
	return 0;
}
