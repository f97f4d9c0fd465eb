/*
 * The stub: the only code of ours that exists in an application's host address space, and the
 * master stub's one-time self-confinement.
 *
 * The stub code is position independent, uses no stack and no memory, and is copied to a page
 * at a fixed high address (the stub region) before the master is forked, so every stub has it
 * at the same place.  Each entry point runs one syscall and then stops at an int3, where the
 * tracer takes over; an untraced thread that leaves an int3 (after PTRACE_DETACH) or is a fresh
 * clone child falls into `park`, a pause() loop that waits to be seized.  The tracer never lets
 * application code reach any of this: SYSEMU skips the application's syscalls.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ptrace_internal.h"

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

/*
 * Register protocol:
 *  init    r12 = region start, r13 = region end, r14 = STUB_TOP.  Unmaps everything but the
 *          region, then traps.  Entered once, by the master, from stub_master_child().
 *  syscall rax/rdi/rsi/rdx/r10/r8/r9 = an injected syscall.
 *  clone   clone(STUB_THREAD_CLONE_FLAGS) in a leader: the parent traps, the child parks.
 *  fork    clone(STUB_FORK_CLONE_FLAGS) in the master, r15 = sentry pid: the parent traps;
 *          the child arms PDEATHSIG, checks that its parent is still the sentry, and traps.
 */
/* clang-format off */
__asm__(".pushsection .text.cv_ptrace_stub, \"ax\", @progbits\n"
	".balign 64\n"
	".globl ptrace_stub_begin\n"
	"ptrace_stub_begin:\n"
	".globl ptrace_stub_init\n"
	"ptrace_stub_init:\n"
	"	mov $" CV_STR(SYS_munmap) ", %eax\n"
	"	xor %edi, %edi\n"
	"	mov %r12, %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov %r14, %rsi\n"
	"	sub %r13, %rsi\n"
	"	jz 1f\n" /* the region may end at the top */
	"	mov $" CV_STR(SYS_munmap) ", %eax\n"
	"	mov %r13, %rdi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"1:\n"
	".globl ptrace_stub_init_trap\n"
	"ptrace_stub_init_trap:\n"
	"	int3\n"
	"	jmp 2f\n"
	".globl ptrace_stub_syscall\n"
	"ptrace_stub_syscall:\n"
	"	syscall\n"
	".globl ptrace_stub_syscall_trap\n"
	"ptrace_stub_syscall_trap:\n"
	"	int3\n"
	"	jmp 2f\n"
	".globl ptrace_stub_clone\n"
	"ptrace_stub_clone:\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 2f\n"
	".globl ptrace_stub_clone_trap\n"
	"ptrace_stub_clone_trap:\n"
	"	int3\n"
	"2:	mov $" CV_STR(SYS_pause) ", %eax\n" /* park */
	"	syscall\n"
	"	jmp 2b\n"
	".globl ptrace_stub_fork\n"
	"ptrace_stub_fork:\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 3f\n"
	".globl ptrace_stub_fork_trap\n"
	"ptrace_stub_fork_trap:\n"
	"	int3\n"
	"	jmp 2b\n"
	"3:	mov $" CV_STR(SYS_prctl) ", %eax\n"
	"	mov $" CV_STR(PR_SET_PDEATHSIG) ", %edi\n"
	"	mov $" CV_STR(SIGKILL) ", %esi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov $" CV_STR(SYS_getppid) ", %eax\n"
	"	syscall\n"
	"	cmp %r15, %rax\n"
	"	jne 9f\n"
	".globl ptrace_stub_child_trap\n"
	"ptrace_stub_child_trap:\n"
	"	int3\n"
	"	jmp 2b\n"
	"9:	mov $" CV_STR(SYS_exit_group) ", %eax\n"
	"	mov $127, %edi\n"
	"	syscall\n"
	"	jmp 9b\n"
	".globl ptrace_stub_end\n"
	"ptrace_stub_end:\n"
	".popsection\n");
/* clang-format on */

/* clang-format off */
/* seccomp_data.args[i], low and high 32 bits (little endian). */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
/* If A == v fall through, else skip `skip` instructions. */
#define JNE(v, skip) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), 0, (skip))
/* If A == nr return `action`; else go on. */
#define ALLOW_NR(nr, action) JNE(nr, 1), RET(action)

#define KILL SECCOMP_RET_KILL_PROCESS
#define STUB_FILTER_LEN 47
#define ALLOW SECCOMP_RET_ALLOW

/*
 * The stubs' filter: exactly the syscalls the stub code above makes (and only with the
 * arguments the platform injects), plus SECCOMP_RET_TRAP for the three vsyscalls so the host
 * never emulates them on the application's behalf: the resulting SIGSYS is reported to the
 * sentry as an execute fault at the vsyscall address.  Application syscalls never get here:
 * with PTRACE_SYSEMU they stop at syscall entry and are skipped before seccomp runs (Linux >=
 * 4.8).  Blocks that load arguments end in RET(KILL), since A no longer holds the number.
 */
static const struct sock_filter stub_filter[] = {
	LD(offsetof(struct seccomp_data, arch)),
	JNE(AUDIT_ARCH_X86_64, STUB_FILTER_LEN - 3), /* -> the final RET(KILL) */
	LD(offsetof(struct seccomp_data, nr)),
	ALLOW_NR(SYS_munmap, ALLOW),
	ALLOW_NR(SYS_pause, ALLOW),
	ALLOW_NR(SYS_exit, ALLOW),
	ALLOW_NR(SYS_exit_group, ALLOW),
	ALLOW_NR(SYS_getppid, ALLOW),
	ALLOW_NR(SYS_gettimeofday, SECCOMP_RET_TRAP),
	ALLOW_NR(SYS_time, SECCOMP_RET_TRAP),
	ALLOW_NR(SYS_getcpu, SECCOMP_RET_TRAP),
	/* mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, STUB_MEMFD, off) */
	JNE(SYS_mmap, 10),
	LD(ARG_LO(3)),
	JNE(MAP_SHARED | MAP_FIXED, 7),
	LD(ARG_HI(3)),
	JNE(0, 5),
	LD(ARG_LO(4)),
	JNE(STUB_MEMFD, 3),
	LD(ARG_HI(4)),
	JNE(0, 1),
	RET(ALLOW),
	RET(KILL),
	/* clone(STUB_THREAD_CLONE_FLAGS or STUB_FORK_CLONE_FLAGS, ...) */
	JNE(SYS_clone, 8),
	LD(ARG_HI(0)),
	JNE(0, 5),
	LD(ARG_LO(0)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, STUB_THREAD_CLONE_FLAGS, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, STUB_FORK_CLONE_FLAGS, 1, 0),
	RET(KILL),
	RET(ALLOW),
	RET(KILL),
	/* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	JNE(SYS_prctl, 6),
	LD(ARG_LO(0)),
	JNE(PR_SET_PDEATHSIG, 3),
	LD(ARG_LO(1)),
	JNE(SIGKILL, 1),
	RET(ALLOW),
	RET(KILL),
	RET(KILL),
};
/* clang-format on */

/* Jump offsets above are hand-counted; the arch check relies on the total. */
STATIC_ASSERT(ARRAY_SIZE(stub_filter) == STUB_FILTER_LEN);

/* Candidate addresses for the stub region, highest first. */
static uint64_t stub_region_candidate(unsigned i)
{
	if (i < 16)
		return STUB_TOP - (i + 1) * STUB_REGION_SIZE;
	/* Below where a randomised stack may sit: every 256 MiB down from 32 GiB under the top. */
	return STUB_TOP - (32ull << 30) - (uint64_t)(i - 16) * (256ull << 20) - STUB_REGION_SIZE;
}

long stub_region_create(void)
{
	size_t len = (size_t)(ptrace_stub_end - ptrace_stub_begin);

	if (len > STUB_REGION_SIZE)
		return -E2BIG;
	for (unsigned i = 0; i < 64; i++) {
		void *want = (void *)stub_region_candidate(i);
		void *m = mmap(want, STUB_REGION_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (m == MAP_FAILED)
			continue;
		if (m != want) { /* kernels without MAP_FIXED_NOREPLACE treat it as a hint */
			munmap(m, STUB_REGION_SIZE);
			continue;
		}
		memcpy(m, ptrace_stub_begin, len);
		if (mprotect(m, STUB_REGION_SIZE, PROT_READ | PROT_EXEC) < 0) {
			long r = -errno;

			munmap(m, STUB_REGION_SIZE);
			return r;
		}
		return (long)(uintptr_t)m;
	}
	return -ENOMEM;
}

/*
 * Everything below runs in the freshly forked master, a copy of a multithreaded process:
 * raw syscalls only, no locks, no allocation.  Failures exit with a distinct status, which
 * ptrace_master_create() reports.
 */
static __noreturn void child_fail(int step)
{
	for (;;)
		syscall(SYS_exit_group, 100 + step);
}

/*
 * Every signal ignored and unblocked.  A process-directed signal is aimed at the leader, which
 * is never traced, and the kernel lets a fatal default action kill the whole group at send
 * time without asking the tracer of the thread that would take it; with SIG_IGN such signals
 * are dropped instead.  Signals aimed at a traced thread (faults, our interrupt) are never
 * ignored: they stop it and the tracer decides.
 */
static void child_reset_signals(void)
{
	/* The kernel's struct sigaction: handler, flags, restorer, 64-bit mask. */
	uint64_t ksa[4] = { (uint64_t)(uintptr_t)SIG_IGN, 0, 0, 0 };
	uint64_t none = 0;

	for (int sig = 1; sig <= 64; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, ksa, NULL, 8);
	}
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8) < 0)
		child_fail(2);
}

/*
 * glibc registered an rseq area in the parent thread's TLS, and fork kept the registration.
 * Once the TLS is unmapped the kernel's rseq update on every return to user mode would
 * fault and SIGSEGV the stub, so unregister it.  The length must match what glibc
 * registered: 32 bytes (the original ABI size), or __rseq_size in later versions.
 */
static void child_drop_rseq(void)
{
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
	unsigned lens[2] = { 32, __rseq_size };

	if (__rseq_size == 0)
		return; /* glibc did not register */
	for (unsigned i = 0; i < ARRAY_SIZE(lens); i++) {
		if (syscall(SYS_rseq, area, lens[i], RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
			return;
	}
	/* EINVAL for every length: not registered (it failed at thread start) or a length we
	 * do not know; the latter shows up as SIGSEGV during setup. */
}

static void child_limit(bool cpuid_faulting)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	struct rlimit zero = { 0, 0 };

	memset(caps, 0, sizeof(caps));
	/* Stubs are dumpable and hold no capabilities, so a sentry that later drops its own
	 * capabilities (same uid) may still PTRACE_SEIZE them. */
	if (syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		child_fail(5);
	if (syscall(SYS_setrlimit, RLIMIT_CORE, &zero) < 0)
		child_fail(6);
	if (syscall(SYS_capset, &hdr, caps) < 0)
		child_fail(7);
	syscall(SYS_prctl, PR_SET_NAME, (unsigned long)"cvisor-stub", 0, 0, 0);
	/* CPUID faulting, best effort: CPUID then traps as SIGSEGV (SI_KERNEL) so the sentry can
	 * present its own CPU features.  Inherited by every stub forked from here. */
	if (cpuid_faulting)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

static void child_fds(int memfd)
{
	if (memfd != STUB_MEMFD && syscall(SYS_dup3, memfd, STUB_MEMFD, 0) < 0)
		child_fail(8);
	if (syscall(SYS_close_range, 0, STUB_MEMFD - 1, 0) < 0 ||
	    syscall(SYS_close_range, STUB_MEMFD + 1, ~0u, 0) < 0)
		child_fail(9);
}

void stub_master_child(const struct master_args *a)
{
	struct sock_fprog prog = { ARRAY_SIZE(stub_filter), (struct sock_filter *)stub_filter };
	uint64_t base = a->base, end = a->base + STUB_REGION_SIZE, top = STUB_TOP;
	uint64_t entry = a->base + (uint64_t)(ptrace_stub_init - ptrace_stub_begin);
	char c;

	/* Wait until the parent thread has seized us: from then on every trap is seen. */
	if (syscall(SYS_read, a->gate, &c, 1) != 1)
		child_fail(1);
	child_reset_signals();
	child_drop_rseq();
	if (syscall(SYS_setsid) < 0)
		child_fail(3);
	if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    syscall(SYS_getppid) != a->sentry_pid)
		child_fail(4);
	child_limit(a->cpuid_faulting);
	child_fds(a->memfd);
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		child_fail(10);
	__asm__ volatile("mov %0, %%r12\n\t"
			 "mov %1, %%r13\n\t"
			 "mov %2, %%r14\n\t"
			 "jmp *%3"
			 :
			 : "r"(base), "r"(end), "r"(top), "r"(entry)
			 : "r12", "r13", "r14", "memory");
	__builtin_unreachable();
}
