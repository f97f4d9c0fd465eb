/* Filesystem namespace syscalls: mkdir, mknod, rmdir, unlink, rename, link, symlink, chroot. */
#include <stdlib.h>
#include <string.h>

#include "syscalls_internal.h"

#define AT_SYMLINK_NOFOLLOW_ 0x100
#define AT_REMOVEDIR_ 0x200
#define AT_SYMLINK_FOLLOW_ 0x400
#define AT_EMPTY_PATH_ 0x1000
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define CAP_DAC_READ_SEARCH_ 2
#define CAP_SYS_CHROOT_ 18

long at_path_get(struct task *t, int dirfd, uint64_t upath, struct at_path *ap)
{
	long r;

	ap->name = copy_in_path(t, upath);
	if (IS_ERR(ap->name))
		return PTR_ERR(ap->name);
	if ((r = task_walk_ctx(t, dirfd, &ap->w, &ap->hold_root, &ap->hold_start)) < 0)
		free(ap->name);
	return r;
}

void at_path_put(struct at_path *ap)
{
	task_walk_ctx_put(&ap->hold_root, &ap->hold_start);
	free(ap->name);
}

long at_resolve(struct task *t, int dirfd, uint64_t upath, unsigned lookup, struct path *p)
{
	struct at_path ap;
	long r = at_path_get(t, dirfd, upath, &ap);

	if (r < 0)
		return r;
	r = vfs_walk(&ap.w, ap.name, lookup, p);
	at_path_put(&ap);
	return r;
}

uint32_t task_umask(struct task *t)
{
	uint32_t m;

	pthread_mutex_lock(&t->fs->lock);
	m = t->fs->umask;
	pthread_mutex_unlock(&t->fs->lock);
	return m;
}

static long do_mkdirat(struct task *t, int dirfd, uint64_t upath, uint32_t mode)
{
	struct at_path ap;
	long r = at_path_get(t, dirfd, upath, &ap);

	if (r < 0)
		return r;
	r = vfs_mkdir(&ap.w, ap.name, mode & 01777 & ~task_umask(t));
	at_path_put(&ap);
	return r;
}

/* Implements Linux mkdir(2). */
SYSCALL(mkdir)
{
	return do_mkdirat(t, AT_FDCWD_LINUX, ARG(0), (uint32_t)ARG(1));
}

/* Implements Linux mkdirat(2). */
SYSCALL(mkdirat)
{
	return do_mkdirat(t, IARG(0), ARG(1), (uint32_t)ARG(2));
}

/* The guest's 32-bit dev_t (major 12 bits, minor 20, interleaved) as glibc's makedev layout,
 * which inodes keep in rdev. */
static uint64_t decode_dev(uint32_t dev)
{
	uint64_t major = (dev & 0xfff00) >> 8, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);

	return ((major & 0xfff) << 8) | ((major & ~0xfffull) << 32) | (minor & 0xff) |
	       ((minor & ~0xffull) << 12);
}

static long do_mknodat(struct task *t, int dirfd, uint64_t upath, uint32_t mode, uint32_t dev)
{
	struct at_path ap;
	long r = at_path_get(t, dirfd, upath, &ap);

	if (r < 0)
		return r;
	mode = (mode & S_IFMT_) | (mode & 07777 & ~task_umask(t));
	r = vfs_mknod(&ap.w, ap.name, mode, decode_dev(dev));
	at_path_put(&ap);
	return r;
}

/* Implements Linux mknod(2). Deviations: device nodes are refused (EPERM) on the host-backed
 * rootfs and bind mounts; on tmpfs they open the sandbox's own devices. */
SYSCALL(mknod)
{
	return do_mknodat(t, AT_FDCWD_LINUX, ARG(0), (uint32_t)ARG(1), (uint32_t)ARG(2));
}

/* Implements Linux mknodat(2). Deviations: as mknod. */
SYSCALL(mknodat)
{
	return do_mknodat(t, IARG(0), ARG(1), (uint32_t)ARG(2), (uint32_t)ARG(3));
}

static long do_unlinkat(struct task *t, int dirfd, uint64_t upath, int flags)
{
	struct at_path ap;
	long r;

	if (flags & ~AT_REMOVEDIR_)
		return -EINVAL;
	if ((r = at_path_get(t, dirfd, upath, &ap)) < 0)
		return r;
	r = (flags & AT_REMOVEDIR_) ? vfs_rmdir(&ap.w, ap.name) : vfs_unlink(&ap.w, ap.name);
	at_path_put(&ap);
	return r;
}

/* Implements Linux rmdir(2). */
SYSCALL(rmdir)
{
	return do_unlinkat(t, AT_FDCWD_LINUX, ARG(0), AT_REMOVEDIR_);
}

/* Implements Linux unlink(2). */
SYSCALL(unlink)
{
	return do_unlinkat(t, AT_FDCWD_LINUX, ARG(0), 0);
}

/* Implements Linux unlinkat(2). */
SYSCALL(unlinkat)
{
	return do_unlinkat(t, IARG(0), ARG(1), IARG(2));
}

static long do_renameat2(struct task *t, int odfd, uint64_t oldp, int ndfd, uint64_t newp,
			 unsigned flags)
{
	struct at_path o, n;
	long r;

	if ((r = at_path_get(t, odfd, oldp, &o)) < 0)
		return r;
	if ((r = at_path_get(t, ndfd, newp, &n)) == 0) {
		r = vfs_rename(&o.w, o.name, &n.w, n.name, flags);
		at_path_put(&n);
	}
	at_path_put(&o);
	return r;
}

/* Implements Linux rename(2). */
SYSCALL(rename)
{
	return do_renameat2(t, AT_FDCWD_LINUX, ARG(0), AT_FDCWD_LINUX, ARG(1), 0);
}

/* Implements Linux renameat(2). */
SYSCALL(renameat)
{
	return do_renameat2(t, IARG(0), ARG(1), IARG(2), ARG(3), 0);
}

/* Implements Linux renameat2(2). Deviations: RENAME_WHITEOUT is EOPNOTSUPP. */
SYSCALL(renameat2)
{
	return do_renameat2(t, IARG(0), ARG(1), IARG(2), ARG(3), (unsigned)ARG(4));
}

/* linkat's source: a path (following a final symlink with AT_SYMLINK_FOLLOW) or the fd. */
static long link_source(struct task *t, int dirfd, uint64_t upath, int flags, struct path *p)
{
	unsigned lf = (flags & AT_SYMLINK_FOLLOW_) ? LOOKUP_FOLLOW : 0;

	if (flags & AT_EMPTY_PATH_) {
		/* Linking an fd that may have been passed in needs CAP_DAC_READ_SEARCH. */
		if (!cred_capable(t->cred, CAP_DAC_READ_SEARCH_))
			return -ENOENT;
		lf |= LOOKUP_EMPTY;
	}
	return at_resolve(t, dirfd, upath, lf, p);
}

static long do_linkat(struct task *t, int odfd, uint64_t oldp, int ndfd, uint64_t newp, int flags)
{
	struct at_path n;
	struct path old;
	long r;

	if (flags & ~(AT_SYMLINK_FOLLOW_ | AT_EMPTY_PATH_))
		return -EINVAL;
	if ((r = link_source(t, odfd, oldp, flags, &old)) < 0)
		return r;
	if ((r = at_path_get(t, ndfd, newp, &n)) == 0) {
		r = vfs_link(&old, &n.w, n.name);
		at_path_put(&n);
	}
	path_put(&old);
	return r;
}

/* Implements Linux link(2). */
SYSCALL(link)
{
	return do_linkat(t, AT_FDCWD_LINUX, ARG(0), AT_FDCWD_LINUX, ARG(1), 0);
}

/* Implements Linux linkat(2). Deviations: AT_EMPTY_PATH always needs CAP_DAC_READ_SEARCH. */
SYSCALL(linkat)
{
	return do_linkat(t, IARG(0), ARG(1), IARG(2), ARG(3), IARG(4));
}

static long do_symlinkat(struct task *t, uint64_t utarget, int dirfd, uint64_t upath)
{
	char *target = copy_in_path(t, utarget);
	struct at_path ap;
	long r;

	if (IS_ERR(target))
		return PTR_ERR(target);
	if ((r = at_path_get(t, dirfd, upath, &ap)) == 0) {
		r = vfs_symlink(&ap.w, target, ap.name);
		at_path_put(&ap);
	}
	free(target);
	return r;
}

/* Implements Linux symlink(2). */
SYSCALL(symlink)
{
	return do_symlinkat(t, ARG(0), AT_FDCWD_LINUX, ARG(1));
}

/* Implements Linux symlinkat(2). */
SYSCALL(symlinkat)
{
	return do_symlinkat(t, ARG(0), IARG(1), ARG(2));
}

/* Implements Linux chroot(2): the process's root (its fs_struct, shared by CLONE_FS). */
SYSCALL(chroot)
{
	struct path p, old;
	long r = at_resolve(t, AT_FDCWD_LINUX, ARG(0), LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &p);

	if (r < 0)
		return r;
	if ((r = vfs_permission(t->cred, p.dentry->inode, MAY_EXEC)) == 0 &&
	    !cred_capable(t->cred, CAP_SYS_CHROOT_))
		r = -EPERM;
	if (r == 0) {
		pthread_mutex_lock(&t->fs->lock);
		old = t->fs->root;
		t->fs->root = p;
		pthread_mutex_unlock(&t->fs->lock);
		p = old;
	}
	path_put(&p);
	return r;
}
