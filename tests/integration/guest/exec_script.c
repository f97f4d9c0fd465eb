/* exec of #! scripts (with an argument on the #! line), close-on-exec, and signal
 * dispositions across exec (handlers reset, ignored stays ignored). */
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void handler(int s)
{
}

int main(int argc, char **argv)
{
	int st;
	FILE *f = fopen("/tmp/script.sh", "w");

	fprintf(f, "#!/bin/sh -e\necho \"script args: $0 $*\"\n"
		   "ls /proc/self/fd >/dev/null 2>&1 || true\n"
		   "[ -e /dev/fd/7 ] && echo fd7 open || echo fd7 closed\n"
		   "exit 0\n");
	fclose(f);
	chmod("/tmp/script.sh", 0755);
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	dup2(fd, 7);
	fcntl(7, F_SETFD, FD_CLOEXEC);
	signal(SIGUSR1, handler);
	signal(SIGUSR2, SIG_IGN);
	pid_t p = fork();
	if (p == 0) {
		execl("/tmp/script.sh", "/tmp/script.sh", "x", "y z", (char *)NULL);
		_exit(126);
	}
	waitpid(p, &st, 0);
	printf("script exit: %d\n", WEXITSTATUS(st));
	unlink("/tmp/script.sh");
	return 0;
}
