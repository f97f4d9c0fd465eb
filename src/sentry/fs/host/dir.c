/* hostfs namespace operations: create, mkdir, mknod, symlink, link, unlink, rmdir, rename,
 * setattr, open.  Ownership follows the creating task's fsuid/fsgid, as on Linux. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "host_internal.h"

#define O_PATH_ 010000000
#define O_ACCMODE_ 3

/* Looks the new name up and gives it the creator's ownership. */
static struct inode *finish_create(struct inode *dir, const char *name, const struct cred *c)
{
	int dfd = HI(dir)->fd;
	gid_t gid = c ? c->fsgid : 0;

	if (dir->mode & S_ISGID)
		gid = dir->gid;
	if (c && fchownat(dfd, name, c->fsuid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM) {
		int e = errno;

		unlinkat(dfd, name, 0);
		return ERR_PTR(-e);
	}
	return dir->ops->lookup(dir, name);
}

static struct inode *host_create(struct inode *dir, const char *name, uint32_t mode,
				 const struct cred *c)
{
	if (mknodat(HI(dir)->fd, name, S_IFREG | (mode & 07777), 0) < 0)
		return ERR_PTR(-errno);
	return finish_create(dir, name, c);
}

static struct inode *host_mkdir(struct inode *dir, const char *name, uint32_t mode,
				const struct cred *c)
{
	if (mkdirat(HI(dir)->fd, name, mode & 07777) < 0)
		return ERR_PTR(-errno);
	return finish_create(dir, name, c);
}

static struct inode *host_mknod(struct inode *dir, const char *name, uint32_t mode, uint64_t dev,
				const struct cred *c)
{
	/* Device nodes on the host are never created: they would reach host devices. */
	if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISREG(mode))
		return ERR_PTR(-EPERM);
	if (mknodat(HI(dir)->fd, name, mode, 0) < 0)
		return ERR_PTR(-errno);
	return finish_create(dir, name, c);
}

static struct inode *host_tmpfile(struct inode *dir, uint32_t mode, bool linkable,
				  const struct cred *c)
{
	char name[16];
	int fd;

	/* Through /proc/self/fd, as every reopen (the only openat the seccomp filter allows). */
	snprintf(name, sizeof(name), "%d", HI(dir)->fd);
	fd = openat(HSB(dir->sb)->proc_fd, name,
		    O_TMPFILE | O_RDWR | O_CLOEXEC | (linkable ? 0 : O_EXCL), mode & 07777);
	if (fd < 0)
		return ERR_PTR(-errno);
	if (c && fchownat(fd, "", c->fsuid, (dir->mode & S_ISGID) ? dir->gid : c->fsgid,
			  AT_EMPTY_PATH) < 0 && errno != EPERM) {
		int e = errno;

		close(fd);
		return ERR_PTR(-e);
	}
	return hostfs_inode_from_fd(dir->sb, fd);
}

static struct inode *host_symlink(struct inode *dir, const char *name, const char *target,
				  const struct cred *c)
{
	if (symlinkat(target, HI(dir)->fd, name) < 0)
		return ERR_PTR(-errno);
	return finish_create(dir, name, c);
}

static int host_link(struct inode *dir, const char *name, struct inode *target)
{
	char path[16];

	snprintf(path, sizeof(path), "%d", HI(target)->fd);
	if (linkat(HSB(dir->sb)->proc_fd, path, HI(dir)->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

static int host_unlink(struct inode *dir, const char *name, struct inode *victim)
{
	return unlinkat(HI(dir)->fd, name, 0) < 0 ? -errno : 0;
}

static int host_rmdir(struct inode *dir, const char *name, struct inode *victim)
{
	return unlinkat(HI(dir)->fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int host_rename(struct inode *odir, const char *oname, struct inode *ndir,
		       const char *nname, unsigned flags)
{
	/* The syscall itself: glibc's renameat2() turns flags 0 into renameat, which the
	 * sandbox's seccomp allowlist does not need to carry. */
	if (syscall(SYS_renameat2, HI(odir)->fd, oname, HI(ndir)->fd, nname, flags) < 0)
		return -errno;
	return 0;
}

static int set_times(struct inode *ino, const struct vfs_attr *a)
{
	struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	char path[16];

	if (a->valid & ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (a->valid & ATTR_ATIME)
		ts[0] = (struct timespec){a->atime.tv_sec, a->atime.tv_nsec};
	if (a->valid & ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (a->valid & ATTR_MTIME)
		ts[1] = (struct timespec){a->mtime.tv_sec, a->mtime.tv_nsec};
	snprintf(path, sizeof(path), "%d", HI(ino)->fd);
	/* Through /proc/self/fd so symlinks themselves are not followed twice. */
	if (S_ISLNK(ino->mode))
		return utimensat(HI(ino)->fd, "", ts, AT_EMPTY_PATH) < 0 ? -errno : 0;
	return utimensat(HSB(ino->sb)->proc_fd, path, ts, 0) < 0 ? -errno : 0;
}

static int apply_attr(struct inode *ino, const struct vfs_attr *a)
{
	int fd = HI(ino)->fd, r;

	if ((a->valid & (ATTR_UID | ATTR_GID)) &&
	    fchownat(fd, "", (a->valid & ATTR_UID) ? a->uid : (uid_t)-1,
		     (a->valid & ATTR_GID) ? a->gid : (gid_t)-1, AT_EMPTY_PATH) < 0)
		return -errno;
	if (a->valid & ATTR_MODE) {
		char path[16];

		snprintf(path, sizeof(path), "%d", fd);
		if (!S_ISLNK(ino->mode) && fchmodat(HSB(ino->sb)->proc_fd, path, a->mode & 07777, 0) < 0)
			return -errno;
	}
	if (a->valid & ATTR_SIZE) {
		int wfd = hostfs_reopen(ino, O_WRONLY);

		if (wfd < 0)
			return wfd;
		r = hostfs_set_size(ino, wfd, a->size);
		close(wfd);
		if (r < 0)
			return r;
		ino->size = a->size;
	}
	if (a->valid & (ATTR_ATIME | ATTR_MTIME | ATTR_ATIME_NOW | ATTR_MTIME_NOW))
		return set_times(ino, a);
	return 0;
}

static int host_setattr(struct inode *ino, const struct vfs_attr *a)
{
	struct linux_statx x;
	int r = apply_attr(ino, a);

	/* Permission checks use the inode's mode and ids: keep them current. */
	hostfs_getattr(ino, &x);
	return r;
}

static int host_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct host_file *hf;
	int hflags = flags & (O_ACCMODE_ | O_APPEND | O_NONBLOCK | O_DIRECT | O_DSYNC | O_SYNC |
			      O_NOATIME);
	int fd;

	if (S_ISCHR(ino->mode))
		return chrdev_open(ino, f, flags, t); /* the sentry's device, never the host's */
	if (S_ISBLK(ino->mode))
		return -EACCES; /* host block devices in a rootfs are never opened */
	if (S_ISFIFO(ino->mode))
		return fifo_open(ino, f, flags, t); /* a sandbox pipe; the host FIFO is not opened */
	if (S_ISDIR(ino->mode))
		hflags = O_RDONLY | O_DIRECTORY;
	fd = hostfs_reopen(ino, hflags);
	if (fd < 0)
		return fd;
	hf = malloc(sizeof(*hf));
	if (!hf) {
		close(fd);
		return -ENOMEM;
	}
	hf->fd = fd;
	f->priv = hf;
	f->ops = S_ISDIR(ino->mode) ? &hostfs_dir_ops : &hostfs_file_ops;
	return 0;
}

static ssize_t host_getxattr(struct inode *ino, const char *name, void *buf, size_t n)
{
	return -EOPNOTSUPP;
}

static ssize_t host_listxattr(struct inode *ino, char *buf, size_t n)
{
	return 0;
}

const struct inode_ops hostfs_inode_ops = {
	.lookup = hostfs_lookup,
	.create = host_create,
	.mkdir = host_mkdir,
	.mknod = host_mknod,
	.symlink = host_symlink,
	.link = host_link,
	.unlink = host_unlink,
	.rmdir = host_rmdir,
	.rename = host_rename,
	.tmpfile = host_tmpfile,
	.readlink = hostfs_readlink,
	.getattr = hostfs_getattr,
	.setattr = host_setattr,
	.open = host_open,
	.statfs = hostfs_statfs,
	.getxattr = host_getxattr,
	.listxattr = host_listxattr,
	.evict = hostfs_evict,
};
