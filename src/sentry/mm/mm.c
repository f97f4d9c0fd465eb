/* mm lifecycle: creation, sharing, copy-on-write fork and teardown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/vfs.h"
#include "mm_internal.h"

struct mm *mm_new(struct memfile *mf, struct platform *p)
{
	struct mm *mm = calloc(1, sizeof(*mm));
	struct address_space *as;

	if (!mm)
		return ERR_PTR(-ENOMEM);
	as = platform_new_address_space(p);
	if (IS_ERR(as)) {
		free(mm);
		return ERR_PTR(PTR_ERR(as));
	}
	pthread_mutex_init(&mm->lock, NULL);
	mm->users = 1;
	mm->mf = mf;
	mm->platform = p;
	mm->as = as;
	vma_set_init(&mm->vmas);
	pt_init(&mm->pt);
	mm->min_addr = MAX(p->min_user_address, 0x10000ull);
	mm->max_addr = p->max_user_address;
	mm->mmap_base = mm->max_addr;
	mm->as_limit = ~0ull;
	mm->stack_limit = 8ull << 20;
	return mm;
}

void mm_get(struct mm *mm)
{
	__atomic_add_fetch(&mm->users, 1, __ATOMIC_RELAXED);
}

static void put_pte_page(void *arg, uint64_t va, uint64_t *pte)
{
	struct mm *mm = arg;

	if (*pte & PTE_PRESENT)
		memfile_put(mm->mf, *pte & PTE_ADDR_MASK, 1);
	*pte = 0;
}

void mm_put(struct mm *mm)
{
	if (__atomic_sub_fetch(&mm->users, 1, __ATOMIC_ACQ_REL))
		return;
	platform_release_address_space(mm->as);
	pt_walk(&mm->pt, 0, ~0ull, put_pte_page, mm);
	pt_destroy(&mm->pt);
	vma_set_destroy(&mm->vmas);
	if (mm->exe)
		file_put(mm->exe);
	free(mm);
}

/*
 * At fork, pages the parent has mapped writable would have to be write-protected in the
 * parent (a platform unmap, then a fault on its next write: several per fork, and on some
 * platforms each costs tens of microseconds).  Up to this many of them are instead copied
 * for the child at once, and the parent keeps writing without a fault.  Small processes --
 * shells, the usual fork+exec callers -- then fork without any unmap or parent fault.
 */
#define FORK_EAGER_PAGES 64

struct fork_ctx {
	struct mm *parent, *child;
	const struct vma *v;
	bool eager;   /* copy writable pages for the child now instead of sharing them */
	bool need_wp; /* the parent maps a now-shared page writable */
	int err;
};

static void count_writable(void *arg, uint64_t va, uint64_t *pte)
{
	if ((*pte & PTE_PRESENT) && (*pte & PTE_ANON) && (*pte & PTE_MAP_W))
		(*(size_t *)arg)++;
}

static void fork_pte(void *arg, uint64_t va, uint64_t *pte)
{
	struct fork_ctx *f = arg;
	struct memfile *mf = f->parent->mf;
	uint64_t *cslot;

	if (!(*pte & PTE_PRESENT) || f->err)
		return;
	cslot = pt_slot(&f->child->pt, va, true);
	if (!cslot) {
		f->err = -ENOMEM;
		return;
	}
	if (f->eager && (*pte & PTE_ANON) && (*pte & PTE_MAP_W)) {
		size_t got;
		int64_t off = memfile_alloc(mf, 1, &got);

		if (off >= 0) {
			memcpy(memfile_ptr(mf, (uint64_t)off), memfile_ptr(mf, *pte & PTE_ADDR_MASK),
			       PAGE_SIZE);
			*cslot = (uint64_t)off | PTE_PRESENT | PTE_ANON;
			return;
		}
	}
	memfile_get(mf, *pte & PTE_ADDR_MASK, 1);
	*cslot = *pte & ~PTE_MAPPED;
	if (!(f->v->flags & VMA_SHARED) && (*pte & PTE_MAP_W))
		f->need_wp = true;
}

/* Copies v's pages into the child; write-protects the parent's private writable pages,
 * unless they fit the eager-copy budget. */
static int fork_vma(struct mm *parent, struct mm *child, const struct vma *v, size_t *budget)
{
	struct fork_ctx f = {.parent = parent, .child = child, .v = v};
	size_t writable = 0;

	if (!(v->flags & VMA_SHARED)) {
		pt_walk(&parent->pt, v->start, v->end, count_writable, &writable);
		if (writable && writable <= *budget) {
			f.eager = true;
			*budget -= writable;
		}
	}
	pt_walk(&parent->pt, v->start, v->end, fork_pte, &f);
	if (f.err)
		return f.err;
	if (f.need_wp)
		return mm_unmap_platform(parent, v->start, v->end);
	return 0;
}

static int fork_copy(struct mm *parent, struct mm *child)
{
	size_t budget = FORK_EAGER_PAGES;

	for (size_t i = 0; i < parent->vmas.n; i++) {
		const struct vma *v = &parent->vmas.v[i];
		int r;

		if (child->vmas.n == child->vmas.cap) {
			/* vma_set_insert would merge; append verbatim instead. */
			size_t cap = child->vmas.cap ? child->vmas.cap * 2 : 16;
			struct vma *nv = realloc(child->vmas.v, cap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			child->vmas.v = nv;
			child->vmas.cap = cap;
		}
		child->vmas.v[child->vmas.n++] = *v;
		vma_get_refs(v);
		r = fork_vma(parent, child, v, &budget);
		if (r < 0)
			return r;
	}
	return 0;
}

struct mm *mm_fork(struct mm *parent)
{
	struct mm *child = mm_new(parent->mf, parent->platform);
	int r;

	if (IS_ERR(child))
		return child;
	pthread_mutex_lock(&parent->lock);
	r = fork_copy(parent, child);
	child->mmap_base = parent->mmap_base;
	child->brk_start = parent->brk_start;
	child->brk = parent->brk;
	child->stack_top = parent->stack_top;
	child->arg_start = parent->arg_start;
	child->arg_end = parent->arg_end;
	child->env_start = parent->env_start;
	child->env_end = parent->env_end;
	memcpy(child->auxv, parent->auxv, sizeof(child->auxv));
	child->auxv_len = parent->auxv_len;
	child->vdso_base = parent->vdso_base;
	child->total_pages = parent->total_pages;
	child->as_limit = parent->as_limit;
	child->stack_limit = parent->stack_limit;
	if (parent->exe) {
		child->exe = parent->exe;
		file_get(child->exe);
	}
	pthread_mutex_unlock(&parent->lock);
	if (r < 0) {
		mm_put(child);
		return ERR_PTR(r);
	}
	return child;
}
