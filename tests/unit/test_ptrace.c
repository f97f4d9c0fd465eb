#include "ptrace_rig.h"
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
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
