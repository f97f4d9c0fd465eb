/* mremap(2): shrink, grow in place, or move a mapping with its pages. */
#include <errno.h>
#include <sys/mman.h>

#include "cvisor/platform.h"
#include "mm_internal.h"

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#endif
#define MREMAP_DONTUNMAP 4

struct move_ctx {
	struct mm *mm;
	uint64_t delta; /* new - old, modulo 2^64 */
	bool mapped;
	int err;
};

static void move_pte(void *arg, uint64_t va, uint64_t *pte)
{
	struct move_ctx *m = arg;
	uint64_t *dst = pt_slot(&m->mm->pt, va + m->delta, true);

	if (!dst) {
		m->err = -ENOMEM;
		return;
	}
	if (*pte & PTE_MAPPED)
		m->mapped = true;
	*dst = *pte & ~PTE_MAPPED;
	*pte = 0;
}

/* Moves [old, old+old_len) of VMA v to dest, giving it new_len bytes. */
static int64_t move_locked(struct mm *mm, struct vma *v, uint64_t old, uint64_t old_len,
			   uint64_t new_len, uint64_t dest)
{
	struct vma nv = *v;
	struct move_ctx m = {.mm = mm, .delta = dest - old};
	int r;

	nv.obj_off += old - v->start;
	nv.start = dest;
	nv.end = dest + new_len;
	nv.flags &= ~VMA_STACK;
	pt_walk(&mm->pt, old, old + old_len, move_pte, &m);
	if (m.err)
		return m.err;
	if (m.mapped && (r = platform_unmap(mm->as, old, old_len)) < 0)
		return r;
	vma_get_refs(&nv);
	if ((r = vma_set_remove(&mm->vmas, old, old + old_len)) < 0 ||
	    (r = vma_set_insert(&mm->vmas, &nv)) < 0) {
		vma_put_refs(&nv);
		return r;
	}
	mm->total_pages += (new_len - old_len) / PAGE_SIZE;
	return (int64_t)dest;
}

static bool is_free(struct mm *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_set_lower_bound(&mm->vmas, start);

	return end <= mm->max_addr && (i == mm->vmas.n || mm->vmas.v[i].start >= end);
}

static int64_t remap_locked(struct mm *mm, uint64_t old, uint64_t old_len, uint64_t new_len,
			    unsigned flags, uint64_t new_addr)
{
	struct vma *v = vma_set_find(&mm->vmas, old);
	uint64_t dest;
	int r;

	if (!v || old + old_len > v->end)
		return -EFAULT;
	if (flags & MREMAP_FIXED) {
		if (new_addr < mm->min_addr || new_addr + new_len > mm->max_addr ||
		    (new_addr < old + old_len && old < new_addr + new_len))
			return -EINVAL;
		if ((r = mm_drop_range(mm, new_addr, new_addr + new_len)) < 0 ||
		    (r = vma_set_remove(&mm->vmas, new_addr, new_addr + new_len)) < 0)
			return r;
		v = vma_set_find(&mm->vmas, old);
		return move_locked(mm, v, old, old_len, new_len, new_addr);
	}
	if (new_len <= old_len) {
		if ((r = mm_drop_range(mm, old + new_len, old + old_len)) < 0 ||
		    (r = vma_set_remove(&mm->vmas, old + new_len, old + old_len)) < 0)
			return r;
		mm->total_pages -= (old_len - new_len) / PAGE_SIZE;
		return (int64_t)old;
	}
	if ((mm->total_pages + (new_len - old_len) / PAGE_SIZE) * PAGE_SIZE > mm->as_limit)
		return -ENOMEM;
	if (v->end == old + old_len && is_free(mm, old + old_len, old + new_len)) {
		v->end = old + new_len;
		mm->total_pages += (new_len - old_len) / PAGE_SIZE;
		return (int64_t)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	dest = vma_set_find_gap(&mm->vmas, new_len, mm->min_addr, mm->mmap_base);
	if (!dest)
		return -ENOMEM;
	return move_locked(mm, v, old, old_len, new_len, dest);
}

int64_t mm_remap(struct mm *mm, uint64_t old, uint64_t old_len, uint64_t new_len, unsigned flags,
		 uint64_t new_addr)
{
	int64_t r;

	old_len = ALIGN_UP(old_len, PAGE_SIZE);
	new_len = ALIGN_UP(new_len, PAGE_SIZE);
	if (!IS_ALIGNED(old, PAGE_SIZE) || new_len == 0 || (flags & ~7u) ||
	    (flags & MREMAP_DONTUNMAP) ||
	    ((flags & MREMAP_FIXED) && (!(flags & MREMAP_MAYMOVE) || !IS_ALIGNED(new_addr, PAGE_SIZE))))
		return -EINVAL;
	if (old_len == 0)
		return -EINVAL; /* duplicating a shared mapping is not supported */
	pthread_mutex_lock(&mm->lock);
	r = remap_locked(mm, old, old_len, new_len, flags, new_addr);
	pthread_mutex_unlock(&mm->lock);
	return r;
}
