/*
 * /proc/<pid>/stat, status and statm: a snapshot of the task taken under kernel->lock, and
 * of its mm under mm->lock.  Deviations: CPU times are the kernel's accounting (zero until
 * the sentry keeps it); a task is sleeping (S) while it waits in the sentry and running
 * (R) otherwise; no scheduling, context-switch or swap figures.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/sentry/tty.h"
#include "proc_internal.h"

#define RLIMIT_RSS_ 5
#define RLIMIT_SIGPENDING_ 11
#define PF_RANDOMIZE 0x00400000u
#define NGROUPS_SHOWN 64

struct snap {
	int tid, tgid, ppid, pgid, sid, tpgid, nthreads, exit_signal, exit_code, sigq, fd_size;
	uint32_t tty_nr, umask;
	char state;
	char comm[16];
	uint32_t uid[4], gid[4], groups[NGROUPS_SHOWN];
	int ngroups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool nnp, has_mm;
	linux_sigset_t pnd, shpnd, blk, ign, cgt;
	uint64_t start_ns, utime_ns, stime_ns, cutime_ns, cstime_ns, rlim_rss, rlim_sigpending;
	struct mm_usage mu;
};

static char state_of(struct task *t, struct task *reader)
{
	if (t->tg->zombie || t->state == TASK_ZOMBIE)
		return 'Z';
	if (t->state >= TASK_EXITING)
		return 'X';
	if (t->state == TASK_STOPPED)
		return 'T';
	if (t == reader)
		return 'R';
	if (__atomic_load_n(&t->sleeping, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&t->in_host_wait, __ATOMIC_RELAXED))
		return 'S';
	return 'R';
}

static const char *state_name(char c)
{
	switch (c) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'T':
		return "stopped";
	case 'Z':
		return "zombie";
	default:
		return "dead";
	}
}

static void snap_creds(struct snap *s, const struct cred *c)
{
	const uint32_t uid[4] = {c->uid, c->euid, c->suid, c->fsuid};
	const uint32_t gid[4] = {c->gid, c->egid, c->sgid, c->fsgid};

	memcpy(s->uid, uid, sizeof(uid));
	memcpy(s->gid, gid, sizeof(gid));
	s->ngroups = MIN(c->ngroups, NGROUPS_SHOWN);
	memcpy(s->groups, c->groups, (size_t)s->ngroups * sizeof(*s->groups));
	s->cap_inh = c->cap_inheritable;
	s->cap_prm = c->cap_permitted;
	s->cap_eff = c->cap_effective;
	s->cap_bnd = c->cap_bounding;
	s->cap_amb = c->cap_ambient;
	s->nnp = c->no_new_privs;
}

static void snap_signals(struct snap *s, struct task *t)
{
	s->pnd = t->pending.set;
	s->shpnd = t->tg->shared_pending.set;
	s->blk = t->sigmask;
	s->sigq = t->pending.count + t->tg->shared_pending.count;
	for (int i = 0; i < LINUX_NSIG; i++) {
		uint64_t h = t->tg->sighand ? t->tg->sighand->act[i].handler : LINUX_SIG_DFL;

		if (h == LINUX_SIG_IGN)
			s->ign |= sigset_bit(i + 1);
		else if (h != LINUX_SIG_DFL)
			s->cgt |= sigset_bit(i + 1);
	}
}

/* The files and fs of t (kernel->lock held; their own locks nest inside it). */
static void snap_files(struct snap *s, struct task *t)
{
	if (t->files) {
		pthread_mutex_lock(&t->files->lock);
		s->fd_size = MAX(t->files->cap, 64);
		pthread_mutex_unlock(&t->files->lock);
	}
	if (t->fs) {
		pthread_mutex_lock(&t->fs->lock);
		s->umask = t->fs->umask;
		pthread_mutex_unlock(&t->fs->lock);
	}
}

static int take_snap(struct kfs_node *n, struct task *reader, struct snap *s)
{
	struct kernel *k = proc_kernel(n);
	struct thread_group *tg;
	struct mm *mm = NULL;
	struct task *t;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&k->lock);
	if (!(t = proc_task_locked(k, n))) {
		pthread_mutex_unlock(&k->lock);
		return -ESRCH;
	}
	tg = t->tg;
	s->tid = t->tid;
	s->tgid = tg->tgid;
	s->ppid = tg->parent ? tg->parent->tgid : 0;
	s->pgid = tg->pgid;
	s->sid = tg->sid;
	tty_ctty_info_locked(k, tg, &s->tty_nr, &s->tpgid);
	s->nthreads = tg->nr_threads;
	s->exit_signal = tg->exit_signal;
	s->exit_code = tg->zombie ? tg->exit_code : 0;
	s->state = state_of(t, reader);
	memcpy(s->comm, t->comm, sizeof(s->comm));
	s->comm[15] = 0;
	if (t->cred)
		snap_creds(s, t->cred);
	snap_signals(s, t);
	if (proc_task_live(t))
		snap_files(s, t);
	s->start_ns = t->start_ns > k->boot_mono_ns ? t->start_ns - k->boot_mono_ns : 0;
	{
		struct cpu_times ct;

		tg_cpu_times_locked(tg, &ct);
		s->utime_ns = ct.user_ns;
		s->stime_ns = ct.sys_ns;
	}
	s->cutime_ns = tg->cutime_ns;
	s->cstime_ns = tg->cstime_ns;
	s->rlim_rss = tg->rlimits[RLIMIT_RSS_].cur;
	s->rlim_sigpending = tg->rlimits[RLIMIT_SIGPENDING_].cur;
	if (proc_task_live(t) && (mm = t->mm))
		mm_get(mm);
	pthread_mutex_unlock(&k->lock);
	if (mm) {
		mm_usage(mm, &s->mu);
		s->has_mm = true;
		mm_put(mm);
	}
	return 0;
}

static unsigned long long ticks(uint64_t ns)
{
	return ns / (1000000000ull / USER_HZ);
}

static int stat_show(struct kfs_node *n, struct task *t, struct sbuf *b)
{
	struct snap s;
	const struct mm_usage *u = &s.mu;
	int r = take_snap(n, t, &s);

	if (r < 0)
		return r;
	sbuf_printf(b, "%d (%s) %c %d %d %d %u %d %u %llu 0 0 0 %llu %llu %llu %llu 20 0 %d 0 %llu",
		    s.tid, s.comm, s.state, s.ppid, s.pgid, s.sid, s.tty_nr, s.tpgid, PF_RANDOMIZE,
		    (unsigned long long)u->faults, ticks(s.utime_ns), ticks(s.stime_ns),
		    ticks(s.cutime_ns), ticks(s.cstime_ns), s.nthreads, ticks(s.start_ns));
	sbuf_printf(b, " %llu %llu %llu %llu %llu %llu 0 0 %llu %llu %llu %llu 0 0 0 %d 0 0 0 0 0 0",
		    (unsigned long long)u->vm_size, (unsigned long long)(u->vm_rss / PAGE_SIZE),
		    (unsigned long long)s.rlim_rss, (unsigned long long)u->start_code,
		    (unsigned long long)u->end_code, (unsigned long long)u->start_stack,
		    (unsigned long long)(s.pnd & 0x7fffffff), (unsigned long long)(s.blk & 0x7fffffff),
		    (unsigned long long)(s.ign & 0x7fffffff), (unsigned long long)(s.cgt & 0x7fffffff),
		    s.exit_signal);
	sbuf_printf(b, " 0 0 %llu %llu %llu %llu %llu %d\n", (unsigned long long)u->start_brk,
		    (unsigned long long)u->arg_start, (unsigned long long)u->arg_end,
		    (unsigned long long)u->env_start, (unsigned long long)u->env_end, s.exit_code);
	return 0;
}

static void vm_line(struct sbuf *b, const char *name, uint64_t bytes)
{
	sbuf_printf(b, "%s\t%8llu kB\n", name, (unsigned long long)(bytes >> 10));
}

static void status_mm(struct sbuf *b, const struct mm_usage *u)
{
	vm_line(b, "VmPeak:", u->vm_size);
	vm_line(b, "VmSize:", u->vm_size);
	vm_line(b, "VmLck:", u->vm_lck);
	vm_line(b, "VmPin:", 0);
	vm_line(b, "VmHWM:", u->vm_rss);
	vm_line(b, "VmRSS:", u->vm_rss);
	vm_line(b, "RssAnon:", u->rss_anon);
	vm_line(b, "RssFile:", u->rss_file);
	vm_line(b, "RssShmem:", u->rss_shmem);
	vm_line(b, "VmData:", u->vm_data);
	vm_line(b, "VmStk:", u->vm_stk);
	vm_line(b, "VmExe:", u->vm_exe);
	vm_line(b, "VmLib:", u->vm_lib);
	vm_line(b, "VmPTE:", 0);
	vm_line(b, "VmSwap:", 0);
	vm_line(b, "HugetlbPages:", 0);
}

static void status_ids(struct sbuf *b, const struct snap *s)
{
	sbuf_printf(b, "Name:\t%s\nUmask:\t%04o\nState:\t%c (%s)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\n"
		       "PPid:\t%d\nTracerPid:\t0\n",
		    s->comm, s->umask, s->state, state_name(s->state), s->tgid, s->tid, s->ppid);
	sbuf_printf(b, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t%d\nGroups:\t", s->uid[0],
		    s->uid[1], s->uid[2], s->uid[3], s->gid[0], s->gid[1], s->gid[2], s->gid[3],
		    s->fd_size);
	for (int i = 0; i < s->ngroups; i++)
		sbuf_printf(b, "%s%u", i ? " " : "", s->groups[i]);
	sbuf_printf(b, "\nNStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", s->tgid, s->tid,
		    s->pgid, s->sid);
}

static void cpus_allowed(struct sbuf *b)
{
	int ncpu = kfs_ncpus();

	sbuf_puts(b, "Cpus_allowed:\t");
	for (int word = (ncpu - 1) / 32; word >= 0; word--) {
		int bits = MIN(32, ncpu - word * 32);

		sbuf_printf(b, word ? "%08x," : "%x", bits == 32 ? 0xffffffffu : (1u << bits) - 1);
	}
	if (ncpu > 1)
		sbuf_printf(b, "\nCpus_allowed_list:\t0-%d\n", ncpu - 1);
	else
		sbuf_puts(b, "\nCpus_allowed_list:\t0\n");
	sbuf_puts(b, "Mems_allowed:\t00000001\nMems_allowed_list:\t0\n");
}

static int status_show(struct kfs_node *n, struct task *t, struct sbuf *b)
{
	struct snap s;
	int r = take_snap(n, t, &s);

	if (r < 0)
		return r;
	status_ids(b, &s);
	if (s.has_mm)
		status_mm(b, &s.mu);
	sbuf_printf(b, "CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t%d\nSigQ:\t%d/%llu\n",
		    s.nthreads, s.sigq, (unsigned long long)s.rlim_sigpending);
	sbuf_printf(b, "SigPnd:\t%016llx\nShdPnd:\t%016llx\nSigBlk:\t%016llx\nSigIgn:\t%016llx\n"
		       "SigCgt:\t%016llx\n",
		    (unsigned long long)s.pnd, (unsigned long long)s.shpnd, (unsigned long long)s.blk,
		    (unsigned long long)s.ign, (unsigned long long)s.cgt);
	sbuf_printf(b, "CapInh:\t%016llx\nCapPrm:\t%016llx\nCapEff:\t%016llx\nCapBnd:\t%016llx\n"
		       "CapAmb:\t%016llx\nNoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\n",
		    (unsigned long long)s.cap_inh, (unsigned long long)s.cap_prm,
		    (unsigned long long)s.cap_eff, (unsigned long long)s.cap_bnd,
		    (unsigned long long)s.cap_amb, s.nnp);
	sbuf_puts(b, "Speculation_Store_Bypass:\tthread vulnerable\n"
		     "SpeculationIndirectBranch:\tconditional enabled\n");
	cpus_allowed(b);
	sbuf_puts(b, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
	return 0;
}

static int statm_show(struct kfs_node *n, struct task *t, struct sbuf *b)
{
	struct snap s;
	const struct mm_usage *u = &s.mu;
	int r = take_snap(n, t, &s);

	if (r < 0)
		return r;
	sbuf_printf(b, "%llu %llu %llu %llu 0 %llu 0\n",
		    (unsigned long long)(u->vm_size / PAGE_SIZE),
		    (unsigned long long)(u->vm_rss / PAGE_SIZE),
		    (unsigned long long)((u->rss_file + u->rss_shmem) / PAGE_SIZE),
		    (unsigned long long)(u->vm_exe / PAGE_SIZE),
		    (unsigned long long)((u->vm_data + u->vm_stk) / PAGE_SIZE));
	return 0;
}

const struct kfs_ops proc_stat_ops = {.show = stat_show};
const struct kfs_ops proc_status_ops = {.show = status_show};
const struct kfs_ops proc_statm_ops = {.show = statm_show};
