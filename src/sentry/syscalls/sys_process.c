/* Process identity, exit, clone/fork/vfork, execve, wait, process groups and sessions. */
#include <stdlib.h>
#include <string.h>

#include "syscalls_internal.h"

#define SIGCHLD_ 17
#define CLONE_VM_ 0x100ull
#define CLONE_VFORK_ 0x4000ull
#define CSIGNAL_ 0xffull
#define MAX_ARGS_BYTES (2u << 20)

/* Implements Linux getpid(2): the thread group id in the sandbox's PID namespace. */
SYSCALL(getpid)
{
	return t->tg->tgid;
}

/* Implements Linux gettid(2). */
SYSCALL(gettid)
{
	return t->tid;
}

/* Implements Linux getppid(2); 0 for init, as for a namespace's init. */
SYSCALL(getppid)
{
	long r;

	pthread_mutex_lock(&t->k->lock);
	r = t->tg->parent ? t->tg->parent->tgid : 0;
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux exit(2): ends the calling thread only. */
SYSCALL(exit)
{
	task_exit_thread(t, IARG(0));
	return 0;
}

/* Implements Linux exit_group(2). */
SYSCALL(exit_group)
{
	task_exit_group(t, (IARG(0) & 0xff) << 8);
	return 0;
}

/* Implements Linux set_tid_address(2). */
SYSCALL(set_tid_address)
{
	t->clear_child_tid = ARG(0);
	return t->tid;
}

/* Implements Linux clone(2) (x86-64 argument order: flags, stack, ptid, ctid, tls). */
SYSCALL(clone)
{
	struct clone_args_k ca = {
		.flags = ARG(0) & ~CSIGNAL_,
		.exit_signal = (int)(ARG(0) & CSIGNAL_),
		.stack = ARG(1),
		.parent_tid = ARG(2),
		.child_tid = ARG(3),
		.tls = ARG(4),
	};

	if (ca.exit_signal > 64)
		return -EINVAL;
	return task_clone(t, &ca);
}

/* Implements Linux clone3(2). Deviations: no set_tid, no cgroup. */
SYSCALL(clone3)
{
	uint64_t k[11] = {0}; /* flags pidfd child_tid parent_tid exit_signal stack stack_size
				  tls set_tid set_tid_size cgroup */
	size_t size = ARG(1);

	if (size < 64 || size > 4096)
		return -EINVAL;
	if (copy_in_all(t, ARG(0), k, MIN(size, sizeof(k))) < 0)
		return -EFAULT;
	if (k[8] || k[9] || (k[0] & CSIGNAL_) || k[4] > 64 || (k[5] && !k[6]))
		return -EINVAL;
	struct clone_args_k ca = {
		.flags = k[0], .pidfd = k[1], .child_tid = k[2], .parent_tid = k[3],
		.exit_signal = (int)k[4], .stack = k[5], .stack_size = k[6], .tls = k[7],
	};

	return task_clone(t, &ca);
}

/* Implements Linux fork(2). */
SYSCALL(fork)
{
	struct clone_args_k ca = {.exit_signal = SIGCHLD_};

	return task_clone(t, &ca);
}

/* Implements Linux vfork(2). */
SYSCALL(vfork)
{
	struct clone_args_k ca = {.flags = CLONE_VM_ | CLONE_VFORK_, .exit_signal = SIGCHLD_};

	return task_clone(t, &ca);
}

static long do_execve(struct task *t, int dirfd, uint64_t upath, uint64_t uargv, uint64_t uenvp,
		      int flags)
{
	char *path = copy_in_path(t, upath), **argv = NULL, **envp = NULL;
	long r;

	if (IS_ERR(path))
		return PTR_ERR(path);
	if ((flags & ~(0x100 | 0x1000)) != 0) { /* AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH */
		r = -EINVAL;
		goto out;
	}
	argv = copy_in_strv(t, uargv, MAX_ARGS_BYTES);
	envp = copy_in_strv(t, uenvp, MAX_ARGS_BYTES);
	if (IS_ERR(argv) || IS_ERR(envp)) {
		r = IS_ERR(argv) ? PTR_ERR(argv) : PTR_ERR(envp);
		goto out;
	}
	if (!*path && !(flags & 0x1000)) {
		r = -ENOENT;
		goto out;
	}
	r = task_execve(t, dirfd, path, argv, envp, flags);
	if (r == 0)
		r = SYSCALL_REGS_SET;
out:
	if (!IS_ERR_OR_NULL(argv))
		free_strv(argv);
	if (!IS_ERR_OR_NULL(envp))
		free_strv(envp);
	free(path);
	return r;
}

/* Implements Linux execve(2). */
SYSCALL(execve)
{
	return do_execve(t, AT_FDCWD_LINUX, ARG(0), ARG(1), ARG(2), 0);
}

/* Implements Linux execveat(2). Deviations: AT_EMPTY_PATH on an fd needs a path. */
SYSCALL(execveat)
{
	return do_execve(t, IARG(0), ARG(1), ARG(2), ARG(3), IARG(4));
}

static int wait_args(int pid, int *idtype, int *id, struct task *t)
{
	if (pid < -1) {
		*idtype = WAIT_P_PGID;
		*id = -pid;
	} else if (pid == -1) {
		*idtype = WAIT_P_ALL;
	} else if (pid == 0) {
		*idtype = WAIT_P_PGID;
		pthread_mutex_lock(&t->k->lock);
		*id = t->tg->pgid;
		pthread_mutex_unlock(&t->k->lock);
	} else {
		*idtype = WAIT_P_PID;
		*id = pid;
	}
	return 0;
}

static void fill_rusage(struct linux_rusage *ru, const struct wait_result *res)
{
	memset(ru, 0, sizeof(*ru));
	ru->utime.tv_sec = (int64_t)(res->utime_ns / 1000000000ull);
	ru->utime.tv_usec = (int64_t)(res->utime_ns % 1000000000ull / 1000);
	ru->stime.tv_sec = (int64_t)(res->stime_ns / 1000000000ull);
	ru->stime.tv_usec = (int64_t)(res->stime_ns % 1000000000ull / 1000);
}

/* Implements Linux wait4(2). */
SYSCALL(wait4)
{
	int options = IARG(2), idtype, id = 0;
	struct wait_result res;
	struct linux_rusage ru;
	long r;

	if (options & ~(1 | 2 | 8 | 0x20000000 | 0x40000000 | (int)0x80000000))
		return -EINVAL;
	wait_args(IARG(0), &idtype, &id, t);
	r = task_wait(t, idtype, id, options | 4 /* WEXITED */, &res);
	if (r <= 0)
		return r;
	if (ARG(1) && copy_out_all(t, ARG(1), &res.status, 4) < 0)
		return -EFAULT;
	if (ARG(3)) {
		fill_rusage(&ru, &res);
		if (copy_out_all(t, ARG(3), &ru, sizeof(ru)) < 0)
			return -EFAULT;
	}
	return r;
}

/* Implements Linux waitid(2). Deviations: P_PIDFD unsupported (EINVAL). */
SYSCALL(waitid)
{
	int which = IARG(0), options = IARG(3), idtype, id = IARG(1);
	struct wait_result res;
	struct linux_siginfo info;
	long r;

	if (which == 0)
		idtype = WAIT_P_ALL;
	else if (which == 1)
		idtype = WAIT_P_PID;
	else if (which == 2)
		idtype = id == 0 ? WAIT_P_PGID : WAIT_P_PGID;
	else
		return -EINVAL;
	if (which == 2 && id == 0) {
		pthread_mutex_lock(&t->k->lock);
		id = t->tg->pgid;
		pthread_mutex_unlock(&t->k->lock);
	}
	if (!(options & (2 | 4 | 8)))
		return -EINVAL;
	r = task_wait(t, idtype, id, options, &res);
	if (r < 0)
		return r;
	memset(&info, 0, sizeof(info));
	if (r > 0) {
		info.signo = SIGCHLD_;
		info.code = res.code;
		info.u.chld.pid = res.pid;
		info.u.chld.uid = res.uid;
		info.u.chld.status = res.cld_status;
	}
	if (ARG(2) && copy_out_all(t, ARG(2), &info, sizeof(info)) < 0)
		return -EFAULT;
	if (ARG(4)) {
		struct linux_rusage ru;

		fill_rusage(&ru, &res);
		if (copy_out_all(t, ARG(4), &ru, sizeof(ru)) < 0)
			return -EFAULT;
	}
	return 0;
}

/* Implements Linux getpgid(2). */
SYSCALL(getpgid)
{
	struct thread_group *tg;
	long r;

	pthread_mutex_lock(&t->k->lock);
	tg = IARG(0) ? kernel_find_tg(t->k, IARG(0)) : t->tg;
	r = tg ? tg->pgid : -ESRCH;
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux getpgrp(2). */
SYSCALL(getpgrp)
{
	return sys_getpgid(t, &(struct syscall_args){{0}});
}

/* Implements Linux getsid(2). */
SYSCALL(getsid)
{
	struct thread_group *tg;
	long r;

	pthread_mutex_lock(&t->k->lock);
	tg = IARG(0) ? kernel_find_tg(t->k, IARG(0)) : t->tg;
	r = tg ? tg->sid : -ESRCH;
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Is there a process group pgid in session sid? (kernel->lock held) */
static bool pgrp_in_session(struct kernel *k, int pgid, int sid)
{
	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *o = k->pids[i];

		if (o && o != (struct task *)1 && o->tg->leader == o && o->tg->pgid == pgid &&
		    o->tg->sid == sid && !o->tg->zombie)
			return true;
	}
	return false;
}

/* Implements Linux setpgid(2). */
SYSCALL(setpgid)
{
	int pid = IARG(0), pgid = IARG(1);
	struct thread_group *tg;
	long r = 0;

	if (pgid < 0)
		return -EINVAL;
	pthread_mutex_lock(&t->k->lock);
	tg = pid ? kernel_find_tg(t->k, pid) : t->tg;
	if (!pgid && tg)
		pgid = tg->tgid;
	if (!tg || (tg != t->tg && tg->parent != t->tg))
		r = -ESRCH;
	else if (tg->sid != t->tg->sid)
		r = -EPERM;
	else if (tg->sid == tg->tgid)
		r = -EPERM; /* a session leader */
	else if (pgid != tg->tgid && !pgrp_in_session(t->k, pgid, t->tg->sid))
		r = -EPERM;
	else
		tg->pgid = pgid;
	pthread_mutex_unlock(&t->k->lock);
	return r;
}

/* Implements Linux setsid(2). */
SYSCALL(setsid)
{
	long r;

	pthread_mutex_lock(&t->k->lock);
	if (t->tg->pgid == t->tg->tgid || pgrp_in_session(t->k, t->tg->tgid, t->tg->sid)) {
		r = -EPERM;
	} else {
		t->tg->sid = t->tg->pgid = t->tg->tgid;
		r = t->tg->sid;
	}
	pthread_mutex_unlock(&t->k->lock);
	return r;
}
