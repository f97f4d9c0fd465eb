/*
 * /proc/<pid>/mounts and mountinfo: the sandbox's mount table as the process's root sees
 * it (mounts outside that root are not shown).  Deviations: no propagation fields, and no
 * atime options (the sentry does not track them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc_internal.h"

#define MS_RDONLY_ 1ul
#define PATH_MAX_ 4096

/* The root of n's process (new references); -ESRCH when gone. */
static int task_root(const struct kfs_node *n, struct path *root)
{
	struct kernel *k = proc_kernel(n);
	struct task *t;
	int r = -ESRCH;

	pthread_mutex_lock(&k->lock);
	t = proc_task_locked(k, n);
	if (t && proc_task_live(t) && t->fs) {
		fs_struct_snapshot(t->fs, root, NULL);
		r = 0;
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

/* Is the root of mount m at or below root? */
static bool reachable(const struct path *root, struct mount *m)
{
	struct path cur = {m, m->root};

	for (;;) {
		if (cur.mnt == root->mnt) {
			for (struct dentry *d = cur.dentry;; d = d->parent) {
				if (d == root->dentry)
					return true;
				if (d->parent == d)
					return false;
			}
		}
		if (!cur.mnt->parent)
			return false;
		cur.dentry = cur.mnt->mountpoint;
		cur.mnt = cur.mnt->parent;
	}
}

/* Appends s escaping space, tab, newline and backslash as Linux's mangle() does. */
static void put_mangled(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			sbuf_printf(b, "\\%03o", (unsigned char)*s);
		else
			sbuf_put(b, s, 1);
	}
}

static void put_mount_point(struct sbuf *b, const struct path *root, struct mount *m)
{
	char buf[PATH_MAX_];
	struct path p = {m, m->root};

	if (vfs_path_name(root, &p, buf, sizeof(buf)) < 0)
		strcpy(buf, "?");
	put_mangled(b, buf);
}

/* Per-mount options: rw/ro, nosuid, nodev, noexec. */
static void put_mnt_flags(struct sbuf *b, const struct mount *m)
{
	sbuf_puts(b, (m->flags & MNT_RDONLY) ? "ro" : "rw");
	if (m->flags & MNT_NOSUID)
		sbuf_puts(b, ",nosuid");
	if (m->flags & MNT_NODEV)
		sbuf_puts(b, ",nodev");
	if (m->flags & MNT_NOEXEC)
		sbuf_puts(b, ",noexec");
}

static void put_sb_opts(struct sbuf *b, const struct mount *m)
{
	sbuf_puts(b, (m->sb->flags & MS_RDONLY_) ? "ro" : "rw");
	if (m->data && *m->data) {
		sbuf_puts(b, ",");
		put_mangled(b, m->data);
	}
}

/*
 * The mounts, in mount order, with references (vfs_path_name takes vfs locks that may not
 * nest inside mount_lock).  Returns the count, or -ENOMEM.
 */
static int snapshot(struct vfs *vfs, struct mount ***out)
{
	struct mount **ms;
	int n = 0, i = 0;

	pthread_mutex_lock(&vfs->mount_lock);
	for (struct mount *m = vfs->mounts; m; m = m->next)
		n++;
	ms = malloc((size_t)(n + 1) * sizeof(*ms));
	for (struct mount *m = vfs->mounts; ms && m; m = m->next) {
		mount_get(m);
		ms[i++] = m;
	}
	pthread_mutex_unlock(&vfs->mount_lock);
	*out = ms;
	return ms ? i : -ENOMEM;
}

static void snapshot_put(struct mount **ms, int n)
{
	for (int i = 0; i < n; i++)
		mount_put(ms[i]);
	free(ms);
}

static const char *fs_name(const struct mount *m)
{
	return m->sb->type && m->sb->type->name ? m->sb->type->name : "none";
}

static int mounts_show(struct kfs_node *n, struct task *t, struct sbuf *b)
{
	struct mount **ms;
	struct path root;
	int r = task_root(n, &root), cnt;

	if (r < 0)
		return r;
	if ((cnt = snapshot(&proc_kernel(n)->vfs, &ms)) < 0) {
		path_put(&root);
		return cnt;
	}
	for (int i = 0; i < cnt; i++) {
		struct mount *m = ms[i];

		if (!reachable(&root, m))
			continue;
		put_mangled(b, m->source ? m->source : "none");
		sbuf_puts(b, " ");
		put_mount_point(b, &root, m);
		sbuf_printf(b, " %s ", fs_name(m));
		put_mnt_flags(b, m);
		if (m->data && *m->data) {
			sbuf_puts(b, ",");
			put_mangled(b, m->data);
		}
		sbuf_puts(b, " 0 0\n");
	}
	snapshot_put(ms, cnt);
	path_put(&root);
	return 0;
}

/* The path of m's root within its own filesystem. */
static void put_fs_root(struct sbuf *b, const struct mount *m)
{
	const char *names[64];
	int depth = 0;

	for (struct dentry *d = m->root; d->parent != d && depth < 64; d = d->parent)
		names[depth++] = d->name;
	if (!depth)
		sbuf_puts(b, "/");
	while (depth-- > 0) {
		sbuf_puts(b, "/");
		put_mangled(b, names[depth]);
	}
}

static int mountinfo_show(struct kfs_node *n, struct task *t, struct sbuf *b)
{
	struct linux_statx st;
	struct mount **ms;
	struct path root;
	int r = task_root(n, &root), cnt;

	if (r < 0)
		return r;
	if ((cnt = snapshot(&proc_kernel(n)->vfs, &ms)) < 0) {
		path_put(&root);
		return cnt;
	}
	for (int i = 0; i < cnt; i++) {
		struct mount *m = ms[i];

		if (!reachable(&root, m))
			continue;
		if (vfs_getattr(m->root->inode, &st) < 0)
			memset(&st, 0, sizeof(st));
		sbuf_printf(b, "%d %d %u:%u ", m->id, m->parent ? m->parent->id : 1,
			    st.stx_dev_major, st.stx_dev_minor);
		put_fs_root(b, m);
		sbuf_puts(b, " ");
		put_mount_point(b, &root, m);
		sbuf_puts(b, " ");
		put_mnt_flags(b, m);
		sbuf_printf(b, " - %s ", fs_name(m));
		put_mangled(b, m->source ? m->source : "none");
		sbuf_puts(b, " ");
		put_sb_opts(b, m);
		sbuf_puts(b, "\n");
	}
	snapshot_put(ms, cnt);
	path_put(&root);
	return 0;
}

const struct kfs_ops proc_mounts_ops = {.show = mounts_show};
const struct kfs_ops proc_mountinfo_ops = {.show = mountinfo_show};
