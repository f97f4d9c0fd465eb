/* Private to src/sentry/mm. */
#ifndef CV_SENTRY_MM_INTERNAL_H
#define CV_SENTRY_MM_INTERNAL_H

#include "cvisor/sentry/mm.h"

/* Pages faulted in ahead of an access, to batch platform mappings. */
#define FAULT_AROUND_PAGES 16
/* The window of a read-only file mapping (program text, constants): a page of the page cache
 * costs a lookup, a fault a trap and a platform map. */
#define FILE_FAULT_AROUND_RO_PAGES 64
/* The most a run of fresh anonymous pages grows to while they are touched in order (2 MiB,
 * what a transparent huge page would give natively). */
#define FAULT_AROUND_MAX_PAGES 512

/* Called with mm->lock held. */

/* The VMA containing addr, growing a GROWSDOWN stack down to it when allowed; or NULL. */
struct vma *mm_find_vma_grow(struct mm *mm, uint64_t addr);

/*
 * Makes the PTE for va present; with `write`, also privately owned (breaking COW) in private
 * VMAs.  *changed tells whether the backing page changed while it was mapped (caller remaps).
 */
int mm_resolve_page(struct mm *mm, struct vma *v, uint64_t va, bool write, uint64_t **ptep,
		    bool *changed);

/* The protection a present PTE may be mapped with in v (no WRITE while COW-shared). */
int mm_pte_prot(struct mm *mm, const struct vma *v, uint64_t pte);

/* Maps [va, va+n pages) according to their present PTEs, coalescing runs. */
int mm_map_ptes(struct mm *mm, struct vma *v, uint64_t va, size_t n);

/* Drops PTEs in [start, end): unmaps from the platform if mapped, releases pages. */
int mm_drop_range(struct mm *mm, uint64_t start, uint64_t end);

/* Unmaps [start, end) from the platform and clears PTE mapped bits (pages stay). */
int mm_unmap_platform(struct mm *mm, uint64_t start, uint64_t end);

static inline int pte_prot(uint64_t pte)
{
	return ((pte & PTE_MAP_R) ? 1 : 0) | ((pte & PTE_MAP_W) ? 2 : 0) | ((pte & PTE_MAP_X) ? 4 : 0);
}

static inline uint64_t prot_pte_bits(int prot)
{
	return ((prot & 1) ? PTE_MAP_R : 0) | ((prot & 2) ? PTE_MAP_W | PTE_MAP_R : 0) |
	       ((prot & 4) ? PTE_MAP_X | PTE_MAP_R : 0);
}

#endif
