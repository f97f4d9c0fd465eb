/*
 * The systrap stub's C code, run by application threads in the stub: the signal handler
 * (SIGSYS for syscalls, SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP for faults, SIGCHLD for
 * interrupts), the C half of patched syscall sites, and the handoff to the sentry.
 *
 * Freestanding: no libc, no TLS (%fs is the application's), no FPU or vector registers
 * (-mgeneral-regs-only: the application's are live on the trampoline path), no stack
 * protector.  A thread finds its message page from its stack pointer: every stack it runs on
 * lies in its own slot, aligned to STUB_SLOT_SIZE.
 *
 * Protocol with the sentry, per thread: the stub fills sm->regs and the trap fields and bumps
 * trap_seq; the sentry answers with a command and bumps cmd_seq.  Each side spins a bounded
 * time, then sleeps in FUTEX_WAIT with SEQ_SLEEP set so the other knows to wake it.
 */
#include <stdbool.h>
#include <stdint.h>

#include "../sysmsg.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define NORETURN __attribute__((noreturn))

#define SIGILL_ 4
#define SIGTRAP_ 5
#define SIGSEGV_ 11
#define SIGCHLD_ 17
#define SIGSYS_ 31
#define SYS_SECCOMP_ 1
#define SYS_sched_yield_ 24
#define SYS_exit_ 60
#define SYS_arch_prctl_ 158
#define SYS_futex_ 202
#define ARCH_SET_GS_ 0x1001
#define ARCH_SET_FS_ 0x1002
#define FUTEX_WAIT_ 0
#define FUTEX_WAKE_ 1
#define VSYSCALL_PAGE 0xffffffffff600000ull

/* The kernel's siginfo and signal frame, as much as the stub reads. */
struct k_siginfo {
	int32_t signo, errno_, code, pad;
	union {
		uint64_t addr; /* faults */
		struct {
			uint64_t call_addr;
			int32_t syscall;
			uint32_t arch;
		} sys;
	} u;
};

struct k_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate;
};

struct k_ucontext {
	uint64_t flags, link;
	struct blob_stack stack;
	struct k_sigcontext mc;
};

extern const volatile struct blob_config blob_config HIDDEN;
extern const char stub_blob_start[] HIDDEN, stub_code_end[] HIDDEN;
extern const char stub_tramp[] HIDDEN, stub_tramp_stack[] HIDDEN, stub_tramp_saved[] HIDDEN;
extern const char stub_tramp_fallback[] HIDDEN, stub_ret_begin[] HIDDEN, stub_ret_end[] HIDDEN;
extern int stub_return(struct sysmsg *sm) HIDDEN;
extern void stub_die(void) HIDDEN NORETURN;

void stub_handler(int sig, struct k_siginfo *si, struct k_ucontext *uc) HIDDEN;
void stub_tramp_c(struct sysmsg *sm) HIDDEN NORETURN;
void stub_thread_main(struct sysmsg *sm) HIDDEN NORETURN;

/* The compiler may emit calls to these for plain assignments. */
void *memcpy(void *d, const void *s, unsigned long n) HIDDEN;
void *memset(void *d, int c, unsigned long n) HIDDEN;

void *memcpy(void *d, const void *s, unsigned long n)
{
	char *dp = d;
	const char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, unsigned long n)
{
	char *dp = d;

	while (n--)
		*dp++ = (char)c;
	return d;
}

/* ---- primitives ---- */

static inline long sc2(long nr, long a, long b)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static inline long sc4(long nr, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The CPU we run on (Linux keeps it in TSC_AUX). */
static inline uint32_t cpu_now(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return aux & 0xfff;
}

static inline uint32_t load(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static inline uint32_t xchg(uint32_t *w, uint32_t v)
{
	return __atomic_exchange_n(w, v, __ATOMIC_SEQ_CST);
}

static inline bool cfg_has(uint32_t f)
{
	return (blob_config.flags & f) != 0;
}

static inline uint64_t slot_of(const struct sysmsg *sm)
{
	return (uint64_t)sm - SLOT_MSG_OFF;
}

/* This thread's message page, from the stack pointer; dies if the stack is not a slot's. */
static inline struct sysmsg *msg_from_sp(void)
{
	uint64_t sp, base = (uint64_t)stub_blob_start;

	__asm__("movq %%rsp, %0" : "=r"(sp));
	if (sp < base + STUB_SLOTS_OFF || sp >= base + STUB_REGION_SIZE)
		stub_die();
	return (struct sysmsg *)((sp & ~(STUB_SLOT_SIZE - 1)) + SLOT_MSG_OFF);
}

/* ---- the handoff ---- */

/* Bumps *w and wakes a sleeping sentry; true if it had to. */
static bool post(uint32_t *w)
{
	uint32_t old = __atomic_load_n(w, __ATOMIC_RELAXED);

	if (!(xchg(w, (old & ~SEQ_SLEEP) + 2) & SEQ_SLEEP))
		return false;
	sc4(SYS_futex_, (long)w, FUTEX_WAKE_, 1, 0);
	return true;
}

/*
 * Waits until sm's *w (ignoring SEQ_SLEEP) differs from seen; returns the new value.  Spins on
 * another CPU than the sentry's, yields the CPU when the sentry wants this one (at once if it
 * last waited here, else now and then), and sleeps in the end.  A sentry we just woke needs
 * 25-50 us to run: then spin long enough not to fall asleep ourselves meanwhile.
 */
static uint32_t wait_change(struct sysmsg *sm, uint32_t *w, uint32_t seen, bool woke)
{
	uint64_t t0 = tsc(), yield = blob_config.yield;
	uint64_t spin = woke ? blob_config.woke_spin : blob_config.wait_spin;
	uint64_t now, yielded = t0;
	uint32_t v, exp, me = cpu_now();

	__atomic_store_n(&sm->stub_cpu, me, __ATOMIC_RELAXED);
	for (;;) {
		v = load(w) & ~SEQ_SLEEP;
		if (v != seen)
			return v;
		now = tsc();
		if (now - t0 >= spin)
			break;
		if (now - yielded >= yield ||
		    __atomic_load_n(&sm->sentry_cpu, __ATOMIC_RELAXED) == me) {
			sc2(SYS_sched_yield_, 0, 0);
			yielded = tsc();
		} else {
			__asm__ volatile("pause");
		}
	}
	for (;;) {
		exp = seen;
		if (__atomic_compare_exchange_n(w, &exp, seen | SEQ_SLEEP, false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST) ||
		    exp == (seen | SEQ_SLEEP)) {
			sc4(SYS_futex_, (long)w, FUTEX_WAIT_, seen | SEQ_SLEEP, 0);
			continue;
		}
		return exp & ~SEQ_SLEEP;
	}
}

static uint8_t *fpu_area(struct sysmsg *sm)
{
	return (uint8_t *)(slot_of(sm) + SLOT_FPU_OFF);
}

static void fpu_save(struct sysmsg *sm)
{
	uint64_t m = blob_config.xsave_mask;

	if (cfg_has(CFG_F_XSAVE))
		__asm__ volatile("xsave64 (%0)"
				 :
				 : "r"(fpu_area(sm)), "a"((uint32_t)m), "d"((uint32_t)(m >> 32))
				 : "memory");
	else
		__asm__ volatile("fxsave64 (%0)" : : "r"(fpu_area(sm)) : "memory");
}

static void fpu_restore(struct sysmsg *sm)
{
	uint64_t m = blob_config.xsave_mask;

	if (cfg_has(CFG_F_XSAVE))
		__asm__ volatile("xrstor64 (%0)"
				 :
				 : "r"(fpu_area(sm)), "a"((uint32_t)m), "d"((uint32_t)(m >> 32))
				 : "memory");
	else
		__asm__ volatile("fxrstor64 (%0)" : : "r"(fpu_area(sm)) : "memory");
}

/* Serves the sentry's commands until it says RUN; `seen` is cmd_seq before the last report. */
static void wait_run(struct sysmsg *sm, uint32_t seen, bool woke)
{
	for (;;) {
		seen = wait_change(sm, &sm->cmd_seq, seen, woke);
		switch (__atomic_load_n(&sm->cmd, __ATOMIC_ACQUIRE)) {
		case SYSMSG_CMD_RUN:
			return;
		case SYSMSG_CMD_SAVE_FPU:
			fpu_save(sm);
			sm->kind = SYSMSG_FPU_SAVED;
			woke = post(&sm->trap_seq);
			break;
		case SYSMSG_CMD_EXIT:
			for (;;)
				sc2(SYS_exit_, 0, 0);
		default:
			break; /* not ours to make sense of: wait for the next one */
		}
	}
}

/* Hands the thread to the sentry with `kind` and waits for RUN. */
static void report_and_wait(struct sysmsg *sm, uint32_t kind)
{
	uint32_t seen = load(&sm->cmd_seq) & ~SEQ_SLEEP;

	sm->kind = kind;
	wait_run(sm, seen, post(&sm->trap_seq));
}

/* ---- fs and gs bases ---- */

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static void set_base(int which, uint64_t v, uint64_t *cur)
{
	if (cfg_has(CFG_F_FSGSBASE) && canonical(v)) {
		if (which == ARCH_SET_FS_)
			__asm__ volatile("wrfsbase %0" : : "r"(v));
		else
			__asm__ volatile("wrgsbase %0" : : "r"(v));
	} else if (sc2(SYS_arch_prctl_, which, (long)v) != 0) {
		return;
	}
	*cur = v;
}

/* The bases the sentry asked for; gs 0 means ours (the patched path needs it). */
static void apply_bases(struct sysmsg *sm)
{
	uint64_t fs = sm->regs.fs_base, gs = sm->regs.gs_base;

	if (gs == 0 && cfg_has(CFG_F_PATCHING))
		gs = sm->self;
	if (fs != sm->cur_fs)
		set_base(ARCH_SET_FS_, fs, &sm->cur_fs);
	if (gs != sm->cur_gs)
		set_base(ARCH_SET_GS_, gs, &sm->cur_gs);
}

static void report_bases(struct sysmsg *sm)
{
	uint64_t fs = sm->cur_fs, gs = sm->cur_gs;

	if (cfg_has(CFG_F_FSGSBASE)) {
		__asm__ volatile("rdfsbase %0" : "=r"(fs));
		__asm__ volatile("rdgsbase %0" : "=r"(gs));
		sm->cur_fs = fs;
		sm->cur_gs = gs;
	}
	sm->regs.fs_base = fs;
	sm->regs.gs_base = gs == sm->self && cfg_has(CFG_F_PATCHING) ? 0 : gs;
}

/* ---- the signal path ---- */

static void save_mc(struct sysmsg *sm, const struct k_sigcontext *mc)
{
	struct sysmsg_regs *r = &sm->regs;

	r->r8 = mc->r8, r->r9 = mc->r9, r->r10 = mc->r10, r->r11 = mc->r11;
	r->r12 = mc->r12, r->r13 = mc->r13, r->r14 = mc->r14, r->r15 = mc->r15;
	r->rdi = mc->rdi, r->rsi = mc->rsi, r->rbp = mc->rbp, r->rbx = mc->rbx;
	r->rdx = mc->rdx, r->rax = mc->rax, r->rcx = mc->rcx, r->rsp = mc->rsp;
	r->rip = mc->rip, r->eflags = mc->eflags;
	r->cs = blob_config.cs, r->ss = blob_config.ss;
	r->ds = r->es = r->fs = r->gs = 0;
	r->orig_rax = (uint64_t)-1;
	report_bases(sm);
}

/* Selectors stay the kernel's; rt_sigreturn filters the flags. */
static void load_mc(struct k_sigcontext *mc, const struct sysmsg *sm)
{
	const struct sysmsg_regs *r = &sm->regs;

	mc->r8 = r->r8, mc->r9 = r->r9, mc->r10 = r->r10, mc->r11 = r->r11;
	mc->r12 = r->r12, mc->r13 = r->r13, mc->r14 = r->r14, mc->r15 = r->r15;
	mc->rdi = r->rdi, mc->rsi = r->rsi, mc->rbp = r->rbp, mc->rbx = r->rbx;
	mc->rdx = r->rdx, mc->rax = r->rax, mc->rcx = r->rcx, mc->rsp = r->rsp;
	mc->rip = r->rip, mc->eflags = r->eflags;
}

/* Reports, waits, and repeats while interrupts come in; leaves the reply in the frame. */
static void roundtrip_frame(struct sysmsg *sm, uint32_t kind, struct k_sigcontext *mc)
{
	sm->fpstate = mc->fpstate;
	for (;;) {
		report_and_wait(sm, kind);
		apply_bases(sm);
		if (!xchg(&sm->interrupt, 0))
			break;
		kind = SYSMSG_INTERRUPT;
	}
	load_mc(mc, sm);
}

static bool in_range(uint64_t v, const void *lo, const void *hi)
{
	return v >= (uint64_t)lo && v < (uint64_t)hi;
}

static uint64_t exit_page(const struct sysmsg *sm)
{
	return slot_of(sm) + SLOT_EXIT_OFF;
}

/*
 * SIGCHLD on the way out (phase RETURNING): the application's state is sm->regs (and the live
 * FPU, now in this frame).  Report the interrupt, then restart the exit page from its top.
 */
static void interrupted_return(struct sysmsg *sm, struct k_sigcontext *mc)
{
	if (!xchg(&sm->interrupt, 0))
		return; /* stale: let the return finish */
	sm->phase = PHASE_NONE;
	sm->fpstate = mc->fpstate;
	for (;;) {
		report_and_wait(sm, SYSMSG_INTERRUPT);
		apply_bases(sm);
		sm->phase = PHASE_RETURNING;
		if (!xchg(&sm->interrupt, 0))
			break;
		sm->phase = PHASE_NONE;
	}
	mc->rip = exit_page(sm);
	mc->rsp = slot_of(sm) + SLOT_STACK_TOP;
}

/*
 * Single-stepping (TF) into a patched site: the application stopped "after the mov", at the
 * syscall's address, with eax = the number.  Rebuild that state from the trampoline entry or
 * the trampoline's registers.
 */
static void rewind_patched_step(struct sysmsg *sm, struct k_siginfo *si, struct k_sigcontext *mc)
{
	uint64_t rip = mc->rip, ret, rsp = mc->rsp, flags = mc->eflags;
	uint32_t nr;

	if (rip >= TRAMP_TABLE_VA && rip < TRAMP_TABLE_VA + TRAMP_TABLE_SIZE) {
		uint64_t e = rip & ~(TRAMP_ENTRY_SIZE - 1);

		nr = *(const uint32_t *)(e + TRAMP_E_NR);
		ret = *(const uint64_t *)(e + TRAMP_E_RET);
	} else {
		nr = (uint32_t)mc->rax;
		ret = mc->rcx;
		if (rip >= (uint64_t)stub_tramp_stack)
			rsp = sm->regs.rsp;
		if (rip == (uint64_t)stub_tramp_saved)
			flags = sm->regs.eflags;
	}
	save_mc(sm, mc);
	sm->regs.rax = nr;
	sm->regs.rip = ret - 2;
	sm->regs.rsp = rsp;
	sm->regs.eflags = flags;
	sm->signo = SIGTRAP_;
	sm->code = si->code;
	sm->addr = ret - 2;
	sm->trapno = 1;
	sm->err = 0;
	roundtrip_frame(sm, SYSMSG_SIGNAL, mc);
}

/* A patched site whose trampoline could not use %gs: it is the syscall it replaced. */
static void fallback_syscall(struct sysmsg *sm, struct k_sigcontext *mc)
{
	save_mc(sm, mc);
	sm->regs.rip = mc->rcx;
	sm->regs.r11 = mc->eflags;
	sm->regs.orig_rax = sm->regs.rax = (uint32_t)mc->rax;
	roundtrip_frame(sm, SYSMSG_SYSCALL, mc);
}

static void report_signal(struct sysmsg *sm, int sig, const struct k_siginfo *si,
			  struct k_sigcontext *mc)
{
	sm->signo = sig;
	sm->code = si->code;
	sm->addr = sig == SIGSYS_ ? si->u.sys.call_addr : si->u.addr;
	sm->trapno = mc->trapno;
	sm->err = mc->err;
	roundtrip_frame(sm, SYSMSG_SIGNAL, mc);
}

/* A signal taken with rip in stub code (or in the trampoline table). */
static void stub_signal(struct sysmsg *sm, int sig, struct k_siginfo *si, struct k_sigcontext *mc)
{
	uint64_t rip = mc->rip;

	if (sig == SIGCHLD_) {
		if (sm->phase == PHASE_RETURNING &&
		    (in_range(rip, stub_ret_begin, stub_ret_end) ||
		     (rip >= exit_page(sm) && rip < exit_page(sm) + 4096)))
			interrupted_return(sm, mc);
		return; /* otherwise on its way to the sentry, which sees the interrupt flag */
	}
	sm->phase = PHASE_NONE;
	if ((sig == SIGSEGV_ && rip == (uint64_t)stub_tramp) ||
	    (sig == SIGTRAP_ && rip == (uint64_t)stub_tramp_fallback + 1)) {
		fallback_syscall(sm, mc);
		return;
	}
	if (sig == SIGTRAP_ && ((rip >= TRAMP_TABLE_VA && rip < TRAMP_TABLE_VA + TRAMP_TABLE_SIZE) ||
				(rip >= (uint64_t)stub_tramp && rip <= (uint64_t)stub_tramp_saved))) {
		rewind_patched_step(sm, si, mc);
		return;
	}
	if (sig == SIGTRAP_ && rip >= exit_page(sm) && rip < exit_page(sm) + 4096)
		return; /* single-stepping out of the exit page: the next trap is the application's */
	if (sig == SIGSYS_ && si->code == SYS_SECCOMP_) {
		/* The application jumped onto one of our syscall instructions with registers of
		 * its choosing: the filter refused it, so it is just an application syscall. */
		save_mc(sm, mc);
		sm->regs.orig_rax = sm->regs.rax = (uint64_t)(int64_t)si->u.sys.syscall;
		roundtrip_frame(sm, SYSMSG_SYSCALL, mc);
		return;
	}
	/*
	 * A fault in our code: the application jumped here, or scribbled over what this code
	 * uses.  Either way it is the application's own state that is broken, and the fault is
	 * its own: report it like any other, with the registers as they are.
	 */
	save_mc(sm, mc);
	report_signal(sm, sig, si, mc);
}

static bool is_vsyscall(const struct k_siginfo *si)
{
	return (si->u.sys.call_addr & ~0xfffull) == VSYSCALL_PAGE;
}

void stub_handler(int sig, struct k_siginfo *si, struct k_ucontext *uc)
{
	struct sysmsg *sm = msg_from_sp();
	struct k_sigcontext *mc = &uc->mc;
	uint64_t rip = mc->rip;
	uint32_t kind = SYSMSG_SIGNAL;

	if (in_range(rip, stub_blob_start, stub_code_end) ||
	    (rip >= TRAMP_TABLE_VA && rip < TRAMP_TABLE_VA + TRAMP_TABLE_SIZE) ||
	    (rip >= exit_page(sm) && rip < exit_page(sm) + 4096)) {
		stub_signal(sm, sig, si, mc);
		return;
	}
	sm->phase = PHASE_NONE;
	if (sig == SIGCHLD_) {
		if (!xchg(&sm->interrupt, 0))
			return; /* a stale interrupt */
		kind = SYSMSG_INTERRUPT;
	} else if (sig == SIGSYS_ && si->code == SYS_SECCOMP_ && !is_vsyscall(si)) {
		kind = SYSMSG_SYSCALL;
	}
	save_mc(sm, mc);
	if (kind == SYSMSG_SIGNAL) {
		report_signal(sm, sig, si, mc);
		return;
	}
	if (kind == SYSMSG_SYSCALL) {
		sm->regs.orig_rax = (uint64_t)(int64_t)si->u.sys.syscall;
		sm->regs.rax = sm->regs.orig_rax;
	}
	roundtrip_frame(sm, kind, mc);
}

/* ---- the live path: patched sites and new threads ---- */

/* Runs sm->regs with the live FPU; keeps reporting interrupts until one return succeeds. */
static NORETURN void run_live(struct sysmsg *sm)
{
	for (;;) {
		if (sm->run_flags & SYSMSG_RUN_RESTORE_FPU)
			fpu_restore(sm);
		apply_bases(sm);
		stub_return(sm); /* returns only with an interrupt pending */
		sm->fpstate = 0;
		report_and_wait(sm, SYSMSG_INTERRUPT);
	}
}

void stub_tramp_c(struct sysmsg *unused)
{
	struct sysmsg *sm = msg_from_sp();

	sm->phase = PHASE_NONE;
	sm->regs.cs = blob_config.cs, sm->regs.ss = blob_config.ss;
	sm->regs.ds = sm->regs.es = sm->regs.fs = sm->regs.gs = 0;
	report_bases(sm);
	sm->fpstate = 0;
	report_and_wait(sm, SYSMSG_SYSCALL);
	run_live(sm);
}

void stub_thread_main(struct sysmsg *unused)
{
	struct sysmsg *sm = msg_from_sp();

	sm->phase = PHASE_NONE;
	sm->fpstate = 0;
	sm->cur_fs = (uint64_t)-1; /* unknown: the first RUN sets it */
	sm->cur_gs = cfg_has(CFG_F_PATCHING) ? sm->self : (uint64_t)-1;
	wait_run(sm, 0, false); /* the sentry set cmd_seq to 0 before making the thread */
	run_live(sm);
}
