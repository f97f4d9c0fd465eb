/* The kernel object: memory file, vfs, pid table, init, shutdown and the exit status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/futex.h"
#include "cvisor/sentry/ktimer.h"
#include "cvisor/sentry/vdso.h"
#include "cvisor/sentry/net.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/syscall.h"
#include "kernel_internal.h"

/* The memory file is sparse: its size bounds the sandbox's memory, not its footprint. */
#define MEMFILE_SIZE (64ull << 30)

struct kernel *kernel_new(struct platform *p, const struct kernel_config *cfg)
{
	struct kernel *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return ERR_PTR(-ENOMEM);
	k->platform = p;
	k->cfg = *cfg;
	k->notify_fd = -1;
	k->boot_mono_ns = clock_mono_ns();
	k->boot_real_ns = clock_real_ns();
	task_host_wait_setup();
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->uts_lock, NULL);
	pthread_mutex_init(&k->unimpl_lock, NULL);
	pthread_cond_init(&k->idle_cond, NULL);
	k->futex = futex_table_new();
	k->net = net_ns_new();
	r = k->futex && k->net ? memfile_init(&k->mf, cfg->mem_size ? cfg->mem_size : MEMFILE_SIZE)
			       : -ENOMEM;
	if (r < 0) {
		futex_table_free(k->futex);
		net_ns_free(k->net);
		free(k);
		return ERR_PTR(r);
	}
	if (cfg->mem_limit)
		k->mf.limit = cfg->mem_limit / PAGE_SIZE;
	r = vfs_init(&k->vfs, &k->mf);
	if (r == 0 && (r = ktimer_start(k)) < 0)
		vfs_destroy(&k->vfs);
	if (r == 0 && (r = vdso_init(k)) < 0) {
		vdso_fini(k);
	ktimer_stop(k);
		vfs_destroy(&k->vfs);
	}
	if (r < 0) {
		memfile_destroy(&k->mf);
		futex_table_free(k->futex);
		net_ns_free(k->net);
		free(k);
		return ERR_PTR(r);
	}
	return k;
}

int kernel_start_threads(struct kernel *k)
{
	return ktimer_run(k);
}

void kernel_destroy(struct kernel *k)
{
	ktimer_stop(k);
	poll_ctx_free(k->poll_ctx);
	vfs_destroy(&k->vfs);
	memfile_destroy(&k->mf);
	futex_table_free(k->futex);
	net_ns_free(k->net);
	free(k->pids);
	free(k);
}

/* ---- pid table: open addressing on tid ------------------------------------------------- */

#define PID_TOMB ((struct task *)1)

/* The slot of tid, or where it would go: the first empty slot (or tombstone, for inserts). */
static size_t pid_slot(struct kernel *k, int tid, bool for_insert)
{
	size_t mask = k->pids_cap - 1, i = ((size_t)tid * 2654435761u) & mask, tomb = SIZE_MAX;

	for (size_t probes = 0; probes < k->pids_cap; probes++, i = (i + 1) & mask) {
		struct task *t = k->pids[i];

		if (!t)
			return for_insert && tomb != SIZE_MAX ? tomb : i;
		if (t == PID_TOMB) {
			if (tomb == SIZE_MAX)
				tomb = i;
			continue;
		}
		if (t->tid == tid)
			return i;
	}
	return tomb; /* full of tombstones: pid_insert rehashes before this can happen */
}

struct task *kernel_find_task(struct kernel *k, int tid)
{
	size_t i;

	if (!k->pids_cap || tid <= 0)
		return NULL;
	i = pid_slot(k, tid, false);
	if (i == SIZE_MAX || !k->pids[i] || k->pids[i] == PID_TOMB)
		return NULL;
	return k->pids[i];
}

struct thread_group *kernel_find_tg(struct kernel *k, int tgid)
{
	struct task *t = kernel_find_task(k, tgid);

	return t && t->tg->tgid == tgid ? t->tg : NULL;
}

/* Rebuilds the table (dropping tombstones), doubling it when live entries need room. */
static int pid_rehash(struct kernel *k)
{
	size_t cap = k->pids_cap ? k->pids_cap : 256;
	struct task **old = k->pids;
	size_t oldcap = k->pids_cap;

	while ((k->pids_n + 1) * 2 > cap)
		cap *= 2;
	k->pids = calloc(cap, sizeof(*k->pids));
	if (!k->pids) {
		k->pids = old;
		return -ENOMEM;
	}
	k->pids_cap = cap;
	k->pids_tombs = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] && old[i] != PID_TOMB)
			k->pids[pid_slot(k, old[i]->tid, true)] = old[i];
	free(old);
	return 0;
}

int pid_alloc(struct kernel *k)
{
	for (int tries = 0; tries < CV_MAX_PID; tries++) {
		int pid = k->last_pid + 1;

		if (pid >= CV_MAX_PID)
			pid = 2; /* pid 1 is init's forever */
		k->last_pid = pid;
		if (!kernel_find_task(k, pid))
			return pid;
	}
	return -EAGAIN;
}

int pid_insert(struct kernel *k, struct task *t)
{
	size_t i;

	if ((k->pids_n + k->pids_tombs + 1) * 2 > k->pids_cap && pid_rehash(k) < 0)
		return -ENOMEM;
	i = pid_slot(k, t->tid, true);
	if (k->pids[i] == PID_TOMB)
		k->pids_tombs--;
	k->pids[i] = t;
	k->pids_n++;
	return 0;
}

void pid_remove(struct kernel *k, int tid)
{
	size_t i;

	if (!kernel_find_task(k, tid))
		return;
	i = pid_slot(k, tid, false);
	k->pids[i] = PID_TOMB;
	k->pids_n--;
	k->pids_tombs++;
}

void kernel_notify_locked(struct kernel *k)
{
	uint64_t one = 1;

	if (k->notify_fd >= 0 && write(k->notify_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the watcher is awake anyway */
	}
}

/* ---- exit status and outside control ----------------------------------------------------- */

int kernel_wait(struct kernel *k)
{
	pthread_mutex_lock(&k->lock);
	while (k->live_threads > 0 || !k->shutdown)
		pthread_cond_wait(&k->idle_cond, &k->lock);
	pthread_mutex_unlock(&k->lock);
	return k->exit_status;
}

static void kill_tg_from_outside(struct thread_group *tg, int sig)
{
	struct linux_siginfo info;

	siginfo_kill(&info, sig, LINUX_SI_USER, NULL);
	signal_send_group_locked(tg, &info);
}

int kernel_kill(struct kernel *k, int sig, bool all)
{
	int r = 0;

	if (sig < 0 || sig > LINUX_NSIG)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	if (!k->init || k->init->zombie) {
		r = -ESRCH;
	} else if (sig == 0) {
		r = 0;
	} else if (!all) {
		kill_tg_from_outside(k->init, sig);
	} else {
		for (size_t i = 0; i < k->pids_cap; i++) {
			struct task *t = k->pids[i];

			if (t && t != PID_TOMB && t->tg->leader == t && !t->tg->zombie)
				kill_tg_from_outside(t->tg, sig);
		}
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

void kernel_note_unimplemented(struct kernel *k, int nr, const char *name)
{
	uint32_t n;

	if (nr < 0 || nr >= CV_SYSCALL_MAX)
		return;
	n = __atomic_fetch_add(&k->unimpl[nr], 1, __ATOMIC_RELAXED);
	if (n == 0 && k->cfg.debug)
		log_warn("unimplemented syscall %d (%s) returned ENOSYS", nr, name ? name : "?");
}
