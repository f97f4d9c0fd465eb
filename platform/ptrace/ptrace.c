/*
 * The ptrace platform: application code runs in stub processes traced with PTRACE_SYSEMU.
 * This file holds the ops table, probe, init/fini and the parent thread; thread.c explains the
 * process and thread design, context.c the switch, address_space.c the stubs' memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "../platforms.h"
#include "ptrace_internal.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef NT_PRFPREG
#define NT_PRFPREG 2
#endif

/* Child of the probe: traced, stops, then makes one syscall that SYSEMU must intercept. */
static __noreturn void probe_child(void)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		_exit(1);
	syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	syscall(SYS_getpid);
	_exit(0);
}

/* Waits for the probe child to stop; false (and *reaped) if it is gone instead. */
static bool probe_stopped(pid_t pid, int *st, bool *reaped)
{
	pid_t r;

	while ((r = waitpid(pid, st, 0)) < 0 && errno == EINTR)
		;
	if (r == pid && WIFSTOPPED(*st))
		return true;
	*reaped = true; /* exited, or auto-reaped (SIGCHLD ignored): never kill that pid */
	return false;
}

static int probe_sysemu(pid_t pid, bool *reaped, char *why, size_t n)
{
	int st;
	long nr;

	if (!probe_stopped(pid, &st, reaped))
		return platform_why(why, n, -EPERM,
				    "PTRACE_TRACEME is refused (seccomp or an LSM?)");
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0 ||
	    ptrace(PTRACE_SYSEMU, pid, NULL, NULL) < 0)
		return platform_why(why, n, -errno, "PTRACE_SYSEMU is not supported: %m");
	if (!probe_stopped(pid, &st, reaped) || WSTOPSIG(st) != (SIGTRAP | 0x80))
		return platform_why(why, n, -ENOSYS, "PTRACE_SYSEMU did not stop at a syscall");
	nr = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, orig_rax), NULL);
	if (nr != SYS_getpid)
		return platform_why(why, n, -ENOSYS, "PTRACE_SYSEMU reported syscall %ld", nr);
	return 0;
}

static int ptrace_probe(char *why, size_t n)
{
	struct utsname u;
	int maj, min, r, st;
	bool reaped = false;
	pid_t pid;

	if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &maj, &min) == 2 &&
	    (maj < 4 || (maj == 4 && min < 8)))
		return platform_why(why, n, -ENOSYS,
				"kernel %s runs seccomp before ptrace; ptrace needs >= 4.8",
				u.release);
	if (platform_read_long("/proc/sys/kernel/yama/ptrace_scope") >= 3)
		return platform_why(why, n, -EPERM,
				    "ptrace is disabled (kernel.yama.ptrace_scope=3)");
	pid = fork();
	if (pid < 0)
		return platform_why(why, n, -errno, "fork: %m");
	if (pid == 0)
		probe_child();
	r = probe_sysemu(pid, &reaped, why, n);
	if (!reaped) { /* once reaped, its pid is not ours to kill */
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	return r;
}

/* The parent thread's job: the master stub (thread.c says why it must be that thread). */
static int master_create(void *arg)
{
	return ptrace_master_create(arg);
}

static struct ptrace_platform *pp_alloc(struct platform *p, const struct platform_opts *o)
{
	struct ptrace_platform *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return NULL;
	pp->p = p;
	pp->memfd = o->memfd;
	pp->cpuid_faulting = o->cpuid_faulting;
	pp->sentry_pid = getpid();
	pp->fpu_size = cpu_fpu_size();
	pp->fpu_note = pp->fpu_size > 512 ? NT_X86_XSTATE : NT_PRFPREG;
	pthread_mutex_init(&pp->master_lock, NULL);
	pthread_mutex_init(&pp->lock, NULL);
	plist_init(&pp->as_list);
	plist_init(&pp->tls_list);
	atomic_init(&pp->next_ctx_id, 0);
	return pp;
}

static void pp_free(struct ptrace_platform *pp)
{
	struct plist *pos, *tmp;

	plist_for_each_safe (pos, tmp, &pp->tls_list) {
		plist_del(pos);
		free(container_of(pos, struct ptrace_tls, link));
	}
	if (pp->tls_key_valid)
		pthread_key_delete(pp->tls_key);
	pthread_mutex_destroy(&pp->master_lock);
	pthread_mutex_destroy(&pp->lock);
	free(pp);
}

static int ptrace_init(struct platform *p, const struct platform_opts *o)
{
	struct ptrace_platform *pp;
	long base;
	int r;

	if (o->memfd < 0)
		return -EBADF;
	pp = pp_alloc(p, o);
	if (!pp)
		return -ENOMEM;
	if ((r = -pthread_key_create(&pp->tls_key, ptrace_tls_destroy)) < 0)
		goto err_free;
	pp->tls_key_valid = true;
	base = stub_region_create();
	if (base < 0) {
		r = (int)base;
		goto err_free;
	}
	pp->stub_base = (uint64_t)base;
	r = platform_parent_start(&pp->parent, master_create, pp);
	/* The master has its copy; the sentry needs no executable stub page of its own. */
	munmap((void *)(uintptr_t)base, STUB_REGION_SIZE);
	if (r < 0)
		goto err_parent;
	p->priv = pp;
	p->min_user_address =
		(uint64_t)MAX(platform_read_long("/proc/sys/vm/mmap_min_addr"), (long)STUB_MIN_USER);
	p->max_user_address = pp->stub_base;
	return 0;

err_parent:
	platform_parent_stop(&pp->parent);
err_free:
	log_err("ptrace: platform init failed: %d", r);
	pp_free(pp);
	return r;
}

static void ptrace_fini(struct platform *p)
{
	struct ptrace_platform *pp = p->priv;

	if (!pp)
		return;
	while (!plist_empty(&pp->as_list))
		ptrace_release_address_space(
			&container_of(pp->as_list.next, struct ptrace_as, link)->base);
	if (pp->master > 0) {
		kill(pp->master, SIGKILL);
		tracee_reap(pp->master);
	}
	platform_parent_stop(&pp->parent);
	pp_free(pp);
	p->priv = NULL;
}

#define PTRACE_REQ(req, what)                                                                      \
	{ .nr = SYS_ptrace, .nargs = 1, .args = { { 0, HOST_ARG_EQ, req, 0 } }, .why = what }

/* Only the requests the platform makes once running: never PTRACE_ATTACH, never
 * PTRACE_POKEDATA/POKETEXT (application memory is written through the memory file). */
static const struct host_syscall_rule ptrace_host_rules[] = {
	PTRACE_REQ(PTRACE_SEIZE, "take a new stub thread"),
	PTRACE_REQ(PTRACE_INTERRUPT, "stop a seized stub thread"),
	PTRACE_REQ(PTRACE_SETOPTIONS, "TRACESYSGOOD | EXITKILL on stub threads"),
	PTRACE_REQ(PTRACE_SYSEMU, "run application code until its next syscall"),
	PTRACE_REQ(PTRACE_CONT, "run an injected syscall"),
	PTRACE_REQ(PTRACE_DETACH, "hand the spawner thread back"),
	PTRACE_REQ(PTRACE_GETREGS, "application registers"),
	PTRACE_REQ(PTRACE_SETREGS, "application registers"),
	PTRACE_REQ(PTRACE_PEEKUSER, "one register"),
	PTRACE_REQ(PTRACE_POKEUSER, "the syscall return value alone"),
	PTRACE_REQ(PTRACE_GETREGSET, "FPU/XSAVE state, lazily"),
	PTRACE_REQ(PTRACE_SETREGSET, "FPU/XSAVE state, lazily"),
	PTRACE_REQ(PTRACE_GETSIGINFO, "fault address and si_code"),
	PTRACE_REQ(PTRACE_SETSIGMASK, "new stub threads start with no signal blocked"),
	{ .nr = SYS_wait4, .why = "wait for stub thread stops; reap stubs" },
	{ .nr = SYS_tgkill,
	  .nargs = 1,
	  .args = { { 2, HOST_ARG_EQ, STUB_INTERRUPT_SIGNAL, 0 } },
	  .why = "interrupt a stub thread running application code" },
	{ .nr = SYS_kill,
	  .nargs = 1,
	  .args = { { 1, HOST_ARG_EQ, SIGKILL, 0 } },
	  .why = "kill a released stub process" },
	{ .nr = SYS_sched_setaffinity, .why = "keep each stub thread on its tracer's CPU" },
	{ .nr = SYS_getcpu, .why = "sched_getcpu() without vDSO or rseq" },
	{ .nr = SYS_gettid, .why = "identify the tracer thread (cached per thread)" },
	{ .nr = SYS_futex, .why = "platform locks; stopping the stub parent thread" },
};

static const struct host_syscall_rule *ptrace_host_syscalls(struct platform *p, size_t *n)
{
	*n = ARRAY_SIZE(ptrace_host_rules);
	return ptrace_host_rules;
}

const struct platform_ops ptrace_platform_ops = {
	.name = "ptrace",
	.probe = ptrace_probe,
	.init = ptrace_init,
	.fini = ptrace_fini,
	.host_syscalls = ptrace_host_syscalls,
	.new_address_space = ptrace_new_address_space,
	.release_address_space = ptrace_release_address_space,
	.new_context = ptrace_new_context,
	.release_context = ptrace_release_context,
	.switch_context = ptrace_switch,
	.pull_full_state = ptrace_pull_full_state,
	.interrupt = ptrace_interrupt,
	.map_file = ptrace_map_file,
	.unmap = ptrace_unmap,
	.as_cpu_time = ptrace_as_cpu_time,
};
