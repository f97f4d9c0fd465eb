/*
 * devpts: /dev/pts with its ptmx node and one node per pty whose master is open.  Every
 * mount is a new instance (as with `newinstance`), with its own numbering.  Options: mode=
 * (of pty nodes, default 0600), ptmxmode= (default 0000), uid=, gid= (owner of pty nodes,
 * default the opener of ptmx), max= (number of ptys).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "../kernfs/kernfs.h"
#include "dev_internal.h"

#define DEVPTS_SUPER_MAGIC 0x1cd1
#define S_IFCHR_ 0020000
#define S_IFDIR_ 0040000

struct devpts {
	struct super_block *sb; /* no reference: a devpts lives as long as its superblock */
	pthread_mutex_t lock;
	struct tty **ttys;      /* by index; entries with an open master */
	int cap, max;
	uint32_t mode, ptmxmode, uid, gid;
	bool uid_set, gid_set;
};

struct devpts *devpts_of_sb(struct super_block *sb)
{
	return sb->type == &devpts_fs_type ? KSB(sb)->fs_priv : NULL;
}

void devpts_get(struct devpts *pts)
{
	sb_get(pts->sb);
}

void devpts_put(struct devpts *pts)
{
	sb_put(pts->sb);
}

/* ---- the pty table ------------------------------------------------------------------------ */

int devpts_alloc(struct devpts *pts, uint32_t uid, uint32_t gid, struct tty **out)
{
	struct kernel *k = KSB(pts->sb)->k;
	int idx;

	pthread_mutex_lock(&pts->lock);
	for (idx = 0; idx < pts->cap && pts->ttys[idx]; idx++)
		;
	if (idx == pts->cap) {
		int cap = pts->cap ? pts->cap * 2 : 16;
		struct tty **n = idx < pts->max ? realloc(pts->ttys, (size_t)cap * sizeof(*n)) : NULL;

		if (!n) {
			pthread_mutex_unlock(&pts->lock);
			return idx < pts->max ? -ENOMEM : -ENOSPC;
		}
		memset(n + pts->cap, 0, (size_t)(cap - pts->cap) * sizeof(*n));
		pts->ttys = n;
		pts->cap = cap;
	}
	*out = tty_new(k, pts, idx, pts->uid_set ? pts->uid : uid, pts->gid_set ? pts->gid : gid,
		       pts->mode);
	if (*out)
		pts->ttys[idx] = *out;
	pthread_mutex_unlock(&pts->lock);
	return *out ? 0 : -ENOMEM;
}

struct tty *devpts_get_tty(struct devpts *pts, int index)
{
	struct tty *tty = NULL;

	pthread_mutex_lock(&pts->lock);
	if (index >= 0 && index < pts->cap && (tty = pts->ttys[index]))
		tty_get(tty);
	pthread_mutex_unlock(&pts->lock);
	return tty;
}

void devpts_remove(struct devpts *pts, struct tty *tty)
{
	pthread_mutex_lock(&pts->lock);
	if (tty->index < pts->cap && pts->ttys[tty->index] == tty)
		pts->ttys[tty->index] = NULL;
	pthread_mutex_unlock(&pts->lock);
}

struct devpts *devpts_for_ptmx(const struct path *p)
{
	struct super_block *sb = p->dentry->inode->sb;
	struct devpts *pts = devpts_of_sb(sb);
	struct path at = *p;
	struct dentry *d;
	struct mount *m;

	if (pts) {
		devpts_get(pts);
		return pts;
	}
	/* Linux looks for the devpts mounted on "pts" next to the ptmx node. */
	while (at.dentry == at.mnt->root && at.mnt->parent) {
		at.dentry = at.mnt->mountpoint;
		at.mnt = at.mnt->parent;
	}
	d = vfs_lookup_child(at.dentry->parent, "pts");
	if (IS_ERR(d))
		return NULL;
	m = d->inode ? vfs_mount_lookup(sb->vfs, at.mnt, d) : NULL;
	if (m && (pts = devpts_of_sb(m->sb)))
		devpts_get(pts);
	if (m)
		mount_put(m);
	dentry_put(d);
	return pts;
}

int devpts_root_path(struct devpts *pts, struct path *out)
{
	struct vfs *vfs = pts->sb->vfs;
	int r = -ENODEV;

	pthread_mutex_lock(&vfs->mount_lock);
	for (struct mount *m = vfs->mounts; m; m = m->next) {
		if (m->sb == pts->sb && m->root->inode == pts->sb->root) {
			out->mnt = m;
			out->dentry = m->root;
			path_get(out);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&vfs->mount_lock);
	return r;
}

/* ---- nodes ---------------------------------------------------------------------------------- */

static int ptmx_node_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	if (f->path.mnt && (f->path.mnt->flags & MNT_NODEV))
		return -EACCES;
	return ptmx_open(devpts_of_sb(ino->sb), ino, f, flags, t);
}

static int pts_node_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct tty *tty = devpts_get_tty(devpts_of_sb(ino->sb), KN(ino)->fd);
	int r;

	if (f->path.mnt && (f->path.mnt->flags & MNT_NODEV))
		return -EACCES;
	if (!tty)
		return -EIO;
	r = pty_slave_file_open(tty, f, flags, t);
	tty_put(tty);
	return r;
}

/* chmod/chown of /dev/pts/N (grantpt) lasts as long as the pty. */
static int pts_node_setattr(struct kfs_node *n, const struct vfs_attr *a)
{
	struct tty *tty = devpts_get_tty(devpts_of_sb(n->inode->sb), n->fd);

	if (!tty)
		return -ENOENT;
	pthread_mutex_lock(&tty->lock);
	if (a->valid & ATTR_MODE)
		tty->mode = a->mode & 07777;
	if (a->valid & ATTR_UID)
		tty->uid = a->uid;
	if (a->valid & ATTR_GID)
		tty->gid = a->gid;
	n->inode->mode = S_IFCHR_ | tty->mode;
	n->inode->uid = tty->uid;
	n->inode->gid = tty->gid;
	pthread_mutex_unlock(&tty->lock);
	tty_put(tty);
	return 0;
}

static const struct kfs_ops ptmx_node_ops = {.open = ptmx_node_open};
static const struct kfs_ops pts_node_ops = {.open = pts_node_open, .setattr = pts_node_setattr};

/* A pty index as a name: decimal without leading zeros. */
static int parse_index(const char *name)
{
	long v = 0;

	if (!*name || (name[0] == '0' && name[1]))
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v > PTS_MAX)
			return -1;
		v = v * 10 + (*name - '0');
	}
	return v < PTS_MAX ? (int)v : -1;
}

static struct inode *devpts_lookup(struct inode *dir, const char *name)
{
	struct devpts *pts = devpts_of_sb(dir->sb);
	struct inode *ino;
	struct tty *tty;
	int idx;

	if (!strcmp(name, "ptmx")) {
		ino = kfs_inode_new(dir, name, S_IFCHR_ | pts->ptmxmode, &ptmx_node_ops, NULL);
		if (!IS_ERR(ino)) {
			ino->rdev = dev_mkdev(TTY_MAJOR, 2);
			ino->uid = ino->gid = 0;
		}
		return ino;
	}
	idx = parse_index(name);
	if (idx < 0 || !(tty = devpts_get_tty(pts, idx)))
		return ERR_PTR(-ENOENT);
	pthread_mutex_lock(&tty->lock);
	ino = kfs_inode_new(dir, name, S_IFCHR_ | tty->mode, &pts_node_ops, NULL);
	if (!IS_ERR(ino)) {
		KN(ino)->fd = idx;
		ino->rdev = dev_mkdev(PTS_MAJOR, (uint32_t)idx);
		ino->uid = tty->uid;
		ino->gid = tty->gid;
	}
	pthread_mutex_unlock(&tty->lock);
	tty_put(tty);
	return ino;
}

/* Positions: KFS_DYN_POS is ptmx, KFS_DYN_POS + 1 + i is pty i. */
static int devpts_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	struct devpts *pts = devpts_of_sb(dir->sb);
	char name[16];

	if (*pos == KFS_DYN_POS) {
		if (!emit(ctx, "ptmx", kfs_child_ino(dir, "ptmx"), *pos + 1, 2 /* DT_CHR */))
			return 0;
		*pos += 1;
	}
	pthread_mutex_lock(&pts->lock);
	for (int64_t i = *pos - KFS_DYN_POS - 1; i >= 0 && i < pts->cap; i++, *pos += 1) {
		if (!pts->ttys[i])
			continue;
		snprintf(name, sizeof(name), "%d", (int)i);
		if (!emit(ctx, name, kfs_child_ino(dir, name), *pos + 1, 2 /* DT_CHR */))
			break;
	}
	pthread_mutex_unlock(&pts->lock);
	return 0;
}

static const struct kfs_ops devpts_root_ops = {
	.lookup = devpts_lookup,
	.iterate = devpts_iterate,
};

/* ---- the filesystem ---------------------------------------------------------------------- */

static int parse_opts(struct devpts *pts, const char *data)
{
	char buf[256], *save = NULL;

	if (!data)
		return 0;
	if (strlen(data) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, data);
	for (char *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *v = strchr(o, '='), *end;
		unsigned long n;

		if (!v)
			continue; /* newinstance and flags: nothing to do */
		*v++ = 0;
		n = strtoul(v, &end, !strcmp(o, "mode") || !strcmp(o, "ptmxmode") ? 8 : 10);
		if (*end || !*v)
			return -EINVAL;
		if (!strcmp(o, "mode")) {
			pts->mode = n & 07777;
		} else if (!strcmp(o, "ptmxmode")) {
			pts->ptmxmode = n & 07777;
		} else if (!strcmp(o, "uid")) {
			pts->uid = (uint32_t)n;
			pts->uid_set = true;
		} else if (!strcmp(o, "gid")) {
			pts->gid = (uint32_t)n;
			pts->gid_set = true;
		} else if (!strcmp(o, "max")) {
			pts->max = (int)MIN(n, (unsigned long)PTS_MAX);
		}
	}
	return 0;
}

static struct super_block *devpts_mount(struct vfs *vfs, const char *source, const char *data,
					unsigned long flags)
{
	struct devpts *pts = calloc(1, sizeof(*pts));
	struct super_block *sb;
	int r;

	if (!pts)
		return ERR_PTR(-ENOMEM);
	pthread_mutex_init(&pts->lock, NULL);
	pts->mode = 0600;
	pts->max = PTS_MAX;
	if ((r = parse_opts(pts, data)) < 0) {
		free(pts);
		return ERR_PTR(r);
	}
	sb = kfs_sb_new(vfs, &devpts_fs_type, flags, SB_VOLATILE, DEVPTS_SUPER_MAGIC, pts,
			S_IFDIR_ | 0755, &devpts_root_ops, NULL);
	if (IS_ERR(sb)) {
		free(pts);
		return sb;
	}
	pts->sb = sb;
	return sb;
}

static void devpts_kill_sb(struct super_block *sb)
{
	struct devpts *pts = sb->priv ? KSB(sb)->fs_priv : NULL;

	if (pts) {
		free(pts->ttys);
		pthread_mutex_destroy(&pts->lock);
		free(pts);
	}
	kfs_sb_free(sb);
}

const struct fs_type devpts_fs_type = {
	.name = "devpts",
	.mount = devpts_mount,
	.kill_sb = devpts_kill_sb,
};
