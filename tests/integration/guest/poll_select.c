/* poll, ppoll, select and pselect6: readiness of pipes, timeouts (and the time left written
 * back), POLLNVAL and EBADF, POLLHUP/POLLERR, signal interruption with and without SA_RESTART,
 * and ppoll/pselect6 masks that let a blocked signal in for the wait only. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void handler(int sig)
{
	got++;
}

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, errno == EINTR ? "EINTR" : errno == EBADF ? "EBADF" :
					     errno == EINVAL ? "EINVAL" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

/* A child that signals us every 10 ms until killed. */
static pid_t nagger(void)
{
	pid_t c = fork();

	if (c == 0) {
		for (;;) {
			kill(getppid(), SIGUSR1);
			usleep(10000);
		}
	}
	return c;
}

static void stop(pid_t c)
{
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

static void poll_basics(void)
{
	int p[2], q[2];
	struct pollfd fds[4];

	pipe(p);
	pipe(q);
	fds[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
	fds[1] = (struct pollfd){.fd = p[1], .events = POLLOUT};
	fds[2] = (struct pollfd){.fd = 99, .events = POLLIN};
	fds[3] = (struct pollfd){.fd = -1, .events = POLLIN};
	show("poll", poll(fds, 4, 0));
	printf("revents %#x %#x %#x %#x\n", fds[0].revents, fds[1].revents, fds[2].revents,
	       fds[3].revents);
	write(p[1], "x", 1);
	show("poll after write", poll(fds, 2, -1));
	printf("revents %#x %#x\n", fds[0].revents, fds[1].revents);
	fds[0] = (struct pollfd){.fd = q[0], .events = POLLIN};
	show("poll timeout 30ms", poll(fds, 1, 30));
	close(q[1]);
	show("poll writer gone", poll(fds, 1, -1));
	printf("revents %#x\n", fds[0].revents);
	close(p[0]);
	fds[0] = (struct pollfd){.fd = p[1], .events = POLLOUT};
	show("poll reader gone", poll(fds, 1, -1));
	printf("revents %#x\n", fds[0].revents);
	fds[0] = (struct pollfd){.fd = 0, .events = 0};
	show("poll no events on a file", poll(fds, 1, 0));
	close(p[1]);
	close(q[0]);
}

static void ppoll_basics(void)
{
	struct timespec ts = {0, 20000000};
	int p[2];
	struct pollfd fd;

	pipe(p);
	fd = (struct pollfd){.fd = p[0], .events = POLLIN};
	show("ppoll timeout", syscall(SYS_ppoll, &fd, 1, &ts, NULL, 8));
	printf("time left zeroed: %d\n", ts.tv_sec == 0 && ts.tv_nsec == 0);
	ts = (struct timespec){5, 0};
	write(p[1], "y", 1);
	show("ppoll ready", syscall(SYS_ppoll, &fd, 1, &ts, NULL, 8));
	printf("time left positive: %d\n", ts.tv_sec > 3 && ts.tv_sec <= 5);
	ts = (struct timespec){0, 1000000000};
	show("ppoll bad timespec", syscall(SYS_ppoll, &fd, 1, &ts, NULL, 8));
	close(p[0]);
	close(p[1]);
}

static void select_basics(void)
{
	int p[2];
	fd_set r, w, e;
	struct timeval tv = {0, 30000};

	pipe(p);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	show("select timeout", select(p[0] + 1, &r, NULL, NULL, &tv));
	printf("set cleared: %d, time left zeroed: %d\n", !FD_ISSET(p[0], &r),
	       tv.tv_sec == 0 && tv.tv_usec == 0);
	write(p[1], "z", 1);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&e);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	FD_SET(p[0], &e);
	FD_SET(p[1], &r);
	show("select ready", select(p[1] + 1, &r, &w, &e, NULL));
	printf("r:%d,%d w:%d e:%d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &r), FD_ISSET(p[1], &w),
	       FD_ISSET(p[0], &e));
	FD_ZERO(&r);
	FD_SET(40, &r);
	tv = (struct timeval){0, 0};
	show("select closed fd", select(41, &r, NULL, NULL, &tv));
	tv = (struct timeval){0, -1};
	show("select negative usec", select(1, NULL, NULL, NULL, &tv));
	tv = (struct timeval){0, 1500000}; /* whole seconds in tv_usec are fine */
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	show("select usec > 1s", select(p[0] + 1, &r, NULL, NULL, &tv));
	close(p[0]);
	close(p[1]);
}

/* Interruption: poll and select fail with EINTR when a handler runs, even with SA_RESTART. */
static void interruption(void)
{
	struct sigaction sa = {.sa_handler = handler};
	struct pollfd fd;
	int p[2];
	pid_t c;
	fd_set r;

	pipe(p);
	fd = (struct pollfd){.fd = p[0], .events = POLLIN};
	sigaction(SIGUSR1, &sa, NULL);
	c = nagger();
	show("poll interrupted", poll(&fd, 1, -1));
	show("poll with timeout interrupted", poll(&fd, 1, 10000));
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	show("poll interrupted (SA_RESTART)", poll(&fd, 1, -1));
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	show("select interrupted", select(p[0] + 1, &r, NULL, NULL, NULL));
	stop(c);
	printf("handler ran: %d\n", got > 0);
	close(p[0]);
	close(p[1]);
}

/* A blocked signal that is already pending ends ppoll/pselect6 at once when their mask lets
 * it in; afterwards the old mask is back. */
static void masks(void)
{
	struct sigaction sa = {.sa_handler = handler};
	sigset_t block, empty, now;
	struct pollfd fd;
	int p[2];
	fd_set r;

	pipe(p);
	fd = (struct pollfd){.fd = p[0], .events = POLLIN};
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	got = 0;
	kill(getpid(), SIGUSR2);
	show("ppoll with a blocking mask, timeout",
	     ppoll(&fd, 1, &(struct timespec){0, 10000000}, &block));
	printf("handler ran: %d\n", got);
	show("ppoll letting it in", ppoll(&fd, 1, NULL, &empty));
	printf("handler ran: %d\n", got);
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("mask restored: %d\n", sigismember(&now, SIGUSR2));
	kill(getpid(), SIGUSR2);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	show("pselect letting it in", pselect(p[0] + 1, &r, NULL, NULL, NULL, &empty));
	printf("handler ran: %d\n", got);
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("mask restored: %d\n", sigismember(&now, SIGUSR2));
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	poll_basics();
	ppoll_basics();
	select_basics();
	interruption();
	masks();
	return 0;
}
