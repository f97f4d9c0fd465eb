/*
 * Process timers: ITIMER_REAL (alarm, setitimer) and POSIX timers (timer_create).
 *
 * Timers belong to a thread group but live in a separately allocated struct tg_timers, so a
 * callback never touches a thread group that is gone: when the group exits, `dead` is set
 * under kernel->lock (callbacks check it under the same lock), and the last exiting thread
 * cancels and frees everything with no lock held (ktimer_cancel waits for callbacks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/ktimer.h"
#include "kernel_internal.h"

#define MAX_POSIX_TIMERS 1024
#define SIGALRM_ 14
#define SIGEV_SIGNAL_ 0
#define SIGEV_NONE_ 1
#define SIGEV_THREAD_ID_ 4

struct ptimer {
	struct ktimer kt;
	struct tg_timers *owner;
	int id;
	int clock;
	int signo;
	int notify;
	int target_tid;
	uint64_t value;
	uint64_t overrun; /* at the last delivery */
};

struct tg_timers {
	struct kernel *k;
	struct thread_group *tg; /* valid while !dead, under kernel->lock */
	bool dead;
	struct ktimer real;
	struct ptimer *pt[MAX_POSIX_TIMERS];
};

static void fire_real(struct ktimer *kt)
{
	struct tg_timers *tt = kt->priv;
	struct linux_siginfo info;

	siginfo_kill(&info, SIGALRM_, LINUX_SI_KERNEL, NULL);
	pthread_mutex_lock(&tt->k->lock);
	if (!tt->dead)
		signal_send_group_locked(tt->tg, &info);
	pthread_mutex_unlock(&tt->k->lock);
}

static void fire_posix(struct ktimer *kt)
{
	struct ptimer *p = kt->priv;
	struct tg_timers *tt = p->owner;
	struct linux_siginfo info;

	if (p->notify == SIGEV_NONE_)
		return;
	memset(&info, 0, sizeof(info));
	info.signo = p->signo;
	info.code = LINUX_SI_TIMER;
	info.u.timer.tid = p->id;
	info.u.timer.overrun = (int32_t)MIN(kt->overrun, (uint64_t)INT32_MAX);
	info.u.timer.value = p->value;
	p->overrun = kt->overrun;
	pthread_mutex_lock(&tt->k->lock);
	if (!tt->dead) {
		struct task *target = p->notify == SIGEV_THREAD_ID_
					      ? kernel_find_task(tt->k, p->target_tid) : NULL;

		if (target && target->tg == tt->tg)
			signal_send_thread_locked(target, &info);
		else
			signal_send_group_locked(tt->tg, &info);
	}
	pthread_mutex_unlock(&tt->k->lock);
}

/* The group's timer block, created on first use (kernel->lock taken here). */
static struct tg_timers *timers_of(struct task *t)
{
	struct tg_timers *tt;

	pthread_mutex_lock(&t->k->lock);
	tt = t->tg->timers;
	if (!tt && (tt = calloc(1, sizeof(*tt)))) {
		tt->k = t->k;
		tt->tg = t->tg;
		ktimer_init(&tt->real, fire_real, tt);
		t->tg->timers = tt;
	}
	pthread_mutex_unlock(&t->k->lock);
	return tt;
}

void timers_mark_dead_locked(struct thread_group *tg)
{
	if (tg->timers)
		tg->timers->dead = true;
}

void timers_release(struct kernel *k, struct tg_timers *tt)
{
	if (!tt)
		return;
	ktimer_cancel(k, &tt->real);
	for (int i = 0; i < MAX_POSIX_TIMERS; i++) {
		if (tt->pt[i]) {
			ktimer_cancel(k, &tt->pt[i]->kt);
			free(tt->pt[i]);
		}
	}
	free(tt);
}

void timers_exec(struct task *t)
{
	struct tg_timers *tt = t->tg->timers;

	for (int i = 0; tt && i < MAX_POSIX_TIMERS; i++) {
		if (tt->pt[i]) {
			ktimer_cancel(t->k, &tt->pt[i]->kt);
			free(tt->pt[i]);
			tt->pt[i] = NULL;
		}
	}
}

static uint64_t tv_ns(const struct linux_timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ull + (uint64_t)tv->tv_usec * 1000ull;
}

static struct linux_timeval ns_tv(uint64_t ns)
{
	/* Round up, so a pending timer never reads as zero. */
	ns = (ns + 999) / 1000 * 1000;
	return (struct linux_timeval){(int64_t)(ns / 1000000000ull), (int64_t)(ns % 1000000000ull / 1000)};
}

int itimer_real(struct task *t, const struct linux_itimerval *nv, struct linux_itimerval *old)
{
	struct tg_timers *tt = timers_of(t);

	if (!tt)
		return -ENOMEM;
	if (old) {
		old->value = ns_tv(ktimer_remaining(t->k, &tt->real));
		old->interval = ns_tv(tt->real.period);
	}
	if (nv) {
		uint64_t v = tv_ns(&nv->value), p = tv_ns(&nv->interval);

		ktimer_arm(t->k, &tt->real, v ? clock_mono_ns() + v : 0, v ? p : 0);
	}
	return 0;
}

int ptimer_create(struct task *t, int clock, int notify, int signo, int tid, uint64_t value)
{
	struct tg_timers *tt = timers_of(t);
	struct ptimer *p;

	if (!tt)
		return -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&t->k->lock);
	for (int i = 0; i < MAX_POSIX_TIMERS; i++) {
		if (!tt->pt[i]) {
			p->id = i;
			p->owner = tt;
			p->clock = clock;
			p->signo = signo;
			p->notify = notify;
			p->target_tid = tid;
			p->value = value;
			ktimer_init(&p->kt, fire_posix, p);
			tt->pt[i] = p;
			pthread_mutex_unlock(&t->k->lock);
			return i;
		}
	}
	pthread_mutex_unlock(&t->k->lock);
	free(p);
	return -EAGAIN;
}

static struct ptimer *lookup(struct task *t, int id)
{
	struct tg_timers *tt = t->tg->timers;

	if (!tt || id < 0 || id >= MAX_POSIX_TIMERS)
		return NULL;
	return tt->pt[id];
}

int ptimer_settime(struct task *t, int id, uint64_t deadline, uint64_t period, uint64_t *old_rem,
		   uint64_t *old_period)
{
	struct ptimer *p = lookup(t, id);

	if (!p)
		return -EINVAL;
	if (old_rem)
		*old_rem = ktimer_remaining(t->k, &p->kt);
	if (old_period)
		*old_period = p->kt.period;
	ktimer_arm(t->k, &p->kt, deadline, deadline ? period : 0);
	return 0;
}

int ptimer_gettime(struct task *t, int id, uint64_t *rem, uint64_t *period)
{
	struct ptimer *p = lookup(t, id);

	if (!p)
		return -EINVAL;
	*rem = ktimer_remaining(t->k, &p->kt);
	*period = p->kt.period;
	return 0;
}

int ptimer_clockid(struct task *t, int id)
{
	struct ptimer *p = lookup(t, id);

	return p ? p->clock : -EINVAL;
}

int ptimer_getoverrun(struct task *t, int id)
{
	struct ptimer *p = lookup(t, id);

	return p ? (int)MIN(p->overrun, (uint64_t)INT32_MAX) : -EINVAL;
}

int ptimer_delete(struct task *t, int id)
{
	struct ptimer *p = lookup(t, id);

	if (!p)
		return -EINVAL;
	ktimer_cancel(t->k, &p->kt);
	pthread_mutex_lock(&t->k->lock);
	t->tg->timers->pt[id] = NULL;
	pthread_mutex_unlock(&t->k->lock);
	free(p);
	return 0;
}
