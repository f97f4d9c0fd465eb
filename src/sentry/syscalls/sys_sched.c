/* Scheduling and accounting: affinity, policies, priorities, rusage, times, getcpu. */
#include <sched.h>
#include <string.h>

#include "syscalls_internal.h"

#define RUSAGE_SELF_ 0
#define RUSAGE_CHILDREN_ (-1)
#define RUSAGE_THREAD_ 1

/* The CPUs the sandbox may run on, as a cpumask. */
static int host_mask(uint8_t *mask, size_t len)
{
	cpu_set_t set;

	memset(mask, 0, len);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (size_t cpu = 0; cpu < len * 8 && cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			mask[cpu / 8] |= (uint8_t)(1u << (cpu % 8));
	return 0;
}

static bool task_exists(struct task *t, int tid)
{
	bool r;

	if (tid == 0)
		return true;
	pthread_mutex_lock(&t->k->lock);
	r = kernel_find_task(t->k, tid) != NULL;
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux sched_getaffinity(2): every CPU the sandbox may use. */
SYSCALL(sched_getaffinity)
{
	uint8_t mask[128];
	size_t len = ARG(1), want = (size_t)CPU_SETSIZE / 8;
	long r;

	if (len & 7)
		return -EINVAL;
	if (!task_exists(t, IARG(0)))
		return -ESRCH;
	want = MIN(want, sizeof(mask));
	if (len < 8)
		return -EINVAL;
	len = MIN(len, want);
	if ((r = host_mask(mask, len)) < 0)
		return r;
	return copy_out_all(t, ARG(2), mask, len) ?: (long)len;
}

/* Implements Linux sched_setaffinity(2). Deviations: validated and accepted; threads are
 * scheduled by the host. */
SYSCALL(sched_setaffinity)
{
	uint8_t want[128] = {0}, have[128];
	size_t len = MIN(ARG(1), sizeof(want));
	bool any = false;
	long r;

	if (!task_exists(t, IARG(0)))
		return -ESRCH;
	if (copy_in_all(t, ARG(2), want, len) < 0)
		return -EFAULT;
	if ((r = host_mask(have, sizeof(have))) < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		any |= (want[i] & have[i]) != 0;
	return any ? 0 : -EINVAL;
}

/* Implements Linux sched_getscheduler(2): every task is SCHED_OTHER. */
SYSCALL(sched_getscheduler)
{
	return task_exists(t, IARG(0)) ? 0 : -ESRCH;
}

/* Implements Linux sched_setscheduler(2). Deviations: only SCHED_OTHER/BATCH/IDLE with
 * priority 0; real-time policies are EPERM. */
SYSCALL(sched_setscheduler)
{
	int prio;

	if (!task_exists(t, IARG(0)))
		return -ESRCH;
	if (copy_in_all(t, ARG(2), &prio, sizeof(prio)) < 0)
		return -EFAULT;
	if (IARG(1) == 1 || IARG(1) == 2)
		return -EPERM;
	return (IARG(1) == 0 || IARG(1) == 3 || IARG(1) == 5) && prio == 0 ? 0 : -EINVAL;
}

/* Implements Linux sched_getparam(2). */
SYSCALL(sched_getparam)
{
	int prio = 0;

	if (!task_exists(t, IARG(0)))
		return -ESRCH;
	return copy_out_all(t, ARG(1), &prio, sizeof(prio));
}

/* Implements Linux sched_setparam(2). */
SYSCALL(sched_setparam)
{
	int prio;

	if (!task_exists(t, IARG(0)))
		return -ESRCH;
	if (copy_in_all(t, ARG(1), &prio, sizeof(prio)) < 0)
		return -EFAULT;
	return prio == 0 ? 0 : -EINVAL;
}

/* Implements Linux sched_get_priority_max(2). */
SYSCALL(sched_get_priority_max)
{
	return IARG(0) == 1 || IARG(0) == 2 ? 99 : IARG(0) == 0 || IARG(0) == 3 || IARG(0) == 5 ? 0 : -EINVAL;
}

/* Implements Linux sched_get_priority_min(2). */
SYSCALL(sched_get_priority_min)
{
	return IARG(0) == 1 || IARG(0) == 2 ? 1 : IARG(0) == 0 || IARG(0) == 3 || IARG(0) == 5 ? 0 : -EINVAL;
}

/* Implements Linux getpriority(2). Deviations: every task has nice 0 (returns 20). */
SYSCALL(getpriority)
{
	if (ARG(0) > 2)
		return -EINVAL;
	return 20;
}

/* Implements Linux setpriority(2). Deviations: accepted, not applied. */
SYSCALL(setpriority)
{
	if (ARG(0) > 2)
		return -EINVAL;
	if (IARG(2) < 0 && !cred_capable(t->cred, 23 /* CAP_SYS_NICE */))
		return -EACCES;
	return 0;
}

static struct linux_timeval ns_to_tv(uint64_t ns)
{
	return (struct linux_timeval){(int64_t)(ns / 1000000000ull),
				      (int64_t)(ns % 1000000000ull / 1000)};
}

/* Implements Linux getrusage(2). Deviations: only the CPU times and maxrss are filled; a
 * thread of a multi-threaded process on ptrace/systrap gets its system time only. */
SYSCALL(getrusage)
{
	struct linux_rusage ru;
	struct cpu_times ct;

	memset(&ru, 0, sizeof(ru));
	pthread_mutex_lock(&t->k->lock);
	switch (IARG(0)) {
	case RUSAGE_SELF_:
		tg_cpu_times_locked(t->tg, &ct);
		break;
	case RUSAGE_THREAD_:
		task_cpu_times_locked(t, &ct);
		break;
	case RUSAGE_CHILDREN_:
		ct.user_ns = t->tg->cutime_ns;
		ct.sys_ns = t->tg->cstime_ns;
		break;
	default:
		pthread_mutex_unlock(&t->k->lock);
		return -EINVAL;
	}
	pthread_mutex_unlock(&t->k->lock);
	ru.utime = ns_to_tv(ct.user_ns);
	ru.stime = ns_to_tv(ct.sys_ns);
	ru.maxrss = (int64_t)(t->mm->rss_pages * 4);
	return copy_out_all(t, ARG(1), &ru, sizeof(ru));
}

/* Implements Linux times(2). */
SYSCALL(times)
{
	struct linux_tms tms;
	struct cpu_times ct;
	uint64_t now = clock_mono_ns();

	pthread_mutex_lock(&t->k->lock);
	tg_cpu_times_locked(t->tg, &ct);
	tms.utime = (int64_t)(ct.user_ns / 10000000ull);
	tms.stime = (int64_t)(ct.sys_ns / 10000000ull);
	tms.cutime = (int64_t)(t->tg->cutime_ns / 10000000ull);
	tms.cstime = (int64_t)(t->tg->cstime_ns / 10000000ull);
	pthread_mutex_unlock(&t->k->lock);
	if (ARG(0) && copy_out_all(t, ARG(0), &tms, sizeof(tms)) < 0)
		return -EFAULT;
	return (long)((now - t->k->boot_mono_ns) / 10000000ull) + 100000;
}

/* Implements Linux getcpu(2). Deviations: the host CPU the sentry thread runs on. */
SYSCALL(getcpu)
{
	unsigned cpu = (unsigned)sched_getcpu(), node = 0;

	if (ARG(0) && copy_out_all(t, ARG(0), &cpu, sizeof(cpu)) < 0)
		return -EFAULT;
	if (ARG(1) && copy_out_all(t, ARG(1), &node, sizeof(node)) < 0)
		return -EFAULT;
	return 0;
}
