/* wait4(2) and waitid(2): collecting exited, stopped and continued children. */
#include <errno.h>
#include <string.h>

#include "kernel_internal.h"

#define WNOHANG_ 1
#define WUNTRACED_ 2
#define WEXITED_ 4
#define WCONTINUED_ 8
#define WNOWAIT_ 0x01000000
#define WNOTHREAD_ 0x20000000
#define WALL_ 0x40000000
#define WCLONE_ 0x80000000

static bool matches(const struct thread_group *c, int idtype, int id, int options)
{
	bool clone_child = c->exit_signal != 17;

	if (!(options & WALL_) && clone_child != !!(options & WCLONE_))
		return false;
	switch (idtype) {
	case WAIT_P_PID:
		return c->tgid == id;
	case WAIT_P_PGID:
		return c->pgid == id;
	default:
		return true;
	}
}

static void fill_exit(struct wait_result *res, struct thread_group *c)
{
	int st = c->exit_code;

	res->pid = c->tgid;
	res->status = st;
	res->uid = c->leader->cred ? c->leader->cred->uid : 0;
	if (st & 0x7f) {
		res->code = (st & 0x80) ? LINUX_CLD_DUMPED : LINUX_CLD_KILLED;
		res->cld_status = st & 0x7f;
	} else {
		res->code = LINUX_CLD_EXITED;
		res->cld_status = (st >> 8) & 0xff;
	}
	res->utime_ns = c->utime_ns + c->cutime_ns;
	res->stime_ns = c->stime_ns + c->cstime_ns;
}

/* Looks for a child event; 1 collected, 0 none yet, -ECHILD no candidate. k->lock held. */
static int scan_children(struct task *t, int idtype, int id, int options, struct wait_result *res)
{
	bool any = false;

	for (struct thread_group *c = t->tg->children; c; c = c->sibling) {
		if (!matches(c, idtype, id, options))
			continue;
		any = true;
		if (c->zombie && (options & WEXITED_)) {
			fill_exit(res, c);
			if (!(options & WNOWAIT_))
				release_zombie_locked(c);
			return 1;
		}
		if (c->stop_report && (options & WUNTRACED_) && !c->zombie) {
			res->pid = c->tgid;
			res->status = (c->stop_signal << 8) | 0x7f;
			res->code = LINUX_CLD_STOPPED;
			res->cld_status = c->stop_signal;
			if (!(options & WNOWAIT_))
				c->stop_report = false;
			return 1;
		}
		if (c->cont_report && (options & WCONTINUED_) && !c->zombie) {
			res->pid = c->tgid;
			res->status = 0xffff;
			res->code = LINUX_CLD_CONTINUED;
			res->cld_status = 18;
			if (!(options & WNOWAIT_))
				c->cont_report = false;
			return 1;
		}
	}
	return any ? 0 : -ECHILD;
}

long task_wait(struct task *t, int idtype, int id, int options, struct wait_result *res)
{
	struct kernel *k = t->k;
	struct waiter w = {0};
	long r;

	memset(res, 0, sizeof(*res));
	waitqueue_add(&t->tg->child_wq, &w, t, ~0ull);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_lock(&k->lock);
		r = scan_children(t, idtype, id, options, res);
		pthread_mutex_unlock(&k->lock);
		if (r != 0)
			break;
		if (options & WNOHANG_)
			break;
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&t->tg->child_wq, &w);
	return r == 1 ? res->pid : r;
}
