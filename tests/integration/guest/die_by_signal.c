/* Death by SIGSEGV in a child and SIGKILL of init itself: wait status and exit code 137. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		*(volatile int *)8 = 1; /* SIGSEGV */
		_exit(0);
	}
	waitpid(p, &st, 0);
	printf("child: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
	fflush(stdout);
	raise(SIGKILL);
	return 0;
}
