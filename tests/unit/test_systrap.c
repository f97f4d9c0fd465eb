/*
 * The systrap platform, part 1: traps, faults, FPU, syscall patching, interrupts, and the
 * benchmark (CV_BENCH=1).  The rig and the environment variables: systrap_rig.h.
 */
#include "systrap_rig.h"

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
	assert_true(last_trap_patched(c)); /* resumed at the site's jump: no SIGILL */
	/* ...and with another number in rax (restart_syscall) it is that syscall. */
	cpu->regs.rip -= 2;
	cpu->regs.rax = SYS_restart_syscall;
	assert_int_equal(run(c, as, cpu).kind, TRAP_SYSCALL);
	assert_int_equal(cpu->regs.orig_rax, SYS_restart_syscall);
	assert_int_equal(cpu->regs.rip, CODE_VA + 8);
	assert_false(last_trap_patched(c)); /* through the SIGILL */
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
		cmocka_unit_test(test_bench_getpid),
	};

	if (getenv("CV_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CV_TEST_FILTER"));
	alarm(1200); /* a hang is a failure, never a stuck `make check` */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
