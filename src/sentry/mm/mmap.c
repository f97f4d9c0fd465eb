/* mmap, munmap, mprotect, brk, madvise(DONTNEED), mincore and msync on an mm. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cvisor/platform.h"
#include "mm_internal.h"

struct drop_ctx {
	struct mm *mm;
	bool mapped;
};

static void drop_pte(void *arg, uint64_t va, uint64_t *pte)
{
	struct drop_ctx *d = arg;

	if (*pte & PTE_MAPPED)
		d->mapped = true;
	if (*pte & PTE_PRESENT) {
		memfile_put(d->mm->mf, *pte & PTE_ADDR_MASK, 1);
		if (d->mm->rss_pages)
			d->mm->rss_pages--;
	}
	*pte = 0;
}

int mm_drop_range(struct mm *mm, uint64_t start, uint64_t end)
{
	struct drop_ctx d = {.mm = mm};

	pt_walk(&mm->pt, start, end, drop_pte, &d);
	if (d.mapped) {
		__atomic_add_fetch(&mm->mf->stats.unmaps, 1, __ATOMIC_RELAXED);
		return platform_unmap(mm->as, start, end - start);
	}
	return 0;
}

static void unmap_pte(void *arg, uint64_t va, uint64_t *pte)
{
	bool *mapped = arg;

	if (*pte & PTE_MAPPED)
		*mapped = true;
	*pte &= ~PTE_MAPPED;
}

int mm_unmap_platform(struct mm *mm, uint64_t start, uint64_t end)
{
	bool mapped = false;

	pt_walk(&mm->pt, start, end, unmap_pte, &mapped);
	if (mapped) {
		__atomic_add_fetch(&mm->mf->stats.unmaps, 1, __ATOMIC_RELAXED);
		return platform_unmap(mm->as, start, end - start);
	}
	return 0;
}

/* Pages of VMAs overlapping [start, end). */
static uint64_t vma_pages_in(struct mm *mm, uint64_t start, uint64_t end)
{
	uint64_t pages = 0;

	for (size_t i = vma_set_lower_bound(&mm->vmas, start);
	     i < mm->vmas.n && mm->vmas.v[i].start < end; i++) {
		const struct vma *v = &mm->vmas.v[i];

		pages += (MIN(v->end, end) - MAX(v->start, start)) / PAGE_SIZE;
	}
	return pages;
}

static int unmap_locked(struct mm *mm, uint64_t start, uint64_t end)
{
	uint64_t pages = vma_pages_in(mm, start, end);
	int r = mm_drop_range(mm, start, end);

	if (r < 0)
		return r;
	r = vma_set_remove(&mm->vmas, start, end);
	if (r < 0)
		return r;
	mm->total_pages -= pages;
	return 0;
}

static bool range_free(struct mm *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_set_lower_bound(&mm->vmas, start);

	return i == mm->vmas.n || mm->vmas.v[i].start >= end;
}

/* Picks the address of a new mapping; 0 when there is no room. */
static uint64_t choose_addr(struct mm *mm, const struct mm_map_req *r, uint64_t len)
{
	uint64_t hint = r->addr & PAGE_MASK;

	if (hint >= mm->min_addr && hint + len <= mm->max_addr && hint + len > hint &&
	    range_free(mm, hint, hint + len))
		return hint;
	return vma_set_find_gap(&mm->vmas, len, mm->min_addr, mm->mmap_base);
}

static int populate(struct mm *mm, struct vma *v, uint64_t start, uint64_t end)
{
	bool write = (v->prot & PROT_WRITE) && (v->flags & VMA_SHARED);

	for (uint64_t a = start; a < end; a += PAGE_SIZE) {
		uint64_t *pte;
		bool changed;
		int r = mm_resolve_page(mm, v, a, write, &pte, &changed);

		if (r < 0)
			return r == -EFAULT ? 0 : r;
	}
	return mm_map_ptes(mm, v, start, (end - start) / PAGE_SIZE);
}

static int64_t map_locked(struct mm *mm, const struct mm_map_req *r, uint64_t len)
{
	uint64_t addr;
	struct vma v;
	int e;

	if (r->flags & (MM_FIXED | MM_FIXED_NOREPLACE)) {
		addr = r->addr;
		if (addr < mm->min_addr || addr + len > mm->max_addr || addr + len < addr)
			return (r->flags & MM_FIXED) ? -EPERM : -ENOMEM;
		if ((r->flags & MM_FIXED_NOREPLACE) && !range_free(mm, addr, addr + len))
			return -EEXIST;
	} else {
		addr = choose_addr(mm, r, len);
		if (!addr)
			return -ENOMEM;
	}
	uint64_t replaced = vma_pages_in(mm, addr, addr + len);

	if ((mm->total_pages - replaced + len / PAGE_SIZE) * PAGE_SIZE > mm->as_limit)
		return -ENOMEM;
	if ((r->flags & MM_FIXED) && (e = unmap_locked(mm, addr, addr + len)) < 0)
		return e;
	v = (struct vma){
		.start = addr,
		.end = addr + len,
		.prot = r->prot,
		.max_prot = r->max_prot ? r->max_prot : PROT_READ | PROT_WRITE | PROT_EXEC,
		.flags = r->vma_flags | ((r->flags & MM_SHARED) ? VMA_SHARED : 0) |
			 ((r->flags & MM_GROWSDOWN) ? VMA_GROWSDOWN : 0) |
			 ((r->flags & MM_NORESERVE) ? VMA_NORESERVE : 0),
		.obj = r->obj,
		.obj_off = r->obj_off,
		.file = r->file,
	};
	vma_get_refs(&v);
	if ((e = vma_set_insert(&mm->vmas, &v)) < 0) {
		vma_put_refs(&v);
		return e;
	}
	mm->total_pages += len / PAGE_SIZE;
	if (r->flags & MM_POPULATE) {
		struct vma *pv = vma_set_find(&mm->vmas, addr);

		if ((e = populate(mm, pv, addr, addr + len)) < 0)
			return e;
	}
	return (int64_t)addr;
}

int64_t mm_map(struct mm *mm, const struct mm_map_req *r)
{
	uint64_t len = ALIGN_UP(r->len, PAGE_SIZE);
	int64_t ret;

	if (r->len == 0 || len < r->len)
		return -EINVAL;
	if ((r->flags & (MM_FIXED | MM_FIXED_NOREPLACE)) && !IS_ALIGNED(r->addr, PAGE_SIZE))
		return -EINVAL;
	pthread_mutex_lock(&mm->lock);
	ret = map_locked(mm, r, len);
	pthread_mutex_unlock(&mm->lock);
	return ret;
}

int mm_unmap(struct mm *mm, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
	int r;

	if (!IS_ALIGNED(addr, PAGE_SIZE) || len == 0 || end < addr)
		return -EINVAL;
	if (addr >= mm->max_addr)
		return 0;
	end = MIN(end, mm->max_addr);
	pthread_mutex_lock(&mm->lock);
	r = unmap_locked(mm, addr, end);
	pthread_mutex_unlock(&mm->lock);
	return r;
}

/* Every page of [start, end) is covered by some VMA. */
static bool fully_mapped(struct mm *mm, uint64_t start, uint64_t end)
{
	uint64_t at = start;

	for (size_t i = vma_set_lower_bound(&mm->vmas, start); i < mm->vmas.n && at < end; i++) {
		if (mm->vmas.v[i].start > at)
			return false;
		at = mm->vmas.v[i].end;
	}
	return at >= end;
}

static int protect_locked(struct mm *mm, uint64_t start, uint64_t end, int prot)
{
	int r;

	if (!fully_mapped(mm, start, end))
		return -ENOMEM;
	for (size_t i = vma_set_lower_bound(&mm->vmas, start);
	     i < mm->vmas.n && mm->vmas.v[i].start < end; i++)
		if ((prot & ~mm->vmas.v[i].max_prot) != 0)
			return -EACCES;
	if ((r = vma_set_split(&mm->vmas, start)) < 0 || (r = vma_set_split(&mm->vmas, end)) < 0)
		return r;
	for (size_t i = vma_set_lower_bound(&mm->vmas, start);
	     i < mm->vmas.n && mm->vmas.v[i].start < end; i++) {
		struct vma *v = &mm->vmas.v[i];
		bool narrower = (v->prot & ~prot) != 0;

		/* Pages already present become writable without passing through get_page. */
		if ((v->flags & VMA_SHARED) && v->obj && (prot & ~v->prot & PROT_WRITE))
			mem_object_map_writable(v->obj, v->obj_off, v->end - v->start);
		v->prot = prot;
		if (narrower && (r = mm_unmap_platform(mm, v->start, v->end)) < 0)
			return r;
	}
	size_t first = vma_set_lower_bound(&mm->vmas, start);
	size_t last = vma_set_lower_bound(&mm->vmas, end);

	for (size_t i = MIN(last, mm->vmas.n - 1) + 1; i-- > first;)
		vma_set_merge_around(&mm->vmas, i);
	return 0;
}

int mm_protect(struct mm *mm, uint64_t addr, uint64_t len, int prot)
{
	uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
	int r;

	if (!IS_ALIGNED(addr, PAGE_SIZE) || end < addr)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (prot & PROT_WRITE)
		prot |= PROT_READ;
	pthread_mutex_lock(&mm->lock);
	r = protect_locked(mm, addr, end, prot);
	pthread_mutex_unlock(&mm->lock);
	return r;
}

uint64_t mm_brk(struct mm *mm, uint64_t newbrk)
{
	uint64_t old_end, new_end, ret;

	pthread_mutex_lock(&mm->lock);
	ret = mm->brk;
	if (newbrk < mm->brk_start || newbrk >= mm->max_addr)
		goto out;
	old_end = ALIGN_UP(mm->brk, PAGE_SIZE);
	new_end = ALIGN_UP(newbrk, PAGE_SIZE);
	if (new_end > old_end) {
		struct mm_map_req r = {
			.addr = old_end,
			.len = new_end - old_end,
			.prot = PROT_READ | PROT_WRITE,
			.flags = MM_FIXED_NOREPLACE,
			.vma_flags = VMA_HEAP,
		};

		if (map_locked(mm, &r, new_end - old_end) < 0)
			goto out;
	} else if (new_end < old_end && unmap_locked(mm, new_end, old_end) < 0) {
		goto out;
	}
	mm->brk = ret = newbrk;
out:
	pthread_mutex_unlock(&mm->lock);
	return ret;
}

int mm_dontneed(struct mm *mm, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
	int r = 0;

	if (!IS_ALIGNED(addr, PAGE_SIZE) || end < addr)
		return -EINVAL;
	pthread_mutex_lock(&mm->lock);
	for (size_t i = vma_set_lower_bound(&mm->vmas, addr);
	     i < mm->vmas.n && mm->vmas.v[i].start < end && r == 0; i++) {
		const struct vma *v = &mm->vmas.v[i];

		if (v->flags & VMA_LOCKED)
			r = -EINVAL;
		else
			r = mm_drop_range(mm, MAX(v->start, addr), MIN(v->end, end));
	}
	pthread_mutex_unlock(&mm->lock);
	return r;
}

int mm_mincore(struct mm *mm, uint64_t addr, uint64_t len, uint8_t *vec)
{
	uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
	int r = 0;

	if (!IS_ALIGNED(addr, PAGE_SIZE) || end < addr)
		return -EINVAL;
	pthread_mutex_lock(&mm->lock);
	if (!fully_mapped(mm, addr, end))
		r = -ENOMEM;
	for (uint64_t a = addr; r == 0 && a < end; a += PAGE_SIZE) {
		uint64_t *pte = pt_slot(&mm->pt, a, false);

		vec[(a - addr) / PAGE_SIZE] = pte && (*pte & PTE_PRESENT);
	}
	pthread_mutex_unlock(&mm->lock);
	return r;
}

/* An object range msync must write back, collected under mm->lock and synced after it. */
struct sync_item {
	struct mem_object *obj; /* a reference */
	uint64_t off, len;
};

struct sync_list {
	struct sync_item *v;
	size_t n, cap;
};

static int sync_add(struct sync_list *l, struct mem_object *obj, uint64_t off, uint64_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct sync_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	obj->ops->get(obj);
	l->v[l->n++] = (struct sync_item){.obj = obj, .off = off, .len = len};
	return 0;
}

/*
 * Linux's msync walk: gaps give -ENOMEM (at once when flags is exactly MS_SYNC, otherwise
 * after the rest), MS_INVALIDATE of a locked VMA -EBUSY; shared object ranges are collected.
 */
static int msync_collect(struct mm *mm, uint64_t start, uint64_t end, unsigned flags,
			 struct sync_list *l, int *unmapped)
{
	size_t i = vma_set_lower_bound(&mm->vmas, start);

	for (; i < mm->vmas.n; i++) {
		const struct vma *v = &mm->vmas.v[i];
		int r;

		if (start < v->start) {
			if (flags == MM_MS_SYNC || v->start >= end)
				return -ENOMEM;
			start = v->start;
			*unmapped = -ENOMEM;
		}
		if ((flags & MM_MS_INVALIDATE) && (v->flags & VMA_LOCKED))
			return -EBUSY;
		if ((flags & (MM_MS_SYNC | MM_MS_ASYNC)) && (v->flags & VMA_SHARED) && v->obj &&
		    (r = sync_add(l, v->obj, v->obj_off + (start - v->start),
				  MIN(end, v->end) - start)) < 0)
			return r;
		start = v->end;
		if (start >= end)
			return 0;
	}
	return -ENOMEM;
}

int mm_msync(struct mm *mm, uint64_t addr, uint64_t len, unsigned flags)
{
	uint64_t end = addr + ALIGN_UP(len, PAGE_SIZE);
	struct sync_list l = {0};
	int unmapped = 0, r;

	if (end < addr)
		return -ENOMEM;
	if (end == addr)
		return 0;
	pthread_mutex_lock(&mm->lock);
	r = msync_collect(mm, addr, end, flags, &l, &unmapped);
	pthread_mutex_unlock(&mm->lock);
	/* The write-back itself runs without mm->lock: faults go on meanwhile. */
	for (size_t i = 0; i < l.n; i++) {
		int e = mem_object_sync(l.v[i].obj, l.v[i].off, l.v[i].len, flags & MM_MS_SYNC);

		if (e < 0 && r == 0)
			r = e;
		l.v[i].obj->ops->put(l.v[i].obj);
	}
	free(l.v);
	return r ? r : unmapped;
}
