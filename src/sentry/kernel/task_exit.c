/*
 * Exit: a thread leaving, a thread group becoming a zombie, orphans reparented to init,
 * the parent told (SIGCHLD, wait queues), zombies reaped, and the container's init ending
 * the sandbox.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/log.h"
#include "cvisor/sentry/futex.h"
#include "kernel_internal.h"

#define SIGCHLD_ 17

void task_exit_thread(struct task *t, int code)
{
	pthread_mutex_lock(&t->k->lock);
	t->exit_code = (code & 0xff) << 8;
	__atomic_store_n(&t->killed, true, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&t->k->lock);
}

void task_exit_group(struct task *t, int wait_status)
{
	pthread_mutex_lock(&t->k->lock);
	if (!t->tg->exiting) {
		t->tg->exiting = true;
		t->tg->exit_code = wait_status;
	}
	thread_group_kill_locked(t->tg, NULL);
	pthread_mutex_unlock(&t->k->lock);
}

static void siginfo_chld(struct linux_siginfo *info, struct thread_group *tg, int why, int st)
{
	memset(info, 0, sizeof(*info));
	info->signo = SIGCHLD_;
	info->code = why;
	info->u.chld.pid = tg->tgid;
	info->u.chld.uid = tg->leader->cred ? tg->leader->cred->uid : 0;
	info->u.chld.status = st;
	info->u.chld.utime = (int64_t)(tg->utime_ns / 10000000ull); /* clock ticks */
	info->u.chld.stime = (int64_t)(tg->stime_ns / 10000000ull);
}

void notify_parent_stop_locked(struct thread_group *tg, int why, int sig)
{
	struct thread_group *p = tg->parent;
	struct linux_siginfo info;

	if (!p)
		return;
	if (!(p->sighand->act[SIGCHLD_ - 1].flags & LINUX_SA_NOCLDSTOP)) {
		siginfo_chld(&info, tg, why, sig);
		signal_send_group_locked(p, &info);
	}
	waitqueue_wake(&p->child_wq, ~0ull);
}

/* Removes a zombie for good: pid freed, references dropped (kernel->lock held). */
void release_zombie_locked(struct thread_group *tg)
{
	struct thread_group *p = tg->parent, **pp;
	struct task *leader = tg->leader;

	if (p) {
		for (pp = &p->children; *pp; pp = &(*pp)->sibling) {
			if (*pp == tg) {
				*pp = tg->sibling;
				break;
			}
		}
		p->cutime_ns += tg->utime_ns + tg->cutime_ns;
		p->cstime_ns += tg->stime_ns + tg->cstime_ns;
	}
	tg->reaped = true;
	leader->state = TASK_DEAD;
	pid_remove(leader->k, leader->tid);
	task_put(leader);            /* the pid table's reference */
	thread_group_put_locked(tg); /* the group's own reference, held until reaped */
}

void notify_parent_exit_locked(struct thread_group *tg)
{
	struct thread_group *p = tg->parent;
	struct linux_siginfo info;
	bool autoreap;
	int st = tg->exit_code, why;

	if (!p)
		return;
	const struct linux_sigaction *act = &p->sighand->act[SIGCHLD_ - 1];

	autoreap = tg->exit_signal == SIGCHLD_ &&
		   (act->handler == LINUX_SIG_IGN || (act->flags & LINUX_SA_NOCLDWAIT));
	if (tg->exit_signal > 0) {
		why = (st & 0x7f) ? ((st & 0x80) ? LINUX_CLD_DUMPED : LINUX_CLD_KILLED) : LINUX_CLD_EXITED;
		siginfo_chld(&info, tg, why, (st & 0x7f) ? (st & 0x7f) : (st >> 8) & 0xff);
		info.signo = tg->exit_signal;
		signal_send_group_locked(p, &info);
	}
	waitqueue_wake(&p->child_wq, ~0ull);
	if (autoreap)
		release_zombie_locked(tg);
}

/* The nearest subreaper ancestor, or init. */
static struct thread_group *find_reaper(struct kernel *k, struct thread_group *tg)
{
	for (struct thread_group *a = tg->parent; a; a = a->parent)
		if (a->subreaper && !a->zombie && !a->exiting)
			return a;
	return k->init;
}

static void reparent_children(struct kernel *k, struct thread_group *tg)
{
	struct thread_group *reaper = find_reaper(k, tg);

	while (tg->children) {
		struct thread_group *c = tg->children;

		tg->children = c->sibling;
		if (c->leader->pdeath_signal && !c->zombie) {
			struct linux_siginfo info;

			siginfo_kill(&info, c->leader->pdeath_signal, LINUX_SI_USER, NULL);
			signal_send_thread_locked(c->leader, &info);
		}
		if (!reaper || reaper == tg) {
			c->parent = NULL;
			if (c->zombie)
				release_zombie_locked(c);
			continue;
		}
		c->parent = reaper;
		c->sibling = reaper->children;
		reaper->children = c;
		if (c->zombie)
			notify_parent_exit_locked(c);
	}
}

/* init is gone: every other process dies, and the sandbox exits with init's status. */
static void shutdown_locked(struct kernel *k, struct thread_group *init)
{
	int st = init->exit_code;

	k->shutdown = true;
	k->exit_status = (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *t = k->pids[i];

		if (t && t != (struct task *)1 && t->state < TASK_ZOMBIE) {
			/* killed as by SIGKILL: what an exec'd process's waiter reports */
			if (!t->tg->exiting) {
				t->tg->exiting = true;
				t->tg->exit_code = 9;
			}
			__atomic_store_n(&t->killed, true, __ATOMIC_SEQ_CST);
			task_interrupt(t);
		}
	}
	pthread_cond_broadcast(&k->idle_cond);
	kernel_notify_locked(k);
}

/* The last thread of tg is gone (kernel->lock held). */
static void group_exited(struct kernel *k, struct thread_group *tg, struct task *last)
{
	struct cpu_times ct;

	if (!tg->exiting)
		tg->exit_code = last->exit_code;
	tg_cpu_times_locked(tg, &ct); /* every thread has left its share in the accumulators */
	tg->utime_ns = ct.user_ns;
	tg->stime_ns = ct.sys_ns;
	k->dead_user_ns += ct.user_ns;
	k->dead_sys_ns += ct.sys_ns;
	timers_mark_dead_locked(tg);
	tg->zombie = true;
	tg->leader->state = TASK_ZOMBIE;
	reparent_children(k, tg);
	if (tg == k->init)
		shutdown_locked(k, tg);
	else if (!tg->parent)
		kernel_notify_locked(k); /* a process of `cvisor exec`: kernel_exec_reap() */
	else
		notify_parent_exit_locked(tg);
}

static void unlink_thread(struct thread_group *tg, struct task *t)
{
	for (struct task **pp = &tg->threads; *pp; pp = &(*pp)->tg_next) {
		if (*pp == t) {
			*pp = t->tg_next;
			break;
		}
	}
}

void task_finish(struct task *t)
{
	struct kernel *k = t->k;
	struct thread_group *tg = t->tg;
	struct tg_timers *dead_timers = NULL;

	futex_exit_robust(t);
	pthread_mutex_lock(&k->lock);
	task_cputime_exit_locked(t);
	t->state = TASK_EXITING;
	if (t->vfork_parent)
		task_vfork_done_locked(t);
	pthread_mutex_unlock(&k->lock);

	mm_put(t->mm);
	t->mm = NULL;
	fs_struct_put(t->fs);
	fd_table_put(t->files);

	pthread_mutex_lock(&k->lock);
	tg->nr_threads--;
	if (t != tg->leader) {
		unlink_thread(tg, t);
		t->state = TASK_DEAD;
		pid_remove(k, t->tid);
		task_put(t); /* the pid table's reference */
		thread_group_put_locked(tg);
	} else {
		t->state = TASK_ZOMBIE;
	}
	if (tg->nr_threads == 0) {
		dead_timers = tg->timers;
		group_exited(k, tg, t); /* marks them dead */
		tg->timers = NULL;
	}
	else if (tg->stopping && tg->nr_stopped == tg->nr_threads)
		notify_parent_stop_locked(tg, LINUX_CLD_STOPPED, tg->stop_signal);
	waitqueue_wake(&tg->child_wq, ~0ull); /* execve waiting for the other threads */
	pthread_mutex_unlock(&k->lock);
	timers_release(k, dead_timers);
}

void task_vfork_done_locked(struct task *t)
{
	struct task *p = t->vfork_parent;

	t->vfork_parent = NULL;
	t->vfork_done = true;
	if (p)
		task_wake(p);
}
