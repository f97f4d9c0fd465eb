/*
 * Private to src/sentry/fs/proc: procfs, emulated from the sentry's own state.  Nodes are
 * kernfs nodes (../kernfs/kernfs.h); per-process ones carry the pid (tgid) and, under
 * task/ or /proc/<tid>, the tid they show.  The superblock is volatile: every lookup asks
 * again, so vanished processes vanish from the tree.
 */
#ifndef CV_SENTRY_FS_PROC_INTERNAL_H
#define CV_SENTRY_FS_PROC_INTERNAL_H

#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/task.h"
#include "../kernfs/kernfs.h"

#define PROC_SUPER_MAGIC 0x9fa0
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000

/* What uname(2) reports (src/sentry/syscalls/sys_info.c): keep them equal. */
#define PROC_UTS_RELEASE "6.1.0"
#define PROC_UTS_VERSION "#1 SMP PREEMPT cvisor"
#define USER_HZ 100

/* Table entries. */
#define PROC_DIR(name, tab) {name, S_IFDIR_ | 0555, &kfs_dir_ops, tab}
#define PROC_FILE(name, mode, ops) {name, S_IFREG_ | (mode), &(ops), NULL}
#define PROC_CONST(name, text) {name, S_IFREG_ | 0444, &proc_const_ops, text}

static inline struct kernel *proc_kernel(const struct kfs_node *n)
{
	return KSB(n->inode->sb)->k;
}

/* A file whose content is the entry's arg string. */
extern const struct kfs_ops proc_const_ops;

/* proc_fs.c */
/* The task n shows (its tid, else its process's leader), or NULL.  kernel->lock held. */
struct task *proc_task_locked(struct kernel *k, const struct kfs_node *n);
/*
 * Whether t's mm, fs and fd table may be used (kernel->lock held): task_finish marks a task
 * exiting under the lock before it drops them, and exec swaps them in before it takes the
 * lock, so a reader holding the lock that takes its own references is safe.
 */
static inline bool proc_task_live(const struct task *t)
{
	return t->state < TASK_EXITING;
}

/* The mm of n's task with a user reference (mm_put when done), or NULL. */
struct mm *proc_task_mm(const struct kfs_node *n);
/* The calling host thread's task (readlink has none), or NULL.  kernel->lock held. */
struct task *proc_current_locked(struct kernel *k);
/* The namespace root, for naming paths. */
struct path proc_ns_root(struct kernel *k);
/* A mount of the procfs superblock sb (new reference), or NULL. */
struct mount *proc_mount_of(struct super_block *sb);

/* proc_global.c, proc_cpuinfo.c, proc_sys.c */
extern const struct kfs_ops proc_meminfo_ops, proc_stat_global_ops, proc_uptime_ops,
	proc_loadavg_ops, proc_filesystems_ops, proc_cpuinfo_ops, proc_vmstat_ops;
extern const struct kfs_entry proc_root_entries[];
extern const struct kfs_entry proc_sys_entries[];
int proc_cpuinfo_show(struct kfs_node *n, struct task *t, struct sbuf *s);

/* proc_pid.c: /proc/<pid> and /proc/<pid>/task/<tid> */
extern const struct kfs_ops proc_pid_dir_ops;
extern const struct kfs_entry proc_pid_entries[];
extern const struct kfs_entry proc_tid_entries[];
/* A /proc/<pid> directory inode under dir for tgid (tid 0) or a thread. */
struct inode *proc_pid_inode(struct inode *dir, const char *name, int tgid, int tid);

/* proc_stat.c */
extern const struct kfs_ops proc_stat_ops, proc_status_ops, proc_statm_ops;

/* proc_pidfiles.c */
extern const struct kfs_ops proc_cmdline_ops, proc_environ_ops, proc_auxv_ops, proc_comm_ops,
	proc_limits_ops, proc_maps_ops, proc_smaps_rollup_ops;

/* proc_mounts.c */
extern const struct kfs_ops proc_mounts_ops, proc_mountinfo_ops;

/* proc_fd.c */
extern const struct kfs_ops proc_fd_dir_ops, proc_fdinfo_dir_ops, proc_exe_ops, proc_cwd_ops,
	proc_root_link_ops;

#endif
