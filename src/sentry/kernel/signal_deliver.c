/*
 * Signal delivery at the boundary back to application code: group stops, fatal default
 * actions, handlers, and the one place where a syscall's ERESTART* result becomes -EINTR or a
 * restart (STYLE.md 2.4).
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

#include "cvisor/log.h"
#include "kernel_internal.h"

static bool is_restart(long r)
{
	return r == -ERESTARTSYS || r == -ERESTARTNOINTR || r == -ERESTARTNOHAND ||
	       r == -ERESTART_RESTARTBLOCK;
}

/* The interrupted syscall runs again when the application resumes. */
static void restart_regs(struct task *t)
{
	struct cpu_regs *r = &t->cpu.regs;

	if ((long)r->rax == -ERESTART_RESTARTBLOCK)
		r->rax = SYS_restart_syscall;
	else
		r->rax = r->orig_rax;
	r->rip -= 2; /* back over the 2-byte `syscall` */
}

/* No handler runs: every restart code restarts. */
static void resolve_restart_no_handler(struct task *t)
{
	if (t->in_syscall && is_restart((long)t->cpu.regs.rax))
		restart_regs(t);
	t->in_syscall = false;
}

/* A handler runs: restart only where SA_RESTART asks and the code allows. */
static void resolve_restart_handler(struct task *t, const struct linux_sigaction *act)
{
	long r = (long)t->cpu.regs.rax;

	if (!t->in_syscall || !is_restart(r)) {
		t->in_syscall = false;
		return;
	}
	t->in_syscall = false;
	if (r == -ERESTARTNOINTR || (r == -ERESTARTSYS && (act->flags & LINUX_SA_RESTART)))
		restart_regs(t);
	else
		t->cpu.regs.rax = (uint64_t)-EINTR;
}

/* Participates in a group stop until SIGCONT or a kill (kernel->lock held, kept). */
static void do_group_stop(struct task *t)
{
	struct thread_group *tg = t->tg;
	struct kernel *k = t->k;

	t->state = TASK_STOPPED;
	if (++tg->nr_stopped == tg->nr_threads) {
		tg->stop_report = true;
		tg->cont_report = false;
		notify_parent_stop_locked(tg, LINUX_CLD_STOPPED, tg->stop_signal);
	}
	signal_recalc(t);
	while (tg->stopping && !t->killed) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_unlock(&k->lock);
		task_block_killable(t, seq, 0);
		pthread_mutex_lock(&k->lock);
	}
	t->state = TASK_RUNNING;
	tg->nr_stopped--;
}

/* Parks the task while the kernel is frozen (kernel_freeze), until the thaw or a kill
 * (kernel->lock held, kept). */
static void do_freeze(struct task *t)
{
	struct kernel *k = t->k;

	while (__atomic_load_n(&k->frozen, __ATOMIC_SEQ_CST) && !t->killed) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_unlock(&k->lock);
		task_block_killable(t, seq, 0);
		pthread_mutex_lock(&k->lock);
	}
}

static void begin_group_stop(struct task *t, int sig)
{
	struct thread_group *tg = t->tg;

	if (tg->stopping || tg->exiting)
		return;
	tg->stopping = true;
	tg->stop_signal = sig;
	for (struct task *o = tg->threads; o; o = o->tg_next) {
		signal_recalc(o);
		if (o != t)
			task_interrupt(o);
	}
}

/* Acts on a dequeued signal without a handler.  Returns false when the task must exit. */
static bool default_action(struct task *t, int sig)
{
	switch (signal_default_action(sig)) {
	case SIGDFL_IGN:
	case SIGDFL_CONT:
		return true;
	case SIGDFL_STOP:
		begin_group_stop(t, sig);
		return true;
	case SIGDFL_CORE:
	case SIGDFL_TERM:
		break;
	}
	if (!t->tg->exiting) {
		t->tg->exiting = true;
		t->tg->exit_code = sig | (signal_default_action(sig) == SIGDFL_CORE ? 0x80 : 0);
		thread_group_kill_locked(t->tg, NULL);
	}
	return false;
}

/* Delivers one signal to a handler: restart, mask, frame. kernel->lock held on entry,
 * released on return. */
static void run_handler(struct task *t, const struct linux_siginfo *info)
{
	int sig = info->signo;
	struct linux_sigaction act = t->tg->sighand->act[sig - 1];
	linux_sigset_t old = t->restore_sigmask ? t->saved_sigmask : t->sigmask;

	t->restore_sigmask = false;
	resolve_restart_handler(t, &act);
	if (act.flags & LINUX_SA_RESETHAND)
		t->tg->sighand->act[sig - 1].handler = LINUX_SIG_DFL;
	t->sigmask |= act.mask;
	if (!(act.flags & LINUX_SA_NODEFER))
		t->sigmask |= sigset_bit(sig);
	t->sigmask &= ~SIGSET_UNBLOCKABLE;
	signal_recalc(t);
	pthread_mutex_unlock(&t->k->lock);
	if (signal_setup_frame(t, &act, info, old) < 0) {
		log_debug("task %d: cannot write the frame for signal %d", t->tid, sig);
		signal_force(t, 11, LINUX_SI_KERNEL, 0);
	}
}

bool task_handle_signals(struct task *t)
{
	struct kernel *k = t->k;
	struct linux_siginfo info;

	for (;;) {
		if (!task_signal_pending(t)) {
			/* No handler ran after ppoll/pselect6/epoll_pwait/sigsuspend: the temporary
			 * mask goes now, and signals it held back get their turn. */
			if (t->restore_sigmask) {
				t->restore_sigmask = false;
				signal_set_mask(t, t->saved_sigmask);
				continue;
			}
			resolve_restart_no_handler(t);
			return true;
		}
		pthread_mutex_lock(&k->lock);
		if (t->killed) {
			pthread_mutex_unlock(&k->lock);
			return false;
		}
		if (__atomic_load_n(&k->frozen, __ATOMIC_SEQ_CST)) {
			do_freeze(t);
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		if (t->tg->stopping) {
			do_group_stop(t);
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		if (!signal_dequeue_locked(t, &info)) {
			signal_recalc(t);
			if (t->restore_sigmask) {
				t->restore_sigmask = false;
				t->sigmask = t->saved_sigmask;
				signal_recalc(t);
			}
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		uint64_t h = t->tg->sighand->act[info.signo - 1].handler;

		if (h == LINUX_SIG_IGN) {
			signal_recalc(t);
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		if (h == LINUX_SIG_DFL && t->tg->tgid == 1 && info.signo != 9 && info.signo != 19) {
			/* init ignores signals it has no handler for, even ones it had blocked
			 * (queued for sigwait or signalfd), as Linux's SIGNAL_UNKILLABLE does. */
			signal_recalc(t);
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		if (h == LINUX_SIG_DFL) {
			bool go_on = default_action(t, info.signo);

			signal_recalc(t);
			pthread_mutex_unlock(&k->lock);
			if (!go_on)
				return false;
			continue;
		}
		run_handler(t, &info);
	}
}
