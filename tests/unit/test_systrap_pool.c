/*
 * The systrap platform, part 3: reuse of released stubs (platform/systrap/pool.c).  A pooled
 * stub is reused; it keeps nothing of the address space that used it before (mappings, memory
 * the application wrote in the stub's shared pages, threads); a stub that dies or whose
 * threads do not exit is never reused; the pool is bounded and dies with the platform.
 * The rig: systrap_rig.h.
 */
#include <sys/wait.h>

#include "systrap_rig.h"

#define FRESH_PAGE 300 /* memory file pages never written by these tests */
#define SECRET_PAGE 301
#define HIGH_VA 0x7f0000000000ul
#define PATTERN 0x5ec2e75ec2e75ec2ul
#define MSG_TAIL 4032
STATIC_ASSERT(sizeof(struct sysmsg) <= MSG_TAIL);

static struct systrap_platform *sp_of(struct platform *p)
{
	return p->priv;
}

/* Runs as once from CODE_VA with a new context. */
static struct trap run_once(struct address_space *as)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct trap t;

	t = run(c, as, cpu);
	platform_release_context(c);
	cpu_free(cpu);
	return t;
}

/* Number of mappings of pid below the stub region other than the trampoline table. */
static int app_maps(pid_t pid, uint64_t *first)
{
	char path[64], line[256];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo;

		sscanf(line, "%lx", &lo);
		if (lo == TRAMP_TABLE_VA || lo >= plat.max_user_address)
			continue;
		if (!n && first)
			*first = lo;
		n++;
	}
	fclose(f);
	return n;
}

static void test_pool_reuses(void **state)
{
	struct systrap_platform *sp = sp_of(&plat);
	struct address_space *a, *b;
	uint64_t forked, reused;
	pid_t pid;

	pool_flush(&plat);
	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	a = as_new(CODE_PAGE);
	pid = as_pid(a);
	assert_int_equal(run_once(a).kind, TRAP_SYSCALL);
	platform_release_address_space(a);
	assert_int_equal(sp->pool_n, 1);
	forked = sp->stubs_forked;
	reused = sp->stubs_reused;
	b = as_new(CODE_PAGE);
	assert_int_equal(as_pid(b), pid); /* the same process... */
	assert_int_equal(sp->stubs_forked, forked); /* ...not a new one */
	assert_int_equal(sp->stubs_reused, reused + 1);
	assert_int_equal(sp->pool_n, 0);
	assert_int_equal(stub_threads(pid), 1); /* the syscall thread only */
	assert_int_equal(run_once(b).kind, TRAP_SYSCALL);
	platform_release_address_space(b);
}

/* Where the application of a can write in the stub outside its own mappings. */
static void stub_shared_addrs(struct context *c, uint64_t *slot_mem, uint64_t *resp_mem)
{
	struct sthread *t = ctx_thread_of(c);

	*slot_mem = t->slot_va + SLOT_MSG_OFF + MSG_TAIL; /* its message page, past the fields */
	*resp_mem = sp_of(&plat)->base + STUB_CTL_OFF + 4096 + 512;
}

static void test_pool_reused_stub_is_clean(void **state)
{
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *a, *b;
	uint64_t slot_mem, resp_mem, addrs[3], first = 0;
	struct trap t;
	pid_t pid;

	pool_flush(&plat);
	memset(mem + FRESH_PAGE * PAGE, 0, PAGE);
	put_code(CODE_PAGE + 2, code_store, sizeof(code_store));
	put_code(CODE_PAGE + 3, code_load_syscall, sizeof(code_load_syscall));

	/* Address space a: the application writes a secret in its memory and in the stub. */
	a = as_new(CODE_PAGE + 2);
	pid = as_pid(a);
	assert_int_equal(platform_map_file(a, DATA_VA, PAGE, SECRET_PAGE * PAGE,
					   PROT_READ | PROT_WRITE), 0);
	assert_int_equal(platform_map_file(a, HIGH_VA, PAGE, SECRET_PAGE * PAGE, PROT_READ), 0);
	cpu->regs.rbx = DATA_VA;
	cpu->regs.rcx = PATTERN;
	assert_int_equal(run(c, a, cpu).kind, TRAP_SYSCALL);
	stub_shared_addrs(c, &slot_mem, &resp_mem);
	addrs[0] = DATA_VA;
	addrs[1] = slot_mem;
	addrs[2] = resp_mem;
	for (int i = 1; i < 3; i++) {
		cpu->regs.rip = CODE_VA;
		cpu->regs.rbx = addrs[i];
		cpu->regs.rcx = PATTERN; /* the syscall left the return address there */
		assert_int_equal(run(c, a, cpu).kind, TRAP_SYSCALL);
	}
	assert_int_equal(*(uint64_t *)(mem + SECRET_PAGE * PAGE), PATTERN);
	assert_int_equal(*(uint64_t *)((uint8_t *)ctx_thread_of(c)->sm + MSG_TAIL), PATTERN);
	assert_int_equal(*(uint64_t *)((uint8_t *)to_sas(a)->resp + 512), PATTERN);
	platform_release_context(c);
	platform_release_address_space(a);

	/* Address space b, in the same stub: none of it is left. */
	b = as_new(CODE_PAGE + 3);
	assert_int_equal(as_pid(b), pid);
	assert_int_equal(app_maps(pid, &first), 2); /* b's code and stack only */
	assert_true(first == CODE_VA || first == STACK_VA);
	assert_int_equal(stub_threads(pid), 1);
	c = platform_new_context(&plat);
	cpu->regs.rip = CODE_VA;
	cpu->regs.rbx = DATA_VA; /* a's data page: unmapped now */
	t = run(c, b, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, DATA_VA);
	cpu->regs.rbx = HIGH_VA;
	t = run(c, b, cpu);
	assert_int_equal(t.kind, TRAP_FAULT);
	assert_int_equal(t.addr, HIGH_VA);
	/* Fresh memory at the same address reads zeros; so do the stub's shared pages. */
	assert_int_equal(platform_map_file(b, DATA_VA, PAGE, FRESH_PAGE * PAGE, PROT_READ), 0);
	for (int i = 0; i < 3; i++) {
		cpu->regs.rip = CODE_VA;
		cpu->regs.rbx = addrs[i];
		t = run(c, b, cpu);
		assert_int_equal(t.kind, TRAP_SYSCALL);
		assert_int_equal(cpu->regs.orig_rax, 0);
	}
	assert_int_equal(ctx_thread_of(c)->slot_va + SLOT_MSG_OFF + MSG_TAIL, slot_mem); /* same slot */
	platform_release_context(c);
	platform_release_address_space(b);
	cpu_free(cpu);
}

static void test_pool_killed_stub_discarded(void **state)
{
	struct systrap_platform *sp = sp_of(&plat);
	struct address_space *a, *b;
	uint64_t forked;
	siginfo_t si;
	pid_t pid;

	pool_flush(&plat);
	put_code(CODE_PAGE, code_two_syscalls, sizeof(code_two_syscalls));
	a = as_new(CODE_PAGE);
	pid = as_pid(a);
	platform_release_address_space(a);
	assert_int_equal(sp->pool_n, 1);
	kill(pid, SIGKILL);
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | __WALL), 0);
	forked = sp->stubs_forked;
	b = as_new(CODE_PAGE);
	assert_int_not_equal(as_pid(b), pid);
	assert_int_equal(sp->stubs_forked, forked + 1);
	assert_int_equal(sp->pool_n, 0);
	assert_int_equal(kill(pid, 0), -1); /* reaped */
	assert_int_equal(run_once(b).kind, TRAP_SYSCALL);
	platform_release_address_space(b);
}

/*
 * A thread that keeps running application code after its address space is released (what an
 * application gets by writing RUN into a waiting thread's message page, done here through the
 * sentry's view of that page): the stub is killed, not pooled.
 */
static void test_pool_thread_that_stays_discarded(void **state)
{
	static const uint8_t code_syscall_spin[] = { 0x0f, 0x05, 0xeb, 0xfe }; /* syscall; jmp . */
	struct systrap_platform *sp = sp_of(&plat);
	struct context *c = platform_new_context(&plat);
	struct cpu_state *cpu = cpu_new(CODE_VA);
	struct address_space *a;
	uint64_t reused;
	struct sysmsg *sm;
	pid_t pid;

	pool_flush(&plat);
	put_code(CODE_PAGE + 4, code_syscall_spin, sizeof(code_syscall_spin));
	a = as_new(CODE_PAGE + 4);
	pid = as_pid(a);
	assert_int_equal(run(c, a, cpu).kind, TRAP_SYSCALL);
	sm = ctx_thread_of(c)->sm;
	__atomic_store_n(&sm->cmd, SYSMSG_CMD_RUN, __ATOMIC_RELEASE);
	systrap_seq_post(&sm->cmd_seq);
	sleep_ms(20); /* it spins in `jmp .` now, unknown to the sentry */
	platform_release_context(c);
	reused = sp->stubs_reused;
	platform_release_address_space(a);
	assert_int_equal(sp->pool_n, 0);
	assert_int_equal(kill(pid, 0), -1); /* killed and reaped */
	a = as_new(CODE_PAGE);
	assert_int_not_equal(as_pid(a), pid);
	assert_int_equal(sp->stubs_reused, reused);
	platform_release_address_space(a);
	cpu_free(cpu);
}

static void test_pool_bounded(void **state)
{
	struct systrap_platform *sp = sp_of(&plat);
	struct address_space *as[POOL_MAX + 3];
	int children;

	pool_flush(&plat);
	children = count_children();
	for (unsigned i = 0; i < ARRAY_SIZE(as); i++)
		as[i] = as_new(CODE_PAGE);
	assert_int_equal(count_children(), children + (int)ARRAY_SIZE(as));
	for (unsigned i = 0; i < ARRAY_SIZE(as); i++)
		platform_release_address_space(as[i]);
	assert_int_equal(sp->pool_n, POOL_MAX);
	assert_int_equal(count_children(), children + POOL_MAX);
	pool_flush(&plat);
	assert_int_equal(count_children(), children);
}

static void test_pool_dies_with_platform(void **state)
{
	struct platform p2;
	struct platform_opts o = { .memfd = memfd, .mem_base = mem, .mem_size = MEM_SIZE };
	struct address_space *as[2];
	int children = count_children();
	pid_t pids[2];

	assert_int_equal(platform_init(&p2, &systrap_platform_ops, &o), 0);
	for (int i = 0; i < 2; i++) {
		as[i] = as_new_on(&p2, CODE_PAGE);
		pids[i] = as_pid(as[i]);
	}
	for (int i = 0; i < 2; i++)
		platform_release_address_space(as[i]);
	assert_int_equal(sp_of(&p2)->pool_n, 2);
	assert_int_equal(kill(pids[0], 0), 0);
	platform_fini(&p2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(kill(pids[i], 0), -1); /* killed and reaped */
	assert_int_equal(count_children(), children);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_reuses),
		cmocka_unit_test(test_pool_reused_stub_is_clean),
		cmocka_unit_test(test_pool_killed_stub_discarded),
		cmocka_unit_test(test_pool_thread_that_stays_discarded),
		cmocka_unit_test(test_pool_bounded),
		cmocka_unit_test(test_pool_dies_with_platform),
	};

	if (getenv("CV_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CV_TEST_FILTER"));
	alarm(600);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
