/* tmpfs inodes: attributes, symlink targets, opens (special files go to their owners), and
 * the inode operations table. */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "tmpfs_internal.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000
#define S_IFCHR_ 0020000
#define S_IFIFO_ 0010000

static int tmpfs_getattr(struct inode *ino, struct linux_statx *st)
{
	struct tmpfs_inode *ti = TI(ino);

	pthread_mutex_lock(&ti->lock);
	st->stx_mask = 0x7ff;
	st->stx_mode = (uint16_t)ino->mode;
	st->stx_nlink = ino->nlink;
	st->stx_uid = ino->uid;
	st->stx_gid = ino->gid;
	st->stx_ino = ino->ino;
	st->stx_size = ino->size;
	st->stx_blksize = PAGE_SIZE;
	st->stx_blocks = (ino->mode & S_IFMT_) == S_IFREG_ ? ti->pc.n * (PAGE_SIZE / 512) : 0;
	st->stx_atime.tv_sec = ino->atime.tv_sec;
	st->stx_atime.tv_nsec = (uint32_t)ino->atime.tv_nsec;
	st->stx_mtime.tv_sec = ino->mtime.tv_sec;
	st->stx_mtime.tv_nsec = (uint32_t)ino->mtime.tv_nsec;
	st->stx_ctime.tv_sec = ino->ctime.tv_sec;
	st->stx_ctime.tv_nsec = (uint32_t)ino->ctime.tv_nsec;
	pthread_mutex_unlock(&ti->lock);
	st->stx_rdev_major = (uint32_t)(((ino->rdev >> 8) & 0xfff) | ((ino->rdev >> 32) & ~0xfffu));
	st->stx_rdev_minor = (uint32_t)((ino->rdev & 0xff) | ((ino->rdev >> 12) & ~0xffu));
	st->stx_dev_minor = (uint32_t)ino->sb->dev;
	return 0;
}

static void set_time(struct linux_timespec *dst, bool now, const struct linux_timespec *v)
{
	if (now) {
		uint64_t ns = clock_real_ns();

		dst->tv_sec = (int64_t)(ns / 1000000000ull);
		dst->tv_nsec = (int64_t)(ns % 1000000000ull);
	} else {
		*dst = *v;
	}
}

static int tmpfs_setattr(struct inode *ino, const struct vfs_attr *a)
{
	struct tmpfs_inode *ti = TI(ino);
	int r = 0;

	pthread_mutex_lock(&ti->lock);
	if (a->valid & ATTR_SIZE) {
		if ((ino->mode & S_IFMT_) != S_IFREG_)
			r = (ino->mode & S_IFMT_) == S_IFDIR_ ? -EISDIR : -EINVAL;
		else
			r = tmpfs_set_size_locked(ino, a->size);
	}
	if (r == 0) {
		if (a->valid & ATTR_MODE)
			ino->mode = (ino->mode & S_IFMT_) | (a->mode & 07777);
		if (a->valid & ATTR_UID)
			ino->uid = a->uid;
		if (a->valid & ATTR_GID)
			ino->gid = a->gid;
		tmpfs_touch(ino, 0);
		if (a->valid & (ATTR_ATIME | ATTR_ATIME_NOW))
			set_time(&ino->atime, a->valid & ATTR_ATIME_NOW, &a->atime);
		if (a->valid & (ATTR_MTIME | ATTR_MTIME_NOW))
			set_time(&ino->mtime, a->valid & ATTR_MTIME_NOW, &a->mtime);
	}
	pthread_mutex_unlock(&ti->lock);
	return r;
}

static ssize_t tmpfs_readlink(struct inode *ino, char *buf, size_t n)
{
	const char *target = TI(ino)->target;
	size_t len;

	if ((ino->mode & S_IFMT_) != S_IFLNK_ || !target)
		return -EINVAL;
	len = MIN(strlen(target), n);
	memcpy(buf, target, len);
	return (ssize_t)len;
}

static int tmpfs_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	switch (ino->mode & S_IFMT_) {
	case S_IFREG_:
		f->ops = &tmpfs_file_ops;
		return 0;
	case S_IFDIR_:
		f->ops = &tmpfs_dir_ops;
		return 0;
	case S_IFCHR_:
		return chrdev_open(ino, f, flags, t); /* the sandbox's devices (nodev: the vfs) */
	case S_IFIFO_:
		return fifo_open(ino, f, flags, t);
	default:
		return -ENXIO; /* block devices and sockets */
	}
}

const struct inode_ops tmpfs_inode_ops = {
	.lookup = tmpfs_lookup,
	.create = tmpfs_create,
	.mkdir = tmpfs_mkdir,
	.mknod = tmpfs_mknod,
	.symlink = tmpfs_symlink,
	.link = tmpfs_link,
	.unlink = tmpfs_unlink,
	.rmdir = tmpfs_rmdir,
	.rename = tmpfs_rename,
	.readlink = tmpfs_readlink,
	.getattr = tmpfs_getattr,
	.setattr = tmpfs_setattr,
	.open = tmpfs_open,
	.statfs = tmpfs_statfs,
	.getxattr = tmpfs_getxattr,
	.listxattr = tmpfs_listxattr,
	.setxattr = tmpfs_setxattr,
	.removexattr = tmpfs_removexattr,
	.tmpfile = tmpfs_tmpfile,
	.evict = tmpfs_evict,
};
