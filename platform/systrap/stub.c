/*
 * The stub region (the blob and its configuration, at a fixed high address in every stub),
 * the two seccomp filters, and the master's one-time self-confinement.
 *
 * Filters.  Every stub thread runs under the *stub filter* (installed by the master, inherited
 * by all): default SECCOMP_RET_TRAP; a call is allowed only from the blob's code and only
 * with the arguments the stub uses (mmap of the two memfds MAP_SHARED|MAP_FIXED, clone with
 * the two flag sets, futex wait/wake, ...).  Application threads stack the *application
 * filter* on top, installed by the thread itself before any application code runs: from the
 * blob's code it allows only what the handler needs (futex wait/wake, rt_sigreturn, exit,
 * arch_prctl of fs/gs), so an application thread that jumps into stub code with registers of
 * its choosing reaches nothing but those.  Only the syscall threads (which never run
 * application code, and whose registers no application thread can touch) may mmap.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "systrap_internal.h"

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#define ARCH_SET_GS_ 0x1001
#define ARCH_SET_FS_ 0x1002
#define ARCH_GET_FS_ 0x1003
#define ARCH_GET_GS_ 0x1004

/* Signals the stub handles; every other one is ignored in stubs. */
static const int stub_signals[] = { SIGSYS, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGCHLD };

/* ---- the region ---- */

/* Slots must be STUB_SLOT_SIZE aligned: the region is placed on a 2 MiB boundary. */
static uint64_t region_candidate(unsigned i)
{
	return ALIGN_DOWN(SYSTRAP_TOP - STUB_REGION_SIZE, 2ull << 20) - (uint64_t)i * (256ull << 20);
}

static void config_fill(struct systrap_platform *sp)
{
	struct blob_config *cfg = sp->cfg;
	uint64_t mask = ~0ull;

	cfg->magic = sp->magic;
	cfg->sentry_pid = (uint64_t)sp->sentry_pid;
	cfg->loop_spin = 0; /* pinned to its requester's CPU: spinning would only delay it */
	cfg->wait_spin = systrap_cycles(sp, SPIN_STUB_NS);
	cfg->yield = systrap_cycles(sp, YIELD_NS);
	cfg->woke_spin = systrap_cycles(sp, SPIN_WOKE_NS);
	cfg->flags = (sp->fsgsbase ? CFG_F_FSGSBASE : 0) | (sp->xsave_mask ? CFG_F_XSAVE : 0) |
		     (sp->patching ? CFG_F_PATCHING : 0);
	cfg->fpu_size = (uint32_t)sp->fpu_size;
	cfg->xsave_mask = sp->xsave_mask;
	for (unsigned i = 0; i < ARRAY_SIZE(stub_signals); i++)
		mask &= ~(1ull << (stub_signals[i] - 1));
	cfg->thread_mask = mask;
	cfg->cs = 0x33;
	cfg->ss = 0x2b;
	for (unsigned i = 0; i < STUB_MAX_SLOTS; i++) {
		cfg->stacks[i].ss_sp = slot_va(sp, i) + SLOT_STACK_OFF;
		cfg->stacks[i].ss_size = SLOT_STACK_SIZE;
	}
}

int systrap_region_create(struct systrap_platform *sp)
{
	size_t len = (size_t)(systrap_blob_end - systrap_blob);

	memcpy(&sp->hdr, systrap_blob, sizeof(sp->hdr));
	if (len > STUB_CODE_MAX || sp->hdr.magic != BLOB_MAGIC || sp->hdr.exit_page + 4096 > len)
		return -ENOEXEC;
	for (unsigned i = 0; i < 64; i++) {
		void *want = (void *)(uintptr_t)region_candidate(i);
		void *m = mmap(want, STUB_CTL_OFF, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (m == MAP_FAILED)
			continue;
		if (m != want) { /* kernels without MAP_FIXED_NOREPLACE treat it as a hint */
			munmap(m, STUB_CTL_OFF);
			continue;
		}
		memcpy(m, systrap_blob, len);
		sp->base = (uint64_t)(uintptr_t)m;
		sp->cfg = (struct blob_config *)((char *)m + STUB_CONFIG_OFF);
		config_fill(sp);
		return 0;
	}
	return -ENOMEM;
}

/* ---- a small BPF assembler with forward labels ---- */

enum { L_ALLOW, L_TRAP, L_FIRST_FREE };

struct bpf {
	struct sock_filter insn[CFG_FILTER_MAX];
	unsigned n;
	int label[32];	      /* instruction index, or -1 */
	struct {
		unsigned at, label;
		bool jt;
	} fix[64];
	unsigned nfix;
	bool overflow;
};

static void emit(struct bpf *b, uint16_t code, uint32_t k)
{
	if (b->n >= CFG_FILTER_MAX) {
		b->overflow = true;
		return;
	}
	b->insn[b->n++] = (struct sock_filter)BPF_STMT(code, k);
}

static void ld(struct bpf *b, uint32_t off)
{
	emit(b, BPF_LD | BPF_W | BPF_ABS, off);
}

/* if (A op k) goto label_t; else goto label_f (-1: fall through). */
static void jump(struct bpf *b, uint16_t op, uint32_t k, int label_t, int label_f)
{
	unsigned at = b->n;

	if (op == BPF_JA) { /* its offset is k, not jt: not supported here */
		b->overflow = true;
		return;
	}
	emit(b, BPF_JMP | op | BPF_K, k);
	if (b->overflow || b->nfix + 2 > ARRAY_SIZE(b->fix)) {
		b->overflow = true;
		return;
	}
	if (label_t >= 0)
		b->fix[b->nfix++] = (typeof(b->fix[0])){ at, (unsigned)label_t, true };
	if (label_f >= 0)
		b->fix[b->nfix++] = (typeof(b->fix[0])){ at, (unsigned)label_f, false };
}

static void mark(struct bpf *b, int label)
{
	b->label[label] = (int)b->n;
}

static int resolve(struct bpf *b)
{
	mark(b, L_ALLOW);
	emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	mark(b, L_TRAP);
	emit(b, BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	if (b->overflow)
		return -E2BIG;
	for (unsigned i = 0; i < b->nfix; i++) {
		int d = b->label[b->fix[i].label] - (int)b->fix[i].at - 1;

		if (b->label[b->fix[i].label] < 0 || d < 0 || d > 255)
			return -EINVAL;
		if (b->fix[i].jt)
			b->insn[b->fix[i].at].jt = (uint8_t)d;
		else
			b->insn[b->fix[i].at].jf = (uint8_t)d;
	}
	return 0;
}

#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define NR offsetof(struct seccomp_data, nr)

/* Continues at `ok` when arg i (all 64 bits) is one of vals, else traps. */
static void arg_in(struct bpf *b, unsigned i, const uint32_t *vals, unsigned nvals, int ok)
{
	ld(b, ARG_HI(i));
	jump(b, BPF_JEQ, 0, -1, L_TRAP);
	ld(b, ARG_LO(i));
	for (unsigned v = 0; v + 1 < nvals; v++)
		jump(b, BPF_JEQ, vals[v], ok, -1);
	jump(b, BPF_JEQ, vals[nvals - 1], ok, L_TRAP);
}

#define ARG_IN(b, i, ok, ...)                                                                      \
	do {                                                                                       \
		static const uint32_t vals_[] = { __VA_ARGS__ };                                   \
		arg_in(b, i, vals_, ARRAY_SIZE(vals_), ok);                                        \
	} while (0)

/* Common head: x86-64 only, and only from the blob's code; leaves the number in A. */
static void head(struct bpf *b, struct systrap_platform *sp)
{
	uint64_t lo = sp->base, hi = sp->base + sp->hdr.code_end;

	ld(b, offsetof(struct seccomp_data, arch));
	jump(b, BPF_JEQ, AUDIT_ARCH_X86_64, -1, L_TRAP);
	ld(b, offsetof(struct seccomp_data, instruction_pointer) + 4);
	jump(b, BPF_JEQ, (uint32_t)(lo >> 32), -1, L_TRAP);
	ld(b, offsetof(struct seccomp_data, instruction_pointer));
	jump(b, BPF_JGE, (uint32_t)lo, -1, L_TRAP);
	jump(b, BPF_JGE, (uint32_t)hi, L_TRAP, -1);
	ld(b, NR);
}

/* What both filters allow: the handler's own calls. */
enum { F_FUTEX = L_FIRST_FREE, F_ARCH, F_MMAP, F_MMAP_FD, F_CLONE, F_WRITE, F_WRITE_LEN, F_PRCTL,
       F_PRCTL_SIG, F_SECCOMP, F_SECCOMP_FLAGS, F_SIGMASK, F_UNSHARE, F_COUNT };
STATIC_ASSERT(F_COUNT <= 32);

static void handler_calls(struct bpf *b)
{
	jump(b, BPF_JEQ, SYS_futex, F_FUTEX, -1);
	jump(b, BPF_JEQ, SYS_arch_prctl, F_ARCH, -1);
	jump(b, BPF_JEQ, SYS_rt_sigreturn, L_ALLOW, -1);
	jump(b, BPF_JEQ, SYS_exit, L_ALLOW, -1);
	jump(b, BPF_JEQ, SYS_sched_yield, L_ALLOW, -1);
}

static void handler_blocks(struct bpf *b)
{
	mark(b, F_FUTEX);
	ld(b, ARG_LO(1)); /* the kernel reads the op as an int */
	jump(b, BPF_JEQ, FUTEX_WAIT, L_ALLOW, -1);
	jump(b, BPF_JEQ, FUTEX_WAKE, L_ALLOW, L_TRAP);
	mark(b, F_ARCH);
	ARG_IN(b, 0, L_ALLOW, ARCH_SET_FS_, ARCH_GET_FS_, ARCH_SET_GS_, ARCH_GET_GS_);
}

static void bpf_init(struct bpf *b)
{
	memset(b, 0, sizeof(*b));
	memset(b->label, -1, sizeof(b->label));
}

static int build_app_filter(struct systrap_platform *sp)
{
	struct bpf b;
	int r;

	bpf_init(&b);
	head(&b, sp);
	handler_calls(&b);
	emit(&b, BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	handler_blocks(&b);
	if ((r = resolve(&b)) < 0)
		return r;
	memcpy(sp->cfg->filter, b.insn, b.n * sizeof(b.insn[0]));
	sp->cfg->app_prog.len = (uint16_t)b.n;
	sp->cfg->app_prog.filter = sp->base + STUB_CONFIG_OFF + offsetof(struct blob_config, filter);
	return 0;
}

static int build_base_filter(struct systrap_platform *sp)
{
	struct bpf b;
	int r;

	bpf_init(&b);
	head(&b, sp);
	handler_calls(&b);
	jump(&b, BPF_JEQ, SYS_mmap, F_MMAP, -1);
	jump(&b, BPF_JEQ, SYS_munmap, L_ALLOW, -1);
	jump(&b, BPF_JEQ, SYS_clone, F_CLONE, -1);
	jump(&b, BPF_JEQ, SYS_write, F_WRITE, -1);
	jump(&b, BPF_JEQ, SYS_prctl, F_PRCTL, -1);
	jump(&b, BPF_JEQ, SYS_getppid, L_ALLOW, -1);
	jump(&b, BPF_JEQ, SYS_sigaltstack, L_ALLOW, -1);
	jump(&b, BPF_JEQ, SYS_rt_sigprocmask, F_SIGMASK, -1);
	jump(&b, BPF_JEQ, SYS_unshare, F_UNSHARE, -1);
	jump(&b, BPF_JEQ, SYS_seccomp, F_SECCOMP, L_TRAP);
	handler_blocks(&b);
	mark(&b, F_MMAP); /* mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, 3 or 4, off) */
	ARG_IN(&b, 3, F_MMAP_FD, MAP_SHARED | MAP_FIXED);
	mark(&b, F_MMAP_FD);
	ARG_IN(&b, 4, L_ALLOW, STUB_MEMFD, STUB_PRIVFD);
	mark(&b, F_CLONE);
	ARG_IN(&b, 0, L_ALLOW, STUB_THREAD_CLONE_FLAGS, STUB_FORK_CLONE_FLAGS);
	mark(&b, F_WRITE); /* write(STUB_ACKFD, record, 8) */
	ARG_IN(&b, 0, F_WRITE_LEN, STUB_ACKFD);
	mark(&b, F_WRITE_LEN);
	ARG_IN(&b, 2, L_ALLOW, 8);
	mark(&b, F_PRCTL); /* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	ARG_IN(&b, 0, F_PRCTL_SIG, PR_SET_PDEATHSIG);
	mark(&b, F_PRCTL_SIG);
	ARG_IN(&b, 1, L_ALLOW, SIGKILL);
	mark(&b, F_SECCOMP); /* seccomp(SECCOMP_SET_MODE_FILTER, 0, prog) */
	ARG_IN(&b, 0, F_SECCOMP_FLAGS, SECCOMP_SET_MODE_FILTER);
	mark(&b, F_SECCOMP_FLAGS);
	ARG_IN(&b, 1, L_ALLOW, 0);
	mark(&b, F_SIGMASK); /* rt_sigprocmask(SIG_SETMASK, ...) */
	ARG_IN(&b, 0, L_ALLOW, SIG_SETMASK);
	mark(&b, F_UNSHARE); /* unshare(CLONE_VM): succeeds only in a single-threaded stub (pool) */
	ARG_IN(&b, 0, L_ALLOW, CLONE_VM);
	if ((r = resolve(&b)) < 0)
		return r;
	sp->base_filter = malloc(b.n * sizeof(b.insn[0]));
	if (!sp->base_filter)
		return -ENOMEM;
	memcpy(sp->base_filter, b.insn, b.n * sizeof(b.insn[0]));
	sp->base_filter_len = b.n;
	return 0;
}

int systrap_filters_build(struct systrap_platform *sp)
{
	int r = build_app_filter(sp);

	return r < 0 ? r : build_base_filter(sp);
}

/* ---- the master's self-confinement ---- */

/*
 * Everything below runs in the freshly forked master, a copy of a multithreaded process: raw
 * syscalls only, no locks, no allocation.  Failures exit with a distinct status, which
 * systrap_master_create() reports.
 */
static __noreturn void child_fail(int step)
{
	for (;;)
		syscall(SYS_exit_group, 100 + step);
}

/* The stub's signals go to the blob's handler, on the slot's stack, with everything blocked;
 * all others are ignored.  Everything stays blocked here: threads unblock their own. */
static void child_signals(const struct systrap_platform *sp)
{
	uint64_t all = ~0ull;
	struct {
		uint64_t handler, flags, restorer, mask;
	} ksa;

	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		ksa.handler = (uint64_t)(uintptr_t)SIG_IGN;
		ksa.flags = ksa.restorer = ksa.mask = 0;
		for (unsigned i = 0; i < ARRAY_SIZE(stub_signals); i++) {
			if (stub_signals[i] != sig)
				continue;
			ksa.handler = stub_sym(sp, sp->hdr.handler);
			ksa.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER;
			ksa.restorer = stub_sym(sp, sp->hdr.restorer);
			ksa.mask = ~0ull;
		}
		if (syscall(SYS_rt_sigaction, sig, &ksa, NULL, 8) < 0)
			child_fail(1);
	}
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8) < 0)
		child_fail(2);
}

/* glibc's rseq registration survived the fork but its TLS will not: unregister it. */
static void child_drop_rseq(void)
{
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
	unsigned lens[2] = { 32, __rseq_size };

	if (__rseq_size == 0)
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(lens); i++) {
		if (syscall(SYS_rseq, area, lens[i], RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
			return;
	}
}

static void child_limit(const struct systrap_platform *sp)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	struct rlimit zero = { 0, 0 };

	memset(caps, 0, sizeof(caps));
	if (syscall(SYS_setsid) < 0)
		child_fail(3);
	if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    syscall(SYS_getppid) != sp->sentry_pid)
		child_fail(4);
	/* Nobody else on the host may read or trace a stub. */
	if (syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    syscall(SYS_setrlimit, RLIMIT_CORE, &zero) < 0 || syscall(SYS_capset, &hdr, caps) < 0)
		child_fail(5);
	syscall(SYS_prctl, PR_SET_NAME, (unsigned long)"cvisor-stub", 0, 0, 0);
	if (sp->cpuid_faulting)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

/* Only the memory file (3), the shared memory (4) and the ack pipe (5). */
static void child_fds(const struct master_args *a)
{
	int src[3] = { a->memfd, a->privfd, a->ack_wr }, high[3];

	for (int i = 0; i < 3; i++) {
		high[i] = (int)syscall(SYS_fcntl, src[i], F_DUPFD, 1000);
		if (high[i] < 0)
			child_fail(6);
	}
	for (int i = 0; i < 3; i++) {
		if (syscall(SYS_dup3, high[i], STUB_MEMFD + i, 0) < 0)
			child_fail(7);
	}
	if (syscall(SYS_close_range, 0, STUB_MEMFD - 1, 0) < 0 ||
	    syscall(SYS_close_range, STUB_ACKFD + 1, ~0u, 0) < 0)
		child_fail(8);
}

static void child_map(const struct systrap_platform *sp)
{
	long r;

	if (sp->patching) {
		r = syscall(SYS_mmap, TRAMP_TABLE_VA, TRAMP_TABLE_SIZE, PROT_READ | PROT_EXEC,
			    MAP_SHARED | MAP_FIXED, STUB_PRIVFD, SHM_TABLE_OFF);
		if (r != (long)TRAMP_TABLE_VA)
			child_fail(9);
	}
	r = syscall(SYS_mmap, sp->base + STUB_CTL_OFF, 8192, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED, STUB_PRIVFD, SHM_MASTER_CTL_OFF);
	if (r != (long)(sp->base + STUB_CTL_OFF))
		child_fail(10);
}

void systrap_master_child(const struct master_args *a)
{
	const struct systrap_platform *sp = a->sp;
	struct sock_fprog prog = { (unsigned short)sp->base_filter_len, sp->base_filter };
	uint64_t entry = stub_sym(sp, sp->hdr.master);

	child_signals(sp);
	child_drop_rseq();
	child_limit(sp);
	child_fds(a);
	child_map(sp);
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		child_fail(11);
	__asm__ volatile("mov %0, %%rdi\n\t"
			 "mov %1, %%rsi\n\t"
			 "jmp *%2"
			 :
			 : "r"(sp->base), "r"((uint64_t)SYSTRAP_TOP), "r"(entry)
			 : "rdi", "rsi", "memory");
	__builtin_unreachable();
}
