/*
 * The kvm platform, for real: a memory file, a VM, hand-assembled guest code in ring 3.
 * Needs /dev/kvm; skips (77) with the probe's reason otherwise.
 * CV_BENCH=1 also measures trap and page-table costs against native getpid.
 */
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cvisor/platform.h"
#include "../../platform/platforms.h"
#include "../../platform/kvm/kvm_internal.h"

#define MEM_SIZE (64ul << 20)
#define PAGE 4096ul
#define CODE_VA 0x400000ul  /* memory file page CODE_PAGE -> CODE_VA */
#define DATA_VA 0x600000ul  /* memory file page DATA_PAGE (not mapped by as_new) */
#define STACK_VA 0x700000ul /* memory file page STACK_PAGE */
#define CODE_PAGE 0
#define DATA_PAGE 64
#define DATA2_PAGE 65
#define STACK_PAGE 66
#define THREAD_PAGE 128 /* per-thread code pages */
#define BIG_PAGE 1024	/* 2 MiB+ of pages for the table tests */

static struct platform plat;
static int memfd = -1, devfd = -1;
static uint8_t *mem;

/* ---- guest code ---- */
static const uint8_t code_two_syscalls[] = {
	0x0f, 0x05,		      /* syscall */
	0x48, 0x89, 0xc7,	      /* mov %rax,%rdi */
	0xb8, 0x3c, 0x00, 0x00, 0x00, /* mov $60,%eax */
	0x0f, 0x05,		      /* syscall */
};
static const uint8_t code_rcx_r11[] = {
	0x48, 0xc7, 0xc1, 0x11, 0x11, 0x00, 0x00, /* mov $0x1111,%rcx */
	0x49, 0xc7, 0xc3, 0x22, 0x22, 0x00, 0x00, /* mov $0x2222,%r11 */
	0x0f, 0x05,				  /* syscall */
	0x48, 0x89, 0xcf,			  /* mov %rcx,%rdi */
	0x4c, 0x89, 0xde,			  /* mov %r11,%rsi */
	0x0f, 0x05,				  /* syscall */
};
static const uint8_t code_load_syscall[] = { 0x48, 0x8b, 0x03, 0x0f, 0x05 }; /* mov (%rbx) */
static const uint8_t code_store[] = { 0x48, 0x89, 0x0b, 0x0f, 0x05 };	     /* mov %rcx,(%rbx) */
static const uint8_t code_load_loop[] = { 0x48, 0x8b, 0x03, 0xeb, 0xfb };    /* 1: mov;jmp 1b */
static const uint8_t code_ud2[] = { 0x0f, 0x0b };
static const uint8_t code_int3[] = { 0xcc };
static const uint8_t code_div0[] = { 0x31, 0xc9, 0xf7, 0xf1 }; /* xor %ecx,%ecx; div %ecx */
static const uint8_t code_spin[] = { 0xeb, 0xfe };	       /* jmp . */
static const uint8_t code_nops[] = { 0x90, 0x90, 0x0f, 0x05 };  /* nop; nop; syscall */
static const uint8_t code_hlt[] = { 0xf4 };
static const uint8_t code_cli[] = { 0xfa };
static const uint8_t code_in[] = { 0xe4, 0x80 };		   /* in $0x80,%al */
static const uint8_t code_mov_cr3[] = { 0x0f, 0x20, 0xd8 };	   /* mov %cr3,%rax */
static const uint8_t code_sysret[] = { 0x48, 0x0f, 0x07 };
static const uint8_t code_int80[] = { 0xcd, 0x80 };
static const uint8_t code_int_3[] = { 0xcd, 0x03 };
static const uint8_t code_load_ds[] = { 0xb8, 0x63, 0x00, 0x00, 0x00, 0x8e, 0xd8 };
static const uint8_t code_ksys_read[] = {
	0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, /* movabs $KSYS,%rax */
	0x48, 0x8b, 0x00,					    /* mov (%rax),%rax */
};
static const uint8_t code_lstar_read[] = {
	0x48, 0xb8, 0x00, 0x20, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, /* movabs $LSTAR,%rax */
	0x48, 0x8b, 0x00,					    /* mov (%rax),%rax */
};
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
static const uint8_t code_divsd[] = { 0xf2, 0x0f, 0x5e, 0xc1, 0x0f, 0x05 }; /* divsd %xmm1,%xmm0 */
static const uint8_t code_align[] = {
	0x9c,					  /* pushf */
	0x81, 0x0c, 0x24, 0x00, 0x00, 0x04, 0x00, /* orl $AC,(%rsp) */
	0x9d,					  /* popf */
	0x8b, 0x03,				  /* mov (%rbx),%eax */
};
static const uint8_t code_fs_load[] = {
	0x64, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, /* mov %fs:8,%rax */
	0x0f, 0x05,					      /* syscall */
};
static const uint8_t code_wrfsbase[] = { 0xf3, 0x48, 0x0f, 0xae, 0xd7, 0x0f, 0x05 };
static const uint8_t code_cpuid0[] = {
	0x31, 0xc0, 0x31, 0xc9, 0x0f, 0xa2, /* xor eax; xor ecx; cpuid */
	0x89, 0xdf, 0x89, 0xd6, 0x89, 0xca, /* mov ebx,edi; mov edx,esi; mov ecx,edx */
	0x0f, 0x05,
};
static const uint8_t code_rdtsc[] = {
	0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, /* rdtsc; rdx:rax -> rax */
	0x48, 0x89, 0xc7, 0x0f, 0x05,			      /* mov %rax,%rdi; syscall */
};

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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	struct platform_opts o = { .mem_size = MEM_SIZE };
	char why[256];

	if (kvm_platform_ops.probe(why, sizeof(why)) < 0) {
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
	/* As the sandbox does: /dev/kvm opened before confinement, handed over. */
	o.dev_fd = devfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	return platform_init(&plat, &kvm_platform_ops, &o);
}

static int group_teardown(void **state)
{
	platform_fini(&plat);
	munmap(mem, MEM_SIZE);
	close(memfd);
	close(devfd);
	return 0;
}

/* ---- registry, probe, host syscalls ---- */

static void test_registry(void **state)
{
	char why[256];
	const struct host_syscall_rule *rules;
	size_t n = 0;

	assert_ptr_equal(platform_lookup("kvm"), &kvm_platform_ops);
	/* Never the implicit default, even when usable. */
	assert_ptr_not_equal(platform_default(why, sizeof(why)), &kvm_platform_ops);
	assert_int_equal(kvm_platform_ops.probe(why, sizeof(why)), 0);
	assert_true(plat.min_user_address >= 0x10000);
	assert_int_equal(plat.max_user_address, 0x7ffffffff000ull);
	rules = kvm_platform_ops.host_syscalls(&plat, &n);
	assert_true(n > 10);
	assert_int_equal(rules[0].nr, SYS_ioctl);
	assert_int_equal(rules[0].args[0].value, KVM_RUN);
}

static void test_bad_ranges(void **state)
{
	struct address_space *as = platform_new_address_space(&plat);

	assert_false(IS_ERR(as));
	assert_int_equal(platform_map_file(as, 0, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_map_file(as, CODE_VA + 1, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_map_file(as, 0x7ffffffff000ull, PAGE, 0, PROT_READ), -EINVAL);
	assert_int_equal(platform_map_file(as, CODE_VA, PAGE, MEM_SIZE, PROT_READ), -EINVAL);
	assert_int_equal(platform_unmap(as, 0xffffff8000000000ull, PAGE), -EINVAL);
	platform_release_address_space(as);
}

/* ---- syscalls and faults ---- */

static void test_syscall_trap(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_two_syscalls, sizeof(code_two_syscalls), &c, &cpu);
	struct trap t;

	cpu->regs.rax = 39;
	cpu->regs.rdi = 1, cpu->regs.rsi = 2, cpu->regs.rdx = 3;
	cpu->regs.r10 = 4, cpu->regs.r8 = 5, cpu->regs.r9 = 6;
	cpu->regs.cs = 0x23; /* not the application's to choose */
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 39);
	assert_int_equal(cpu->regs.rax, 39);
	assert_int_equal(cpu->regs.rdi, 1);
	assert_int_equal(cpu->regs.r9, 6);
	assert_int_equal(cpu->regs.rip, CODE_VA + 2);
	assert_int_equal(cpu->regs.rcx, CODE_VA + 2); /* as the CPU sets them */
	assert_int_equal(cpu->regs.r11, cpu->regs.eflags);
	assert_int_equal(cpu->regs.cs, 0x33);
	assert_int_equal(cpu->regs.ss, 0x2b);
	assert_int_equal(cpu->regs.rsp, STACK_VA + PAGE - 128);
	cpu->regs.rax = 4242;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 60);
	assert_int_equal(cpu->regs.rdi, 4242);
	rig_close(c, as, cpu);
}

/* After a syscall the application sees rcx/r11 as the sentry left them (sysret semantics). */
static void test_syscall_rcx_r11(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_rcx_r11, sizeof(code_rcx_r11), &c, &cpu);
	struct trap t = run(c, as, cpu);

	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rcx, CODE_VA + 16);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, CODE_VA + 16);
	assert_int_equal(cpu->regs.rsi & 0xff, 0x02 | (cpu->regs.rsi & 0xd5));
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
	assert_int_equal(t.access, ACCESS_READ);
	assert_int_equal(t.trapno, 14);
	assert_int_equal(cpu->regs.rip, CODE_VA);

	memcpy(mem + DATA_PAGE * PAGE + 8, &magic, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, magic);

	/* Unmapped again: the same load faults again (the shadow was dropped). */
	assert_int_equal(platform_unmap(as, DATA_VA, PAGE), 0);
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, DATA_VA + 8);
	/* And mapped once more, to another page. */
	magic = 0x5678;
	memcpy(mem + DATA2_PAGE * PAGE + 8, &magic, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA2_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 0x5678);
	rig_close(c, as, cpu);
}

/* A present page replaced by another one: the new page is what the application reads. */
static void test_remap_present(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	uint64_t a = 0xaaaa, b = 0xbbbb;
	struct trap t;

	memcpy(mem + DATA_PAGE * PAGE, &a, 8);
	memcpy(mem + DATA2_PAGE * PAGE, &b, 8);
	cpu->regs.rbx = DATA_VA;
	for (int i = 0; i < 6; i++) {
		unsigned page = i % 2 ? DATA2_PAGE : DATA_PAGE;

		assert_int_equal(platform_map_file(as, DATA_VA, PAGE, page * PAGE, PROT_READ), 0);
		cpu->regs.rip = CODE_VA;
		t = run(c, as, cpu);
		assert_int_equal(t.kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, i % 2 ? b : a);
	}
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
	/* Upgrade in place (no touch): the next fault through the stale shadow refreshes it. */
	assert_int_equal(
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ | PROT_WRITE), 0);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	memcpy(&v, mem + DATA_PAGE * PAGE + 16, 8);
	assert_int_equal(v, 0xfeedface);
	/* Downgrade (mprotect PROT_READ): the store faults again. */
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.access, ACCESS_WRITE);
	rig_close(c, as, cpu);
}

static void test_exec_fault(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(DATA_VA + 0x40);
	struct address_space *as = as_new(CODE_PAGE);
	struct trap t;

	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu); /* mapped but not executable */
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, DATA_VA + 0x40);
	assert_int_equal(t.access, ACCESS_EXEC);
	assert_int_equal(t.code, SEGV_ACCERR);
	cpu->regs.rip = DATA_VA + 0x1040; /* not mapped at all */
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.access, ACCESS_EXEC);
	assert_int_equal(t.code, SEGV_MAPERR);
	platform_release_context(c);
	platform_release_address_space(as);
	cpu_free(cpu);
}

/* ---- what the application must not do ---- */

static struct trap run_code(const uint8_t *code, size_t len, struct cpu_state **out_cpu)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code, len, &c, &cpu);
	struct trap t;

	cpu->regs.rbx = DATA_VA + 1;
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	t = run(c, as, cpu);
	platform_release_context(c);
	platform_release_address_space(as);
	if (out_cpu)
		*out_cpu = cpu;
	else
		cpu_free(cpu);
	return t;
}

static void check_signal(const uint8_t *code, size_t len, int signo, int si_code, int trapno,
			 uint64_t rip_after)
{
	struct cpu_state *cpu;
	struct trap t = run_code(code, len, &cpu);

	assert_int_equal(t.kind, TRAP_SIGNAL);
	assert_int_equal(t.signo, signo);
	assert_int_equal(t.code, si_code);
	assert_int_equal(t.trapno, trapno);
	assert_int_equal(cpu->regs.rip, rip_after);
	cpu_free(cpu);
}

static void test_signals(void **state)
{
	check_signal(code_ud2, sizeof(code_ud2), SIGILL, ILL_ILLOPN, 6, CODE_VA);
	check_signal(code_int3, sizeof(code_int3), SIGTRAP, SI_KERNEL, 3, CODE_VA + 1);
	check_signal(code_int_3, sizeof(code_int_3), SIGTRAP, SI_KERNEL, 3, CODE_VA + 2);
	check_signal(code_div0, sizeof(code_div0), SIGFPE, FPE_INTDIV, 0, CODE_VA + 2);
	check_signal(code_align, sizeof(code_align), SIGBUS, BUS_ADRALN, 17, CODE_VA + 9);
}

/* sgdt/sidt/str/smsw are not privileged without UMIP: what the application learns. */
static void test_descriptor_tables(void **state)
{
	static const uint8_t code[] = {
		0x0f, 0x01, 0x03,	/* sgdt (%rbx) */
		0x0f, 0x01, 0x4b, 0x10, /* sidt 16(%rbx) */
		0x0f, 0x00, 0xc8,	/* str %eax */
		0x0f, 0x01, 0xe1,	/* smsw %ecx */
		0x48, 0x89, 0xca,	/* mov %rcx,%rdx */
		0x0f, 0x05,		/* syscall */
	};
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code, sizeof(code), &c, &cpu);
	uint64_t gdt, idt;
	struct trap t;

	assert_int_equal(
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ | PROT_WRITE), 0);
	cpu->regs.rbx = DATA_VA;
	t = run(c, as, cpu);
	memcpy(&gdt, mem + DATA_PAGE * PAGE + 2, 8);
	memcpy(&idt, mem + DATA_PAGE * PAGE + 18, 8);
	/* The guest's own tables (supervisor-only), never the host's. */
	assert_int_equal(t.kind, TRAP_SYSCALL);
	assert_int_equal(gdt, KVM_KSYS_VA + SYS_GDT);
	assert_int_equal(idt, KVM_KSYS_VA + SYS_IDT);
	rig_close(c, as, cpu);
}

/* The sentry single-steps with TF (ptrace): #DB after one instruction, TRAP_TRACE. */
static void test_single_step(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_nops, sizeof(code_nops), &c, &cpu);
	struct trap t;

	cpu->regs.eflags |= 0x100;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SIGNAL);
	assert_int_equal(t.signo, SIGTRAP);
	assert_int_equal(t.code, TRAP_TRACE);
	assert_int_equal(t.trapno, 1);
	assert_int_equal(cpu->regs.rip, CODE_VA + 1);
	cpu->regs.eflags &= ~0x100ull;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

/* Privileged instructions, ports, segment loads, software interrupts: #GP -> SIGSEGV. */
static void test_privileged(void **state)
{
	const struct {
		const uint8_t *code;
		size_t len;
		uint64_t rip;
	} cases[] = {
		{ code_hlt, sizeof(code_hlt), CODE_VA },
		{ code_cli, sizeof(code_cli), CODE_VA },
		{ code_in, sizeof(code_in), CODE_VA },
		{ code_mov_cr3, sizeof(code_mov_cr3), CODE_VA },
		{ code_sysret, sizeof(code_sysret), CODE_VA },
		{ code_int80, sizeof(code_int80), CODE_VA },
		{ code_load_ds, sizeof(code_load_ds), CODE_VA + 5 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		check_signal(cases[i].code, cases[i].len, SIGSEGV, SI_KERNEL, 13, cases[i].rip);
	}
}

/* The platform's own memory is not the application's: page faults, never data. */
static void test_kernel_half(void **state)
{
	struct cpu_state *cpu;
	struct trap t = run_code(code_ksys_read, sizeof(code_ksys_read), &cpu);

	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, 0xffffff8000000000ull);
	assert_int_equal(t.code, SEGV_ACCERR); /* present but supervisor-only */
	cpu_free(cpu);
	/* Reading the syscall entry is a plain fault, not a syscall. */
	t = run_code(code_lstar_read, sizeof(code_lstar_read), &cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, KVM_LSTAR_VA);
	assert_int_equal(cpu->regs.rip, CODE_VA + 10);
	cpu_free(cpu);
}

/* A sentry bug (or a forged sigreturn) must not let a kernel rip or fs base into the vCPU. */
static void test_bad_registers(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_spin, sizeof(code_spin), &c, &cpu);
	struct trap t;

	cpu->regs.rip = 0xffffff8000002000ull;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SIGNAL);
	assert_int_equal(t.signo, SIGSEGV);
	cpu->regs.rip = CODE_VA;
	cpu->regs.fs_base = 0x8000000000000000ull;
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SIGNAL);
	rig_close(c, as, cpu);
}

/* ---- registers, FPU, CPUID, TSC ---- */

static void test_fs_base(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_fs_load, sizeof(code_fs_load), &c, &cpu);
	uint64_t v = 0xf5f5;
	unsigned a, b, cc, d;

	memcpy(mem + DATA_PAGE * PAGE + 0x108, &v, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.fs_base = DATA_VA + 0x100;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 0xf5f5);
	assert_int_equal(cpu->regs.fs_base, DATA_VA + 0x100);
	rig_close(c, as, cpu);
	/* wrfsbase, where the host allows it: the new base comes back in cpu_regs. */
	if (!__get_cpuid_count(7, 0, &a, &b, &cc, &d) || !(b & 1))
		return;
	as = rig_open(code_wrfsbase, sizeof(code_wrfsbase), &c, &cpu);
	cpu->regs.rdi = 0x12345000;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.fs_base, 0x12345000);
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
	t = run(c, as, cpu); /* the state stayed in the vCPU */
	assert_int_equal(cpu->regs.rdi, 0x1111222233334444ull);
	assert_int_equal(platform_pull_full_state(c, as, cpu), 0);
	assert_true(cpu->fpu_valid);
	assert_int_equal(xmm(cpu->fpu, 0), 0x1111222233334444ull);
	assert_int_equal(xmm(cpu->fpu, 1), 0x5555666677778888ull);
	set_xmm(cpu->fpu, 0, 0x9999aaaabbbbccccull);
	cpu->fpu_dirty = true;
	cpu->regs.rip = CODE_VA;
	t = run(c, as, cpu);
	assert_int_equal(cpu->regs.rdi, 0x9999aaaabbbbccccull);
	rig_close(c, as, cpu);
}

/* A forged XSAVE image (as a sigreturn frame could carry) still loads, sanitised. */
static void test_fpu_forged(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_fpu, sizeof(code_fpu), &c, &cpu);
	uint32_t mxcsr = 0xffffffff;
	uint64_t junk = ~0ull;

	set_xmm(cpu->fpu, 0, 0x4242);
	memcpy(cpu->fpu + 24, &mxcsr, 4);
	if (cpu_fpu_size() > 576) {
		memcpy(cpu->fpu + 512, &junk, 8); /* every XSTATE_BV bit */
		memcpy(cpu->fpu + 520, &junk, 8); /* XCOMP_BV: compacted format */
	}
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.rdi, 0x4242);
	rig_close(c, as, cpu);
}

/* Two contexts never see each other's FPU state, even on a recycled vCPU. */
static void test_fpu_isolation(void **state)
{
	struct context *c1, *c2;
	struct cpu_state *cpu1, *cpu2;
	struct address_space *as = rig_open(code_fpu, sizeof(code_fpu), &c1, &cpu1);

	c2 = platform_new_context(&plat);
	cpu2 = cpu_new(CODE_VA);
	set_xmm(cpu1->fpu, 0, 0x1010);
	set_xmm(cpu2->fpu, 0, 0x2020);
	assert_int_equal(run(c1, as, cpu1).kind, TRAP_SYSCALL);
	assert_int_equal(run(c2, as, cpu2).kind, TRAP_SYSCALL);
	assert_int_equal(cpu1->regs.rdi, 0x1010);
	assert_int_equal(cpu2->regs.rdi, 0x2020);
	platform_release_context(c2); /* its vCPU goes back to the pool, with 0x2020 in it */
	cpu_free(cpu2);
	c2 = platform_new_context(&plat);
	cpu2 = cpu_new(CODE_VA);
	assert_int_equal(run(c2, as, cpu2).kind, TRAP_SYSCALL);
	assert_int_equal(cpu2->regs.rdi, 0); /* a fresh context starts from the execve state */
	platform_release_context(c2);
	cpu_free(cpu2);
	rig_close(c1, as, cpu1);
}

static void test_simd_exception(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_divsd, sizeof(code_divsd), &c, &cpu);
	const double one = 1.0;
	uint32_t mxcsr = 0x1f80 & ~0x200u; /* divide-by-zero unmasked */
	struct trap t;

	memcpy(cpu->fpu + 160, &one, 8);
	memcpy(cpu->fpu + 24, &mxcsr, 4);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SIGNAL);
	assert_int_equal(t.signo, SIGFPE);
	assert_int_equal(t.code, FPE_FLTDIV);
	assert_int_equal(t.trapno, 19);
	assert_int_equal(t.addr, CODE_VA);
	assert_true(cpu->fpu_valid); /* pulled to find the si_code */
	rig_close(c, as, cpu);
}

static void test_cpuid(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_cpuid0, sizeof(code_cpuid0), &c, &cpu);
	unsigned a, b, cc, d;

	__cpuid(0, a, b, cc, d);
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, a); /* the application sees the host's CPUID */
	assert_int_equal((uint32_t)cpu->regs.rdi, b);
	assert_int_equal((uint32_t)cpu->regs.rsi, d);
	assert_int_equal((uint32_t)cpu->regs.rdx, cc);
	rig_close(c, as, cpu);
}

static uint64_t host_tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void test_rdtsc(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_rdtsc, sizeof(code_rdtsc), &c, &cpu);
	uint64_t before = host_tsc(), after;

	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	after = host_tsc();
	/* The vDSO's clock arithmetic needs the host's TSC, not an offset one. */
	assert_true(cpu->regs.rdi >= before && cpu->regs.rdi <= after);
	rig_close(c, as, cpu);
}

/* ---- interrupts ---- */

struct interrupter {
	struct context *c;
	bool from_signal;
};

static struct context *handler_ctx;

static void interrupt_handler(int sig)
{
	platform_interrupt(handler_ctx);
}

static void *interrupter_main(void *arg)
{
	struct interrupter *in = arg;

	sleep_ms(30);
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
	assert_int_equal(cpu->regs.rip, CODE_VA);
	t = run(c, as, cpu);
	assert_int_equal(t.kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

static void check_interrupt_during(bool from_signal)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_spin, sizeof(code_spin), &c, &cpu);
	struct interrupter in = { .c = c, .from_signal = from_signal };
	pthread_t th;
	struct trap t;

	assert_int_equal(pthread_create(&th, NULL, interrupter_main, &in), 0);
	t = run(c, as, cpu);
	pthread_join(th, NULL);
	assert_int_equal(t.kind, TRAP_INTERRUPT);
	assert_int_equal(cpu->regs.rip, CODE_VA);
	/* No stray kick left behind: the next run goes on until the next interrupt. */
	assert_int_equal(pthread_create(&th, NULL, interrupter_main, &in), 0);
	t = run(c, as, cpu);
	pthread_join(th, NULL);
	assert_int_equal(t.kind, TRAP_INTERRUPT);
	rig_close(c, as, cpu);
}

static void test_interrupt_during(void **state)
{
	check_interrupt_during(false);
	check_interrupt_during(true);
}

/* ---- threads and address spaces ---- */

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
	if (!IS_ERR(c))
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
	platform_release_address_space(as);
}

static void test_threads_own_as(void **state)
{
	run_workers(NULL);
}

/* Two address spaces map the same address to different pages. */
static void test_as_isolation(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *a = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	struct address_space *b = as_new(CODE_PAGE);
	uint64_t va = 0xaaaa, vb = 0xbbbb;

	memcpy(mem + DATA_PAGE * PAGE, &va, 8);
	memcpy(mem + DATA2_PAGE * PAGE, &vb, 8);
	assert_int_equal(platform_map_file(a, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	assert_int_equal(platform_map_file(b, DATA_VA, PAGE, DATA2_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rbx = DATA_VA;
	for (int i = 0; i < 4; i++) {
		cpu->regs.rip = CODE_VA;
		assert_int_equal(run(c, i % 2 ? b : a, cpu).kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, i % 2 ? vb : va);
	}
	platform_release_address_space(b);
	rig_close(c, a, cpu);
}

struct spinner {
	struct address_space *as;
	struct context *c;
	struct trap t;
	volatile int started;
};

static void *spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);

	cpu->regs.rbx = DATA_VA;
	s->c = c;
	__atomic_store_n(&s->started, 1, __ATOMIC_SEQ_CST);
	platform_switch(c, s->as, cpu, &s->t);
	platform_release_context(c);
	cpu_free(cpu);
	return NULL;
}

/* unmap takes effect on a vCPU that is running in the address space right now. */
static void test_unmap_while_running(void **state)
{
	struct spinner s = { 0 };
	pthread_t th;

	put_code(THREAD_PAGE, code_load_loop, sizeof(code_load_loop));
	s.as = as_new(THREAD_PAGE);
	assert_int_equal(platform_map_file(s.as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ), 0);
	assert_int_equal(pthread_create(&th, NULL, spinner_main, &s), 0);
	while (!s.started)
		sleep_ms(1);
	sleep_ms(50);
	assert_int_equal(platform_unmap(s.as, DATA_VA, PAGE), 0);
	pthread_join(th, NULL); /* would hang if the spinner still saw the page */
	assert_int_equal(s.t.kind, TRAP_FAULT);
	assert_int_equal(s.t.addr, DATA_VA);
	platform_release_address_space(s.as);
}

/* Big ranges: whole tables unlinked at once, partial tables entry by entry. */
static void test_big_ranges(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	const uint64_t base = 0x40000000, len = 4ul << 20; /* two full last-level tables */
	uint64_t probes[] = { base, base + 0x1ff000, base + 0x200000, base + len - PAGE };
	struct trap t;

	for (uint64_t i = 0; i < len / PAGE; i++)
		memcpy(mem + (BIG_PAGE + i) * PAGE, &i, 8);
	assert_int_equal(platform_map_file(as, base, len, BIG_PAGE * PAGE, PROT_READ), 0);
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		cpu->regs.rip = CODE_VA;
		cpu->regs.rbx = probes[i];
		assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, (probes[i] - base) / PAGE);
	}
	/* Partial unmap of the first table, whole second table. */
	assert_int_equal(platform_unmap(as, base + PAGE, len - PAGE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		cpu->regs.rip = CODE_VA;
		cpu->regs.rbx = probes[i];
		t = run(c, as, cpu);
		assert_int_equal(t.kind, i ? TRAP_FAULT : TRAP_SYSCALL);
	}
	/* Map again over freed tables. */
	assert_int_equal(platform_map_file(as, base, len, BIG_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rip = CODE_VA;
	cpu->regs.rbx = base + len - PAGE;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, len / PAGE - 1);
	rig_close(c, as, cpu);
}

/* A recycle (every shadow dropped, quarantined tables reusable) under running vCPUs. */
static void test_recycle(void **state)
{
	struct kvm_platform *kp = plat.priv;
	struct spinner s = { 0 };
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as, *tmp[8];
	uint64_t v = 0x7777;
	pthread_t th;

	put_code(THREAD_PAGE, code_spin, sizeof(code_spin));
	s.as = as_new(THREAD_PAGE);
	assert_int_equal(pthread_create(&th, NULL, spinner_main, &s), 0);
	while (!s.started)
		sleep_ms(1);
	for (int i = 0; i < 8; i++) /* fill the quarantine with tables of dead spaces */
		tmp[i] = as_new(CODE_PAGE);
	for (int i = 0; i < 8; i++)
		platform_release_address_space(tmp[i]);
	sleep_ms(20);
	assert_int_equal(kvm_pt_recycle(kp), 0);
	assert_true(kp->pta.nfree > 0);
	/* Reused table pages must describe their new mappings only. */
	as = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	memcpy(mem + DATA2_PAGE * PAGE, &v, 8);
	assert_int_equal(platform_map_file(as, DATA_VA, PAGE, DATA2_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rbx = DATA_VA;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, 0x7777);
	rig_close(c, as, cpu);
	/* The spinner ran through the recycle and still answers an interrupt. */
	platform_interrupt(s.c);
	pthread_join(th, NULL);
	assert_int_equal(s.t.kind, TRAP_INTERRUPT);
	platform_release_address_space(s.as);
}

struct watchdog {
	struct context *c;
	volatile int armed, stop;
};

/* Interrupts whatever the fuzzed guest is doing after 20 ms (it may loop forever). */
static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;

	while (!w->stop) {
		sleep_ms(20);
		if (w->armed)
			platform_interrupt(w->c);
	}
	return NULL;
}

/* Random bytes as code, random registers: every outcome is a trap; the platform lives on. */
static void test_random_code(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_spin, sizeof(code_spin), &c, &cpu);
	struct watchdog w = { .c = c };
	const char *env = getenv("CV_FUZZ"); /* more rounds, and a seed per run */
	int rounds = env ? atoi(env) : 400;
	unsigned seed = env ? (unsigned)time(NULL) : 12345, kinds[4] = { 0 }, dead = 0;
	pthread_t th;
	struct trap t;

	assert_int_equal(
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(pthread_create(&th, NULL, watchdog_main, &w), 0);
	for (int i = 0; i < rounds; i++) {
		for (size_t b = 0; b < PAGE; b++)
			mem[CODE_PAGE * PAGE + b] = (uint8_t)rand_r(&seed);
		for (uint64_t *r = &cpu->regs.r15; r <= &cpu->regs.rdi; r++)
			*r = (uint64_t)rand_r(&seed) << 32 | (uint64_t)rand_r(&seed);
		cpu->regs.rbx = DATA_VA + 128;
		cpu->regs.rsp = STACK_VA + PAGE / 2;
		cpu->regs.rip = CODE_VA + (uint64_t)(rand_r(&seed) % 64);
		cpu->regs.eflags = 0x202;
		w.armed = 1;
		if (platform_switch(c, as, cpu, &t) < 0)
			dead++; /* the sentry would kill the thread group */
		else
			kinds[t.kind]++;
		w.armed = 0;
	}
	w.stop = 1;
	pthread_join(th, NULL);
	print_message("# random code: %u syscalls, %u faults, %u signals, %u interrupts, %u -EIO\n",
		      kinds[TRAP_SYSCALL], kinds[TRAP_FAULT], kinds[TRAP_SIGNAL],
		      kinds[TRAP_INTERRUPT], dead);
	assert_true(dead <= (unsigned)rounds / 50);
	/* Still a working platform. */
	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	cpu->regs.rip = CODE_VA;
	cpu->regs.rax = 39;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	rig_close(c, as, cpu);
}

/* Exhaust a (shrunk) table region: recycles happen on their own, mappings stay right. */
static void test_recycle_auto(void **state)
{
	struct kvm_platform *kp = plat.priv;
	uint64_t saved = kp->pta.npages, recycles = kp->pta.recycles;
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	uint64_t v;

	put_code(CODE_PAGE, code_load_syscall, sizeof(code_load_syscall));
	kp->pta.npages = kp->pta.cursor + 64;
	for (uint64_t i = 0; i < 300; i++) {
		struct address_space *as = as_new(CODE_PAGE);
		unsigned page = DATA_PAGE + (unsigned)(i % 2);

		v = 0x1000 + i;
		memcpy(mem + page * PAGE, &v, 8);
		assert_int_equal(platform_map_file(as, DATA_VA + (i % 7) * 0x200000, PAGE,
						   page * PAGE, PROT_READ),
				 0);
		cpu->regs.rip = CODE_VA;
		cpu->regs.rbx = DATA_VA + (i % 7) * 0x200000;
		assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, v);
		platform_release_address_space(as);
	}
	assert_true(kp->pta.recycles > recycles);
	kp->pta.npages = saved;
	platform_release_context(c);
	cpu_free(cpu);
}

static void test_release_no_leak(void **state)
{
	int fds = count_dir("/proc/self/fd");
	struct kvm_platform *kp = plat.priv;
	unsigned vcpus = kp->nvcpus;

	for (int i = 0; i < 2000; i++) {
		struct context *c;
		struct cpu_state *cpu;
		struct address_space *as = rig_open(code_two_syscalls, sizeof(code_two_syscalls),
						    &c, &cpu);

		assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
		rig_close(c, as, cpu);
	}
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	assert_true(kp->nvcpus <= vcpus + 1); /* vCPUs come from the pool */
}

/* ---- numbers ---- */

/* Per-operation latencies on a shared, noisy machine: report the 10th and 50th percentiles. */
struct lat {
	uint64_t v[4000];
	int n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void lat_print(const char *what, struct lat *l)
{
	qsort(l->v, (size_t)l->n, sizeof(l->v[0]), cmp_u64);
	printf("# kvm %-38s p10 %7.1f us  p50 %7.1f us  (n=%d)\n", what, l->v[l->n / 10] / 1e3,
	       l->v[l->n / 2] / 1e3, l->n);
	l->n = 0;
}

#define TIMED(l, op)                                                                               \
	do {                                                                                       \
		uint64_t t0_ = now_ns();                                                           \
		op;                                                                                \
		(l)->v[(l)->n++] = now_ns() - t0_;                                                 \
	} while (0)

static void test_bench(void **state)
{
	const char *env = getenv("CV_BENCH");
	static struct lat l;
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as;
	const int n = 2000;
	uint64_t t0;
	struct trap t;

	if (!env || !*env || *env == '0')
		skip();
	t0 = now_ns();
	for (int i = 0; i < 100000; i++)
		syscall(SYS_getpid);
	printf("# native getpid: %.0f ns\n", (double)(now_ns() - t0) / 100000);
	as = rig_open(code_getpid_loop, sizeof(code_getpid_loop), &c, &cpu);
	run(c, as, cpu);
	for (int i = 0; i < n; i++)
		TIMED(&l, platform_switch(c, as, cpu, &t));
	lat_print("getpid round trip (syscall trap)", &l);
	rig_close(c, as, cpu);

	as = rig_open(code_ud2, sizeof(code_ud2), &c, &cpu);
	for (int i = 0; i < n; i++)
		TIMED(&l, platform_switch(c, as, cpu, &t));
	lat_print("ud2 -> SIGILL (exception trap)", &l);
	for (int i = 0; i < n / 4; i++)
		TIMED(&l, platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ));
	lat_print("map_file of an absent page", &l);
	for (int i = 0; i < n / 4; i++) {
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ);
		TIMED(&l, platform_unmap(as, DATA_VA, PAGE));
	}
	lat_print("unmap of one page (one touch)", &l);
	rig_close(c, as, cpu);

	as = rig_open(code_load_syscall, sizeof(code_load_syscall), &c, &cpu);
	cpu->regs.rbx = DATA_VA;
	for (int i = 0; i < n / 4; i++) {
		cpu->regs.rip = CODE_VA;
		TIMED(&l, platform_switch(c, as, cpu, &t)); /* #PF */
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ);
		platform_switch(c, as, cpu, &t); /* shadow fault, load, syscall */
		platform_unmap(as, DATA_VA, PAGE);
	}
	lat_print("page fault trap", &l);
	for (int i = 0; i < n / 4; i++) {
		cpu->regs.rip = CODE_VA;
		platform_switch(c, as, cpu, &t);
		platform_map_file(as, DATA_VA, PAGE, DATA_PAGE * PAGE, PROT_READ);
		TIMED(&l, platform_switch(c, as, cpu, &t));
		platform_unmap(as, DATA_VA, PAGE);
	}
	lat_print("shadow fault + load + syscall trap", &l);
	rig_close(c, as, cpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test(test_syscall_trap),
		cmocka_unit_test(test_syscall_rcx_r11),
		cmocka_unit_test(test_fault_map_retry),
		cmocka_unit_test(test_remap_present),
		cmocka_unit_test(test_write_fault),
		cmocka_unit_test(test_exec_fault),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_descriptor_tables),
		cmocka_unit_test(test_single_step),
		cmocka_unit_test(test_privileged),
		cmocka_unit_test(test_kernel_half),
		cmocka_unit_test(test_bad_registers),
		cmocka_unit_test(test_fs_base),
		cmocka_unit_test(test_fpu_state),
		cmocka_unit_test(test_fpu_forged),
		cmocka_unit_test(test_fpu_isolation),
		cmocka_unit_test(test_simd_exception),
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_rdtsc),
		cmocka_unit_test(test_interrupt_before),
		cmocka_unit_test(test_interrupt_during),
		cmocka_unit_test(test_threads_same_as),
		cmocka_unit_test(test_threads_own_as),
		cmocka_unit_test(test_as_isolation),
		cmocka_unit_test(test_unmap_while_running),
		cmocka_unit_test(test_big_ranges),
		cmocka_unit_test(test_recycle),
		cmocka_unit_test(test_recycle_auto),
		cmocka_unit_test(test_random_code),
		cmocka_unit_test(test_release_no_leak),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
