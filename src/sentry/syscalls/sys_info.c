/* System information, identity getters, limits, randomness and arch_prctl. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "syscalls_internal.h"

#define UTS_RELEASE "6.1.0"
#define UTS_VERSION "#1 SMP PREEMPT cvisor"
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#define CAP_SYS_RESOURCE_ 24

/* Implements Linux uname(2). */
SYSCALL(uname)
{
	struct linux_utsname u;

	memset(&u, 0, sizeof(u));
	strcpy(u.sysname, "Linux");
	strcpy(u.release, UTS_RELEASE);
	strcpy(u.version, UTS_VERSION);
	strcpy(u.machine, "x86_64");
	pthread_mutex_lock(&t->k->uts_lock);
	snprintf(u.nodename, sizeof(u.nodename), "%s", t->k->cfg.hostname);
	snprintf(u.domainname, sizeof(u.domainname), "%s", t->k->cfg.domainname[0] ?
		 t->k->cfg.domainname : "(none)");
	pthread_mutex_unlock(&t->k->uts_lock);
	return copy_out_all(t, ARG(0), &u, sizeof(u));
}

static long set_uts(struct task *t, char *dst, uint64_t src, uint64_t len)
{
	char buf[65];

	if (len > 64)
		return -EINVAL;
	if (!cred_capable(t->cred, 21 /* CAP_SYS_ADMIN */))
		return -EPERM;
	if (copy_in_all(t, src, buf, len) < 0)
		return -EFAULT;
	buf[len] = 0;
	pthread_mutex_lock(&t->k->uts_lock);
	memcpy(dst, buf, len + 1);
	pthread_mutex_unlock(&t->k->uts_lock);
	return 0;
}

/* Implements Linux sethostname(2). */
SYSCALL(sethostname)
{
	return set_uts(t, t->k->cfg.hostname, ARG(0), ARG(1));
}

/* Implements Linux setdomainname(2). */
SYSCALL(setdomainname)
{
	return set_uts(t, t->k->cfg.domainname, ARG(0), ARG(1));
}

SYSCALL(getuid) { return t->cred->uid; }
SYSCALL(geteuid) { return t->cred->euid; }
SYSCALL(getgid) { return t->cred->gid; }
SYSCALL(getegid) { return t->cred->egid; }

/* Implements Linux getresuid(2). */
SYSCALL(getresuid)
{
	const struct cred *c = t->cred;

	if (copy_out_all(t, ARG(0), &c->uid, 4) < 0 || copy_out_all(t, ARG(1), &c->euid, 4) < 0 ||
	    copy_out_all(t, ARG(2), &c->suid, 4) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux getresgid(2). */
SYSCALL(getresgid)
{
	const struct cred *c = t->cred;

	if (copy_out_all(t, ARG(0), &c->gid, 4) < 0 || copy_out_all(t, ARG(1), &c->egid, 4) < 0 ||
	    copy_out_all(t, ARG(2), &c->sgid, 4) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux getgroups(2). */
SYSCALL(getgroups)
{
	const struct cred *c = t->cred;
	int n = IARG(0);

	if (n < 0)
		return -EINVAL;
	if (n == 0)
		return c->ngroups;
	if (n < c->ngroups)
		return -EINVAL;
	if (c->ngroups && copy_out_all(t, ARG(1), c->groups, (size_t)c->ngroups * 4) < 0)
		return -EFAULT;
	return c->ngroups;
}

/* Implements Linux getrandom(2). */
SYSCALL(getrandom)
{
	uint8_t buf[4096];
	size_t len = ARG(1), done = 0;

	if (ARG(2) & ~7ull)
		return -EINVAL;
	len = MIN(len, (size_t)33554431);
	while (done < len) {
		size_t n = MIN(len - done, sizeof(buf));
		ssize_t got = getrandom(buf, n, 0);

		if (got <= 0)
			return done ? (long)done : -EAGAIN;
		if (copy_out_all(t, ARG(0) + done, buf, (size_t)got) < 0)
			return done ? (long)done : -EFAULT;
		done += (size_t)got;
	}
	return (long)done;
}

static long do_prlimit(struct task *t, int pid, unsigned res, uint64_t unew, uint64_t uold)
{
	struct linux_rlimit64 nl, old;
	struct thread_group *tg;
	long r = 0;

	if (res >= LINUX_RLIM_NLIMITS)
		return -EINVAL;
	if (unew) {
		if (copy_in_all(t, unew, &nl, sizeof(nl)) < 0)
			return -EFAULT;
		if (nl.cur > nl.max)
			return -EINVAL;
	}
	pthread_mutex_lock(&t->k->lock);
	tg = pid ? kernel_find_tg(t->k, pid) : t->tg;
	if (!tg) {
		r = -ESRCH;
		goto out;
	}
	old = tg->rlimits[res];
	if (unew) {
		if (nl.max > old.max && !cred_capable(t->cred, CAP_SYS_RESOURCE_))
			r = -EPERM;
		else if (res == 7 && nl.max > (1u << 20)) /* RLIMIT_NOFILE above nr_open */
			r = -EPERM;
		else
			tg->rlimits[res] = nl;
		if (r == 0 && res == 0) /* RLIMIT_CPU */
			timers_rlimit_cpu_locked(t->k, tg);
	}
out:
	pthread_mutex_unlock(&t->k->lock);
	if (r == 0 && unew && tg == t->tg && t->mm) {
		if (res == 9)
			t->mm->as_limit = nl.cur;
		else if (res == 3)
			t->mm->stack_limit = MIN(nl.cur, 1ull << 32);
	}
	if (r == 0 && uold && copy_out_all(t, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	return r;
}

/* Implements Linux prlimit64(2). */
SYSCALL(prlimit64)
{
	return do_prlimit(t, IARG(0), (unsigned)ARG(1), ARG(2), ARG(3));
}

/* Implements Linux getrlimit(2). */
SYSCALL(getrlimit)
{
	return do_prlimit(t, 0, (unsigned)ARG(0), 0, ARG(1));
}

/* Implements Linux setrlimit(2). */
SYSCALL(setrlimit)
{
	return do_prlimit(t, 0, (unsigned)ARG(0), ARG(1), 0);
}

/* Implements Linux arch_prctl(2). Deviations: CPUID faulting cannot be changed. */
SYSCALL(arch_prctl)
{
	uint64_t v = ARG(1);

	switch (IARG(0)) {
	case ARCH_SET_FS:
	case ARCH_SET_GS:
		if (v >= (1ull << 47))
			return -EPERM;
		if (IARG(0) == ARCH_SET_FS)
			t->cpu.regs.fs_base = v;
		else
			t->cpu.regs.gs_base = v;
		return 0;
	case ARCH_GET_FS:
		return copy_out_all(t, v, &t->cpu.regs.fs_base, 8);
	case ARCH_GET_GS:
		return copy_out_all(t, v, &t->cpu.regs.gs_base, 8);
	case ARCH_GET_CPUID:
		return 1;
	case ARCH_SET_CPUID:
		return -ENODEV;
	default:
		return -EINVAL;
	}
}

/* Implements Linux umask(2). */
SYSCALL(umask)
{
	uint32_t old;

	pthread_mutex_lock(&t->fs->lock);
	old = t->fs->umask;
	t->fs->umask = (uint32_t)ARG(0) & 0777;
	pthread_mutex_unlock(&t->fs->lock);
	return old;
}

/* Implements Linux sysinfo(2). */
SYSCALL(sysinfo)
{
	struct linux_sysinfo si;
	struct memfile *mf = &t->k->mf;
	uint64_t total = mf->limit ? mf->limit * PAGE_SIZE : 4ull << 30;

	memset(&si, 0, sizeof(si));
	si.uptime = (int64_t)((clock_mono_ns() - t->k->boot_mono_ns) / 1000000000ull);
	si.totalram = total;
	si.freeram = total > mf->in_use * PAGE_SIZE ? total - mf->in_use * PAGE_SIZE : 0;
	pthread_mutex_lock(&t->k->lock);
	si.procs = (uint16_t)MIN(t->k->pids_n, 65535u);
	pthread_mutex_unlock(&t->k->lock);
	si.mem_unit = 1;
	return copy_out_all(t, ARG(0), &si, sizeof(si));
}

/* Implements Linux sched_yield(2). */
SYSCALL(sched_yield)
{
	sched_yield();
	return 0;
}

/* Implements Linux set_robust_list(2). */
SYSCALL(set_robust_list)
{
	if (ARG(1) != 24)
		return -EINVAL;
	t->robust_list = ARG(0);
	t->robust_len = ARG(1);
	return 0;
}

/* Implements Linux get_robust_list(2). Deviations: only for the calling thread. */
SYSCALL(get_robust_list)
{
	uint64_t len = 24;

	if (IARG(0) && IARG(0) != t->tid)
		return -EPERM;
	if (copy_out_all(t, ARG(1), &t->robust_list, 8) < 0 || copy_out_all(t, ARG(2), &len, 8) < 0)
		return -EFAULT;
	return 0;
}
