/*
 * The ptrace platform, for real: a memory file, stub processes, hand-assembled guest code.
 * Needs ptrace permission (root or same uid, yama < 3); skips (77) otherwise.
 * CV_BENCH=1 also measures a getpid round trip against native getpid.
 * CV_STRESS=N sets the number of address spaces in the create/release loop (default 10000).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvisor/platform.h"
#include "../../platform/platforms.h"
#include "../../platform/ptrace/ptrace_internal.h"

#define MEM_SIZE (16ul << 20)
#define PAGE 4096ul
#define CODE_VA 0x400000ul  /* memory file page CODE_PAGE + i -> CODE_VA + i * PAGE */
#define DATA_VA 0x600000ul  /* memory file page DATA_PAGE */
#define STACK_VA 0x700000ul /* memory file page STACK_PAGE */
#define CODE_PAGE 0
#define DATA_PAGE 64
#define STACK_PAGE 65
#define THREAD_PAGE 128 /* per-thread code pages for the concurrency tests */

static struct platform plat;
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
static const uint8_t code_getpid_loop[] = {
	0xb8, 0x27, 0x00, 0x00, 0x00, /* mov $39,%eax */
	0x0f, 0x05,		      /* syscall */
	0xeb, 0xf7,		      /* jmp back */
};
static const uint8_t code_fpu[] = {
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0x0f, 0x05,		      /* syscall */
	0x66, 0x48, 0x0f, 0x6e, 0xce, /* movq %rsi,%xmm1 */
	0x66, 0x48, 0x0f, 0x7e, 0xc7, /* movq %xmm0,%rdi */
	0x0f, 0x05,		      /* syscall */
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

/* An address space with the code page, the data page unmapped, and a stack. */
static struct address_space *as_new(unsigned code_page)
{
	struct address_space *as = platform_new_address_space(&plat);

	assert_false(IS_ERR(as));
	assert_int_equal(
		platform_map_file(as, CODE_VA, PAGE, code_page * PAGE, PROT_READ | PROT_EXEC), 0);
	assert_int_equal(
		platform_map_file(as, STACK_VA, PAGE, STACK_PAGE * PAGE, PROT_READ | PROT_WRITE),
		0);
	return as;
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
	return to_pas(as)->pid;
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

static int group_setup(void **state)
{
	struct platform_opts o = { .mem_size = MEM_SIZE };
	char why[256];

	if (ptrace_platform_ops.probe(why, sizeof(why)) < 0) {
		fprintf(stderr, "# skip: %s\n", why);
		exit(77);
	}
	memfd = memfd_create("cvisor-test-mem", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0)
		return -1;
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return -1;
	o.memfd = memfd;
	o.mem_base = mem;
	return platform_init(&plat, &ptrace_platform_ops, &o);
}

static int group_teardown(void **state)
{
	platform_fini(&plat);
	munmap(mem, MEM_SIZE);
	close(memfd);
	return 0;
}

/* ---- registry and CPU helpers ---- */

static void test_registry(void **state)
{
	const struct platform_ops *const *l = platform_list();
	char why[128];

	assert_ptr_equal(platform_lookup("ptrace"), &ptrace_platform_ops);
	assert_null(platform_lookup("nosuch"));
	/* systrap is preferred; ptrace is the default where systrap's probe fails. */
	assert_ptr_equal(l[0], &systrap_platform_ops);
	assert_ptr_equal(l[1], &ptrace_platform_ops);
	assert_ptr_equal(platform_default(why, sizeof(why)),
			 systrap_platform_ops.probe(why, sizeof(why)) == 0 ? &systrap_platform_ops
									  : &ptrace_platform_ops);
	assert_true(plat.min_user_address >= 0x10000);
	assert_int_equal(plat.max_user_address, ((struct ptrace_platform *)plat.priv)->stub_base);
}

static void test_fpu_init(void **state)
{
	uint8_t *fpu = aligned_alloc(64, ALIGN_UP(cpu_fpu_size(), 64));
	uint16_t fcw;
	uint32_t mxcsr;

	assert_true(cpu_fpu_size() >= 512);
	cpu_fpu_init(fpu);
	memcpy(&fcw, fpu, 2);
	memcpy(&mxcsr, fpu + 24, 4);
	assert_int_equal(fcw, 0x37f);
	assert_int_equal(mxcsr, 0x1f80);
	for (size_t i = 160; i < 512; i++) /* xmm registers and the rest of the legacy area */
		assert_int_equal(fpu[i], 0);
	free(fpu);
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
	cpu->regs.cs = 0x23; /* not the application's to choose: forced back to 64-bit */
	cpu->regs.ss = 0;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 39);
	assert_int_equal(cpu->regs.rax, 39);
	assert_int_equal(cpu->regs.rdi, 1);
	assert_int_equal(cpu->regs.r9, 6);
	assert_int_equal(cpu->regs.rip, CODE_VA + 2);
	assert_int_equal(cpu->regs.cs, 0x33);
	cpu->regs.rax = 4242; /* the return value: only rax changes (POKEUSER path) */
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
	assert_int_equal(t.access, 0);
	assert_int_equal(cpu->regs.rip, CODE_VA);

	memcpy(mem + DATA_PAGE * PAGE + 8, &magic, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, magic); /* the loaded value became the number */

	/* Unmapped again: the same load faults again. */
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
	/* What the sentry's mm does next: map it writable and retry. */
	assert_int_equal(
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ | PROT_WRITE), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	memcpy(&v, mem + DATA_PAGE * PAGE + 16, 8);
	assert_int_equal(v, 0xfeedface); /* the store went to the memory file */
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
	assert_int_equal(cpu->regs.fs, 0);
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

static void test_fpu_state(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_fpu, sizeof(code_fpu), &c, &cpu);
	struct trap t;

	set_xmm(cpu->fpu, 0, 0x1111222233334444ull);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, 0x1111222233334444ull);
	assert_false(cpu->fpu_valid);
	assert_false(cpu->fpu_dirty);
	cpu->regs.rsi = 0x5555666677778888ull;
	t = run(c, as, cpu); /* the state stayed in the stub thread */
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, 0x1111222233334444ull);
	assert_int_equal(platform_pull_full_state(c, as, cpu), 0);
	assert_true(cpu->fpu_valid);
	assert_int_equal(xmm(cpu->fpu, 0), 0x1111222233334444ull);
	assert_int_equal(xmm(cpu->fpu, 1), 0x5555666677778888ull);
	/* The sentry rewrites xmm0 (as sigreturn would) and runs from the top again. */
	set_xmm(cpu->fpu, 0, 0x9999aaaabbbbccccull);
	cpu->fpu_dirty = true;
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(cpu->regs.rdi, 0x9999aaaabbbbccccull);
	rig_close(c, as, cpu);
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

/* ---- interrupts ---- */

struct interrupter {
	struct context *c;
	pid_t pid, tid;	  /* the stub thread running the guest */
	bool from_signal; /* interrupt from a signal handler rather than plainly */
};

static struct context *handler_ctx;

static void interrupt_handler(int sig)
{
	platform_interrupt(handler_ctx); /* async-signal-safe */
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };

	nanosleep(&ts, NULL);
}

static void *interrupter_main(void *arg)
{
	struct interrupter *in = arg;

	sleep_ms(20);
	/* Stray signals first, process- and thread-directed: both dropped, never a trap. */
	kill(in->pid, SIGUSR1);
	syscall(SYS_tgkill, in->pid, in->tid, SIGUSR1);
	sleep_ms(20);
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

static void check_interrupt_during(bool from_signal)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct interrupter in = { .c = c, .from_signal = from_signal };
	struct address_space *as;
	struct stub_thread *st;
	pthread_t th;
	struct trap t;

	put_code(CODE_PAGE, code_spin, sizeof(code_spin));
	as = as_new(CODE_PAGE);
	st = stub_thread_get(to_pas(as), ptrace_tls_get(plat.priv));
	assert_false(IS_ERR(st));
	in.pid = as_pid(as);
	in.tid = st->tid;
	assert_int_equal(pthread_create(&th, NULL, interrupter_main, &in), 0);
	t = run(c, as, cpu);
	pthread_join(th, NULL);
	assert_int_equal(t.kind, TRAP_INTERRUPT);
	assert_int_equal(cpu->regs.rip, CODE_VA);
	assert_int_equal(kill(as_pid(as), 0), 0); /* the stub survived SIGUSR1 */
	rig_close(c, as, cpu);
}

static void test_interrupt_during(void **state)
{
	check_interrupt_during(false);
	check_interrupt_during(true);
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
	for (int i = 1; w->ok && i <= 200; i++) {
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

static void test_threads_same_as(void **state)
{
	struct address_space *as;

	put_code(THREAD_PAGE, code_count, sizeof(code_count));
	as = as_new(THREAD_PAGE);
	run_workers(as);
	/* Workers released their contexts: the leader, the spawner and ours (map_file) remain. */
	assert_int_equal(stub_threads(as_pid(as)), 3);
	platform_release_address_space(as);
}

static void test_threads_own_as(void **state)
{
	int children = count_children();

	run_workers(NULL);
	assert_int_equal(count_children(), children);
}

static void *exit_without_release(void *arg)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct trap t;

	platform_switch(c, arg, cpu, &t);
	cpu_free(cpu);
	return NULL; /* the key destructor reclaims the stub thread; c itself leaks */
}

static void test_thread_exit_reclaims(void **state)
{
	struct address_space *as;
	pthread_t th;

	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	as = as_new(CODE_PAGE);
	assert_int_equal(pthread_create(&th, NULL, exit_without_release, as), 0);
	pthread_join(th, NULL);
	assert_int_equal(stub_threads(as_pid(as)), 3); /* leader, spawner, ours (map_file) */
	platform_release_address_space(as);
}

/* ---- lifetime, isolation, hostile stubs ---- */

static void test_release_no_leak(void **state)
{
	const char *env = getenv("CV_STRESS");
	int n = env ? atoi(env) : 10000;
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
	assert_int_equal(stub_threads(as_pid(a)), 3);
	assert_int_equal(stub_threads(as_pid(b)), 3);
	platform_release_context(c);
	assert_int_equal(stub_threads(as_pid(a)), 2);
	assert_int_equal(stub_threads(as_pid(b)), 2);
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

/* An application syscall the stub's filter would kill is reported, never run by the host. */
static void test_host_syscall_not_executed(void **state)
{
	char path[64], *p = (char *)mem + CODE_PAGE * PAGE + OPENAT_PATH_OFF;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	struct stat st;
	struct trap t;

	snprintf(path, sizeof(path), "/tmp/cvisor-ptrace-%d", getpid());
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
	assert_int_equal(kill(as_pid(as), 0), 0); /* seccomp never saw it */
	rig_close(c, as, cpu);
}

/* What is left in a stub: the stub page, application mappings, one fd, a seccomp filter. */
static void test_stub_is_bare(void **state)
{
	struct address_space *as = as_new(CODE_PAGE);
	char path[64], line[256];
	int maps = 0, seccomp = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", as_pid(as));
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f))
		maps++;
	fclose(f);
	assert_int_equal(maps, 4); /* code, stack, stub, [vsyscall] */
	snprintf(path, sizeof(path), "/proc/%d/fd", as_pid(as));
	assert_int_equal(count_dir(path), 1);
	snprintf(path, sizeof(path), "/proc/%d/status", as_pid(as));
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f))
		sscanf(line, "Seccomp: %d", &seccomp);
	fclose(f);
	assert_int_equal(seccomp, 2);
	platform_release_address_space(as);
}

/* The stub's filter kills a syscall the stub code never makes. */
static void test_filter_kills(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as = as_new(CODE_PAGE);
	struct ptrace_platform *pp = plat.priv;
	struct stub_thread *st;
	struct cpu_regs regs;
	long ret;

	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	run(c, as, cpu);
	st = stub_thread_get(to_pas(as), ptrace_tls_get(pp));
	assert_false(IS_ERR(st));
	regs = cpu->regs;
	regs.rax = SYS_getpid;
	assert_true(tracee_syscall(pp, st->tid, &regs, stub_addr(pp, ptrace_stub_syscall),
				   stub_addr(pp, ptrace_stub_syscall_trap), &ret) < 0);
	stub_thread_mark_dead(to_pas(as), st);
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
	assert_int_equal(platform_map_file(as, CODE_VA + 1, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_unmap(as, plat.max_user_address, PAGE), -EINVAL);
	assert_int_equal(platform_map_file(as, plat.max_user_address - PAGE, PAGE, 0, PROT_READ),
			 0);
	platform_release_address_space(as);
}

/* A second platform instance with CPUID faulting: cpuid traps as SIGSEGV/SI_KERNEL. */
static int cpuid_platform(struct platform *p)
{
	struct platform_opts o = {
		.memfd = memfd, .mem_base = mem, .mem_size = MEM_SIZE, .cpuid_faulting = true
	};

	return platform_init(p, &ptrace_platform_ops, &o);
}

static void test_cpuid_faulting(void **state)
{
	struct platform p2;
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *as;
	struct context *c;
	struct trap t;

	put_code(CODE_PAGE + 1, code_cpuid, sizeof(code_cpuid));
	assert_int_equal(cpuid_platform(&p2), 0);
	as = platform_new_address_space(&p2);
	c = platform_new_context(&p2);
	assert_false(IS_ERR(as));
	assert_int_equal(
		platform_map_file(as, CODE_VA, PAGE, (CODE_PAGE + 1) * PAGE, PROT_READ | PROT_EXEC),
		0);
	assert_int_equal(platform_switch(c, as, cpu, &t), 0);
	if (t.kind == TRAP_SIGNAL) { /* no CPUID faulting on this CPU: it just ran */
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

struct bench {
	struct platform *p;
	struct address_space *as;
	int n;
	double ns;
};

/* Round trips of the getpid loop on the calling thread; ns per getpid. */
static void *bench_main(void *arg)
{
	struct bench *b = arg;
	struct context *c = platform_new_context(b->p);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct trap t;
	uint64_t t0 = 0;

	for (int i = -1000; i < b->n; i++) { /* 1000 rounds of warm-up */
		if (i == 0)
			t0 = now_ns();
		platform_switch(c, b->as, cpu, &t);
		cpu->regs.rax = 4242; /* getpid's result: only rax changes */
	}
	b->ns = (double)(now_ns() - t0) / b->n;
	platform_release_context(c);
	cpu_free(cpu);
	return NULL;
}

/* ns per getpid with `threads` sentry threads at once, each in its own address space. */
static double bench_run(struct platform *p, int threads, bool pin)
{
	struct bench b[2];
	pthread_t th[2];
	double sum = 0;

	((struct ptrace_platform *)p->priv)->no_affinity = !pin;
	for (int i = 0; i < threads; i++) {
		b[i] = (struct bench){ .p = p, .n = 20000 };
		b[i].as = platform_new_address_space(p);
		assert_false(IS_ERR(b[i].as));
		assert_int_equal(platform_map_file(b[i].as, CODE_VA, PAGE, (CODE_PAGE + 2) * PAGE,
						   PROT_READ | PROT_EXEC),
				 0);
		pthread_create(&th[i], NULL, bench_main, &b[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		platform_release_address_space(b[i].as);
		sum += b[i].ns;
	}
	((struct ptrace_platform *)p->priv)->no_affinity = false;
	return sum / threads;
}

static void test_bench_getpid(void **state)
{
	const int n = 200000;
	struct platform p2;
	uint64_t t0;
	double native;

	if (!getenv("CV_BENCH"))
		skip();
	put_code(CODE_PAGE + 2, code_getpid_loop, sizeof(code_getpid_loop));
	assert_int_equal(cpuid_platform(&p2), 0);
	for (int rep = 0; rep < 3; rep++) {
		t0 = now_ns();
		for (int i = 0; i < n; i++)
			syscall(SYS_getpid);
		native = (double)(now_ns() - t0) / n;
		printf("# bench: getpid native %.0f ns | ptrace round trip: pinned %.0f, unpinned "
		       "%.0f, 2 threads pinned %.0f, unpinned %.0f, CPUID faulting %.0f ns\n",
		       native, bench_run(&plat, 1, true), bench_run(&plat, 1, false),
		       bench_run(&plat, 2, true), bench_run(&plat, 2, false),
		       bench_run(&p2, 1, true));
	}
	platform_fini(&p2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_fpu_init),
		cmocka_unit_test(test_syscall_trap),
		cmocka_unit_test(test_fault_map_retry),
		cmocka_unit_test(test_write_fault),
		cmocka_unit_test(test_fs_base),
		cmocka_unit_test(test_exec_fault),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_vsyscall),
		cmocka_unit_test(test_fpu_state),
		cmocka_unit_test(test_fpu_migrates),
		cmocka_unit_test(test_interrupt_before),
		cmocka_unit_test(test_interrupt_during),
		cmocka_unit_test(test_threads_same_as),
		cmocka_unit_test(test_threads_own_as),
		cmocka_unit_test(test_thread_exit_reclaims),
		cmocka_unit_test(test_release_context),
		cmocka_unit_test(test_killed_stub),
		cmocka_unit_test(test_host_syscall_not_executed),
		cmocka_unit_test(test_stub_is_bare),
		cmocka_unit_test(test_filter_kills),
		cmocka_unit_test(test_map_checks),
		cmocka_unit_test(test_cpuid_faulting),
		cmocka_unit_test(test_release_no_leak),
		cmocka_unit_test(test_bench_getpid),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
