/*
 * The systrap platform, for real: a memory file, stub processes, hand-assembled guest code.
 * Skips (77) where seccomp SECCOMP_RET_TRAP does not work.
 * CV_BENCH=1 also measures a getpid round trip (patched, unpatched) against native getpid and
 * against the ptrace platform in the same run.
 * CV_STRESS=N sets the number of address spaces in the create/release loop (default 2000).
 * CV_TEST_FILTER=glob runs only the matching tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvisor/platform.h"
#include "../../platform/platforms.h"
#include "../../platform/systrap/systrap_internal.h"

#define MEM_SIZE (16ul << 20)
#define PAGE 4096ul
#define CODE_VA 0x400000ul  /* memory file page CODE_PAGE + i -> CODE_VA + i * PAGE */
#define DATA_VA 0x600000ul  /* memory file page DATA_PAGE */
#define STACK_VA 0x700000ul /* memory file page STACK_PAGE */
#define CODE_PAGE 0
#define DATA_PAGE 64
#define STACK_PAGE 65
#define THREAD_PAGE 128 /* per-thread code pages for the concurrency tests */
#define PATCH_PAGE 200	/* code pages the patching tests own */

static struct platform plat;	/* patching on (the default) */
static struct platform noplat; /* patching off */
static int memfd = -1;
static uint8_t *mem;

/* Guest code. */
static const uint8_t code_two_syscalls[] = {
	0x0f, 0x05,		      /* syscall */
	0x48, 0x89, 0xc7,	      /* mov %rax,%rdi */
	0xb8, 0x3c, 0x00, 0x00, 0x00, /* mov $60,%eax */
	0x0f, 0x05,		      /* syscall */
};
static const uint8_t code_load_syscall[] = {
	0x48, 0x8b, 0x03, /* mov (%rbx),%rax */
	0x0f, 0x05,	  /* syscall */
};
static const uint8_t code_store[] = { 0x48, 0x89, 0x0b, 0x0f, 0x05 }; /* mov %rcx,(%rbx); syscall */
static const uint8_t code_ud2[] = { 0x0f, 0x0b };
static const uint8_t code_int3[] = { 0xcc };
static const uint8_t code_div0[] = { 0x31, 0xc9, 0xf7, 0xf1 }; /* xor %ecx,%ecx; div %ecx */
static const uint8_t code_spin[] = { 0xeb, 0xfe };	       /* jmp . */
static const uint8_t code_count[] = {
	0x48, 0x83, 0xc7, 0x01, /* add $1,%rdi */
	0x0f, 0x05,		/* syscall */
	0xeb, 0xf8,		/* jmp back to the add */
};
/* The site shape patching rewrites, in a loop; a nop first so the site is not at page start. */
static const uint8_t code_getpid_loop[] = {
	0x90,			      /* nop */
	0xb8, 0x27, 0x00, 0x00, 0x00, /* mov $39,%eax */
	0x0f, 0x05,		      /* syscall */
	0xeb, 0xf7,		      /* jmp back to the mov */
};
/* Checks the registers a syscall must preserve: rdi..r9 count, rbx/rbp/r12-r15 untouched. */
static const uint8_t code_patch_regs[] = {
	0x90,			      /* nop */
	0xb8, 0x27, 0x00, 0x00, 0x00, /* mov $39,%eax */
	0x0f, 0x05,		      /* syscall */
	0x48, 0x83, 0xc3, 0x01,	      /* add $1,%rbx */
	0xeb, 0xf3,		      /* jmp back to the mov */
};
static const uint8_t code_fpu[] = {
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0x0f, 0x05,		      /* syscall */
	0x66, 0x48, 0x0f, 0x6e, 0xce, /* movq %rsi,%xmm1 */
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0x0f, 0x05,		      /* syscall */
};
/* The same with patchable sites: movq %xmm0,%rdi; mov $39,%eax; syscall; ... */
static const uint8_t code_fpu_patched[] = {
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0xb8, 0x27, 0x00, 0x00, 0x00, /* mov $39,%eax */
	0x0f, 0x05,		      /* syscall */
	0x66, 0x48, 0x0f, 0x6e, 0xce, /* movq %rsi,%xmm1 */
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0xeb, 0xe8,		      /* jmp back to the start */
};
static const uint8_t code_cpuid[] = { 0x0f, 0xa2 };
static const uint8_t code_fs_load[] = {
	0x64, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, /* mov %fs:8,%rax */
	0x0f, 0x05,					      /* syscall */
};
static const uint8_t code_vsyscall[] = {
	0x48, 0xc7, 0xc0, 0x00, 0x00, 0x60, 0xff, /* mov $0xffffffffff600000,%rax */
	0xff, 0xd0,				  /* call *%rax */
};
/* rep stosb over [rdi, rdi+rcx) with al, then a syscall with eax = 39. */
static const uint8_t code_scribble[] = {
	0xf3, 0xaa,		      /* rep stosb */
	0x90,			      /* nop */
	0xb8, 0x27, 0x00, 0x00, 0x00, /* mov $39,%eax */
	0x0f, 0x05,		      /* syscall */
};
/* openat(AT_FDCWD, path, O_CREAT|O_WRONLY, 0644) with the path right after the code. */
static const uint8_t code_openat[] = {
	0x48, 0x8d, 0x35, 0x19, 0x00, 0x00, 0x00, /* lea path(%rip),%rsi */
	0x48, 0xc7, 0xc7, 0x9c, 0xff, 0xff, 0xff, /* mov $-100,%rdi */
	0xba, 0x41, 0x00, 0x00, 0x00,		  /* mov $0x41,%edx */
	0x41, 0xba, 0xa4, 0x01, 0x00, 0x00,	  /* mov $0644,%r10d */
	0xb8, 0x01, 0x01, 0x00, 0x00,		  /* mov $257,%eax */
	0x0f, 0x05,				  /* syscall */
};
#define OPENAT_PATH_OFF 0x20 /* end of the lea (7) + 0x19 */

/* ---- helpers ---- */

static void put_code(unsigned page, const void *code, size_t len)
{
	memset(mem + page * PAGE, 0xcc, PAGE);
	memcpy(mem + page * PAGE, code, len);
}

static struct cpu_state *cpu_new(uint64_t rip)
{
	struct cpu_state *cpu = calloc(1, sizeof(*cpu));

	assert_non_null(cpu);
	cpu->fpu = aligned_alloc(64, ALIGN_UP(cpu_fpu_size(), 64));
	assert_non_null(cpu->fpu);
	cpu_fpu_init(cpu->fpu);
	cpu->fpu_valid = true;
	cpu->fpu_dirty = true;
	cpu->regs.rip = rip;
	cpu->regs.rsp = STACK_VA + PAGE - 128;
	cpu->regs.eflags = 0x202;
	return cpu;
}

static void cpu_free(struct cpu_state *cpu)
{
	free(cpu->fpu);
	free(cpu);
}

static struct address_space *as_new_on(struct platform *p, unsigned code_page)
{
	struct address_space *as = platform_new_address_space(p);

	assert_false(IS_ERR(as));
	assert_int_equal(
		platform_map_file(as, CODE_VA, PAGE, code_page * PAGE, PROT_READ | PROT_EXEC), 0);
	assert_int_equal(
		platform_map_file(as, STACK_VA, PAGE, STACK_PAGE * PAGE, PROT_READ | PROT_WRITE),
		0);
	return as;
}

/* An address space with the code page, the data page unmapped, and a stack. */
static struct address_space *as_new(unsigned code_page)
{
	return as_new_on(&plat, code_page);
}

static struct trap run(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct trap t;

	memset(&t, 0xaa, sizeof(t));
	assert_int_equal(platform_switch(c, as, cpu, &t), 0);
	return t;
}

static pid_t as_pid(struct address_space *as)
{
	return to_sas(as)->pid;
}

/* The stub thread of c in as (after c ran there). */
static struct sthread *ctx_thread_of(struct context *c)
{
	return to_sctx(c)->cache_t;
}

/* Number of entries in a /proc directory, minus . and .. */
static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Children (including zombies) of every thread of this process. */
static int count_children(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300];
		FILE *f;
		int pid;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fscanf(f, "%d", &pid) == 1)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static int stub_threads(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return count_dir(path);
}

/* A context, registers at CODE_VA, and an address space running `code` from CODE_VA. */
static struct address_space *rig_open(const void *code, size_t len, struct context **c,
				      struct cpu_state **cpu)
{
	*c = platform_new_context(&plat);
	assert_false(IS_ERR(*c));
	*cpu = cpu_new(CODE_VA);
	put_code(CODE_PAGE, code, len);
	return as_new(CODE_PAGE);
}

static void rig_close(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	platform_release_context(c);
	platform_release_address_space(as);
	cpu_free(cpu);
}

/* ---- setup ---- */

static int platform_on(struct platform *p, bool patching)
{
	struct platform_opts o = { .memfd = memfd,
				   .mem_base = mem,
				   .mem_size = MEM_SIZE,
				   .no_syscall_patching = !patching };

	return platform_init(p, &systrap_platform_ops, &o);
}

static int group_setup(void **state)
{
	char why[256];

	if (systrap_platform_ops.probe(why, sizeof(why)) < 0) {
		fprintf(stderr, "# skip: %s\n", why);
		exit(77);
	}
	memfd = memfd_create("cvisor-test-mem", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0)
		return -1;
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return -1;
	if (platform_on(&plat, true) < 0 || platform_on(&noplat, false) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	platform_fini(&noplat);
	platform_fini(&plat);
	munmap(mem, MEM_SIZE);
	close(memfd);
	return 0;
}

/* ---- registry ---- */

static void test_registry(void **state)
{
	const struct platform_ops *const *l = platform_list();
	char why[128];

	assert_ptr_equal(platform_lookup("systrap"), &systrap_platform_ops);
	assert_ptr_equal(l[0], &systrap_platform_ops);
	assert_ptr_equal(platform_default(why, sizeof(why)), &systrap_platform_ops);
	assert_int_equal(plat.min_user_address, TRAMP_TABLE_VA + TRAMP_TABLE_SIZE);
	assert_int_equal(plat.max_user_address, ((struct systrap_platform *)plat.priv)->base);
	assert_true(plat.max_user_address + STUB_REGION_SIZE <= SYSTRAP_TOP);
}

/* ---- traps ---- */

static void test_syscall_trap(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_two_syscalls, sizeof(code_two_syscalls), &c, &cpu);
	struct trap t;

	cpu->regs.rax = 39;
	cpu->regs.rdi = 1, cpu->regs.rsi = 2, cpu->regs.rdx = 3;
	cpu->regs.r10 = 4, cpu->regs.r8 = 5, cpu->regs.r9 = 6;
	cpu->regs.rbx = 7, cpu->regs.rbp = 8, cpu->regs.r15 = 9;
	cpu->regs.cs = 0x23; /* not the application's to choose: forced back to 64-bit */
	cpu->regs.ss = 0;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 39);
	assert_int_equal(cpu->regs.rax, 39);
	assert_int_equal(cpu->regs.rdi, 1);
	assert_int_equal(cpu->regs.r9, 6);
	assert_int_equal(cpu->regs.rbx, 7);
	assert_int_equal(cpu->regs.rbp, 8);
	assert_int_equal(cpu->regs.r15, 9);
	assert_int_equal(cpu->regs.rip, CODE_VA + 2);
	assert_int_equal(cpu->regs.rsp, STACK_VA + PAGE - 128);
	assert_int_equal(cpu->regs.cs, 0x33);
	cpu->regs.rax = 4242;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 60);
	assert_int_equal(cpu->regs.rdi, 4242);
	rig_close(c, as, cpu);
}

static void test_fault_map_retry(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	uint64_t magic = 0x1234;
	struct trap t;

	cpu->regs.rbx = DATA_VA + 8;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.signo, SIGSEGV);
	assert_int_equal(t.code, SEGV_MAPERR);
	assert_int_equal(t.addr, DATA_VA + 8);
	assert_int_equal(t.access, ACCESS_READ); /* the page-fault error code says so */
	assert_int_equal(t.trapno, 14);
	assert_int_equal(cpu->regs.rip, CODE_VA);

	memcpy(mem + DATA_PAGE * PAGE + 8, &magic, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, magic); /* the loaded value became the number */

	assert_int_equal(platform_unmap(as, DATA_VA, PAGE), 0);
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, DATA_VA + 8);
	rig_close(c, as, cpu);
}

static void test_write_fault(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_store, sizeof(code_store), &c, &cpu);
	uint64_t v;
	struct trap t;

	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rbx = DATA_VA + 16;
	cpu->regs.rcx = 0xfeedface;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.code, SEGV_ACCERR);
	assert_int_equal(t.addr, DATA_VA + 16);
	assert_int_equal(t.access, ACCESS_WRITE);
	assert_int_equal(
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ | PROT_WRITE), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	memcpy(&v, mem + DATA_PAGE * PAGE + 16, 8);
	assert_int_equal(v, 0xfeedface);
	rig_close(c, as, cpu);
}

static void test_exec_fault(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(DATA_VA + 0x40);
	struct address_space *as = as_new(CODE_PAGE);
	struct trap t = run(c, as, cpu);

	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, DATA_VA + 0x40);
	assert_int_equal(t.access, ACCESS_EXEC);
	assert_int_equal(t.trapno, 14);
	/* Mapped but not executable: an exec fault on a present page. */
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.code, SEGV_ACCERR);
	assert_int_equal(t.access, ACCESS_EXEC);
	rig_close(c, as, cpu);
}

/* fs_base comes from cpu_regs; the selectors are the stub's whatever the sentry passes. */
static void test_fs_base(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_fs_load, sizeof(code_fs_load), &c, &cpu);
	uint64_t v = 0xf5f5;

	memcpy(mem + DATA_PAGE * PAGE + 0x108, &v, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.fs_base = DATA_VA + 0x100;
	cpu->regs.fs = 0x2b;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 0xf5f5);
	assert_int_equal(cpu->regs.fs_base, DATA_VA + 0x100);
	assert_int_equal(cpu->regs.gs_base, 0);
	assert_int_equal(cpu->regs.fs, 0);
	rig_close(c, as, cpu);
}

static void check_signal(const uint8_t *code, size_t len, int signo, int si_code, int trapno,
			 uint64_t rip_after)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code, len, &c, &cpu);
	struct trap t = run(c, as, cpu);

	assert_int_equal(t.kind, TRAP_SIGNAL);
	assert_int_equal(t.signo, signo);
	if (si_code)
		assert_int_equal(t.code, si_code);
	assert_int_equal(t.trapno, trapno);
	assert_int_equal(cpu->regs.rip, rip_after);
	rig_close(c, as, cpu);
}

static void test_signals(void **state)
{
	check_signal(code_ud2, sizeof(code_ud2), SIGILL, ILL_ILLOPN, 6, CODE_VA);
	check_signal(code_int3, sizeof(code_int3), SIGTRAP, 0, 3, CODE_VA + 1);
	check_signal(code_div0, sizeof(code_div0), SIGFPE, FPE_INTDIV, 0, CODE_VA + 2);
}

static void test_vsyscall(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_vsyscall, sizeof(code_vsyscall), &c, &cpu);
	uint64_t sp = cpu->regs.rsp;
	struct trap t;

	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, 0xffffffffff600000ull);
	assert_int_equal(t.access, ACCESS_EXEC);
	assert_int_equal(cpu->regs.rip, 0xffffffffff600000ull);
	assert_int_equal(cpu->regs.rsp, sp - 8); /* the return address is on the stack */
	rig_close(c, as, cpu);
}

/* ---- FPU ---- */

static uint64_t xmm(const uint8_t *fpu, int i)
{
	uint64_t v;

	memcpy(&v, fpu + 160 + 16 * i, 8);
	return v;
}

static void set_xmm(uint8_t *fpu, int i, uint64_t v)
{
	memcpy(fpu + 160 + 16 * i, &v, 8);
}

static bool last_trap_patched(struct context *c);

/* loop: the code loops over its syscall (else it has two and ends). */
static void check_fpu_state(const uint8_t *code, size_t len, bool loop)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code, len, &c, &cpu);
	struct trap t;

	set_xmm(cpu->fpu, 0, 0x1111222233334444ull);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, 0x1111222233334444ull);
	assert_false(cpu->fpu_valid);
	assert_false(cpu->fpu_dirty);

	for (int i = 0; i < (loop ? 3 : 1); i++) { /* the state stays in the stub thread */
		cpu->regs.rsi = 0x5555666677778888ull + (uint64_t)i;
		t = run(c, as, cpu);
		assert_int_equal(t.kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.rdi, 0x1111222233334444ull);
	}
	assert_int_equal(platform_pull_full_state(c, as, cpu), 0);
	assert_true(cpu->fpu_valid);
	assert_int_equal(xmm(cpu->fpu, 0), 0x1111222233334444ull);
	assert_int_equal(xmm(cpu->fpu, 1), 0x5555666677778888ull + (loop ? 2 : 0));
	if (loop)
		assert_true(last_trap_patched(c)); /* so SAVE_FPU was used */
	/* The sentry rewrites xmm0 (as sigreturn would) and runs from the top again. */
	set_xmm(cpu->fpu, 0, 0x9999aaaabbbbccccull);
	cpu->fpu_dirty = true;
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(cpu->regs.rdi, 0x9999aaaabbbbccccull);
	/* Pulled twice in a row: the same. */
	assert_int_equal(platform_pull_full_state(c, as, cpu), 0);
	cpu->fpu_valid = false;
	assert_int_equal(platform_pull_full_state(c, as, cpu), 0);
	assert_int_equal(xmm(cpu->fpu, 0), 0x9999aaaabbbbccccull);
	rig_close(c, as, cpu);
}

static void test_fpu_state(void **state)
{
	check_fpu_state(code_fpu, sizeof(code_fpu), false);
	/* Patched sites keep the FPU live in the thread (SAVE_FPU / RESTORE_FPU). */
	check_fpu_state(code_fpu_patched, sizeof(code_fpu_patched), true);
}

/* A context moving to another address space without fpu_dirty keeps its FPU state. */
static void test_fpu_migrates(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *a, *b;
	struct trap t;

	put_code(CODE_PAGE, code_fpu, sizeof(code_fpu));
	a = as_new(CODE_PAGE);
	b = as_new(CODE_PAGE);
	set_xmm(cpu->fpu, 0, 0xabcdef);
	t = run(c, a, cpu);
	assert_int_equal(cpu->regs.rdi, 0xabcdef);
	cpu->regs.rip = CODE_VA;
	t = run(c, b, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, 0xabcdef);
	platform_release_context(c);
	platform_release_address_space(a);
	platform_release_address_space(b);
	cpu_free(cpu);
}

/* ---- syscall patching ---- */

static struct trap run_n(struct context *c, struct address_space *as, struct cpu_state *cpu,
			 int n)
{
	struct trap t;

	for (int i = 0; i < n; i++) {
		t = run(c, as, cpu);
		assert_int_equal(t.kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, 39);
		cpu->regs.rax = 1000 + (uint64_t)i;
	}
	return t;
}

/* Whether c's last trap came through the patched path (no signal frame). */
static bool last_trap_patched(struct context *c)
{
	return ctx_thread_of(c)->frame_fpu == NULL;
}

static void test_patch_site(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as, *other;
	uint8_t before[PAGE];

	put_code(PATCH_PAGE, code_patch_regs, sizeof(code_patch_regs));
	memcpy(before, mem + PATCH_PAGE * PAGE, PAGE);
	as = as_new(PATCH_PAGE);
	other = as_new(PATCH_PAGE);
	cpu->regs.rbx = 100, cpu->regs.rbp = 7, cpu->regs.r12 = 12, cpu->regs.r15 = 15;
	cpu->regs.rdx = 3, cpu->regs.rsi = 2, cpu->regs.rdi = 1;
	cpu->regs.r8 = 8, cpu->regs.r9 = 9, cpu->regs.r10 = 10;
	run_n(c, as, cpu, 1);
	assert_false(last_trap_patched(c)); /* the first one traps, and patches */
	run_n(c, as, cpu, 50);
	assert_true(last_trap_patched(c));
	assert_int_equal(cpu->regs.rip, CODE_VA + 8);
	assert_int_equal(cpu->regs.rbx, 150);
	assert_int_equal(cpu->regs.rbp, 7);
	assert_int_equal(cpu->regs.r12, 12);
	assert_int_equal(cpu->regs.r15, 15);
	assert_int_equal(cpu->regs.rdi, 1);
	assert_int_equal(cpu->regs.r10, 10);
	assert_int_equal(cpu->regs.rcx, CODE_VA + 8); /* as `syscall` leaves them */
	assert_int_equal(cpu->regs.r11 & 0xff, cpu->regs.eflags & 0xff);
	assert_int_equal(cpu->regs.rsp, STACK_VA + PAGE - 128);
	/* Copy on write: the memory file still has the original code... */
	assert_memory_equal(mem + PATCH_PAGE * PAGE, before, PAGE);
	/* ...and another address space mapping the same page traps as before. */
	cpu->regs.rip = CODE_VA + 1;
	run_n(c, other, cpu, 1);
	assert_false(last_trap_patched(c));
	/* A restart (rip back over the syscall) lands on the patched site's tail: SIGILL, run
	 * as the syscall. */
	cpu->regs.rip = CODE_VA + 8;
	run_n(c, as, cpu, 2);
	cpu->regs.rip -= 2;
	cpu->regs.rax = 39;
	run_n(c, as, cpu, 1);
	assert_int_equal(cpu->regs.rip, CODE_VA + 8);
	/* ...and with another number in rax (restart_syscall) it is that syscall. */
	cpu->regs.rip -= 2;
	cpu->regs.rax = SYS_restart_syscall;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, SYS_restart_syscall);
	assert_int_equal(cpu->regs.rip, CODE_VA + 8);
	/* Remapping the page drops the patch; the next trap patches again. */
	assert_int_equal(platform_map_file(as, CODE_VA, PAGE, PATCH_PAGE * PAGE,
					   PROT_READ | PROT_EXEC),
			 0);
	cpu->regs.rip = CODE_VA + 1;
	run_n(c, as, cpu, 1);
	assert_false(last_trap_patched(c));
	run_n(c, as, cpu, 1);
	assert_true(last_trap_patched(c));
	platform_release_context(c);
	platform_release_address_space(as);
	platform_release_address_space(other);
	cpu_free(cpu);
}

/* A writable code page, or patching off, is never patched. */
static void test_patch_refused(void **state)
{
	struct context *c = platform_new_context(&plat), *nc = platform_new_context(&noplat);
	struct cpu_state *cpu = cpu_new(CODE_VA + 1);
	struct address_space *as = platform_new_address_space(&plat), *nas;

	put_code(PATCH_PAGE + 1, code_getpid_loop, sizeof(code_getpid_loop));
	assert_false(IS_ERR(as));
	assert_int_equal(platform_map_file(as, CODE_VA, PAGE, (PATCH_PAGE + 1) * PAGE,
					   PROT_READ | PROT_WRITE | PROT_EXEC),
			 0);
	assert_int_equal(
		platform_map_file(as, STACK_VA, PAGE, STACK_PAGE * PAGE, PROT_READ | PROT_WRITE),
		0);
	run_n(c, as, cpu, 20);
	assert_false(last_trap_patched(c));
	nas = as_new_on(&noplat, PATCH_PAGE + 1);
	assert_int_equal(noplat.min_user_address, SYSTRAP_MIN_USER);
	run_n(nc, nas, cpu, 20);
	assert_false(last_trap_patched(nc));
	platform_release_context(c);
	platform_release_context(nc);
	platform_release_address_space(as);
	platform_release_address_space(nas);
	cpu_free(cpu);
}

/* An application with its own gs base still works at a patched site (through a trap). */
static void test_patch_app_gs(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA + 1);
	struct address_space *as;

	put_code(PATCH_PAGE + 2, code_getpid_loop, sizeof(code_getpid_loop));
	as = as_new(PATCH_PAGE + 2);
	run_n(c, as, cpu, 3);
	assert_true(last_trap_patched(c));
	assert_int_equal(cpu->regs.gs_base, 0); /* ours is not shown */
	cpu->regs.gs_base = STACK_VA;		/* readable, but not our message page */
	run_n(c, as, cpu, 3);
	assert_false(last_trap_patched(c));
	assert_int_equal(cpu->regs.gs_base, STACK_VA);
	assert_int_equal(cpu->regs.rip, CODE_VA + 8);
	cpu->regs.gs_base = 0x10000; /* unmapped: the probe faults */
	run_n(c, as, cpu, 3);
	assert_int_equal(cpu->regs.gs_base, 0x10000);
	cpu->regs.gs_base = 0;
	run_n(c, as, cpu, 3);
	assert_true(last_trap_patched(c));
	rig_close(c, as, cpu);
}

/* ---- interrupts ---- */

struct interrupter {
	struct context *c;
	pid_t pid;
	bool from_signal; /* interrupt from a signal handler rather than plainly */
	int delay_ms;
};

static struct context *handler_ctx;

static void interrupt_handler(int sig)
{
	platform_interrupt(handler_ctx); /* async-signal-safe */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void *interrupter_main(void *arg)
{
	struct interrupter *in = arg;

	sleep_ms(in->delay_ms);
	/* A stray signal to the stub first: ignored, never a trap. */
	kill(in->pid, SIGUSR1);
	sleep_ms(10);
	if (in->from_signal) {
		handler_ctx = in->c;
		signal(SIGUSR2, interrupt_handler);
		pthread_kill(pthread_self(), SIGUSR2);
	} else {
		platform_interrupt(in->c);
	}
	return NULL;
}

static void test_interrupt_before(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_two_syscalls, sizeof(code_two_syscalls), &c, &cpu);
	struct trap t;

	platform_interrupt(c);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_INTERRUPT);
	assert_int_equal(cpu->regs.rip, CODE_VA); /* nothing ran */
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

static void check_interrupt_during(bool from_signal, int delay_ms)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct interrupter in = { .c = c, .from_signal = from_signal, .delay_ms = delay_ms };
	struct address_space *as;
	pthread_t th;
	struct trap t;

	put_code(CODE_PAGE, code_spin, sizeof(code_spin));
	as = as_new(CODE_PAGE);
	in.pid = as_pid(as);
	assert_int_equal(pthread_create(&th, NULL, interrupter_main, &in), 0);
	t = run(c, as, cpu);
	pthread_join(th, NULL);
	assert_int_equal(t.kind, TRAP_INTERRUPT);
	assert_int_equal(cpu->regs.rip, CODE_VA);
	assert_int_equal(kill(as_pid(as), 0), 0); /* the stub survived SIGUSR1 */
	/* And it runs on. */
	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

static void test_interrupt_during(void **state)
{
	check_interrupt_during(false, 20);
	check_interrupt_during(true, 20);
	check_interrupt_during(false, 0); /* probably while the thread is still starting */
}

/* Interrupts racing with patched-path returns (the RETURNING window) are never lost. */
struct racer {
	struct context *c;
	atomic_bool stop;
	int sent;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		platform_interrupt(r->c);
		r->sent++;
		for (volatile int i = 0; i < 2000; i++)
			;
	}
	return NULL;
}

static void test_interrupt_race(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA + 1);
	struct racer r = { .c = c };
	struct address_space *as;
	int interrupts = 0, syscalls = 0;
	pthread_t th;

	put_code(PATCH_PAGE + 3, code_getpid_loop, sizeof(code_getpid_loop));
	as = as_new(PATCH_PAGE + 3);
	atomic_init(&r.stop, false);
	assert_int_equal(pthread_create(&th, NULL, racer_main, &r), 0);
	for (int i = 0; i < 20000; i++) {
		struct trap t = run(c, as, cpu);

		if (t.kind == TRAP_INTERRUPT) {
			interrupts++;
		} else {
			assert_int_equal(t.kind, TRAP_SYSCALL);
			assert_int_equal(cpu->regs.orig_rax, 39);
			assert_int_equal(cpu->regs.rip, CODE_VA + 8);
			syscalls++;
		}
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	assert_true(interrupts > 0 && syscalls > 0);
	/* One more pending at most: then it runs again. */
	if (run(c, as, cpu).kind == TRAP_INTERRUPT)
		assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

/* ---- concurrency ---- */

struct worker {
	struct address_space *as; /* shared, or NULL: make one */
	unsigned page;
	int id;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as = w->as ? w->as : platform_new_address_space(&plat);
	struct trap t;

	w->ok = !IS_ERR(as) && !IS_ERR(c);
	if (!w->as && w->ok)
		w->ok = platform_map_file(as, CODE_VA, PAGE, w->page * PAGE,
					  PROT_READ | PROT_EXEC) == 0;
	cpu->regs.rdi = (uint64_t)w->id * 1000;
	for (int i = 1; w->ok && i <= 500; i++) {
		w->ok = platform_switch(c, as, cpu, &t) == 0 && t.kind == TRAP_SYSCALL &&
			cpu->regs.rdi == (uint64_t)w->id * 1000 + (uint64_t)i;
	}
	platform_release_context(c);
	if (!w->as && !IS_ERR(as))
		platform_release_address_space(as);
	cpu_free(cpu);
	return NULL;
}

static void run_workers(struct address_space *shared)
{
	struct worker w[6];
	pthread_t th[6];

	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ .as = shared, .page = THREAD_PAGE + (unsigned)i, .id = i };
		put_code(w[i].page, code_count, sizeof(code_count));
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_true(w[i].ok);
	}
}

static void wait_threads(pid_t pid, int n)
{
	for (int i = 0; i < 500 && stub_threads(pid) != n; i++)
		sleep_ms(2);
	assert_int_equal(stub_threads(pid), n);
}

static void test_threads_same_as(void **state)
{
	struct address_space *as;

	put_code(THREAD_PAGE, code_count, sizeof(code_count));
	as = as_new(THREAD_PAGE);
	run_workers(as);
	run_workers(as); /* slots of exited threads are reused */
	/* Workers released their contexts: their threads exit; the syscall thread remains. */
	wait_threads(as_pid(as), 1);
	assert_true(to_sas(as)->nslots <= 16);
	platform_release_address_space(as);
}

static void test_threads_own_as(void **state)
{
	int children = count_children();

	run_workers(NULL);
	assert_int_equal(count_children(), children);
}

/* ---- lifetime ---- */

static void test_release_no_leak(void **state)
{
	const char *env = getenv("CV_STRESS");
	int n = env ? atoi(env) : 2000;
	int children = count_children(), threads = count_dir("/proc/self/task");
	int fds = count_dir("/proc/self/fd");
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);

	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	for (int i = 0; i < n; i++) {
		struct address_space *as = platform_new_address_space(&plat);
		struct trap t;

		assert_false(IS_ERR(as));
		assert_int_equal(platform_map_file(as, CODE_VA, PAGE, 0, PROT_READ | PROT_EXEC), 0);
		cpu->regs.rip = CODE_VA;
		cpu->fpu_dirty = true; /* a fresh image, as exec gives */
		t = run(c, as, cpu);
		assert_int_equal(t.kind, TRAP_SYSCALL);
		platform_release_address_space(as);
	}
	platform_release_context(c);
	cpu_free(cpu);
	assert_int_equal(count_children(), children);
	assert_int_equal(count_dir("/proc/self/task"), threads);
	assert_int_equal(count_dir("/proc/self/fd"), fds);
}

static void test_release_context(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *a = as_new(CODE_PAGE), *b = as_new(CODE_PAGE);

	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	run(c, a, cpu);
	cpu->regs.rip = CODE_VA;
	run(c, b, cpu);
	assert_int_equal(stub_threads(as_pid(a)), 2);
	assert_int_equal(stub_threads(as_pid(b)), 2);
	platform_release_context(c);
	wait_threads(as_pid(a), 1);
	wait_threads(as_pid(b), 1);
	platform_release_address_space(a);
	platform_release_address_space(b);
	cpu_free(cpu);
}

static void test_killed_stub(void **state)
{
	int children = count_children();
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_count, sizeof(code_count), &c, &cpu);
	struct trap t;

	run(c, as, cpu);
	kill(as_pid(as), SIGKILL);
	assert_int_equal(platform_switch(c, as, cpu, &t), -ESRCH);
	assert_int_equal(platform_switch(c, as, cpu, &t), -ESRCH);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, 0, PROT_READ), -ESRCH);
	platform_release_context(c);
	platform_release_address_space(as);
	assert_int_equal(count_children(), children);
	cpu_free(cpu);
}

/* A stub killed while its thread runs application code: the switch returns, with -ESRCH. */
static void *killer_main(void *arg)
{
	sleep_ms(30);
	kill(*(pid_t *)arg, SIGKILL);
	return NULL;
}

static void test_killed_while_running(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_spin, sizeof(code_spin), &c, &cpu);
	pid_t pid = as_pid(as);
	pthread_t th;
	struct trap t;

	assert_int_equal(pthread_create(&th, NULL, killer_main, &pid), 0);
	assert_int_equal(platform_switch(c, as, cpu, &t), -ESRCH);
	pthread_join(th, NULL);
	rig_close(c, as, cpu);
}

/* ---- isolation and hostile applications ---- */

/* An application syscall the host would run is reported, never run by the host. */
static void test_host_syscall_not_executed(void **state)
{
	char path[64], *p = (char *)mem + CODE_PAGE * PAGE + OPENAT_PATH_OFF;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	struct stat st;
	struct trap t;

	snprintf(path, sizeof(path), "/tmp/cvisor-systrap-%d", getpid());
	unlink(path);
	put_code(CODE_PAGE, code_openat, sizeof(code_openat));
	strcpy(p, path);
	as = as_new(CODE_PAGE);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, SYS_openat);
	assert_int_equal(cpu->regs.rsi, CODE_VA + OPENAT_PATH_OFF);
	assert_int_equal(cpu->regs.rdx, O_CREAT | O_WRONLY);
	assert_int_equal(stat(path, &st), -1);
	rig_close(c, as, cpu);
}

/* What is left in a stub: its region, the table, application mappings, three fds, seccomp. */
static void test_stub_is_bare(void **state)
{
	struct address_space *as = as_new(CODE_PAGE);
	char path[64], line[256];
	int maps = 0, seccomp = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", as_pid(as));
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo;

		sscanf(line, "%lx", &lo);
		/* application pages, the table, the region's pages, [vsyscall] */
		assert_true(lo == CODE_VA || lo == STACK_VA || lo == TRAMP_TABLE_VA ||
			    (lo >= plat.max_user_address && lo < SYSTRAP_TOP) ||
			    lo == 0xffffffffff600000ul);
		maps++;
	}
	fclose(f);
	assert_true(maps <= 8);
	snprintf(path, sizeof(path), "/proc/%d/fd", as_pid(as));
	assert_int_equal(count_dir(path), 3);
	snprintf(path, sizeof(path), "/proc/%d/status", as_pid(as));
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f))
		sscanf(line, "Seccomp: %d", &seccomp);
	fclose(f);
	assert_int_equal(seccomp, 2);
	platform_release_address_space(as);
}

/* Addresses of every `syscall` instruction (0f 05, aligned or not) in the stub's code. */
static size_t stub_syscall_sites(uint64_t *out, size_t max)
{
	struct systrap_platform *sp = plat.priv;
	const uint8_t *code = (const uint8_t *)(uintptr_t)sp->base;
	size_t n = 0;

	for (uint32_t i = 0; i + 1 < sp->hdr.code_end && n < max; i++) {
		if (code[i] == 0x0f && code[i + 1] == 0x05)
			out[n++] = sp->base + i;
	}
	return n;
}

/*
 * The application jumps onto every syscall instruction of the stub with the registers of
 * calls that would matter: mmap of the memory file, munmap of the stub region, writing to the
 * acknowledgement pipe, clone, a new seccomp filter, prctl.  Each must come back as an
 * ordinary application syscall (or kill the stub): none runs on the host.
 */
static void test_hostile_stub_syscalls(void **state)
{
	struct systrap_platform *sp = plat.priv;
	const uint64_t attacks[][7] = {
		{ SYS_mmap, DATA_VA, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		  STUB_MEMFD, 0 },
		{ SYS_mmap, DATA_VA, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		  STUB_PRIVFD, SHM_MASTER_CTL_OFF },
		{ SYS_munmap, sp->base, STUB_CTL_OFF, 0, 0, 0, 0 },
		{ SYS_write, STUB_ACKFD, STACK_VA, 8, 0, 0, 0 },
		{ SYS_clone, STUB_FORK_CLONE_FLAGS, 0, 0, 0, 0, 0 },
		{ SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, 0, 0, 0, 0 },
		{ SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0 },
		{ SYS_getppid, 0, 0, 0, 0, 0, 0 },
	};
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	uint64_t sites[64];
	size_t n = stub_syscall_sites(sites, ARRAY_SIZE(sites)), checked = 0;

	assert_true(n >= 10);
	put_code(CODE_PAGE, code_load_syscall, sizeof(code_load_syscall));
	as = as_new(CODE_PAGE);
	for (size_t s = 0; s < n; s++) {
		for (size_t a = 0; a < ARRAY_SIZE(attacks); a++) {
			struct trap t;
			int r;

			memset(&cpu->regs, 0, sizeof(cpu->regs));
			cpu->regs.rax = attacks[a][0];
			cpu->regs.rdi = attacks[a][1], cpu->regs.rsi = attacks[a][2];
			cpu->regs.rdx = attacks[a][3], cpu->regs.r10 = attacks[a][4];
			cpu->regs.r8 = attacks[a][5], cpu->regs.r9 = attacks[a][6];
			cpu->regs.rip = sites[s];
			cpu->regs.rsp = STACK_VA + PAGE - 128;
			cpu->regs.eflags = 0x202;
			r = platform_switch(c, as, cpu, &t);
			if (r == -ESRCH) { /* the stub died of it: fine, start a new one */
				platform_release_address_space(as);
				as = as_new(CODE_PAGE);
				continue;
			}
			assert_int_equal(r, 0);
			if (t.kind != TRAP_SYSCALL || cpu->regs.orig_rax != attacks[a][0])
				fprintf(stderr, "DBG site %zu (+%#lx) attack %zu: kind %d nr %llu rip %#llx\n", s, (long)(sites[s] - sp->base), a, t.kind, (unsigned long long)cpu->regs.orig_rax, (unsigned long long)cpu->regs.rip);
			assert_int_equal(t.kind, TRAP_SYSCALL);
			assert_int_equal(cpu->regs.orig_rax, attacks[a][0]);
			assert_int_equal(cpu->regs.rip, sites[s] + 2);
			checked++;
		}
	}
	/* Nothing got mapped at DATA_VA: a load there still faults. */
	memset(&cpu->regs, 0, sizeof(cpu->regs));
	cpu->regs.rip = CODE_VA;
	cpu->regs.rbx = DATA_VA;
	cpu->regs.rsp = STACK_VA + PAGE - 128;
	assert_int_equal(run(c, as, cpu).kind, TRAP_FAULT);
	assert_true(checked > n);
	rig_close(c, as, cpu);
}

/* Interrupts c every 20 ms until stopped (the sentry's way out of a stuck thread). */
struct watchdog {
	struct context *c;
	atomic_bool stop;
	pthread_t th;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;

	while (!atomic_load(&w->stop)) {
		sleep_ms(20);
		platform_interrupt(w->c);
	}
	return NULL;
}

static void watchdog_start(struct watchdog *w, struct context *c)
{
	w->c = c;
	atomic_init(&w->stop, false);
	assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
	((struct systrap_platform *)plat.priv)->interrupt_grace_ns = 100000000;
}

static void watchdog_stop(struct watchdog *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->th, NULL);
	((struct systrap_platform *)plat.priv)->interrupt_grace_ns = INTERRUPT_GRACE_NS;
}

/*
 * The application jumps into the stub's code at arbitrary places, with garbage registers:
 * whatever it does there, the sentry survives, the switch returns (a trap, or -ESRCH when the
 * stub had to be killed: for instance a thread stuck in the stub's futex wait no longer
 * answers interrupts), and the host sees nothing but the stub's harmless calls.
 */
static void test_hostile_jumps(void **state)
{
	struct systrap_platform *sp = plat.priv;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as = as_new(CODE_PAGE);
	struct watchdog w;
	int killed = 0, jumps = 0;

	watchdog_start(&w, c);
	for (uint32_t off = 0; off < sp->hdr.code_end; off += 5, jumps++) {
		struct trap t;
		int r;

		memset(&cpu->regs, 0x41, sizeof(cpu->regs));
		cpu->regs.rax = SYS_mmap;
		cpu->regs.rip = sp->base + off;
		cpu->regs.rsp = STACK_VA + PAGE - 256;
		cpu->regs.eflags = 0x202;
		cpu->regs.fs_base = cpu->regs.gs_base = 0;
		r = platform_switch(c, as, cpu, &t);
		if (r == -ESRCH) {
			killed++;
			platform_release_address_space(as);
			as = as_new(CODE_PAGE);
			continue;
		}
		assert_int_equal(r, 0);
	}
	watchdog_stop(&w);
	fprintf(stderr, "# %d of %d jumps killed the stub\n", killed, jumps);
	rig_close(c, as, cpu);
}

/* The application scribbles over its own message page, FPU area and stack, then traps. */
static void test_hostile_scribble(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	int alive = 0;

	put_code(CODE_PAGE, code_scribble, sizeof(code_scribble));
	as = as_new(CODE_PAGE);
	for (int pattern = 0; pattern < 256; pattern += 17) {
		for (int what = 0; what < 3; what++) {
			struct sthread *st;
			struct trap t;
			int r;

			cpu->regs.rip = CODE_VA;
			cpu->regs.rcx = 0;
			if (run(c, as, cpu).kind != TRAP_SYSCALL)
				continue;
			st = ctx_thread_of(c);
			cpu->regs.rip = CODE_VA;
			cpu->regs.rax = (uint64_t)pattern;
			cpu->regs.rdi = st->slot_va + (what == 0 ? SLOT_MSG_OFF
						       : what == 1 ? SLOT_FPU_OFF
								   : SLOT_STACK_OFF);
			cpu->regs.rcx = what == 2 ? SLOT_SHARED_LEN : PAGE;
			r = platform_switch(c, as, cpu, &t);
			if (r == -ESRCH) {
				platform_release_address_space(as);
				as = as_new(CODE_PAGE);
				continue;
			}
			assert_int_equal(r, 0);
			alive++;
		}
	}
	fprintf(stderr, "# stub survived %d of 48 scribbles\n", alive);
	rig_close(c, as, cpu);
}

/* A second thread of the application scribbles on the first one's message page, without
 * pause, while the first makes syscalls: the sentry survives (the switch returns traps, maybe
 * forged ones, or -ESRCH once the stub had to be killed). */
struct scribbler {
	struct address_space *as;
	uint64_t target;
	atomic_bool stop;
};

static const uint8_t code_scribble_loop[] = {
	0x48, 0x89, 0xdf, /* mov %rbx,%rdi */
	0x48, 0x89, 0xe9, /* mov %rbp,%rcx */
	0xf3, 0xaa,	  /* rep stosb */
	0xfe, 0xc0,	  /* inc %al */
	0xeb, 0xf4,	  /* jmp back */
};

static void *scribbler_main(void *arg)
{
	struct scribbler *s = arg;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA + PAGE);
	struct watchdog w;
	struct trap t;

	watchdog_start(&w, c);
	cpu->regs.rbx = s->target;
	cpu->regs.rbp = 512; /* the handoff words, the report and the registers */
	while (!atomic_load(&s->stop)) {
		if (platform_switch(c, s->as, cpu, &t) < 0)
			break;
		cpu->regs.rip = CODE_VA + PAGE;
	}
	atomic_store(&w.stop, true);
	pthread_join(w.th, NULL);
	platform_release_context(c);
	cpu_free(cpu);
	return NULL;
}

static void test_hostile_concurrent(void **state)
{
	struct scribbler s;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as = platform_new_address_space(&plat);
	struct watchdog w;
	uint64_t t0 = 0;
	int ok = 0, err = 0;
	pthread_t th;

	put_code(CODE_PAGE + 3, code_count, sizeof(code_count));
	put_code(CODE_PAGE + 4, code_scribble_loop, sizeof(code_scribble_loop));
	assert_int_equal(platform_map_file(as, CODE_VA, 2 * PAGE, (CODE_PAGE + 3) * PAGE,
					   PROT_READ | PROT_EXEC),
			 0);
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	s.as = as;
	s.target = ctx_thread_of(c)->slot_va + SLOT_MSG_OFF;
	atomic_init(&s.stop, false);
	watchdog_start(&w, c);
	assert_int_equal(pthread_create(&th, NULL, scribbler_main, &s), 0);
	for (struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts) == 0 &&
				 (t0 ? (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - t0
				     : (t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
					0)) < 500000000ull;) {
		struct trap t;

		if (platform_switch(c, as, cpu, &t) < 0) {
			err++;
			break;
		}
		ok++;
		cpu->regs.rip = CODE_VA;
	}
	atomic_store(&s.stop, true);
	watchdog_stop(&w);
	kill(as_pid(as), SIGKILL); /* the scribbler may be stuck in a forged wait */
	pthread_join(th, NULL);
	fprintf(stderr, "# %d switches, %d errors under a concurrent scribbler\n", ok, err);
	rig_close(c, as, cpu);
}

static void test_map_checks(void **state)
{
	struct address_space *as = platform_new_address_space(&plat);

	assert_false(IS_ERR(as));
	assert_int_equal(platform_map_file(as, plat.max_user_address, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(
		platform_map_file(as, plat.max_user_address - PAGE, 2 * PAGE, 0, PROT_READ),
		-EINVAL);
	assert_int_equal(platform_map_file(as, 0, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_map_file(as, TRAMP_TABLE_VA, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_map_file(as, CODE_VA + 1, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_unmap(as, plat.max_user_address, PAGE), -EINVAL);
	assert_int_equal(platform_unmap(as, TRAMP_TABLE_VA, PAGE), -EINVAL);
	assert_int_equal(platform_map_file(as, plat.max_user_address - PAGE, PAGE, 0, PROT_READ),
			 0);
	platform_release_address_space(as);
}

/* A platform with CPUID faulting: cpuid traps as SIGSEGV/SI_KERNEL (where the CPU has it). */
static void test_cpuid_faulting(void **state)
{
	struct platform p2;
	struct platform_opts o = {
		.memfd = memfd, .mem_base = mem, .mem_size = MEM_SIZE, .cpuid_faulting = true
	};
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	struct context *c;
	struct trap t;

	put_code(CODE_PAGE + 1, code_cpuid, sizeof(code_cpuid));
	assert_int_equal(platform_init(&p2, &systrap_platform_ops, &o), 0);
	as = as_new_on(&p2, CODE_PAGE + 1);
	c = platform_new_context(&p2);
	assert_int_equal(platform_switch(c, as, cpu, &t), 0);
	if (t.kind == TRAP_SIGNAL) { /* else no CPUID faulting on this CPU: it just ran */
		assert_int_equal(t.signo, SIGSEGV);
		assert_int_equal(t.code, SI_KERNEL);
		assert_int_equal(t.trapno, 13);
		assert_int_equal(cpu->regs.rip, CODE_VA);
	}
	platform_release_context(c);
	platform_release_address_space(as);
	platform_fini(&p2);
	cpu_free(cpu);
}

/* ---- benchmark ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(tid, sizeof(set), &set);
}

static void unpin(pid_t tid)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(tid, sizeof(set), &set);
}

static int bench_pinned; /* 1: stub thread on CPU 0, the sentry thread on CPU 1; 2: both on 1 */

/* ns per getpid round trip of the guest loop at CODE_VA + 1 on the platform p. */
static double bench_platform(struct platform *p, unsigned page, int n)
{
	struct context *c = platform_new_context(p);
	struct cpu_state *cpu = cpu_new(CODE_VA + 1);
	struct address_space *as = platform_new_address_space(p);
	struct trap t;
	uint64_t t0 = 0;
	double ns;

	assert_false(IS_ERR(as));
	assert_int_equal(platform_map_file(as, CODE_VA, PAGE, page * PAGE, PROT_READ | PROT_EXEC),
			 0);
	for (int i = -2000; i < n; i++) { /* warm-up */
		if (i == -1 && bench_pinned && p->ops == &systrap_platform_ops) {
			pin(ctx_thread_of(c)->tid, bench_pinned == 1 ? 0 : 1);
			pin(0, 1);
		}
		if (i == 0)
			t0 = now_ns();
		platform_switch(c, as, cpu, &t);
		cpu->regs.rax = 4242; /* getpid's result */
	}
	ns = (double)(now_ns() - t0) / n;
	unpin(0);
	platform_release_context(c);
	platform_release_address_space(as);
	cpu_free(cpu);
	return ns;
}

static void test_bench_getpid(void **state)
{
	const int n = 200000;
	struct platform pt;
	struct platform_opts o = { .memfd = memfd, .mem_base = mem, .mem_size = MEM_SIZE };
	char why[256];
	bool have_ptrace;
	uint64_t t0;
	double native;

	if (!getenv("CV_BENCH"))
		skip();
	put_code(PATCH_PAGE + 10, code_getpid_loop, sizeof(code_getpid_loop));
	have_ptrace = ptrace_platform_ops.probe(why, sizeof(why)) == 0 &&
		      platform_init(&pt, &ptrace_platform_ops, &o) == 0;
	for (int rep = 0; rep < 5; rep++) {
		t0 = now_ns();
		for (int i = 0; i < n; i++)
			syscall(SYS_getpid);
		native = (double)(now_ns() - t0) / n;
		printf("# bench: getpid native %.0f ns | systrap patched %.0f, unpatched %.0f | "
		       "ptrace %.0f ns",
		       native, bench_platform(&plat, PATCH_PAGE + 10, n),
		       bench_platform(&noplat, PATCH_PAGE + 10, n / 4),
		       have_ptrace ? bench_platform(&pt, PATCH_PAGE + 10, n / 20) : -1.0);
		bench_pinned = 1;
		printf(" | systrap pinned to 2 CPUs: patched %.0f, unpatched %.0f ns",
		       bench_platform(&plat, PATCH_PAGE + 10, n),
		       bench_platform(&noplat, PATCH_PAGE + 10, n / 4));
		bench_pinned = 2;
		printf(" | on 1 CPU: patched %.0f, unpatched %.0f ns\n",
		       bench_platform(&plat, PATCH_PAGE + 10, n / 4),
		       bench_platform(&noplat, PATCH_PAGE + 10, n / 4));
		bench_pinned = 0;
	}
	if (have_ptrace)
		platform_fini(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_syscall_trap),
		cmocka_unit_test(test_fault_map_retry),
		cmocka_unit_test(test_write_fault),
		cmocka_unit_test(test_exec_fault),
		cmocka_unit_test(test_fs_base),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_vsyscall),
		cmocka_unit_test(test_fpu_state),
		cmocka_unit_test(test_fpu_migrates),
		cmocka_unit_test(test_patch_site),
		cmocka_unit_test(test_patch_refused),
		cmocka_unit_test(test_patch_app_gs),
		cmocka_unit_test(test_interrupt_before),
		cmocka_unit_test(test_interrupt_during),
		cmocka_unit_test(test_interrupt_race),
		cmocka_unit_test(test_threads_same_as),
		cmocka_unit_test(test_threads_own_as),
		cmocka_unit_test(test_release_context),
		cmocka_unit_test(test_killed_stub),
		cmocka_unit_test(test_killed_while_running),
		cmocka_unit_test(test_host_syscall_not_executed),
		cmocka_unit_test(test_stub_is_bare),
		cmocka_unit_test(test_hostile_stub_syscalls),
		cmocka_unit_test(test_hostile_jumps),
		cmocka_unit_test(test_hostile_scribble),
		cmocka_unit_test(test_hostile_concurrent),
		cmocka_unit_test(test_map_checks),
		cmocka_unit_test(test_cpuid_faulting),
		cmocka_unit_test(test_release_no_leak),
		cmocka_unit_test(test_bench_getpid),
	};

	if (getenv("CV_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CV_TEST_FILTER"));
	alarm(1200); /* a hang is a failure, never a stuck `make check` */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
