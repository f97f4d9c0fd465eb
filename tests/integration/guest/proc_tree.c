/* fork/exec/wait trees: nested children, exit statuses, waitid, WNOHANG, orphans, vfork. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int spawn_tree(int depth)
{
	int sum = depth;

	for (int i = 0; i < 2 && depth > 0; i++) {
		pid_t p = fork();

		if (p == 0)
			_exit(spawn_tree(depth - 1) & 0xff);
		int st;

		waitpid(p, &st, 0);
		sum += WEXITSTATUS(st);
	}
	return sum;
}

int main(void)
{
	int st;
	siginfo_t si;

	printf("tree sum: %d\n", spawn_tree(4));

	/* exec from a child, through PATH */
	pid_t p = fork();
	if (p == 0) {
		execlp("echo", "echo", "exec'd echo says hi", (char *)NULL);
		_exit(127);
	}
	waitpid(p, &st, 0);
	printf("echo exit: %d\n", WEXITSTATUS(st));

	/* waitid with WNOWAIT leaves the zombie for a second wait */
	p = fork();
	if (p == 0)
		_exit(9);
	memset(&si, 0, sizeof(si));
	waitid(P_PID, (id_t)p, &si, WEXITED | WNOWAIT);
	printf("waitid nowait: code=%d status=%d\n", si.si_code, si.si_status);
	printf("wait again: %d\n", waitpid(p, &st, 0) == p ? WEXITSTATUS(st) : -1);

	/* WNOHANG on a running child, then kill it */
	p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	printf("wnohang: %d\n", waitpid(p, &st, WNOHANG));
	kill(p, SIGTERM);
	waitpid(p, &st, 0);
	printf("killed: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));

	/* an orphan is reparented to init (us), and we reap it */
	p = fork();
	if (p == 0) {
		if (fork() == 0) {
			usleep(100000);
			_exit(33);
		}
		_exit(0);
	}
	waitpid(p, &st, 0);
	int got = wait(&st);
	printf("orphan reaped: %s status=%d\n", got > 0 ? "yes" : "no", WEXITSTATUS(st));

	/* vfork + _exit */
	volatile int shared = 0;
	p = vfork();
	if (p == 0) {
		shared = 5;
		_exit(3);
	}
	waitpid(p, &st, 0);
	printf("vfork: shared=%d status=%d\n", shared, WEXITSTATUS(st));
	printf("no more children: %d\n", wait(&st));
	return 0;
}
