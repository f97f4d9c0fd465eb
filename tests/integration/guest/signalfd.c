/* signalfd: blocked signals read as records, from the thread and process queues, poll
 * readiness, nonblocking reads, changing the mask, and a child's signal waking a reader. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EAGAIN ? "EAGAIN" : errno == EINVAL ? "EINVAL" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static short readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) > 0 ? p.revents : 0;
}

int main(void)
{
	struct signalfd_siginfo si[4];
	sigset_t mask;
	int fd, st;
	pid_t c, me = getpid();
	ssize_t n;

	setvbuf(stdout, NULL, _IONBF, 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	show("signalfd", fd >= 0);
	printf("readable empty: %#x\n", readable(fd));
	show("read empty", read(fd, si, sizeof(si)));
	kill(me, SIGUSR1);
	kill(me, SIGUSR2);
	kill(me, SIGUSR1); /* a standard signal does not queue twice */
	printf("readable: %#x\n", readable(fd));
	show("short buffer", read(fd, si, 10));
	n = read(fd, si, sizeof(si));
	printf("read %zd records\n", n / (ssize_t)sizeof(si[0]));
	for (int i = 0; i < n / (ssize_t)sizeof(si[0]); i++)
		printf("  signo %u code %d from self %d\n", si[i].ssi_signo, si[i].ssi_code,
		       si[i].ssi_pid == (unsigned)me);
	{
		union sigval v = {.sival_int = 1234};

		sigqueue(me, SIGUSR2, v);
	}
	n = read(fd, si, sizeof(si));
	printf("sigqueue: %zd bytes signo %u code %d int %d\n", n, si[0].ssi_signo, si[0].ssi_code,
	       si[0].ssi_int);

	/* Narrow the mask: SIGUSR2 stays pending, unread. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	show("set mask", signalfd(fd, &mask, 0) == fd);
	kill(me, SIGUSR2);
	show("read with USR2 outside the mask", read(fd, si, sizeof(si)));
	{
		sigset_t pend;

		sigpending(&pend);
		printf("USR2 still pending: %d\n", sigismember(&pend, SIGUSR2));
	}
	show("signalfd on a non-signalfd", signalfd(1, &mask, 0));
	show("bad size", syscall(289, -1, &mask, 4, 0));
	close(fd);

	/* A blocking read, woken by a child. */
	fd = signalfd(-1, &mask, 0);
	c = fork();
	if (c == 0) {
		usleep(20000);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	n = read(fd, si, sizeof(si));
	printf("blocking read: %zd bytes signo %u from child %d\n", n, si[0].ssi_signo,
	       si[0].ssi_pid == (unsigned)c);
	waitpid(c, &st, 0);
	close(fd);
	return 0;
}
