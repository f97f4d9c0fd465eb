/*
 * tmpfs extended attributes: user.*, trusted.* and security.* names in a per-inode list
 * (the vfs checks who may touch which namespace).  Deviation: system.* (POSIX ACLs) is not
 * supported (EOPNOTSUPP).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tmpfs_internal.h"

#define XATTR_CREATE_ 1
#define XATTR_REPLACE_ 2
#define XATTR_BYTES_MAX (1u << 20) /* per inode, so a guest cannot grow the sentry unbounded */

static bool supported(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strncmp(name, "security.", 9);
}

static struct tmpfs_xattr **find(struct tmpfs_inode *ti, const char *name)
{
	struct tmpfs_xattr **pp = &ti->xattrs;

	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	return pp;
}

ssize_t tmpfs_getxattr(struct inode *ino, const char *name, void *buf, size_t n)
{
	struct tmpfs_inode *ti = TI(ino);
	struct tmpfs_xattr *x;
	ssize_t r;

	if (!supported(name))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&ti->lock);
	x = *find(ti, name);
	if (!x)
		r = -ENODATA;
	else if (n == 0)
		r = (ssize_t)x->len;
	else if (n < x->len)
		r = -ERANGE;
	else {
		memcpy(buf, x->val, x->len);
		r = (ssize_t)x->len;
	}
	pthread_mutex_unlock(&ti->lock);
	return r;
}

ssize_t tmpfs_listxattr(struct inode *ino, char *buf, size_t n)
{
	struct tmpfs_inode *ti = TI(ino);
	size_t total = 0;

	pthread_mutex_lock(&ti->lock);
	for (struct tmpfs_xattr *x = ti->xattrs; x; x = x->next) {
		size_t len = strlen(x->name) + 1;

		if (n && total + len > n) {
			pthread_mutex_unlock(&ti->lock);
			return -ERANGE;
		}
		if (n)
			memcpy(buf + total, x->name, len);
		total += len;
	}
	pthread_mutex_unlock(&ti->lock);
	return (ssize_t)total;
}

static struct tmpfs_xattr *xattr_new(const char *name, const void *val, size_t n)
{
	struct tmpfs_xattr *x = malloc(sizeof(*x) + n);

	if (!x)
		return NULL;
	if (!(x->name = strdup(name))) {
		free(x);
		return NULL;
	}
	memcpy(x->val, val, n);
	x->len = n;
	x->next = NULL;
	return x;
}

static size_t cost(const struct tmpfs_xattr *x)
{
	return strlen(x->name) + x->len;
}

int tmpfs_setxattr(struct inode *ino, const char *name, const void *val, size_t n, int flags)
{
	struct tmpfs_inode *ti = TI(ino);
	struct tmpfs_xattr **pp, *x, *old;
	int r = 0;

	if (!supported(name))
		return -EOPNOTSUPP;
	if (!(x = xattr_new(name, val, n)))
		return -ENOMEM;
	pthread_mutex_lock(&ti->lock);
	pp = find(ti, name);
	old = *pp;
	if (old && (flags & XATTR_CREATE_))
		r = -EEXIST;
	else if (!old && (flags & XATTR_REPLACE_))
		r = -ENODATA;
	else if (ti->xattr_bytes - (old ? cost(old) : 0) + cost(x) > XATTR_BYTES_MAX)
		r = -ENOSPC;
	if (r == 0) {
		ti->xattr_bytes = ti->xattr_bytes - (old ? cost(old) : 0) + cost(x);
		x->next = old ? old->next : NULL;
		*pp = x;
		tmpfs_touch(ino, 0);
	}
	pthread_mutex_unlock(&ti->lock);
	if (r < 0)
		old = x;
	if (old) {
		free(old->name);
		free(old);
	}
	return r;
}

int tmpfs_removexattr(struct inode *ino, const char *name)
{
	struct tmpfs_inode *ti = TI(ino);
	struct tmpfs_xattr **pp, *x;

	if (!supported(name))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&ti->lock);
	pp = find(ti, name);
	x = *pp;
	if (x) {
		*pp = x->next;
		ti->xattr_bytes -= cost(x);
		tmpfs_touch(ino, 0);
	}
	pthread_mutex_unlock(&ti->lock);
	if (!x)
		return -ENODATA;
	free(x->name);
	free(x);
	return 0;
}

void tmpfs_xattrs_free(struct tmpfs_inode *ti)
{
	for (struct tmpfs_xattr *x = ti->xattrs, *n; x; x = n) {
		n = x->next;
		free(x->name);
		free(x);
	}
	ti->xattrs = NULL;
}
