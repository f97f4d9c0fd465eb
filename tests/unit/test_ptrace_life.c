/* ptrace platform: concurrency, lifetime, isolation and the getpid benchmark. */
#include "ptrace_rig.h"
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
