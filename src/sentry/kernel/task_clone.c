/* clone(2), fork(2), vfork(2) and clone3(2): new tasks sharing or copying their parent's state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "kernel_internal.h"

#define CLONE_VM_ 0x100ull
#define CLONE_FS_ 0x200ull
#define CLONE_FILES_ 0x400ull
#define CLONE_SIGHAND_ 0x800ull
#define CLONE_PIDFD_ 0x1000ull
#define CLONE_PTRACE_ 0x2000ull
#define CLONE_VFORK_ 0x4000ull
#define CLONE_PARENT_ 0x8000ull
#define CLONE_THREAD_ 0x10000ull
#define CLONE_NEWNS_ 0x20000ull
#define CLONE_SYSVSEM_ 0x40000ull
#define CLONE_SETTLS_ 0x80000ull
#define CLONE_PARENT_SETTID_ 0x100000ull
#define CLONE_CHILD_CLEARTID_ 0x200000ull
#define CLONE_DETACHED_ 0x400000ull
#define CLONE_UNTRACED_ 0x800000ull
#define CLONE_CHILD_SETTID_ 0x1000000ull
#define CLONE_NEWNS_ALL 0x7e020000ull /* NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET */
#define CLONE_IO_ 0x80000000ull

static int check_flags(uint64_t f)
{
	if ((f & CLONE_THREAD_) && !(f & CLONE_SIGHAND_))
		return -EINVAL;
	if ((f & CLONE_SIGHAND_) && !(f & CLONE_VM_))
		return -EINVAL;
	if ((f & CLONE_FS_) && (f & CLONE_NEWNS_))
		return -EINVAL;
	if (f & (CLONE_NEWNS_ALL | CLONE_PIDFD_))
		return -EPERM; /* namespaces and pidfds inside the sandbox: not supported */
	return 0;
}

/* Copies registers and FPU state into the child, as the child sees them on return. */
static int copy_cpu(struct task *t, struct task *c, const struct clone_args_k *ca)
{
	int r = platform_pull_full_state(t->ctx, t->mm->as, &t->cpu);

	if (r < 0)
		return r;
	c->cpu.regs = t->cpu.regs;
	memcpy(c->cpu.fpu, t->cpu.fpu, cpu_fpu_size());
	c->cpu.fpu_valid = true;
	c->cpu.fpu_dirty = true;
	c->cpu.regs.rax = 0;
	if (ca->stack)
		c->cpu.regs.rsp = ca->stack + ca->stack_size;
	if (ca->flags & CLONE_SETTLS_)
		c->cpu.regs.fs_base = ca->tls;
	return 0;
}

static int share_or_copy(struct task *t, struct task *c, uint64_t f)
{
	if (f & CLONE_VM_) {
		mm_get(t->mm);
		c->mm = t->mm;
	} else {
		c->mm = mm_fork(t->mm);
		if (IS_ERR(c->mm)) {
			int r = (int)PTR_ERR(c->mm);

			c->mm = NULL;
			return r;
		}
	}
	if (f & CLONE_FS_) {
		__atomic_add_fetch(&t->fs->refs, 1, __ATOMIC_RELAXED);
		c->fs = t->fs;
	} else if (!(c->fs = fs_struct_copy(t->fs))) {
		return -ENOMEM;
	}
	if (f & CLONE_FILES_) {
		fd_table_get(t->files);
		c->files = t->files;
	} else if (!(c->files = fd_table_copy(t->files))) {
		return -ENOMEM;
	}
	return 0;
}

static void undo_share(struct task *c)
{
	if (c->mm)
		mm_put(c->mm);
	if (c->fs)
		fs_struct_put(c->fs);
	if (c->files)
		fd_table_put(c->files);
}

/* A new process for c: its own thread group under the right parent (kernel->lock held). */
static int new_process_locked(struct task *t, struct task *c, const struct clone_args_k *ca)
{
	struct thread_group *tg = thread_group_new(c), *parent;

	if (!tg)
		return -ENOMEM;
	parent = (ca->flags & CLONE_PARENT_) && t->tg->parent ? t->tg->parent : t->tg;
	if (ca->flags & CLONE_SIGHAND_) {
		tg->sighand = t->tg->sighand;
		tg->sighand->refs++;
	} else {
		tg->sighand = malloc(sizeof(*tg->sighand));
		if (!tg->sighand) {
			free(tg);
			return -ENOMEM;
		}
		*tg->sighand = *t->tg->sighand;
		tg->sighand->refs = 1;
	}
	tg->parent = parent;
	tg->sibling = parent->children;
	parent->children = tg;
	tg->pgid = t->tg->pgid;
	tg->sid = t->tg->sid;
	tg->exit_signal = ca->exit_signal;
	memcpy(tg->rlimits, t->tg->rlimits, sizeof(tg->rlimits));
	timers_rlimit_cpu_locked(t->k, tg);
	tg->exe_path = t->tg->exe_path ? strdup(t->tg->exe_path) : NULL;
	return 0;
}

static int attach_locked(struct task *t, struct task *c, const struct clone_args_k *ca)
{
	struct kernel *k = t->k;
	int tid, r;

	/* linux.resources.pids.limit, as the pids cgroup counts: every task and zombie */
	if (k->cfg.pids_limit && k->pids_n >= k->cfg.pids_limit)
		return -EAGAIN;
	if ((tid = pid_alloc(k)) < 0)
		return tid;
	if (k->shutdown || t->tg->exiting || t->killed)
		return -EINTR;
	c->tid = tid;
	if (ca->flags & CLONE_THREAD_) {
		c->tg = t->tg;
		c->tg_next = t->tg->threads;
		t->tg->threads = c;
		t->tg->nr_threads++;
		t->tg->refs++;
	} else if ((r = new_process_locked(t, c, ca)) < 0) {
		return r;
	}
	if ((r = pid_insert(k, c)) < 0)
		return r; /* leaves an unreachable group: only under ENOMEM */
	c->sigmask = t->sigmask;
	c->cred = t->cred;
	cred_get(c->cred);
	memcpy(c->comm, t->comm, sizeof(c->comm));
	c->pdeath_signal = 0;
	return 0;
}

/* vfork: the parent sleeps until the child execs or exits. */
static void wait_vfork(struct task *t, struct task *c)
{
	for (;;) {
		uint32_t seq = task_wake_seq(t);
		bool done;

		pthread_mutex_lock(&t->k->lock);
		done = c->vfork_done;
		pthread_mutex_unlock(&t->k->lock);
		if (done || task_block_killable(t, seq, 0) == -EINTR)
			return;
	}
}

long task_clone(struct task *t, const struct clone_args_k *ca)
{
	uint64_t f = ca->flags;
	struct task *c;
	int r, tid;

	if ((r = check_flags(f)) < 0)
		return r;
	c = task_alloc(t->k);
	if (!c)
		return -EAGAIN;
	if ((r = copy_cpu(t, c, ca)) < 0 || (r = share_or_copy(t, c, f)) < 0)
		goto err;
	if (!(f & CLONE_VM_) || (f & CLONE_VFORK_))
		c->altstack = t->altstack;
	else
		c->altstack = (struct linux_stack){.ss_flags = LINUX_SS_DISABLE};
	pthread_mutex_lock(&t->k->lock);
	r = attach_locked(t, c, ca);
	pthread_mutex_unlock(&t->k->lock);
	if (r < 0)
		goto err;
	tid = c->tid;
	if (f & CLONE_PARENT_SETTID_)
		copy_out_all(t, ca->parent_tid, &tid, 4);
	if (f & CLONE_CHILD_SETTID_)
		mm_copy_out(c->mm, ca->child_tid, &tid, 4);
	if (f & CLONE_CHILD_CLEARTID_)
		c->clear_child_tid = ca->child_tid;
	if (f & CLONE_VFORK_)
		c->vfork_parent = t;
	task_get(c); /* keep c alive for wait_vfork */
	if ((r = task_start(c)) < 0) {
		log_err("clone: cannot start a host thread: %s", strerror(-r));
		__atomic_store_n(&c->killed, true, __ATOMIC_SEQ_CST);
		task_finish(c); /* it never ran: exit it from here */
		task_put(c);
		return -EAGAIN;
	}
	if (f & CLONE_VFORK_)
		wait_vfork(t, c);
	task_put(c);
	return tid;
err:
	undo_share(c);
	task_free(c);
	return r;
}
