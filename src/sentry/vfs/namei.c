/*
 * Namespace operations: mkdir, mknod, symlink, link, unlink, rmdir.  Each resolves the
 * parent directory, takes its inode->lock (so changes of one directory are serialised and
 * the dentry cache is updated in step with the filesystem), checks what Linux checks in the
 * order Linux checks it, calls the filesystem and updates the cache.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/kernel.h"
#include "namei_internal.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFCHR_ 0020000
#define S_IFBLK_ 0060000
#define S_IFIFO_ 0010000
#define S_IFSOCK_ 0140000
#define S_ISUID_ 04000
#define S_ISGID_ 02000
#define S_ISVTX_ 01000
#define CAP_FOWNER_ 3
#define CAP_MKNOD_ 27

bool vfs_owner_or_capable(const struct cred *c, const struct inode *ino)
{
	return !c || c->fsuid == ino->uid || cred_capable(c, CAP_FOWNER_);
}

bool namei_is_dir(const struct inode *ino)
{
	return ino && (ino->mode & S_IFMT_) == S_IFDIR_;
}

bool namei_dots(const char *last)
{
	return !strcmp(last, ".") || !strcmp(last, "..");
}

int namei_parent_lock(const struct walk_ctx *w, const char *name, struct nameop *op)
{
	int r = vfs_walk_parent(w, name, 0, &op->dir, op->last, &op->trailing);

	if (r < 0)
		return r;
	op->di = op->dir.dentry->inode;
	pthread_mutex_lock(&op->di->lock);
	return 0;
}

void namei_parent_unlock(struct nameop *op)
{
	pthread_mutex_unlock(&op->di->lock);
	path_put(&op->dir);
}

struct dentry *namei_lookup_last(struct dentry *dir, const char *last)
{
	struct dentry *d = vfs_lookup_child(dir, last);

	if (IS_ERR(d))
		return PTR_ERR(d) == -ENOENT ? NULL : d;
	if (!d->inode) {
		dentry_put(d);
		return NULL;
	}
	return d;
}

/* Linux's check_sticky: in a sticky directory only the owners (or CAP_FOWNER) remove. */
static bool sticky_denies(const struct cred *c, const struct inode *dir, const struct inode *ino)
{
	if (!c || !(dir->mode & S_ISVTX_))
		return false;
	return c->fsuid != ino->uid && c->fsuid != dir->uid && !cred_capable(c, CAP_FOWNER_);
}

int namei_may_delete(const struct cred *c, struct inode *dir, struct dentry *victim, bool isdir)
{
	int r = vfs_permission(c, dir, MAY_WRITE | MAY_EXEC);

	if (r < 0)
		return r;
	if (sticky_denies(c, dir, victim->inode))
		return -EPERM;
	if (isdir && !namei_is_dir(victim->inode))
		return -ENOTDIR;
	if (!isdir && namei_is_dir(victim->inode))
		return -EISDIR;
	if (victim->mounted_on)
		return -EBUSY;
	return 0;
}

int namei_may_create(const struct cred *c, const struct nameop *op)
{
	if (op->dir.dentry->dead)
		return -ENOENT; /* the directory was removed */
	return vfs_permission(c, op->di, MAY_WRITE | MAY_EXEC);
}

/* What a creation calls on the filesystem (dir's inode->lock held). */
struct create_args {
	uint32_t mode;
	uint64_t dev;
	const char *target;
};

static struct inode *fs_create(struct inode *dir, const char *name, const struct create_args *a,
			       const struct cred *c)
{
	const struct inode_ops *ops = dir->ops;

	switch (a->mode & S_IFMT_) {
	case S_IFDIR_:
		return ops->mkdir ? ops->mkdir(dir, name, a->mode, c) : ERR_PTR(-EPERM);
	case 0120000: /* S_IFLNK */
		return ops->symlink ? ops->symlink(dir, name, a->target, c) : ERR_PTR(-EPERM);
	case S_IFREG_:
		if (ops->create)
			return ops->create(dir, name, a->mode, c);
		return ops->mknod ? ops->mknod(dir, name, a->mode, 0, c) : ERR_PTR(-EPERM);
	default:
		return ops->mknod ? ops->mknod(dir, name, a->mode, a->dev, c) : ERR_PTR(-EPERM);
	}
}

/* Linux's filename_create + vfs_<op>: EEXIST, then ENOENT for a trailing slash, EROFS,
 * EACCES, then the filesystem. */
static int do_create(const struct walk_ctx *w, const char *name, const struct create_args *a)
{
	bool want_dir = (a->mode & S_IFMT_) == S_IFDIR_;
	struct nameop op;
	struct dentry *d;
	struct inode *ino;
	int r;

	if ((r = namei_parent_lock(w, name, &op)) < 0)
		return r;
	if (namei_dots(op.last)) {
		r = -EEXIST;
		goto out;
	}
	d = namei_lookup_last(op.dir.dentry, op.last);
	if (d) {
		r = IS_ERR(d) ? (int)PTR_ERR(d) : -EEXIST;
		if (!IS_ERR(d))
			dentry_put(d);
		goto out;
	}
	if (op.trailing && !want_dir)
		r = -ENOENT;
	else if (op.dir.mnt->flags & MNT_RDONLY)
		r = -EROFS;
	else
		r = namei_may_create(w->cred, &op);
	if (r < 0)
		goto out;
	ino = fs_create(op.di, op.last, a, w->cred);
	if (IS_ERR(ino)) {
		r = (int)PTR_ERR(ino);
		goto out;
	}
	fsnotify_create(op.di, op.last, ino);
	d = vfs_dentry_add(op.dir.dentry, op.last, ino);
	if (IS_ERR(d))
		r = (int)PTR_ERR(d);
	else
		dentry_put(d);
out:
	namei_parent_unlock(&op);
	return r;
}

int vfs_mkdir(const struct walk_ctx *w, const char *name, uint32_t mode)
{
	struct create_args a = {.mode = S_IFDIR_ | (mode & 07777)};

	return do_create(w, name, &a);
}

int vfs_mknod(const struct walk_ctx *w, const char *name, uint32_t mode, uint64_t dev)
{
	struct create_args a = {.mode = mode, .dev = dev};

	switch (mode & S_IFMT_) {
	case 0:
		a.mode |= S_IFREG_;
		a.dev = 0;
		break;
	case S_IFREG_:
	case S_IFIFO_:
	case S_IFSOCK_:
		a.dev = 0;
		break;
	case S_IFCHR_:
	case S_IFBLK_:
		if (w->cred && !cred_capable(w->cred, CAP_MKNOD_))
			return -EPERM;
		break;
	case S_IFDIR_:
		return -EPERM;
	default:
		return -EINVAL;
	}
	return do_create(w, name, &a);
}

int vfs_symlink(const struct walk_ctx *w, const char *target, const char *name)
{
	struct create_args a = {.mode = 0120777, .target = target};

	if (!*target)
		return -ENOENT;
	return do_create(w, name, &a);
}

/* Linux's may_linkat with protected_hardlinks (the default of every distribution). */
static int may_link_to(const struct cred *c, struct inode *ino)
{
	uint32_t m = ino->mode;

	if (vfs_owner_or_capable(c, ino))
		return 0;
	if ((m & S_IFMT_) != S_IFREG_ || (m & S_ISUID_) || ((m & S_ISGID_) && (m & 010)))
		return -EPERM;
	return vfs_permission(c, ino, MAY_READ | MAY_WRITE) < 0 ? -EPERM : 0;
}

int vfs_link(const struct path *old, const struct walk_ctx *nw, const char *name)
{
	struct inode *src = old->dentry->inode;
	struct nameop op;
	struct dentry *d;
	int r;

	if ((r = namei_parent_lock(nw, name, &op)) < 0)
		return r;
	if (namei_dots(op.last)) {
		r = -EEXIST;
		goto out;
	}
	d = namei_lookup_last(op.dir.dentry, op.last);
	if (d) {
		r = IS_ERR(d) ? (int)PTR_ERR(d) : -EEXIST;
		if (!IS_ERR(d))
			dentry_put(d);
		goto out;
	}
	if (op.trailing)
		r = -ENOENT;
	else if (op.dir.mnt->flags & MNT_RDONLY)
		r = -EROFS;
	else if (op.dir.mnt != old->mnt)
		r = -EXDEV;
	else if ((r = namei_may_create(nw->cred, &op)) == 0 && namei_is_dir(src))
		r = -EPERM;
	else if (r == 0)
		r = may_link_to(nw->cred, src);
	if (r < 0)
		goto out;
	if (!op.di->ops->link) {
		r = -EPERM;
		goto out;
	}
	if ((r = op.di->ops->link(op.di, op.last, src)) < 0)
		goto out;
	fsnotify_link(op.di, op.last, src);
	inode_get(src);
	d = vfs_dentry_add(op.dir.dentry, op.last, src);
	if (IS_ERR(d))
		r = (int)PTR_ERR(d);
	else
		dentry_put(d);
out:
	namei_parent_unlock(&op);
	return r;
}

/* Linux's do_unlinkat / do_rmdir: EROFS comes before the lookup. */
static int do_remove(const struct walk_ctx *w, const char *name, bool isdir)
{
	struct nameop op;
	struct dentry *d;
	struct inode *vi;
	int r;

	if ((r = namei_parent_lock(w, name, &op)) < 0)
		return r;
	if (namei_dots(op.last)) {
		if (!isdir)
			r = -EISDIR;
		else if (!strcmp(op.last, ".."))
			r = -ENOTEMPTY;
		else
			r = name[strspn(name, "/")] ? -EINVAL : -EBUSY; /* "." or "/" */
		goto out;
	}
	if (op.dir.mnt->flags & MNT_RDONLY) {
		r = -EROFS;
		goto out;
	}
	d = namei_lookup_last(op.dir.dentry, op.last);
	if (!d || IS_ERR(d)) {
		r = d ? (int)PTR_ERR(d) : -ENOENT;
		goto out;
	}
	vi = d->inode;
	if (!isdir && op.trailing)
		r = namei_is_dir(vi) ? -EISDIR : -ENOTDIR;
	else
		r = namei_may_delete(w->cred, op.di, d, isdir);
	if (r == 0 && !(isdir ? op.di->ops->rmdir : op.di->ops->unlink))
		r = -EPERM;
	if (r == 0) {
		if (isdir)
			pthread_mutex_lock(&vi->lock); /* no creation in it meanwhile */
		r = isdir ? op.di->ops->rmdir(op.di, op.last, vi) : op.di->ops->unlink(op.di, op.last, vi);
		if (r == 0) {
			vfs_dentry_drop(d);
			fsnotify_remove(op.di, op.last, d);
		}
		if (isdir)
			pthread_mutex_unlock(&vi->lock);
	}
	dentry_put(d);
out:
	namei_parent_unlock(&op);
	return r;
}

int vfs_unlink(const struct walk_ctx *w, const char *name)
{
	return do_remove(w, name, false);
}

int vfs_rmdir(const struct walk_ctx *w, const char *name)
{
	return do_remove(w, name, true);
}
