/*
 * Turning a ptrace stop of a stub thread into what switch_context reports.
 *
 *  syscall-enter stop (SIGTRAP | 0x80)   TRAP_SYSCALL; the number is in regs.orig_rax (rax is
 *                                        set to it too; the kernel itself holds -ENOSYS).
 *  SIGSEGV from a page fault             TRAP_FAULT: addr, si_code, ACCESS_EXEC when the
 *                                        fault address is rip, else 0 (unknown).
 *  SIGSYS from a vsyscall                TRAP_FAULT at the vsyscall address, ACCESS_EXEC,
 *                                        with rip/rsp as they were at the call: what a host
 *                                        without vsyscall emulation would report.
 *  other kernel-generated signals        TRAP_SIGNAL (SIGILL, SIGFPE, SIGTRAP, SIGBUS, and
 *  (si_code > 0)                         SIGSEGV with SI_KERNEL: #GP, CPUID faulting).
 *  our interrupt signal                  TRAP_INTERRUPT if one is pending, else dropped.
 *  anything else                         dropped: the signal is never delivered to the stub.
 */
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "ptrace_internal.h"

#define VSYSCALL_ADDR 0xffffffffff600000ull
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif

/* The CPU exception behind a kernel-generated signal, when it is unambiguous. */
static int trapno_of(int signo, int code)
{
	switch (signo) {
	case SIGSEGV:
		return code == SI_KERNEL ? 13 : 14;
	case SIGBUS:
		return code == BUS_ADRALN ? 17 : code == BUS_ADRERR ? 14 : -1;
	case SIGILL:
		return 6;
	case SIGFPE:
		return code == FPE_INTDIV ? 0 : -1;
	case SIGTRAP:
		return code == SI_KERNEL ? 3 : code == TRAP_TRACE || code == TRAP_HWBKPT ? 1 : -1;
	default:
		return -1;
	}
}

static void fill_signal(struct trap *out, const siginfo_t *si)
{
	out->kind = TRAP_SIGNAL;
	out->signo = si->si_signo;
	out->code = si->si_code;
	out->addr = (uint64_t)(uintptr_t)si->si_addr;
	out->access = 0;
	out->trapno = trapno_of(si->si_signo, si->si_code);
}

static bool is_vsyscall(const siginfo_t *si)
{
	uint64_t a = (uint64_t)(uintptr_t)si->si_call_addr;

	return si->si_signo == SIGSYS && si->si_code == SYS_SECCOMP && a >= VSYSCALL_ADDR &&
	       a < VSYSCALL_ADDR + 4096;
}

/* Classifies a signal stop; fills *out for STOP_REPORT. */
static enum stop_verdict classify_signal(struct ptrace_context *pc, const siginfo_t *si,
					 struct trap *out)
{
	if (si->si_signo == STUB_INTERRUPT_SIGNAL && si->si_code == SI_TKILL &&
	    si->si_pid == pc->pp->sentry_pid)
		return atomic_exchange(&pc->pending, false) ? STOP_INTERRUPT : STOP_RESUME;
	if (si->si_code <= 0 || si->si_signo == SIGCHLD)
		return STOP_RESUME;
	if (is_vsyscall(si)) {
		out->kind = TRAP_FAULT;
		out->signo = SIGSEGV;
		out->code = SEGV_MAPERR;
		out->addr = (uint64_t)(uintptr_t)si->si_call_addr;
		out->access = ACCESS_EXEC;
		out->trapno = 14;
		return STOP_REPORT;
	}
	fill_signal(out, si);
	if (si->si_signo == SIGSEGV && si->si_code != SI_KERNEL)
		out->kind = TRAP_FAULT;
	return STOP_REPORT;
}

/* Reads the registers at a reported stop into t->kregs and cpu->regs. */
static int fetch_regs(struct stub_thread *t, struct trap *out, bool vsyscall, struct cpu_state *cpu)
{
	int r = tracee_getregs(t->tid, &t->kregs);

	if (r < 0)
		return r;
	t->kregs_valid = true;
	cpu->regs = t->kregs;
	switch (out->kind) {
	case TRAP_SYSCALL:
		cpu->regs.rax = cpu->regs.orig_rax;
		break;
	case TRAP_FAULT:
		if (vsyscall) {
			/* The kernel already emulated the `ret`; undo it. */
			cpu->regs.rip = out->addr;
			cpu->regs.rsp -= 8;
		} else if (out->addr == cpu->regs.rip) {
			out->access = ACCESS_EXEC;
		}
		break;
	default:
		break;
	}
	return 0;
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

int trap_decode(struct ptrace_context *pc, struct stub_thread *t, int status, struct cpu_state *cpu,
		struct trap *out, enum stop_verdict *verdict)
{
	bool vsyscall = false;
	siginfo_t si;

	*verdict = STOP_RESUME;
	if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
		report_interrupt(out);
		out->kind = TRAP_SYSCALL;
		*verdict = STOP_REPORT;
	} else if ((status >> 16) != 0) {
		return 0; /* PTRACE_EVENT_STOP (group-stop) and the like: just resume */
	} else {
		if (ptrace(PTRACE_GETSIGINFO, t->tid, NULL, &si) < 0)
			return -errno;
		*verdict = classify_signal(pc, &si, out);
		if (*verdict == STOP_INTERRUPT)
			report_interrupt(out);
		vsyscall = *verdict == STOP_REPORT && is_vsyscall(&si);
	}
	if (*verdict == STOP_RESUME)
		return 0;
	return fetch_regs(t, out, vsyscall, cpu);
}

void trap_interrupt(struct trap *out)
{
	report_interrupt(out);
}
