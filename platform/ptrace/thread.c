/*
 * Stub threads: who traces what, how a stub thread is made and handed to its tracer, and how
 * everything is reaped.
 *
 * Rule: a ptrace request is only valid from the tracee's tracer *thread*.  So each (sentry
 * thread, address space) pair gets its own traced stub thread, found through the calling
 * thread's `struct ptrace_tls` (a pthread key per platform).
 *
 * Host tasks:
 *  - The *parent thread* (ptrace.c) is a sentry thread that only waits.  It forks the master,
 *    and because every stub process is made with CLONE_PARENT it is the real parent of all of
 *    them.  PR_SET_PDEATHSIG fires when the parent *thread* exits, so this must be a thread
 *    that lives exactly as long as the platform.  Its death (fini, or the sentry dying) kills
 *    every stub.
 *  - The *master* is a stub process with no application: it only forks address spaces.
 *  - A stub process per address space.  Its *leader* only exists to hold the tgid and is
 *    never traced after creation (wait4 cannot report a leader before its whole thread group
 *    is gone, so waiting for one could hang).  Its *spawner* thread serves clone injections.
 *    Every other thread is the stub thread of one sentry thread and runs application code.
 *  - The master, the leaders and the spawners are *parked* (untraced, blocked in pause() in
 *    stub code) whenever nobody is using them.
 *
 * Making a stub thread (stub_thread_get, under the address space's lock), all on the
 * requesting sentry thread R:
 *   1. R PTRACE_SEIZEs the parked spawner and PTRACE_INTERRUPTs it: pause() is interrupted
 *      and it stops in PTRACE_EVENT_STOP.  No signal is involved, so no group-stop.
 *   2. R injects clone(CLONE_VM|CLONE_THREAD|...) without CLONE_PTRACE.  The spawner stops at
 *      the int3 after the syscall; the child gets rax == 0 and falls into the park loop.
 *   3. R PTRACE_DETACHes the spawner, which leaves its int3 into the park loop too.
 *   4. R PTRACE_SEIZEs the new thread (TRACESYSGOOD | EXITKILL) and interrupts it.  Wherever
 *      the thread was stopped (still in clone's return path, or in pause()), the first push
 *      sets every register with orig_rax = -1 so no syscall restart happens.
 * The new thread is never traced by anyone but R, so there is no hand-over of a traced
 * thread and no window where it could run application code untraced.  A new address space is
 * made the same way one level up (address_space.c): R seizes the parked master and injects
 * clone(CLONE_PARENT|CLONE_PTRACE); the child is traced by R from birth, arms PDEATHSIG,
 * checks its parent and traps; R injects the spawner's clone into it and detaches it.
 *
 * Lifetime and reaping:
 *  - Stub threads are traced with PTRACE_O_EXITKILL: if a tracer thread dies without
 *    cleaning up, its tracees are SIGKILLed, which kills that whole stub process: fail
 *    closed, never a detached thread running application code.  The normal path is clean:
 *    release_context (last context of the thread) and the pthread key destructor (thread
 *    exit) make each of the thread's stub threads call exit(2) and wait for it.
 *  - release_address_space SIGKILLs the stub process and waits for every thread it knows
 *    (any sentry thread may wait for the tracees of another: wait4 covers the whole thread
 *    group), then for the leader, whose parent is the parent thread.  Stub processes are
 *    made with exit signal 0 (the master's), so the sentry's SIGCHLD disposition never
 *    auto-reaps them, and untraced stub threads auto-reap themselves.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "ptrace_internal.h"

static __thread pid_t self_tid;

pid_t ptrace_self_tid(void)
{
	if (unlikely(!self_tid))
		self_tid = gettid();
	return self_tid;
}

struct ptrace_tls *ptrace_tls_get(struct ptrace_platform *pp)
{
	struct ptrace_tls *tls = pthread_getspecific(pp->tls_key);

	if (tls)
		return tls;
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		return NULL;
	tls->pp = pp;
	tls->tid = ptrace_self_tid();
	if (pthread_setspecific(pp->tls_key, tls) != 0) {
		free(tls);
		return NULL;
	}
	pthread_mutex_lock(&pp->lock);
	plist_add(&pp->tls_list, &tls->link);
	pthread_mutex_unlock(&pp->lock);
	return tls;
}

/* The thread is exiting but can still issue ptrace requests.  Contexts it did not release
 * keep tls alive (they point at it) until they are released from elsewhere. */
void ptrace_tls_destroy(void *arg)
{
	struct ptrace_tls *tls = arg;
	struct ptrace_platform *pp = tls->pp;
	bool last;

	stub_threads_reclaim(tls);
	pthread_mutex_lock(&pp->lock);
	__atomic_store_n(&tls->exited, true, __ATOMIC_RELAXED);
	last = tls->nctx == 0;
	if (last)
		plist_del(&tls->link);
	pthread_mutex_unlock(&pp->lock);
	if (last)
		free(tls);
}

void ptrace_tls_put_context(struct ptrace_tls *tls)
{
	struct ptrace_platform *pp = tls->pp;
	bool reclaim, free_it;

	pthread_mutex_lock(&pp->lock);
	reclaim = --tls->nctx == 0 && !tls->exited;
	free_it = tls->nctx == 0 && tls->exited;
	if (free_it)
		plist_del(&tls->link);
	pthread_mutex_unlock(&pp->lock);
	/* Only the owner thread can make its stub threads exit; the caller checked. */
	if (reclaim)
		stub_threads_reclaim(tls);
	if (free_it)
		free(tls);
}

long stub_clone_thread(struct ptrace_platform *pp, pid_t tid)
{
	struct cpu_regs regs;
	long ret;
	int r;

	if ((r = tracee_getregs(tid, &regs)) < 0)
		return r;
	regs.rax = SYS_clone;
	regs.rdi = STUB_THREAD_CLONE_FLAGS;
	regs.rsi = regs.rdx = regs.r10 = regs.r8 = 0;
	r = tracee_syscall(pp, tid, &regs, stub_addr(pp, ptrace_stub_clone),
			   stub_addr(pp, ptrace_stub_clone_trap), &ret);
	return r < 0 ? r : ret;
}

/* Steps 1-3 above: returns the new thread's tid or -errno. */
static long spawner_clone(struct ptrace_as *pas)
{
	long tid;
	int r;

	if ((r = tracee_seize(pas->spawner, 0)) < 0)
		return r;
	tid = stub_clone_thread(pas->pp, pas->spawner);
	if (tid != -ECHILD)
		tracee_release(pas->spawner);
	return tid;
}

static struct stub_thread *thread_spawn(struct ptrace_as *pas, struct ptrace_tls *tls)
{
	static const uint64_t no_signals = 0;
	struct stub_thread *t = calloc(1, sizeof(*t));
	long tid;
	int r;

	if (!t)
		return ERR_PTR(-ENOMEM);
	tid = spawner_clone(pas);
	if (tid < 0) {
		free(t);
		if (tid == -ESRCH || tid == -ECHILD || tid == -EPERM)
			pas->dead = true; /* the spawner is gone or dying */
		return ERR_PTR(tid == -ECHILD ? -ESRCH : tid);
	}
	/* On failure the thread stays parked, untraced; it dies with the address space.  Its
	 * mask must be empty for our interrupt signal to stop it: make sure it is. */
	r = tracee_seize((pid_t)tid, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
	if (r == 0 && ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &no_signals) < 0) {
		r = -errno;
		tracee_release((pid_t)tid);
	}
	if (r < 0) {
		log_warn("ptrace: cannot seize new stub thread %ld: %d", tid, r);
		free(t);
		return ERR_PTR(r);
	}
	t->owner = tls;
	t->tid = (pid_t)tid;
	t->cpu = -1;
	plist_add(&pas->threads, &t->link);
	return t;
}

struct stub_thread *stub_thread_get(struct ptrace_as *pas, struct ptrace_tls *tls)
{
	struct stub_thread *found = ERR_PTR(-ESRCH);
	struct plist *pos, *tmp;

	pthread_mutex_lock(&pas->lock);
	plist_for_each_safe (pos, tmp, &pas->threads) {
		struct stub_thread *t = container_of(pos, struct stub_thread, link);

		if (t->owner == tls) {
			found = t->reaped ? ERR_PTR(-ESRCH) : t;
			goto out;
		}
	}
	if (!pas->dead)
		found = thread_spawn(pas, tls);
out:
	pthread_mutex_unlock(&pas->lock);
	return found;
}

void stub_thread_mark_dead(struct ptrace_as *pas, struct stub_thread *t)
{
	pthread_mutex_lock(&pas->lock);
	t->reaped = true;
	pas->dead = true; /* threads only die alone through thread_exit() */
	pthread_mutex_unlock(&pas->lock);
}

/* Makes t call exit(2) and reaps it.  Called by t's tracer, with pas->lock held. */
static void thread_exit(struct ptrace_as *pas, struct stub_thread *t)
{
	struct ptrace_platform *pp = pas->pp;
	struct cpu_regs regs;
	long ret;
	int r;

	if (t->reaped)
		return;
	r = t->kregs_valid ? 0 : tracee_getregs(t->tid, &regs);
	if (t->kregs_valid)
		regs = t->kregs;
	if (r == 0) {
		regs.rax = SYS_exit;
		regs.rdi = 0;
		/* Success is the thread vanishing: tracee_syscall() then reports -ECHILD. */
		r = tracee_syscall(pp, t->tid, &regs, stub_addr(pp, ptrace_stub_syscall),
				   stub_addr(pp, ptrace_stub_syscall_trap), &ret);
	}
	if (r == -ESRCH) /* dying: the stub process was killed */
		tracee_reap(t->tid);
	if (r == -ESRCH || r == -ECHILD) {
		t->reaped = true;
		return;
	}
	/* Still ours and stopped: EXITKILL takes the whole stub down when this thread exits. */
	log_warn("ptrace: stub thread %d of %d did not exit (%d)", t->tid, pas->pid, r);
}

/* Reclaims tls's stub threads in pas; returns with them freed or, on failure, kept. */
static void as_reclaim(struct ptrace_as *pas, struct ptrace_tls *tls)
{
	struct plist *pos, *tmp;

	pthread_mutex_lock(&pas->lock);
	plist_for_each_safe (pos, tmp, &pas->threads) {
		struct stub_thread *t = container_of(pos, struct stub_thread, link);

		if (t->owner != tls)
			continue;
		thread_exit(pas, t);
		if (t->reaped) {
			plist_del(&t->link);
			free(t);
		}
	}
	pthread_mutex_unlock(&pas->lock);
}

void stub_threads_reclaim(struct ptrace_tls *tls)
{
	struct ptrace_platform *pp = tls->pp;
	struct plist *pos, *tmp;

	pthread_mutex_lock(&pp->lock);
	plist_for_each_safe (pos, tmp, &pp->as_list) {
		as_reclaim(container_of(pos, struct ptrace_as, link), tls);
	}
	pthread_mutex_unlock(&pp->lock);
}
