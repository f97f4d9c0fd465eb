/*
 * Process timers: itimers (alarm, setitimer), POSIX timers (timer_create) and the RLIMIT_CPU
 * limit.
 *
 * Timers on a CPU-time clock (ITIMER_VIRTUAL, ITIMER_PROF, POSIX timers on CPU clocks,
 * RLIMIT_CPU) cannot be kept in a deadline heap: the host tells the sentry how much CPU a
 * process used, not when it will have used so much.  Each is polled instead: its ktimer fires
 * when the clock could have reached the expiry at the earliest (every thread of the process
 * busy on both sides, stub and sentry), reads the clock, then fires or looks again, never more
 * often than a 250 Hz tick (Linux's resolution for these timers too).
 *
 * Timers belong to a thread group but live in a separately allocated struct tg_timers, so a
 * callback never touches a thread group that is gone: when the group exits, `dead` is set
 * under kernel->lock (callbacks check it under the same lock), and the last exiting thread
 * cancels and frees everything with no lock held (ktimer_cancel waits for callbacks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/log.h"
#include "cvisor/sentry/ktimer.h"
#include "kernel_internal.h"

#define MAX_POSIX_TIMERS 1024
#define SIGKILL_ 9
#define SIGALRM_ 14
#define SIGXCPU_ 24
#define SIGVTALRM_ 26
#define SIGPROF_ 27
#define RLIMIT_CPU_ 0
#define RLIM_INFINITY_ (~0ull)
#define CPUCLOCK_PROF 0
#define CPUCLOCK_VIRT 1
#define CPUCLOCK_SCHED 2
#define CPU_POLL_MIN_NS 4000000ull
#define NS_PER_SEC 1000000000ull
#define SIGEV_SIGNAL_ 0
#define SIGEV_NONE_ 1
#define SIGEV_THREAD_ID_ 4
#define ITIMER_REAL_ 0
#define ITIMER_VIRTUAL_ 1

/* An expiry on a CPU clock, checked by polling. */
struct cpu_expiry {
	uint64_t expires;  /* on the clock, ns; 0 = disarmed */
	uint64_t interval;
	int which;         /* CPUCLOCK_* */
	int tid;           /* 0: the whole process, else one of its threads */
};

struct ptimer {
	struct ktimer kt;  /* the deadline, or the poll of a CPU-clock timer */
	bool cpu;
	struct cpu_expiry ce;
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
	struct ktimer virt_kt, prof_kt, rlim_kt;  /* polls */
	struct cpu_expiry virt, prof;
	uint64_t rlim_next;                       /* process CPU ns of the next SIGXCPU */
	struct ptimer *pt[MAX_POSIX_TIMERS];
};

/* ---- CPU-clock expiries --------------------------------------------------------------- */

/* The clock's reading (kernel->lock held); false when its thread is gone. */
static bool cpu_read_locked(struct tg_timers *tt, const struct cpu_expiry *ce, uint64_t *now)
{
	struct cpu_times ct;

	if (ce->tid) {
		struct task *t = kernel_find_task(tt->k, ce->tid);

		if (!t || t->tg != tt->tg || t->state >= TASK_EXITING)
			return false;
		task_cpu_times_locked(t, &ct);
	} else {
		tg_cpu_times_locked(tt->tg, &ct);
	}
	*now = ce->which == CPUCLOCK_VIRT ? ct.user_ns : ct.user_ns + ct.sys_ns;
	return true;
}

/* Arms kt to look again when `left` ns of the clock could have passed at the earliest. */
static void cpu_poll(struct tg_timers *tt, struct ktimer *kt, uint64_t left, bool one_thread)
{
	uint64_t runners = one_thread ? 1 : (uint64_t)MAX(tt->tg->nr_threads, 1);
	uint64_t wait = left / (2 * runners);

	ktimer_arm(tt->k, kt, clock_mono_ns() + MAX(wait, CPU_POLL_MIN_NS), 0);
}

/* Checks ce (kernel->lock held): how many times it expired since the last check (0: not
 * yet), advancing a periodic one and polling again while it stays armed. */
static uint64_t cpu_check_locked(struct tg_timers *tt, struct ktimer *kt, struct cpu_expiry *ce)
{
	uint64_t now, n = 0;

	if (tt->dead || !ce->expires || !cpu_read_locked(tt, ce, &now))
		return 0;
	if (now >= ce->expires) {
		if (ce->interval) {
			n = 1 + (now - ce->expires) / ce->interval;
			ce->expires += n * ce->interval;
		} else {
			n = 1;
			ce->expires = 0;
		}
	}
	if (ce->expires)
		cpu_poll(tt, kt, ce->expires - now, ce->tid != 0);
	return n;
}

/* (Re)arms ce `value` ns of its clock from now (0 disarms); the old remaining time and
 * interval in *old_rem, *old_int.  kernel->lock held. */
static void cpu_set_locked(struct tg_timers *tt, struct ktimer *kt, struct cpu_expiry *ce,
			   uint64_t value, bool abs, uint64_t interval, uint64_t *old_rem,
			   uint64_t *old_int)
{
	uint64_t now = 0;

	cpu_read_locked(tt, ce, &now);
	if (old_rem)
		*old_rem = ce->expires > now ? ce->expires - now : ce->expires ? 1 : 0;
	if (old_int)
		*old_int = ce->interval;
	if (!value) {
		ce->expires = 0;
		ce->interval = 0;
		ktimer_arm(tt->k, kt, 0, 0);
		return;
	}
	ce->expires = abs ? MAX(value, 1) : now + value;
	ce->interval = interval;
	cpu_poll(tt, kt, ce->expires > now ? ce->expires - now : 0, ce->tid != 0);
}

static uint64_t cpu_remaining_locked(struct tg_timers *tt, const struct cpu_expiry *ce)
{
	uint64_t now;

	if (!ce->expires || !cpu_read_locked(tt, ce, &now))
		return 0;
	return ce->expires > now ? ce->expires - now : 1;
}

static void fire_cpu_itimer(struct ktimer *kt, struct cpu_expiry *ce, int signo)
{
	struct tg_timers *tt = kt->priv;
	struct linux_siginfo info;

	siginfo_kill(&info, signo, LINUX_SI_KERNEL, NULL);
	pthread_mutex_lock(&tt->k->lock);
	if (cpu_check_locked(tt, kt, ce))
		signal_send_group_locked(tt->tg, &info);
	pthread_mutex_unlock(&tt->k->lock);
}

static void fire_virt(struct ktimer *kt)
{
	fire_cpu_itimer(kt, &((struct tg_timers *)kt->priv)->virt, SIGVTALRM_);
}

static void fire_prof(struct ktimer *kt)
{
	fire_cpu_itimer(kt, &((struct tg_timers *)kt->priv)->prof, SIGPROF_);
}

/* RLIMIT_CPU: SIGXCPU at the soft limit and every second after it, SIGKILL at the hard one. */
static void rlim_check_locked(struct tg_timers *tt)
{
	const struct linux_rlimit64 *rl = &tt->tg->rlimits[RLIMIT_CPU_];
	uint64_t soft = rl->cur == RLIM_INFINITY_ ? UINT64_MAX : rl->cur * NS_PER_SEC;
	uint64_t hard = rl->max == RLIM_INFINITY_ ? UINT64_MAX : rl->max * NS_PER_SEC;
	struct cpu_expiry ce = {.which = CPUCLOCK_PROF};
	struct linux_siginfo info;
	uint64_t now, next;

	if (tt->dead || tt->tg->exiting || !cpu_read_locked(tt, &ce, &now))
		return;
	if (soft == UINT64_MAX && hard == UINT64_MAX)
		return;
	if (now >= hard) {
		siginfo_kill(&info, SIGKILL_, LINUX_SI_KERNEL, NULL);
		signal_send_group_locked(tt->tg, &info);
		return;
	}
	if (tt->rlim_next < soft)
		tt->rlim_next = soft;
	if (now >= tt->rlim_next) {
		siginfo_kill(&info, SIGXCPU_, LINUX_SI_KERNEL, NULL);
		signal_send_group_locked(tt->tg, &info);
		tt->rlim_next = now + NS_PER_SEC;
	}
	next = MIN(tt->rlim_next, hard);
	cpu_poll(tt, &tt->rlim_kt, next - now, false);
}

static void fire_rlim(struct ktimer *kt)
{
	struct tg_timers *tt = kt->priv;

	pthread_mutex_lock(&tt->k->lock);
	rlim_check_locked(tt);
	pthread_mutex_unlock(&tt->k->lock);
}

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

/* Sends a POSIX timer's signal (kernel->lock held). */
static void deliver_posix_locked(struct ptimer *p, uint64_t overrun)
{
	struct tg_timers *tt = p->owner;
	struct linux_siginfo info;
	struct task *target;

	if (p->notify == SIGEV_NONE_ || tt->dead)
		return;
	memset(&info, 0, sizeof(info));
	info.signo = p->signo;
	info.code = LINUX_SI_TIMER;
	info.u.timer.tid = p->id;
	info.u.timer.overrun = (int32_t)MIN(overrun, (uint64_t)INT32_MAX);
	info.u.timer.value = p->value;
	p->overrun = overrun;
	target = p->notify == SIGEV_THREAD_ID_ ? kernel_find_task(tt->k, p->target_tid) : NULL;
	if (target && target->tg == tt->tg)
		signal_send_thread_locked(target, &info);
	else
		signal_send_group_locked(tt->tg, &info);
}

static void fire_posix(struct ktimer *kt)
{
	struct ptimer *p = kt->priv;
	struct tg_timers *tt = p->owner;
	uint64_t n;

	pthread_mutex_lock(&tt->k->lock);
	if (!p->cpu)
		deliver_posix_locked(p, kt->overrun);
	else if ((n = cpu_check_locked(tt, kt, &p->ce)))
		deliver_posix_locked(p, n - 1);
	pthread_mutex_unlock(&tt->k->lock);
}

/* The group's timer block, created on first use (kernel->lock held). */
static struct tg_timers *timers_of_locked(struct kernel *k, struct thread_group *tg)
{
	struct tg_timers *tt = tg->timers;

	if (!tt && (tt = calloc(1, sizeof(*tt)))) {
		tt->k = k;
		tt->tg = tg;
		ktimer_init(&tt->real, fire_real, tt);
		ktimer_init(&tt->virt_kt, fire_virt, tt);
		ktimer_init(&tt->prof_kt, fire_prof, tt);
		ktimer_init(&tt->rlim_kt, fire_rlim, tt);
		tt->virt.which = CPUCLOCK_VIRT;
		tt->prof.which = CPUCLOCK_PROF;
		tg->timers = tt;
	}
	return tt;
}

static struct tg_timers *timers_of(struct task *t)
{
	struct tg_timers *tt;

	pthread_mutex_lock(&t->k->lock);
	tt = timers_of_locked(t->k, t->tg);
	pthread_mutex_unlock(&t->k->lock);
	return tt;
}

void timers_rlimit_cpu_locked(struct kernel *k, struct thread_group *tg)
{
	const struct linux_rlimit64 *rl = &tg->rlimits[RLIMIT_CPU_];
	struct tg_timers *tt;

	if (rl->cur == RLIM_INFINITY_ && rl->max == RLIM_INFINITY_) {
		if (tg->timers)
			ktimer_arm(k, &tg->timers->rlim_kt, 0, 0);
		return;
	}
	tt = timers_of_locked(k, tg);
	if (!tt) {
		log_warn("timers: out of memory; RLIMIT_CPU of process %d not enforced", tg->tgid);
		return;
	}
	tt->rlim_next = 0;
	rlim_check_locked(tt);
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
	ktimer_cancel(k, &tt->virt_kt);
	ktimer_cancel(k, &tt->prof_kt);
	ktimer_cancel(k, &tt->rlim_kt);
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

int itimer(struct task *t, int which, const struct linux_itimerval *nv,
	   struct linux_itimerval *old)
{
	struct tg_timers *tt = timers_of(t);
	uint64_t rem = 0, per = 0;

	if (!tt)
		return -ENOMEM;
	if (which == ITIMER_REAL_) {
		rem = ktimer_remaining(t->k, &tt->real);
		per = tt->real.period;
		if (nv) {
			uint64_t v = tv_ns(&nv->value), p = tv_ns(&nv->interval);

			ktimer_arm(t->k, &tt->real, v ? clock_mono_ns() + v : 0, v ? p : 0);
		}
	} else {
		struct ktimer *kt = which == ITIMER_VIRTUAL_ ? &tt->virt_kt : &tt->prof_kt;
		struct cpu_expiry *ce = which == ITIMER_VIRTUAL_ ? &tt->virt : &tt->prof;

		pthread_mutex_lock(&t->k->lock);
		if (nv)
			cpu_set_locked(tt, kt, ce, tv_ns(&nv->value), false, tv_ns(&nv->interval),
				       &rem, &per);
		else
			rem = cpu_remaining_locked(tt, ce);
		if (!nv)
			per = ce->interval;
		pthread_mutex_unlock(&t->k->lock);
	}
	if (old) {
		old->value = ns_tv(rem);
		old->interval = ns_tv(per);
	}
	return 0;
}

/* A CPU clock id (clock 2, 3, or Linux's encoding) as an expiry on the caller's process or
 * one of its threads; -EINVAL for other processes' clocks. */
static int cpu_clock_target(struct task *t, int clock, struct cpu_expiry *ce)
{
	int pid;

	if (clock == 2 || clock == 3) {
		ce->which = CPUCLOCK_SCHED;
		ce->tid = clock == 3 ? t->tid : 0;
		return 0;
	}
	pid = ~(clock >> 3);
	ce->which = clock & 3;
	if (ce->which == 3)
		return -EINVAL;
	if (clock & 4) { /* a thread: of the caller's process */
		struct task *o;

		pthread_mutex_lock(&t->k->lock);
		o = pid ? kernel_find_task(t->k, pid) : t;
		ce->tid = o && o->tg == t->tg ? o->tid : -1;
		pthread_mutex_unlock(&t->k->lock);
		return ce->tid < 0 ? -EINVAL : 0;
	}
	ce->tid = 0;
	return pid == 0 || pid == t->tg->tgid ? 0 : -EINVAL;
}

int ptimer_create(struct task *t, int clock, int notify, int signo, int tid, uint64_t value)
{
	struct tg_timers *tt = timers_of(t);
	struct cpu_expiry ce = {0};
	bool cpu = clock == 2 || clock == 3 || clock < 0;
	struct ptimer *p;
	int r;

	if (!tt)
		return -ENOMEM;
	if (cpu && (r = cpu_clock_target(t, clock, &ce)) < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cpu = cpu;
	p->ce = ce;
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

int ptimer_settime(struct task *t, int id, uint64_t value, bool abs, uint64_t period,
		   uint64_t *old_rem, uint64_t *old_period)
{
	struct ptimer *p = lookup(t, id);
	uint64_t deadline = 0;

	if (!p)
		return -EINVAL;
	if (p->cpu) {
		pthread_mutex_lock(&t->k->lock);
		cpu_set_locked(p->owner, &p->kt, &p->ce, value, abs, value ? period : 0, old_rem,
			       old_period);
		pthread_mutex_unlock(&t->k->lock);
		return 0;
	}
	if (old_rem)
		*old_rem = ktimer_remaining(t->k, &p->kt);
	if (old_period)
		*old_period = p->kt.period;
	if (value && abs) {
		uint64_t now_mono = clock_mono_ns();
		uint64_t now = p->clock == 0 || p->clock == 5 ? clock_real_ns() : now_mono;

		deadline = value > now ? now_mono + (value - now) : now_mono;
	} else if (value) {
		deadline = clock_mono_ns() + value;
	}
	ktimer_arm(t->k, &p->kt, deadline, deadline ? period : 0);
	return 0;
}

int ptimer_gettime(struct task *t, int id, uint64_t *rem, uint64_t *period)
{
	struct ptimer *p = lookup(t, id);

	if (!p)
		return -EINVAL;
	if (p->cpu) {
		pthread_mutex_lock(&t->k->lock);
		*rem = cpu_remaining_locked(p->owner, &p->ce);
		*period = p->ce.interval;
		pthread_mutex_unlock(&t->k->lock);
		return 0;
	}
	*rem = ktimer_remaining(t->k, &p->kt);
	*period = p->kt.period;
	return 0;
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
