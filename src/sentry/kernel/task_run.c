/*
 * The task loop: one host thread per application thread, alternating between running
 * application code on the platform and serving what made it trap (DESIGN.md §2).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "kernel_internal.h"

#define SEGV_MAPERR_ 1
#define SEGV_ACCERR_ 2
#define BUS_ADRERR_ 2
#define PF_PROT 0x1
#define PF_WRITE 0x2
#define PF_USER 0x4
#define PF_INSTR 0x10

/* Application cpuid, when the platform faults it (CPUID faulting): the host's answer. */
bool cpuid_emulate(struct task *t);

static void kill_group(struct task *t, int sig)
{
	struct linux_siginfo info;

	siginfo_kill(&info, sig, LINUX_SI_KERNEL, NULL);
	pthread_mutex_lock(&t->k->lock);
	if (!t->tg->exiting) {
		t->tg->exiting = true;
		t->tg->exit_code = sig;
		thread_group_kill_locked(t->tg, NULL);
	}
	pthread_mutex_unlock(&t->k->lock);
}

static void handle_fault(struct task *t, const struct trap *tr)
{
	bool repeated = t->last_fault_addr == tr->addr && t->last_fault_rip == t->cpu.regs.rip;
	int r = mm_handle_fault(t->mm, tr->addr, tr->access, repeated);

	t->last_fault_addr = tr->addr;
	t->last_fault_rip = t->cpu.regs.rip;
	if (r == 0)
		return;
	t->last_fault_addr = t->last_fault_rip = 0;
	log_debug("task %d: fault at %#llx (rip %#llx, access %#x): %s", t->tid,
		  (unsigned long long)tr->addr, (unsigned long long)t->cpu.regs.rip, tr->access,
		  strerror(-r));
	t->fault_trapno = 14;
	t->fault_cr2 = tr->addr;
	t->fault_err = PF_USER | ((tr->access & ACCESS_WRITE) ? PF_WRITE : 0) |
		       ((tr->access & ACCESS_EXEC) ? PF_INSTR : 0) | (r == -EACCES ? PF_PROT : 0);
	switch (r) {
	case -EACCES:
		signal_force(t, 11, SEGV_ACCERR_, tr->addr);
		break;
	case -EIO:
		signal_force(t, 7, BUS_ADRERR_, tr->addr);
		break;
	case -ENOMEM:
		log_warn("task %d: out of memory at %#llx: killed", t->tid,
			 (unsigned long long)tr->addr);
		kill_group(t, 9);
		break;
	default:
		signal_force(t, 11, SEGV_MAPERR_, tr->addr);
		break;
	}
}

static void handle_signal_trap(struct task *t, const struct trap *tr)
{
	/* A #GP from cpuid (CPUID faulting) arrives as SIGSEGV/SI_KERNEL. */
	if (tr->signo == 11 && tr->code == LINUX_SI_KERNEL && cpuid_emulate(t))
		return;
	log_debug("task %d: signal %d code %d addr %#llx at rip %#llx", t->tid, tr->signo, tr->code,
		  (unsigned long long)tr->addr, (unsigned long long)t->cpu.regs.rip);
	if (tr->signo == 31)
		log_warn("task %d: SIGSYS from the platform: code %d rip %#llx rax %#llx orig %#llx rdi %#llx rsi %#llx syscalls %llu",
			 t->tid, tr->code, (unsigned long long)t->cpu.regs.rip,
			 (unsigned long long)t->cpu.regs.rax, (unsigned long long)t->cpu.regs.orig_rax,
			 (unsigned long long)t->cpu.regs.rdi, (unsigned long long)t->cpu.regs.rsi,
			 (unsigned long long)t->nr_syscalls);
	t->fault_trapno = tr->trapno >= 0 ? (uint64_t)tr->trapno : 0;
	t->fault_err = 0;
	t->fault_cr2 = 0;
	signal_force(t, tr->signo, tr->code, tr->addr);
}

static void run_once(struct task *t)
{
	struct trap tr;
	int r = platform_switch(t->ctx, t->mm->as, &t->cpu, &tr);

	if (r < 0) {
		log_warn("task %d: the platform cannot run it (%s): killed", t->tid, strerror(-r));
		kill_group(t, 9);
		return;
	}
	switch (tr.kind) {
	case TRAP_SYSCALL:
		t->last_fault_addr = 0; /* progress: a later identical fault is new */
		syscall_dispatch(t);
		break;
	case TRAP_FAULT:
		handle_fault(t, &tr);
		break;
	case TRAP_SIGNAL:
		if (tr.signo == 11 && tr.code != LINUX_SI_KERNEL) {
			handle_fault(t, &tr);
			break;
		}
		handle_signal_trap(t, &tr);
		break;
	case TRAP_INTERRUPT:
		break;
	}
}

void *task_main(void *arg)
{
	struct task *t = arg;
	struct context *c;
	sigset_t block;

	sigfillset(&block);
	sigdelset(&block, SIGSEGV);
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGILL);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &block, NULL);
	task_cputime_start(t);

	c = platform_new_context(t->k->platform);
	if (IS_ERR(c)) {
		log_err("task %d: no platform context: %s", t->tid, strerror((int)-PTR_ERR(c)));
		kill_group(t, 9);
	} else {
		__atomic_store_n(&t->ctx, c, __ATOMIC_SEQ_CST);
		while (task_handle_signals(t))
			run_once(t);
	}
	task_finish(t);
	if (!IS_ERR(c)) {
		/* task_interrupt() reads ctx under kernel->lock: none can be using c after this. */
		pthread_mutex_lock(&t->k->lock);
		__atomic_store_n(&t->ctx, NULL, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&t->k->lock);
		platform_release_context(c);
	}
	pthread_mutex_lock(&t->k->lock);
	if (--t->k->live_threads == 0 && t->k->shutdown)
		kernel_notify_locked(t->k);
	pthread_cond_broadcast(&t->k->idle_cond);
	pthread_mutex_unlock(&t->k->lock);
	task_put(t);
	return NULL;
}
