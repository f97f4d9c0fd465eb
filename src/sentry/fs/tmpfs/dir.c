/*
 * tmpfs directories: a hash of names for lookups and a list in creation order whose
 * cookies are the getdents offsets, so a reader's position survives concurrent changes.
 * Each entry holds a reference to its inode.  The vfs serialises namespace changes of a
 * directory with its inode->lock; ti->lock protects the entries against lookups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "tmpfs_internal.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000
#define COOKIE_FIRST 3 /* 1 and 2 follow "." and ".." */
#define BOGO_DIRENT_SIZE 20 /* a directory's st_size: this much per entry, as Linux's tmpfs */

static bool is_dir(const struct inode *ino)
{
	return (ino->mode & S_IFMT_) == S_IFDIR_;
}

void tmpfs_dir_init(struct tmpfs_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->next_cookie = COOKIE_FIRST;
}

void tmpfs_dir_destroy(struct tmpfs_dir *d)
{
	for (struct tmpfs_dirent *e = d->first, *n; e; e = n) {
		n = e->next;
		inode_put(e->inode);
		free(e);
	}
	free(d->buckets);
	memset(d, 0, sizeof(*d));
}

static size_t name_hash(const char *s, size_t nb)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return (size_t)h & (nb - 1);
}

static struct tmpfs_dirent *dir_find(const struct tmpfs_dir *d, const char *name)
{
	if (!d->nbuckets)
		return NULL;
	for (struct tmpfs_dirent *e = d->buckets[name_hash(name, d->nbuckets)]; e; e = e->hnext)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

static int dir_grow(struct tmpfs_dir *d)
{
	size_t nb = d->nbuckets ? d->nbuckets * 2 : 16;
	struct tmpfs_dirent **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (struct tmpfs_dirent *e = d->first; e; e = e->next) {
		size_t h = name_hash(e->name, nb);

		e->hnext = b[h];
		b[h] = e;
	}
	free(d->buckets);
	d->buckets = b;
	d->nbuckets = nb;
	return 0;
}

/* Adds name -> ino (taking a new inode reference) at the end of the cookie order. */
static int dir_insert(struct inode *dir, const char *name, struct inode *ino)
{
	struct tmpfs_dir *d = &TI(dir)->dir;
	size_t len = strlen(name), h;
	struct tmpfs_dirent *e;

	if (d->n + 1 > d->nbuckets && dir_grow(d) < 0)
		return -ENOMEM;
	if (!(e = malloc(sizeof(*e) + len + 1)))
		return -ENOMEM;
	memcpy(e->name, name, len + 1);
	e->inode = ino;
	inode_get(ino);
	e->cookie = d->next_cookie++;
	e->next = NULL;
	e->prev = d->last;
	if (d->last)
		d->last->next = e;
	else
		d->first = e;
	d->last = e;
	h = name_hash(name, d->nbuckets);
	e->hnext = d->buckets[h];
	d->buckets[h] = e;
	d->n++;
	dir->size += BOGO_DIRENT_SIZE;
	return 0;
}

/* Unlinks e and frees it; returns its inode reference for the caller to drop unlocked. */
static struct inode *dir_remove(struct inode *dir, struct tmpfs_dirent *e)
{
	struct tmpfs_dir *d = &TI(dir)->dir;
	struct inode *ino = e->inode;

	for (struct tmpfs_dirent **pp = &d->buckets[name_hash(e->name, d->nbuckets)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	if (e->prev)
		e->prev->next = e->next;
	else
		d->first = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		d->last = e->prev;
	d->n--;
	dir->size -= BOGO_DIRENT_SIZE;
	free(e);
	return ino;
}

struct inode *tmpfs_lookup(struct inode *dir, const char *name)
{
	struct tmpfs_inode *ti = TI(dir);
	struct tmpfs_dirent *e;
	struct inode *ino = ERR_PTR(-ENOENT);

	if (!is_dir(dir))
		return ERR_PTR(-ENOTDIR);
	pthread_mutex_lock(&ti->lock);
	if ((e = dir_find(&ti->dir, name))) {
		ino = e->inode;
		inode_get(ino);
	}
	pthread_mutex_unlock(&ti->lock);
	return ino;
}

/* Links a new inode into dir (the vfs holds dir's inode->lock). */
static struct inode *add_new(struct inode *dir, const char *name, uint32_t mode, uint64_t dev,
			     const char *target, const struct cred *c)
{
	struct tmpfs_inode *dti = TI(dir);
	struct inode *ino;
	int r;

	ino = tmpfs_new_inode(dir->sb, dir, mode, c);
	if (IS_ERR(ino))
		return ino;
	ino->rdev = dev;
	if (target) {
		if (!(TI(ino)->target = strdup(target))) {
			inode_put(ino);
			return ERR_PTR(-ENOMEM);
		}
		ino->size = strlen(target);
	}
	pthread_mutex_lock(&dti->lock);
	r = dir_find(&dti->dir, name) ? -EEXIST : dir_insert(dir, name, ino);
	if (r == 0) {
		if (is_dir(ino))
			dir->nlink++;
		tmpfs_touch(dir, ATTR_MTIME);
	}
	pthread_mutex_unlock(&dti->lock);
	if (r < 0) {
		inode_put(ino);
		return ERR_PTR(r);
	}
	return ino;
}

struct inode *tmpfs_create(struct inode *dir, const char *name, uint32_t mode,
				  const struct cred *c)
{
	return add_new(dir, name, S_IFREG_ | (mode & 07777), 0, NULL, c);
}

struct inode *tmpfs_mkdir(struct inode *dir, const char *name, uint32_t mode,
				 const struct cred *c)
{
	return add_new(dir, name, S_IFDIR_ | (mode & 07777), 0, NULL, c);
}

struct inode *tmpfs_mknod(struct inode *dir, const char *name, uint32_t mode,
				 uint64_t dev, const struct cred *c)
{
	return add_new(dir, name, mode, dev, NULL, c);
}

struct inode *tmpfs_symlink(struct inode *dir, const char *name, const char *target,
				   const struct cred *c)
{
	return add_new(dir, name, S_IFLNK_ | 0777, 0, target, c);
}

struct inode *tmpfs_tmpfile(struct inode *dir, uint32_t mode, bool linkable,
			    const struct cred *c)
{
	struct inode *ino = tmpfs_new_inode(dir->sb, dir, S_IFREG_ | (mode & 07777), c);

	if (!IS_ERR(ino)) {
		ino->nlink = 0;
		TI(ino)->linkable = linkable;
	}
	return ino;
}

int tmpfs_link(struct inode *dir, const char *name, struct inode *target)
{
	struct tmpfs_inode *dti = TI(dir);
	int r;

	if (target->sb != dir->sb)
		return -EXDEV;
	pthread_mutex_lock(&dti->lock);
	if (target->nlink == 0 && !TI(target)->linkable)
		r = -ENOENT;
	else
		r = dir_find(&dti->dir, name) ? -EEXIST : dir_insert(dir, name, target);
	if (r == 0) {
		tmpfs_touch(dir, ATTR_MTIME);
		__atomic_add_fetch(&target->nlink, 1, __ATOMIC_RELAXED);
		TI(target)->linkable = false;
		tmpfs_touch(target, 0);
	}
	pthread_mutex_unlock(&dti->lock);
	return r;
}

int tmpfs_unlink(struct inode *dir, const char *name, struct inode *victim)
{
	struct tmpfs_inode *dti = TI(dir);
	struct tmpfs_dirent *e;
	struct inode *gone = NULL;

	pthread_mutex_lock(&dti->lock);
	e = dir_find(&dti->dir, name);
	if (e && !is_dir(e->inode)) {
		gone = dir_remove(dir, e);
		__atomic_sub_fetch(&gone->nlink, 1, __ATOMIC_RELAXED);
		tmpfs_touch(gone, 0);
		tmpfs_touch(dir, ATTR_MTIME);
	}
	pthread_mutex_unlock(&dti->lock);
	if (!gone)
		return e ? -EISDIR : -ENOENT;
	inode_put(gone);
	return 0;
}

static bool dir_empty(struct inode *ino)
{
	struct tmpfs_inode *ti = TI(ino);
	bool empty;

	pthread_mutex_lock(&ti->lock);
	empty = ti->dir.n == 0;
	pthread_mutex_unlock(&ti->lock);
	return empty;
}

int tmpfs_rmdir(struct inode *dir, const char *name, struct inode *victim)
{
	struct tmpfs_inode *dti = TI(dir);
	struct tmpfs_dirent *e;
	struct inode *gone = NULL;
	int r = 0;

	pthread_mutex_lock(&dti->lock);
	e = dir_find(&dti->dir, name);
	if (!e)
		r = -ENOENT;
	else if (!is_dir(e->inode))
		r = -ENOTDIR;
	else if (!dir_empty(e->inode)) /* child's lock after the parent's */
		r = -ENOTEMPTY;
	if (r == 0) {
		gone = dir_remove(dir, e);
		gone->nlink = 0;
		dir->nlink--;
		tmpfs_touch(dir, ATTR_MTIME);
	}
	pthread_mutex_unlock(&dti->lock);
	if (gone)
		inode_put(gone);
	return r;
}

/* A directory moved from odir to ndir takes its ".." link along. */
static void move_dotdot(struct inode *moved, struct inode *odir, struct inode *ndir)
{
	if (odir != ndir && is_dir(moved)) {
		odir->nlink--;
		ndir->nlink++;
	}
}

static int rename_exchange(struct inode *odir, struct tmpfs_dirent *oe, struct inode *ndir,
			   struct tmpfs_dirent *ne)
{
	struct inode *a = oe->inode, *b = ne->inode;

	oe->inode = b;
	ne->inode = a;
	move_dotdot(a, odir, ndir);
	move_dotdot(b, ndir, odir);
	tmpfs_touch(a, 0);
	tmpfs_touch(b, 0);
	return 0;
}

/* Moves oe to nname in ndir, replacing ne if any; *gone gets what must be put unlocked. */
static int rename_move(struct inode *odir, struct tmpfs_dirent *oe, struct inode *ndir,
		       const char *nname, struct tmpfs_dirent *ne, struct inode **gone)
{
	struct inode *src = oe->inode;

	if (ne) {
		struct inode *tgt = ne->inode;

		if (tgt == odir || (is_dir(tgt) && !dir_empty(tgt)))
			return -ENOTEMPTY; /* (tgt == odir: an ancestor of the source, locked) */
		if (is_dir(tgt)) {
			tgt->nlink = 0;
			ndir->nlink--;
		} else {
			__atomic_sub_fetch(&tgt->nlink, 1, __ATOMIC_RELAXED);
		}
		tmpfs_touch(tgt, 0);
		ne->inode = src; /* oe's reference moves here; the target's is dropped */
		inode_get(src);
		*gone = tgt;
	} else if (dir_insert(ndir, nname, src) < 0) {
		return -ENOMEM;
	}
	inode_put(dir_remove(odir, oe)); /* not the last reference: ne holds one */
	move_dotdot(src, odir, ndir);
	tmpfs_touch(src, 0);
	return 0;
}

int tmpfs_rename(struct inode *odir, const char *oname, struct inode *ndir,
			const char *nname, unsigned flags)
{
	struct tmpfs_inode *oti = TI(odir), *nti = TI(ndir);
	struct tmpfs_inode *first = oti < nti ? oti : nti, *second = oti < nti ? nti : oti;
	struct tmpfs_dirent *oe, *ne;
	struct inode *gone = NULL;
	int r;

	if (odir->sb != ndir->sb)
		return -EXDEV;
	if (flags & ~(VFS_RENAME_NOREPLACE | VFS_RENAME_EXCHANGE))
		return -EINVAL;
	pthread_mutex_lock(&first->lock);
	if (second != first)
		pthread_mutex_lock(&second->lock);
	oe = dir_find(&oti->dir, oname);
	ne = dir_find(&nti->dir, nname);
	if (!oe)
		r = -ENOENT;
	else if (ne && ne->inode == oe->inode)
		r = 0; /* two links to one inode: nothing to do */
	else if (flags & VFS_RENAME_EXCHANGE)
		r = ne ? rename_exchange(odir, oe, ndir, ne) : -ENOENT;
	else if (ne && (flags & VFS_RENAME_NOREPLACE))
		r = -EEXIST;
	else
		r = rename_move(odir, oe, ndir, nname, ne, &gone);
	if (r == 0) {
		tmpfs_touch(odir, ATTR_MTIME);
		tmpfs_touch(ndir, ATTR_MTIME);
	}
	if (second != first)
		pthread_mutex_unlock(&second->lock);
	pthread_mutex_unlock(&first->lock);
	if (gone)
		inode_put(gone);
	return r;
}

/* ---- reading directories -------------------------------------------------------------- */

static uint64_t parent_ino(const struct file *f)
{
	const struct dentry *d = f->path.dentry;

	if (d && d->parent != d && d->parent->inode && d->parent->inode->sb == f->inode->sb)
		return d->parent->inode->ino;
	return f->inode->ino;
}

static int tmpfs_iterate(struct file *f, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	struct tmpfs_inode *ti = TI(f->inode);

	if (*pos == 0) {
		if (!emit(ctx, ".", f->inode->ino, 1, 4 /* DT_DIR */))
			return 0;
		*pos = 1;
	}
	if (*pos == 1) {
		if (!emit(ctx, "..", parent_ino(f), 2, 4))
			return 0;
		*pos = 2;
	}
	pthread_mutex_lock(&ti->lock);
	for (struct tmpfs_dirent *e = ti->dir.first; e; e = e->next) {
		if (e->cookie <= (uint64_t)*pos)
			continue;
		if (!emit(ctx, e->name, e->inode->ino, (int64_t)e->cookie,
			  (e->inode->mode >> 12) & 15))
			break;
		*pos = (int64_t)e->cookie;
	}
	pthread_mutex_unlock(&ti->lock);
	tmpfs_touch(f->inode, ATTR_ATIME);
	return 0;
}

static int64_t tmpfs_dir_llseek(struct file *f, int64_t off, int whence)
{
	if (whence == 1 /* SEEK_CUR */) {
		if (off > 0 && f->pos > INT64_MAX - off)
			return -EINVAL;
		off += f->pos;
	} else if (whence != 0 /* SEEK_SET */) {
		return -EINVAL;
	}
	if (off < 0)
		return -EINVAL;
	return f->pos = off;
}

const struct file_ops tmpfs_dir_ops = {
	.iterate = tmpfs_iterate,
	.llseek = tmpfs_dir_llseek,
};
