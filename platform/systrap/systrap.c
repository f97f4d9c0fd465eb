/*
 * The systrap platform: application code runs in stub processes under a seccomp filter whose
 * default action is SECCOMP_RET_TRAP.  Every application syscall raises SIGSYS in the
 * application thread itself; a small freestanding handler in the stub (blob/) saves the
 * registers into a page shared with the sentry and hands over by spinning briefly, then by
 * futex.  Faults arrive the same way (SIGSEGV, SIGBUS, ...).  A trapped `mov $nr,%eax;
 * syscall` site is patched into a jump to a trampoline that makes the same request without a
 * signal (patch.c).  No ptrace anywhere.
 *
 * Host tasks:
 *  - The *parent thread* (here) only waits.  It forks the master, and every stub process is
 *    the master's child by CLONE_PARENT, so this thread is their real parent: when it exits
 *    (fini, or the sentry dying), PR_SET_PDEATHSIG kills every stub.
 *  - The *master* is a stub with no application: its syscall thread forks address spaces on
 *    request.  It is made before the sentry installs its own seccomp filter.
 *  - A stub process per address space: its leader is the *syscall thread*, which runs
 *    mmap/munmap/clone for the sentry (address_space.c) from a read-only request page, and
 *    one *stub thread* per context that runs application code (thread.c, context.c).
 *
 * This file holds the ops table, the probe, init/fini and the parent thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "../platforms.h"
#include "systrap_internal.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
/* AMX tile state is never saved or loaded by the stub (it needs a permission first). */
#define XFEATURE_AMX_MASK ((1ull << 17) | (1ull << 18))

int64_t systrap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

uint64_t systrap_cycles(const struct systrap_platform *sp, uint64_t ns)
{
	return ns * sp->tsc_khz / 1000000;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* TSC ticks per millisecond, measured against CLOCK_MONOTONIC over ~2 ms. */
static uint64_t tsc_khz_measure(void)
{
	int64_t t0 = systrap_now_ns(), t1;
	uint64_t c0 = rdtsc(), c1;

	do
		t1 = systrap_now_ns();
	while (t1 - t0 < 2000000);
	c1 = rdtsc();
	return (c1 - c0) * 1000000 / (uint64_t)(t1 - t0);
}

/* ---- probe ---- */

static volatile sig_atomic_t probe_seen;

static void probe_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	probe_seen = si->si_code == SYS_SECCOMP && si->si_syscall == SYS_getppid;
	uc->uc_mcontext.gregs[REG_RAX] = 4242;
}

/* Child of the probe: traps getppid with SECCOMP_RET_TRAP and checks the handler saw it. */
static __noreturn void probe_child(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };
	struct sigaction sa = { .sa_sigaction = probe_sigsys, .sa_flags = SA_SIGINFO };
	long r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(2);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		_exit(3);
	r = syscall(SYS_getppid);
	_exit(r == 4242 && probe_seen ? 0 : 4);
}

static int systrap_probe(char *why, size_t n)
{
	int st = 0;
	pid_t pid, r;

#ifndef __x86_64__
	return platform_why(why, n, -ENOSYS, "systrap is implemented for x86-64 only");
#endif
	pid = fork();
	if (pid < 0)
		return platform_why(why, n, -errno, "fork: %m");
	if (pid == 0)
		probe_child();
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != pid)
		return platform_why(why, n, -ECHILD, "lost the probe child (SIGCHLD ignored?)");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return platform_why(why, n, -ENOSYS, "seccomp filters are not available");
	return platform_why(why, n, -ENOSYS, "SECCOMP_RET_TRAP does not deliver SIGSYS (status %#x)",
			st);
}

/* ---- the parent thread (platform_parent): it forks the master ---- */

static int master_create(void *arg)
{
	return systrap_master_create(arg);
}

/* ---- init and fini ---- */

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t mxcsr_mask_read(void)
{
	uint8_t fx[512] __aligned(16);
	uint32_t mask;

	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsaveq %0" : "=m"(fx));
	memcpy(&mask, fx + 28, sizeof(mask));
	return mask ? mask : 0xffbf;
}

static struct systrap_platform *sp_alloc(struct platform *p, const struct platform_opts *o)
{
	struct systrap_platform *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->p = p;
	sp->memfd = o->memfd;
	sp->privfd = sp->ack_rd = sp->ack_wr = -1;
	sp->shm = MAP_FAILED;
	sp->sentry_pid = getpid();
	sp->patching = !o->no_syscall_patching;
	sp->cpuid_faulting = o->cpuid_faulting;
	sp->fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	sp->fpu_size = cpu_fpu_size();
	sp->xsave_mask = sp->fpu_size > 512 ? xgetbv0() & ~XFEATURE_AMX_MASK : 0;
	sp->mxcsr_mask = mxcsr_mask_read();
	sp->tsc_khz = tsc_khz_measure();
	sp->spin_cycles = systrap_cycles(sp, SPIN_SENTRY_NS);
	sp->yield_cycles = systrap_cycles(sp, YIELD_NS);
	sp->spin_woke_cycles = systrap_cycles(sp, SPIN_WOKE_NS);
	sp->interrupt_grace_ns = INTERRUPT_GRACE_NS;
	sp->master_cpu = -1;
	sp->next_gen = 1;
	sp->next_as_id = 1;
	sp->shm_next = SHM_DYN_OFF;
	sp->table_next = 1;
	if (getrandom(&sp->magic, sizeof(sp->magic), 0) != sizeof(sp->magic))
		sp->magic = rdtsc() * 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&sp->master_lock, NULL);
	pthread_mutex_init(&sp->lock, NULL);
	slist_init(&sp->as_list);
	slist_init(&sp->pool);
	sp->pool_max = POOL_MAX;
	return sp;
}

static void sp_free(struct systrap_platform *sp)
{
	while (sp->shm_free) {
		struct shm_free *f = sp->shm_free;

		sp->shm_free = f->next;
		free(f);
	}
	if (sp->shm != MAP_FAILED)
		munmap(sp->shm, SHM_SIZE);
	if (sp->base)
		munmap((void *)(uintptr_t)sp->base, STUB_CTL_OFF);
	for (int *fd = &sp->privfd; fd <= &sp->ack_wr; fd++) {
		if (*fd >= 0)
			close(*fd);
	}
	free(sp->base_filter);
	free(sp->table_keys);
	pthread_mutex_destroy(&sp->master_lock);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

/* The shared memory and the acknowledgement pipe. */
static int shm_create(struct systrap_platform *sp)
{
	int pipefd[2];

	sp->privfd = memfd_create("cvisor-systrap", MFD_CLOEXEC);
	if (sp->privfd < 0)
		return -errno;
	if (ftruncate(sp->privfd, (off_t)SHM_SIZE) < 0)
		return -errno;
	sp->shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       sp->privfd, 0);
	if (sp->shm == MAP_FAILED)
		return -errno;
	sp->table_keys = calloc(TRAMP_ENTRIES, sizeof(*sp->table_keys));
	if (!sp->table_keys)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	sp->ack_rd = pipefd[0];
	sp->ack_wr = pipefd[1];
	if (fcntl(sp->ack_rd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* The exit page and the trampoline table's header, in shared memory. */
static void shm_fill(struct systrap_platform *sp)
{
	uint64_t common = stub_sym(sp, sp->hdr.tramp);

	memcpy(shm_ptr(sp, SHM_EXIT_OFF), systrap_blob + sp->hdr.exit_page, 4096);
	memset(shm_ptr(sp, SHM_TABLE_OFF), 0xcc, TRAMP_TABLE_SIZE);
	memcpy(shm_ptr(sp, SHM_TABLE_OFF), &common, sizeof(common));
}

static int systrap_init(struct platform *p, const struct platform_opts *o)
{
	struct systrap_platform *sp;
	int r;

	if (o->memfd < 0)
		return -EBADF;
	sp = sp_alloc(p, o);
	if (!sp)
		return -ENOMEM;
	if (sp->fpu_size > SLOT_FPU_SIZE) {
		r = -E2BIG;
		goto err_free;
	}
	if ((r = shm_create(sp)) < 0 || (r = systrap_region_create(sp)) < 0 ||
	    (r = systrap_filters_build(sp)) < 0)
		goto err_free;
	shm_fill(sp);
	if (mprotect((void *)(uintptr_t)sp->base, STUB_CODE_MAX, PROT_READ | PROT_EXEC) < 0 ||
	    mprotect(sp->cfg, STUB_CONFIG_SIZE, PROT_READ) < 0) {
		r = -errno;
		goto err_free;
	}
	r = platform_parent_start(&sp->parent, master_create, sp);
	/* The master has its copies; the sentry needs none of them. */
	close(sp->privfd);
	close(sp->ack_wr);
	sp->privfd = sp->ack_wr = -1;
	if (r < 0)
		goto err_parent;
	p->priv = sp;
	p->min_user_address = SYSTRAP_MIN_USER;
	p->max_user_address = sp->base;
	return 0;

err_parent:
	platform_parent_stop(&sp->parent);
err_free:
	log_err("systrap: platform init failed: %s", strerror(-r));
	sp_free(sp);
	return r;
}

static void systrap_fini(struct platform *p)
{
	struct systrap_platform *sp = p->priv;

	if (!sp)
		return;
	log_debug("systrap: %llu stub processes forked, %llu reused",
		  (unsigned long long)sp->stubs_forked, (unsigned long long)sp->stubs_reused);
	systrap_pool_drain(sp); /* and no more pooling: every stub dies below */
	while (!slist_empty(&sp->as_list))
		systrap_release_address_space(
			&container_of(sp->as_list.next, struct systrap_as, link)->base);
	if (sp->master > 0) {
		kill(sp->master, SIGKILL);
		while (waitpid(sp->master, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	platform_parent_stop(&sp->parent);
	sp_free(sp);
	p->priv = NULL;
}

static const struct host_syscall_rule systrap_host_rules[] = {
	{ .nr = SYS_futex, .why = "hand-offs with stub threads (wait/wake on shared memory)" },
	{ .nr = SYS_read, .why = "acknowledgements of the stubs' syscall threads (a pipe)" },
	{ .nr = SYS_tgkill,
	  .nargs = 1,
	  .args = { { 2, HOST_ARG_EQ, STUB_INTERRUPT_SIGNAL, 0 } },
	  .why = "interrupt a stub thread running application code" },
	{ .nr = SYS_kill,
	  .nargs = 1,
	  .args = { { 1, HOST_ARG_EQ, SIGKILL, 0 } },
	  .why = "kill a released or inconsistent stub process" },
	{ .nr = SYS_wait4, .why = "reap stub processes" },
	{ .nr = SYS_waitid,
	  .nargs = 1,
	  .args = { { 0, HOST_ARG_EQ, P_PID, 0 } },
	  .why = "check that a stub process is alive (WNOWAIT)" },
	{ .nr = SYS_sched_setaffinity,
	  .why = "keep the master and syscall threads on their requester's CPU" },
	{ .nr = SYS_getcpu, .why = "sched_getcpu() without vDSO or rseq" },
	{ .nr = SYS_madvise,
	  .nargs = 1,
	  .args = { { 2, HOST_ARG_EQ, MADV_REMOVE, 0 } },
	  .why = "give shared pages of released stubs back to the host" },
};

static const struct host_syscall_rule *systrap_host_syscalls(struct platform *p, size_t *n)
{
	*n = ARRAY_SIZE(systrap_host_rules);
	return systrap_host_rules;
}

/* The stub process's CPU clock: application code of this address space, and the stub's
 * syscall thread (mapping requests). */
static int systrap_as_cpu_time(struct address_space *as, uint64_t *ns)
{
	struct systrap_as *sas = to_sas(as);
	int r = platform_process_cpu_time(sas->pid, ns);

	if (r == 0)
		*ns = *ns > sas->cpu_base ? *ns - sas->cpu_base : 0;
	return r;
}

const struct platform_ops systrap_platform_ops = {
	.name = "systrap",
	.probe = systrap_probe,
	.init = systrap_init,
	.fini = systrap_fini,
	.host_syscalls = systrap_host_syscalls,
	.new_address_space = systrap_new_address_space,
	.release_address_space = systrap_release_address_space,
	.new_context = systrap_new_context,
	.release_context = systrap_release_context,
	.switch_context = systrap_switch,
	.pull_full_state = systrap_pull_full_state,
	.interrupt = systrap_interrupt,
	.map_file = systrap_map_file,
	.unmap = systrap_unmap,
	.as_cpu_time = systrap_as_cpu_time,
};
