/* Clocks and sleeping. */
#include <time.h>

#include "syscalls_internal.h"

#define TIMER_ABSTIME_ 1

static int read_clock(struct task *t, int id, uint64_t *ns)
{
	struct timespec ts;
	clockid_t host;

	switch (id) {
	case 0: case 5: case 8: case 11: host = CLOCK_REALTIME; break;
	case 1: case 4: case 6: host = CLOCK_MONOTONIC; break;
	case 7: case 9: host = CLOCK_BOOTTIME; break;
	case 2: case 3:
		return cpu_clock_read(t, id, ns);
	default:
		return id < 0 ? cpu_clock_read(t, id, ns) : -EINVAL;
	}
	clock_gettime(host, &ts);
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

static struct linux_timespec ns_to_ts(uint64_t ns)
{
	return (struct linux_timespec){(int64_t)(ns / 1000000000ull), (int64_t)(ns % 1000000000ull)};
}

/* Implements Linux clock_gettime(2). */
SYSCALL(clock_gettime)
{
	struct linux_timespec ts;
	uint64_t ns;
	int r = read_clock(t, IARG(0), &ns);

	if (r < 0)
		return r;
	ts = ns_to_ts(ns);
	return copy_out_all(t, ARG(1), &ts, sizeof(ts));
}

/* Implements Linux clock_getres(2). */
SYSCALL(clock_getres)
{
	struct linux_timespec ts = {0, 1};
	uint64_t ns;

	if (read_clock(t, IARG(0), &ns) < 0)
		return -EINVAL;
	if (IARG(0) == 5 || IARG(0) == 6)
		ts.tv_nsec = 4000000;
	return ARG(1) ? copy_out_all(t, ARG(1), &ts, sizeof(ts)) : 0;
}

/* Implements Linux gettimeofday(2). */
SYSCALL(gettimeofday)
{
	uint64_t ns = clock_real_ns();
	struct linux_timeval tv = {(int64_t)(ns / 1000000000ull), (int64_t)(ns % 1000000000ull / 1000)};
	uint64_t tz = 0;

	if (ARG(0) && copy_out_all(t, ARG(0), &tv, sizeof(tv)) < 0)
		return -EFAULT;
	if (ARG(1) && copy_out_all(t, ARG(1), &tz, sizeof(tz)) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux time(2). */
SYSCALL(time)
{
	int64_t s = (int64_t)(clock_real_ns() / 1000000000ull);

	if (ARG(0) && copy_out_all(t, ARG(0), &s, sizeof(s)) < 0)
		return -EFAULT;
	return s;
}

static long nanosleep_restart(struct task *t);

/* Sleeps until the absolute deadline on clock `id`; -ERESTART_RESTARTBLOCK when interrupted. */
static long sleep_until(struct task *t, int id, uint64_t deadline, uint64_t urem, bool abs)
{
	uint64_t now, mono_deadline;

	for (;;) {
		if (read_clock(t, id, &now) < 0)
			return -EINVAL;
		if (now >= deadline)
			return 0;
		mono_deadline = clock_mono_ns() + (deadline - now);
		uint32_t seq = task_wake_seq(t);
		int r = task_block(t, seq, mono_deadline);

		if (r == -EINTR)
			break;
	}
	if (read_clock(t, id, &now) == 0 && now >= deadline)
		return 0;
	if (abs)
		return -ERESTARTNOHAND;
	if (urem) {
		struct linux_timespec rem = ns_to_ts(deadline - now);

		if (copy_out_all(t, urem, &rem, sizeof(rem)) < 0)
			return -EFAULT;
	}
	t->restart_block[0] = (uint64_t)id;
	t->restart_block[1] = deadline;
	t->restart_block[2] = urem;
	t->restart_fn = nanosleep_restart;
	return -ERESTART_RESTARTBLOCK;
}

static long nanosleep_restart(struct task *t)
{
	return sleep_until(t, (int)t->restart_block[0], t->restart_block[1], t->restart_block[2],
			   false);
}

static long do_sleep(struct task *t, int id, int flags, uint64_t ureq, uint64_t urem)
{
	struct linux_timespec ts;
	uint64_t now, deadline;

	if (copy_in_all(t, ureq, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	if (id == 2 || id == 3 || read_clock(t, id, &now) < 0)
		return id == 3 ? -EINVAL : -ENOTSUP;
	deadline = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (!(flags & TIMER_ABSTIME_))
		deadline += now;
	return sleep_until(t, id, deadline, (flags & TIMER_ABSTIME_) ? 0 : urem,
			   flags & TIMER_ABSTIME_);
}

/* Implements Linux nanosleep(2). */
SYSCALL(nanosleep)
{
	return do_sleep(t, 1, 0, ARG(0), ARG(1));
}

/* Implements Linux clock_nanosleep(2). */
SYSCALL(clock_nanosleep)
{
	long r = do_sleep(t, IARG(0), IARG(1), ARG(2), ARG(3));

	return r == -ENOTSUP ? -EOPNOTSUPP : r;
}

/* Implements Linux restart_syscall(2). */
SYSCALL(restart_syscall)
{
	long (*fn)(struct task *) = t->restart_fn;

	t->restart_fn = NULL;
	return fn ? fn(t) : -EINTR;
}
