/*
 * Page faults: finding or growing the VMA, making pages present (zero pages, object pages,
 * copy-on-write breaks), and mapping them into the platform address space in batches.
 *
 * Platforms may not know the access type of a fault (ptrace reports only the address).  A
 * fault on an unmapped page is resolved with the widest protection that is safe; a fault on a
 * page already mapped with less than the VMA allows must be the missing access (a write to a
 * COW page); a fault on a page mapped with everything the VMA allows is a real violation.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cvisor/platform.h"
#include "mm_internal.h"

struct vma *mm_find_vma_grow(struct mm *mm, uint64_t addr)
{
	size_t i = vma_set_lower_bound(&mm->vmas, addr);
	struct vma *v;
	uint64_t page = addr & PAGE_MASK;

	if (i == mm->vmas.n)
		return NULL;
	v = &mm->vmas.v[i];
	if (v->start <= addr)
		return v;
	if (!(v->flags & VMA_GROWSDOWN))
		return NULL;
	/* Grow only within RLIMIT_STACK of the top and never into the VMA below. */
	if (v->end - page > mm->stack_limit || page < mm->min_addr)
		return NULL;
	if (i > 0 && mm->vmas.v[i - 1].end > page - PAGE_SIZE)
		return NULL;
	mm->total_pages += (v->start - page) / PAGE_SIZE;
	v->start = page;
	return v;
}

int mm_pte_prot(struct mm *mm, const struct vma *v, uint64_t pte)
{
	int prot = v->prot;

	if (!(v->flags & VMA_SHARED) &&
	    (!(pte & PTE_ANON) || memfile_refs(mm->mf, pte & PTE_ADDR_MASK) > 1))
		prot &= ~PROT_WRITE;
	return prot;
}

/* Copies the page at src_off into a new private page; returns its PTE or -errno. */
static int64_t copy_page(struct mm *mm, uint64_t src_off)
{
	size_t got;
	int64_t off = memfile_alloc(mm->mf, 1, &got);

	if (off < 0)
		return off;
	__atomic_add_fetch(&mm->mf->stats.cow_copies, 1, __ATOMIC_RELAXED);
	memcpy(memfile_ptr(mm->mf, (uint64_t)off), memfile_ptr(mm->mf, src_off), PAGE_SIZE);
	return off | (int64_t)(PTE_PRESENT | PTE_ANON);
}

/* Fills a not-present PTE of v at va. */
static int fill_pte(struct mm *mm, struct vma *v, uint64_t va, bool write, uint64_t *pte)
{
	uint64_t off;
	size_t got;
	int r;

	if (!v->obj) {
		int64_t page = memfile_alloc(mm->mf, 1, &got);

		if (page < 0)
			return (int)page;
		*pte = (uint64_t)page | PTE_PRESENT | PTE_ANON;
		mm->rss_pages++;
		return 0;
	}
	/* Shared pages are mapped with the VMA's protection whatever the access: tell the
	 * object whether this one may be written through it. */
	r = v->obj->ops->get_page(v->obj, (v->obj_off + (va - v->start)) / PAGE_SIZE,
				  (v->flags & VMA_SHARED) && (v->prot & PROT_WRITE), &off);
	if (r < 0)
		return r;
	*pte = off | PTE_PRESENT;
	mm->rss_pages++;
	if (write && !(v->flags & VMA_SHARED)) {
		int64_t n = copy_page(mm, off);

		memfile_put(mm->mf, off, 1);
		if (n < 0) {
			*pte = 0;
			return (int)n;
		}
		*pte = (uint64_t)n;
	}
	return 0;
}

int mm_resolve_page(struct mm *mm, struct vma *v, uint64_t va, bool write, uint64_t **ptep,
		    bool *changed)
{
	uint64_t *pte = pt_slot(&mm->pt, va, true);
	uint64_t old;

	*changed = false;
	if (!pte)
		return -ENOMEM;
	*ptep = pte;
	if (!(*pte & PTE_PRESENT))
		return fill_pte(mm, v, va, write, pte);
	if (!write || (v->flags & VMA_SHARED))
		return 0;
	old = *pte;
	if ((old & PTE_ANON) && memfile_refs(mm->mf, old & PTE_ADDR_MASK) == 1)
		return 0;
	int64_t n = copy_page(mm, old & PTE_ADDR_MASK);

	if (n < 0)
		return (int)n;
	memfile_put(mm->mf, old & PTE_ADDR_MASK, 1);
	*pte = (uint64_t)n | (old & PTE_MAPPED);
	*changed = (old & PTE_MAPPED) != 0;
	return 0;
}

/* Allocates a contiguous run of zero pages for the absent PTEs of an anonymous VMA. */
static int fill_anon_run(struct mm *mm, uint64_t va, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t got;
		int64_t off = memfile_alloc(mm->mf, n - done, &got);

		if (off < 0)
			return done ? 0 : (int)off;
		for (size_t i = 0; i < got; i++) {
			uint64_t *pte = pt_slot(&mm->pt, va + (done + i) * PAGE_SIZE, true);

			if (!pte) {
				memfile_put(mm->mf, (uint64_t)off + i * PAGE_SIZE, got - i);
				return -ENOMEM;
			}
			*pte = ((uint64_t)off + i * PAGE_SIZE) | PTE_PRESENT | PTE_ANON;
		}
		mm->rss_pages += got;
		done += got;
	}
	return 0;
}

/* How many pages from va are absent in the page table, up to max. */
static size_t absent_run(struct mm *mm, uint64_t va, size_t max)
{
	size_t n = 0;

	while (n < max) {
		uint64_t *pte = pt_slot(&mm->pt, va + n * PAGE_SIZE, false);

		if (pte && *pte)
			break;
		n++;
	}
	return n;
}

int mm_map_ptes(struct mm *mm, struct vma *v, uint64_t va, size_t n)
{
	uint64_t run_va = 0, run_off = 0, run_len = 0;
	int run_prot = 0, r;

	for (size_t i = 0; i <= n; i++) {
		uint64_t a = va + i * PAGE_SIZE, *pte = NULL;
		int prot = -1;

		if (i < n && (pte = pt_slot(&mm->pt, a, false)) && (*pte & PTE_PRESENT))
			prot = mm_pte_prot(mm, v, *pte);
		if (run_len && prot == run_prot && (*pte & PTE_ADDR_MASK) == run_off + run_len &&
		    pte_prot(*pte) != prot) {
			run_len += PAGE_SIZE;
		} else {
			if (run_len) {
				__atomic_add_fetch(&mm->mf->stats.maps, 1, __ATOMIC_RELAXED);
				__atomic_add_fetch(&mm->mf->stats.map_pages, run_len / PAGE_SIZE,
						   __ATOMIC_RELAXED);
				r = platform_map_file(mm->as, run_va, run_len, run_off, run_prot);
				if (r < 0)
					return r;
			}
			run_len = 0;
			if (prot < 0 || pte_prot(*pte) == prot)
				continue;
			run_va = a;
			run_off = *pte & PTE_ADDR_MASK;
			run_len = PAGE_SIZE;
			run_prot = prot;
		}
		*pte = (*pte & ~PTE_MAPPED) | prot_pte_bits(prot);
	}
	return 0;
}

/* Can the page at va join a run mapped as one with its neighbour at va-step? */
static bool joins_run(struct mm *mm, struct vma *v, uint64_t va, uint64_t prev_off, int prot,
		      int64_t step)
{
	uint64_t *pte = pt_slot(&mm->pt, va, false);

	return pte && (*pte & PTE_PRESENT) && !(*pte & PTE_MAPPED) &&
	       (*pte & PTE_ADDR_MASK) == prev_off + (uint64_t)step &&
	       mm_pte_prot(mm, v, *pte) == prot;
}

/*
 * Maps the faulting page and, with it, the present but unmapped neighbours that are contiguous
 * in the memory file and would get the same protection: one platform map per fault, covering
 * what fork and exec left unmapped around it (within an aligned window).
 */
static int map_around(struct mm *mm, struct vma *v, uint64_t page)
{
	uint64_t win = FAULT_AROUND_PAGES * PAGE_SIZE;
	uint64_t lo_lim = MAX(ALIGN_DOWN(page, win), v->start), hi_lim = MIN(lo_lim + win, v->end);
	uint64_t *pte = pt_slot(&mm->pt, page, false);
	uint64_t lo = page, hi = page + PAGE_SIZE, off;
	int prot;

	if (!pte || !(*pte & PTE_PRESENT))
		return mm_map_ptes(mm, v, page, 1);
	off = *pte & PTE_ADDR_MASK;
	prot = mm_pte_prot(mm, v, *pte);
	while (lo > lo_lim && joins_run(mm, v, lo - PAGE_SIZE, off - (page - lo), prot, -(int64_t)PAGE_SIZE))
		lo -= PAGE_SIZE;
	while (hi < hi_lim && joins_run(mm, v, hi, off + (hi - page) - PAGE_SIZE, prot, PAGE_SIZE))
		hi += PAGE_SIZE;
	return mm_map_ptes(mm, v, lo, (hi - lo) / PAGE_SIZE);
}

/*
 * File fault-around: the absent object pages of v in the faulting page's aligned window (64
 * pages in a read-only mapping, 16 in a writable one; within v, stopping at the object's end) are made present read-only, then the window is mapped, so
 * a program running a library's code or reading a mapped file faults once per window instead
 * of once per page.  Pages of the page cache cost no memory of their own; a write to one of a
 * private mapping still faults and copies it.  Writable shared mappings are left alone: a page
 * handed to them counts as dirty.
 */
static int map_around_file(struct mm *mm, struct vma *v, uint64_t page)
{
	uint64_t win = (v->prot & PROT_WRITE ? FAULT_AROUND_PAGES : FILE_FAULT_AROUND_RO_PAGES) *
		       PAGE_SIZE;
	uint64_t base = ALIGN_DOWN(page, win);
	uint64_t lo = MAX(base, v->start), hi = MIN(base + win, v->end);
	uint64_t *pte;
	bool changed;

	if ((v->flags & VMA_SHARED) && (v->prot & PROT_WRITE))
		return map_around(mm, v, page);
	for (uint64_t a = lo; a < hi; a += PAGE_SIZE) {
		if (a == page || ((pte = pt_slot(&mm->pt, a, false)) && *pte))
			continue;
		if (mm_resolve_page(mm, v, a, false, &pte, &changed) < 0) {
			if (a > page)
				hi = a; /* past the object's end */
			else
				lo = a + PAGE_SIZE;
		}
	}
	return mm_map_ptes(mm, v, lo, (hi - lo) / PAGE_SIZE);
}

/* Decides what an access of unknown type on an already mapped page must have been. */
static int infer_access(const struct vma *v, uint64_t pte, unsigned *access)
{
	int cur = pte_prot(pte);

	if ((v->prot & PROT_WRITE) && !(cur & PROT_WRITE)) {
		*access = ACCESS_WRITE;
		return 0;
	}
	if ((v->prot & PROT_EXEC) && !(cur & PROT_EXEC)) {
		*access = ACCESS_EXEC;
		return 0;
	}
	if (!(pte & PTE_MAPPED))
		return 0;
	return -EACCES; /* mapped with all the VMA allows: the access itself is forbidden */
}

static int check_access(const struct vma *v, unsigned access)
{
	if (v->prot == PROT_NONE)
		return -EACCES;
	if ((access & ACCESS_WRITE) && !(v->prot & PROT_WRITE))
		return -EACCES;
	if ((access & ACCESS_EXEC) && !(v->prot & PROT_EXEC))
		return -EACCES;
	return 0;
}

static int fault_locked(struct mm *mm, uint64_t addr, unsigned access, bool repeated)
{
	uint64_t page = addr & PAGE_MASK, *pte;
	struct vma *v = mm_find_vma_grow(mm, addr);
	bool changed;
	int r;

	if (!v)
		return -EFAULT;
	if ((r = check_access(v, access)) < 0)
		return r;
	pte = pt_slot(&mm->pt, page, false);
	if (pte && *pte && !access && (r = infer_access(v, *pte, &access)) < 0)
		return repeated ? r : 0;
	if ((!pte || !*pte) && !v->obj) {
		/*
		 * Fault-around: a run of fresh anonymous pages, mapped in one call.  A fault just past
		 * the previous run is memory being filled in order (a large buffer, a growing heap):
		 * each such run is twice the last (up to 2 MiB), so filling N pages costs about
		 * N/512 + 6 faults instead of N/16, and what is allocated ahead of the program never
		 * exceeds what it already filled in that sequence.
		 */
		size_t want = FAULT_AROUND_PAGES, n;

		if (page == mm->anon_run_end && mm->anon_run_pages)
			want = MIN(mm->anon_run_pages * 2, FAULT_AROUND_MAX_PAGES);
		n = absent_run(mm, page, MIN(want, (v->end - page) / PAGE_SIZE));
		if ((r = fill_anon_run(mm, page, n)) < 0)
			return r;
		mm->anon_run_end = page + n * PAGE_SIZE;
		mm->anon_run_pages = want;
		return mm_map_ptes(mm, v, page, n);
	}
	r = mm_resolve_page(mm, v, page, access & ACCESS_WRITE, &pte, &changed);
	if (r < 0)
		return r;
	if (changed)
		*pte &= ~PTE_MAPPED;
	return v->obj ? map_around_file(mm, v, page) : map_around(mm, v, page);
}

int mm_handle_fault(struct mm *mm, uint64_t addr, unsigned access, bool repeated)
{
	int r;

	if (addr < mm->min_addr || addr >= mm->max_addr)
		return -EFAULT;
	pthread_mutex_lock(&mm->lock);
	mm->faults++;
	__atomic_add_fetch(&mm->mf->stats.faults, 1, __ATOMIC_RELAXED);
	r = fault_locked(mm, addr, access, repeated);
	pthread_mutex_unlock(&mm->lock);
	return r;
}
