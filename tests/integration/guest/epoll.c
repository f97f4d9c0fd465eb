/* epoll: 1000 descriptors (500 pipes), level- vs edge-triggered, EPOLLONESHOT, MOD and DEL,
 * closing a watched descriptor, nested epolls and loops, EPOLLEXCLUSIVE checks, epoll_pwait
 * masks, errors, and a blocked epoll_wait woken by another process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/param.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPIPES 500

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EEXIST ? "EEXIST" : errno == ENOENT ? "ENOENT" :
		       errno == EINVAL ? "EINVAL" : errno == EPERM ? "EPERM" :
		       errno == ELOOP ? "ELOOP" : errno == EBADF ? "EBADF" :
		       errno == EINTR ? "EINTR" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

/* Waits once and prints the count, the first event's data and events (in this order). */
static void wait1(const char *what, int ep, int timeout)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, timeout);

	if (n > 0)
		printf("%s: %d data %llu events %#x\n", what, n, (unsigned long long)ev[0].data.u64,
		       ev[0].events);
	else
		show(what, n);
}

static int add(int ep, int fd, unsigned events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Collects every ready event (several calls when there are many) and prints a summary. */
static int drain_count(int ep, int max, uint64_t *sum)
{
	struct epoll_event ev[256];
	int total = 0, n;

	*sum = 0;
	while (total < max && (n = epoll_wait(ep, ev, MIN(256, max - total), 0)) > 0) {
		for (int i = 0; i < n; i++)
			*sum += ev[i].data.u64;
		total += n;
	}
	return total;
}

static void thousand(void)
{
	static int p[NPIPES][2];
	struct epoll_event ev[64];
	uint64_t got[64], sum;
	struct rlimit rl = {4096, 4096};
	int ep, n;

	setrlimit(RLIMIT_NOFILE, &rl);
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < NPIPES; i++) {
		if (pipe(p[i]) < 0) {
			printf("pipe %d failed\n", i);
			exit(1);
		}
		if (add(ep, p[i][0], EPOLLIN, (uint64_t)i) < 0 ||
		    add(ep, p[i][1], EPOLLOUT, (uint64_t)(100000 + i)) < 0) {
			printf("add %d failed\n", i);
			exit(1);
		}
	}
	/* Every write end is ready. */
	{
		struct epoll_event *all = calloc(2 * NPIPES, sizeof(*all));

		n = epoll_wait(ep, all, 2 * NPIPES, 0);
		sum = 0;
		for (int i = 0; i < n; i++)
			sum += all[i].data.u64;
		printf("writable: %d sum %llu\n", n, (unsigned long long)sum);
		/* Level-triggered items come back, in batches as small as asked. */
		n = drain_count(ep, 3 * NPIPES, &sum);
		printf("in batches: %d\n", n);
		free(all);
	}
	for (int i = 0; i < NPIPES; i++)
		epoll_ctl(ep, EPOLL_CTL_DEL, p[i][1], NULL);
	show("nothing readable", epoll_wait(ep, ev, 64, 0));
	/* Some pipes get data: exactly those are reported. */
	for (int i = 7; i < NPIPES; i += 50)
		write(p[i][0 + 1], "d", 1);
	n = epoll_wait(ep, ev, 64, 1000);
	for (int i = 0; i < n; i++)
		got[i] = ev[i].data.u64;
	qsort(got, (size_t)n, sizeof(got[0]), cmp_u64);
	printf("readable %d:", n);
	for (int i = 0; i < n; i++)
		printf(" %llu", (unsigned long long)got[i]);
	printf("\n");
	/* Level-triggered: still reported until read. */
	printf("again (LT): %d\n", epoll_wait(ep, ev, 64, 0));
	for (int i = 7; i < NPIPES; i += 50) {
		char c;

		read(p[i][0], &c, 1);
	}
	printf("after reads: %d\n", epoll_wait(ep, ev, 64, 0));
	for (int i = 0; i < NPIPES; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	/* Closing the descriptors removed the registrations. */
	printf("after closing all: %d\n", epoll_wait(ep, ev, 64, 0));
	close(ep);
}

static void triggers(void)
{
	int p[2], ep = epoll_create1(0);
	struct epoll_event ev[4];
	char buf[8];

	pipe(p);
	add(ep, p[0], EPOLLIN | EPOLLET, 1);
	write(p[1], "ab", 2);
	printf("ET first: %d\n", epoll_wait(ep, ev, 4, 0));
	printf("ET again: %d\n", epoll_wait(ep, ev, 4, 0));
	read(p[0], buf, 1);
	printf("ET after partial read: %d\n", epoll_wait(ep, ev, 4, 0));
	write(p[1], "c", 1);
	printf("ET new data: %d\n", epoll_wait(ep, ev, 4, 0));
	read(p[0], buf, sizeof(buf));

	/* ONESHOT: reported once, then disabled until MOD. */
	{
		struct epoll_event m = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 2};

		show("MOD to oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &m));
		write(p[1], "d", 1);
		printf("oneshot first: %d\n", epoll_wait(ep, ev, 4, 0));
		printf("oneshot again: %d\n", epoll_wait(ep, ev, 4, 0));
		write(p[1], "e", 1);
		printf("oneshot new data: %d\n", epoll_wait(ep, ev, 4, 0));
		show("rearm", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &m));
		wait1("rearmed", ep, 0);
	}
	/* Hang-up: reported even when not asked for. */
	{
		struct epoll_event m = {.events = EPOLLIN, .data.u64 = 3};

		epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &m);
		read(p[0], buf, sizeof(buf));
		close(p[1]);
		wait1("hangup", ep, 0);
	}
	close(p[0]);
	close(ep);
}

static void closing(void)
{
	int p[2], ep = epoll_create1(0), dupfd;
	struct epoll_event ev[4];

	pipe(p);
	dupfd = dup(p[0]);
	add(ep, p[0], EPOLLIN, 5);
	write(p[1], "x", 1);
	close(p[0]);
	/* The file description is still open through dupfd: still reported (as fd 5's data). */
	wait1("after closing one of two fds", ep, 0);
	show("DEL by the closed number", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	close(dupfd);
	printf("after closing the last: %d\n", epoll_wait(ep, ev, 4, 0));
	close(p[1]);
	close(ep);
}

static void nesting(void)
{
	int inner = epoll_create1(0), outer = epoll_create1(0), e = eventfd(0, 0);
	int chain[6];
	struct epoll_event ev[4];
	uint64_t one = 1;

	add(inner, e, EPOLLIN, 10);
	add(outer, inner, EPOLLIN, 20);
	printf("outer idle: %d\n", epoll_wait(outer, ev, 4, 0));
	write(e, &one, sizeof(one));
	wait1("outer", outer, 0);
	wait1("inner", inner, 0);
	show("loop", add(inner, outer, EPOLLIN, 0));
	show("self", add(inner, inner, EPOLLIN, 0));
	for (int i = 0; i < 6; i++)
		chain[i] = epoll_create1(0);
	for (int i = 0; i < 5; i++) {
		char what[32];

		snprintf(what, sizeof(what), "chain %d", i + 2);
		show(what, add(chain[i + 1], chain[i], EPOLLIN, 0));
	}
	for (int i = 0; i < 6; i++)
		close(chain[i]);
	close(e);
	close(outer);
	close(inner);
}

static void errors(void)
{
	int ep = epoll_create1(0), p[2], f = open("/data/lines.txt", O_RDONLY);
	struct epoll_event ev = {.events = EPOLLIN};

	pipe(p);
	show("epoll_create(0)", epoll_create(0));
	show("epoll_create1 bad flags", epoll_create1(1));
	show("ADD regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
	show("ADD stdin (/dev/null)", epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev));
	show("ADD", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	show("ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	show("MOD missing", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev));
	show("DEL missing", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	show("bad op", epoll_ctl(ep, 99, p[1], &ev));
	show("not an epoll", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev));
	show("bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	show("ADD exclusive", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
	show("MOD exclusive", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	show("exclusive with oneshot", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	{
		struct epoll_event out[1];

		show("wait maxevents 0", epoll_wait(ep, out, 0, 0));
		show("wait on a pipe", epoll_wait(p[0], out, 1, 0));
	}
	close(f);
	close(p[0]);
	close(p[1]);
	close(ep);
}

static volatile sig_atomic_t got;

static void handler(int sig)
{
	got++;
}

static void waking(void)
{
	int ep = epoll_create1(0), e = eventfd(0, 0), st;
	struct epoll_event ev[2];
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};
	sigset_t block, empty;
	pid_t c;

	add(ep, e, EPOLLIN, 77);
	c = fork();
	if (c == 0) {
		uint64_t one = 1;

		usleep(20000);
		write(e, &one, sizeof(one));
		_exit(0);
	}
	wait1("woken", ep, 5000);
	waitpid(c, &st, 0);
	{
		uint64_t v;

		read(e, &v, sizeof(v));
	}
	{
		int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
		struct itimerspec its = {.it_value = {0, 20000000}};

		add(ep, tfd, EPOLLIN | EPOLLET, 88);
		wait1("timerfd not yet", ep, 0);
		timerfd_settime(tfd, 0, &its, NULL);
		wait1("timerfd fired", ep, 5000);
		wait1("timerfd edge gone", ep, 0);
		close(tfd);
	}

	/* epoll_pwait with a mask letting a pending blocked signal in: EINTR even with
	 * SA_RESTART. */
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGUSR1);
	show("epoll_pwait blocked mask", epoll_pwait(ep, ev, 2, 10, &block));
	show("epoll_pwait letting it in", epoll_pwait(ep, ev, 2, -1, &empty));
	printf("handler ran: %d\n", got);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	close(e);
	close(ep);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	thousand();
	triggers();
	closing();
	nesting();
	errors();
	waking();
	return 0;
}
