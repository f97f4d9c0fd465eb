/* timerfd: one-shot and periodic timers on CLOCK_MONOTONIC and CLOCK_REALTIME (absolute),
 * blocking and non-blocking reads, gettime, disarming, poll, and argument errors. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EAGAIN ? "EAGAIN" : errno == EINVAL ? "EINVAL" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static uint64_t ticks(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

int main(void)
{
	struct itimerspec its = {0}, cur;
	struct timespec now;
	struct pollfd p;
	uint64_t total = 0;
	int fd;

	setvbuf(stdout, NULL, _IONBF, 0);
	show("bad clock", timerfd_create(12345, 0));
	show("bad flags", timerfd_create(CLOCK_MONOTONIC, 0x1000));
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	show("create", fd >= 0);
	{
		uint64_t v;

		show("read unarmed", read(fd, &v, sizeof(v)));
	}
	its.it_value.tv_nsec = 1000000000;
	show("bad nsec", timerfd_settime(fd, 0, &its, NULL));

	/* One-shot, 30 ms: poll waits for it. */
	its.it_value.tv_nsec = 30000000;
	show("settime", timerfd_settime(fd, 0, &its, NULL));
	timerfd_gettime(fd, &cur);
	printf("armed: %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0);
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	show("poll", poll(&p, 1, 5000));
	printf("revents %#x ticks %llu\n", p.revents, (unsigned long long)ticks(fd));
	timerfd_gettime(fd, &cur);
	printf("disarmed after firing: %d\n", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);
	close(fd);

	/* Periodic, 10 ms: blocking reads count every expiration. */
	fd = timerfd_create(CLOCK_MONOTONIC, 0);
	its.it_value.tv_nsec = 10000000;
	its.it_interval.tv_nsec = 10000000;
	timerfd_settime(fd, 0, &its, NULL);
	while (total < 10) {
		uint64_t t = ticks(fd);

		if (!t)
			break;
		total += t;
	}
	printf("periodic: at least 10 expirations: %d\n", total >= 10);
	timerfd_gettime(fd, &cur);
	printf("interval kept: %ld ns\n", cur.it_interval.tv_nsec);
	memset(&its, 0, sizeof(its));
	timerfd_settime(fd, 0, &its, &cur);
	printf("old interval: %ld ns\n", cur.it_interval.tv_nsec);
	close(fd);

	/* Absolute, on the realtime clock. */
	fd = timerfd_create(CLOCK_REALTIME, 0);
	clock_gettime(CLOCK_REALTIME, &now);
	its.it_value = now;
	its.it_value.tv_nsec += 20000000;
	if (its.it_value.tv_nsec >= 1000000000) {
		its.it_value.tv_sec++;
		its.it_value.tv_nsec -= 1000000000;
	}
	show("settime abs", timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL));
	printf("abs ticks %llu\n", (unsigned long long)ticks(fd));
	/* In the past: fires at once. */
	its.it_value.tv_sec = 1;
	its.it_value.tv_nsec = 0;
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
	printf("past ticks %llu\n", (unsigned long long)ticks(fd));
	show("settime bad flags", timerfd_settime(fd, 0x100, &its, NULL));
	show("settime on a non-timerfd", timerfd_settime(1, 0, &its, NULL));
	close(fd);
	return 0;
}
