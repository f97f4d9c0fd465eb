/*
 * x86-64 signal frames: what Linux's setup_rt_frame writes and rt_sigreturn reads, so glibc's
 * restorer and handlers see exactly the layout they expect, including the XSAVE fpstate with
 * its software-reserved magic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/platform.h"
#include "kernel_internal.h"

#define REDZONE 128
#define FXSAVE_SIZE 512
#define SW_RESERVED_OFF 464
#define XSTATE_BV_OFF 512
#define MXCSR_OFF 24
/* eflags bits the application may set through a signal frame */
#define FIX_EFLAGS 0x40dd5ull /* AC OF DF TF SF ZF AF PF CF RF */

static uint64_t xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static bool on_altstack(const struct task *t, uint64_t sp)
{
	return t->altstack.ss_size && sp > t->altstack.ss_sp &&
	       sp <= t->altstack.ss_sp + t->altstack.ss_size;
}

/* Where the frame goes: the altstack when asked for and not already on it. */
static uint64_t frame_sp(struct task *t, const struct linux_sigaction *act, size_t size)
{
	uint64_t sp = t->cpu.regs.rsp;

	if ((act->flags & LINUX_SA_ONSTACK) && !(t->altstack.ss_flags & LINUX_SS_DISABLE) &&
	    t->altstack.ss_size && !on_altstack(t, sp)) {
		sp = t->altstack.ss_sp + t->altstack.ss_size;
		if (t->altstack.ss_flags & LINUX_SS_AUTODISARM)
			t->altstack.ss_flags = LINUX_SS_DISABLE;
	} else {
		sp -= REDZONE;
	}
	return sp - size;
}

static void fill_sigcontext(struct task *t, struct linux_sigcontext *sc, linux_sigset_t old,
			    uint64_t fpstate)
{
	const struct cpu_regs *r = &t->cpu.regs;

	*sc = (struct linux_sigcontext){
		.r8 = r->r8, .r9 = r->r9, .r10 = r->r10, .r11 = r->r11,
		.r12 = r->r12, .r13 = r->r13, .r14 = r->r14, .r15 = r->r15,
		.rdi = r->rdi, .rsi = r->rsi, .rbp = r->rbp, .rbx = r->rbx,
		.rdx = r->rdx, .rax = r->rax, .rcx = r->rcx, .rsp = r->rsp,
		.rip = r->rip, .eflags = r->eflags,
		.cs = (uint16_t)r->cs, .ss = (uint16_t)r->ss,
		.err = t->fault_err, .trapno = t->fault_trapno, .cr2 = t->fault_cr2,
		.oldmask = old, .fpstate = fpstate,
	};
}

/* Copies the FPU image out with the sw_reserved magic that marks an XSAVE frame. */
static int write_fpstate(struct task *t, uint64_t addr, size_t fpsize)
{
	uint8_t *buf = malloc(fpsize + 4);
	struct linux_fpx_sw_bytes sw = {
		.magic1 = LINUX_FP_XSTATE_MAGIC1,
		.extended_size = (uint32_t)fpsize + 4,
		.xfeatures = xcr0(),
		.xstate_size = (uint32_t)fpsize,
	};
	uint32_t magic2 = LINUX_FP_XSTATE_MAGIC2;
	int r;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, t->cpu.fpu, fpsize);
	memcpy(buf + SW_RESERVED_OFF, &sw, sizeof(sw));
	memcpy(buf + fpsize, &magic2, 4);
	r = copy_out_all(t, addr, buf, fpsize + 4);
	free(buf);
	return r;
}

int signal_setup_frame(struct task *t, const struct linux_sigaction *act,
		       const struct linux_siginfo *info, linux_sigset_t old_mask)
{
	size_t fpsize = cpu_fpu_size();
	struct linux_rt_sigframe frame;
	uint64_t sp, fp, fa;
	int r;

	if ((r = platform_pull_full_state(t->ctx, t->mm->as, &t->cpu)) < 0)
		return r;
	sp = frame_sp(t, act, 0);
	fp = (sp - fpsize - 4) & ~63ull;
	fa = ((fp - sizeof(frame) + 8) & ~15ull) - 8;

	memset(&frame, 0, sizeof(frame));
	frame.pretcode = act->restorer;
	frame.uc.uc_flags = LINUX_UC_FP_XSTATE | LINUX_UC_SIGCONTEXT_SS | LINUX_UC_STRICT_RESTORE_SS;
	frame.uc.uc_stack.ss_sp = t->altstack.ss_sp;
	frame.uc.uc_stack.ss_size = t->altstack.ss_size;
	frame.uc.uc_stack.ss_flags = t->altstack.ss_size == 0 ? LINUX_SS_DISABLE
				     : on_altstack(t, t->cpu.regs.rsp) ? LINUX_SS_ONSTACK
								       : t->altstack.ss_flags;
	fill_sigcontext(t, &frame.uc.uc_mcontext, old_mask, fp);
	frame.uc.uc_sigmask = old_mask;
	frame.info = *info;
	if ((r = write_fpstate(t, fp, fpsize)) < 0 || (r = copy_out_all(t, fa, &frame, sizeof(frame))) < 0)
		return r;

	struct cpu_regs *regs = &t->cpu.regs;

	regs->rsp = fa;
	regs->rip = act->handler;
	regs->rdi = (uint64_t)info->signo;
	regs->rsi = fa + offsetof(struct linux_rt_sigframe, info);
	regs->rdx = fa + offsetof(struct linux_rt_sigframe, uc);
	regs->rax = 0;
	regs->eflags &= ~(0x100ull | 0x400ull | 0x10000ull); /* TF DF RF */
	cpu_fpu_init(t->cpu.fpu);
	t->cpu.fpu_valid = true;
	t->cpu.fpu_dirty = true;
	return 0;
}

/* Loads an application-supplied FPU image, refusing what XRSTOR would fault on. */
static int read_fpstate(struct task *t, uint64_t addr)
{
	size_t fpsize = cpu_fpu_size();
	uint8_t *buf;
	uint64_t bv;
	uint32_t mxcsr;
	int r;

	if (addr == 0) {
		cpu_fpu_init(t->cpu.fpu);
		goto done;
	}
	if (addr & 63)
		return -EFAULT;
	buf = malloc(fpsize);
	if (!buf)
		return -ENOMEM;
	if ((r = copy_in_all(t, addr, buf, fpsize)) < 0) {
		free(buf);
		return r;
	}
	memcpy(&mxcsr, buf + MXCSR_OFF, 4);
	memcpy(&bv, buf + XSTATE_BV_OFF, 8);
	if ((mxcsr & 0xffff0000u) || (bv & ~xcr0())) {
		free(buf);
		return -EFAULT;
	}
	memset(buf + XSTATE_BV_OFF + 8, 0, 56); /* xcomp_bv and reserved must be zero */
	memcpy(t->cpu.fpu, buf, fpsize);
	free(buf);
done:
	t->cpu.fpu_valid = true;
	t->cpu.fpu_dirty = true;
	return 0;
}

/* sigaltstack(&uc_stack, NULL) as rt_sigreturn does it: failures are ignored. */
static void restore_altstack(struct task *t, const struct linux_stack *ss)
{
	uint32_t mode = (uint32_t)ss->ss_flags & ~LINUX_SS_AUTODISARM;

	if (on_altstack(t, t->cpu.regs.rsp))
		return;
	if (mode == LINUX_SS_DISABLE) {
		t->altstack = (struct linux_stack){.ss_flags = LINUX_SS_DISABLE};
	} else if (mode == 0 && ss->ss_size >= LINUX_MINSIGSTKSZ) {
		t->altstack.ss_sp = ss->ss_sp;
		t->altstack.ss_size = ss->ss_size;
		t->altstack.ss_flags = ss->ss_flags;
	}
}

int signal_sigreturn(struct task *t)
{
	struct linux_ucontext uc;
	const struct linux_sigcontext *sc = &uc.uc_mcontext;
	struct cpu_regs *r = &t->cpu.regs;
	int e;

	if ((e = copy_in_all(t, r->rsp, &uc, sizeof(uc))) < 0) /* rsp = frame + 8 */
		return e;
	if ((e = read_fpstate(t, sc->fpstate)) < 0)
		return e;
	r->r8 = sc->r8, r->r9 = sc->r9, r->r10 = sc->r10, r->r11 = sc->r11;
	r->r12 = sc->r12, r->r13 = sc->r13, r->r14 = sc->r14, r->r15 = sc->r15;
	r->rdi = sc->rdi, r->rsi = sc->rsi, r->rbp = sc->rbp, r->rbx = sc->rbx;
	r->rdx = sc->rdx, r->rax = sc->rax, r->rcx = sc->rcx, r->rsp = sc->rsp;
	r->rip = sc->rip;
	r->eflags = (r->eflags & ~FIX_EFLAGS) | (sc->eflags & FIX_EFLAGS);
	r->orig_rax = (uint64_t)-1;
	t->in_syscall = false;
	signal_set_mask(t, uc.uc_sigmask);
	restore_altstack(t, &uc.uc_stack);
	return 0;
}
