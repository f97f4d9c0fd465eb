/* Task and thread-group objects: allocation, references, host threads, helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "kernel_internal.h"

struct task *task_alloc(struct kernel *k)
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cpu.fpu = aligned_alloc(64, ALIGN_UP(cpu_fpu_size(), 64));
	if (!t->cpu.fpu) {
		free(t);
		return NULL;
	}
	memset(t->cpu.fpu, 0, ALIGN_UP(cpu_fpu_size(), 64));
	t->k = k;
	t->refs = 1;
	t->state = TASK_RUNNING;
	t->start_ns = clock_mono_ns();
	return t;
}

static void sigpending_clear(struct sigpending *p)
{
	while (p->head) {
		struct sigqueue_entry *e = p->head;

		p->head = e->next;
		free(e);
	}
	p->set = 0;
	p->count = 0;
}

void task_free(struct task *t)
{
	sigpending_clear(&t->pending);
	free(t->cpu.fpu);
	free(t);
}

void task_get(struct task *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
}

void task_put(struct task *t)
{
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		task_free(t);
}

struct thread_group *thread_group_new(struct task *leader)
{
	struct thread_group *tg = calloc(1, sizeof(*tg));

	if (!tg)
		return NULL;
	tg->tgid = leader->tid;
	tg->leader = leader;
	tg->threads = leader;
	tg->nr_threads = 1;
	tg->exit_signal = 17; /* SIGCHLD */
	tg->dumpable = 1;
	tg->refs = 1;         /* held until reaped; each other thread adds one */
	tg->start_ns = leader->start_ns;
	waitqueue_init(&tg->child_wq);
	leader->tg = tg;
	return tg;
}

void thread_group_put_locked(struct thread_group *tg)
{
	if (--tg->refs)
		return;
	sigpending_clear(&tg->shared_pending);
	if (tg->sighand && --tg->sighand->refs == 0)
		free(tg->sighand);
	free(tg->exe_path);
	free(tg);
}

/* Called with kernel->lock held, which keeps t->ctx alive (see task_main). */
void task_interrupt(struct task *t)
{
	__atomic_store_n(&t->interrupted, 1, __ATOMIC_SEQ_CST);
	task_wake(t);
	struct context *c = __atomic_load_n(&t->ctx, __ATOMIC_SEQ_CST);

	if (c)
		platform_interrupt(c);
}

int task_start(struct task *t)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	task_get(t); /* the thread's reference */
	pthread_mutex_lock(&t->k->lock);
	t->k->live_threads++;
	pthread_mutex_unlock(&t->k->lock);
	r = pthread_create(&t->thread, &attr, task_main, t);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_mutex_lock(&t->k->lock);
		t->k->live_threads--;
		pthread_mutex_unlock(&t->k->lock);
		task_put(t);
		return -r;
	}
	return 0;
}

int copy_in_all(struct task *t, uint64_t src, void *dst, size_t n)
{
	return mm_copy_in(t->mm, src, dst, n) == (ssize_t)n ? 0 : -EFAULT;
}

int copy_out_all(struct task *t, uint64_t dst, const void *src, size_t n)
{
	return mm_copy_out(t->mm, dst, src, n) == (ssize_t)n ? 0 : -EFAULT;
}

uint64_t task_rlimit(struct task *t, int res)
{
	uint64_t v;

	pthread_mutex_lock(&t->k->lock);
	v = t->tg->rlimits[res].cur;
	pthread_mutex_unlock(&t->k->lock);
	return v;
}

int task_walk_ctx(struct task *t, int dirfd, struct walk_ctx *w, struct path *hold_root,
		  struct path *hold_start)
{
	memset(w, 0, sizeof(*w));
	hold_root->mnt = NULL;
	hold_root->dentry = NULL;
	hold_start->mnt = NULL;
	hold_start->dentry = NULL;
	if (dirfd == AT_FDCWD_LINUX) {
		fs_struct_snapshot(t->fs, hold_root, hold_start);
	} else {
		struct file *f = fd_get(t->files, dirfd);

		if (!f)
			return -EBADF;
		if (!f->path.dentry) {
			file_put(f);
			return -ENOTDIR;
		}
		*hold_start = f->path;
		path_get(hold_start);
		file_put(f);
		fs_struct_snapshot(t->fs, hold_root, NULL);
	}
	w->root = *hold_root;
	w->start = *hold_start;
	w->cred = t->cred;
	w->task = t;
	return 0;
}

void task_walk_ctx_put(struct path *hold_root, struct path *hold_start)
{
	if (hold_root->dentry)
		path_put(hold_root);
	if (hold_start->dentry)
		path_put(hold_start);
}
