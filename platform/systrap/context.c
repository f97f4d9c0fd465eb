/*
 * Contexts: running application code in a stub thread and turning what it reports into a trap.
 *
 * The hot path (a syscall round trip) is: write the registers into the thread's message page,
 * post RUN, spin until the stub reports, copy the report once into sentry memory, decode it.
 * No syscall on either side when both spin.  The FPU state stays in the stub thread (in its
 * signal frame, or live on the patched path) until the sentry asks for it or replaces it.
 *
 * Interrupts: interrupt() latches `pending`, sets the thread's interrupt word and sends it
 * SIGCHLD.  The switch clears the word, publishes the thread, then tests `pending`;
 * interrupt() does the reverse, so one of them sees the other.  The stub checks the word before
 * every return to application code, and its handler takes SIGCHLD while application code runs.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "systrap_internal.h"

#define VSYSCALL_PAGE 0xffffffffff600000ull
#define PF_WRITE 0x2
#define PF_INSTR 0x10

struct context *systrap_new_context(struct platform *p)
{
	struct systrap_context *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return ERR_PTR(-ENOMEM);
	sc->base.platform = p;
	sc->sp = p->priv;
	atomic_init(&sc->pending, false);
	atomic_init(&sc->running, 0);
	atomic_init(&sc->intr_word, NULL);
	atomic_init(&sc->interrupt_sent, 0);
	slist_init(&sc->threads);
	return &sc->base;
}

void systrap_release_context(struct context *c)
{
	struct systrap_context *sc = to_sctx(c);
	struct systrap_platform *sp = sc->sp;

	pthread_mutex_lock(&sp->lock);
	while (!slist_empty(&sc->threads))
		systrap_thread_release_locked(container_of(sc->threads.next, struct sthread, ctx_link));
	pthread_mutex_unlock(&sp->lock);
	free(sc);
}

static struct sthread *ctx_thread(struct systrap_context *sc, struct systrap_as *sas)
{
	struct sthread *t;

	if (sc->cache_as == sas && sc->cache_gen == sas->gen)
		return sc->cache_t;
	t = systrap_thread_get(sc, sas);
	if (!IS_ERR(t)) {
		sc->cache_as = sas;
		sc->cache_gen = sas->gen;
		sc->cache_t = t;
	}
	return t;
}

/* The thread holding sc's FPU state, if its address space still exists.  sp->lock held. */
static struct sthread *fpu_holder_locked(struct systrap_context *sc)
{
	struct slist *pos, *tmp;

	if (!sc->fpu_t)
		return NULL;
	slist_for_each_safe (pos, tmp, &sc->sp->as_list) {
		struct systrap_as *sas = container_of(pos, struct systrap_as, link);

		if (sas == sc->fpu_as && sas->gen == sc->fpu_gen)
			return atomic_load(&sas->dead) ? NULL : sc->fpu_t;
	}
	return NULL;
}

static int pull_fpu(struct systrap_context *sc, struct cpu_state *cpu)
{
	struct systrap_platform *sp = sc->sp;
	struct sthread *t;
	int r = -ESRCH;

	/* The lock keeps that address space from being released meanwhile. */
	pthread_mutex_lock(&sp->lock);
	t = fpu_holder_locked(sc);
	pthread_mutex_unlock(&sp->lock);
	if (t)
		r = systrap_fpu_pull(t, cpu->fpu);
	return r;
}

int systrap_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct systrap_context *sc = to_sctx(c);
	int r;

	if (!cpu->fpu)
		return -EINVAL;
	if (!sc->fpu_t) { /* never ran: the sentry's copy is all there is */
		if (!cpu->fpu_valid)
			cpu_fpu_init(cpu->fpu);
		cpu->fpu_valid = true;
		return 0;
	}
	if ((r = pull_fpu(sc, cpu)) == 0)
		cpu->fpu_valid = true;
	return r;
}

static void report_interrupt(struct trap *out)
{
	out->kind = TRAP_INTERRUPT;
	out->signo = 0;
	out->code = 0;
	out->addr = 0;
	out->access = 0;
	out->trapno = -1;
}

/* Waits for the stub's next report and copies it: 0, or -ESRCH when the stub is gone. */
int systrap_thread_wait(struct systrap_context *sc, struct sthread *t, bool woke, struct sysmsg *m)
{
	struct systrap_platform *sp = t->as->sp;
	uint64_t spin = systrap_spin_after(sp, woke);
	struct sysmsg *sm = t->sm;
	uint32_t me = systrap_cpu_now();
	int64_t v, sent;

	__atomic_store_n(&sm->sentry_cpu, me, __ATOMIC_RELAXED);
	for (;;) {
		v = systrap_seq_wait(sp, &sm->trap_seq, t->trap_seen, spin, &sm->stub_cpu, me,
				     CHECK_INTERVAL_NS);
		spin = sp->spin_cycles;
		if (v >= 0) {
			t->trap_seen = (uint32_t)v;
			memcpy(m, sm, offsetof(struct sysmsg, pad2)); /* once: the stub can change it */
			return 0;
		}
		if (atomic_load(&t->as->dead))
			return -ESRCH;
		if (v != -ETIMEDOUT)
			continue;
		if (!systrap_stub_alive(t->as->pid) || __atomic_load_n(&sm->tid, __ATOMIC_ACQUIRE) == 0) {
			systrap_as_kill(t->as, "lost a thread");
			return -ESRCH;
		}
		/* An interrupt still outstanding after the grace period: the thread cannot take
		 * it (stuck in stub code, signals blocked by a forged frame...). */
		sent = sc && atomic_load(&sc->pending) ? atomic_load(&sc->interrupt_sent) : 0;
		if (sent && systrap_now_ns() - sent > sp->interrupt_grace_ns) {
			systrap_as_kill(t->as, "ignores interrupts");
			return -ESRCH;
		}
		if (sent) /* again: it may have had signals blocked for a moment */
			syscall(SYS_tgkill, t->as->pid, t->tid, STUB_INTERRUPT_SIGNAL);
	}
}

static bool signo_ok(int signo)
{
	return signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL ||
	       signo == SIGTRAP || signo == SIGSYS;
}

static void decode_signal(struct systrap_as *sas, const struct sysmsg *m, struct cpu_state *cpu,
			  struct trap *out)
{
	struct cpu_regs *r = &cpu->regs;

	out->kind = TRAP_SIGNAL;
	out->signo = m->signo;
	out->code = m->code;
	out->addr = m->addr;
	out->access = 0;
	out->trapno = m->trapno < 32 ? (int)m->trapno : -1;
	if (m->signo == SIGSYS) {
		/* A vsyscall: the kernel emulated its `ret` already; undo it. */
		out->kind = TRAP_FAULT;
		out->signo = SIGSEGV;
		out->code = SEGV_MAPERR;
		out->access = ACCESS_EXEC;
		out->trapno = 14;
		r->rip = m->addr;
		r->rsp -= 8;
	} else if (m->signo == SIGILL && systrap_patch_is_site_tail(sas, r->rip)) {
		/* The `syscall` of a patched site, reached without its `mov`: run it. */
		report_interrupt(out);
		out->kind = TRAP_SYSCALL;
		r->orig_rax = r->rax;
		r->rip += 2;
	} else if (m->signo == SIGSEGV && m->code > 0 && m->code != SI_KERNEL) {
		out->kind = TRAP_FAULT;
		if (m->trapno == 14)
			out->access = (m->err & PF_WRITE)   ? ACCESS_WRITE
				      : (m->err & PF_INSTR) ? ACCESS_EXEC
							    : ACCESS_READ;
	}
}

/*
 * Turns the copied report m into cpu->regs and *out.  Returns 1 for a report the switch
 * absorbs (a stale interrupt), 0 for a trap to return, or -ESRCH (the stub is inconsistent).
 */
static int decode(struct systrap_context *sc, struct sthread *t, const struct sysmsg *m,
		  struct cpu_state *cpu, struct trap *out)
{
	struct systrap_as *sas = t->as;

	if (m->kind == SYSMSG_INTERRUPT && !atomic_exchange(&sc->pending, false))
		return 1;
	if (m->kind < SYSMSG_SYSCALL || m->kind > SYSMSG_INTERRUPT ||
	    (m->kind == SYSMSG_SIGNAL && !signo_ok(m->signo))) {
		systrap_as_kill(sas, "sent a report that makes no sense");
		return -ESRCH;
	}
	t->frame_fpu = NULL;
	if (m->fpstate && !(t->frame_fpu = systrap_fpu_frame_ptr(t, m->fpstate))) {
		systrap_as_kill(sas, "reports a bad FPU frame");
		return -ESRCH;
	}
	memcpy(&cpu->regs, &m->regs, sizeof(cpu->regs));
	t->regs = m->regs; /* what the page holds now */
	t->regs_known = true;
	cpu->regs.cs = 0x33, cpu->regs.ss = 0x2b;
	cpu->regs.ds = cpu->regs.es = cpu->regs.fs = cpu->regs.gs = 0;
	report_interrupt(out);
	switch (m->kind) {
	case SYSMSG_SYSCALL:
		out->kind = TRAP_SYSCALL;
		cpu->regs.rax = cpu->regs.orig_rax;
		if (m->fpstate && sas->sp->patching)
			systrap_patch_site(sas, cpu->regs.rip, cpu->regs.orig_rax);
		break;
	case SYSMSG_SIGNAL:
		cpu->regs.orig_rax = (uint64_t)-1;
		decode_signal(sas, m, cpu, out);
		break;
	default:
		cpu->regs.orig_rax = (uint64_t)-1;
		break;
	}
	return 0;
}

/*
 * Writes the registers into t's message page, only the words that changed since it was last
 * read: after a syscall usually rax alone, so the other cache lines stay where the stub has
 * them.  Should the application have scribbled over the page meanwhile, it only chose its own
 * registers.
 */
static void push_regs(struct sthread *t, const struct cpu_regs *in)
{
	uint64_t *dst = (uint64_t *)&t->sm->regs, *known = (uint64_t *)&t->regs;
	const uint64_t *src = (const uint64_t *)in;

	STATIC_ASSERT(sizeof(struct cpu_regs) == sizeof(struct sysmsg_regs));
	if (!t->regs_known) {
		memcpy(dst, src, sizeof(t->regs));
		memcpy(known, src, sizeof(t->regs));
		t->regs_known = true;
		return;
	}
	for (size_t i = 0; i < sizeof(t->regs) / 8; i++) {
		if (known[i] != src[i])
			dst[i] = known[i] = src[i];
	}
}

static int run(struct systrap_context *sc, struct sthread *t, uint32_t flags,
	       struct cpu_state *cpu, struct trap *out)
{
	struct sysmsg *sm = t->sm;
	struct sysmsg m;
	int r;

	for (;;) {
		sm->run_flags = flags;
		__atomic_store_n(&sm->cmd, SYSMSG_CMD_RUN, __ATOMIC_RELEASE);
		if ((r = systrap_thread_wait(sc, t, systrap_seq_post(&sm->cmd_seq), &m)) < 0)
			return r;
		if ((r = decode(sc, t, &m, cpu, out)) <= 0)
			return r;
		flags = 0; /* a stale interrupt: resume where it stopped */
	}
}

/* Brings cpu->fpu up to date when this thread is about to load it. */
static void fpu_prepare(struct systrap_context *sc, struct sthread *t, struct cpu_state *cpu)
{
	if (cpu->fpu_dirty || cpu->fpu_valid)
		return;
	/* First run on t (a new thread, or another address space): bring the state along. */
	if (pull_fpu(sc, cpu) < 0) {
		if (sc->fpu_t)
			log_warn("systrap: FPU state of a context lost");
		cpu_fpu_init(cpu->fpu);
	}
	cpu->fpu_valid = true;
}

int systrap_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
		   struct trap *out)
{
	struct systrap_context *sc = to_sctx(c);
	struct systrap_as *sas = to_sas(as);
	uint32_t flags = 0;
	struct sthread *t;
	int r;

	if (atomic_load(&sas->dead))
		return -ESRCH;
	t = ctx_thread(sc, sas);
	if (IS_ERR(t))
		return (int)PTR_ERR(t);
	if (!t->started && !cpu->fpu)
		return -EINVAL;
	if (!t->started)
		fpu_prepare(sc, t, cpu);
	/* Plain stores in this order; the exchange of `pending` is the full barrier that pairs
	 * with interrupt()'s. */
	__atomic_store_n(&t->sm->interrupt, 0, __ATOMIC_RELEASE);
	atomic_store_explicit(&sc->interrupt_sent, 0, memory_order_release);
	atomic_store_explicit(&sc->intr_word, &t->sm->interrupt, memory_order_release);
	atomic_store_explicit(&sc->running, (uint64_t)sas->pid << 32 | (uint32_t)t->tid,
			      memory_order_release);
	if (atomic_exchange(&sc->pending, false)) {
		atomic_store_explicit(&sc->running, 0, memory_order_release);
		report_interrupt(out);
		return 0;
	}
	if (!t->started || cpu->fpu_dirty) {
		flags = systrap_fpu_push(t, cpu->fpu);
		cpu->fpu_dirty = false;
	}
	/* The sentry restarts a syscall by moving rip back over the 2-byte `syscall`. */
	if (t->regs_known && cpu->regs.rip == t->regs.rip - 2 && READ_ONCE(sas->npatches))
		systrap_patch_restart(sas, &cpu->regs);
	push_regs(t, &cpu->regs);
	r = run(sc, t, flags, cpu, out);
	atomic_store_explicit(&sc->running, 0, memory_order_release);
	atomic_store_explicit(&sc->interrupt_sent, 0, memory_order_release);
	if (r < 0)
		return r;
	t->started = true;
	sc->fpu_as = sas;
	sc->fpu_gen = sas->gen;
	sc->fpu_t = t;
	cpu->fpu_valid = false;
	return 0;
}

void systrap_interrupt(struct context *c)
{
	struct systrap_context *sc = to_sctx(c);
	int saved = errno;
	uint32_t *word;
	uint64_t running;

	atomic_store(&sc->pending, true);
	running = atomic_load(&sc->running);
	if (running) {
		int64_t zero = 0;

		/* The word lives in shared memory that is never unmapped: at worst it is another
		 * thread's now, and that one takes a stale interrupt. */
		if ((word = atomic_load(&sc->intr_word)))
			__atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
		atomic_compare_exchange_strong(&sc->interrupt_sent, &zero, systrap_now_ns());
		syscall(SYS_tgkill, (pid_t)(running >> 32), (pid_t)(uint32_t)running,
			STUB_INTERRUPT_SIGNAL);
	}
	errno = saved;
}
