/*
 * rename(2) and renameat2(2): both parents locked under vfs->rename_lock (an ancestor
 * before its descendant), Linux's checks in Linux's order, then the filesystem, then the
 * dentry cache moves the dentries themselves, so processes inside a moved directory keep
 * seeing the right `..` and getcwd.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/kernel.h"
#include "namei_internal.h"

struct rename_ctx {
	struct path od, nd;
	char olast[VFS_NAME_MAX + 1], nlast[VFS_NAME_MAX + 1];
	bool otrail, ntrail;
	struct inode *oi, *ni;         /* the two directories */
	struct dentry *old, *victim;   /* victim may be NULL */
	unsigned flags;
};

/* Is anc d or one of its ancestors?  (rename_lock held: the tree cannot change shape.) */
static bool is_ancestor(const struct dentry *anc, const struct dentry *d)
{
	for (;;) {
		if (d == anc)
			return true;
		if (d->parent == d)
			return false;
		d = d->parent;
	}
}

static void lock_dirs(struct rename_ctx *c)
{
	struct inode *first = c->oi, *second = c->ni;

	if (first == second) {
		pthread_mutex_lock(&first->lock);
		return;
	}
	if (is_ancestor(c->nd.dentry, c->od.dentry) ||
	    (!is_ancestor(c->od.dentry, c->nd.dentry) && second < first)) {
		first = c->ni;
		second = c->oi;
	}
	pthread_mutex_lock(&first->lock);
	pthread_mutex_lock(&second->lock);
}

static void unlock_dirs(struct rename_ctx *c)
{
	pthread_mutex_unlock(&c->oi->lock);
	if (c->ni != c->oi)
		pthread_mutex_unlock(&c->ni->lock);
}

/* Resolves both parents; Linux's checks before any lock: EXDEV, EBUSY, EROFS. */
static int resolve(struct rename_ctx *c, const struct walk_ctx *ow, const char *oname,
		   const struct walk_ctx *nw, const char *nname)
{
	int r = vfs_walk_parent(ow, oname, 0, &c->od, c->olast, &c->otrail);

	if (r < 0)
		return r;
	if ((r = vfs_walk_parent(nw, nname, 0, &c->nd, c->nlast, &c->ntrail)) < 0)
		return r;
	c->oi = c->od.dentry->inode;
	c->ni = c->nd.dentry->inode;
	if (c->od.mnt != c->nd.mnt)
		return -EXDEV;
	if (namei_dots(c->olast))
		return -EBUSY;
	if (namei_dots(c->nlast))
		return (c->flags & VFS_RENAME_NOREPLACE) ? -EEXIST : -EBUSY;
	if (c->od.mnt->flags & MNT_RDONLY)
		return -EROFS;
	return 0;
}

/* Existence, trailing slashes and loops (dir locks held). */
static int check_names(struct rename_ctx *c)
{
	bool exchange = c->flags & VFS_RENAME_EXCHANGE;
	struct dentry *d;

	d = namei_lookup_last(c->od.dentry, c->olast);
	if (!d || IS_ERR(d))
		return d ? (int)PTR_ERR(d) : -ENOENT;
	c->old = d;
	d = namei_lookup_last(c->nd.dentry, c->nlast);
	if (IS_ERR(d))
		return (int)PTR_ERR(d);
	c->victim = d;
	if (!d && exchange)
		return -ENOENT;
	if (d && (c->flags & VFS_RENAME_NOREPLACE))
		return -EEXIST;
	if (!namei_is_dir(c->old->inode) && (c->otrail || (!exchange && c->ntrail)))
		return -ENOTDIR;
	if (exchange && c->ntrail && !namei_is_dir(d->inode))
		return -ENOTDIR;
	if (is_ancestor(c->old, c->nd.dentry))
		return -EINVAL; /* into itself */
	if (d && is_ancestor(d, c->od.dentry))
		return exchange ? -EINVAL : -ENOTEMPTY;
	return 0;
}

/* Linux's vfs_rename permission checks. */
static int check_perms(struct rename_ctx *c, const struct cred *cred)
{
	bool exchange = c->flags & VFS_RENAME_EXCHANGE;
	bool odir = namei_is_dir(c->old->inode), ndir = c->victim && namei_is_dir(c->victim->inode);
	int r = namei_may_delete(cred, c->oi, c->old, odir);

	if (r < 0)
		return r;
	if (!c->victim) {
		struct nameop op = {.dir = c->nd, .di = c->ni};

		r = namei_may_create(cred, &op);
	} else {
		r = namei_may_delete(cred, c->ni, c->victim, exchange ? ndir : odir);
	}
	if (r < 0)
		return r;
	/* A directory changing parents rewrites its "..". */
	if (c->oi != c->ni && odir && (r = vfs_permission(cred, c->old->inode, MAY_WRITE)) < 0)
		return r;
	if (c->oi != c->ni && exchange && ndir)
		r = vfs_permission(cred, c->victim->inode, MAY_WRITE);
	return r;
}

static int do_fs_rename(struct rename_ctx *c)
{
	struct inode *vi = c->victim ? c->victim->inode : NULL;
	bool lock_victim = vi && namei_is_dir(vi) && !(c->flags & VFS_RENAME_EXCHANGE);
	int r;

	if (!c->oi->ops->rename)
		return -EPERM;
	if (lock_victim)
		pthread_mutex_lock(&vi->lock); /* nothing is created in a directory being replaced */
	r = c->oi->ops->rename(c->oi, c->olast, c->ni, c->nlast, c->flags);
	if (r == 0) {
		if (c->flags & VFS_RENAME_EXCHANGE) {
			vfs_dentry_exchange(c->old, c->victim);
		} else {
			if (c->victim)
				vfs_dentry_drop(c->victim);
			vfs_dentry_move(c->old, c->nd.dentry, c->nlast);
		}
		fsnotify_rename(c->oi, c->olast, c->ni, c->nlast, c->old, c->victim,
				c->flags & VFS_RENAME_EXCHANGE);
	}
	if (lock_victim)
		pthread_mutex_unlock(&vi->lock);
	return r;
}

int vfs_rename(const struct walk_ctx *ow, const char *oname, const struct walk_ctx *nw,
	       const char *nname, unsigned flags)
{
	struct rename_ctx c = {.flags = flags};
	struct vfs *vfs;
	int r;

	if (flags & ~(VFS_RENAME_NOREPLACE | VFS_RENAME_EXCHANGE | VFS_RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & VFS_RENAME_EXCHANGE) && (flags & (VFS_RENAME_NOREPLACE | VFS_RENAME_WHITEOUT)))
		return -EINVAL;
	if (flags & VFS_RENAME_WHITEOUT)
		return -EOPNOTSUPP;
	r = resolve(&c, ow, oname, nw, nname);
	if (r < 0)
		goto out;
	vfs = c.od.mnt->sb->vfs;
	pthread_mutex_lock(&vfs->rename_lock);
	lock_dirs(&c);
	r = check_names(&c);
	if (r == 0 && c.victim && c.victim->inode == c.old->inode)
		r = 1; /* the same file: nothing to do */
	if (r == 0)
		r = check_perms(&c, ow->cred);
	if (r == 0)
		r = do_fs_rename(&c);
	unlock_dirs(&c);
	pthread_mutex_unlock(&vfs->rename_lock);
	if (r == 1)
		r = 0;
out:
	if (c.old && !IS_ERR(c.old))
		dentry_put(c.old);
	if (c.victim && !IS_ERR(c.victim))
		dentry_put(c.victim);
	path_put(&c.od);
	path_put(&c.nd);
	return r;
}
