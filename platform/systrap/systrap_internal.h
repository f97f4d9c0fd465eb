/*
 * Private interfaces of the systrap platform (platform/systrap/).  The design is described at
 * the top of systrap.c and in docs/platforms.md, section "systrap"; the layout shared with the
 * stub is in sysmsg.h.
 *
 * Lock order: systrap_platform.master_lock -> systrap_as.req_lock -> systrap_platform.lock.
 * systrap_platform.lock is never held across a wait for a stub.
 */
#ifndef CV_PLATFORM_SYSTRAP_INTERNAL_H
#define CV_PLATFORM_SYSTRAP_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/platform.h"
#include "../platforms.h"
#include "sysmsg.h"

/* One past the highest user address of a 4-level-paging process. */
#define SYSTRAP_TOP 0x7ffffffff000ull
/* Lowest application address: below it lies the trampoline table. */
#define SYSTRAP_MIN_USER (TRAMP_TABLE_VA + TRAMP_TABLE_SIZE)

/* The platform's shared memory (a memfd mapped by the sentry and by stubs). */
#define SHM_SIZE (64ull << 30) /* virtual; pages exist once touched */
#define SHM_EXIT_OFF 0ull      /* the exit page */
#define SHM_MASTER_CTL_OFF 0x1000ull
#define SHM_TABLE_OFF 0x10000ull
#define SHM_DYN_OFF (SHM_TABLE_OFF + TRAMP_TABLE_SIZE) /* allocated from here */

/* clone flags of a stub thread (CLONE_CHILD_* report its tid and its exit in sysmsg.tid) and
 * of a new stub process forked by the master (exit signal 0: nothing auto-reaps it). */
#define STUB_THREAD_CLONE_FLAGS                                                                    \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |       \
	 CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)
#define STUB_FORK_CLONE_FLAGS CLONE_PARENT

/* The signal interrupt() sends to a stub thread; the stub's handler takes it. */
#define STUB_INTERRUPT_SIGNAL SIGCHLD

/* How long waits spin before sleeping, and how often a sleeping wait checks the stub. */
#define SPIN_SENTRY_NS 20000
#define SPIN_STUB_NS 20000
#define SPIN_LOOP_NS 30000
#define YIELD_NS 2000
#define SPIN_WOKE_NS 100000
#define CHECK_INTERVAL_NS 10000000ll
#define INTERRUPT_GRACE_NS 5000000000ll /* a stub that ignores an interrupt this long dies */
#define REQUEST_TIMEOUT_NS 20000000000ll
/* Stubs of released address spaces kept for reuse, and how long a release waits for the
 * application threads of one to exit before it kills the stub instead. */
#define POOL_MAX 4
#define POOL_RESET_NS 50000000ll

/* The embedded stub image (blob_image.S). */
extern const char systrap_blob[], systrap_blob_end[];

/* A tiny intrusive doubly-linked list. */
struct slist {
	struct slist *prev, *next;
};

static inline void slist_init(struct slist *h)
{
	h->prev = h->next = h;
}

static inline bool slist_empty(const struct slist *h)
{
	return h->next == h;
}

static inline void slist_add(struct slist *h, struct slist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void slist_del(struct slist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	slist_init(n);
}

#define slist_for_each_safe(pos, tmp, head)                                                        \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

/* Free runs of shared memory, by size. */
struct shm_free {
	struct shm_free *next;
	uint64_t off, len;
};

#define AS_HASH 256

/* Per-platform state (platform.priv). */
struct systrap_platform {
	struct platform *p;
	int memfd;
	int privfd;    /* closed once the master has it */
	uint8_t *shm;  /* the sentry's mapping of [0, SHM_SIZE) of privfd */
	int ack_rd;    /* read end of the acknowledgement pipe (non-blocking) */
	int ack_wr;    /* its write end, until the master has it */
	pid_t sentry_pid;
	uint64_t base; /* stub region; = max_user_address */
	struct blob_header hdr;
	struct blob_config *cfg; /* the sentry's copy, inside the region (read-only later) */
	struct sock_filter *base_filter;
	unsigned base_filter_len;
	bool patching;
	bool fsgsbase;
	bool cpuid_faulting;
	size_t fpu_size;
	uint64_t xsave_mask;
	uint32_t mxcsr_mask;
	uint64_t tsc_khz;
	uint64_t spin_cycles; /* the sentry's own waits */
	uint64_t yield_cycles; /* how often a spinning wait yields the CPU */
	uint64_t spin_woke_cycles; /* spin after waking the peer: its wakeup takes 25-50 us */
	int64_t interrupt_grace_ns; /* INTERRUPT_GRACE_NS; tests lower it */
	uint64_t magic;

	pthread_mutex_t master_lock; /* one request to the master at a time */
	pid_t master;
	uint32_t master_seq;
	int master_cpu; /* the CPU the master is pinned to, -1 if none */

	struct platform_parent parent; /* real parent of every stub */

	pthread_mutex_t lock; /* as_list, as_hash, shm allocator, table, context thread lists */
	struct slist as_list;
	struct systrap_as *as_hash[AS_HASH];
	uint32_t next_as_id;
	uint64_t next_gen;
	uint64_t shm_next;
	struct shm_free *shm_free;
	unsigned table_next; /* next free trampoline entry */
	struct tramp_key *table_keys;

	/* Stubs of released address spaces, reset and ready for reuse (pool.c); under lock. */
	struct slist pool;
	unsigned pool_n;
	unsigned pool_max;	/* POOL_MAX; 0 = no pooling (fini, tests) */
	uint64_t stubs_forked;	/* stub processes ever forked (tests count reuse) */
	uint64_t stubs_reused;
};

/* (number, return address) of each trampoline entry, for reuse. */
struct tramp_key {
	uint32_t nr;
	uint64_t ret;
};

/* An executable mapping made by map_file, for patching. */
struct xrun {
	uint64_t va, len, off;
	int prot;
};

/* A code page replaced by a patched private copy. */
struct patched_page {
	uint64_t va;
	uint64_t copy; /* shm offset of the copy */
	int prot;
};

enum slot_state { SLOT_FREE, SLOT_USED, SLOT_EXITING };

struct slot {
	enum slot_state state;
	uint64_t off; /* shm offset of the slot's shared run, 0 = not made yet */
	struct sthread *t;
};

/* One stub process = one application address space. */
struct systrap_as {
	struct address_space base;
	struct systrap_platform *sp;
	struct slist link;	      /* in systrap_platform.as_list */
	struct systrap_as *hash_next; /* in systrap_platform.as_hash */
	uint32_t id;		      /* in acknowledgements */
	uint64_t gen;		      /* unique per platform; validates context caches */
	pid_t pid;
	uint64_t cpu_base; /* the stub's CPU time when this address space took it (pool) */
	bool no_pool;	   /* a request failed: never reuse this stub */
	uint64_t ctl_off;
	struct stub_req *req;
	struct stub_resp *resp;
	atomic_bool dead;

	pthread_mutex_t req_lock; /* requests; runs; patches; slot creation */
	uint32_t req_seq;
	int loop_cpu; /* the CPU the syscall thread is pinned to, -1 if none */
	_Atomic uint32_t acked; /* last acknowledged sequence | 1 if it succeeded */

	struct slot *slots; /* under systrap_platform.lock */
	unsigned nslots;

	struct xrun *runs; /* sorted by va; under req_lock */
	size_t nruns, cap_runs;
	struct patched_page *patches;
	size_t npatches, cap_patches;
};

/* One stub thread: where one context runs in one address space. */
struct sthread {
	struct systrap_as *as;
	struct systrap_context *owner;
	struct slist ctx_link; /* in systrap_context.threads */
	unsigned slot;
	pid_t tid;
	struct sysmsg *sm;     /* the sentry's view */
	uint8_t *fpu_area;     /* the sentry's view of the slot's FPU area */
	uint64_t slot_va;      /* the slot in the stub */
	uint64_t shm_off;      /* the slot's shared run */
	uint8_t *frame_fpu;    /* after a signal-path trap: the frame's FPU image, else NULL */
	uint32_t trap_seen;
	bool started;
	bool regs_known;	      /* sm->regs held `regs` when last read or written */
	struct sysmsg_regs regs; /* so a switch writes only what changed (usually rax) */
};

/* Per-task execution context. */
struct systrap_context {
	struct context base;
	struct systrap_platform *sp;
	atomic_bool pending;		 /* interrupt latched */
	_Atomic uint64_t running;	 /* stub pid << 32 | tid while switching, else 0 */
	_Atomic(uint32_t *) intr_word;	 /* sysmsg.interrupt of the thread switched to last */
	_Atomic int64_t interrupt_sent; /* when the running thread was signalled, ns; 0 = not */
	struct slist threads;		 /* its sthreads, under systrap_platform.lock */
	struct systrap_as *cache_as;
	uint64_t cache_gen;
	struct sthread *cache_t;
	struct systrap_as *fpu_as; /* the thread holding the FPU state, when fpu_gen matches */
	uint64_t fpu_gen;
	struct sthread *fpu_t;
};

static inline struct systrap_as *to_sas(struct address_space *as)
{
	return container_of(as, struct systrap_as, base);
}

static inline struct systrap_context *to_sctx(struct context *c)
{
	return container_of(c, struct systrap_context, base);
}

static inline uint64_t stub_sym(const struct systrap_platform *sp, uint32_t off)
{
	return sp->base + off;
}

static inline uint64_t slot_va(const struct systrap_platform *sp, unsigned slot)
{
	return sp->base + STUB_SLOTS_OFF + (uint64_t)slot * STUB_SLOT_SIZE;
}

/* systrap.c */
int64_t systrap_now_ns(void);
/* TSC cycles for ns nanoseconds. */
uint64_t systrap_cycles(const struct systrap_platform *sp, uint64_t ns);

/* shm.c: the platform's shared memory.  Offsets are page-aligned; 0 on failure. */
uint64_t systrap_shm_alloc(struct systrap_platform *sp, uint64_t len);
/* Returns the pages to the host and the run to the allocator.  Called with sp->lock held. */
void systrap_shm_free_locked(struct systrap_platform *sp, uint64_t off, uint64_t len);
static inline void *shm_ptr(const struct systrap_platform *sp, uint64_t off)
{
	return sp->shm + off;
}

/* wait.c: the sequence-word handoff, sentry side. */
/* Bumps *w by one step and wakes a sleeping reader; true if it had to wake it. */
bool systrap_seq_post(uint32_t *w);
/*
 * Waits until *w (ignoring SEQ_SLEEP) differs from seen, spinning `spin` TSC cycles first (and
 * yielding the CPU now and then, or at once when *peer_cpu, if given, is `me`: the peer last
 * waited on this CPU).  Returns the new value, or -ETIMEDOUT after timeout_ns of
 * sleeping (the caller checks the stub and calls again), or -EAGAIN on a spurious wakeup.
 */
int64_t systrap_seq_wait(struct systrap_platform *sp, uint32_t *w, uint32_t seen, uint64_t spin,
			 const uint32_t *peer_cpu, uint32_t me, int64_t timeout_ns);
/* The CPU the caller runs on, from TSC_AUX (no syscall). */
uint32_t systrap_cpu_now(void);
/* The spin for a wait after a post: long enough to cover the wakeup of a peer we woke. */
static inline uint64_t systrap_spin_after(const struct systrap_platform *sp, bool woke)
{
	return woke ? sp->spin_woke_cycles : sp->spin_cycles;
}
/* Whether the stub process pid is still alive (not a zombie). */
bool systrap_stub_alive(pid_t pid);

/* stub.c: the stub region, the filters, the master's self-confinement. */
int systrap_region_create(struct systrap_platform *sp);
/* Builds the stub-wide filter (sp->base_filter) and the application threads' (in cfg). */
int systrap_filters_build(struct systrap_platform *sp);
struct master_args {
	struct systrap_platform *sp;
	int memfd, privfd, ack_wr;
};
/* Body of the forked master: confines itself and enters the stub.  Never returns. */
void systrap_master_child(const struct master_args *a) __noreturn;

/* address_space.c */
struct address_space *systrap_new_address_space(struct platform *p);
void systrap_release_address_space(struct address_space *as);
int systrap_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot);
int systrap_unmap(struct address_space *as, uint64_t addr, uint64_t len);
/* Creates the master; runs on the parent thread. */
int systrap_master_create(struct systrap_platform *sp);
/* Runs nr(args) in the stub's syscall thread; r14 as the request says.  req_lock held.
 * Returns 0 with *ret, or -ESRCH when the stub is gone. */
int systrap_as_request(struct systrap_as *sas, long nr, const uint64_t args[6], uint64_t r14, long *ret);
/* Kills the stub (fail closed): every later use of sas returns -ESRCH. */
void systrap_as_kill(struct systrap_as *sas, const char *why);
/* The AS with this id, or NULL.  sp->lock held. */
struct systrap_as *systrap_as_lookup_locked(struct systrap_platform *sp, uint32_t id);

/* pool.c: reuse of released stubs.  See the top of pool.c for what a reset covers. */
/* Resets sas's stub and keeps it (sas unpublished, its threads freed); false if it cannot
 * be pooled, and the caller kills it as usual. */
bool systrap_pool_put(struct systrap_as *sas);
/* A pooled stub (sas as left by pool_put, to publish again), or NULL. */
struct systrap_as *systrap_pool_take(struct systrap_platform *sp);
/* Kills and reaps every pooled stub; pooling stops. */
void systrap_pool_drain(struct systrap_platform *sp);
/* address_space.c helpers used by the pool. */
void systrap_as_publish(struct systrap_platform *sp, struct systrap_as *sas);
void systrap_as_unpublish_locked(struct systrap_platform *sp, struct systrap_as *sas);
void systrap_as_reap_free(struct systrap_as *sas);

/* thread.c */
/* c's thread in sas, created on demand.  ERR_PTR on failure. */
struct sthread *systrap_thread_get(struct systrap_context *sc, struct systrap_as *sas);
/* Tells t to exit and frees it; sp->lock held. */
void systrap_thread_release_locked(struct sthread *t);

/* context.c */
/*
 * Waits for t's next report and copies it once into *m: 0, or -ESRCH when the stub is gone or
 * misbehaves (it is then killed).  sc, if not NULL, is the context whose interrupts count;
 * woke says the command just posted had to wake the thread.
 */
int systrap_thread_wait(struct systrap_context *sc, struct sthread *t, bool woke, struct sysmsg *m);
struct context *systrap_new_context(struct platform *p);
void systrap_release_context(struct context *c);
int systrap_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
		   struct trap *out);
int systrap_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu);
void systrap_interrupt(struct context *c);

/* fpu.c */
/* Copies the FPU state t holds (frame image, or the live state via SAVE_FPU) into fpu. */
int systrap_fpu_pull(struct sthread *t, uint8_t *fpu);
/* Makes t load fpu on its next RUN; returns the RUN flags to add. */
uint32_t systrap_fpu_push(struct sthread *t, const uint8_t *fpu);
/* Validates a signal frame's FPU image address; the sentry pointer or NULL. */
uint8_t *systrap_fpu_frame_ptr(struct sthread *t, uint64_t stub_addr);

/* patch.c */
/* After a signal-path syscall trap at rip: patches the site if it can.  req_lock not held. */
void systrap_patch_site(struct systrap_as *sas, uint64_t rip, uint64_t nr);
/* Whether rip is the byte after the `mov` of a site patched in sas (SIGILL there = syscall). */
bool systrap_patch_is_site_tail(struct systrap_as *sas, uint64_t rip);
/* A syscall restarted at a patched site's tail with its own number in rax: resume at the
 * site's jump instead, which saves a SIGILL. */
void systrap_patch_restart(struct systrap_as *sas, struct cpu_regs *regs);
/* map_file/unmap bookkeeping, req_lock held: forgets runs and patches in [va, va+len) and
 * records a new executable run.  Copies whose pages are gone are freed. */
void systrap_patch_forget(struct systrap_as *sas, uint64_t va, uint64_t len);
int systrap_patch_note_run(struct systrap_as *sas, uint64_t va, uint64_t len, uint64_t off, int prot);
/* Frees every patch of sas (release). */
void systrap_patch_release(struct systrap_as *sas);

#endif
