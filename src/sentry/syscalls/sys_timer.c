/* Interval timers, alarm and POSIX timers. */
#include <string.h>

#include "syscalls_internal.h"

#define ITIMER_REAL_ 0
#define TIMER_ABSTIME_ 1
#define SIGEV_SIGNAL_ 0
#define SIGEV_NONE_ 1
#define SIGEV_THREAD_ 2
#define SIGEV_THREAD_ID_ 4

struct linux_sigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

#define ITIMER_PROF_ 2

/* Implements Linux setitimer(2). */
SYSCALL(setitimer)
{
	struct linux_itimerval nv, old;
	long r;

	if ((unsigned)IARG(0) > ITIMER_PROF_)
		return -EINVAL;
	if (ARG(1) && copy_in_all(t, ARG(1), &nv, sizeof(nv)) < 0)
		return -EFAULT;
	if (ARG(1) && (nv.value.tv_usec < 0 || nv.value.tv_usec >= 1000000 || nv.value.tv_sec < 0 ||
		       nv.interval.tv_usec < 0 || nv.interval.tv_usec >= 1000000 || nv.interval.tv_sec < 0))
		return -EINVAL;
	if (!ARG(1))
		memset(&nv, 0, sizeof(nv)); /* Linux treats a NULL new value as disarming */
	r = itimer(t, IARG(0), &nv, &old);
	if (r == 0 && ARG(2))
		r = copy_out_all(t, ARG(2), &old, sizeof(old));
	return r;
}

/* Implements Linux getitimer(2). */
SYSCALL(getitimer)
{
	struct linux_itimerval old;
	long r;

	if ((unsigned)IARG(0) > ITIMER_PROF_)
		return -EINVAL;
	r = itimer(t, IARG(0), NULL, &old);
	return r ? r : copy_out_all(t, ARG(1), &old, sizeof(old));
}

/* Implements Linux alarm(2). */
SYSCALL(alarm)
{
	struct linux_itimerval nv = {.value = {(int64_t)(unsigned)ARG(0), 0}}, old;
	long r = itimer(t, ITIMER_REAL_, &nv, &old);

	if (r < 0)
		return r;
	return old.value.tv_sec + (old.value.tv_usec >= 500000 || (!old.value.tv_sec && old.value.tv_usec));
}

static bool known_clock(int c)
{
	return c < 0 /* CPU clock ids; timers.c checks them */ || c == 0 || c == 1 || c == 7 ||
	       c == 2 || c == 3 || c == 4 || c == 5 || c == 6;
}

/* Implements Linux timer_create(2). Deviations: a CPU-clock timer may only watch the
 * caller's own process or its threads; SIGEV_THREAD is glibc's (it arrives here as
 * SIGEV_THREAD_ID). */
SYSCALL(timer_create)
{
	struct linux_sigevent ev = {.signo = 14, .notify = SIGEV_SIGNAL_};
	int clock = IARG(0), id;

	if (clock == 8 || clock == 9)
		return -EPERM; /* *_ALARM clocks need CAP_WAKE_ALARM */
	if (!known_clock(clock))
		return -EINVAL;
	if (ARG(1) && copy_in_all(t, ARG(1), &ev, sizeof(ev)) < 0)
		return -EFAULT;
	if (ev.notify != SIGEV_SIGNAL_ && ev.notify != SIGEV_NONE_ && ev.notify != SIGEV_THREAD_ID_)
		return -EINVAL;
	if (ev.notify != SIGEV_NONE_ && (ev.signo < 1 || ev.signo > LINUX_NSIG))
		return -EINVAL;
	if (!ARG(1))
		ev.value = 0;
	id = ptimer_create(t, clock, ev.notify, ev.signo, ev.tid, ev.value);
	if (id < 0)
		return id;
	if (copy_out_all(t, ARG(2), &id, sizeof(id)) < 0) {
		ptimer_delete(t, id);
		return -EFAULT;
	}
	return 0;
}

static uint64_t ts_ns(const struct linux_timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static struct linux_timespec ns_ts(uint64_t ns)
{
	return (struct linux_timespec){(int64_t)(ns / 1000000000ull), (int64_t)(ns % 1000000000ull)};
}

/* Implements Linux timer_settime(2). Deviations: absolute CLOCK_REALTIME deadlines do not
 * follow later clock changes. */
SYSCALL(timer_settime)
{
	struct linux_itimerspec nv, old;
	uint64_t val, rem, per;
	long r;

	if (copy_in_all(t, ARG(2), &nv, sizeof(nv)) < 0)
		return -EFAULT;
	if (nv.value.tv_nsec < 0 || nv.value.tv_nsec >= 1000000000 || nv.value.tv_sec < 0 ||
	    nv.interval.tv_nsec < 0 || nv.interval.tv_nsec >= 1000000000 || nv.interval.tv_sec < 0)
		return -EINVAL;
	val = ts_ns(&nv.value);
	r = ptimer_settime(t, IARG(0), val, ARG(1) & TIMER_ABSTIME_, ts_ns(&nv.interval), &rem, &per);
	if (r == 0 && ARG(3)) {
		old.value = ns_ts(rem);
		old.interval = ns_ts(per);
		r = copy_out_all(t, ARG(3), &old, sizeof(old));
	}
	return r;
}

/* Implements Linux timer_gettime(2). */
SYSCALL(timer_gettime)
{
	struct linux_itimerspec cur;
	uint64_t rem, per;
	long r = ptimer_gettime(t, IARG(0), &rem, &per);

	if (r < 0)
		return r;
	cur.value = ns_ts(rem);
	cur.interval = ns_ts(per);
	return copy_out_all(t, ARG(1), &cur, sizeof(cur));
}

/* Implements Linux timer_getoverrun(2). */
SYSCALL(timer_getoverrun)
{
	return ptimer_getoverrun(t, IARG(0));
}

/* Implements Linux timer_delete(2). */
SYSCALL(timer_delete)
{
	return ptimer_delete(t, IARG(0));
}
