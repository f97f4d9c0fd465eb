/*
 * Controlling terminals and job control.  The controlling terminal belongs to a session: its
 * leader's thread_group.ctty points to the tty (no reference; the tty clears it before it
 * is freed) and tty->session names the session back.  Both are [K]: kernel->lock.  Every
 * process of the session finds the terminal through its leader, so fork and setsid need no
 * bookkeeping here; once the leader is gone, the session has no terminal.
 *
 * Deviations: the session leader's exit does not hang the terminal up (its foreground group
 * gets no SIGHUP); TIOCNOTTY in a process other than the leader leaves the terminal to its
 * session (Linux detaches just that process).
 */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "dev_internal.h"

#define SIGHUP_ 1
#define SIGCONT_ 18
#define SIGTTIN_ 21
#define SIGTTOU_ 22
#define CAP_SYS_ADMIN_ 21
#define PID_TOMB ((struct task *)1)

/* The live process whose leader row is slot i of the pid table, or NULL.  kernel->lock. */
static struct thread_group *tg_at(struct kernel *k, size_t i)
{
	struct task *t = k->pids[i];

	if (!t || t == PID_TOMB || t->tg->leader != t || t->tg->zombie)
		return NULL;
	return t->tg;
}

/* The terminal of session sid, or NULL.  kernel->lock held. */
static struct tty *session_ctty_locked(struct kernel *k, int sid)
{
	struct thread_group *leader = sid > 0 ? kernel_find_tg(k, sid) : NULL;

	if (!leader || leader->zombie || leader->sid != sid || !leader->ctty)
		return NULL;
	return leader->ctty->session == sid ? leader->ctty : NULL;
}

struct tty *tty_ctty_locked(struct kernel *k, struct thread_group *tg)
{
	return session_ctty_locked(k, tg->sid);
}

bool tty_is_ctty_locked(struct tty *tty, struct task *t)
{
	return tty->session && tty->session == t->tg->sid &&
	       session_ctty_locked(tty->k, tty->session) == tty;
}

void tty_ctty_info_locked(struct kernel *k, struct thread_group *tg, uint32_t *tty_nr,
			  int *tpgid)
{
	struct tty *tty = session_ctty_locked(k, tg->sid);
	uint32_t minor;

	*tty_nr = 0;
	*tpgid = -1;
	if (!tty)
		return;
	minor = (uint32_t)tty->index;
	*tty_nr = (minor & 0xff) | (PTS_MAJOR << 8) | ((minor & ~0xffu) << 12);
	*tpgid = tty->pgrp;
}

static void send_locked(struct thread_group *tg, int sig)
{
	struct linux_siginfo info;

	siginfo_kill(&info, sig, LINUX_SI_KERNEL, NULL);
	signal_send_group_locked(tg, &info);
}

static void signal_pgrp_locked(struct kernel *k, int pgrp, int sig)
{
	for (size_t i = 0; pgrp > 0 && i < k->pids_cap; i++) {
		struct thread_group *tg = tg_at(k, i);

		if (tg && tg->pgid == pgrp)
			send_locked(tg, sig);
	}
}

/* Linux's is_current_pgrp_orphaned: no member has a parent in another group of its session. */
static bool pgrp_orphaned_locked(struct kernel *k, int pgrp)
{
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct thread_group *tg = tg_at(k, i), *p;

		if (!tg || tg->pgid != pgrp)
			continue;
		p = tg->parent;
		if (p && p->pgid != pgrp && p->sid == tg->sid)
			return false;
	}
	return true;
}

static bool sig_ignored_locked(struct task *t, int sig)
{
	return (t->sigmask & sigset_bit(sig)) ||
	       t->tg->sighand->act[sig - 1].handler == LINUX_SIG_IGN;
}

int tty_check_job(struct tty *tty, struct task *t, int sig)
{
	struct kernel *k = tty->k;
	int r = 0;

	if (!t)
		return 0;
	pthread_mutex_lock(&k->lock);
	if (!tty_is_ctty_locked(tty, t) || !tty->pgrp || t->tg->pgid == tty->pgrp)
		goto out;
	if (sig_ignored_locked(t, sig)) {
		r = sig == SIGTTIN_ ? -EIO : 0;
	} else if (pgrp_orphaned_locked(k, t->tg->pgid)) {
		r = -EIO;
	} else {
		signal_pgrp_locked(k, t->tg->pgid, sig);
		r = -ERESTARTSYS;
	}
out:
	pthread_mutex_unlock(&k->lock);
	return r;
}

void tty_signal_fg(struct tty *tty, int sig)
{
	pthread_mutex_lock(&tty->k->lock);
	signal_pgrp_locked(tty->k, tty->pgrp, sig);
	pthread_mutex_unlock(&tty->k->lock);
}

/* Detaches tty from its session (kernel->lock held); returns the old foreground group. */
static int detach_locked(struct tty *tty)
{
	struct thread_group *leader = tty->session ? kernel_find_tg(tty->k, tty->session) : NULL;
	int pgrp = tty->pgrp;

	if (leader && leader->ctty == tty)
		leader->ctty = NULL;
	tty->session = 0;
	tty->pgrp = 0;
	return pgrp;
}

void tty_hangup_session(struct tty *tty)
{
	struct kernel *k = tty->k;
	struct thread_group *leader;

	pthread_mutex_lock(&k->lock);
	leader = session_ctty_locked(k, tty->session) == tty ? kernel_find_tg(k, tty->session)
							      : NULL;
	if (leader) {
		send_locked(leader, SIGHUP_);
		send_locked(leader, SIGCONT_);
	}
	detach_locked(tty);
	pthread_mutex_unlock(&k->lock);
}

void tty_drop_session(struct tty *tty)
{
	pthread_mutex_lock(&tty->k->lock);
	detach_locked(tty);
	pthread_mutex_unlock(&tty->k->lock);
}

void tty_set_ctty_locked(struct tty *tty, struct thread_group *leader)
{
	struct tty *old = session_ctty_locked(tty->k, leader->sid);

	if (old && old != tty)
		detach_locked(old);
	detach_locked(tty);
	leader->ctty = tty;
	tty->session = leader->sid;
	tty->pgrp = leader->pgid;
}

/* Makes tty the terminal of t's session (kernel->lock held; t leads it). */
static void attach_locked(struct tty *tty, struct task *t)
{
	tty_set_ctty_locked(tty, t->tg);
}

void tty_maybe_acquire(struct tty *tty, struct task *t)
{
	struct kernel *k = tty->k;
	struct thread_group *tg = t->tg;

	pthread_mutex_lock(&k->lock);
	if (tg->sid == tg->tgid && !session_ctty_locked(k, tg->sid) &&
	    !(tty->session && session_ctty_locked(k, tty->session) == tty))
		attach_locked(tty, t);
	pthread_mutex_unlock(&k->lock);
}

/* TIOCSCTTY: only a session leader without a terminal; stealing one needs CAP_SYS_ADMIN. */
static long set_ctty(struct tty *tty, struct task *t, struct file *f, uint64_t arg)
{
	struct kernel *k = tty->k;
	struct thread_group *tg = t->tg;
	bool admin = cred_capable(t->cred, CAP_SYS_ADMIN_);
	long r = 0;

	pthread_mutex_lock(&k->lock);
	if (tg->sid == tg->tgid && session_ctty_locked(k, tg->sid) == tty)
		goto out;
	if (tg->sid != tg->tgid || session_ctty_locked(k, tg->sid) ||
	    ((f->flags & 3) == 1 /* O_WRONLY */ && !admin)) {
		r = -EPERM;
		goto out;
	}
	if (tty->session && session_ctty_locked(k, tty->session) == tty) {
		if (arg != 1 || !admin) {
			r = -EPERM;
			goto out;
		}
		detach_locked(tty);
	}
	attach_locked(tty, t);
out:
	pthread_mutex_unlock(&k->lock);
	return r;
}

static long no_ctty(struct tty *tty, struct task *t)
{
	struct kernel *k = tty->k;
	int pgrp = 0;
	long r = 0;

	pthread_mutex_lock(&k->lock);
	if (!tty_is_ctty_locked(tty, t))
		r = -ENOTTY;
	else if (t->tg->sid == t->tg->tgid)
		pgrp = detach_locked(tty);
	if (pgrp) {
		signal_pgrp_locked(k, pgrp, SIGHUP_);
		signal_pgrp_locked(k, pgrp, SIGCONT_);
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

/* TIOCSPGRP: a group of the caller's session becomes the foreground. */
static long set_pgrp(struct tty *tty, struct task *t, uint64_t arg)
{
	struct kernel *k = tty->k;
	bool found = false, same_session = false;
	int pgrp;
	long r = tty_check_job(tty, t, SIGTTOU_);

	if (r)
		return r == -EIO ? -ENOTTY : r;
	if (copy_in_all(t, arg, &pgrp, sizeof(pgrp)) < 0)
		return -EFAULT;
	if (pgrp < 0)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->pids_cap && !same_session; i++) {
		struct thread_group *tg = tg_at(k, i);

		if (tg && tg->pgid == pgrp) {
			found = true;
			same_session = tg->sid == t->tg->sid;
		}
	}
	if (!tty_is_ctty_locked(tty, t))
		r = -ENOTTY;
	else if (!found)
		r = -ESRCH;
	else if (!same_session)
		r = -EPERM;
	else
		tty->pgrp = pgrp;
	pthread_mutex_unlock(&k->lock);
	return r;
}

/* TIOCGPGRP and TIOCGSID: the slave side answers only to its own session. */
static long get_id(struct tty *tty, struct task *t, bool master, bool sid, uint64_t arg)
{
	int v;

	pthread_mutex_lock(&tty->k->lock);
	if (!master && !tty_is_ctty_locked(tty, t))
		v = -1;
	else
		v = sid ? tty->session : tty->pgrp;
	pthread_mutex_unlock(&tty->k->lock);
	if (v < 0 || (sid && v == 0))
		return -ENOTTY;
	return copy_out_all(t, arg, &v, sizeof(v));
}

long tty_ioctl_jobctl(struct tty *tty, struct task *t, bool master, struct file *f,
		      unsigned cmd, uint64_t arg)
{
	switch (cmd) {
	case LINUX_TIOCSCTTY:
		return set_ctty(tty, t, f, arg);
	case LINUX_TIOCNOTTY:
		return master ? -ENOTTY : no_ctty(tty, t);
	case LINUX_TIOCGPGRP:
		return get_id(tty, t, master, false, arg);
	case LINUX_TIOCSPGRP:
		return set_pgrp(tty, t, arg);
	case LINUX_TIOCGSID:
		return get_id(tty, t, master, true, arg);
	default:
		return -ENOTTY;
	}
}
