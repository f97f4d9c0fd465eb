/*
 * Turning a vector exit into what switch_context reports, the way Linux reports the same
 * CPU exception to a process (arch/x86/kernel/traps.c):
 *
 *  #PF at KVM_LSTAR_VA, rip == LSTAR   TRAP_SYSCALL: `syscall` jumped to LSTAR in ring 3
 *                                      (kvm_pvm); rcx/r11 hold the return rip and rflags.
 *  the syscall stub's own exit         TRAP_SYSCALL: `syscall` entered ring 0 (hardware KVM)
 *  #PF                                 TRAP_FAULT: cr2, access from the error code.
 *  #DE                                 SIGFPE FPE_INTDIV at rip
 *  #DB                                 SIGTRAP TRAP_TRACE / TRAP_HWBKPT / TRAP_BRKPT (DR6)
 *  #BP (int3)                          SIGTRAP SI_KERNEL, rip after the int3
 *  #UD                                 SIGILL ILL_ILLOPN at rip; but kvm_pvm raises #UD for
 *                                      `int n`, which Linux #GPs (int $3: SIGTRAP)
 *  #GP #TS #OF #BR                     SIGSEGV SI_KERNEL
 *  #NP #SS                             SIGBUS SI_KERNEL
 *  #AC                                 SIGBUS BUS_ADRALN
 *  #MF #XM                             SIGFPE, si_code from the x87 status or MXCSR
 *  #DF #MC, anything else              -EIO: the sentry kills the thread group
 *
 * The exception frame (error code, rip, cs, rflags, rsp, ss) is on the vCPU's ring-0 stack;
 * every other register is in the sync regs, untouched by the one-instruction stub.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

#define PF_PROT 0x1
#define PF_WRITE 0x2
#define PF_RSVD 0x8
#define PF_INSTR 0x10
#define DR6_BS (1ull << 14)
#define DR6_BMASK 0xfull

void kvm_trap_fill(struct trap *out, enum trap_kind kind, int signo, int code, uint64_t addr,
	       int trapno)
{
	out->kind = kind;
	out->signo = signo;
	out->code = code;
	out->addr = addr;
	out->access = 0;
	out->trapno = trapno;
}

/* Vectors that push an error code. */
static bool has_error_code(unsigned vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
	       vector == 29 || vector == 30;
}

/* GPRs from the sync regs; selectors as on Linux; fs/gs bases as the vCPU has them. */
static void gprs_pull(const struct kvm_run *run, struct cpu_regs *u)
{
	const struct kvm_regs *r = &run->s.regs.regs;

	u->rax = r->rax, u->rbx = r->rbx, u->rcx = r->rcx, u->rdx = r->rdx;
	u->rsi = r->rsi, u->rdi = r->rdi, u->rbp = r->rbp;
	u->r8 = r->r8, u->r9 = r->r9, u->r10 = r->r10, u->r11 = r->r11;
	u->r12 = r->r12, u->r13 = r->r13, u->r14 = r->r14, u->r15 = r->r15;
	u->orig_rax = (uint64_t)-1;
	u->cs = KVM_UCS;
	u->ss = KVM_UDS;
	u->ds = u->es = u->fs = u->gs = 0;
	u->fs_base = run->s.regs.sregs.fs.base;
	u->gs_base = run->s.regs.sregs.gs.base;
}

void kvm_trap_user_regs(struct kvm_ctx *kc, struct cpu_state *cpu)
{
	const struct kvm_regs *r = &kc->v->run->s.regs.regs;

	gprs_pull(kc->v->run, &cpu->regs);
	cpu->regs.rip = r->rip;
	cpu->regs.rsp = r->rsp;
	cpu->regs.eflags = r->rflags;
}

/* The frame the CPU pushed on the ring-0 stack, past the error code; NULL if rsp is off. */
static const uint64_t *frame(struct vcpu *v, unsigned vector, uint64_t *err)
{
	uint64_t rsp = v->run->s.regs.regs.rsp, words = has_error_code(vector) ? 6 : 5;
	const uint64_t *f;

	if (rsp < v->stack_va || rsp > v->stack_va + KVM_PAGE - words * 8)
		return NULL;
	f = (const uint64_t *)(v->stack + (rsp - v->stack_va));
	*err = has_error_code(vector) ? *f++ : 0;
	return f;
}

static void page_fault(const struct cpu_state *cpu, uint64_t err, uint64_t cr2, struct trap *out)
{
	kvm_trap_fill(out, TRAP_FAULT, SIGSEGV, err & PF_PROT ? SEGV_ACCERR : SEGV_MAPERR, cr2, 14);
	out->access = err & PF_INSTR ? ACCESS_EXEC : err & PF_WRITE ? ACCESS_WRITE : ACCESS_READ;
	if (err & PF_RSVD)
		log_err("kvm: reserved-bit page fault at %#llx (rip %#llx): bad page table",
			(unsigned long long)cr2, (unsigned long long)cpu->regs.rip);
}

/* Linux's si_code for an x87 (#MF) or SIMD (#XM) exception, from the saved FPU state. */
static int fpe_code(struct kvm_ctx *kc, struct cpu_state *cpu, unsigned vector)
{
	uint16_t fcw, fsw;
	uint32_t mxcsr, e;

	if (!cpu->fpu || kvm_fpu_pull(kc, cpu) < 0)
		return SI_KERNEL;
	memcpy(&fcw, cpu->fpu, 2);
	memcpy(&fsw, cpu->fpu + 2, 2);
	memcpy(&mxcsr, cpu->fpu + 24, 4);
	e = vector == 16 ? (uint32_t)(fsw & ~fcw) : (~(mxcsr >> 7) & mxcsr);
	if (e & 0x01)
		return FPE_FLTINV;
	if (e & 0x04)
		return FPE_FLTDIV;
	if (e & 0x08)
		return FPE_FLTOVF;
	if (e & 0x12)
		return FPE_FLTUND;
	if (e & 0x20)
		return FPE_FLTRES;
	return SI_KERNEL;
}

static int debug_code(struct kvm_ctx *kc)
{
	struct kvm_debugregs d;

	if (ioctl(kc->v->fd, KVM_GET_DEBUGREGS, &d) < 0)
		return TRAP_BRKPT;
	if (d.dr6 & DR6_BS)
		return TRAP_TRACE;
	return d.dr6 & DR6_BMASK ? TRAP_HWBKPT : TRAP_BRKPT;
}

/*
 * kvm_pvm turns every `int n` from ring 3 into #UD.  Linux gives SIGTRAP for int $3 (rip
 * after it) and #GP for the rest (int $0x80, the 32-bit syscall gate, is not offered: the
 * sentry has no 32-bit syscall table, as on a kernel without IA32 emulation).
 */
static void invalid_opcode(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out)
{
	uint8_t insn[2];

	if (kvm_as_read(kc->as, cpu->regs.rip, insn, 2) < 0 || insn[0] != 0xcd) {
		kvm_trap_fill(out, TRAP_SIGNAL, SIGILL, ILL_ILLOPN, cpu->regs.rip, 6);
	} else if (insn[1] == 3) {
		cpu->regs.rip += 2;
		kvm_trap_fill(out, TRAP_SIGNAL, SIGTRAP, SI_KERNEL, 0, 3);
	} else {
		kvm_trap_fill(out, TRAP_SIGNAL, SIGSEGV, SI_KERNEL, 0, 13);
	}
}

/* Exceptions other than #PF: the signal Linux would force. */
static int exception(struct kvm_ctx *kc, struct cpu_state *cpu, unsigned vector, struct trap *out)
{
	uint64_t rip = cpu->regs.rip;

	switch (vector) {
	case 0:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGFPE, FPE_INTDIV, rip, 0);
		return 0;
	case 1:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGTRAP, debug_code(kc), rip, 1);
		return 0;
	case 3:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGTRAP, SI_KERNEL, 0, 3);
		return 0;
	case 6:
		invalid_opcode(kc, cpu, out);
		return 0;
	case 4: case 5: case 10: case 13:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGSEGV, SI_KERNEL, 0, (int)vector);
		return 0;
	case 11: case 12:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGBUS, SI_KERNEL, 0, (int)vector);
		return 0;
	case 16: case 19:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGFPE, fpe_code(kc, cpu, vector), rip,
			      (int)vector);
		return 0;
	case 17:
		kvm_trap_fill(out, TRAP_SIGNAL, SIGBUS, BUS_ADRALN, 0, 17);
		return 0;
	}
	log_err("kvm: vCPU %u: exception %u at rip %#llx", kc->v->id, vector,
		(unsigned long long)rip);
	return -EIO;
}

/* `syscall` ran: the stack is the application's, rcx and r11 hold its rip and rflags. */
static void syscall_trap(const struct kvm_run *run, struct cpu_state *cpu, uint64_t rsp,
			 struct trap *out)
{
	gprs_pull(run, &cpu->regs);
	cpu->regs.rip = run->s.regs.regs.rcx;
	cpu->regs.eflags = run->s.regs.regs.r11;
	cpu->regs.rsp = rsp;
	cpu->regs.orig_rax = cpu->regs.rax;
	kvm_trap_fill(out, TRAP_SYSCALL, 0, 0, 0, -1);
}

int kvm_trap_syscall(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out)
{
	syscall_trap(kc->v->run, cpu, kc->v->run->s.regs.regs.rsp, out);
	return 0;
}

int kvm_trap_decode(struct kvm_ctx *kc, unsigned vector, struct cpu_state *cpu, struct trap *out)
{
	const struct kvm_run *run = kc->v->run;
	uint64_t err, cr2 = run->s.regs.sregs.cr2;
	const uint64_t *f = frame(kc->v, vector, &err);

	if (!f || (f[1] & 3) != 3) { /* a trap in ring 0 is a platform bug */
		log_err("kvm: vCPU %u: exception %u outside the application (rsp %#llx)",
			kc->v->id, vector, run->s.regs.regs.rsp);
		return -EIO;
	}
	if (vector == 14 && cr2 == KVM_LSTAR_VA && f[0] == KVM_LSTAR_VA) {
		syscall_trap(run, cpu, f[3], out);
		return 0;
	}
	gprs_pull(run, &cpu->regs);
	cpu->regs.rip = f[0];
	cpu->regs.eflags = f[2];
	cpu->regs.rsp = f[3];
	if (vector == 14) {
		page_fault(cpu, err, cr2, out);
		return 0;
	}
	return exception(kc, cpu, vector, out);
}
