/* Signal syscalls: actions, masks, sending, waiting, alternate stacks, sigreturn. */
#include <string.h>

#include "syscalls_internal.h"

#define SIG_BLOCK_ 0
#define SIG_UNBLOCK_ 1
#define SIG_SETMASK_ 2
#define SIGKILL_ 9
#define SIGSTOP_ 19

static bool valid_sig(int sig)
{
	return sig >= 1 && sig <= LINUX_NSIG;
}

/* Implements Linux rt_sigaction(2). */
SYSCALL(rt_sigaction)
{
	int sig = IARG(0);
	struct linux_sigaction act, old;
	struct sighand *sh;

	if (!valid_sig(sig) || ARG(3) != sizeof(linux_sigset_t))
		return -EINVAL;
	if (ARG(1) && copy_in_all(t, ARG(1), &act, sizeof(act)) < 0)
		return -EFAULT;
	if (ARG(1) && (sig == SIGKILL_ || sig == SIGSTOP_))
		return -EINVAL;
	pthread_mutex_lock(&t->k->lock);
	sh = t->tg->sighand;
	old = sh->act[sig - 1];
	if (ARG(1)) {
		act.mask &= ~SIGSET_UNBLOCKABLE;
		sh->act[sig - 1] = act;
		/* Setting SIG_IGN (or a default-ignore SIG_DFL) discards pending instances. */
		if (act.handler == LINUX_SIG_IGN || (act.handler == LINUX_SIG_DFL &&
						     (sig == 17 || sig == 23 || sig == 28))) {
			t->tg->shared_pending.set &= ~sigset_bit(sig);
			for (struct task *o = t->tg->threads; o; o = o->tg_next)
				o->pending.set &= ~sigset_bit(sig);
		}
	}
	pthread_mutex_unlock(&t->k->lock);
	if (ARG(2) && copy_out_all(t, ARG(2), &old, sizeof(old)) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux rt_sigprocmask(2). */
SYSCALL(rt_sigprocmask)
{
	linux_sigset_t set, old = t->sigmask;

	if (ARG(3) != sizeof(linux_sigset_t))
		return -EINVAL;
	if (ARG(1)) {
		if (copy_in_all(t, ARG(1), &set, sizeof(set)) < 0)
			return -EFAULT;
		switch (IARG(0)) {
		case SIG_BLOCK_:
			set = old | set;
			break;
		case SIG_UNBLOCK_:
			set = old & ~set;
			break;
		case SIG_SETMASK_:
			break;
		default:
			return -EINVAL;
		}
		signal_set_mask(t, set);
	}
	if (ARG(2) && copy_out_all(t, ARG(2), &old, sizeof(old)) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux rt_sigreturn(2). */
SYSCALL(rt_sigreturn)
{
	if (signal_sigreturn(t) < 0) {
		signal_force(t, 11, LINUX_SI_KERNEL, 0);
		return SYSCALL_REGS_SET;
	}
	return SYSCALL_REGS_SET;
}

/* Implements Linux sigaltstack(2). */
SYSCALL(sigaltstack)
{
	struct linux_stack ss, old = t->altstack;
	uint64_t sp = t->cpu.regs.rsp;
	bool on = old.ss_size && sp > old.ss_sp && sp <= old.ss_sp + old.ss_size;

	if (ARG(1)) {
		old.ss_flags = on ? LINUX_SS_ONSTACK : (old.ss_size ? old.ss_flags : LINUX_SS_DISABLE);
		if (copy_out_all(t, ARG(1), &old, sizeof(old)) < 0)
			return -EFAULT;
	}
	if (!ARG(0))
		return 0;
	if (copy_in_all(t, ARG(0), &ss, sizeof(ss)) < 0)
		return -EFAULT;
	if (on)
		return -EPERM;
	int mode = ss.ss_flags & ~(int)LINUX_SS_AUTODISARM;

	if (mode != 0 && mode != LINUX_SS_DISABLE && mode != LINUX_SS_ONSTACK)
		return -EINVAL;
	if (mode == LINUX_SS_DISABLE) {
		t->altstack = (struct linux_stack){.ss_flags = LINUX_SS_DISABLE};
		return 0;
	}
	if (ss.ss_size < LINUX_MINSIGSTKSZ)
		return -ENOMEM;
	t->altstack = (struct linux_stack){.ss_sp = ss.ss_sp, .ss_size = ss.ss_size,
					   .ss_flags = ss.ss_flags & (int)LINUX_SS_AUTODISARM};
	return 0;
}

/* May t send a signal to target's process? (kernel->lock held) */
static bool may_signal(struct task *t, struct thread_group *tg, int sig)
{
	const struct cred *c = t->cred, *tc = tg->leader->cred;

	if (cred_capable(c, 5 /* CAP_KILL */) || !tc)
		return true;
	if (c->euid == tc->suid || c->euid == tc->uid || c->uid == tc->suid || c->uid == tc->uid)
		return true;
	return sig == 18 && tg->sid == t->tg->sid; /* SIGCONT within the session */
}

static long kill_pgrp(struct task *t, int pgid, const struct linux_siginfo *info)
{
	struct kernel *k = t->k;
	bool found = false, allowed = false;

	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *o = k->pids[i];

		if (!o || o == (struct task *)1 || o->tg->leader != o || o->tg->zombie)
			continue;
		if (pgid ? o->tg->pgid != pgid : o->tg->tgid == 1 || o->tg == t->tg)
			continue;
		found = true;
		if (!may_signal(t, o->tg, info->signo))
			continue;
		allowed = true;
		if (info->signo)
			signal_send_group_locked(o->tg, info);
	}
	if (!found)
		return -ESRCH;
	return allowed ? 0 : -EPERM;
}

/* Implements Linux kill(2). */
SYSCALL(kill)
{
	int pid = IARG(0), sig = IARG(1);
	struct linux_siginfo info;
	struct thread_group *tg;
	long r = 0;

	if (sig < 0 || sig > LINUX_NSIG)
		return -EINVAL;
	siginfo_kill(&info, sig, LINUX_SI_USER, t);
	pthread_mutex_lock(&t->k->lock);
	if (pid > 0) {
		tg = kernel_find_tg(t->k, pid);
		if (!tg || tg->zombie)
			r = tg ? 0 : -ESRCH;
		else if (!may_signal(t, tg, sig))
			r = -EPERM;
		else if (sig)
			r = signal_send_group_locked(tg, &info);
	} else if (pid == -1) {
		r = kill_pgrp(t, 0, &info);
	} else {
		r = kill_pgrp(t, pid == 0 ? t->tg->pgid : -pid, &info);
	}
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

static long do_tkill(struct task *t, int tgid, int tid, int sig)
{
	struct linux_siginfo info;
	struct task *target;
	long r = 0;

	if (tid <= 0 || sig < 0 || sig > LINUX_NSIG)
		return -EINVAL;
	siginfo_kill(&info, sig, LINUX_SI_TKILL, t);
	pthread_mutex_lock(&t->k->lock);
	target = kernel_find_task(t->k, tid);
	if (!target || target->state >= TASK_ZOMBIE || (tgid > 0 && target->tg->tgid != tgid))
		r = -ESRCH;
	else if (!may_signal(t, target->tg, sig))
		r = -EPERM;
	else if (sig)
		r = signal_send_thread_locked(target, &info);
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux tkill(2). */
SYSCALL(tkill)
{
	return do_tkill(t, -1, IARG(0), IARG(1));
}

/* Implements Linux tgkill(2). */
SYSCALL(tgkill)
{
	if (IARG(0) <= 0)
		return -EINVAL;
	return do_tkill(t, IARG(0), IARG(1), IARG(2));
}

/* Implements Linux rt_sigpending(2). */
SYSCALL(rt_sigpending)
{
	linux_sigset_t set;

	if (ARG(1) > sizeof(set))
		return -EINVAL;
	pthread_mutex_lock(&t->k->lock);
	set = (t->pending.set | t->tg->shared_pending.set) & t->sigmask;
	pthread_mutex_unlock(&t->k->lock);
	return copy_out_all(t, ARG(0), &set, ARG(1));
}

/* Implements Linux rt_sigsuspend(2). */
SYSCALL(rt_sigsuspend)
{
	linux_sigset_t mask;

	if (ARG(1) != sizeof(mask))
		return -EINVAL;
	if (copy_in_all(t, ARG(0), &mask, sizeof(mask)) < 0)
		return -EFAULT;
	t->saved_sigmask = t->sigmask;
	t->restore_sigmask = true;
	signal_set_mask(t, mask);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		if (task_block(t, seq, 0) == -EINTR)
			return -ERESTARTNOHAND;
	}
}

/* Implements Linux pause(2). */
SYSCALL(pause)
{
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		if (task_block(t, seq, 0) == -EINTR)
			return -ERESTARTNOHAND;
	}
}

static long queue_info(struct task *t, int tgid, int tid, int sig, uint64_t uinfo)
{
	struct linux_siginfo info;
	struct task *target;
	long r = 0;

	if (!valid_sig(sig))
		return -EINVAL;
	if (copy_in_all(t, uinfo, &info, sizeof(info)) < 0)
		return -EFAULT;
	/* Only the kernel may claim kernel or kill()-style origins for another process. */
	if ((info.code >= 0 || info.code == LINUX_SI_TKILL) && tgid != t->tg->tgid)
		return -EPERM;
	info.signo = sig;
	pthread_mutex_lock(&t->k->lock);
	if (tid > 0) {
		target = kernel_find_task(t->k, tid);
		if (!target || target->tg->tgid != tgid || target->state >= TASK_ZOMBIE)
			r = -ESRCH;
		else
			r = signal_send_thread_locked(target, &info);
	} else {
		struct thread_group *tg = kernel_find_tg(t->k, tgid);

		r = tg && !tg->zombie ? signal_send_group_locked(tg, &info) : -ESRCH;
	}
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux rt_sigqueueinfo(2). */
SYSCALL(rt_sigqueueinfo)
{
	return queue_info(t, IARG(0), 0, IARG(1), ARG(2));
}

/* Implements Linux rt_tgsigqueueinfo(2). */
SYSCALL(rt_tgsigqueueinfo)
{
	return queue_info(t, IARG(0), IARG(1), IARG(2), ARG(3));
}

/* Implements Linux rt_sigtimedwait(2). */
SYSCALL(rt_sigtimedwait)
{
	linux_sigset_t set, saved;
	struct linux_timespec ts;
	struct linux_siginfo info;
	uint64_t deadline = 0;
	long r;

	if (ARG(3) != sizeof(set))
		return -EINVAL;
	if (copy_in_all(t, ARG(0), &set, sizeof(set)) < 0)
		return -EFAULT;
	set &= ~SIGSET_UNBLOCKABLE;
	if (ARG(2)) {
		if (copy_in_all(t, ARG(2), &ts, sizeof(ts)) < 0)
			return -EFAULT;
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
			return -EINVAL;
		deadline = clock_mono_ns() + (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (!deadline)
			deadline = 1;
	}
	/* Unblock the awaited signals while waiting, so their arrival interrupts us. */
	pthread_mutex_lock(&t->k->lock);
	saved = t->sigmask;
	for (;;) {
		t->sigmask = saved & ~set;
		signal_recalc(t);
		bool got = false;
		linux_sigset_t keep = t->sigmask;

		t->sigmask = ~set; /* dequeue only from `set` */
		got = signal_dequeue_locked(t, &info);
		t->sigmask = keep;
		if (got) {
			r = info.signo;
			break;
		}
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_unlock(&t->k->lock);
		int b = task_block(t, seq, deadline);

		pthread_mutex_lock(&t->k->lock);
		if (b == -ETIMEDOUT) {
			r = -EAGAIN;
			break;
		}
		if (b == -EINTR && !((t->pending.set | t->tg->shared_pending.set) & set)) {
			r = -EINTR;
			break;
		}
	}
	t->sigmask = saved;
	signal_recalc(t);
	pthread_mutex_unlock(&t->k->lock);
	if (r > 0 && ARG(1) && copy_out_all(t, ARG(1), &info, sizeof(info)) < 0)
		return -EFAULT;
	return r;
}
