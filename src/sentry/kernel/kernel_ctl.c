/*
 * Control of the container from outside (the sandbox's control socket): signalling one
 * process, pausing and resuming every task, and listing the processes.
 */
#include <errno.h>
#include <string.h>

#include "kernel_internal.h"

/* The pid table's deleted-slot marker (kernel.c). */
#define PID_TOMB ((struct task *)1)

/* The live process whose leader row is slot i of the pid table, or NULL.  kernel->lock. */
static struct thread_group *tg_at(struct kernel *k, size_t i)
{
	struct task *t = k->pids[i];

	if (!t || t == PID_TOMB || t->tg->leader != t)
		return NULL;
	return t->tg;
}

int kernel_kill_pid(struct kernel *k, int pid, int sig)
{
	struct thread_group *tg;
	struct linux_siginfo info;
	int r = 0;

	if (sig < 0 || sig > LINUX_NSIG)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	tg = kernel_find_tg(k, pid);
	if (!tg || tg->zombie) {
		r = -ESRCH;
	} else if (sig) {
		siginfo_kill(&info, sig, LINUX_SI_USER, NULL);
		r = signal_send_group_locked(tg, &info);
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

/*
 * Freezing: k->frozen makes task_signal_pending() true for every task, so blocked calls
 * return to the task loop, where task_handle_signals() parks the task until the thaw
 * (signal_deliver.c).  Running application code is interrupted through the platform.
 */
void kernel_freeze(struct kernel *k, bool frozen)
{
	pthread_mutex_lock(&k->lock);
	__atomic_store_n(&k->frozen, frozen, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *t = k->pids[i];

		if (!t || t == PID_TOMB || t->state >= TASK_ZOMBIE)
			continue;
		if (frozen) {
			task_interrupt(t);
		} else {
			signal_recalc(t);
			task_wake(t);
		}
	}
	pthread_mutex_unlock(&k->lock);
}

static char proc_state(const struct thread_group *tg)
{
	const struct task *t = tg->leader;

	if (tg->zombie)
		return 'Z';
	if (t->state == TASK_STOPPED)
		return 'T';
	if (__atomic_load_n(&t->sleeping, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&t->in_host_wait, __ATOMIC_RELAXED))
		return 'S';
	return 'R';
}

int kernel_list_processes(struct kernel *k, struct kernel_proc *out, int max)
{
	int n = 0;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct thread_group *tg = tg_at(k, i);
		struct kernel_proc *p;

		if (!tg)
			continue;
		if (n++ >= max)
			continue;
		p = &out[n - 1];
		memset(p, 0, sizeof(*p));
		p->pid = tg->tgid;
		p->ppid = tg->parent ? tg->parent->tgid : 0;
		p->pgid = tg->pgid;
		p->sid = tg->sid;
		p->uid = tg->leader->cred ? tg->leader->cred->uid : 0;
		p->nr_threads = tg->nr_threads;
		p->start_ns = tg->start_ns;
		p->state = proc_state(tg);
		memcpy(p->comm, tg->leader->comm, sizeof(p->comm));
		p->comm[sizeof(p->comm) - 1] = 0;
	}
	pthread_mutex_unlock(&k->lock);
	return n;
}
