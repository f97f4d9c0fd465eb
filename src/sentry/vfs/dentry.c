/*
 * Dentries and the dentry cache.  A dentry holds its parent and its inode; a directory's
 * cached children hang off it (the list holds no references).  A dentry at zero references
 * stays cached while it is live; an unlinked (dead) one is freed at zero.  Every increment
 * from zero happens under the parent's lock, in lookup, so cache hits never race a free.
 *
 * Unused cached dentries also sit on an LRU list; past a limit the oldest are evicted (a
 * hostfs inode keeps a host fd open, and a walk over a big tree must not run the sandbox out
 * of them, nor grow its memory without bound).  Only leaves are ever unused (a child holds
 * its parent), and mount points are held by their mounts.  A reference count may reach zero
 * only under lru_lock, and the evictor frees a dentry only with lru_lock and the parent's
 * lock held and the count at zero, so no lookup or put can be touching it.  Lock order:
 * a parent's lock, then lru_lock (the evictor only try-locks a parent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/vfs.h"

static struct dentry *dentry_alloc(const char *name, struct dentry *parent, struct inode *ino)
{
	struct dentry *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->name = strdup(name);
	if (!d->name) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->refs = 1;
	d->inode = ino;
	d->parent = parent ? parent : d;
	if (parent)
		dentry_get(parent);
	return d;
}

struct dentry *dentry_new_root(struct inode *ino)
{
	return dentry_alloc("/", NULL, ino);
}

void dentry_get(struct dentry *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
}

/* ---- the LRU of unused dentries --------------------------------------------------------- */

static pthread_mutex_t lru_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dentry *lru_head, *lru_tail;
static size_t lru_n, lru_limit = 8192;

void dcache_set_limit(size_t n)
{
	pthread_mutex_lock(&lru_lock);
	lru_limit = n;
	pthread_mutex_unlock(&lru_lock);
}

size_t dcache_unused(void)
{
	size_t n;

	pthread_mutex_lock(&lru_lock);
	n = lru_n;
	pthread_mutex_unlock(&lru_lock);
	return n;
}

static void lru_del(struct dentry *d)
{
	if (d->lru_prev)
		d->lru_prev->lru_next = d->lru_next;
	else
		lru_head = d->lru_next;
	if (d->lru_next)
		d->lru_next->lru_prev = d->lru_prev;
	else
		lru_tail = d->lru_prev;
	d->lru_prev = d->lru_next = NULL;
	d->in_lru = false;
	lru_n--;
}

static void lru_add_tail(struct dentry *d)
{
	d->lru_next = NULL;
	d->lru_prev = lru_tail;
	if (lru_tail)
		lru_tail->lru_next = d;
	else
		lru_head = d;
	lru_tail = d;
	d->in_lru = true;
	lru_n++;
}

static void cache_unlink(struct dentry *d);
static void dentry_free(struct dentry *d);

/*
 * Evicts least recently used dentries until the list is within its limit.  An entry someone
 * holds again (a lookup found it) just leaves the list: its next put puts it back at the tail.
 * An entry whose parent is busy moves to the tail; the walk gives up after one round.
 */
static void dcache_shrink(void)
{
	size_t budget;

	pthread_mutex_lock(&lru_lock);
	budget = lru_n;
	while (lru_n > lru_limit && budget--) {
		struct dentry *d = lru_head, *p = __atomic_load_n(&d->parent, __ATOMIC_ACQUIRE);

		lru_del(d);
		if (__atomic_load_n(&d->refs, __ATOMIC_ACQUIRE))
			continue;
		if (pthread_mutex_trylock(&p->lock)) {
			lru_add_tail(d);
			continue;
		}
		if (d->parent != p || __atomic_load_n(&d->refs, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&d->dead, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		cache_unlink(d);
		__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&p->lock);
		pthread_mutex_unlock(&lru_lock);
		dentry_free(d); /* drops the parent, which may join the list */
		pthread_mutex_lock(&lru_lock);
	}
	pthread_mutex_unlock(&lru_lock);
}

static void dentry_free(struct dentry *d)
{
	struct dentry *parent = d->parent;

	inode_put(d->inode);
	free(d->name);
	free(d);
	if (parent != d)
		dentry_put(parent);
}

void dentry_put(struct dentry *d)
{
	int old;
	bool over;

	if (!d)
		return;
	old = __atomic_load_n(&d->refs, __ATOMIC_RELAXED);
	while (old > 1)
		if (__atomic_compare_exchange_n(&d->refs, &old, old - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	/* Perhaps the last reference: dropped under lru_lock (see the top of the file). */
	pthread_mutex_lock(&lru_lock);
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL)) {
		pthread_mutex_unlock(&lru_lock);
		return;
	}
	/* Roots and dead dentries are not in any cache list: free them now. */
	if (d->parent == d || __atomic_load_n(&d->dead, __ATOMIC_ACQUIRE)) {
		if (d->in_lru)
			lru_del(d);
		pthread_mutex_unlock(&lru_lock);
		fsnotify_dentry_dead(d);
		dentry_free(d);
		return;
	}
	if (d->in_lru)
		lru_del(d);
	lru_add_tail(d);
	over = lru_n > lru_limit;
	pthread_mutex_unlock(&lru_lock);
	if (over)
		dcache_shrink();
}

/* Finds name among dir's cached children (dir->lock held); takes a reference. */
static struct dentry *cache_find(struct dentry *dir, const char *name)
{
	for (struct dentry *c = dir->children; c; c = c->next_sibling) {
		if (!strcmp(c->name, name)) {
			dentry_get(c);
			return c;
		}
	}
	return NULL;
}

/* Removes d from its parent's cache list (parent->lock held). */
static void cache_unlink(struct dentry *d)
{
	for (struct dentry **pp = &d->parent->children; *pp; pp = &(*pp)->next_sibling) {
		if (*pp == d) {
			*pp = d->next_sibling;
			d->next_sibling = NULL;
			return;
		}
	}
}

struct dentry *vfs_lookup_child(struct dentry *dir, const char *name)
{
	struct inode *di = dir->inode, *ino;
	struct dentry *d;

	if (!di || !di->ops || !di->ops->lookup)
		return ERR_PTR(-ENOTDIR);
	pthread_mutex_lock(&dir->lock);
	d = cache_find(dir, name);
	if (d && (di->sb->sb_flags & SB_VOLATILE) && !d->mounted_on) {
		/* Entries that may vanish (procfs): look up again every time (but a mount point,
		 * such as a read-only /proc/sys, keeps its mount). */
		cache_unlink(d);
		__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
		dentry_put(d);
		d = NULL;
	}
	if (d) {
		pthread_mutex_unlock(&dir->lock);
		return d;
	}
	ino = di->ops->lookup(di, name);
	if (IS_ERR(ino)) {
		pthread_mutex_unlock(&dir->lock);
		return ERR_CAST(ino);
	}
	d = dentry_alloc(name, dir, ino);
	if (!d) {
		inode_put(ino);
		pthread_mutex_unlock(&dir->lock);
		return ERR_PTR(-ENOMEM);
	}
	d->next_sibling = dir->children;
	dir->children = d;
	pthread_mutex_unlock(&dir->lock);
	return d;
}

struct dentry *vfs_dentry_add(struct dentry *dir, const char *name, struct inode *ino)
{
	struct dentry *d;

	pthread_mutex_lock(&dir->lock);
	d = cache_find(dir, name);
	if (d) {
		/* Replace a stale entry (created behind our back, or raced). */
		cache_unlink(d);
		__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
		dentry_put(d);
	}
	d = dentry_alloc(name, dir, ino);
	if (d) {
		d->next_sibling = dir->children;
		dir->children = d;
	}
	pthread_mutex_unlock(&dir->lock);
	return d ? d : ERR_PTR(-ENOMEM);
}

struct dentry *vfs_dentry_new_unlinked(struct dentry *dir, const char *name, struct inode *ino)
{
	struct dentry *d = dentry_alloc(name, dir, ino);

	if (!d)
		return ERR_PTR(-ENOMEM);
	d->dead = true;
	return d;
}

void vfs_dentry_drop(struct dentry *d)
{
	struct dentry *dir = d->parent;

	if (dir == d)
		return;
	pthread_mutex_lock(&dir->lock);
	if (!d->dead) {
		cache_unlink(d);
		__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&dir->lock);
		return;
	}
	pthread_mutex_unlock(&dir->lock);
}

void vfs_dentry_forget(struct dentry *dir, const char *name)
{
	struct dentry *d;

	pthread_mutex_lock(&dir->lock);
	d = cache_find(dir, name);
	if (d) {
		cache_unlink(d);
		__atomic_store_n(&d->dead, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&dir->lock);
	if (d)
		dentry_put(d);
}

struct dentry *vfs_dentry_parent(struct dentry *d)
{
	struct dentry *p;

	pthread_mutex_lock(&d->lock);
	p = d->parent;
	dentry_get(p);
	pthread_mutex_unlock(&d->lock);
	return p;
}

/* Locks two directories' dentries (distinct or the same) in address order. */
static void lock_pair(struct dentry *a, struct dentry *b)
{
	if (a == b) {
		pthread_mutex_lock(&a->lock);
		return;
	}
	pthread_mutex_lock(&(a < b ? a : b)->lock);
	pthread_mutex_lock(&(a < b ? b : a)->lock);
}

static void unlock_pair(struct dentry *a, struct dentry *b)
{
	pthread_mutex_unlock(&a->lock);
	if (a != b)
		pthread_mutex_unlock(&b->lock);
}

/*
 * Renames move dentries, not copies: `..` and getcwd of processes inside a moved directory
 * must follow it.  Only renames (under vfs->rename_lock) take two parent locks, so the
 * address order cannot deadlock against the one-lock-at-a-time cache users.  d->parent
 * changes under d->lock too, for vfs_dentry_parent.
 */
void vfs_dentry_move(struct dentry *d, struct dentry *newdir, const char *name)
{
	struct dentry *old = d->parent, *stale;
	char *nn = strdup(name), *on;

	if (!nn) {
		vfs_dentry_drop(d); /* out of memory: forget it, the next lookup rebuilds it */
		return;
	}
	lock_pair(old, newdir);
	stale = cache_find(newdir, name);
	if (stale) {
		cache_unlink(stale);
		__atomic_store_n(&stale->dead, true, __ATOMIC_RELEASE);
	}
	if (!d->dead)
		cache_unlink(d);
	pthread_mutex_lock(&d->lock);
	on = d->name;
	d->name = nn;
	dentry_get(newdir);
	d->parent = newdir;
	pthread_mutex_unlock(&d->lock);
	if (!d->dead) {
		d->next_sibling = newdir->children;
		newdir->children = d;
	}
	unlock_pair(old, newdir);
	free(on);
	dentry_put(old);
	if (stale)
		dentry_put(stale);
}

void vfs_dentry_exchange(struct dentry *a, struct dentry *b)
{
	struct dentry *pa = a->parent, *pb = b->parent;
	char *n;

	lock_pair(pa, pb);
	cache_unlink(a);
	cache_unlink(b);
	lock_pair(a, b);
	n = a->name;
	a->name = b->name;
	b->name = n;
	a->parent = pb;
	b->parent = pa;
	unlock_pair(a, b);
	a->next_sibling = pb->children;
	pb->children = a;
	b->next_sibling = pa->children;
	pa->children = b;
	unlock_pair(pa, pb);
}
