/*
 * Extended attributes: who may read or change which namespace (Linux's xattr_permission
 * without an LSM), then the filesystem's ops; a filesystem without them says EOPNOTSUPP.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_ISVTX_ 01000
#define CAP_SYS_ADMIN_ 21

static bool prefixed(const char *name, const char *prefix)
{
	return !strncmp(name, prefix, strlen(prefix));
}

/* Linux's xattr_permission for mask MAY_READ or MAY_WRITE. */
static int xattr_permission(const struct cred *c, struct inode *ino, const char *name, int mask)
{
	uint32_t type = ino->mode & S_IFMT_;

	if (prefixed(name, "trusted."))
		return !c || cred_capable(c, CAP_SYS_ADMIN_) ? 0 : -EPERM;
	if (prefixed(name, "security.")) {
		if (mask == MAY_WRITE && c && !cred_capable(c, CAP_SYS_ADMIN_))
			return -EPERM;
		return 0;
	}
	if (prefixed(name, "user.")) {
		if (type != S_IFREG_ && type != S_IFDIR_)
			return mask == MAY_WRITE ? -EPERM : -ENODATA;
		if (type == S_IFDIR_ && (ino->mode & S_ISVTX_) && mask == MAY_WRITE &&
		    !vfs_owner_or_capable(c, ino))
			return -EPERM;
		return vfs_permission(c, ino, mask);
	}
	if (prefixed(name, "system."))
		return 0; /* the filesystem decides (POSIX ACLs) */
	return -EOPNOTSUPP;
}

ssize_t vfs_getxattr(const struct cred *c, struct inode *ino, const char *name, void *buf,
		     size_t n)
{
	int r = xattr_permission(c, ino, name, MAY_READ);

	if (r < 0)
		return r;
	if (!ino->ops || !ino->ops->getxattr)
		return -EOPNOTSUPP;
	return ino->ops->getxattr(ino, name, buf, n);
}

ssize_t vfs_listxattr(struct inode *ino, char *buf, size_t n)
{
	if (!ino->ops || !ino->ops->listxattr)
		return 0; /* no attributes */
	return ino->ops->listxattr(ino, buf, n);
}

int vfs_setxattr(const struct path *p, struct inode *ino, const struct cred *c, const char *name,
		 const void *val, size_t n, int flags)
{
	int r;

	if (p->mnt && (p->mnt->flags & MNT_RDONLY))
		return -EROFS;
	if ((r = xattr_permission(c, ino, name, MAY_WRITE)) < 0)
		return r;
	if (!ino->ops || !ino->ops->setxattr)
		return -EOPNOTSUPP;
	if ((r = ino->ops->setxattr(ino, name, val, n, flags)) == 0)
		fsnotify_xattr(p->dentry, ino);
	return r;
}

int vfs_removexattr(const struct path *p, struct inode *ino, const struct cred *c,
		    const char *name)
{
	int r;

	if (p->mnt && (p->mnt->flags & MNT_RDONLY))
		return -EROFS;
	if ((r = xattr_permission(c, ino, name, MAY_WRITE)) < 0)
		return r;
	if (!ino->ops || !ino->ops->removexattr)
		return -EOPNOTSUPP;
	if ((r = ino->ops->removexattr(ino, name)) == 0)
		fsnotify_xattr(p->dentry, ino);
	return r;
}
