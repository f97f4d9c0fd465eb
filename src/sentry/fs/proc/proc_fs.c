/*
 * procfs: the filesystem type, its root directory (global files and one directory per
 * process), /proc/self and /proc/thread-self, and the lookups every per-process file uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "proc_internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

struct task *proc_task_locked(struct kernel *k, const struct kfs_node *n)
{
	struct task *t = kernel_find_task(k, n->tid ? n->tid : n->pid);

	if (!t || t->tg->tgid != n->pid || t->state == TASK_DEAD)
		return NULL;
	return t;
}

struct mm *proc_task_mm(const struct kfs_node *n)
{
	struct kernel *k = proc_kernel(n);
	struct mm *mm = NULL;
	struct task *t;

	pthread_mutex_lock(&k->lock);
	t = proc_task_locked(k, n);
	if (t && proc_task_live(t) && t->mm) {
		mm = t->mm;
		mm_get(mm);
	}
	pthread_mutex_unlock(&k->lock);
	return mm;
}

/*
 * inode_ops.readlink gets no task, yet /proc/self names the reader: every task runs on its
 * own host thread, so the reader is the task whose thread this is.
 */
struct task *proc_current_locked(struct kernel *k)
{
	pthread_t self = pthread_self();

	for (size_t i = 0; i < k->pids_cap; i++) {
		struct task *t = k->pids[i];

		if (t && t != (struct task *)1 && t->state < TASK_EXITING &&
		    pthread_equal(t->thread, self))
			return t;
	}
	return NULL;
}

struct path proc_ns_root(struct kernel *k)
{
	struct path p = {k->vfs.root, k->vfs.root ? k->vfs.root->root : NULL};

	return p;
}

struct mount *proc_mount_of(struct super_block *sb)
{
	struct vfs *vfs = sb->vfs;
	struct mount *found = NULL;

	pthread_mutex_lock(&vfs->mount_lock);
	for (struct mount *m = vfs->mounts; m && !found; m = m->next)
		if (m->sb == sb && m->root->inode == sb->root)
			found = m;
	if (found)
		mount_get(found);
	pthread_mutex_unlock(&vfs->mount_lock);
	return found;
}

static int const_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	sbuf_puts(s, n->arg);
	return 0;
}

const struct kfs_ops proc_const_ops = {.show = const_show};

/* ---- self, thread-self and fixed symlinks -------------------------------------------------- */

static ssize_t put_link(char *buf, size_t len, const char *text)
{
	size_t n = strlen(text);

	n = MIN(n, len);
	memcpy(buf, text, n);
	return (ssize_t)n;
}

static ssize_t self_readlink(struct kfs_node *n, char *buf, size_t len)
{
	struct kernel *k = proc_kernel(n);
	char text[40];
	struct task *t;

	pthread_mutex_lock(&k->lock);
	t = proc_current_locked(k);
	if (t && n->arg)
		snprintf(text, sizeof(text), "%d/task/%d", t->tg->tgid, t->tid);
	else if (t)
		snprintf(text, sizeof(text), "%d", t->tg->tgid);
	pthread_mutex_unlock(&k->lock);
	return t ? put_link(buf, len, text) : -ENOENT;
}

static ssize_t const_readlink(struct kfs_node *n, char *buf, size_t len)
{
	return put_link(buf, len, n->arg);
}

static const struct kfs_ops self_ops = {.readlink = self_readlink};
static const struct kfs_ops const_link_ops = {.readlink = const_readlink};

/* ---- the root directory ------------------------------------------------------------------- */

static int parse_pid(const char *name)
{
	long v = 0;

	if (!*name || (name[0] == '0'))
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v >= CV_MAX_PID)
			return -1;
		v = v * 10 + (*name - '0');
	}
	return v < CV_MAX_PID ? (int)v : -1;
}

static struct inode *root_lookup(struct inode *dir, const char *name)
{
	struct kernel *k = KSB(dir->sb)->k;
	int id = parse_pid(name), tgid = 0;
	struct task *t;

	if (id < 0)
		return ERR_PTR(-ENOENT);
	pthread_mutex_lock(&k->lock);
	t = kernel_find_task(k, id);
	if (t && t->state != TASK_DEAD)
		tgid = t->tg->tgid;
	pthread_mutex_unlock(&k->lock);
	if (!tgid)
		return ERR_PTR(-ENOENT);
	/* /proc/<tid> of a thread is reachable but not listed, as on Linux. */
	return proc_pid_inode(dir, name, tgid, tgid == id ? 0 : id);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The live processes' pids, sorted; *n gets the count.  NULL on ENOMEM. */
static int *list_pids(struct kernel *k, size_t *n)
{
	int *pids;

	pthread_mutex_lock(&k->lock);
	pids = malloc((k->pids_n + 1) * sizeof(*pids));
	*n = 0;
	for (size_t i = 0; pids && i < k->pids_cap; i++) {
		struct task *t = k->pids[i];

		if (t && t != (struct task *)1 && t->tg->leader == t && t->state != TASK_DEAD)
			pids[(*n)++] = t->tid;
	}
	pthread_mutex_unlock(&k->lock);
	if (pids)
		qsort(pids, *n, sizeof(*pids), cmp_int);
	return pids;
}

/* Positions KFS_DYN_POS + pid. */
static int root_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	size_t n;
	int *pids = list_pids(KSB(dir->sb)->k, &n);
	char name[16];

	if (!pids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (KFS_DYN_POS + pids[i] < *pos)
			continue;
		snprintf(name, sizeof(name), "%d", pids[i]);
		if (!emit(ctx, name, kfs_child_ino(dir, name), KFS_DYN_POS + pids[i] + 1,
			  4 /* DT_DIR */))
			break;
		*pos = KFS_DYN_POS + pids[i] + 1;
	}
	free(pids);
	return 0;
}

static const struct kfs_ops root_ops = {
	.lookup = root_lookup,
	.iterate = root_iterate,
};

const struct kfs_entry proc_root_entries[] = {
	{"self", S_IFLNK_ | 0777, &self_ops, NULL},
	{"thread-self", S_IFLNK_ | 0777, &self_ops, "thread"},
	{"mounts", S_IFLNK_ | 0777, &const_link_ops, "self/mounts"},
	PROC_FILE("cpuinfo", 0444, proc_cpuinfo_ops),
	PROC_FILE("meminfo", 0444, proc_meminfo_ops),
	PROC_FILE("stat", 0444, proc_stat_global_ops),
	PROC_FILE("uptime", 0444, proc_uptime_ops),
	PROC_FILE("loadavg", 0444, proc_loadavg_ops),
	PROC_FILE("vmstat", 0444, proc_vmstat_ops),
	PROC_FILE("filesystems", 0444, proc_filesystems_ops),
	PROC_CONST("version", "Linux version " PROC_UTS_RELEASE " (cvisor@cvisor) (gcc) "
			      PROC_UTS_VERSION "\n"),
	PROC_CONST("cmdline", "BOOT_IMAGE=/vmlinuz-" PROC_UTS_RELEASE "-cvisor quiet\n"),
	PROC_CONST("devices", "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n"
			      "  5 /dev/console\n  5 /dev/ptmx\n136 pts\n\nBlock devices:\n"),
	PROC_CONST("swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"),
	PROC_DIR("sys", proc_sys_entries),
	{NULL, 0, NULL, NULL},
};

/* ---- the filesystem ---------------------------------------------------------------------- */

static struct super_block *proc_mount(struct vfs *vfs, const char *source, const char *data,
				      unsigned long flags)
{
	struct super_block *sb = kfs_sb_new(vfs, &proc_fs_type, flags, SB_VOLATILE,
					    PROC_SUPER_MAGIC, NULL, S_IFDIR_ | 0555, &root_ops,
					    proc_root_entries);

	return sb;
}

static void proc_kill_sb(struct super_block *sb)
{
	kfs_sb_free(sb);
}

const struct fs_type proc_fs_type = {
	.name = "proc",
	.mount = proc_mount,
	.kill_sb = proc_kill_sb,
};
