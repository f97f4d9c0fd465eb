/*
 * CPU time accounting.  A task's sentry work runs on its own host thread, whose CPU clock is
 * its system time.  Application code runs in the platform's stub processes (ptrace, systrap),
 * whose process CPU clock is the address space's user time; kvm runs it on the task's thread,
 * so there everything is counted as user time.  Exited threads and released address spaces
 * leave their share in the thread group's accumulators.
 */
#include <errno.h>
#include <time.h>

#include "cvisor/sentry/mm.h"
#include "kernel_internal.h"

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool app_time_separate(struct kernel *k)
{
	return k->platform->ops->as_cpu_time != NULL;
}

static uint64_t mm_app_ns(struct mm *mm)
{
	uint64_t ns = 0;

	if (!mm || !mm->as || platform_as_cpu_time(mm->as, &ns) < 0)
		return 0;
	return ns;
}

/* The host thread's clock; only while the thread runs (state < TASK_EXITING, or itself). */
static uint64_t sentry_ns(const struct task *t)
{
	return t->has_host_clock ? clock_ns(t->host_clock) : 0;
}

void task_cputime_start(struct task *t)
{
	clockid_t c;

	if (pthread_getcpuclockid(pthread_self(), &c) != 0)
		return;
	pthread_mutex_lock(&t->k->lock);
	t->host_clock = c;
	t->has_host_clock = true;
	pthread_mutex_unlock(&t->k->lock);
}

/* The live threads of tg and the mm they run in, if any (kernel->lock held). */
static struct mm *live_mm_locked(struct thread_group *tg, int *nlive)
{
	struct mm *mm = NULL;

	*nlive = 0;
	for (struct task *t = tg->threads; t; t = t->tg_next) {
		if (t->state >= TASK_EXITING)
			continue;
		++*nlive;
		if (!mm)
			mm = t->mm;
	}
	return mm;
}

static void fold(struct kernel *k, struct cpu_times *ct)
{
	if (!app_time_separate(k)) {
		ct->user_ns += ct->sys_ns;
		ct->sys_ns = 0;
	}
}

void tg_cpu_times_locked(struct thread_group *tg, struct cpu_times *ct)
{
	int nlive;
	struct mm *mm;

	if (tg->zombie) {
		ct->user_ns = tg->utime_ns;
		ct->sys_ns = tg->stime_ns;
		return;
	}
	ct->user_ns = tg->acc_user_ns;
	ct->sys_ns = tg->acc_sys_ns;
	for (struct task *t = tg->threads; t; t = t->tg_next)
		if (t->state < TASK_EXITING)
			ct->sys_ns += sentry_ns(t);
	mm = live_mm_locked(tg, &nlive);
	ct->user_ns += mm_app_ns(mm);
	fold(tg->leader->k, ct);
}

void kernel_cpu_times(struct kernel *k, struct cpu_times *ct)
{
	pthread_mutex_lock(&k->lock);
	ct->user_ns = k->dead_user_ns;
	ct->sys_ns = k->dead_sys_ns;
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *t = k->pids[i];
		struct cpu_times one;

		/* each living process once, through its leader's slot */
		if (!t || t == (struct task *)1 || t->tg->leader != t || t->tg->zombie)
			continue;
		tg_cpu_times_locked(t->tg, &one);
		ct->user_ns += one.user_ns;
		ct->sys_ns += one.sys_ns;
	}
	pthread_mutex_unlock(&k->lock);
}

void task_cpu_times_locked(struct task *t, struct cpu_times *ct)
{
	int nlive;
	struct mm *mm;

	ct->user_ns = 0;
	ct->sys_ns = 0;
	if (t->state >= TASK_EXITING)
		return;
	ct->sys_ns = sentry_ns(t);
	mm = live_mm_locked(t->tg, &nlive);
	if (nlive == 1 && mm == t->mm)
		ct->user_ns = mm_app_ns(mm);
	fold(t->k, ct);
}

void task_cputime_exit_locked(struct task *t)
{
	struct thread_group *tg = t->tg;
	int nlive;
	struct mm *mm = live_mm_locked(tg, &nlive);

	tg->acc_sys_ns += sentry_ns(t);
	/* The last thread using the address space takes its user time along, unless another
	 * process (a vfork child's parent) still runs in it and will count it itself. */
	if (nlive == 1 && mm == t->mm && t->mm &&
	    __atomic_load_n(&t->mm->users, __ATOMIC_SEQ_CST) <= tg->nr_threads)
		tg->acc_user_ns += mm_app_ns(t->mm);
	t->has_host_clock = false;
}

void task_cputime_exec(struct task *t, struct mm *old)
{
	uint64_t ns;

	if (!old || __atomic_load_n(&old->users, __ATOMIC_SEQ_CST) > 1)
		return;
	ns = mm_app_ns(old);
	pthread_mutex_lock(&t->k->lock);
	t->tg->acc_user_ns += ns;
	pthread_mutex_unlock(&t->k->lock);
}

/* Linux's encoding of CPU clock ids: ~pid << 3 | per-thread (4) | PROF 0, VIRT 1, SCHED 2. */
#define CPUCLOCK_PERTHREAD 4
#define CPUCLOCK_VIRT 1
#define CPUCLOCK_MAX 3

int cpu_clock_read(struct task *t, int clockid, uint64_t *ns)
{
	struct kernel *k = t->k;
	struct cpu_times ct;
	bool thread;
	int which, pid;

	if (clockid == 2 || clockid == 3) { /* CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_... */
		thread = clockid == 3;
		which = 2;
		pid = 0;
	} else if (clockid < 0) {
		pid = ~(clockid >> 3);
		thread = clockid & CPUCLOCK_PERTHREAD;
		which = clockid & 3;
		if (which == CPUCLOCK_MAX)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	pthread_mutex_lock(&k->lock);
	if (pid == 0) {
		if (thread)
			task_cpu_times_locked(t, &ct);
		else
			tg_cpu_times_locked(t->tg, &ct);
	} else {
		struct task *o = kernel_find_task(k, pid);

		/* A thread clock names a thread of the caller's own process, a process clock a
		 * process (its leader's tid), as on Linux. */
		if (!o || o->state == TASK_DEAD || (thread && o->tg != t->tg) ||
		    (!thread && o != t && o->tg->leader != o)) {
			pthread_mutex_unlock(&k->lock);
			return -EINVAL;
		}
		if (thread)
			task_cpu_times_locked(o, &ct);
		else
			tg_cpu_times_locked(o->tg, &ct);
	}
	pthread_mutex_unlock(&k->lock);
	*ns = which == CPUCLOCK_VIRT ? ct.user_ns : ct.user_ns + ct.sys_ns;
	return 0;
}
