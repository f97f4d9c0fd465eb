/*
 * Advisory locks: per inode, a list of byte-range locks (POSIX and OFD share it) and a list
 * of flock locks.  Setting a range lock for an owner first removes that owner's locks over
 * the range (splitting those that stick out), then inserts the new one and merges it with
 * the owner's adjacent locks of the same type, so an owner's locks never overlap.  Waiters
 * sleep on the context's wait queue and retry whenever a lock goes away.
 */
#include <errno.h>
#include <stdlib.h>

#include "cvisor/err.h"
#include "cvisor/sentry/filelock.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

struct file_lock {
	struct file_lock *next;
	struct file_lock_desc d;
};

struct file_lock_ctx {
	pthread_mutex_t lock;
	struct file_lock *ranges; /* POSIX and OFD locks */
	struct file_lock *flocks;
	struct waitqueue wq;
};

static struct file_lock_ctx *ctx_get(struct inode *ino, bool create)
{
	struct file_lock_ctx *c = __atomic_load_n(&ino->locks, __ATOMIC_ACQUIRE), *expected = NULL;

	if (c || !create)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	waitqueue_init(&c->wq);
	if (!__atomic_compare_exchange_n(&ino->locks, &expected, c, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(c);
		return expected;
	}
	return c;
}

void file_lock_ctx_free(struct file_lock_ctx *c)
{
	if (!c)
		return;
	for (struct file_lock *l = c->ranges, *n; l; l = n) {
		n = l->next;
		free(l);
	}
	for (struct file_lock *l = c->flocks, *n; l; l = n) {
		n = l->next;
		free(l);
	}
	free(c);
}

static bool same_owner(const struct file_lock_desc *a, const struct file_lock_desc *b)
{
	return a->owner == b->owner && (a->kind == FILE_LOCK_POSIX) == (b->kind == FILE_LOCK_POSIX);
}

static bool conflicts(const struct file_lock_desc *held, const struct file_lock_desc *want)
{
	if (same_owner(held, want))
		return false;
	if (held->type != FILE_LOCK_WR && want->type != FILE_LOCK_WR)
		return false;
	return held->start <= want->end && want->start <= held->end;
}

static struct file_lock *find_conflict(struct file_lock *list, const struct file_lock_desc *d)
{
	for (struct file_lock *l = list; l; l = l->next)
		if (conflicts(&l->d, d))
			return l;
	return NULL;
}

/*
 * Removes owner's coverage of [d->start, d->end] from *list; `spare` supplies the node a
 * split needs (consumed: set to NULL).
 */
static void carve(struct file_lock **list, const struct file_lock_desc *d, struct file_lock **spare)
{
	struct file_lock **pp = list;

	while (*pp) {
		struct file_lock *l = *pp;

		if (!same_owner(&l->d, d) || l->d.end < d->start || l->d.start > d->end) {
			pp = &l->next;
			continue;
		}
		if (l->d.start < d->start && l->d.end > d->end) {
			struct file_lock *tail = *spare;

			*spare = NULL;
			*tail = *l;
			tail->d.start = d->end + 1;
			l->d.end = d->start - 1;
			tail->next = l->next;
			l->next = tail;
			return; /* the range sat strictly inside one lock */
		}
		if (l->d.start < d->start) {
			l->d.end = d->start - 1;
		} else if (l->d.end > d->end) {
			l->d.start = d->end + 1;
		} else {
			*pp = l->next;
			free(l);
			continue;
		}
		pp = &l->next;
	}
}

/* Merges owner's locks of n's type that touch n into n. */
static void merge(struct file_lock **list, struct file_lock *n)
{
	struct file_lock **pp = list;

	while (*pp) {
		struct file_lock *l = *pp;
		bool touches = (n->d.start == 0 || l->d.end >= n->d.start - 1) &&
			       (n->d.end == FILE_LOCK_EOF || l->d.start <= n->d.end + 1);

		if (l == n || !same_owner(&l->d, &n->d) || l->d.type != n->d.type || !touches) {
			pp = &l->next;
			continue;
		}
		n->d.start = MIN(n->d.start, l->d.start);
		n->d.end = MAX(n->d.end, l->d.end);
		*pp = l->next;
		free(l);
	}
}

/* One attempt under the context lock: 0, -EAGAIN (conflict) or -ENOLCK. */
static int try_set_range(struct file_lock_ctx *c, const struct file_lock_desc *d)
{
	struct file_lock *spare = NULL, *n = NULL;

	if (d->type != FILE_LOCK_UN && find_conflict(c->ranges, d))
		return -EAGAIN;
	spare = malloc(sizeof(*spare));
	if (d->type != FILE_LOCK_UN)
		n = malloc(sizeof(*n));
	if (!spare || (d->type != FILE_LOCK_UN && !n)) {
		free(spare);
		free(n);
		return -ENOLCK;
	}
	carve(&c->ranges, d, &spare);
	free(spare);
	if (n) {
		n->d = *d;
		n->next = c->ranges;
		c->ranges = n;
		merge(&c->ranges, n);
	}
	return 0;
}

/* flock: the owner's lock is replaced (not atomically, as on Linux). */
static int try_set_flock(struct file_lock_ctx *c, const struct file_lock_desc *d)
{
	struct file_lock **pp, *n;

	for (pp = &c->flocks; *pp; pp = &(*pp)->next) {
		if ((*pp)->d.owner == d->owner) {
			n = *pp;
			*pp = n->next;
			free(n);
			break;
		}
	}
	if (d->type == FILE_LOCK_UN)
		return 0;
	if (find_conflict(c->flocks, d))
		return -EAGAIN;
	if (!(n = malloc(sizeof(*n))))
		return -ENOLCK;
	n->d = *d;
	n->next = c->flocks;
	c->flocks = n;
	return 0;
}

static int try_set(struct file_lock_ctx *c, const struct file_lock_desc *d)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = d->kind == FILE_LOCK_FLOCK ? try_set_flock(c, d) : try_set_range(c, d);
	pthread_mutex_unlock(&c->lock);
	/* Whatever changed may have released something a waiter wants. */
	if (r == 0 && !waitqueue_empty(&c->wq))
		waitqueue_wake(&c->wq, ~0ull);
	return r;
}

int file_lock_set(struct inode *ino, const struct file_lock_desc *d, struct task *t, bool wait)
{
	struct file_lock_ctx *c = ctx_get(ino, d->type != FILE_LOCK_UN);
	struct waiter w = {0};
	int r;

	if (!c)
		return d->type == FILE_LOCK_UN ? 0 : -ENOLCK;
	if (!wait)
		return try_set(c, d);
	waitqueue_add(&c->wq, &w, t, ~0ull);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		r = try_set(c, d);
		if (r != -EAGAIN)
			break;
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&c->wq, &w);
	return r;
}

int file_lock_test(struct inode *ino, const struct file_lock_desc *d, struct file_lock_desc *out)
{
	struct file_lock_ctx *c = ctx_get(ino, false);
	struct file_lock *l;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	l = find_conflict(d->kind == FILE_LOCK_FLOCK ? c->flocks : c->ranges, d);
	if (l)
		*out = l->d;
	pthread_mutex_unlock(&c->lock);
	return l != NULL;
}

/* Drops every lock of (kind class, owner) from *list; returns whether any went. */
static bool drop_owner(struct file_lock **list, const struct file_lock_desc *who)
{
	bool any = false;

	for (struct file_lock **pp = list; *pp;) {
		struct file_lock *l = *pp;

		if (same_owner(&l->d, who)) {
			*pp = l->next;
			free(l);
			any = true;
		} else {
			pp = &l->next;
		}
	}
	return any;
}

static void release(struct inode *ino, const struct file_lock_desc *who, bool flocks)
{
	struct file_lock_ctx *c = ino ? ctx_get(ino, false) : NULL;
	bool any;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	any = drop_owner(&c->ranges, who);
	if (flocks)
		any |= drop_owner(&c->flocks, who);
	pthread_mutex_unlock(&c->lock);
	if (any)
		waitqueue_wake(&c->wq, ~0ull);
}

void file_lock_close_posix(struct file *f, const void *owner)
{
	struct file_lock_desc who = {.kind = FILE_LOCK_POSIX, .owner = owner};

	release(f->inode, &who, false);
}

void file_lock_release_file(struct file *f)
{
	struct file_lock_desc who = {.kind = FILE_LOCK_OFD, .owner = f};

	release(f->inode, &who, true);
}
