/*
 * Page caches: object pages (file contents, shared memory) held in the memory file, so that
 * every mapping of an object shares the same pages.  An open-addressed hash of page index to
 * memory-file offset; each cached page holds one reference.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/mm.h"

#define EMPTY 0ull
#define TOMB ~0ull

void page_cache_init(struct page_cache *pc, struct memfile *mf)
{
	memset(pc, 0, sizeof(*pc));
	pc->mf = mf;
	pthread_mutex_init(&pc->lock, NULL);
}

void page_cache_destroy(struct page_cache *pc)
{
	for (size_t i = 0; i < pc->cap; i++)
		if (pc->slots[i] != EMPTY && pc->slots[i] != TOMB)
			memfile_put(pc->mf, pc->offs[i], 1);
	free(pc->slots);
	free(pc->offs);
	pc->slots = pc->offs = NULL;
	pc->cap = pc->n = 0;
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

		if (old.slots[i] == EMPTY || old.slots[i] == TOMB)
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
			r = (int64_t)pc->offs[i];
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
		*off = pc->offs[i];
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

void page_cache_truncate(struct page_cache *pc, uint64_t pgoff)
{
	pthread_mutex_lock(&pc->lock);
	for (size_t i = 0; i < pc->cap; i++) {
		if (pc->slots[i] == EMPTY || pc->slots[i] == TOMB || pc->slots[i] - 1 < pgoff)
			continue;
		memfile_put(pc->mf, pc->offs[i], 1);
		pc->slots[i] = TOMB;
		pc->n--;
	}
	pthread_mutex_unlock(&pc->lock);
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
