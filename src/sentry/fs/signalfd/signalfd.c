/*
 * signalfd: reads dequeue pending signals of the mask from the *reading* task's queues
 * (thread first, then process), as Linux does, by narrowing the task's mask to the
 * signalfd's for the dequeue the way rt_sigtimedwait does.  Readers and pollers sleep on the
 * sandbox-wide signal queue (poll_ctx_signal_wq), which every signal generation wakes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define SIGILL_ 4
#define SIGTRAP_ 5
#define SIGBUS_ 7
#define SIGFPE_ 8
#define SIGSEGV_ 11
#define SIGCHLD_ 17
#define SIGPOLL_ 29
#define SIGSYS_ 31
#define READ_MAX 64 /* signals per read(2) */

struct signalfd {
	linux_sigset_t mask; /* atomic */
	struct waitqueue *wq; /* the sandbox's signal queue (lives as long as the kernel) */
};

/* Which union member Linux's siginfo_layout() would pick. */
static void fill_by_layout(const struct linux_siginfo *si, struct linux_signalfd_siginfo *o)
{
	int sig = si->signo, code = si->code;

	if (code > 0 && code < LINUX_SI_KERNEL) {
		switch (sig) {
		case SIGILL_: case SIGTRAP_: case SIGBUS_: case SIGFPE_: case SIGSEGV_:
			o->ssi_addr = si->u.fault.addr;
			if (sig == SIGBUS_)
				o->ssi_addr_lsb = (uint16_t)si->u.fault.addr_lsb;
			return;
		case SIGCHLD_:
			o->ssi_pid = (uint32_t)si->u.chld.pid;
			o->ssi_uid = si->u.chld.uid;
			o->ssi_status = si->u.chld.status;
			o->ssi_utime = (uint64_t)si->u.chld.utime;
			o->ssi_stime = (uint64_t)si->u.chld.stime;
			return;
		case SIGSYS_:
			o->ssi_call_addr = si->u.sys.call_addr;
			o->ssi_syscall = si->u.sys.syscall;
			o->ssi_arch = si->u.sys.arch;
			return;
		}
	}
	if ((code > 0 && code < LINUX_SI_KERNEL) || code == LINUX_SI_SIGIO) {
		o->ssi_band = (uint32_t)si->u.poll.band;
		o->ssi_fd = si->u.poll.fd;
	} else if (code == LINUX_SI_TIMER) {
		o->ssi_tid = (uint32_t)si->u.timer.tid;
		o->ssi_overrun = (uint32_t)si->u.timer.overrun;
		o->ssi_ptr = si->u.timer.value;
		o->ssi_int = (int32_t)si->u.timer.value;
	} else {
		o->ssi_pid = (uint32_t)si->u.kill.pid;
		o->ssi_uid = si->u.kill.uid;
		if (code < 0) { /* sigqueue and friends carry a value */
			o->ssi_ptr = si->u.kill.value;
			o->ssi_int = (int32_t)si->u.kill.value;
		}
	}
}

static void to_ssi(const struct linux_siginfo *si, struct linux_signalfd_siginfo *o)
{
	memset(o, 0, sizeof(*o));
	o->ssi_signo = (uint32_t)si->signo;
	o->ssi_errno = si->errno_;
	o->ssi_code = si->code;
	fill_by_layout(si, o);
}

struct sfd_read {
	struct task *t;
	linux_sigset_t mask;
	struct linux_signalfd_siginfo *out;
	size_t max, n;
};

static long try_dequeue(void *arg)
{
	struct sfd_read *rd = arg;
	struct task *t = rd->t;
	struct linux_siginfo info;

	pthread_mutex_lock(&t->k->lock);
	while (rd->n < rd->max) {
		linux_sigset_t keep = t->sigmask;
		bool got;

		t->sigmask = ~rd->mask; /* dequeue only from the signalfd's mask */
		got = signal_dequeue_locked(t, &info);
		t->sigmask = keep;
		if (!got)
			break;
		to_ssi(&info, &rd->out[rd->n++]);
	}
	signal_recalc(t);
	pthread_mutex_unlock(&t->k->lock);
	return rd->n ? (long)(rd->n * sizeof(*rd->out)) : -EAGAIN;
}

static ssize_t signalfd_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct signalfd *sf = f->priv;
	struct sfd_read rd = {
		.t = t,
		.mask = __atomic_load_n(&sf->mask, __ATOMIC_RELAXED),
		.out = buf,
		.max = MIN(n / sizeof(struct linux_signalfd_siginfo), (size_t)READ_MAX),
	};

	if (!rd.max)
		return -EINVAL;
	return wait_event(t, sf->wq, LINUX_POLLIN, f->flags & O_NONBLOCK, try_dequeue, &rd);
}

static unsigned signalfd_poll(struct file *f, struct poll_table *pt)
{
	struct signalfd *sf = f->priv;
	struct task *t = poll_task(pt);
	linux_sigset_t pending;

	poll_wait(pt, sf->wq);
	if (!t)
		return 0; /* readiness is the polling task's: nobody asked */
	pthread_mutex_lock(&t->k->lock);
	pending = t->pending.set | t->tg->shared_pending.set;
	pthread_mutex_unlock(&t->k->lock);
	return pending & __atomic_load_n(&sf->mask, __ATOMIC_RELAXED) ? POLL_READABLE : 0;
}

static void signalfd_release(struct file *f)
{
	free(f->priv);
}

static const struct file_ops signalfd_ops = {
	.read = signalfd_read,
	.poll = signalfd_poll,
	.release = signalfd_release,
};

struct file *signalfd_file_new(struct task *t, linux_sigset_t mask, unsigned flags)
{
	struct poll_ctx *pc = poll_ctx_of(t->k);
	struct signalfd *sf;
	struct file *f;

	if (!pc || !(sf = calloc(1, sizeof(*sf))))
		return ERR_PTR(-ENOMEM);
	sf->mask = mask & ~SIGSET_UNBLOCKABLE;
	sf->wq = poll_ctx_signal_wq(pc);
	f = anon_file_new(&t->k->vfs, 0600, &signalfd_ops, O_RDWR | (flags & O_NONBLOCK),
			  "anon_inode:[signalfd]", sf);
	if (IS_ERR(f))
		free(sf);
	return f;
}

int signalfd_set_mask(struct file *f, linux_sigset_t mask)
{
	struct signalfd *sf = f->priv;

	if (f->ops != &signalfd_ops)
		return -EINVAL;
	__atomic_store_n(&sf->mask, mask & ~SIGSET_UNBLOCKABLE, __ATOMIC_RELAXED);
	waitqueue_wake(sf->wq, LINUX_POLLIN);
	return 0;
}
