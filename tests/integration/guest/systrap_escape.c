/*
 * Attacks on the systrap platform's stub, from inside the sandbox.
 *
 * PLATFORM-SPECIFIC: the attacks only run under --platform=systrap, where the stub's code and
 * shared pages live in this very address space.  Natively and on other platforms there is no
 * stub to find, and every verdict prints "contained" without an attack, so the output is the
 * same everywhere exactly when the attacks gain nothing.  Each attack runs in a child process:
 * the platform may kill a stub it finds inconsistent (fail closed); the parent and the sentry
 * must not notice.
 *
 *  1. Jump onto every `syscall` instruction of the stub with the registers of mmap(fd 3 = the
 *     memory file, fd 4 = the platform's shared memory).  Had the host run one, a mapping
 *     would appear; the sentry runs them as our own syscalls instead (fds closed: EBADF).
 *  2. Jump into the stub's code at many places with garbage registers.
 *  3. Unmap, remap and mprotect the stub region with ordinary syscalls; write to its code,
 *     its configuration, the trampoline table and the syscall thread's request page.
 *  4. Scribble over our own thread's shared pages (message page, FPU area, signal stack) and
 *     the syscall thread's response page, then fault and make syscalls.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../platform/systrap/sysmsg.h"

#define TOP 0x7ffffffff000ull
#define PROBE_VA 0x5a5a0000000ull /* nothing maps here unless an attack worked */

static sigjmp_buf env;
static volatile int faults;
/* Global: the assembly below names them. */
uint64_t jump_target;
uint64_t jump_regs[8]; /* rax rdi rsi rdx r10 r8 r9 rsp */
static char jump_stack[65536] __attribute__((aligned(16)));
static char alt_stack[65536];

static void on_fault(int sig)
{
	faults++;
	siglongjmp(env, sig);
}

static void handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS, SIGALRM };
	stack_t ss = { .ss_sp = alt_stack, .ss_size = sizeof(alt_stack) };
	struct sigaction sa;

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_ONSTACK | SA_NODEFER;
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Whether addr can be read (a fault says no). */
static int readable(uint64_t addr)
{
	if (sigsetjmp(env, 1))
		return 0;
	(void)*(volatile uint8_t *)addr;
	return 1;
}

static int writable(uint64_t addr)
{
	if (sigsetjmp(env, 1))
		return 0;
	*(volatile uint8_t *)addr = *(volatile uint8_t *)addr;
	return 1;
}

/* The stub region's base, or 0 (natively and on other platforms). */
static uint64_t find_stub(void)
{
	uint64_t first = (TOP - STUB_REGION_SIZE) & ~((2ull << 20) - 1);

	for (unsigned i = 0; i < 64; i++) {
		uint64_t a = first - (uint64_t)i * (256ull << 20);

		if (readable(a) && *(volatile uint32_t *)a == BLOB_MAGIC)
			return a;
	}
	return 0;
}

/* Sets every register (rax..r9 from jump_regs, the rest to an unmapped address, so that the
 * stub code after the syscall faults at once) and jumps to jump_target. */
static void __attribute__((noreturn)) jump(void)
{
	__asm__ volatile("lea jump_regs(%%rip), %%r15\n\t"
			 "mov 0(%%r15), %%rax\n\t"
			 "mov 8(%%r15), %%rdi\n\t"
			 "mov 16(%%r15), %%rsi\n\t"
			 "mov 24(%%r15), %%rdx\n\t"
			 "mov 32(%%r15), %%r10\n\t"
			 "mov 40(%%r15), %%r8\n\t"
			 "mov 48(%%r15), %%r9\n\t"
			 "mov 56(%%r15), %%rsp\n\t"
			 "mov $8, %%ebx\n\t"
			 "mov $8, %%ebp\n\t"
			 "mov $8, %%ecx\n\t"
			 "mov $8, %%r11d\n\t"
			 "mov $8, %%r12d\n\t"
			 "mov $8, %%r13d\n\t"
			 "mov $8, %%r14d\n\t"
			 "mov $8, %%r15d\n\t"
			 "jmp *jump_target(%%rip)"
			 :
			 :
			 : "memory");
	__builtin_unreachable();
}

static void jump_with(uint64_t target, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		      uint64_t a3, uint64_t a4, uint64_t a5)
{
	jump_target = target;
	jump_regs[0] = (uint64_t)nr;
	jump_regs[1] = a0, jump_regs[2] = a1, jump_regs[3] = a2;
	jump_regs[4] = a3, jump_regs[5] = a4, jump_regs[6] = a5;
	jump_regs[7] = (uint64_t)(jump_stack + sizeof(jump_stack) - 64);
	alarm(5);
	if (sigsetjmp(env, 1) == 0)
		jump();
	alarm(0);
}

/* Runs fn in a child; 0 when it was contained (exited 0, or was killed by the platform). */
static int in_child(int (*fn)(uint64_t), uint64_t base)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		handlers();
		_exit(fn(base));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WTERMSIG(st) == SIGKILL ? 0 : 1;
}

/* 1: every syscall instruction of the stub, with mmap of the stub's fds. */
static int attack_stub_syscalls(uint64_t base)
{
	const struct blob_header *h = (const void *)base;
	const uint8_t *code = (const void *)base;

	close(3);
	close(4);
	for (uint32_t i = 0; i + 1 < h->code_end; i++) {
		if (code[i] != 0x0f || code[i + 1] != 0x05)
			continue;
		for (int fd = 3; fd <= 4; fd++) {
			jump_with(base + i, SYS_mmap, PROBE_VA, 4096, PROT_READ,
				  MAP_SHARED | MAP_FIXED, (uint64_t)fd, 0);
			if (readable(PROBE_VA)) {
				printf("ESCAPE: the stub's syscall at +%#x mapped fd %d\n", i, fd);
				return 1;
			}
		}
	}
	return 0;
}

/* 2: anywhere in the stub's code. */
static int attack_jumps(uint64_t base)
{
	const struct blob_header *h = (const void *)base;

	for (uint32_t off = 0; off < h->code_end; off += 11)
		jump_with(base + off, SYS_mmap, PROBE_VA, 4096, PROT_READ, MAP_SHARED | MAP_FIXED,
			  3, 0);
	return readable(PROBE_VA);
}

/* 3: the stub's mappings, through the sentry and directly. */
static int attack_mappings(uint64_t base)
{
	uint64_t ro[] = { base, base + STUB_CONFIG_OFF, base + STUB_CTL_OFF, TRAMP_TABLE_VA };
	int bad = 0;

	munmap((void *)base, STUB_REGION_SIZE);
	mprotect((void *)base, 4096, PROT_READ | PROT_WRITE);
	mmap((void *)base, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
	     0);
	munmap((void *)TRAMP_TABLE_VA, TRAMP_TABLE_SIZE);
	madvise((void *)base, 4096, MADV_DONTNEED);
	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		if (readable(ro[i]) && writable(ro[i])) {
			printf("ESCAPE: stub page %#lx became writable\n", (unsigned long)ro[i]);
			bad = 1;
		}
	}
	/* Still serviced: a syscall and a fresh page. */
	if (getppid() < 0)
		bad = 1;
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	for (int i = 0; i < (1 << 20); i += 4096)
		p[i] = 1;
	return bad;
}

/* 4: our own shared pages, and the syscall thread's response page. */
static int attack_scribble(uint64_t base)
{
	uint64_t resp = base + STUB_CTL_OFF + 4096;
	int sum = 0;

	for (unsigned slot = 0; slot < 4; slot++) {
		uint64_t s = base + STUB_SLOTS_OFF + slot * STUB_SLOT_SIZE;

		if (!readable(s + SLOT_MSG_OFF))
			continue;
		/* Not the stack we are on: the kernel would just kill us. */
		memset((void *)(s + SLOT_FPU_OFF), 0xa5, SLOT_FPU_SIZE);
		memset((void *)(s + SLOT_MSG_OFF), 0x5a, 4096);
	}
	if (writable(resp))
		memset((void *)resp, 0xff, 4096);
	for (int i = 0; i < 100; i++)
		sum += (int)getppid();
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		for (int i = 0; i < (1 << 20); i += 4096)
			p[i] = (char)sum;
	return 0;
}

int main(void)
{
	uint64_t base;

	setvbuf(stdout, NULL, _IONBF, 0);
	handlers();
	base = find_stub();
	printf("stub syscalls: %s\n",
	       !base || !in_child(attack_stub_syscalls, base) ? "contained" : "ESCAPED");
	printf("jumps into the stub: %s\n",
	       !base || !in_child(attack_jumps, base) ? "contained" : "ESCAPED");
	printf("stub mappings: %s\n",
	       !base || !in_child(attack_mappings, base) ? "protected" : "CHANGED");
	printf("shared pages: %s\n",
	       !base || !in_child(attack_scribble, base) ? "contained" : "ESCAPED");
	/* The parent's own stub and the sentry are fine: a syscall, a fork, a wait. */
	pid_t pid = fork();
	int st = -1;

	if (pid == 0)
		_exit(7);
	waitpid(pid, &st, 0);
	printf("sentry: %s\n", getppid() >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? "alive"
											: "dead");
	return 0;
}
