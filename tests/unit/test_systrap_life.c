/*
 * The systrap platform, part 2: threads, lifetime, stub death, isolation, and hostile
 * applications attacking the stub.  The rig: systrap_rig.h.
 */
#include "systrap_rig.h"

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
	int children;

	pool_flush(&plat);
	children = count_children();
	run_workers(NULL);
	pool_flush(&plat);
	assert_int_equal(count_children(), children);
}

/* ---- lifetime ---- */

static void test_release_no_leak(void **state)
{
	const char *env = getenv("CV_STRESS");
	int n = env ? atoi(env) : 2000;
	int children = (pool_flush(&plat), count_children()), threads = count_dir("/proc/self/task");
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
	pool_flush(&plat);
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
	int children = (pool_flush(&plat), count_children());
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
	struct address_space *as = (pool_flush(&plat), as_new(CODE_PAGE));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
	};

	if (getenv("CV_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CV_TEST_FILTER"));
	alarm(1200); /* a hang is a failure, never a stuck `make check` */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
