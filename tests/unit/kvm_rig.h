/* Shared by the split test_kvm.c test binaries: the rig and its helpers. */
#ifndef CV_TESTS_KVM_RIG_H
#define CV_TESTS_KVM_RIG_H

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

static inline void put_code(unsigned page, const void *code, size_t len)
{
	memcpy(mem + page * PAGE, code, len);
}

static inline struct cpu_state *cpu_new(uint64_t rip)
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

static inline void cpu_free(struct cpu_state *cpu)
{
	free(cpu->fpu);
	free(cpu);
}

static inline struct address_space *as_new(unsigned code_page)
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

static inline struct trap run(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct trap t;

	memset(&t, 0xaa, sizeof(t));
	assert_int_equal(platform_switch(c, as, cpu, &t), 0);
	return t;
}

static inline struct address_space *rig_open(const void *code, size_t len, struct context **c,
				      struct cpu_state **cpu)
{
	*c = platform_new_context(&plat);
	assert_false(IS_ERR(*c));
	*cpu = cpu_new(CODE_VA);
	put_code(CODE_PAGE, code, len);
	return as_new(CODE_PAGE);
}

static inline void rig_close(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	platform_release_context(c);
	platform_release_address_space(as);
	cpu_free(cpu);
}

static inline int count_dir(const char *path)
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

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- setup ---- */

static inline int group_setup(void **state)
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

static inline int group_teardown(void **state)
{
	platform_fini(&plat);
	munmap(mem, MEM_SIZE);
	close(memfd);
	close(devfd);
	return 0;
}


#endif
