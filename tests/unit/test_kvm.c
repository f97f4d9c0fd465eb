#include "kvm_rig.h"
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
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
