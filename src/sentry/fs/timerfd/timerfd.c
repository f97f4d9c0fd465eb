/*
 * timerfd over a host timerfd.  The sandbox reads the host's clocks (clock_gettime, the
 * vDSO), so the host kernel can keep the timer itself: it arms it, counts expirations on the
 * same clock, honours TFD_TIMER_ABSTIME and TFD_TIMER_CANCEL_ON_SET, and the sandbox's host
 * fd watcher turns its expirations into wake-ups for poll, select and epoll.  Reads wait with
 * task_host_wait, so a signal interrupts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define CLOCK_REALTIME_ALARM_ 8
#define CLOCK_BOOTTIME_ALARM_ 9
#define CAP_WAKE_ALARM_ 35
#define TFD_SETTIME_FLAGS (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)

struct timerfd {
	int fd; /* host timerfd, non-blocking */
	struct host_watch hw;
};

static ssize_t timerfd_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct timerfd *tf = f->priv;
	uint64_t ticks;

	if (n < 8)
		return -EINVAL;
	for (;;) {
		ssize_t r = read(tf->fd, &ticks, sizeof(ticks));
		int e;

		if (r == sizeof(ticks)) {
			memcpy(buf, &ticks, 8);
			return 8;
		}
		if (r >= 0)
			return -EIO;
		if (errno != EAGAIN && errno != EINTR)
			return errno == ECANCELED ? -ECANCELED : -EIO;
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		if ((e = task_host_wait(t, tf->fd, POLLIN, 0)) < 0)
			return e == -EINTR ? -ERESTARTSYS : e;
	}
}

static unsigned timerfd_poll(struct file *f, struct poll_table *pt)
{
	struct timerfd *tf = f->priv;

	return host_watch_poll(&tf->hw, pt) & (POLL_READABLE | LINUX_POLLERR);
}

static void timerfd_release(struct file *f)
{
	struct timerfd *tf = f->priv;

	host_watch_stop(&tf->hw);
	close(tf->fd);
	free(tf);
}

static const struct file_ops timerfd_ops = {
	.read = timerfd_read,
	.poll = timerfd_poll,
	.release = timerfd_release,
};

static int host_clock(struct task *t, int clock)
{
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
		return clock;
	case CLOCK_REALTIME_ALARM_:
	case CLOCK_BOOTTIME_ALARM_:
		/* Nothing sleeps here to be woken: the alarm clocks act as their plain forms. */
		if (!cred_capable(t->cred, CAP_WAKE_ALARM_))
			return -EPERM;
		return clock == CLOCK_REALTIME_ALARM_ ? CLOCK_REALTIME : CLOCK_BOOTTIME;
	default:
		return -EINVAL;
	}
}

struct file *timerfd_file_new(struct task *t, int clock, unsigned flags)
{
	int hc = host_clock(t, clock);
	struct timerfd *tf;
	struct file *f;

	if (hc < 0)
		return ERR_PTR(hc);
	if (!(tf = calloc(1, sizeof(*tf))))
		return ERR_PTR(-ENOMEM);
	tf->fd = timerfd_create(hc, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tf->fd < 0) {
		int e = errno;

		free(tf);
		/* The sentry's own host fd limit shows as the system-wide one (ENFILE). */
		if (e == EMFILE || e == ENFILE)
			return ERR_PTR(-ENFILE);
		return ERR_PTR(e == ENOMEM ? -ENOMEM : -EINVAL);
	}
	host_watch_init(&tf->hw, tf->fd);
	f = anon_file_new(&t->k->vfs, 0600, &timerfd_ops, O_RDWR | (flags & O_NONBLOCK),
			  "anon_inode:[timerfd]", tf);
	if (IS_ERR(f)) {
		close(tf->fd);
		free(tf);
	}
	return f;
}

static bool valid_ts(const struct linux_timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

static void to_host(const struct linux_itimerspec *in, struct itimerspec *out)
{
	out->it_interval.tv_sec = (time_t)in->interval.tv_sec;
	out->it_interval.tv_nsec = (long)in->interval.tv_nsec;
	out->it_value.tv_sec = (time_t)in->value.tv_sec;
	out->it_value.tv_nsec = (long)in->value.tv_nsec;
}

static void from_host(const struct itimerspec *in, struct linux_itimerspec *out)
{
	out->interval.tv_sec = in->it_interval.tv_sec;
	out->interval.tv_nsec = in->it_interval.tv_nsec;
	out->value.tv_sec = in->it_value.tv_sec;
	out->value.tv_nsec = in->it_value.tv_nsec;
}

int timerfd_set(struct file *f, int flags, const struct linux_itimerspec *val,
		struct linux_itimerspec *old)
{
	struct timerfd *tf = f->priv;
	struct itimerspec hv, ho;

	if (f->ops != &timerfd_ops || (flags & ~TFD_SETTIME_FLAGS))
		return -EINVAL;
	if (!valid_ts(&val->value) || !valid_ts(&val->interval))
		return -EINVAL;
	to_host(val, &hv);
	if (timerfd_settime(tf->fd, flags, &hv, &ho) < 0)
		return errno == ECANCELED ? -ECANCELED : -EINVAL;
	from_host(&ho, old);
	return 0;
}

int timerfd_get(struct file *f, struct linux_itimerspec *cur)
{
	struct timerfd *tf = f->priv;
	struct itimerspec hv;

	if (f->ops != &timerfd_ops)
		return -EINVAL;
	if (timerfd_gettime(tf->fd, &hv) < 0)
		return -EINVAL;
	from_host(&hv, cur);
	return 0;
}
