/*
 * Reuse of stub processes.  Forking a stub for a new address space and killing and reaping it
 * at release cost about 100 us each; fork+exec+exit makes two of each.  A released stub whose
 * state is fully known is instead reset and kept (at most pool_max of them); the next new
 * address space takes it.
 *
 * A stub last ran application code, possibly hostile, so the reset must undo everything that
 * code could have changed.  Application threads run under the stub filter and the application
 * filter (stub.c): outside the blob's code every syscall traps, and from it only futex,
 * sched_yield, exit, rt_sigreturn and arch_prctl of fs/gs run.  What they can change is
 * therefore only
 *  - their own threads' state: registers, fs/gs base (wrfsbase), signal mask and alternate
 *    stack (a forged rt_sigreturn frame), PKRU; and what they wrote in memory: pages mapped by
 *    map_file in [min_user_address, max_user_address), and the shared pages of the stub: every
 *    slot's stack, FPU area and message page, and the syscall thread's response page.
 *  - nothing process-wide: mappings, signal actions, the LDT, seccomp filters, rlimits,
 *    fds and the like need syscalls they cannot make.  The code, configuration, request
 *    pages, trampoline table and exit pages are read-only and cannot be made writable.
 * The reset, in order:
 *  1. every application thread is told to exit, and must be gone: the syscall thread runs
 *     unshare(CLONE_VM), which the kernel fails unless the caller is the only thread of its
 *     process and the only user of its mm.  Its answer comes through the acknowledgement pipe,
 *     which no application code can write.  Thread state dies with the threads; from here on
 *     only the syscall thread (stackless, in read-only code) and the sentry touch the stub.
 *  2. munmap of the whole application range: application memory and patched code copies
 *     (requested before step 1 completes, to overlap the threads' exit: they cannot map).
 *  3. the patching bookkeeping and copies are freed (only now: the copies were mapped).
 *  4. every slot's shared run is punched out of the shared memory (reads as zeros again,
 *     in the sentry and in the stub), and the response page is cleared past its protocol
 *     words, so nothing the previous application wrote reaches the next one.
 * A new address space gets a new id (stale acknowledgements are dropped) and a new generation
 * (no context cache survives), and counts CPU time from when it took the stub.
 * Any doubt - a failed request, a dead or killed stub, a thread that does not exit in
 * POOL_RESET_NS, a full pool - and the stub is killed as before.  Pooled stubs keep
 * PR_SET_PDEATHSIG: they die with the sentry, and fini kills and reaps them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "systrap_internal.h"

static bool pool_room(struct systrap_platform *sp)
{
	bool room;

	pthread_mutex_lock(&sp->lock);
	room = sp->pool_n < sp->pool_max;
	pthread_mutex_unlock(&sp->lock);
	return room;
}

/* Tells every thread of sas to exit and frees the sthreads.  sp->lock held. */
static void threads_exit_locked(struct systrap_as *sas)
{
	for (unsigned i = 0; i < sas->nslots; i++) {
		if (sas->slots[i].t)
			systrap_thread_release_locked(sas->slots[i].t);
	}
}

/* Waits (until deadline) for the kernel to clear the tids of exiting threads: a hint only. */
static void threads_wait_hint(struct systrap_as *sas, int64_t deadline)
{
	struct systrap_platform *sp = sas->sp;

	for (unsigned i = 0; i < sas->nslots; i++) {
		struct sysmsg *sm;
		uint32_t tid;

		if (sas->slots[i].state == SLOT_FREE || !sas->slots[i].off)
			continue;
		sm = shm_ptr(sp, sas->slots[i].off + SLOT_MSG_OFF - SLOT_STACK_OFF);
		while ((tid = __atomic_load_n(&sm->tid, __ATOMIC_ACQUIRE)) != 0) {
			int64_t left = deadline - systrap_now_ns();
			struct timespec ts = { 0, left > 1000000 ? 1000000 : left };

			if (left <= 0)
				return;
			syscall(SYS_futex, &sm->tid, FUTEX_WAIT, tid, &ts, NULL, 0);
		}
	}
}

/* Step 1: 0 once the syscall thread is the stub's only thread.  req_lock held. */
static int threads_gone(struct systrap_as *sas, int64_t deadline)
{
	uint64_t args[6] = { CLONE_VM, 0, 0, 0, 0, 0 };
	long ret;
	int r;

	for (;;) {
		/* ret < 0 here can only come from a failure reported through the pipe. */
		if ((r = systrap_as_request(sas, SYS_unshare, args, 0, &ret)) < 0)
			return r;
		if (ret == 0)
			return 0;
		if (systrap_now_ns() > deadline)
			return -EBUSY;
		threads_wait_hint(sas, deadline);
		sched_yield(); /* an exiting thread leaves the thread list right after its tid */
	}
}

/* Step 2: done first, while the threads exit; they cannot map anything back.  req_lock held. */
static int app_unmap(struct systrap_as *sas)
{
	struct platform *p = sas->sp->p;
	uint64_t args[6] = { p->min_user_address, p->max_user_address - p->min_user_address };
	long ret;
	int r;

	if ((r = systrap_as_request(sas, SYS_munmap, args, 0, &ret)) < 0)
		return r;
	return ret < 0 ? (int)ret : 0;
}

/* Steps 3-4, once the stub is single-threaded.  req_lock held. */
static void stub_scrub(struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;

	systrap_patch_release(sas);
	for (unsigned i = 0; i < sas->nslots; i++) {
		if (sas->slots[i].off)
			madvise(shm_ptr(sp, sas->slots[i].off), SLOT_SHARED_LEN, MADV_REMOVE);
	}
	memset((uint8_t *)sas->resp + sizeof(*sas->resp), 0, 4096 - sizeof(*sas->resp));
	sas->resp->ret = 0;
}

static int pool_reset(struct systrap_as *sas)
{
	int r;

	pthread_mutex_lock(&sas->req_lock);
	r = app_unmap(sas);
	if (r == 0)
		r = threads_gone(sas, systrap_now_ns() + POOL_RESET_NS);
	if (r == 0)
		stub_scrub(sas);
	pthread_mutex_unlock(&sas->req_lock);
	return r;
}

bool systrap_pool_put(struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;
	int r;

	if (sas->no_pool || atomic_load(&sas->dead) || !pool_room(sp))
		return false;
	/* Still published: acknowledgements read by other threads are filed by id. */
	pthread_mutex_lock(&sp->lock);
	threads_exit_locked(sas);
	pthread_mutex_unlock(&sp->lock);
	r = pool_reset(sas);
	pthread_mutex_lock(&sp->lock);
	systrap_as_unpublish_locked(sp, sas);
	if (r == 0 && !atomic_load(&sas->dead) && sp->pool_n < sp->pool_max) {
		for (unsigned i = 0; i < sas->nslots; i++) {
			sas->slots[i].state = SLOT_FREE;
			sas->slots[i].t = NULL;
		}
		slist_add(&sp->pool, &sas->link);
		sp->pool_n++;
		pthread_mutex_unlock(&sp->lock);
		return true;
	}
	pthread_mutex_unlock(&sp->lock);
	if (r < 0)
		log_debug("systrap: stub %d not reused: %s", sas->pid, strerror(-r));
	systrap_as_reap_free(sas);
	return true;
}

struct systrap_as *systrap_pool_take(struct systrap_platform *sp)
{
	struct systrap_as *sas;

	for (;;) {
		pthread_mutex_lock(&sp->lock);
		if (slist_empty(&sp->pool)) {
			pthread_mutex_unlock(&sp->lock);
			return NULL;
		}
		sas = container_of(sp->pool.next, struct systrap_as, link);
		slist_del(&sas->link);
		sp->pool_n--;
		pthread_mutex_unlock(&sp->lock);
		/* Killed while pooled (by the host, the OOM killer): it goes, the next is tried. */
		if (systrap_stub_alive(sas->pid))
			break;
		systrap_as_reap_free(sas);
	}
	pthread_mutex_lock(&sp->lock);
	sp->stubs_reused++;
	pthread_mutex_unlock(&sp->lock);
	memset(&sas->base, 0, sizeof(sas->base));
	sas->base.platform = sp->p;
	atomic_store(&sas->acked, 0);
	return sas;
}

void systrap_pool_drain(struct systrap_platform *sp)
{
	struct systrap_as *sas;

	pthread_mutex_lock(&sp->lock);
	sp->pool_max = 0;
	while (!slist_empty(&sp->pool)) {
		sas = container_of(sp->pool.next, struct systrap_as, link);
		slist_del(&sas->link);
		sp->pool_n--;
		pthread_mutex_unlock(&sp->lock);
		systrap_as_reap_free(sas);
		pthread_mutex_lock(&sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
}
