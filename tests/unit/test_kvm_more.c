/* kvm platform: registers, FPU, CPUID and TSC, interrupts, threads and address spaces, numbers. */
#include "kvm_rig.h"
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

/*
 * Kicks at random moments (0-150 us apart, a trap here is ~100 us) while the context traps
 * over and over: whenever a kick lands, the switch must report either the trap, whole, or an
 * interrupt on an application instruction.  kvm_pvm is often part-way through a trap when the
 * kick makes KVM_RUN return, still in ring 3: after `syscall` (rip at LSTAR), or with an
 * exception queued for delivery.
 */
struct storm {
	struct context *c;
	atomic_bool stop;
	unsigned seed;
	pthread_t th;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;

	while (!atomic_load(&s->stop)) {
		struct timespec ts = { 0, (long)(rand_r(&s->seed) % 150000) };

		platform_interrupt(s->c);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void storm_start(struct storm *s, struct context *c)
{
	s->c = c;
	s->seed = 1;
	atomic_init(&s->stop, false);
	assert_int_equal(pthread_create(&s->th, NULL, storm_main, s), 0);
}

static void storm_stop(struct storm *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
}

static void storm_bad(const char *what, const struct trap *t, const struct cpu_state *cpu)
{
	print_message("# %s: trap %d signo %d addr %#llx rip %#llx\n", what, t->kind, t->signo,
		      (unsigned long long)t->addr, (unsigned long long)cpu->regs.rip);
}

/* A syscall loop: every syscall is seen once, at its rip; never an interrupt at LSTAR. */
static void test_interrupt_syscall_storm(void **state)
{
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code_count, sizeof(code_count), &c, &cpu);
	struct storm s;
	uint64_t count = 0, nint = 0;
	struct trap t;

	storm_start(&s, c);
	while (count < 3000 && platform_switch(c, as, cpu, &t) == 0) {
		if (t.kind == TRAP_SYSCALL && cpu->regs.rip == CODE_VA + 6 &&
		    cpu->regs.rdi == count + 1) {
			count++;
		} else if (t.kind == TRAP_INTERRUPT && cpu->regs.rip >= CODE_VA &&
			   cpu->regs.rip < CODE_VA + sizeof(code_count)) {
			nint++;
		} else {
			storm_bad("syscall loop", &t, cpu);
			break;
		}
	}
	storm_stop(&s);
	print_message("# %llu syscalls, %llu interrupts\n", (unsigned long long)count,
		      (unsigned long long)nint);
	assert_int_equal(count, 3000);
	assert_true(nint > 0);
	rig_close(c, as, cpu);
}

/*
 * A ud2 loop; after each interrupt rip moves on, as a signal delivery moves it to a handler.
 * An exception still queued when the interrupt was reported would be raised there instead.
 */
static void test_interrupt_exception_storm(void **state)
{
	static const uint8_t code[] = { 0x0f, 0x0b, 0x90, 0x90, 0x0f, 0x05 }; /* ud2; nop; nop */
	struct context *c;
	struct cpu_state *cpu;
	struct address_space *as = rig_open(code, sizeof(code), &c, &cpu);
	struct storm s;
	int nill = 0, nint = 0, moved = 0;
	struct trap t;

	storm_start(&s, c);
	while (nill < 2000 && platform_switch(c, as, cpu, &t) == 0) {
		if (t.kind == TRAP_SIGNAL && t.signo == SIGILL && t.addr == CODE_VA &&
		    cpu->regs.rip == CODE_VA) {
			nill++;
		} else if (t.kind == TRAP_INTERRUPT && cpu->regs.rip == CODE_VA) {
			nint++;
			cpu->regs.rip = CODE_VA + 2;
			continue;
		} else if (t.kind == TRAP_INTERRUPT && cpu->regs.rip >= CODE_VA + 2 &&
			   cpu->regs.rip <= CODE_VA + 4) {
			continue;
		} else if (t.kind == TRAP_SYSCALL && cpu->regs.rip == CODE_VA + 6) {
			moved++;
		} else {
			storm_bad("ud2 loop", &t, cpu);
			break;
		}
		cpu->regs.rip = CODE_VA;
	}
	storm_stop(&s);
	print_message("# %d SIGILLs, %d interrupts, %d moved on\n", nill, nint, moved);
	assert_int_equal(nill, 2000);
	assert_true(nint > 0);
	assert_int_equal(moved, nint);
	rig_close(c, as, cpu);
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
		cmocka_unit_test(test_fs_base),
		cmocka_unit_test(test_fpu_state),
		cmocka_unit_test(test_fpu_forged),
		cmocka_unit_test(test_fpu_isolation),
		cmocka_unit_test(test_simd_exception),
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_rdtsc),
		cmocka_unit_test(test_interrupt_before),
		cmocka_unit_test(test_interrupt_during),
		cmocka_unit_test(test_interrupt_syscall_storm),
		cmocka_unit_test(test_interrupt_exception_storm),
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
