/* File attribute syscalls: chmod, chown, utimes, truncate, fallocate and the sync family. */
#include <stdlib.h>

#include "syscalls_internal.h"

#define AT_SYMLINK_NOFOLLOW_ 0x100
#define AT_EMPTY_PATH_ 0x1000
#define O_PATH_ 010000000
#define UTIME_NOW_ ((1l << 30) - 1l)
#define UTIME_OMIT_ ((1l << 30) - 2l)

/* The file at fd; O_PATH files only when allow_path. */
static struct file *get_fd(struct task *t, int fd, bool allow_path)
{
	struct file *f = fd_get(t->files, fd);

	if (f && (f->flags & O_PATH_) && !allow_path) {
		file_put(f);
		return NULL;
	}
	return f;
}

/* An attribute change on (dirfd, path, AT_* flags): fn gets the path and inode. */
struct attr_op {
	int kind; /* 0 chmod, 1 chown, 2 utimes */
	uint32_t mode, uid, gid;
	const struct vfs_attr *times;
};

static long apply(struct task *t, const struct path *p, struct inode *ino,
		  const struct attr_op *op)
{
	if (!ino)
		return -EBADF;
	switch (op->kind) {
	case 0:
		return vfs_chmod(p, ino, t->cred, op->mode);
	case 1:
		return vfs_chown(p, ino, t->cred, op->uid, op->gid);
	default:
		return vfs_utimes(p, ino, t->cred, op->times);
	}
}

static long attr_fd(struct task *t, int fd, const struct attr_op *op, bool allow_path)
{
	struct file *f = get_fd(t, fd, allow_path);
	long r;

	if (!f)
		return -EBADF;
	r = apply(t, &f->path, f->inode, op);
	file_put(f);
	return r;
}

static long attr_at(struct task *t, int dirfd, uint64_t upath, int flags, int allowed,
		    const struct attr_op *op)
{
	struct path p;
	char c;
	long r;

	if (flags & ~allowed)
		return -EINVAL;
	if ((flags & AT_EMPTY_PATH_) && copy_in_all(t, upath, &c, 1) == 0 && c == 0 &&
	    dirfd != AT_FDCWD_LINUX)
		return attr_fd(t, dirfd, op, true);
	r = at_resolve(t, dirfd, upath,
		       ((flags & AT_SYMLINK_NOFOLLOW_) ? 0 : LOOKUP_FOLLOW) |
			       ((flags & AT_EMPTY_PATH_) ? LOOKUP_EMPTY : 0),
		       &p);
	if (r < 0)
		return r;
	r = apply(t, &p, p.dentry->inode, op);
	path_put(&p);
	return r;
}

/* Implements Linux chmod(2). */
SYSCALL(chmod)
{
	struct attr_op op = {.kind = 0, .mode = (uint32_t)ARG(1)};

	return attr_at(t, AT_FDCWD_LINUX, ARG(0), 0, 0, &op);
}

/* Implements Linux fchmod(2). */
SYSCALL(fchmod)
{
	struct attr_op op = {.kind = 0, .mode = (uint32_t)ARG(1)};

	return attr_fd(t, IARG(0), &op, false);
}

/* Implements Linux fchmodat(2). */
SYSCALL(fchmodat)
{
	struct attr_op op = {.kind = 0, .mode = (uint32_t)ARG(2)};

	return attr_at(t, IARG(0), ARG(1), 0, 0, &op);
}

/* Implements Linux fchmodat2(2). */
SYSCALL(fchmodat2)
{
	struct attr_op op = {.kind = 0, .mode = (uint32_t)ARG(2)};

	return attr_at(t, IARG(0), ARG(1), IARG(3), AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_, &op);
}

/* Implements Linux chown(2). */
SYSCALL(chown)
{
	struct attr_op op = {.kind = 1, .uid = (uint32_t)ARG(1), .gid = (uint32_t)ARG(2)};

	return attr_at(t, AT_FDCWD_LINUX, ARG(0), 0, 0, &op);
}

/* Implements Linux lchown(2). */
SYSCALL(lchown)
{
	struct attr_op op = {.kind = 1, .uid = (uint32_t)ARG(1), .gid = (uint32_t)ARG(2)};

	return attr_at(t, AT_FDCWD_LINUX, ARG(0), AT_SYMLINK_NOFOLLOW_, AT_SYMLINK_NOFOLLOW_, &op);
}

/* Implements Linux fchown(2). */
SYSCALL(fchown)
{
	struct attr_op op = {.kind = 1, .uid = (uint32_t)ARG(1), .gid = (uint32_t)ARG(2)};

	return attr_fd(t, IARG(0), &op, false);
}

/* Implements Linux fchownat(2). */
SYSCALL(fchownat)
{
	struct attr_op op = {.kind = 1, .uid = (uint32_t)ARG(2), .gid = (uint32_t)ARG(3)};

	return attr_at(t, IARG(0), ARG(1), IARG(4), AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_, &op);
}

/* One utimensat timespec into the attr: ATTR_*TIME(_NOW) bits, -EINVAL when malformed. */
static int time_arg(const struct linux_timespec *ts, unsigned set, unsigned now,
		    struct linux_timespec *dst, unsigned *valid)
{
	if (ts->tv_nsec == UTIME_OMIT_)
		return 0;
	if (ts->tv_nsec == UTIME_NOW_) {
		*valid |= now;
		return 0;
	}
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return -EINVAL;
	*dst = *ts;
	*valid |= set;
	return 0;
}

static long do_utimes(struct task *t, int dirfd, uint64_t upath, const struct linux_timespec *ts,
		      int flags)
{
	struct vfs_attr a = {0};
	struct attr_op op = {.kind = 2, .times = ts ? &a : NULL};

	if (ts && (time_arg(&ts[0], ATTR_ATIME, ATTR_ATIME_NOW, &a.atime, &a.valid) < 0 ||
		   time_arg(&ts[1], ATTR_MTIME, ATTR_MTIME_NOW, &a.mtime, &a.valid) < 0))
		return -EINVAL;
	if (flags & ~(AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_))
		return -EINVAL;
	if (!upath) { /* futimens: the fd itself */
		if (dirfd == AT_FDCWD_LINUX)
			return -EFAULT;
		return flags ? -EINVAL : attr_fd(t, dirfd, &op, false);
	}
	return attr_at(t, dirfd, upath, flags, AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_, &op);
}

/* Implements Linux utimensat(2). */
SYSCALL(utimensat)
{
	struct linux_timespec ts[2];

	if (ARG(2) && copy_in_all(t, ARG(2), ts, sizeof(ts)) < 0)
		return -EFAULT;
	return do_utimes(t, IARG(0), ARG(1), ARG(2) ? ts : NULL, IARG(3));
}

/* utimes/futimesat: struct timeval[2] (NULL: now). */
static long timeval_utimes(struct task *t, int dirfd, uint64_t upath, uint64_t utv)
{
	struct linux_timeval tv[2];
	struct linux_timespec ts[2];

	if (!utv)
		return do_utimes(t, dirfd, upath, NULL, 0);
	if (copy_in_all(t, utv, tv, sizeof(tv)) < 0)
		return -EFAULT;
	for (int i = 0; i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
			return -EINVAL;
		ts[i].tv_sec = tv[i].tv_sec;
		ts[i].tv_nsec = tv[i].tv_usec * 1000;
	}
	return do_utimes(t, dirfd, upath, ts, 0);
}

/* Implements Linux utimes(2). */
SYSCALL(utimes)
{
	return timeval_utimes(t, AT_FDCWD_LINUX, ARG(0), ARG(1));
}

/* Implements Linux futimesat(2). */
SYSCALL(futimesat)
{
	return timeval_utimes(t, IARG(0), ARG(1), ARG(2));
}

/* Implements Linux utime(2). */
SYSCALL(utime)
{
	int64_t tb[2]; /* struct utimbuf: actime, modtime */
	struct linux_timespec ts[2];

	if (!ARG(1))
		return do_utimes(t, AT_FDCWD_LINUX, ARG(0), NULL, 0);
	if (copy_in_all(t, ARG(1), tb, sizeof(tb)) < 0)
		return -EFAULT;
	ts[0] = (struct linux_timespec){tb[0], 0};
	ts[1] = (struct linux_timespec){tb[1], 0};
	return do_utimes(t, AT_FDCWD_LINUX, ARG(0), ts, 0);
}

/* Implements Linux truncate(2). */
SYSCALL(truncate)
{
	struct path p;
	long r = at_resolve(t, AT_FDCWD_LINUX, ARG(0), LOOKUP_FOLLOW, &p);

	if (r < 0)
		return r;
	r = vfs_truncate(&p, p.dentry->inode, t->cred, (int64_t)ARG(1));
	path_put(&p);
	return r;
}

/* Implements Linux ftruncate(2). */
SYSCALL(ftruncate)
{
	struct file *f = get_fd(t, IARG(0), false);
	long r;

	if (!f)
		return -EBADF;
	r = vfs_ftruncate(f, (int64_t)ARG(1));
	file_put(f);
	return r;
}

/* Implements Linux fallocate(2). Deviations: on tmpfs, FALLOC_FL_PUNCH_HOLE zeroes the range
 * without freeing its pages; modes other than KEEP_SIZE and PUNCH_HOLE are EOPNOTSUPP there. */
SYSCALL(fallocate)
{
	struct file *f = get_fd(t, IARG(0), false);
	long r;

	if (!f)
		return -EBADF;
	r = vfs_fallocate(f, IARG(1), (int64_t)ARG(2), (int64_t)ARG(3));
	file_put(f);
	return r;
}

static long do_fsync(struct task *t, int fd, bool datasync)
{
	struct file *f = get_fd(t, fd, false);
	long r;

	if (!f)
		return -EBADF;
	r = vfs_fsync(f, datasync);
	file_put(f);
	return r;
}

/* Implements Linux fsync(2). */
SYSCALL(fsync)
{
	return do_fsync(t, IARG(0), false);
}

/* Implements Linux fdatasync(2). */
SYSCALL(fdatasync)
{
	return do_fsync(t, IARG(0), true);
}

/* Implements Linux sync(2). Deviations: pages of host-backed files changed through shared
 * mappings are written to the host files; nothing is flushed to the host's disks. */
SYSCALL(sync)
{
	vfs_sync(&t->k->vfs);
	return 0;
}

/* Implements Linux syncfs(2). Deviations: as sync, for the filesystem of fd. */
SYSCALL(syncfs)
{
	struct file *f = get_fd(t, IARG(0), false);
	long r = 0;

	if (!f)
		return -EBADF;
	if (f->inode)
		r = vfs_syncfs(f->inode->sb);
	file_put(f);
	return r;
}

/* Implements Linux sync_file_range(2). Deviations: a data sync of the whole file. */
SYSCALL(sync_file_range)
{
	int64_t off = (int64_t)ARG(1), n = (int64_t)ARG(2);

	if (ARG(3) & ~7ull || off < 0 || n < 0 || off > INT64_MAX - n)
		return -EINVAL;
	return do_fsync(t, IARG(0), true);
}
