/* open(2) semantics: resolution, O_CREAT/O_EXCL, access checks, truncation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

#define O_ACCMODE_ 3
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define O_RDWR_ 2
#define O_CREAT_ 0100
#define O_EXCL_ 0200
#define O_NOCTTY_ 0400
#define O_TRUNC_ 01000
#define O_DIRECTORY_ 0200000
#define O_NOFOLLOW_ 0400000
#define O_CLOEXEC_ 02000000
#define O_PATH_ 010000000
#define O_TMPFILE_ 020200000
#define O_TMPFILE_BIT_ 020000000
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFLNK_ 0120000
#define S_IFREG_ 0100000

static int access_mask(int flags)
{
	switch (flags & O_ACCMODE_) {
	case O_RDONLY_:
		return MAY_READ;
	case O_WRONLY_:
		return MAY_WRITE;
	default:
		return MAY_READ | MAY_WRITE;
	}
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE_) != O_RDONLY_ || (flags & O_TRUNC_);
}

int vfs_open_path(const struct path *p, int flags, const struct cred *c, struct task *t,
		  struct file **out)
{
	struct inode *ino = p->dentry->inode;
	uint32_t type = ino->mode & S_IFMT_;
	bool truncated = false;
	struct file *f;
	int r;

	if (flags & O_PATH_) {
		f = file_new(p, ino, NULL, (unsigned)flags & (O_PATH_ | O_DIRECTORY_ | O_NOFOLLOW_));
		if (IS_ERR(f))
			return (int)PTR_ERR(f);
		*out = f;
		return 0;
	}
	if ((flags & O_DIRECTORY_) && type != S_IFDIR_)
		return -ENOTDIR;
	if (type == S_IFLNK_)
		return -ELOOP;
	if (type == S_IFDIR_ && wants_write(flags))
		return -EISDIR;
	if ((r = vfs_permission(c, ino, access_mask(flags))) < 0)
		return r;
	if ((type == 0020000 || type == 0060000) && (p->mnt->flags & MNT_NODEV))
		return -EACCES; /* device nodes on a nodev mount */
	if (wants_write(flags) && type != 0020000 && type != 0010000 && type != 0140000 &&
	    (p->mnt->flags & MNT_RDONLY))
		return -EROFS;
	if ((flags & O_TRUNC_) && type == S_IFREG_ && ino->ops->setattr) {
		struct vfs_attr a = {.valid = ATTR_SIZE, .size = 0};

		if ((r = ino->ops->setattr(ino, &a)) < 0)
			return r;
		truncated = true;
	}
	f = file_new(p, ino, NULL, (unsigned)flags & ~(O_CREAT_ | O_EXCL_ | O_NOCTTY_ | O_TRUNC_ | O_CLOEXEC_));
	if (IS_ERR(f))
		return (int)PTR_ERR(f);
	if (ino->ops->open && (r = ino->ops->open(ino, f, flags, t)) < 0) {
		f->ops = NULL;
		f->flags |= O_PATH_; /* never opened: no close event */
		file_put(f);
		return r;
	}
	/* Linux reports the open, then the truncation. */
	fsnotify_open(f);
	if (truncated)
		fsnotify_change(p->dentry, ino, ATTR_SIZE);
	*out = f;
	return 0;
}

static int open_create(const struct walk_ctx *w, const char *name, int flags, uint32_t mode,
		       struct path *res, bool *created, int depth);

/* O_CREAT on a symlink creates what it points to (its parent must exist), as Linux does. */
static int create_through_link(const struct walk_ctx *w, const struct path *dir,
			       struct inode *link, int flags, uint32_t mode, struct path *res,
			       bool *created, int depth)
{
	struct walk_ctx at = *w;
	char *target;
	ssize_t n;
	int r;

	if (link->ops->get_link || !link->ops->readlink)
		return 1; /* magic links (procfs) resolve to what exists */
	if (depth >= SYMLINK_MAX_FOLLOW)
		return -ELOOP;
	if (!(target = malloc(4097)))
		return -ENOMEM;
	n = link->ops->readlink(link, target, 4096);
	if (n <= 0) {
		free(target);
		return n < 0 ? (int)n : -ENOENT;
	}
	target[n] = 0;
	at.start = *dir;
	r = open_create(&at, target, flags, mode, res, created, depth + 1);
	free(target);
	return r;
}

/* O_CREAT: find or create the last component under its parent directory.  Returns 0 with
 * *res when it created the file, 1 when the name exists (the caller resolves it). */
static int open_create(const struct walk_ctx *w, const char *name, int flags, uint32_t mode,
		       struct path *res, bool *created, int depth)
{
	char last[VFS_NAME_MAX + 1];
	struct path dir;
	struct dentry *d;
	struct inode *di, *ino;
	bool trailing;
	int r;

	if ((r = vfs_walk_parent(w, name, 0, &dir, last, &trailing)) < 0)
		return r;
	di = dir.dentry->inode;
	if (!strcmp(last, ".") || !strcmp(last, "..") || trailing) {
		path_put(&dir);
		return -EISDIR;
	}
	pthread_mutex_lock(&di->lock); /* serialises creators in this directory */
	d = vfs_lookup_child(dir.dentry, last);
	if (!IS_ERR(d) && d->inode) {
		pthread_mutex_unlock(&di->lock);
		if (flags & O_EXCL_)
			r = -EEXIST;
		else if ((d->inode->mode & S_IFMT_) == S_IFLNK_ && !(flags & O_NOFOLLOW_))
			r = create_through_link(w, &dir, d->inode, flags, mode, res, created, depth);
		else
			r = 1; /* exists: resolve normally */
		dentry_put(d);
		path_put(&dir);
		return r;
	}
	if (!IS_ERR(d))
		dentry_put(d);
	else if (PTR_ERR(d) != -ENOENT) {
		r = (int)PTR_ERR(d);
		goto out;
	}
	if (dir.mnt->flags & MNT_RDONLY) {
		r = -EROFS;
		goto out;
	}
	if (dir.dentry->dead) {
		r = -ENOENT; /* the directory was removed */
		goto out;
	}
	if ((r = vfs_permission(w->cred, di, MAY_WRITE | MAY_EXEC)) < 0)
		goto out;
	if (!di->ops->create) {
		r = -EACCES;
		goto out;
	}
	ino = di->ops->create(di, last, S_IFREG_ | (mode & 07777), w->cred);
	if (IS_ERR(ino)) {
		r = (int)PTR_ERR(ino);
		goto out;
	}
	fsnotify_create(di, last, ino);
	d = vfs_dentry_add(dir.dentry, last, ino);
	if (IS_ERR(d)) {
		r = (int)PTR_ERR(d);
		goto out;
	}
	res->mnt = dir.mnt;
	mount_get(res->mnt);
	res->dentry = d;
	*created = true;
	r = 0;
out:
	pthread_mutex_unlock(&di->lock);
	path_put(&dir);
	return r;
}

/* O_TMPFILE: an unnamed file in the directory `name`, named "#<ino>" for /proc. */
static int open_tmpfile(const struct walk_ctx *w, const char *name, int flags, uint32_t mode,
			struct file **out)
{
	struct path dir, p;
	struct inode *di, *ino;
	char nm[32];
	int r;

	if ((flags & (O_TMPFILE_ | O_CREAT_ | O_PATH_)) != O_TMPFILE_ ||
	    (flags & O_ACCMODE_) == O_RDONLY_)
		return -EINVAL;
	if ((r = vfs_walk(w, name, LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &dir)) < 0)
		return r;
	di = dir.dentry->inode;
	if ((r = vfs_permission(w->cred, di, MAY_WRITE | MAY_EXEC)) < 0)
		goto out;
	r = (dir.mnt->flags & MNT_RDONLY) ? -EROFS : !di->ops->tmpfile ? -EOPNOTSUPP : 0;
	if (r < 0)
		goto out;
	ino = di->ops->tmpfile(di, mode & 07777, !(flags & O_EXCL_), w->cred);
	if (IS_ERR(ino)) {
		r = (int)PTR_ERR(ino);
		goto out;
	}
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)ino->ino);
	p.dentry = vfs_dentry_new_unlinked(dir.dentry, nm, ino);
	if (IS_ERR(p.dentry)) {
		inode_put(ino);
		r = (int)PTR_ERR(p.dentry);
		goto out;
	}
	p.mnt = dir.mnt;
	mount_get(p.mnt);
	r = vfs_open_path(&p, flags & ~(O_TMPFILE_ | O_EXCL_), NULL, w->task, out);
	path_put(&p);
out:
	path_put(&dir);
	return r;
}

int vfs_open(const struct walk_ctx *w, const char *name, int flags, uint32_t mode,
	     struct file **out)
{
	unsigned lf = (flags & O_NOFOLLOW_) ? 0 : LOOKUP_FOLLOW;
	bool created = false;
	struct path p;
	int r;

	if (flags & O_TMPFILE_BIT_)
		return open_tmpfile(w, name, flags, mode, out);
	if (flags & O_DIRECTORY_)
		lf |= LOOKUP_DIRECTORY;
	if (flags & O_CREAT_) {
		r = open_create(w, name, flags, mode, &p, &created, 0);
		if (r < 0)
			return r;
		if (r == 1)
			r = vfs_walk(w, name, lf, &p);
	} else {
		r = vfs_walk(w, name, lf, &p);
	}
	if (r < 0)
		return r;
	if ((flags & O_NOFOLLOW_) && !(flags & O_PATH_) &&
	    (p.dentry->inode->mode & S_IFMT_) == S_IFLNK_) {
		path_put(&p);
		return -ELOOP;
	}
	/* A file we just created may be opened for writing whatever its mode says. */
	r = vfs_open_path(&p, created ? (flags & ~O_TRUNC_) : flags, created ? NULL : w->cred,
			  w->task, out);
	path_put(&p);
	return r;
}
