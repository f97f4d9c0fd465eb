/* fork(), execve() of a static do-nothing program, waitpid(): what a shell does per command
 * (loading an ELF from the rootfs). usage: fork_exec [bench opts] PATH */
#include "bench.h"
#include <sys/wait.h>

static int fork_exec_loop(void *arg, long n)
{
	char *const argv[] = { arg, NULL };
	char *const envp[] = { NULL };

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return -errno;
		if (pid == 0) {
			execve(arg, argv, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid)
			return -errno;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return -ENOEXEC;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);

	bench_name = "fork_exec";
	if (i >= argc)
		bench_fail("usage", EINVAL);
	bench_run("fork_exec", &o, fork_exec_loop, argv[i]);
	return 0;
}
