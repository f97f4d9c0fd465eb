/*
 * Contexts: running application code in a stub thread with PTRACE_SYSEMU.
 *
 * The hot path (a syscall round trip) is: pin the stub thread to our CPU if we moved, POKEUSER
 * rax (or SETREGS when anything else changed), PTRACE_SYSEMU, wait4, GETREGS.  The FPU state
 * stays in the stub thread until the sentry asks for it (pull_full_state) or replaces it
 * (fpu_dirty).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "ptrace_internal.h"

struct context *ptrace_new_context(struct platform *p)
{
	struct ptrace_platform *pp = p->priv;
	struct ptrace_tls *tls = ptrace_tls_get(pp);
	struct ptrace_context *pc;

	if (!tls)
		return ERR_PTR(-ENOMEM);
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return ERR_PTR(-ENOMEM);
	pc->base.platform = p;
	pc->pp = pp;
	pc->tls = tls;
	pc->id = atomic_fetch_add(&pp->next_ctx_id, 1) + 1;
	atomic_init(&pc->pending, false);
	atomic_init(&pc->running, 0);
	pthread_mutex_lock(&pp->lock);
	tls->nctx++;
	pthread_mutex_unlock(&pp->lock);
	return &pc->base;
}

static bool on_owner_thread(struct ptrace_context *pc)
{
	if (likely(ptrace_self_tid() == pc->tls->tid))
		return true;
	log_err("ptrace: context of thread %d used from thread %d", pc->tls->tid,
		ptrace_self_tid());
	return false;
}

void ptrace_release_context(struct context *c)
{
	struct ptrace_context *pc = to_pctx(c);

	/* From a foreign live thread, leave the stub threads to the owner's key destructor. */
	if (__atomic_load_n(&pc->tls->exited, __ATOMIC_RELAXED) || on_owner_thread(pc))
		ptrace_tls_put_context(pc->tls);
	free(pc);
}

/* c's cached stub thread for pas, or NULL.  `pas` must be live; the cache may be stale. */
static struct stub_thread *ctx_cached(struct ptrace_context *pc, struct ptrace_as *pas)
{
	if (pc->cache_as == pas && pc->cache_gen == pas->gen)
		return pc->cache_thread;
	return NULL;
}

static int fpu_xfer(struct ptrace_platform *pp, struct stub_thread *t, uint8_t *fpu, bool set)
{
	struct iovec iov = { fpu, pp->fpu_size };
	long req = set ? PTRACE_SETREGSET : PTRACE_GETREGSET;

	if (ptrace(req, t->tid, (void *)(uintptr_t)pp->fpu_note, &iov) < 0)
		return -errno;
	return 0;
}

/* Copies c's FPU state out of the stub thread it last ran on, wherever that is. */
static int fpu_pull_from_last(struct ptrace_context *pc, struct cpu_state *cpu)
{
	struct ptrace_platform *pp = pc->pp;
	struct plist *pos, *tmp;
	int r = -ESRCH;

	if (!pc->fpu_loaded)
		return -ENOENT;
	/* The lock keeps that address space (and so the thread) from being released. */
	pthread_mutex_lock(&pp->lock);
	plist_for_each_safe (pos, tmp, &pp->as_list) {
		struct ptrace_as *pas = container_of(pos, struct ptrace_as, link);
		struct stub_thread *t = ctx_cached(pc, pas);

		if (t && !t->reaped && t->fpu_ctx == pc->id)
			r = fpu_xfer(pp, t, cpu->fpu, false);
	}
	pthread_mutex_unlock(&pp->lock);
	return r;
}

/* Loads c's FPU state into t unless it is there already. */
static int push_fpu(struct ptrace_context *pc, struct ptrace_as *pas, struct stub_thread *t,
		    struct cpu_state *cpu)
{
	int r;

	if (!cpu->fpu_dirty && pc->fpu_loaded && ctx_cached(pc, pas) == t && t->fpu_ctx == pc->id)
		return 0;
	if (!cpu->fpu)
		return -EINVAL;
	/* First run on t (new thread or another address space): bring the state along. */
	if (!cpu->fpu_dirty && !cpu->fpu_valid && fpu_pull_from_last(pc, cpu) < 0) {
		if (pc->fpu_loaded)
			log_warn("ptrace: FPU state of context %lu lost", (unsigned long)pc->id);
		cpu_fpu_init(cpu->fpu);
	}
	if ((r = fpu_xfer(pc->pp, t, cpu->fpu, true)) < 0)
		return r;
	t->fpu_ctx = pc->id;
	cpu->fpu_dirty = false;
	return 0;
}

static bool is_restart(uint64_t rax)
{
	int64_t v = (int64_t)rax;

	return v >= -ERESTART_RESTARTBLOCK && v <= -ERESTARTSYS;
}

/* Every register but rax and orig_rax equal? */
static bool regs_same_but_rax(const struct cpu_regs *a, const struct cpu_regs *b)
{
	const size_t rax = offsetof(struct cpu_regs, rax), rcx = offsetof(struct cpu_regs, rcx);
	const size_t orig = offsetof(struct cpu_regs, orig_rax),
		     rip = offsetof(struct cpu_regs, rip);

	return !memcmp(a, b, rax) && !memcmp(&a->rcx, &b->rcx, orig - rcx) &&
	       !memcmp(&a->rip, &b->rip, sizeof(*a) - rip);
}

/* Moves as little as possible: nothing, rax alone, or everything. */
static int push_regs(struct ptrace_platform *pp, struct stub_thread *t, const struct cpu_regs *in)
{
	struct cpu_regs want = *in;
	int r = 0;

	stub_force_segments(pp, &want);
	/* The thread may sit in a restartable syscall (a fresh thread in pause()); never let
	 * the kernel restart anything on resume.  For the same reason a restart code in rax is
	 * pushed with SETREGS, which clears orig_rax, rather than with POKEUSER. */
	want.orig_rax = (uint64_t)-1;
	if (t->kregs_valid && regs_same_but_rax(&want, &t->kregs) && !is_restart(want.rax)) {
		if (want.rax != t->kregs.rax &&
		    ptrace(PTRACE_POKEUSER, t->tid, offsetof(struct cpu_regs, rax), want.rax) < 0)
			r = -errno;
	} else {
		r = tracee_setregs(t->tid, &want);
	}
	t->kregs_valid = false; /* until the next stop reads them */
	return r;
}

/* Keeps the stub thread on the tracer's CPU: a cross-CPU wakeup costs 3-6x the trap. */
static void pin_to_tracer_cpu(struct ptrace_platform *pp, struct stub_thread *t)
{
	cpu_set_t set;
	int cpu;

	if (pp->no_affinity || (cpu = sched_getcpu()) < 0 || cpu == t->cpu)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(t->tid, sizeof(set), &set); /* best effort: cpusets may refuse */
	t->cpu = cpu;
}

static int run(struct ptrace_context *pc, struct stub_thread *t, struct cpu_state *cpu,
	       struct trap *out)
{
	enum stop_verdict v;
	int status, r;

	for (;;) {
		if (ptrace(PTRACE_SYSEMU, t->tid, NULL, NULL) < 0)
			return -errno;
		if ((r = tracee_wait(t->tid, &status)) < 0)
			return r;
		if ((r = trap_decode(pc, t, status, cpu, out, &v)) < 0)
			return r;
		if (v != STOP_RESUME)
			return 0;
	}
}

/* The stub thread failed: if it is gone, so is the address space. */
static int switch_failed(struct ptrace_as *pas, struct stub_thread *t, int r)
{
	if (r == -ESRCH)
		tracee_reap(t->tid); /* our stopped tracee only vanishes when killed */
	if (r == -ESRCH || r == -ECHILD) {
		stub_thread_mark_dead(pas, t);
		return -ESRCH;
	}
	return r;
}

static struct stub_thread *ctx_thread(struct ptrace_context *pc, struct ptrace_as *pas)
{
	struct stub_thread *t = ctx_cached(pc, pas);

	if (t)
		return t->reaped ? ERR_PTR(-ESRCH) : t;
	return stub_thread_get(pas, pc->tls);
}

int ptrace_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
		  struct trap *out)
{
	struct ptrace_context *pc = to_pctx(c);
	struct ptrace_as *pas = to_pas(as);
	struct stub_thread *t;
	int r;

	if (!on_owner_thread(pc))
		return -EPERM;
	t = ctx_thread(pc, pas);
	if (IS_ERR(t))
		return (int)PTR_ERR(t);
	/* Publish `running` before testing `pending`; interrupt() does the reverse. */
	atomic_store(&pc->running, (uint64_t)pas->pid << 32 | (uint32_t)t->tid);
	if (atomic_exchange(&pc->pending, false)) {
		atomic_store(&pc->running, 0);
		trap_interrupt(out);
		return 0;
	}
	pin_to_tracer_cpu(pc->pp, t);
	r = push_regs(pc->pp, t, &cpu->regs);
	if (r == 0)
		r = push_fpu(pc, pas, t, cpu);
	if (r == 0)
		r = run(pc, t, cpu, out);
	atomic_store(&pc->running, 0);
	if (r < 0)
		return switch_failed(pas, t, r);
	pc->cache_as = pas;
	pc->cache_gen = pas->gen;
	pc->cache_thread = t;
	pc->fpu_loaded = true;
	cpu->fpu_valid = false;
	return 0;
}

int ptrace_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct ptrace_context *pc = to_pctx(c);
	struct stub_thread *t = ctx_cached(pc, to_pas(as));
	int r;

	if (!on_owner_thread(pc))
		return -EPERM;
	if (!cpu->fpu)
		return -EINVAL;
	if (!pc->fpu_loaded) { /* never ran: the sentry's copy is all there is */
		if (!cpu->fpu_valid)
			cpu_fpu_init(cpu->fpu);
		cpu->fpu_valid = true;
		return 0;
	}
	if (t && !t->reaped && t->fpu_ctx == pc->id)
		r = fpu_xfer(pc->pp, t, cpu->fpu, false);
	else
		r = fpu_pull_from_last(pc, cpu);
	if (r == 0)
		cpu->fpu_valid = true;
	return r;
}

void ptrace_interrupt(struct context *c)
{
	struct ptrace_context *pc = to_pctx(c);
	int saved = errno;
	uint64_t running;

	atomic_store(&pc->pending, true);
	running = atomic_load(&pc->running);
	if (running)
		syscall(SYS_tgkill, (pid_t)(running >> 32), (pid_t)(uint32_t)running,
			STUB_INTERRUPT_SIGNAL);
	errno = saved;
}
