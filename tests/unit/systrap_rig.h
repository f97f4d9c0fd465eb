/* Shared by the systrap test binaries (test_systrap.c, test_systrap_life.c): the rig and
 * its helpers. */
#ifndef CV_TESTS_SYSTRAP_RIG_H
#define CV_TESTS_SYSTRAP_RIG_H

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

static inline void put_code(unsigned page, const void *code, size_t len)
{
	memset(mem + page * PAGE, 0xcc, PAGE);
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

static inline struct address_space *as_new_on(struct platform *p, unsigned code_page)
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
static inline struct address_space *as_new(unsigned code_page)
{
	return as_new_on(&plat, code_page);
}

static inline struct trap run(struct context *c, struct address_space *as, struct cpu_state *cpu)
{
	struct trap t;

	memset(&t, 0xaa, sizeof(t));
	assert_int_equal(platform_switch(c, as, cpu, &t), 0);
	return t;
}

static inline pid_t as_pid(struct address_space *as)
{
	return to_sas(as)->pid;
}

/* The stub thread of c in as (after c ran there). */
static inline struct sthread *ctx_thread_of(struct context *c)
{
	return to_sctx(c)->cache_t;
}

/* Number of entries in a /proc directory, minus . and .. */
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

/* Children (including zombies) of every thread of this process. */
static inline int count_children(void)
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

static inline int stub_threads(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return count_dir(path);
}

/* Kills p's pooled stubs (so children can be counted, or a fresh stub is forked next) and
 * keeps pooling on. */
static inline void pool_flush(struct platform *p)
{
	struct systrap_platform *sp = p->priv;

	systrap_pool_drain(sp);
	sp->pool_max = POOL_MAX;
}

/* A context, registers at CODE_VA, and an address space running `code` from CODE_VA. */
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

/* ---- setup ---- */

static inline int platform_on(struct platform *p, bool patching)
{
	struct platform_opts o = { .memfd = memfd,
				   .mem_base = mem,
				   .mem_size = MEM_SIZE,
				   .no_syscall_patching = !patching };

	return platform_init(p, &systrap_platform_ops, &o);
}

static inline int group_setup(void **state)
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

static inline int group_teardown(void **state)
{
	platform_fini(&noplat);
	platform_fini(&plat);
	munmap(mem, MEM_SIZE);
	close(memfd);
	return 0;
}

/* ---- shared helpers ---- */

/* Whether c's last trap came through the patched path (no signal frame). */
static inline bool last_trap_patched(struct context *c)
{
	return ctx_thread_of(c)->frame_fpu == NULL;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static inline void wait_threads(pid_t pid, int n)
{
	for (int i = 0; i < 500 && stub_threads(pid) != n; i++)
		sleep_ms(2);
	assert_int_equal(stub_threads(pid), n);
}

/* Interrupts c every 20 ms until stopped (the sentry's way out of a stuck thread). */
struct watchdog {
	struct context *c;
	atomic_bool stop;
	pthread_t th;
};

static inline void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;

	while (!atomic_load(&w->stop)) {
		sleep_ms(20);
		platform_interrupt(w->c);
	}
	return NULL;
}

static inline void watchdog_start(struct watchdog *w, struct context *c)
{
	w->c = c;
	atomic_init(&w->stop, false);
	assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
	((struct systrap_platform *)plat.priv)->interrupt_grace_ns = 100000000;
}

static inline void watchdog_stop(struct watchdog *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->th, NULL);
	((struct systrap_platform *)plat.priv)->interrupt_grace_ns = INTERRUPT_GRACE_NS;
}

#endif
