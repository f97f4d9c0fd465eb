/*
 * Futexes.  Waiters sit in hashed buckets; a waiter checks the futex word and enqueues
 * itself under the bucket lock, so a waker that changes the word and then takes the lock
 * cannot miss it.  The word is read through the sentry's mapping of the memory file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/futex.h"
#include "cvisor/sentry/task.h"

#define NBUCKETS 256

struct futex_key {
	uintptr_t space; /* mm pointer (private) or 1 (shared) */
	uint64_t addr;   /* virtual address (private) or memory-file offset (shared) */
};

struct futex_waiter {
	struct futex_waiter *next, *prev;
	struct futex_key key;
	uint32_t bitset;
	struct task *task;
	bool woken;
};

struct futex_bucket {
	pthread_mutex_t lock;
	struct futex_waiter head;
};

struct futex_table {
	struct futex_bucket b[NBUCKETS];
};

struct futex_table *futex_table_new(void)
{
	struct futex_table *ft = calloc(1, sizeof(*ft));

	if (!ft)
		return NULL;
	for (int i = 0; i < NBUCKETS; i++) {
		pthread_mutex_init(&ft->b[i].lock, NULL);
		ft->b[i].head.next = ft->b[i].head.prev = &ft->b[i].head;
	}
	return ft;
}

void futex_table_free(struct futex_table *ft)
{
	free(ft);
}

static struct futex_bucket *bucket_of(struct task *t, const struct futex_key *k)
{
	uint64_t h = (k->addr ^ (k->space * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return &t->k->futex->b[(h >> 32) % NBUCKETS];
}

static bool key_eq(const struct futex_key *a, const struct futex_key *b)
{
	return a->space == b->space && a->addr == b->addr;
}

/* Computes the key and returns a pinned pointer to the word (caller memfile_unpins page). */
static uint32_t *futex_pin(struct task *t, uint64_t addr, bool shared, struct futex_key *key,
			   uint64_t *page)
{
	uint32_t *p;

	if (addr & 3)
		return ERR_PTR(-EINVAL);
	p = mm_pin(t->mm, addr, 4, false, page);
	if (!p)
		return ERR_PTR(-EFAULT);
	if (shared) {
		key->space = 1;
		key->addr = *page + (addr & ~PAGE_MASK);
	} else {
		key->space = (uintptr_t)t->mm;
		key->addr = addr;
	}
	return p;
}

static int compute_key(struct task *t, uint64_t addr, bool shared, struct futex_key *key)
{
	uint64_t page;
	uint32_t *p = futex_pin(t, addr, shared, key, &page);

	if (IS_ERR(p))
		return (int)PTR_ERR(p);
	memfile_unpin(t->mm->mf, page);
	return 0;
}

static void enqueue(struct futex_bucket *b, struct futex_waiter *w)
{
	w->next = &b->head;
	w->prev = b->head.prev;
	b->head.prev->next = w;
	b->head.prev = w;
}

static void dequeue(struct futex_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

int futex_wait(struct task *t, uint64_t addr, bool shared, uint32_t val, uint32_t bitset,
	       uint64_t deadline_ns)
{
	struct futex_waiter w = {.bitset = bitset, .task = t};
	struct futex_bucket *b;
	uint64_t page;
	uint32_t *p, seq;
	int r = 0;

	if (!bitset)
		return -EINVAL;
	p = futex_pin(t, addr, shared, &w.key, &page);
	if (IS_ERR(p))
		return (int)PTR_ERR(p);
	b = bucket_of(t, &w.key);
	pthread_mutex_lock(&b->lock);
	if (__atomic_load_n(p, __ATOMIC_SEQ_CST) != val) {
		pthread_mutex_unlock(&b->lock);
		memfile_unpin(t->mm->mf, page);
		return -EAGAIN;
	}
	enqueue(b, &w);
	pthread_mutex_unlock(&b->lock);
	memfile_unpin(t->mm->mf, page);
	for (;;) {
		seq = task_wake_seq(t);
		if (__atomic_load_n(&w.woken, __ATOMIC_ACQUIRE))
			break;
		r = task_block(t, seq, deadline_ns);
		if (r < 0)
			break;
	}
	pthread_mutex_lock(&b->lock);
	if (w.next)
		dequeue(&w);
	pthread_mutex_unlock(&b->lock);
	if (__atomic_load_n(&w.woken, __ATOMIC_ACQUIRE))
		return 0;
	if (r == -EINTR)
		return deadline_ns ? -EINTR : -ERESTARTSYS;
	return r;
}

static int wake_locked(struct futex_bucket *b, const struct futex_key *key, int n, uint32_t bitset)
{
	int woken = 0;

	for (struct futex_waiter *w = b->head.next, *next; w != &b->head && woken < n; w = next) {
		next = w->next;
		if (!key_eq(&w->key, key) || !(w->bitset & bitset))
			continue;
		dequeue(w);
		__atomic_store_n(&w->woken, true, __ATOMIC_RELEASE);
		task_wake(w->task);
		woken++;
	}
	return woken;
}

int futex_wake(struct task *t, uint64_t addr, bool shared, int n, uint32_t bitset)
{
	struct futex_key key;
	struct futex_bucket *b;
	int r;

	if (!bitset)
		return -EINVAL;
	if ((r = compute_key(t, addr, shared, &key)) < 0)
		return r;
	b = bucket_of(t, &key);
	pthread_mutex_lock(&b->lock);
	r = wake_locked(b, &key, n, bitset);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static void lock_two(struct futex_bucket *a, struct futex_bucket *b)
{
	if (a == b) {
		pthread_mutex_lock(&a->lock);
	} else if (a < b) {
		pthread_mutex_lock(&a->lock);
		pthread_mutex_lock(&b->lock);
	} else {
		pthread_mutex_lock(&b->lock);
		pthread_mutex_lock(&a->lock);
	}
}

static void unlock_two(struct futex_bucket *a, struct futex_bucket *b)
{
	pthread_mutex_unlock(&a->lock);
	if (a != b)
		pthread_mutex_unlock(&b->lock);
}

int futex_requeue(struct task *t, uint64_t addr, uint64_t addr2, bool shared, int nwake,
		  int nrequeue, const uint32_t *cmp)
{
	struct futex_key k1, k2;
	struct futex_bucket *b1, *b2;
	uint64_t page;
	uint32_t *p;
	int r;

	if (nwake < 0 || nrequeue < 0)
		return -EINVAL;
	p = futex_pin(t, addr, shared, &k1, &page);
	if (IS_ERR(p))
		return (int)PTR_ERR(p);
	if ((r = compute_key(t, addr2, shared, &k2)) < 0) {
		memfile_unpin(t->mm->mf, page);
		return r;
	}
	b1 = bucket_of(t, &k1);
	b2 = bucket_of(t, &k2);
	lock_two(b1, b2);
	if (cmp && __atomic_load_n(p, __ATOMIC_SEQ_CST) != *cmp) {
		r = -EAGAIN;
		goto out;
	}
	r = wake_locked(b1, &k1, nwake, FUTEX_BITSET_ANY);
	for (struct futex_waiter *w = b1->head.next, *next; w != &b1->head && nrequeue > 0; w = next) {
		next = w->next;
		if (!key_eq(&w->key, &k1))
			continue;
		dequeue(w);
		w->key = k2;
		enqueue(b2, w);
		nrequeue--;
		r++;
	}
out:
	unlock_two(b1, b2);
	memfile_unpin(t->mm->mf, page);
	return r;
}

/* Applies a FUTEX_WAKE_OP operation to *uaddr2 and evaluates its comparison. */
static int do_wake_op(uint32_t *p, uint32_t op, bool *cond)
{
	unsigned kind = (op >> 28) & 7, cmp = (op >> 24) & 15;
	uint32_t oparg = (op >> 12) & 0xfff, cmparg = op & 0xfff, old, nv;

	if (op & (8u << 28))
		oparg = 1u << (oparg & 31);
	old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
	do {
		switch (kind) {
		case 0: nv = oparg; break;
		case 1: nv = old + oparg; break;
		case 2: nv = old | oparg; break;
		case 3: nv = old & ~oparg; break;
		case 4: nv = old ^ oparg; break;
		default: return -ENOSYS;
		}
	} while (!__atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	switch (cmp) {
	case 0: *cond = old == cmparg; break;
	case 1: *cond = old != cmparg; break;
	case 2: *cond = (int32_t)old < (int32_t)cmparg; break;
	case 3: *cond = (int32_t)old <= (int32_t)cmparg; break;
	case 4: *cond = (int32_t)old > (int32_t)cmparg; break;
	case 5: *cond = (int32_t)old >= (int32_t)cmparg; break;
	default: return -ENOSYS;
	}
	return 0;
}

int futex_wake_op(struct task *t, uint64_t addr, uint64_t addr2, bool shared, int n, int n2,
		  uint32_t op)
{
	struct futex_key k1, k2;
	struct futex_bucket *b1, *b2;
	uint64_t page;
	uint32_t *p2;
	bool cond = false;
	int r;

	if ((r = compute_key(t, addr, shared, &k1)) < 0)
		return r;
	if (addr2 & 3)
		return -EINVAL;
	p2 = mm_pin(t->mm, addr2, 4, true, &page);
	if (!p2)
		return -EFAULT;
	k2.space = shared ? 1 : (uintptr_t)t->mm;
	k2.addr = shared ? page + (addr2 & ~PAGE_MASK) : addr2;
	b1 = bucket_of(t, &k1);
	b2 = bucket_of(t, &k2);
	lock_two(b1, b2);
	r = do_wake_op(p2, op, &cond);
	if (r == 0) {
		r = wake_locked(b1, &k1, n, FUTEX_BITSET_ANY);
		if (cond)
			r += wake_locked(b2, &k2, n2, FUTEX_BITSET_ANY);
	}
	unlock_two(b1, b2);
	memfile_unpin(t->mm->mf, page);
	return r;
}

#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_TID_MASK 0x3fffffffu
#define ROBUST_LIST_LIMIT 2048

/* Marks one robust futex the dying task held, and wakes a waiter. */
static void robust_release(struct task *t, uint64_t uaddr)
{
	uint64_t page;
	uint32_t *p = mm_pin(t->mm, uaddr, 4, true, &page), old;

	if (!p)
		return;
	old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
	while ((old & FUTEX_TID_MASK) == (uint32_t)t->tid) {
		uint32_t nv = (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED;

		if (__atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			if (nv & FUTEX_WAITERS)
				futex_wake(t, uaddr, false, 1, FUTEX_BITSET_ANY);
			break;
		}
	}
	memfile_unpin(t->mm->mf, page);
}

void futex_exit_robust(struct task *t)
{
	uint64_t head[3], entry; /* next, futex_offset, list_op_pending */

	if (t->robust_list && copy_in_all(t, t->robust_list, head, sizeof(head)) == 0) {
		int64_t off = (int64_t)head[1];

		entry = head[0];
		for (int i = 0; entry != t->robust_list && entry && i < ROBUST_LIST_LIMIT; i++) {
			uint64_t next;

			if (copy_in_all(t, entry & ~1ull, &next, 8) < 0)
				break;
			robust_release(t, (entry & ~1ull) + (uint64_t)off);
			entry = next;
		}
		if (head[2])
			robust_release(t, (head[2] & ~1ull) + (uint64_t)off);
	}
	if (t->clear_child_tid) {
		uint32_t zero = 0;

		/* Shared, as Linux's mm_release: glibc's pthread_join waits on a shared futex. */
		if (copy_out_all(t, t->clear_child_tid, &zero, 4) == 0)
			futex_wake(t, t->clear_child_tid, true, 1, FUTEX_BITSET_ANY);
	}
}
