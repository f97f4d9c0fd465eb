/*
 * Attribute changes (chmod, chown, utimes, truncate) and file-level operations (ftruncate,
 * fallocate, fsync), with Linux's permission rules: the owner or CAP_FOWNER changes modes
 * and explicit times, CAP_CHOWN gives files away, CAP_FSETID keeps set-id bits.  Also
 * syncfs and sync of whole filesystems.
 */
#include <errno.h>
#include <stdlib.h>

#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000
#define S_ISUID_ 04000
#define S_ISGID_ 02000
#define S_IXGRP_ 00010
#define CAP_CHOWN_ 0
#define CAP_FSETID_ 4
#define O_ACCMODE_ 3
#define O_WRONLY_ 1
#define O_RDWR_ 2
#define O_PATH_ 010000000
#define FALLOC_FL_KEEP_SIZE_ 0x01
#define FALLOC_FL_PUNCH_HOLE_ 0x02
#define FALLOC_FL_SUPPORTED 0x7f

static uint32_t ftype(const struct inode *ino)
{
	return ino->mode & S_IFMT_;
}

static bool writable(const struct file *f)
{
	unsigned acc = f->flags & O_ACCMODE_;

	return (acc == O_WRONLY_ || acc == O_RDWR_) && !(f->flags & O_PATH_);
}

int vfs_setattr(struct inode *ino, const struct vfs_attr *a)
{
	if (!ino->ops || !ino->ops->setattr)
		return -EPERM;
	return ino->ops->setattr(ino, a);
}

static int check_rofs(const struct path *p)
{
	return p->mnt && (p->mnt->flags & MNT_RDONLY) ? -EROFS : 0;
}

/* Applies a through p (checks done) and tells watchers. */
static int change(const struct path *p, struct inode *ino, const struct vfs_attr *a)
{
	int r = vfs_setattr(ino, a);

	if (r == 0)
		fsnotify_change(p->dentry, ino, a->valid);
	return r;
}

int vfs_chmod(const struct path *p, struct inode *ino, const struct cred *c, uint32_t mode)
{
	struct vfs_attr a = {.valid = ATTR_MODE, .mode = mode & 07777};
	int r;

	if ((r = check_rofs(p)) < 0)
		return r;
	if (ftype(ino) == S_IFLNK_)
		return -EOPNOTSUPP;
	if (!vfs_owner_or_capable(c, ino))
		return -EPERM;
	if (c && !cred_in_group(c, ino->gid) && !cred_capable(c, CAP_FSETID_))
		a.mode &= ~(uint32_t)S_ISGID_;
	return change(p, ino, &a);
}

int vfs_chown(const struct path *p, struct inode *ino, const struct cred *c, uint32_t uid,
	      uint32_t gid)
{
	struct vfs_attr a = {0};
	bool new_uid = uid != (uint32_t)-1 && uid != ino->uid;
	bool new_gid = gid != (uint32_t)-1 && gid != ino->gid;
	int r;

	if ((r = check_rofs(p)) < 0)
		return r;
	if (c && !cred_capable(c, CAP_CHOWN_)) {
		if (new_uid)
			return -EPERM;
		if (new_gid && (c->fsuid != ino->uid || !cred_in_group(c, gid)))
			return -EPERM;
	}
	if (uid != (uint32_t)-1) {
		a.valid |= ATTR_UID;
		a.uid = uid;
	}
	if (gid != (uint32_t)-1) {
		a.valid |= ATTR_GID;
		a.gid = gid;
	}
	/* Giving a file away drops its set-id bits (set-group-id only when group-executable). */
	if (a.valid && ftype(ino) != S_IFDIR_ && ftype(ino) != S_IFLNK_ &&
	    (ino->mode & (S_ISUID_ | S_ISGID_))) {
		a.valid |= ATTR_MODE;
		a.mode = ino->mode & 07777 & ~(uint32_t)S_ISUID_;
		if (ino->mode & S_IXGRP_)
			a.mode &= ~(uint32_t)S_ISGID_;
	}
	return a.valid ? change(p, ino, &a) : 0;
}

int vfs_utimes(const struct path *p, struct inode *ino, const struct cred *c,
	       const struct vfs_attr *times)
{
	struct vfs_attr a = {.valid = ATTR_ATIME_NOW | ATTR_MTIME_NOW};
	int r;

	if (times)
		a = *times;
	if (!(a.valid & (ATTR_ATIME | ATTR_MTIME | ATTR_ATIME_NOW | ATTR_MTIME_NOW)))
		return 0; /* both UTIME_OMIT */
	if ((r = check_rofs(p)) < 0)
		return r;
	if (!vfs_owner_or_capable(c, ino)) {
		/* Explicit times need ownership; "now" is enough with write access. */
		if (a.valid & (ATTR_ATIME | ATTR_MTIME))
			return -EPERM;
		if ((r = vfs_permission(c, ino, MAY_WRITE)) < 0)
			return r;
	}
	return change(p, ino, &a);
}

int vfs_truncate(const struct path *p, struct inode *ino, const struct cred *c, int64_t size)
{
	struct vfs_attr a = {.valid = ATTR_SIZE, .size = (uint64_t)size};
	int r;

	if (size < 0)
		return -EINVAL;
	if (ftype(ino) == S_IFDIR_)
		return -EISDIR;
	if (ftype(ino) != S_IFREG_)
		return -EINVAL;
	if ((r = check_rofs(p)) < 0 || (r = vfs_permission(c, ino, MAY_WRITE)) < 0)
		return r;
	return change(p, ino, &a);
}

int vfs_ftruncate(struct file *f, int64_t size)
{
	struct vfs_attr a = {.valid = ATTR_SIZE, .size = (uint64_t)size};
	int r;

	if (size < 0 || !f->inode || ftype(f->inode) != S_IFREG_ || !writable(f))
		return -EINVAL;
	if (f->ops && f->ops->truncate)
		r = f->ops->truncate(f, (uint64_t)size);
	else
		r = vfs_setattr(f->inode, &a);
	if (r == 0)
		fsnotify_change(f->path.dentry, f->inode, ATTR_SIZE);
	return r;
}

int vfs_fallocate(struct file *f, int mode, int64_t off, int64_t len)
{
	uint32_t type = f->inode ? ftype(f->inode) : 0;
	int r;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~FALLOC_FL_SUPPORTED)
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE_) && !(mode & FALLOC_FL_KEEP_SIZE_))
		return -EOPNOTSUPP;
	if (!writable(f))
		return -EBADF;
	if (type == S_IFDIR_)
		return -EISDIR;
	if (type == 0010000 /* S_IFIFO */ || (!f->inode && f->ops))
		return -ESPIPE;
	if (type != S_IFREG_)
		return -ENODEV;
	if (off > INT64_MAX - len)
		return -EFBIG;
	if (!f->ops || !f->ops->fallocate)
		return -EOPNOTSUPP;
	if ((r = f->ops->fallocate(f, mode, off, len)) == 0)
		fsnotify_modify(f);
	return r;
}

int vfs_fsync(struct file *f, bool datasync)
{
	if (!f->ops || !f->ops->fsync)
		return 0;
	return f->ops->fsync(f, datasync);
}

int vfs_syncfs(struct super_block *sb)
{
	return sb->type && sb->type->sync_fs ? sb->type->sync_fs(sb) : 0;
}

int vfs_sync(struct vfs *vfs)
{
	struct super_block **sbs = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	/* Superblocks are collected first: sync_fs does I/O, never under mount_lock. */
	pthread_mutex_lock(&vfs->mount_lock);
	for (struct mount *m = vfs->mounts; m; m = m->next) {
		bool seen = !m->sb->type || !m->sb->type->sync_fs;

		for (size_t i = 0; i < n && !seen; i++)
			seen = sbs[i] == m->sb;
		if (seen)
			continue;
		if (n == cap) {
			struct super_block **v = realloc(sbs, (cap = cap ? cap * 2 : 8) * sizeof(*v));

			if (!v) {
				r = -ENOMEM;
				break;
			}
			sbs = v;
		}
		sb_get(m->sb);
		sbs[n++] = m->sb;
	}
	pthread_mutex_unlock(&vfs->mount_lock);
	for (size_t i = 0; i < n; i++) {
		int e = vfs_syncfs(sbs[i]);

		if (e < 0 && r == 0)
			r = e;
		sb_put(sbs[i]);
	}
	free(sbs);
	return r;
}
