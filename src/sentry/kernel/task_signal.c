/*
 * Signal generation: queueing to threads and thread groups, picking the thread that will
 * take a group signal, the immediate effects of SIGKILL/SIGCONT/stop signals, and the
 * "something to do" flag (task->interrupted) the task loop and blocking calls watch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/kernel.h"
#include "kernel_internal.h"

#define SIGKILL_ 9
#define SIGSTOP_ 19
#define SIGCONT_ 18
#define SIGCHLD_ 17
#define MAX_QUEUED 4096

#define STOP_SIGS (sigset_bit(19) | sigset_bit(20) | sigset_bit(21) | sigset_bit(22))

enum sig_default signal_default_action(int sig)
{
	switch (sig) {
	case 3: case 4: case 5: case 6: case 7: case 8: case 11: case 24: case 25: case 31:
		return SIGDFL_CORE; /* QUIT ILL TRAP ABRT BUS FPE SEGV XCPU XFSZ SYS */
	case 17: case 23: case 28:
		return SIGDFL_IGN; /* CHLD URG WINCH */
	case 18:
		return SIGDFL_CONT;
	case 19: case 20: case 21: case 22:
		return SIGDFL_STOP;
	default:
		return SIGDFL_TERM;
	}
}

void siginfo_kill(struct linux_siginfo *info, int sig, int code, const struct task *sender)
{
	memset(info, 0, sizeof(*info));
	info->signo = sig;
	info->code = code;
	if (sender) {
		info->u.kill.pid = sender->tg->tgid;
		info->u.kill.uid = sender->cred->uid;
	}
}

static bool has_deliverable(const struct task *t)
{
	linux_sigset_t pend = t->pending.set | t->tg->shared_pending.set;

	return (pend & ~t->sigmask) != 0;
}

void signal_recalc(struct task *t)
{
	bool want = t->killed || has_deliverable(t) || (t->tg->stopping && t->state != TASK_STOPPED);

	__atomic_store_n(&t->interrupted, want ? 1 : 0, __ATOMIC_SEQ_CST);
}

bool task_signal_pending(struct task *t)
{
	/* A frozen kernel (kernel_freeze) counts as pending: the task must reach its loop. */
	return __atomic_load_n(&t->interrupted, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&t->killed, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&t->k->frozen, __ATOMIC_SEQ_CST);
}

static bool sig_ignored(struct thread_group *tg, int sig)
{
	uint64_t h = tg->sighand->act[sig - 1].handler;

	if (h == LINUX_SIG_IGN)
		return true;
	return h == LINUX_SIG_DFL && signal_default_action(sig) == SIGDFL_IGN;
}

static void pending_remove(struct sigpending *p, linux_sigset_t set)
{
	struct sigqueue_entry **pp = &p->head;

	while (*pp) {
		struct sigqueue_entry *e = *pp;

		if (set & sigset_bit(e->info.signo)) {
			*pp = e->next;
			free(e);
			p->count--;
		} else {
			pp = &e->next;
		}
	}
	p->set &= ~set;
}

static int pending_add(struct sigpending *p, const struct linux_siginfo *info)
{
	int sig = info->signo;
	struct sigqueue_entry *e, **tail;

	if (sig < LINUX_SIGRTMIN && (p->set & sigset_bit(sig)))
		return 0; /* standard signals do not queue */
	if (p->count >= MAX_QUEUED)
		return sig < LINUX_SIGRTMIN ? 0 : -EAGAIN;
	e = malloc(sizeof(*e));
	if (!e)
		return -EAGAIN;
	e->info = *info;
	e->next = NULL;
	for (tail = &p->head; *tail; tail = &(*tail)->next)
		;
	*tail = e;
	p->set |= sigset_bit(sig);
	p->count++;
	return 0;
}

void thread_group_kill_locked(struct thread_group *tg, struct task *except)
{
	for (struct task *t = tg->threads; t; t = t->tg_next) {
		if (t == except || t->state >= TASK_ZOMBIE)
			continue;
		__atomic_store_n(&t->killed, true, __ATOMIC_SEQ_CST);
		task_interrupt(t);
	}
}

/* Starts a group exit caused by signal sig (kernel->lock held). */
static void group_exit_by_signal(struct thread_group *tg, int sig)
{
	if (tg->exiting)
		return;
	tg->exiting = true;
	tg->exit_code = sig;
	tg->stopping = false;
	thread_group_kill_locked(tg, NULL);
}

/* SIGCONT: resumes a stopped group and reports it. */
static void group_continue(struct thread_group *tg)
{
	pending_remove(&tg->shared_pending, STOP_SIGS);
	for (struct task *t = tg->threads; t; t = t->tg_next)
		pending_remove(&t->pending, STOP_SIGS);
	if (!tg->stopping && tg->nr_stopped == 0)
		return;
	bool was_stopped = tg->nr_stopped > 0;

	tg->stopping = false;
	for (struct task *t = tg->threads; t; t = t->tg_next)
		task_wake(t);
	if (was_stopped) {
		tg->cont_report = true;
		tg->stop_report = false;
	}
}

/* Signals whose arrival changes state before any thread dequeues them. */
static bool prepare_signal(struct thread_group *tg, int sig)
{
	if (tg->exiting)
		return false;
	if (sig == SIGCONT_)
		group_continue(tg);
	else if (STOP_SIGS & sigset_bit(sig)) {
		pending_remove(&tg->shared_pending, sigset_bit(SIGCONT_));
		for (struct task *t = tg->threads; t; t = t->tg_next)
			pending_remove(&t->pending, sigset_bit(SIGCONT_));
	}
	return true;
}

/* init ignores signals it has no handler for; SIGKILL/SIGSTOP only from outside (pid 0). */
static bool init_protected(struct thread_group *tg, const struct linux_siginfo *info,
			   linux_sigset_t blocked)
{
	int sig = info->signo;

	if (tg->tgid != 1 || tg->sighand->act[sig - 1].handler != LINUX_SIG_DFL)
		return false;
	if (blocked & sigset_bit(sig))
		return false; /* queued, as Linux does: sigwait and signalfd may take it */
	if ((sig == SIGKILL_ || sig == SIGSTOP_) && info->code <= 0 && info->u.kill.pid == 0)
		return false;
	return true;
}

/* Would sig kill the whole group the moment it is dequeued? */
static bool sig_fatal(struct thread_group *tg, int sig)
{
	enum sig_default d = signal_default_action(sig);

	if (sig == SIGKILL_)
		return true;
	return tg->sighand->act[sig - 1].handler == LINUX_SIG_DFL &&
	       (d == SIGDFL_TERM || d == SIGDFL_CORE);
}

int signal_send_thread_locked(struct task *t, const struct linux_siginfo *info)
{
	struct thread_group *tg = t->tg;
	int sig = info->signo, r;

	if (sig < 1 || sig > LINUX_NSIG)
		return -EINVAL;
	if (t->state >= TASK_ZOMBIE || !prepare_signal(tg, sig) ||
	    init_protected(tg, info, t->sigmask))
		return 0;
	if (sig_ignored(tg, sig) && !(t->sigmask & sigset_bit(sig)))
		return 0;
	if (sig == SIGKILL_ || (sig_fatal(tg, sig) && !(t->sigmask & sigset_bit(sig)))) {
		group_exit_by_signal(tg, sig);
		return 0;
	}
	if ((r = pending_add(&t->pending, info)) < 0)
		return r;
	signalfd_notify(t->k); /* signalfd readers and pollers */
	signal_recalc(t);
	if (t->interrupted)
		task_interrupt(t);
	return 0;
}

/* Picks the thread that will handle a group signal: one not blocking it, leader first. */
static struct task *pick_thread(struct thread_group *tg, int sig)
{
	for (struct task *t = tg->threads; t; t = t->tg_next)
		if (t->state < TASK_EXITING && !(t->sigmask & sigset_bit(sig)))
			return t;
	return NULL;
}

int signal_send_group_locked(struct thread_group *tg, const struct linux_siginfo *info)
{
	int sig = info->signo, r;
	struct task *t;

	if (sig < 1 || sig > LINUX_NSIG)
		return -EINVAL;
	if (tg->zombie || !prepare_signal(tg, sig) || init_protected(tg, info, tg->leader->sigmask))
		return 0;
	t = pick_thread(tg, sig);
	if (sig_ignored(tg, sig) && t)
		return 0;
	if (sig == SIGKILL_ || (t && sig_fatal(tg, sig))) {
		group_exit_by_signal(tg, sig);
		return 0;
	}
	if ((r = pending_add(&tg->shared_pending, info)) < 0)
		return r;
	signalfd_notify(tg->leader->k);
	if (t) {
		signal_recalc(t);
		task_interrupt(t);
	}
	return 0;
}

int signal_send_thread(struct task *t, const struct linux_siginfo *info)
{
	int r;

	pthread_mutex_lock(&t->k->lock);
	r = signal_send_thread_locked(t, info);
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

int signal_send_group(struct thread_group *tg, const struct linux_siginfo *info)
{
	int r;

	pthread_mutex_lock(&tg->leader->k->lock);
	r = signal_send_group_locked(tg, info);
	pthread_mutex_unlock(&tg->leader->k->lock);
	return r;
}

void signal_force(struct task *t, int sig, int code, uint64_t addr)
{
	struct linux_siginfo info;
	struct linux_sigaction *act;

	memset(&info, 0, sizeof(info));
	info.signo = sig;
	info.code = code;
	info.u.fault.addr = addr;
	pthread_mutex_lock(&t->k->lock);
	/* A blocked or ignored synchronous signal kills, as in Linux's force_sig_info. */
	act = &t->tg->sighand->act[sig - 1];
	if ((t->sigmask & sigset_bit(sig)) || act->handler == LINUX_SIG_IGN) {
		act->handler = LINUX_SIG_DFL;
		t->sigmask &= ~sigset_bit(sig);
	}
	if (t->tg->tgid == 1 && act->handler == LINUX_SIG_DFL) {
		group_exit_by_signal(t->tg, sig); /* init is not protected from its own faults */
	} else if (pending_add(&t->pending, &info) == 0) {
		signal_recalc(t);
	}
	pthread_mutex_unlock(&t->k->lock);
}

void signal_set_mask(struct task *t, linux_sigset_t mask)
{
	pthread_mutex_lock(&t->k->lock);
	t->sigmask = mask & ~SIGSET_UNBLOCKABLE;
	signal_recalc(t);
	/* Group signals this thread no longer blocks may need another thread to wake. */
	pthread_mutex_unlock(&t->k->lock);
}

/* Dequeues the lowest-numbered deliverable signal (thread queue first); kernel->lock held. */
bool signal_dequeue_locked(struct task *t, struct linux_siginfo *out)
{
	struct sigpending *queues[2] = {&t->pending, &t->tg->shared_pending};

	for (int q = 0; q < 2; q++) {
		struct sigpending *p = queues[q];
		linux_sigset_t ready = p->set & ~t->sigmask;
		int sig;

		if (!ready)
			continue;
		sig = __builtin_ctzll(ready) + 1;
		for (struct sigqueue_entry **pp = &p->head; *pp; pp = &(*pp)->next) {
			struct sigqueue_entry *e = *pp;

			if (e->info.signo != sig)
				continue;
			*pp = e->next;
			*out = e->info;
			free(e);
			p->count--;
			break;
		}
		p->set &= ~sigset_bit(sig);
		for (struct sigqueue_entry *e = p->head; e; e = e->next)
			if (e->info.signo == sig)
				p->set |= sigset_bit(sig);
		return true;
	}
	return false;
}
