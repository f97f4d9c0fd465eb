/*
 * Page caches: object pages (file contents, shared memory) held in the memory file, so that
 * every mapping of an object shares the same pages.  An open-addressed hash of page index to
 * memory-file offset; each cached page holds one reference.  The low bit of an offset is the
 * page's dirty bit (offsets are page-aligned).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/mm.h"

#define EMPTY 0ull
#define TOMB ~0ull
#define DIRTY 1ull

static bool live(const struct page_cache *pc, size_t i)
{
	return pc->slots[i] != EMPTY && pc->slots[i] != TOMB;
}

static uint64_t page_of(const struct page_cache *pc, size_t i)
{
	return pc->offs[i] & PAGE_MASK;
}

void page_cache_init(struct page_cache *pc, struct memfile *mf)
{
	memset(pc, 0, sizeof(*pc));
	pc->mf = mf;
	pthread_mutex_init(&pc->lock, NULL);
}

void page_cache_destroy(struct page_cache *pc)
{
	for (size_t i = 0; i < pc->cap; i++)
		if (live(pc, i))
			memfile_put(pc->mf, page_of(pc, i), 1);
	free(pc->slots);
	free(pc->offs);
	pc->slots = pc->offs = NULL;
	pc->cap = pc->n = 0;
	pc->ndirty = 0;
}

static size_t hash(uint64_t k, size_t cap)
{
	k *= 0x9e3779b97f4a7c15ull;
	return (size_t)(k >> 17) & (cap - 1);
}

/* Returns the slot of key, or of where it would go (first empty). */
static size_t find(const struct page_cache *pc, uint64_t key, bool *found)
{
	size_t i = hash(key, pc->cap), tomb = SIZE_MAX;

	for (;; i = (i + 1) & (pc->cap - 1)) {
		if (pc->slots[i] == key) {
			*found = true;
			return i;
		}
		if (pc->slots[i] == TOMB && tomb == SIZE_MAX)
			tomb = i;
		if (pc->slots[i] == EMPTY) {
			*found = false;
			return tomb != SIZE_MAX ? tomb : i;
		}
	}
}

static int grow(struct page_cache *pc)
{
	size_t cap = pc->cap ? pc->cap * 2 : 64;
	uint64_t *slots = calloc(cap, sizeof(*slots)), *offs = calloc(cap, sizeof(*offs));
	struct page_cache old = *pc;

	if (!slots || !offs) {
		free(slots);
		free(offs);
		return -ENOMEM;
	}
	pc->slots = slots;
	pc->offs = offs;
	pc->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		bool found;

		if (!live(&old, i))
			continue;
		size_t j = find(pc, old.slots[i], &found);

		pc->slots[j] = old.slots[i];
		pc->offs[j] = old.offs[i];
	}
	free(old.slots);
	free(old.offs);
	return 0;
}

int64_t page_cache_peek(struct page_cache *pc, uint64_t pgoff)
{
	int64_t r = -1;
	bool found;

	pthread_mutex_lock(&pc->lock);
	if (pc->cap) {
		size_t i = find(pc, pgoff + 1, &found);

		if (found)
			r = (int64_t)page_of(pc, i);
	}
	pthread_mutex_unlock(&pc->lock);
	return r;
}

int page_cache_get(struct page_cache *pc, uint64_t pgoff, page_fill_fn fill, void *arg,
		   uint64_t *off)
{
	bool found = false;
	size_t i = 0, got;
	int r = 0;

	pthread_mutex_lock(&pc->lock);
	if (pc->cap)
		i = find(pc, pgoff + 1, &found);
	if (found) {
		*off = page_of(pc, i);
		memfile_get(pc->mf, *off, 1);
		goto out;
	}
	if ((pc->n + 1) * 2 > pc->cap && (r = grow(pc)) < 0)
		goto out;
	int64_t page = memfile_alloc(pc->mf, 1, &got);

	if (page < 0) {
		r = (int)page;
		goto out;
	}
	if (fill && (r = fill(arg, pgoff, memfile_ptr(pc->mf, (uint64_t)page))) < 0) {
		memfile_put(pc->mf, (uint64_t)page, 1);
		goto out;
	}
	i = find(pc, pgoff + 1, &found);
	pc->slots[i] = pgoff + 1;
	pc->offs[i] = (uint64_t)page;
	pc->n++;
	*off = (uint64_t)page;
	memfile_get(pc->mf, *off, 1); /* one for the cache, one for the caller */
out:
	pthread_mutex_unlock(&pc->lock);
	return r;
}

/* Drops the page in slot i from the cache (pc->lock held). */
static void forget(struct page_cache *pc, size_t i)
{
	if (pc->offs[i] & DIRTY)
		__atomic_sub_fetch(&pc->ndirty, 1, __ATOMIC_RELAXED);
	memfile_put(pc->mf, page_of(pc, i), 1);
	pc->slots[i] = TOMB;
	pc->n--;
}

void page_cache_truncate(struct page_cache *pc, uint64_t pgoff)
{
	pthread_mutex_lock(&pc->lock);
	for (size_t i = 0; i < pc->cap; i++) {
		if (!live(pc, i) || pc->slots[i] - 1 < pgoff)
			continue;
		/*
		 * A page some mapping still holds stays, as zeros: the mapping and later reads
		 * then agree once the object grows again.  Only the cache holds the others, and
		 * nothing else can take them while pc->lock is held.
		 */
		if (memfile_refs(pc->mf, page_of(pc, i)) > 1)
			memset(memfile_ptr(pc->mf, page_of(pc, i)), 0, PAGE_SIZE);
		else
			forget(pc, i);
	}
	pthread_mutex_unlock(&pc->lock);
}

/* Calls fn for each cached page of [first, last), by lookup or by scanning the table,
 * whichever is shorter.  pc->lock held. */
static void for_each_in(struct page_cache *pc, uint64_t first, uint64_t last,
			void (*fn)(struct page_cache *pc, size_t i, void *arg), void *arg)
{
	bool found;

	if (!pc->cap || first >= last)
		return;
	if (last - first <= pc->cap) {
		for (uint64_t pg = first; pg < last; pg++) {
			size_t i = find(pc, pg + 1, &found);

			if (found)
				fn(pc, i, arg);
		}
		return;
	}
	for (size_t i = 0; i < pc->cap; i++)
		if (live(pc, i) && pc->slots[i] - 1 >= first && pc->slots[i] - 1 < last)
			fn(pc, i, arg);
}

static void mark_one(struct page_cache *pc, size_t i, void *arg)
{
	if (!(pc->offs[i] & DIRTY)) {
		pc->offs[i] |= DIRTY;
		__atomic_add_fetch(&pc->ndirty, 1, __ATOMIC_RELAXED);
	}
}

void page_cache_mark_dirty(struct page_cache *pc, uint64_t first, uint64_t last)
{
	pthread_mutex_lock(&pc->lock);
	for_each_in(pc, first, last, mark_one, NULL);
	pthread_mutex_unlock(&pc->lock);
}

/* Copies the part of a page that overlaps [at, at+n) between the page and buf. */
struct span {
	uint8_t *buf;
	uint64_t at, n;
	bool only_dirty, zero;
};

static void span_one(struct page_cache *pc, size_t i, void *arg)
{
	struct span *s = arg;
	uint64_t pos = (pc->slots[i] - 1) * PAGE_SIZE;
	uint64_t from = MAX(pos, s->at), to = MIN(pos + PAGE_SIZE, s->at + s->n);
	uint8_t *page = memfile_ptr(pc->mf, page_of(pc, i));

	if (from >= to || (s->only_dirty && !(pc->offs[i] & DIRTY)))
		return;
	if (s->zero)
		memset(page + (from - pos), 0, to - from);
	else
		memcpy(s->buf + (from - s->at), page + (from - pos), to - from);
}

void page_cache_read_dirty(struct page_cache *pc, void *buf, size_t n, uint64_t off)
{
	struct span s = {.buf = buf, .at = off, .n = n, .only_dirty = true};

	if (!page_cache_has_dirty(pc) || !n)
		return;
	pthread_mutex_lock(&pc->lock);
	for_each_in(pc, off / PAGE_SIZE, ALIGN_UP(off + n, PAGE_SIZE) / PAGE_SIZE, span_one, &s);
	pthread_mutex_unlock(&pc->lock);
}

void page_cache_zero(struct page_cache *pc, uint64_t from, uint64_t to)
{
	struct span s = {.at = from, .n = to - from, .zero = true};

	if (from >= to)
		return;
	pthread_mutex_lock(&pc->lock);
	for_each_in(pc, from / PAGE_SIZE, ALIGN_UP(to, PAGE_SIZE) / PAGE_SIZE, span_one, &s);
	pthread_mutex_unlock(&pc->lock);
}

int page_cache_refill(struct page_cache *pc, page_fill_fn fill, void *arg)
{
	int r = 0;

	pthread_mutex_lock(&pc->lock);
	for (size_t i = 0; i < pc->cap && r == 0; i++)
		if (live(pc, i))
			r = fill(arg, pc->slots[i] - 1, memfile_ptr(pc->mf, page_of(pc, i)));
	pthread_mutex_unlock(&pc->lock);
	return r;
}

/* ---- write-back ------------------------------------------------------------------------ */

struct wb_page {
	uint64_t pgoff;
	size_t slot;
};

struct wb_collect {
	struct wb_page *v;
	size_t n;
	bool unmapped_only;
};

static void collect_one(struct page_cache *pc, size_t i, void *arg)
{
	struct wb_collect *c = arg;

	if (!(pc->offs[i] & DIRTY) ||
	    (c->unmapped_only && memfile_refs(pc->mf, page_of(pc, i)) > 1))
		return;
	c->v[c->n++] = (struct wb_page){.pgoff = pc->slots[i] - 1, .slot = i};
}

static int cmp_pgoff(const void *a, const void *b)
{
	const struct wb_page *x = a, *y = b;

	return x->pgoff < y->pgoff ? -1 : x->pgoff > y->pgoff;
}

/* Does page k of v continue the run that ends with page k-1, in the object and the file? */
static bool continues(const struct page_cache *pc, const struct wb_page *v, size_t k)
{
	return v[k].pgoff == v[k - 1].pgoff + 1 &&
	       page_of(pc, v[k].slot) == page_of(pc, v[k - 1].slot) + PAGE_SIZE;
}

/*
 * Writes the collected pages in runs.  A page only the cache holds is clean once written
 * (nothing can map it again while pc->lock is held); a mapped one may be written again.
 */
static int write_runs(struct page_cache *pc, struct wb_collect *c, page_write_fn wr, void *arg)
{
	for (size_t k = 0, end; k < c->n; k = end) {
		int r;

		for (end = k + 1; end < c->n && continues(pc, c->v, end); end++)
			;
		r = wr(arg, c->v[k].pgoff, memfile_ptr(pc->mf, page_of(pc, c->v[k].slot)), end - k);
		if (r < 0)
			return r;
		for (size_t j = k; j < end; j++) {
			size_t i = c->v[j].slot;

			if (memfile_refs(pc->mf, page_of(pc, i)) == 1) {
				pc->offs[i] &= ~DIRTY;
				__atomic_sub_fetch(&pc->ndirty, 1, __ATOMIC_RELAXED);
			}
		}
	}
	return 0;
}

int page_cache_writeback(struct page_cache *pc, uint64_t first, uint64_t last, bool unmapped_only,
			 page_write_fn wr, void *arg)
{
	struct wb_collect c = {.unmapped_only = unmapped_only};
	int r;

	if (!page_cache_has_dirty(pc))
		return 0;
	pthread_mutex_lock(&pc->lock);
	c.v = malloc(MAX(pc->ndirty, 1) * sizeof(*c.v));
	if (!c.v) {
		pthread_mutex_unlock(&pc->lock);
		return -ENOMEM;
	}
	for_each_in(pc, first, last, collect_one, &c);
	qsort(c.v, c.n, sizeof(*c.v), cmp_pgoff);
	r = write_runs(pc, &c, wr, arg);
	pthread_mutex_unlock(&pc->lock);
	free(c.v);
	return r;
}

/* ---- anonymous shared memory ---------------------------------------------------------- */

struct shm_object {
	struct mem_object obj;
	int refs;
	uint64_t size;
	struct page_cache pc;
};

static int shm_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct shm_object *s = container_of(o, struct shm_object, obj);

	if (pgoff * PAGE_SIZE >= s->size)
		return -EFAULT;
	return page_cache_get(&s->pc, pgoff, NULL, NULL, off);
}

static uint64_t shm_size(struct mem_object *o)
{
	return container_of(o, struct shm_object, obj)->size;
}

static void shm_get(struct mem_object *o)
{
	__atomic_add_fetch(&container_of(o, struct shm_object, obj)->refs, 1, __ATOMIC_RELAXED);
}

static void shm_put(struct mem_object *o)
{
	struct shm_object *s = container_of(o, struct shm_object, obj);

	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	page_cache_destroy(&s->pc);
	free(s);
}

static const struct mem_object_ops shm_object_ops = {
	.get_page = shm_get_page,
	.size = shm_size,
	.get = shm_get,
	.put = shm_put,
};

struct mem_object *shm_object_new(struct memfile *mf, uint64_t size)
{
	struct shm_object *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->obj.ops = &shm_object_ops;
	s->refs = 1;
	s->size = size;
	page_cache_init(&s->pc, mf);
	return &s->obj;
}
