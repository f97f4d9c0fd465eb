/* kill of a process group, SIGSTOP/SIGCONT with WUNTRACED/WCONTINUED, SIGCHLD. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int chld;
static void on_chld(int s)
{
	chld++;
}

int main(void)
{
	pid_t kids[3];
	int st;

	signal(SIGCHLD, on_chld);
	pid_t leader = 0;
	for (int i = 0; i < 3; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			setpgid(0, leader);
			for (;;)
				pause();
		}
		if (i == 0)
			leader = kids[0];
		setpgid(kids[i], leader);
	}
	usleep(100000);
	kill(-leader, SIGSTOP);
	int stopped = 0;
	for (int i = 0; i < 3; i++)
		if (waitpid(kids[i], &st, WUNTRACED) == kids[i] && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP)
			stopped++;
	printf("stopped: %d\n", stopped);
	kill(-leader, SIGCONT);
	int cont = 0;
	for (int i = 0; i < 3; i++)
		if (waitpid(kids[i], &st, WCONTINUED) == kids[i] && WIFCONTINUED(st))
			cont++;
	printf("continued: %d\n", cont);
	kill(-leader, SIGTERM);
	int term = 0;
	for (int i = 0; i < 3; i++)
		if (waitpid(kids[i], &st, 0) == kids[i] && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)
			term++;
	printf("terminated: %d, got SIGCHLD: %s\n", term, chld > 0 ? "yes" : "no");
	return 0;
}
