/*
 * Stub threads: one per (context, address space), each in a slot of the stub region.
 *
 * A slot is a 128 KiB aligned block: a guard page, then a run of shared memory (the thread's
 * signal stack, its FPU area and its message page) and the exit page.  A thread finds its
 * message page by rounding its stack pointer down, so it needs no TLS; the exit page finds it
 * RIP-relatively.  The shared run is the address space's until the stub is reaped; a slot
 * whose thread exited is reused in the same address space only.
 *
 * Making a thread: map the slot (once), reset its message page, and ask the syscall thread
 * for clone(CLONE_VM | CLONE_THREAD | ... | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) with r14
 * = the slot.  The child sets its signal stack, gs base and signal mask, installs the
 * application filter, then waits for its first RUN (blob/entry_amd64.S: stub_thread_child).
 * The kernel writes the thread's tid into sysmsg.tid and clears it when the thread exits.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "cvisor/log.h"
#include "systrap_internal.h"

static struct sysmsg *slot_msg(struct systrap_platform *sp, const struct slot *s)
{
	return shm_ptr(sp, s->off + SLOT_MSG_OFF - SLOT_STACK_OFF);
}

/* A free slot, marked used; -EAGAIN when the address space has as many threads as it can. */
static int slot_take(struct systrap_platform *sp, struct systrap_as *sas)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&sp->lock);
	for (unsigned i = 0; i < sas->nslots; i++) {
		struct slot *s = &sas->slots[i];

		/* An exited thread's slot: the kernel cleared its tid. */
		if (s->state == SLOT_EXITING && __atomic_load_n(&slot_msg(sp, s)->tid,
								__ATOMIC_ACQUIRE) == 0)
			s->state = SLOT_FREE;
		if (s->state == SLOT_FREE) {
			s->state = SLOT_USED;
			r = (int)i;
			goto out;
		}
	}
	if (sas->nslots < STUB_MAX_SLOTS) {
		unsigned n = sas->nslots ? sas->nslots * 2 : 8;
		struct slot *ns = realloc(sas->slots, MIN(n, STUB_MAX_SLOTS) * sizeof(*ns));

		if (!ns) {
			r = -ENOMEM;
			goto out;
		}
		memset(ns + sas->nslots, 0, (MIN(n, STUB_MAX_SLOTS) - sas->nslots) * sizeof(*ns));
		sas->slots = ns;
		r = (int)sas->nslots;
		sas->nslots = MIN(n, STUB_MAX_SLOTS);
		ns[r].state = SLOT_USED;
	}
out:
	pthread_mutex_unlock(&sp->lock);
	return r;
}

static void slot_put(struct systrap_platform *sp, struct systrap_as *sas, unsigned i)
{
	pthread_mutex_lock(&sp->lock);
	sas->slots[i].state = SLOT_FREE;
	pthread_mutex_unlock(&sp->lock);
}

/* Maps the slot's shared run and exit page into the stub; req_lock held. */
static int slot_map(struct systrap_as *sas, unsigned i)
{
	struct systrap_platform *sp = sas->sp;
	uint64_t va = slot_va(sp, i), off;
	uint64_t run[6] = { va + SLOT_STACK_OFF, SLOT_SHARED_LEN, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_FIXED, STUB_PRIVFD, 0 };
	uint64_t exit_page[6] = { va + SLOT_EXIT_OFF, 4096, PROT_READ | PROT_EXEC,
				  MAP_SHARED | MAP_FIXED, STUB_PRIVFD, SHM_EXIT_OFF };
	long ret;
	int r;

	if (sas->slots[i].off)
		return 0;
	if (!(off = systrap_shm_alloc(sp, SLOT_SHARED_LEN)))
		return -ENOMEM;
	run[5] = off;
	r = systrap_as_request(sas, SYS_mmap, run, 0, &ret);
	if (r == 0 && ret < 0)
		r = (int)ret;
	if (r == 0 && (r = systrap_as_request(sas, SYS_mmap, exit_page, 0, &ret)) == 0 && ret < 0)
		r = (int)ret;
	pthread_mutex_lock(&sp->lock);
	if (r < 0)
		systrap_shm_free_locked(sp, off, SLOT_SHARED_LEN);
	else
		sas->slots[i].off = off;
	pthread_mutex_unlock(&sp->lock);
	return r;
}

/* Clones the thread into slot i; its tid, or -errno.  req_lock held. */
static long slot_clone(struct systrap_as *sas, unsigned i)
{
	struct systrap_platform *sp = sas->sp;
	struct sysmsg *sm = slot_msg(sp, &sas->slots[i]);
	uint64_t va = slot_va(sp, i);
	uint64_t args[6] = { STUB_THREAD_CLONE_FLAGS, va + SLOT_STACK_TOP, 0,
			     va + SLOT_MSG_OFF + offsetof(struct sysmsg, tid), 0, 0 };
	long tid;
	int r;

	memset(sm, 0, sizeof(*sm));
	sm->self = va + SLOT_MSG_OFF;
	sm->magic = sp->magic;
	sm->stack_top = va + SLOT_STACK_TOP;
	r = systrap_as_request(sas, SYS_clone, args, i, &tid);
	if (r < 0)
		return r;
	if (tid <= 0)
		return tid < 0 ? tid : -EPROTO;
	/* The kernel stores it only when the child first runs; until then 0 would read as
	 * "exited" (it clears it at exit). */
	__atomic_store_n(&sm->tid, (uint32_t)tid, __ATOMIC_RELEASE);
	return tid;
}

static struct sthread *thread_new(struct systrap_context *sc, struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;
	struct sthread *t = calloc(1, sizeof(*t));
	int slot;
	long tid;

	if (!t)
		return ERR_PTR(-ENOMEM);
	pthread_mutex_lock(&sas->req_lock);
	slot = atomic_load(&sas->dead) ? -ESRCH : slot_take(sp, sas);
	tid = slot < 0 ? slot : slot_map(sas, (unsigned)slot);
	if (tid == 0)
		tid = slot_clone(sas, (unsigned)slot);
	if (tid < 0)
		sas->no_pool = true;
	pthread_mutex_unlock(&sas->req_lock);
	if (tid < 0) {
		if (slot >= 0)
			slot_put(sp, sas, (unsigned)slot);
		free(t);
		return ERR_PTR(tid);
	}
	t->as = sas;
	t->owner = sc;
	t->slot = (unsigned)slot;
	t->tid = (pid_t)tid;
	t->slot_va = slot_va(sp, (unsigned)slot);
	/* Under sp->lock: another thread_new of sas may grow (realloc) the slot array now. */
	pthread_mutex_lock(&sp->lock);
	t->shm_off = sas->slots[slot].off;
	t->sm = slot_msg(sp, &sas->slots[slot]);
	t->fpu_area = shm_ptr(sp, t->shm_off + SLOT_FPU_OFF - SLOT_STACK_OFF);
	sas->slots[slot].t = t;
	slist_add(&sc->threads, &t->ctx_link);
	pthread_mutex_unlock(&sp->lock);
	return t;
}

struct sthread *systrap_thread_get(struct systrap_context *sc, struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;
	struct slist *pos, *tmp;

	pthread_mutex_lock(&sp->lock);
	slist_for_each_safe (pos, tmp, &sc->threads) {
		struct sthread *t = container_of(pos, struct sthread, ctx_link);

		if (t->as == sas) {
			pthread_mutex_unlock(&sp->lock);
			return t;
		}
	}
	pthread_mutex_unlock(&sp->lock);
	return thread_new(sc, sas);
}

void systrap_thread_release_locked(struct sthread *t)
{
	struct sysmsg *sm = t->sm;

	/* It is waiting for a command (or will be at its next trap): make it exit(2). */
	__atomic_store_n(&sm->cmd, SYSMSG_CMD_EXIT, __ATOMIC_RELEASE);
	systrap_seq_post(&sm->cmd_seq);
	t->as->slots[t->slot].state = SLOT_EXITING;
	t->as->slots[t->slot].t = NULL;
	slist_del(&t->ctx_link);
	free(t);
}
