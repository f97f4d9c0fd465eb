/* Looking at files: the stat family, access, readlink, getdents64, statfs, cwd. */
#include <stdlib.h>
#include <string.h>

#include "syscalls_internal.h"

#define AT_SYMLINK_NOFOLLOW_ 0x100
#define AT_EACCESS_ 0x200
#define AT_EMPTY_PATH_ 0x1000
#define AT_NO_AUTOMOUNT_ 0x800
#define AT_STATX_SYNC_TYPE_ 0x6000
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFLNK_ 0120000

/* Resolves (dirfd, user path) to *p. */
static long resolve(struct task *t, int dirfd, uint64_t upath, unsigned lf, struct path *p)
{
	struct path hr, hs;
	struct walk_ctx w;
	char *path = copy_in_path(t, upath);
	long r;

	if (IS_ERR(path))
		return PTR_ERR(path);
	if ((r = task_walk_ctx(t, dirfd, &w, &hr, &hs)) == 0) {
		r = vfs_walk(&w, path, lf, p);
		task_walk_ctx_put(&hr, &hs);
	}
	free(path);
	return r;
}

/* (dirfd, path, AT_* flags) to an inode, handling AT_EMPTY_PATH on any fd. */
static long resolve_at(struct task *t, int dirfd, uint64_t upath, int flags, struct path *p,
		       struct inode **ino, struct file **held)
{
	*held = NULL;
	if (flags & AT_EMPTY_PATH_) {
		char c;

		if (copy_in_all(t, upath, &c, 1) < 0)
			return -EFAULT;
		if (c == 0) {
			if (dirfd == AT_FDCWD_LINUX)
				return resolve(t, dirfd, upath, LOOKUP_EMPTY, p) ?: (*ino = p->dentry->inode, 0);
			*held = fd_get(t->files, dirfd);
			if (!*held)
				return -EBADF;
			*ino = (*held)->inode;
			return *ino ? 0 : -EBADF;
		}
	}
	long r = resolve(t, dirfd, upath, (flags & AT_SYMLINK_NOFOLLOW_) ? 0 : LOOKUP_FOLLOW, p);

	if (r == 0)
		*ino = p->dentry->inode;
	return r;
}

static long stat_at(struct task *t, int dirfd, uint64_t upath, uint64_t ubuf, int flags)
{
	struct path p = {0};
	struct inode *ino;
	struct file *held;
	struct linux_stat st;
	long r;

	if (flags & ~(AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_ | AT_NO_AUTOMOUNT_))
		return -EINVAL;
	r = resolve_at(t, dirfd, upath, flags, &p, &ino, &held);
	if (r == 0)
		r = vfs_stat(ino, &st);
	if (held)
		file_put(held);
	path_put(&p);
	if (r == 0)
		r = copy_out_all(t, ubuf, &st, sizeof(st));
	return r;
}

/* Implements Linux stat(2). */
SYSCALL(stat)
{
	return stat_at(t, AT_FDCWD_LINUX, ARG(0), ARG(1), 0);
}

/* Implements Linux lstat(2). */
SYSCALL(lstat)
{
	return stat_at(t, AT_FDCWD_LINUX, ARG(0), ARG(1), AT_SYMLINK_NOFOLLOW_);
}

/* Implements Linux newfstatat(2). */
SYSCALL(newfstatat)
{
	return stat_at(t, IARG(0), ARG(1), ARG(2), IARG(3));
}

/* Implements Linux fstat(2). */
SYSCALL(fstat)
{
	struct file *f = fd_get(t->files, IARG(0));
	struct linux_stat st;
	long r;

	if (!f)
		return -EBADF;
	r = f->inode ? vfs_stat(f->inode, &st) : -EBADF;
	file_put(f);
	return r ? r : copy_out_all(t, ARG(1), &st, sizeof(st));
}

/* Implements Linux statx(2). */
SYSCALL(statx)
{
	struct path p = {0};
	struct inode *ino;
	struct file *held;
	struct linux_statx x;
	int flags = IARG(2);
	long r;

	if (flags & ~(AT_SYMLINK_NOFOLLOW_ | AT_EMPTY_PATH_ | AT_NO_AUTOMOUNT_ | AT_STATX_SYNC_TYPE_))
		return -EINVAL;
	if (ARG(3) & 0x80000000u)
		return -EINVAL;
	r = resolve_at(t, IARG(0), ARG(1), flags, &p, &ino, &held);
	if (r == 0)
		r = vfs_getattr(ino, &x);
	if (held)
		file_put(held);
	path_put(&p);
	if (r == 0)
		r = copy_out_all(t, ARG(4), &x, sizeof(x));
	return r;
}

static long access_at(struct task *t, int dirfd, uint64_t upath, int mode, int flags)
{
	struct path p = {0};
	struct cred *c = t->cred, *real = NULL;
	long r;

	if (mode & ~7 || (flags & ~(AT_SYMLINK_NOFOLLOW_ | AT_EACCESS_ | AT_EMPTY_PATH_)))
		return -EINVAL;
	r = resolve(t, dirfd, upath, (flags & AT_SYMLINK_NOFOLLOW_) ? 0 : LOOKUP_FOLLOW, &p);
	if (r < 0)
		return r;
	if (!(flags & AT_EACCESS_) && (real = cred_copy(c))) {
		/* access(2) checks with the real ids. */
		real->fsuid = c->uid;
		real->fsgid = c->gid;
		if (c->uid != 0)
			real->cap_effective = 0;
		c = real;
	}
	if (mode) {
		if ((mode & 2) && (p.mnt->flags & MNT_RDONLY))
			r = -EROFS;
		else
			r = vfs_permission(c, p.dentry->inode, mode);
	}
	cred_put(real);
	path_put(&p);
	return r;
}

/* Implements Linux access(2). */
SYSCALL(access)
{
	return access_at(t, AT_FDCWD_LINUX, ARG(0), IARG(1), 0);
}

/* Implements Linux faccessat(2). */
SYSCALL(faccessat)
{
	return access_at(t, IARG(0), ARG(1), IARG(2), 0);
}

/* Implements Linux faccessat2(2). */
SYSCALL(faccessat2)
{
	return access_at(t, IARG(0), ARG(1), IARG(2), IARG(3));
}

static long readlink_at(struct task *t, int dirfd, uint64_t upath, uint64_t ubuf, int64_t n)
{
	struct path p = {0};
	char buf[4096];
	ssize_t len;
	long r;

	if (n <= 0)
		return -EINVAL;
	r = resolve(t, dirfd, upath, LOOKUP_EMPTY, &p);
	if (r < 0)
		return r;
	struct inode *ino = p.dentry->inode;

	if ((ino->mode & S_IFMT_) != S_IFLNK_ || !ino->ops->readlink)
		len = -EINVAL;
	else
		len = ino->ops->readlink(ino, buf, sizeof(buf));
	path_put(&p);
	if (len < 0)
		return len;
	len = MIN(len, (ssize_t)n);
	return copy_out_all(t, ubuf, buf, (size_t)len) ?: len;
}

/* Implements Linux readlink(2). */
SYSCALL(readlink)
{
	return readlink_at(t, AT_FDCWD_LINUX, ARG(0), ARG(1), (int64_t)ARG(2));
}

/* Implements Linux readlinkat(2). */
SYSCALL(readlinkat)
{
	return readlink_at(t, IARG(0), ARG(1), ARG(2), (int64_t)ARG(3));
}

/* Implements Linux getcwd(2). */
SYSCALL(getcwd)
{
	struct path root, cwd;
	char buf[4096];
	ssize_t n;

	fs_struct_snapshot(t->fs, &root, &cwd);
	n = vfs_path_name(&root, &cwd, buf, sizeof(buf));
	path_put(&root);
	path_put(&cwd);
	if (n < 0)
		return n;
	if ((uint64_t)n + 1 > ARG(1))
		return -ERANGE;
	return copy_out_all(t, ARG(0), buf, (size_t)n + 1) ?: n + 1;
}

static long set_cwd(struct task *t, struct path *p)
{
	struct inode *ino = p->dentry->inode;
	long r = 0;

	if ((ino->mode & S_IFMT_) != S_IFDIR_)
		r = -ENOTDIR;
	else
		r = vfs_permission(t->cred, ino, MAY_EXEC);
	if (r == 0) {
		pthread_mutex_lock(&t->fs->lock);
		struct path old = t->fs->cwd;

		t->fs->cwd = *p;
		path_get(p);
		pthread_mutex_unlock(&t->fs->lock);
		path_put(&old);
	}
	return r;
}

/* Implements Linux chdir(2). */
SYSCALL(chdir)
{
	struct path p;
	long r = resolve(t, AT_FDCWD_LINUX, ARG(0), LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &p);

	if (r < 0)
		return r;
	r = set_cwd(t, &p);
	path_put(&p);
	return r;
}

/* Implements Linux fchdir(2). */
SYSCALL(fchdir)
{
	struct file *f = fd_get(t->files, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = f->path.dentry ? set_cwd(t, &f->path) : -ENOTDIR;
	file_put(f);
	return r;
}

struct dirent_ctx {
	char *buf;
	size_t cap, len;
};

static bool emit_dirent(void *arg, const char *name, uint64_t ino, int64_t next, unsigned type)
{
	struct dirent_ctx *c = arg;
	size_t nl = strlen(name), reclen = ALIGN_UP(offsetof(struct linux_dirent64, d_name) + nl + 1, 8);
	struct linux_dirent64 *d;

	if (c->len + reclen > c->cap)
		return false;
	d = (struct linux_dirent64 *)(c->buf + c->len);
	memset(d, 0, reclen);
	d->d_ino = ino;
	d->d_off = next;
	d->d_reclen = (uint16_t)reclen;
	d->d_type = (uint8_t)type;
	memcpy(d->d_name, name, nl + 1);
	c->len += reclen;
	return true;
}

/* Implements Linux getdents64(2). */
SYSCALL(getdents64)
{
	struct file *f = fd_get(t->files, IARG(0));
	struct dirent_ctx c = {.cap = MIN(ARG(2), (uint64_t)(1 << 20))};
	long r;

	if (!f)
		return -EBADF;
	c.buf = malloc(c.cap ? c.cap : 1);
	if (!c.buf) {
		file_put(f);
		return -ENOMEM;
	}
	r = vfs_iterate(f, emit_dirent, &c);
	file_put(f);
	if (r == 0 && c.len == 0 && c.cap < 24 + 8)
		r = -EINVAL;
	if (r == 0)
		r = copy_out_all(t, ARG(1), c.buf, c.len) ?: (long)c.len;
	free(c.buf);
	return r;
}

/* statfs f_flags from the mount: ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC (and ST_VALID). */
static int64_t mount_st_flags(const struct mount *mnt)
{
	if (!mnt)
		return 0;
	return 0x20 | ((mnt->flags & MNT_RDONLY) ? 1 : 0) | ((mnt->flags & MNT_NOSUID) ? 2 : 0) |
	       ((mnt->flags & MNT_NODEV) ? 4 : 0) | ((mnt->flags & MNT_NOEXEC) ? 8 : 0);
}

static long do_statfs(struct task *t, struct mount *mnt, struct inode *ino, uint64_t ubuf)
{
	struct linux_statfs st;
	long r;

	memset(&st, 0, sizeof(st));
	if (ino->ops->statfs) {
		r = ino->ops->statfs(ino, &st);
		if (r < 0)
			return r;
	} else {
		st.f_type = 0x01021994; /* TMPFS_MAGIC */
		st.f_bsize = 4096;
		st.f_namelen = 255;
		st.f_frsize = 4096;
	}
	if (mnt)
		st.f_flags = (st.f_flags & ~0x2fll) | mount_st_flags(mnt);
	return copy_out_all(t, ubuf, &st, sizeof(st));
}

/* Implements Linux statfs(2). */
SYSCALL(statfs)
{
	struct path p;
	long r = resolve(t, AT_FDCWD_LINUX, ARG(0), LOOKUP_FOLLOW, &p);

	if (r < 0)
		return r;
	r = do_statfs(t, p.mnt, p.dentry->inode, ARG(1));
	path_put(&p);
	return r;
}

/* Implements Linux fstatfs(2). */
SYSCALL(fstatfs)
{
	struct file *f = fd_get(t->files, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = f->inode ? do_statfs(t, f->path.mnt, f->inode, ARG(1)) : -EINVAL;
	file_put(f);
	return r;
}
