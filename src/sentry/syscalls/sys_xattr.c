/* Extended attribute syscalls: the get/set/list/remove families on paths, links and fds. */
#include <stdlib.h>
#include <string.h>

#include "syscalls_internal.h"

#define XATTR_NAME_MAX_ 255
#define XATTR_SIZE_MAX_ 65536
#define XATTR_LIST_MAX_ 65536
#define XATTR_CREATE_ 1
#define XATTR_REPLACE_ 2
#define O_PATH_ 010000000

/* Where an xattr call acts: a path (following symlinks or not) or an fd. */
struct xtarget {
	struct path p;
	struct file *f;
	const struct path *at; /* &p or the file's path */
	struct inode *ino;
};

/* fd: act on that fd, or with FD_NONE on upath. */
#define FD_NONE (-(1 << 30))

static long target_get(struct task *t, uint64_t upath, int fd, bool follow, struct xtarget *x)
{
	long r;

	memset(x, 0, sizeof(*x));
	if (fd != FD_NONE) {
		x->f = fd_get(t->files, fd);
		if (!x->f || (x->f->flags & O_PATH_) || !x->f->inode) {
			if (x->f)
				file_put(x->f);
			return -EBADF;
		}
		x->at = &x->f->path;
		x->ino = x->f->inode;
		return 0;
	}
	r = at_resolve(t, AT_FDCWD_LINUX, upath, follow ? LOOKUP_FOLLOW : 0, &x->p);
	if (r < 0)
		return r;
	x->at = &x->p;
	x->ino = x->p.dentry->inode;
	return 0;
}

static void target_put(struct xtarget *x)
{
	if (x->f)
		file_put(x->f);
	path_put(&x->p);
}

/* The attribute name: 1..255 bytes, else ERANGE. */
static long copy_name(struct task *t, uint64_t uname, char *name)
{
	ssize_t n = mm_copy_in_str(t->mm, uname, name, XATTR_NAME_MAX_ + 1);

	if (n == -ENAMETOOLONG)
		return -ERANGE;
	if (n < 0)
		return n;
	return n == 0 ? -ERANGE : 0;
}

static long do_setxattr(struct task *t, uint64_t upath, int fd, bool follow, const struct syscall_args *a)
{
	char name[XATTR_NAME_MAX_ + 1];
	size_t n = ARG(3);
	struct xtarget x;
	void *val = NULL;
	long r;

	if (IARG(4) & ~(XATTR_CREATE_ | XATTR_REPLACE_))
		return -EINVAL;
	if ((r = copy_name(t, ARG(1), name)) < 0)
		return r;
	if (n > XATTR_SIZE_MAX_)
		return -E2BIG;
	if (!(val = malloc(n ? n : 1)))
		return -ENOMEM;
	if (n && copy_in_all(t, ARG(2), val, n) < 0)
		r = -EFAULT;
	else if ((r = target_get(t, upath, fd, follow, &x)) == 0) {
		r = vfs_setxattr(x.at, x.ino, t->cred, name, val, n, IARG(4));
		target_put(&x);
	}
	free(val);
	return r;
}

/* Implements Linux setxattr(2). Deviations: only tmpfs keeps attributes (EOPNOTSUPP on the
 * host-backed rootfs and other filesystems). */
SYSCALL(setxattr)
{
	return do_setxattr(t, ARG(0), FD_NONE, true, a);
}

/* Implements Linux lsetxattr(2). Deviations: as setxattr. */
SYSCALL(lsetxattr)
{
	return do_setxattr(t, ARG(0), FD_NONE, false, a);
}

/* Implements Linux fsetxattr(2). Deviations: as setxattr. */
SYSCALL(fsetxattr)
{
	return do_setxattr(t, 0, IARG(0), true, a);
}

static long do_getxattr(struct task *t, uint64_t upath, int fd, bool follow, const struct syscall_args *a)
{
	char name[XATTR_NAME_MAX_ + 1];
	size_t n = MIN(ARG(3), (uint64_t)XATTR_SIZE_MAX_);
	struct xtarget x;
	void *val;
	long r;

	if ((r = copy_name(t, ARG(1), name)) < 0)
		return r;
	if (!(val = malloc(n ? n : 1)))
		return -ENOMEM;
	if ((r = target_get(t, upath, fd, follow, &x)) == 0) {
		r = vfs_getxattr(t->cred, x.ino, name, val, n);
		target_put(&x);
	}
	if (r > 0 && n && copy_out_all(t, ARG(2), val, (size_t)r) < 0)
		r = -EFAULT;
	free(val);
	return r;
}

/* Implements Linux getxattr(2). Deviations: as setxattr. */
SYSCALL(getxattr)
{
	return do_getxattr(t, ARG(0), FD_NONE, true, a);
}

/* Implements Linux lgetxattr(2). Deviations: as setxattr. */
SYSCALL(lgetxattr)
{
	return do_getxattr(t, ARG(0), FD_NONE, false, a);
}

/* Implements Linux fgetxattr(2). Deviations: as setxattr. */
SYSCALL(fgetxattr)
{
	return do_getxattr(t, 0, IARG(0), true, a);
}

static long do_listxattr(struct task *t, uint64_t upath, int fd, bool follow, const struct syscall_args *a)
{
	size_t n = MIN(ARG(2), (uint64_t)XATTR_LIST_MAX_);
	struct xtarget x;
	char *buf;
	long r;

	if (!(buf = malloc(n ? n : 1)))
		return -ENOMEM;
	if ((r = target_get(t, upath, fd, follow, &x)) == 0) {
		r = vfs_listxattr(x.ino, buf, n);
		target_put(&x);
	}
	if (r > 0 && n && copy_out_all(t, ARG(1), buf, (size_t)r) < 0)
		r = -EFAULT;
	free(buf);
	return r;
}

/* Implements Linux listxattr(2). Deviations: trusted.* names are listed to everyone. */
SYSCALL(listxattr)
{
	return do_listxattr(t, ARG(0), FD_NONE, true, a);
}

/* Implements Linux llistxattr(2). Deviations: as listxattr. */
SYSCALL(llistxattr)
{
	return do_listxattr(t, ARG(0), FD_NONE, false, a);
}

/* Implements Linux flistxattr(2). Deviations: as listxattr. */
SYSCALL(flistxattr)
{
	return do_listxattr(t, 0, IARG(0), true, a);
}

static long do_removexattr(struct task *t, uint64_t upath, int fd, bool follow, uint64_t uname)
{
	char name[XATTR_NAME_MAX_ + 1];
	struct xtarget x;
	long r;

	if ((r = copy_name(t, uname, name)) < 0)
		return r;
	if ((r = target_get(t, upath, fd, follow, &x)) == 0) {
		r = vfs_removexattr(x.at, x.ino, t->cred, name);
		target_put(&x);
	}
	return r;
}

/* Implements Linux removexattr(2). Deviations: as setxattr. */
SYSCALL(removexattr)
{
	return do_removexattr(t, ARG(0), FD_NONE, true, ARG(1));
}

/* Implements Linux lremovexattr(2). Deviations: as setxattr. */
SYSCALL(lremovexattr)
{
	return do_removexattr(t, ARG(0), FD_NONE, false, ARG(1));
}

/* Implements Linux fremovexattr(2). Deviations: as setxattr. */
SYSCALL(fremovexattr)
{
	return do_removexattr(t, 0, IARG(0), true, ARG(1));
}
