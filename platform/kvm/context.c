/*
 * Contexts: a vCPU per task thread, the switch, the lazy FPU state and interrupts.
 *
 * A switch is one KVM_RUN in the common case: registers go in and come out through the sync
 * regs in kvm_run (never KVM_GET/SET_REGS, each ~8 us here), the ring-3 segment state and
 * cr3/fs/gs bases through the sync sregs, and the vCPU exits at the ring-0 stub of whatever
 * trapped.  The FPU state stays in the vCPU (the context owns it for its whole life) until
 * the sentry asks for it (pull_full_state) or replaces it (fpu_dirty).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

/* RFLAGS bits the application may set: CF PF AF ZF SF TF DF OF AC ID. */
#define USER_FLAGS 0x244dd5ull
#define FLAGS_FIXED 0x202ull /* bit 1, IF */

/* What a step of the switch left to do (or -errno). */
enum { SWITCH_DONE, SWITCH_RUN, SWITCH_DECODE };

static pid_t self_tid(void)
{
	static __thread pid_t tid;

	if (!tid)
		tid = (pid_t)syscall(SYS_gettid);
	return tid;
}

struct context *kvm_new_context(struct platform *p)
{
	struct kvm_platform *kp = p->priv;
	struct kvm_ctx *kc = calloc(1, sizeof(*kc));

	if (!kc)
		return ERR_PTR(-ENOMEM);
	kc->v = kvm_vcpu_get(kp);
	if (IS_ERR(kc->v)) {
		int r = (int)PTR_ERR(kc->v);

		free(kc);
		return ERR_PTR(r);
	}
	kc->base.platform = p;
	kc->kp = kp;
	kc->id = atomic_fetch_add(&kp->next_ctx_id, 1) + 1;
	atomic_init(&kc->pending, false);
	/* Kicks stay pending outside KVM_RUN, whose own signal mask lets them in. */
	kvm_kick_block(kp);
	return &kc->base;
}

void kvm_release_context(struct context *c)
{
	struct kvm_ctx *kc = to_kctx(c);

	kvm_vcpu_put(kc->kp, kc->v);
	free(kc);
}

static int xsave_io(struct kvm_ctx *kc, void *buf, bool set)
{
	unsigned long req = set ? KVM_SET_XSAVE : kc->kp->xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;

	return ioctl(kc->v->fd, req, buf) < 0 ? -errno : 0;
}

int kvm_fpu_pull(struct kvm_ctx *kc, struct cpu_state *cpu)
{
	size_t n = MIN(cpu_fpu_size(), kc->kp->xsave_size);
	uint8_t *buf = aligned_alloc(64, kc->kp->xsave_size);
	int r;

	if (!buf)
		return -ENOMEM;
	r = xsave_io(kc, buf, false);
	if (r == 0) {
		memcpy(cpu->fpu, buf, n);
		cpu->fpu_valid = true;
	}
	free(buf);
	return r;
}

/*
 * An XSAVE image the sentry rebuilt from application memory (sigreturn) may carry what
 * KVM_SET_XSAVE refuses; Linux would sanitise the same fields: features the vCPU does not
 * enable, the compacted-format bit, reserved header bytes, reserved MXCSR bits.
 */
static void xsave_sanitise(const struct kvm_platform *kp, uint8_t *buf)
{
	uint64_t bv;
	uint32_t mxcsr;

	memcpy(&mxcsr, buf + 24, 4);
	mxcsr &= kp->mxcsr_mask;
	memcpy(buf + 24, &mxcsr, 4);
	if (kp->xsave_size <= 512 + 64)
		return;
	memcpy(&bv, buf + 512, 8);
	bv &= kp->xcr0 ? kp->xcr0 : 3;
	memcpy(buf + 512, &bv, 8);
	memset(buf + 520, 0, 56); /* XCOMP_BV and the reserved rest of the header */
}

/* Loads cpu->fpu into the vCPU when it changed or the vCPU holds someone else's. */
static int fpu_push(struct kvm_ctx *kc, struct cpu_state *cpu)
{
	size_t n = MIN(cpu_fpu_size(), kc->kp->xsave_size);
	uint8_t *buf;
	int r;

	if (!cpu->fpu_dirty && kc->fpu_loaded && kc->v->ctx_id == kc->id)
		return 0;
	if (!cpu->fpu)
		return -EINVAL;
	if (!cpu->fpu_dirty && !cpu->fpu_valid)
		cpu_fpu_init(cpu->fpu); /* never ran and nothing given: the execve state */
	buf = aligned_alloc(64, kc->kp->xsave_size);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, kc->kp->xsave_size);
	memcpy(buf, cpu->fpu, n);
	xsave_sanitise(kc->kp, buf);
	r = xsave_io(kc, buf, true);
	free(buf);
	if (r < 0)
		return r;
	kc->fpu_loaded = true;
	kc->v->ctx_id = kc->id;
	cpu->fpu_dirty = false;
	return 0;
}

static bool canonical_user(uint64_t a)
{
	return a < KVM_USER_TOP + KVM_PAGE;
}

static bool canonical(uint64_t a)
{
	return a < (1ull << 47) || a >= 0xffff800000000000ull;
}

/*
 * Writes cpu->regs into the sync regs and the ring-3 state into the sync sregs.  Returns false
 * when they cannot be loaded (a kernel rip or base): Linux's iret would fault on them too.
 */
static bool regs_push(struct kvm_ctx *kc, struct kvm_as *kas, const struct cpu_state *cpu)
{
	struct kvm_run *run = kc->v->run;
	struct kvm_regs *r = &run->s.regs.regs;
	struct kvm_sregs *s = &run->s.regs.sregs;
	const struct cpu_regs *u = &cpu->regs;

	if (!canonical_user(u->rip) || !canonical(u->fs_base) || !canonical(u->gs_base))
		return false;
	r->rax = u->rax, r->rbx = u->rbx, r->rcx = u->rcx, r->rdx = u->rdx;
	r->rsi = u->rsi, r->rdi = u->rdi, r->rsp = u->rsp, r->rbp = u->rbp;
	r->r8 = u->r8, r->r9 = u->r9, r->r10 = u->r10, r->r11 = u->r11;
	r->r12 = u->r12, r->r13 = u->r13, r->r14 = u->r14, r->r15 = u->r15;
	r->rip = u->rip;
	r->rflags = (u->eflags & USER_FLAGS) | FLAGS_FIXED;
	*s = kc->v->user_sregs;
	s->cr3 = kas->root;
	s->fs.base = u->fs_base;
	s->gs.base = u->gs_base;
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	return true;
}

/* Holds run_lock shared unless a page-table recycle is under way; then waits for it. */
static void wait_world(struct kvm_platform *kp)
{
	while (atomic_load(&kp->stopping)) {
		pthread_rwlock_unlock(&kp->run_lock);
		pthread_rwlock_rdlock(&kp->run_lock); /* writer-preferring: blocks until resumed */
	}
}

/*
 * Whether the vCPU stopped on an application instruction, with nothing of a trap begun: only
 * then may its registers be handed over as the application's.  A kick lands part-way through
 * a trap often (measured: a third to half of the kicks of a syscall loop), and kvm_pvm leaves
 * cs at ring 3 on the way: after `syscall` rip is LSTAR, and a fault is queued (injected or
 * pending) before its IDT delivery.  Reporting either state as an interrupt hands the sentry
 * rip = LSTAR (its next switch refuses a kernel rip: SIGSEGV), or leaves the queued exception
 * to be delivered wherever the sentry moves rip (a signal handler).  Where `syscall` enters
 * ring 0 (hardware KVM) the vCPU is between the trap and its stub.
 */
static bool at_user_insn(const struct kvm_run *run)
{
	const struct kvm_vcpu_events *e = &run->s.regs.events;

	return run->s.regs.sregs.cs.dpl == 3 && canonical_user(run->s.regs.regs.rip) &&
	       !e->exception.injected && !e->exception.pending && !e->interrupt.injected &&
	       !e->nmi.injected && !e->nmi.pending;
}

/*
 * KVM_RUN returned EINTR: SWITCH_DONE with TRAP_INTERRUPT at an application instruction, else
 * SWITCH_RUN to let the trap under way reach its stub (the interrupt stays latched for the
 * next switch).
 */
static int interrupted(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out)
{
	struct kvm_run *run = kc->v->run;

	kvm_kick_consume(kc->kp);
	wait_world(kc->kp);
	if (!at_user_insn(run) || !atomic_exchange(&kc->pending, false))
		return SWITCH_RUN;
	kvm_trap_user_regs(kc, cpu);
	kvm_trap_fill(out, TRAP_INTERRUPT, 0, 0, 0, -1);
	return SWITCH_DONE;
}

static int exit_decode(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out)
{
	struct kvm_run *run = kc->v->run;
	unsigned port = run->io.port;

	if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
	    run->s.regs.sregs.cs.dpl == 0) {
		if (port >= KVM_PORT_VEC && port < KVM_PORT_VEC + 32)
			return kvm_trap_decode(kc, port - KVM_PORT_VEC, cpu, out);
		if (port == KVM_PORT_SYSCALL)
			return kvm_trap_syscall(kc, cpu, out);
	}
	log_err("kvm: vCPU %u: unexpected exit %u (port %#x, rip %#llx, cs %#x)", kc->v->id,
		run->exit_reason, port, run->s.regs.regs.rip, run->s.regs.sregs.cs.selector);
	return -EIO;
}

/* Runs the vCPU until it exits (SWITCH_DECODE) or is interrupted (SWITCH_DONE). */
static int run_loop(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out)
{
	int r = SWITCH_RUN;

	while (r == SWITCH_RUN) {
		if (ioctl(kc->v->fd, KVM_RUN, 0) == 0)
			return SWITCH_DECODE;
		if (errno != EINTR)
			return -errno;
		r = interrupted(kc, cpu, out);
	}
	return r;
}

/* The part of a switch that runs under run_lock: everything but decoding the exit. */
static int switch_locked(struct kvm_ctx *kc, struct kvm_as *kas, struct cpu_state *cpu,
			 struct trap *out)
{
	int r;

	if (atomic_exchange(&kc->pending, false)) {
		kvm_trap_fill(out, TRAP_INTERRUPT, 0, 0, 0, -1);
		return SWITCH_DONE;
	}
	if ((r = fpu_push(kc, cpu)) < 0)
		return r;
	if (!regs_push(kc, kas, cpu)) {
		kvm_trap_fill(out, TRAP_SIGNAL, SIGSEGV, SI_KERNEL, 0, 13);
		return SWITCH_DONE;
	}
	cpu->fpu_valid = false; /* from here on the live state is the vCPU's */
	kc->as = kas;
	return run_loop(kc, cpu, out);
}

int kvm_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
	       struct trap *out)
{
	struct kvm_ctx *kc = to_kctx(c);
	struct kvm_platform *kp = kc->kp;
	int r;

	pthread_rwlock_rdlock(&kp->run_lock);
	/* Publish `running` before testing `pending` and `stopping`; the others do the reverse. */
	atomic_store(&kc->v->running, self_tid());
	wait_world(kp);
	r = switch_locked(kc, to_kas(as), cpu, out);
	atomic_store(&kc->v->running, 0);
	pthread_rwlock_unlock(&kp->run_lock);
	/* Decoding may take the address space's lock (to read an instruction): never while
	 * holding run_lock, which a recycle under that lock waits for. */
	if (r == SWITCH_DECODE)
		r = exit_decode(kc, cpu, out);
	return r < 0 ? r : 0;
}

int kvm_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct kvm_ctx *kc = to_kctx(c);

	if (!cpu->fpu)
		return -EINVAL;
	if (!kc->fpu_loaded || kc->v->ctx_id != kc->id) {
		if (!cpu->fpu_valid)
			cpu_fpu_init(cpu->fpu); /* never ran: the sentry's copy is all there is */
		cpu->fpu_valid = true;
		return 0;
	}
	return kvm_fpu_pull(kc, cpu);
}

void kvm_interrupt(struct context *c)
{
	struct kvm_ctx *kc = to_kctx(c);
	int saved = errno;
	pid_t tid;

	atomic_store(&kc->pending, true);
	tid = atomic_load(&kc->v->running);
	if (tid)
		syscall(SYS_tgkill, kc->kp->pid, tid, kc->kp->kick_signal);
	errno = saved;
}

void kvm_stop_world(struct kvm_platform *kp)
{
	atomic_store(&kp->stopping, true);
	pthread_mutex_lock(&kp->vcpu_lock);
	for (unsigned i = 0; i < kp->nvcpus; i++) {
		pid_t tid = atomic_load(&kp->vcpus[i]->running);

		if (tid)
			syscall(SYS_tgkill, kp->pid, tid, kp->kick_signal);
	}
	pthread_mutex_unlock(&kp->vcpu_lock);
	pthread_rwlock_wrlock(&kp->run_lock);
}

void kvm_resume_world(struct kvm_platform *kp)
{
	atomic_store(&kp->stopping, false);
	pthread_rwlock_unlock(&kp->run_lock);
}
