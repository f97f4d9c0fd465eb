/*
 * ptrace primitives on one tracee thread.  Every function here must run on the tracee's tracer
 * thread (ptrace requests from any other thread fail with ESRCH), except tracee_reap(), which
 * any sentry thread may call: wait4 sees the tracees and children of every thread in the
 * sentry's thread group.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "ptrace_internal.h"

/* struct cpu_regs is handed to PTRACE_GETREGS/SETREGS as is. */
STATIC_ASSERT(sizeof(struct cpu_regs) == sizeof(struct user_regs_struct));
STATIC_ASSERT(offsetof(struct cpu_regs, orig_rax) == offsetof(struct user_regs_struct, orig_rax));
STATIC_ASSERT(offsetof(struct cpu_regs, fs_base) == offsetof(struct user_regs_struct, fs_base));
STATIC_ASSERT(offsetof(struct cpu_regs, gs) == offsetof(struct user_regs_struct, gs));

/* How many times an injected syscall is retried when it reports a restart code. */
#define INJECT_RETRIES 16

int tracee_wait(pid_t tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);

		if (r == tid)
			return WIFSTOPPED(*status) ? 0 : -ECHILD;
		if (r < 0 && errno == EINTR)
			continue;
		/* ECHILD: already reaped, or never ours; either way it is gone for us. */
		return -ECHILD;
	}
}

void tracee_reap(pid_t tid)
{
	int status;

	/* Stops still queued for a dying tracee are skipped; the caller has killed it. */
	while (tracee_wait(tid, &status) == 0)
		;
}

void tracee_reap_foreign(pid_t tid)
{
	unsigned us = 10;
	int status;

	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

		if (r == tid && WIFSTOPPED(status))
			continue; /* a stop still queued for the dying thread */
		if (r == tid || (r < 0 && errno != EINTR))
			return; /* reaped, or ECHILD: gone */
		if (r == 0) {
			usleep(us);
			us = MIN(us * 2, 1000u);
		}
	}
}

int tracee_getregs(pid_t tid, struct cpu_regs *r)
{
	return ptrace(PTRACE_GETREGS, tid, NULL, r) < 0 ? -errno : 0;
}

int tracee_setregs(pid_t tid, const struct cpu_regs *r)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, r) < 0 ? -errno : 0;
}

int tracee_detach(pid_t tid)
{
	return ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0 ? -errno : 0;
}

static int tracee_cont(pid_t tid)
{
	return ptrace(PTRACE_CONT, tid, NULL, NULL) < 0 ? -errno : 0;
}

static bool is_event_stop(int status)
{
	return (status >> 16) == PTRACE_EVENT_STOP;
}

void tracee_release(pid_t tid)
{
	/* A stopped tracee detaches; one that is not stopped any more was killed. */
	if (tracee_detach(tid) == -ESRCH)
		tracee_reap(tid);
}

int tracee_seize(pid_t tid, unsigned long options)
{
	int status, r;

	if (ptrace(PTRACE_SEIZE, tid, NULL, options) < 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
		r = -errno;
		tracee_release(tid);
		return r;
	}
	/* The interrupt trap is taken before any queued signal; skip signals anyway. */
	while ((r = tracee_wait(tid, &status)) == 0 && !is_event_stop(status)) {
		if ((r = tracee_cont(tid)) < 0) {
			tracee_release(tid);
			return r;
		}
	}
	return r;
}

/*
 * Classifies a stop during an injected syscall: 1 = the stub reached `trap`, 0 = unrelated
 * (resume and keep waiting), < 0 = the stub code itself failed.
 */
static int inject_stop(pid_t tid, int status, uint64_t trap, struct cpu_regs *regs)
{
	siginfo_t si;
	int r;

	if (is_event_stop(status))
		return 0;
	if (WSTOPSIG(status) == SIGTRAP) {
		if ((r = tracee_getregs(tid, regs)) < 0)
			return r;
		if (regs->rip == trap + 1)
			return 1;
	}
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
		return -errno;
	/* Signals sent by someone (si_code <= 0) are dropped; a fault in stub code is fatal. */
	return si.si_code <= 0 ? 0 : -EFAULT;
}

int tracee_wait_trap(pid_t tid, uint64_t trap, struct cpu_regs *regs, int *status)
{
	int v;

	for (;;) {
		if ((v = tracee_wait(tid, status)) < 0)
			return v;
		if ((v = inject_stop(tid, *status, trap, regs)) != 0)
			return v < 0 ? v : 0;
		if ((v = tracee_cont(tid)) < 0)
			return v;
	}
}

static int inject_once(struct ptrace_platform *pp, pid_t tid, const struct cpu_regs *in,
		       uint64_t entry, uint64_t trap, struct cpu_regs *out)
{
	struct cpu_regs r = *in;
	int status, v;

	r.rip = entry;
	r.orig_rax = (uint64_t)-1; /* never let the kernel "restart" whatever it stopped in */
	stub_force_segments(pp, &r);
	if ((v = tracee_setregs(tid, &r)) < 0 || (v = tracee_cont(tid)) < 0)
		return v;
	return tracee_wait_trap(tid, trap, out, &status);
}

static bool is_restart(long r)
{
	return r == -ERESTARTSYS || r == -ERESTARTNOINTR || r == -ERESTARTNOHAND ||
	       r == -ERESTART_RESTARTBLOCK;
}

int tracee_syscall(struct ptrace_platform *pp, pid_t tid, struct cpu_regs *regs, uint64_t entry,
		   uint64_t trap, long *ret)
{
	struct cpu_regs in = *regs;
	int r;

	for (int i = 0; i < INJECT_RETRIES; i++) {
		if ((r = inject_once(pp, tid, &in, entry, trap, regs)) < 0)
			return r;
		*ret = (long)regs->rax;
		if (!is_restart(*ret))
			return 0;
	}
	return -EAGAIN;
}
