/* /proc/<pid> and /proc/<pid>/task/<tid>: the per-process and per-thread directories. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cvisor/err.h"
#include "proc_internal.h"

static struct inode *pid_inode(struct inode *dir, const char *name, int tgid, int tid,
			       const struct kfs_entry *entries)
{
	struct kernel *k = KSB(dir->sb)->k;
	struct inode *ino = kfs_inode_new(dir, name, S_IFDIR_ | 0555, &proc_pid_dir_ops, entries);
	struct task *t;

	if (IS_ERR(ino))
		return ino;
	KN(ino)->pid = tgid;
	KN(ino)->tid = tid;
	pthread_mutex_lock(&k->lock);
	t = kernel_find_task(k, tid ? tid : tgid);
	if (t && t->cred) {
		ino->uid = t->cred->euid;
		ino->gid = t->cred->egid;
	}
	pthread_mutex_unlock(&k->lock);
	return ino;
}

struct inode *proc_pid_inode(struct inode *dir, const char *name, int tgid, int tid)
{
	return pid_inode(dir, name, tgid, tid, proc_pid_entries);
}

static int parse_id(const char *name)
{
	long v = 0;

	if (!*name || name[0] == '0')
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v >= CV_MAX_PID)
			return -1;
		v = v * 10 + (*name - '0');
	}
	return v < CV_MAX_PID ? (int)v : -1;
}

static struct inode *task_lookup(struct inode *dir, const char *name)
{
	struct kernel *k = KSB(dir->sb)->k;
	int tid = parse_id(name), pid = KN(dir)->pid;
	struct task *t;
	bool ok;

	if (tid < 0)
		return ERR_PTR(-ENOENT);
	pthread_mutex_lock(&k->lock);
	t = kernel_find_task(k, tid);
	ok = t && t->tg->tgid == pid && t->state != TASK_DEAD;
	pthread_mutex_unlock(&k->lock);
	if (!ok)
		return ERR_PTR(-ENOENT);
	return pid_inode(dir, name, pid, tid, proc_tid_entries);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Positions KFS_DYN_POS + tid. */
static int task_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	struct kernel *k = KSB(dir->sb)->k;
	struct thread_group *tg;
	int *tids = NULL, n = 0;
	char name[16];

	pthread_mutex_lock(&k->lock);
	tg = kernel_find_tg(k, KN(dir)->pid);
	if (tg && (tids = malloc(((size_t)tg->nr_threads + 1) * sizeof(*tids)))) {
		for (struct task *t = tg->threads; t && n <= tg->nr_threads; t = t->tg_next)
			if (t->state < TASK_ZOMBIE || t == tg->leader)
				tids[n++] = t->tid;
	}
	pthread_mutex_unlock(&k->lock);
	if (!tg)
		return 0;
	if (!tids)
		return -ENOMEM;
	qsort(tids, (size_t)n, sizeof(*tids), cmp_int);
	for (int i = 0; i < n; i++) {
		if (KFS_DYN_POS + tids[i] < *pos)
			continue;
		snprintf(name, sizeof(name), "%d", tids[i]);
		if (!emit(ctx, name, kfs_child_ino(dir, name), KFS_DYN_POS + tids[i] + 1, 4))
			break;
		*pos = KFS_DYN_POS + tids[i] + 1;
	}
	free(tids);
	return 0;
}

static const struct kfs_ops task_dir_ops = {.lookup = task_lookup, .iterate = task_iterate};

const struct kfs_ops proc_pid_dir_ops = {0};

#define PROC_LINK(name, ops) {name, S_IFLNK_ | 0777, &(ops), NULL}

/* What /proc/<pid> and /proc/<pid>/task/<tid> hold; the latter has no task/. */
#define PID_ENTRIES                                                       \
	PROC_FILE("auxv", 0400, proc_auxv_ops),                           \
	PROC_CONST("cgroup", "0::/\n"),                                   \
	PROC_FILE("cmdline", 0444, proc_cmdline_ops),                     \
	PROC_FILE("comm", 0644, proc_comm_ops),                           \
	PROC_LINK("cwd", proc_cwd_ops),                                   \
	PROC_FILE("environ", 0400, proc_environ_ops),                     \
	PROC_LINK("exe", proc_exe_ops),                                   \
	{"fd", S_IFDIR_ | 0500, &proc_fd_dir_ops, NULL},                  \
	{"fdinfo", S_IFDIR_ | 0500, &proc_fdinfo_dir_ops, NULL},          \
	PROC_FILE("limits", 0444, proc_limits_ops),                       \
	PROC_CONST("loginuid", "4294967295"),                             \
	PROC_FILE("maps", 0444, proc_maps_ops),                           \
	PROC_FILE("mountinfo", 0444, proc_mountinfo_ops),                 \
	PROC_FILE("mounts", 0444, proc_mounts_ops),                       \
	PROC_CONST("oom_adj", "0\n"),                                     \
	PROC_CONST("oom_score", "0\n"),                                   \
	PROC_CONST("oom_score_adj", "0\n"),                               \
	{"personality", S_IFREG_ | 0400, &proc_const_ops, "00000000\n"},  \
	PROC_LINK("root", proc_root_link_ops),                            \
	PROC_CONST("sessionid", "4294967295"),                            \
	PROC_FILE("smaps_rollup", 0444, proc_smaps_rollup_ops),           \
	PROC_FILE("stat", 0444, proc_stat_ops),                           \
	PROC_FILE("statm", 0444, proc_statm_ops),                         \
	PROC_FILE("status", 0444, proc_status_ops)

const struct kfs_entry proc_pid_entries[] = {
	PID_ENTRIES,
	{"task", S_IFDIR_ | 0555, &task_dir_ops, NULL},
	PROC_CONST("wchan", "0"),
	{NULL, 0, NULL, NULL},
};

const struct kfs_entry proc_tid_entries[] = {
	PID_ENTRIES,
	PROC_CONST("wchan", "0"),
	{NULL, 0, NULL, NULL},
};
