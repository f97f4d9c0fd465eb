/*
 * The VMA set: a sorted array of non-overlapping VMAs with binary search.  Processes have
 * tens to a few thousand VMAs, where a sorted array beats a tree on constant factors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

void vma_set_init(struct vma_set *s)
{
	s->v = NULL;
	s->n = s->cap = 0;
}

void vma_get_refs(const struct vma *v)
{
	if (v->obj)
		v->obj->ops->get(v->obj);
	if (v->file)
		file_get(v->file);
}

void vma_put_refs(const struct vma *v)
{
	if (v->obj)
		v->obj->ops->put(v->obj);
	if (v->file)
		file_put(v->file);
}

void vma_set_destroy(struct vma_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		vma_put_refs(&s->v[i]);
	free(s->v);
	vma_set_init(s);
}

size_t vma_set_lower_bound(const struct vma_set *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vma *vma_set_find(struct vma_set *s, uint64_t addr)
{
	size_t i = vma_set_lower_bound(s, addr);

	if (i < s->n && s->v[i].start <= addr)
		return &s->v[i];
	return NULL;
}

static int reserve(struct vma_set *s, size_t extra)
{
	if (s->n + extra <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap * 2 : 16;

	while (cap < s->n + extra)
		cap *= 2;
	struct vma *v = realloc(s->v, cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

int vma_set_split(struct vma_set *s, uint64_t addr)
{
	size_t i = vma_set_lower_bound(s, addr);

	if (i == s->n || s->v[i].start >= addr)
		return 0;
	if (reserve(s, 1))
		return -ENOMEM;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
	s->n++;
	struct vma *lo = &s->v[i], *hi = &s->v[i + 1];

	lo->end = addr;
	hi->obj_off += addr - hi->start;
	hi->start = addr;
	vma_get_refs(hi);
	return 0;
}

int vma_set_insert(struct vma_set *s, const struct vma *v)
{
	size_t i = vma_set_lower_bound(s, v->start);

	if (i < s->n && s->v[i].start < v->end)
		return -EEXIST;
	if (reserve(s, 1))
		return -ENOMEM;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
	s->v[i] = *v;
	s->n++;
	vma_set_merge_around(s, i);
	return 0;
}

int vma_set_remove(struct vma_set *s, uint64_t start, uint64_t end)
{
	if (vma_set_split(s, start) || vma_set_split(s, end))
		return -ENOMEM;
	size_t i = vma_set_lower_bound(s, start), j = i;

	while (j < s->n && s->v[j].start < end) {
		vma_put_refs(&s->v[j]);
		j++;
	}
	memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i;
	return 0;
}

static bool mergeable(const struct vma *a, const struct vma *b)
{
	if (a->end != b->start || a->prot != b->prot || a->max_prot != b->max_prot ||
	    a->flags != b->flags || a->obj != b->obj || a->file != b->file)
		return false;
	if (a->flags & (VMA_VDSO | VMA_VVAR | VMA_STACK))
		return false;
	return !a->obj || a->obj_off + (a->end - a->start) == b->obj_off;
}

void vma_set_merge_around(struct vma_set *s, size_t i)
{
	if (i + 1 < s->n && mergeable(&s->v[i], &s->v[i + 1])) {
		s->v[i].end = s->v[i + 1].end;
		vma_put_refs(&s->v[i + 1]);
		memmove(&s->v[i + 1], &s->v[i + 2], (s->n - i - 2) * sizeof(s->v[0]));
		s->n--;
	}
	if (i > 0 && i < s->n && mergeable(&s->v[i - 1], &s->v[i])) {
		s->v[i - 1].end = s->v[i].end;
		vma_put_refs(&s->v[i]);
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
		s->n--;
	}
}

uint64_t vma_set_find_gap(const struct vma_set *s, uint64_t len, uint64_t floor, uint64_t below)
{
	size_t i = vma_set_lower_bound(s, below);
	uint64_t top = below;

	/* Walk down from the VMA at or above `below`, looking at the gap under each. */
	if (i < s->n && s->v[i].start < below)
		top = s->v[i].start;
	for (;;) {
		uint64_t bottom = i > 0 ? s->v[i - 1].end : floor;

		if (bottom < floor)
			bottom = floor;
		if (top >= bottom + len && top - len >= floor)
			return top - len;
		if (i == 0 || s->v[i - 1].end <= floor)
			return 0;
		i--;
		top = s->v[i].start;
	}
}
