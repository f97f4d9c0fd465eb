/*
 * Private interfaces of the ptrace platform (platform/ptrace/).  The design (processes,
 * threads, who traces what, reaping) is described at the top of thread.c and in
 * docs/platforms.md, section "ptrace".
 *
 * Lock order: ptrace_platform.lock -> ptrace_as.lock -> ptrace_as.map_lock;
 *             ptrace_platform.master_lock is taken alone.
 */
#ifndef CV_PLATFORM_PTRACE_INTERNAL_H
#define CV_PLATFORM_PTRACE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/platform.h"
#include "../platforms.h"

#define CV_XSTR(x) #x
#define CV_STR(x) CV_XSTR(x)

/* The memory file's fd number inside every stub (the only fd a stub has). */
#define STUB_MEMFD 3
/* Size of the stub code region at the top of every stub address space. */
#define STUB_REGION_SIZE 4096ul
/* One past the highest user address of a 4-level-paging process. */
#define STUB_TOP 0x7ffffffff000ull
/* Lowest address handed to the application (mmap_min_addr is usually below it). */
#define STUB_MIN_USER 0x10000ull

/* clone flags injected into a stub's spawner to make a new stub thread. */
#define STUB_THREAD_CLONE_FLAGS                                                                    \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
/* clone flags injected into the master to make a new stub process (a new address space). */
#define STUB_FORK_CLONE_FLAGS (CLONE_PARENT | CLONE_PTRACE)

/* The signal interrupt() sends to a running stub thread; it is never delivered. */
#define STUB_INTERRUPT_SIGNAL SIGCHLD

/* Stub code (stub_amd64.c).  Entry points and the int3 each one stops at. */
extern const char ptrace_stub_begin[], ptrace_stub_end[];
extern const char ptrace_stub_init[], ptrace_stub_init_trap[];
extern const char ptrace_stub_syscall[], ptrace_stub_syscall_trap[];
extern const char ptrace_stub_clone[], ptrace_stub_clone_trap[];
extern const char ptrace_stub_fork[], ptrace_stub_fork_trap[], ptrace_stub_child_trap[];

/* A tiny intrusive doubly-linked list. */
struct plist {
	struct plist *prev, *next;
};

static inline void plist_init(struct plist *h)
{
	h->prev = h->next = h;
}

static inline bool plist_empty(const struct plist *h)
{
	return h->next == h;
}

static inline void plist_add(struct plist *h, struct plist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void plist_del(struct plist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	plist_init(n);
}

#define plist_for_each_safe(pos, tmp, head)                                                        \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

/* Per-platform state (platform.priv). */
struct ptrace_platform {
	struct platform *p;
	int memfd;
	pid_t sentry_pid;
	uint64_t stub_base;	  /* start of the stub code region; = max_user_address */
	struct cpu_regs stub_seg; /* the stub's segment selectors, forced on every push */
	unsigned fpu_note;	  /* NT_X86_XSTATE, or NT_PRFPREG without XSAVE */
	size_t fpu_size;
	bool no_affinity;    /* tests: do not pin stub threads to the tracer's CPU */
	bool cpuid_faulting; /* platform_opts.cpuid_faulting */

	pthread_mutex_t master_lock; /* serialises injections into the master */
	pid_t master;		     /* parked master stub, parent of nothing */

	struct platform_parent parent; /* real parent of every stub, see thread.c */

	pthread_mutex_t lock; /* protects as_list, tls_list, next_gen */
	struct plist as_list;
	struct plist tls_list;
	uint64_t next_gen;
	_Atomic uint64_t next_ctx_id;
	pthread_key_t tls_key;
	bool tls_key_valid;
};

/* One sentry host thread's bookkeeping for one platform (pthread key value). */
struct ptrace_tls {
	struct plist link; /* in ptrace_platform.tls_list */
	struct ptrace_platform *pp;
	pid_t tid;
	unsigned nctx; /* live contexts created on this thread; under pp->lock */
	bool exited;   /* the thread is gone; freed with its last context */
};

/* One traced stub thread: the stub side of (sentry thread, address space). */
struct stub_thread {
	struct plist link;	  /* in ptrace_as.threads */
	struct ptrace_tls *owner; /* its tracer */
	pid_t tid;
	bool reaped; /* exited and waited for: tid may belong to someone else now */
	bool kregs_valid;
	int cpu;	       /* CPU its affinity is pinned to, -1 if none */
	uint64_t fpu_ctx;      /* id of the context whose FPU state is loaded, 0 if none */
	struct cpu_regs kregs; /* registers as the kernel has them, when kregs_valid */
};

/* One stub process = one application address space. */
struct ptrace_as {
	struct address_space base;
	struct ptrace_platform *pp;
	struct plist link;	  /* in ptrace_platform.as_list */
	pid_t pid;		  /* the stub's leader (its tgid), parked for good */
	pid_t spawner;		  /* parked thread into which clones are injected */
	uint64_t gen;		  /* unique per platform; validates context caches */
	pthread_mutex_t lock;	  /* protects threads, spawning, dead */
	pthread_mutex_t map_lock; /* serialises map_file/unmap */
	struct plist threads;
	bool dead;
};

/* Per-task execution context. */
struct ptrace_context {
	struct context base;
	struct ptrace_platform *pp;
	struct ptrace_tls *tls;
	uint64_t id;
	atomic_bool pending;	  /* interrupt latched */
	_Atomic uint64_t running; /* (stub pid << 32 | tid) while switching, else 0 */
	/* Last (as, gen) -> thread lookup; only dereferenced after as->gen matches. */
	struct ptrace_as *cache_as;
	uint64_t cache_gen;
	struct stub_thread *cache_thread;
	bool fpu_loaded; /* the live FPU state is in cache_thread, not in cpu->fpu */
};

static inline struct ptrace_as *to_pas(struct address_space *as)
{
	return container_of(as, struct ptrace_as, base);
}

static inline struct ptrace_context *to_pctx(struct context *c)
{
	return container_of(c, struct ptrace_context, base);
}

static inline uint64_t stub_addr(const struct ptrace_platform *pp, const char *sym)
{
	return pp->stub_base + (uint64_t)(sym - ptrace_stub_begin);
}

/* Segment selectors are not the application's to choose: the stub's are forced. */
static inline void stub_force_segments(const struct ptrace_platform *pp, struct cpu_regs *r)
{
	r->cs = pp->stub_seg.cs;
	r->ss = pp->stub_seg.ss;
	r->ds = pp->stub_seg.ds;
	r->es = pp->stub_seg.es;
	r->fs = pp->stub_seg.fs;
	r->gs = pp->stub_seg.gs;
}

/* stub_amd64.c: the stub region and the master stub's own setup. */

/* Maps the stub code at a free high address in the sentry; returns the address or -errno. */
long stub_region_create(void);
struct master_args {
	int gate; /* read end: the child waits here until it is traced */
	int memfd;
	pid_t sentry_pid;
	uint64_t base; /* stub region */
	bool cpuid_faulting;
};
/* Body of the forked master: confines itself and enters the stub.  Never returns. */
void stub_master_child(const struct master_args *a) __noreturn;

/* tracee.c: ptrace primitives on one host thread.  All return 0/>= 0 or -errno. */

/*
 * Waits for the next event of tid.  Returns 0 with *status of a stop, or -ECHILD once tid has
 * exited and been reaped (*status then holds its exit status).  ptrace requests on a tracee
 * that is dying but not reaped fail with -ESRCH instead: see tracee_reap().
 *
 * Never wait for a thread-group leader that may have live sub-threads traced by others: wait4
 * does not report a leader before its whole group is gone.  Hence the leader of a stub process
 * is parked for good and a second thread, the spawner, serves the clone injections.
 */
int tracee_wait(pid_t tid, int *status);
/* Waits until tid has exited and is reaped (or was reaped by someone else).  Only for a tid
 * the caller traces, or one no other thread traces: see tracee_reap_foreign(). */
void tracee_reap(pid_t tid);
/*
 * The same for a killed stub thread that another sentry thread may trace.  That tracer may
 * exit meanwhile: tid is then detached, and an untraced thread reaps itself without waking
 * anyone waiting for it, so a blocking wait4 begun while it was traced would sleep forever.
 * This one polls (WNOHANG, with short sleeps) until tid is reaped or gone.
 */
void tracee_reap_foreign(pid_t tid);
/* PTRACE_SEIZE + PTRACE_INTERRUPT: tid is stopped and traced by the caller on success. */
int tracee_seize(pid_t tid, unsigned long options);
int tracee_detach(pid_t tid);
/*
 * Lets go of a tracee the caller seized: detaches it, or reaps it if it is dying.  A dying
 * tracee that nobody reaps would keep its leader from ever being reported to wait4.
 */
void tracee_release(pid_t tid);
int tracee_getregs(pid_t tid, struct cpu_regs *r);
int tracee_setregs(pid_t tid, const struct cpu_regs *r);
/*
 * Resumes tid through unrelated stops until it stops at the int3 at `trap`; *regs then holds
 * its registers.  Returns 0; -ECHILD if it exited (*status says how); -EFAULT if the stub code
 * took a fault (a kernel-generated signal); or -errno.
 */
int tracee_wait_trap(pid_t tid, uint64_t trap, struct cpu_regs *regs, int *status);
/*
 * Runs one syscall in the stopped tracee: regs supply every register (rax = number, rdi..r9 =
 * arguments); rip is set to `entry`, and the call is complete at the int3 at `trap`.  On
 * return *regs holds the tracee's registers and *ret the syscall's result.
 */
int tracee_syscall(struct ptrace_platform *pp, pid_t tid, struct cpu_regs *regs, uint64_t entry,
		   uint64_t trap, long *ret);

/* address_space.c */
struct address_space *ptrace_new_address_space(struct platform *p);
void ptrace_release_address_space(struct address_space *as);
int ptrace_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot);
int ptrace_unmap(struct address_space *as, uint64_t addr, uint64_t len);
int ptrace_as_cpu_time(struct address_space *as, uint64_t *ns);
/* Creates the master stub; runs on the parent thread. */
int ptrace_master_create(struct ptrace_platform *pp);

/* thread.c */
/* The calling host thread's tid (cached per thread). */
pid_t ptrace_self_tid(void);
/* The calling thread's bookkeeping, created on first use; NULL if out of memory. */
struct ptrace_tls *ptrace_tls_get(struct ptrace_platform *pp);
/* pthread key destructor: reclaims the exiting thread's stub threads. */
void ptrace_tls_destroy(void *arg);
/* Drops one context of tls; frees tls if its thread has exited and this was the last. */
void ptrace_tls_put_context(struct ptrace_tls *tls);
/* The caller's stub thread in pas, created on demand.  ERR_PTR on failure. */
struct stub_thread *stub_thread_get(struct ptrace_as *pas, struct ptrace_tls *tls);
/* Injects clone(STUB_THREAD_CLONE_FLAGS) into tid (stopped, traced by the caller); the child
 * parks.  Returns the child's tid or -errno. */
long stub_clone_thread(struct ptrace_platform *pp, pid_t tid);
/* Makes every stub thread traced by tls exit (release_context, thread exit). */
void stub_threads_reclaim(struct ptrace_tls *tls);
/* Records that t is gone (exited or failed); the next use returns -ESRCH. */
void stub_thread_mark_dead(struct ptrace_as *pas, struct stub_thread *t);

/* context.c */
struct context *ptrace_new_context(struct platform *p);
void ptrace_release_context(struct context *c);
int ptrace_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
		  struct trap *out);
int ptrace_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu);
void ptrace_interrupt(struct context *c);

/* trap.c: turns a stop into a trap report. */
enum stop_verdict { STOP_REPORT, STOP_RESUME, STOP_INTERRUPT };
/*
 * Classifies the stop `status` of t.  For STOP_REPORT and STOP_INTERRUPT fills *out and reads
 * the registers into t->kregs and cpu->regs.  Returns 0 or -errno.
 */
int trap_decode(struct ptrace_context *pc, struct stub_thread *t, int status, struct cpu_state *cpu,
		struct trap *out, enum stop_verdict *verdict);
/* Fills *out with a TRAP_INTERRUPT report. */
void trap_interrupt(struct trap *out);

#endif
