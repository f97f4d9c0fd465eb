/*
 * Application memory (src/sentry/mm).
 *
 * All application memory lives in one memory file (a memfd) owned by the sentry.  The sentry
 * reads and writes it through its own mapping (`memfile.base`), and platforms map ranges of it
 * into address spaces.  Each process has an mm: a set of VMAs (what the application asked
 * for) and a page table (which memory-file page backs each virtual page, and what is mapped in
 * the platform address space right now).  fork is copy-on-write, done here.
 *
 * Lock order: mm->lock, then mem_object locks (the object's own, then its page cache's),
 * then memfile->lock, a leaf.  The platform's own address-space lock is taken inside platform
 * calls made with mm->lock held.  Objects may do I/O on their backing store under their locks
 * (write-back when a mapping goes away runs with mm->lock held).
 */
#ifndef CV_SENTRY_MM_H
#define CV_SENTRY_MM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/compiler.h"

struct platform;
struct address_space;
struct file;
struct task;

#define PAGE_SIZE 4096ULL
#define PAGE_SHIFT 12
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* ---- the memory file ---------------------------------------------------------------- */

struct memfile {
	int fd;
	uint8_t *base;       /* sentry mapping of [0, size) */
	uint64_t size;
	pthread_mutex_t lock;
	uint32_t *refs;      /* per-page reference counts (lazily backed) */
	uint64_t *free_bits; /* 1 = free page below hwm */
	uint64_t hwm;        /* pages at or above this index were never handed out */
	uint64_t nfree;      /* free pages below hwm */
	uint64_t scan_hint;  /* lowest word of free_bits that may hold a free page */
	uint64_t in_use;     /* pages handed out (statistics, memory limit) */
	uint64_t limit;      /* max pages in use, 0 = none */
	/* Operation counts of every mm on this memory file (atomic; --debug prints them). */
	struct {
		uint64_t faults, maps, map_pages, unmaps, cow_copies;
	} stats;
};

/* Creates the memfd and maps it.  size is the virtual size (sparse). Returns 0 or -errno. */
int memfile_init(struct memfile *mf, uint64_t size);
void memfile_destroy(struct memfile *mf);

/*
 * Allocates between 1 and want pages, contiguous in the file, each zeroed and with one
 * reference.  Returns the byte offset of the first and stores the count in *got, or -ENOMEM.
 */
int64_t memfile_alloc(struct memfile *mf, size_t want, size_t *got);
/* Takes / drops one reference on each of n pages starting at byte offset off. */
void memfile_get(struct memfile *mf, uint64_t off, size_t n);
void memfile_put(struct memfile *mf, uint64_t off, size_t n);
/*
 * A pin: the sentry holds the page at off for a moment (a futex word it reads).  It keeps the
 * page allocated like a reference but is not one for copy-on-write: a page whose only other
 * holder is one mapping is still that mapping's own, and a write to it goes in place rather
 * than to a copy the pin holder would never see.
 */
#define MEMFILE_PIN_REF (1u << 20)
void memfile_pin(struct memfile *mf, uint64_t off);
void memfile_unpin(struct memfile *mf, uint64_t off);
/* Current reference count of the page at off (mappings, caches: pins not counted). */
uint32_t memfile_refs(struct memfile *mf, uint64_t off);

static inline void *memfile_ptr(const struct memfile *mf, uint64_t off)
{
	return mf->base + off;
}

/* ---- memory objects: files and shared memory backing mappings ------------------------ */

struct mem_object;

struct mem_object_ops {
	/*
	 * Returns in *off the memory-file offset of page `pgoff` of the object with a new page
	 * reference, filling it if needed.  write: the page goes into a shared mapping that may
	 * write it (MAP_SHARED with PROT_WRITE), so from now on it may differ from the object's
	 * backing store.  -EFAULT past the end (SIGBUS), or -errno.
	 */
	int (*get_page)(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off);
	/* The object's size in bytes (mappings past it fault with SIGBUS). */
	uint64_t (*size)(struct mem_object *o);
	void (*get)(struct mem_object *o);
	/* Drops a reference: each VMA holds one, so this is also where a mapping goes away. */
	void (*put)(struct mem_object *o);
	/*
	 * Optional.  A shared mapping of the object's bytes [off, off+len) became writable in
	 * place (mprotect adding PROT_WRITE): pages of that range handed out before may now be
	 * written without another get_page.  Called with mm->lock held.
	 */
	void (*map_writable)(struct mem_object *o, uint64_t off, uint64_t len);
	/*
	 * Optional.  Writes pages of [off, off+len) that shared mappings may have changed back to
	 * the object's backing store (msync); wait: also make them durable there (MS_SYNC).
	 * Returns 0 or -errno.  Called without mm->lock.
	 */
	int (*sync)(struct mem_object *o, uint64_t off, uint64_t len, bool wait);
};

struct mem_object {
	const struct mem_object_ops *ops;
};

/* See mem_object_ops.map_writable; a no-op for objects without it. */
static inline void mem_object_map_writable(struct mem_object *o, uint64_t off, uint64_t len)
{
	if (o->ops->map_writable)
		o->ops->map_writable(o, off, len);
}

/* See mem_object_ops.sync; objects without it have nothing to write back (0). */
static inline int mem_object_sync(struct mem_object *o, uint64_t off, uint64_t len, bool wait)
{
	return o->ops->sync ? o->ops->sync(o, off, len, wait) : 0;
}

/*
 * A page cache: object pages in the memory file, filled by `fill` on first use.  Used by
 * files (hostfs, tmpfs) and shared anonymous memory.  Thread-safe (pc->lock, taken inside
 * the owner's locks).  Objects with a backing store elsewhere (hostfs) mark pages that shared
 * mappings may write dirty, and write them back with page_cache_writeback.
 */
struct page_cache {
	struct memfile *mf;
	pthread_mutex_t lock;
	uint64_t *slots;   /* open-addressed hash of (pgoff+1) -> memfile offset | dirty bit */
	uint64_t *offs;
	size_t cap, n;
	size_t ndirty;     /* dirty pages (atomic reads without the lock) */
};

/* Fills one page (4096 bytes at dst) with the contents of page pgoff; returns 0 or -errno. */
typedef int (*page_fill_fn)(void *arg, uint64_t pgoff, void *dst);
/* Writes npages cache pages, object pages [pgoff, pgoff+npages), from src to the backing
 * store (it may zero what lies past the store's end); returns 0 or -errno. */
typedef int (*page_write_fn)(void *arg, uint64_t pgoff, void *src, size_t npages);

void page_cache_init(struct page_cache *pc, struct memfile *mf);
/* Drops every page reference the cache holds (dirty pages are discarded). */
void page_cache_destroy(struct page_cache *pc);
/* Like mem_object_ops.get_page: returns a new reference to page pgoff, filling it if absent. */
int page_cache_get(struct page_cache *pc, uint64_t pgoff, page_fill_fn fill, void *arg,
		   uint64_t *off);
/*
 * Forgets pages at or beyond pgoff (truncate).  Pages a mapping still holds stay cached,
 * zeroed, so the mapping and the object agree again if it grows back.
 */
void page_cache_truncate(struct page_cache *pc, uint64_t pgoff);
/* Returns the memory-file offset of page pgoff if cached (no new reference), or -1. */
int64_t page_cache_peek(struct page_cache *pc, uint64_t pgoff);
/* Zeroes the cached bytes of object bytes [from, to). */
void page_cache_zero(struct page_cache *pc, uint64_t from, uint64_t to);
/* Fills every cached page again (the backing store changed under it). 0 or fill's error. */
int page_cache_refill(struct page_cache *pc, page_fill_fn fill, void *arg);

/* Marks the cached pages among [first, last) dirty (they may differ from the backing store). */
void page_cache_mark_dirty(struct page_cache *pc, uint64_t first, uint64_t last);
/* Does the cache hold dirty pages?  (A hint: no lock.) */
static inline bool page_cache_has_dirty(struct page_cache *pc)
{
	return __atomic_load_n(&pc->ndirty, __ATOMIC_RELAXED) != 0;
}
/* Copies into buf the bytes of object bytes [off, off+n) that lie in dirty pages; the rest
 * of buf is left as it is (read from the backing store by the caller). */
void page_cache_read_dirty(struct page_cache *pc, void *buf, size_t n, uint64_t off);
/*
 * Writes the dirty pages among [first, last) back with wr, in runs contiguous in the object
 * and the memory file (holding pc->lock throughout).  unmapped_only: only pages no mapping
 * holds any more.  A written page nothing maps becomes clean; mapped ones stay dirty, since
 * they may be written again at any time.  Returns 0, wr's first error (the rest stays dirty)
 * or -ENOMEM.
 */
int page_cache_writeback(struct page_cache *pc, uint64_t first, uint64_t last, bool unmapped_only,
			 page_write_fn wr, void *arg);

/* A new anonymous shared-memory object of `size` bytes (MAP_SHARED|MAP_ANONYMOUS). */
struct mem_object *shm_object_new(struct memfile *mf, uint64_t size);

/* ---- VMAs ---------------------------------------------------------------------------- */

#define VMA_SHARED 0x1u    /* MAP_SHARED: writes go to the object */
#define VMA_GROWSDOWN 0x2u /* stack that grows on faults below it */
#define VMA_STACK 0x4u     /* the main thread's stack (for /proc maps) */
#define VMA_HEAP 0x8u      /* brk area */
#define VMA_VDSO 0x10u
#define VMA_VVAR 0x20u
#define VMA_NORESERVE 0x40u
#define VMA_LOCKED 0x80u

struct vma {
	uint64_t start, end; /* [start, end), page-aligned */
	int prot;            /* PROT_READ|PROT_WRITE|PROT_EXEC */
	int max_prot;        /* what mprotect may grant (file opened read-only: no WRITE if shared) */
	unsigned flags;      /* VMA_* */
	struct mem_object *obj; /* backing object (one reference), or NULL for private anonymous */
	uint64_t obj_off;       /* object byte offset of `start` */
	struct file *file;      /* the file for /proc maps and exe, one reference, or NULL */
};

/* A sorted, non-overlapping set of VMAs. */
struct vma_set {
	struct vma *v;
	size_t n, cap;
};

void vma_set_init(struct vma_set *s);
/* Releases every VMA's references and the array. */
void vma_set_destroy(struct vma_set *s);
/* Index of the first VMA with end > addr (n if none). */
size_t vma_set_lower_bound(const struct vma_set *s, uint64_t addr);
/* The VMA containing addr, or NULL. */
struct vma *vma_set_find(struct vma_set *s, uint64_t addr);
/* Splits VMAs so that addr is a boundary (no-op if addr is inside no VMA). -ENOMEM. */
int vma_set_split(struct vma_set *s, uint64_t addr);
/* Inserts v (takes its references); the range must be free.  -ENOMEM. */
int vma_set_insert(struct vma_set *s, const struct vma *v);
/* Removes [start, end) (splitting as needed), dropping references.  -ENOMEM. */
int vma_set_remove(struct vma_set *s, uint64_t start, uint64_t end);
/* Merges adjacent compatible VMAs around index i. */
void vma_set_merge_around(struct vma_set *s, size_t i);
/* Takes one more reference on everything v points to. */
void vma_get_refs(const struct vma *v);
/* Drops them. */
void vma_put_refs(const struct vma *v);
/* Finds a free gap of len bytes, top-down from `below`, above `floor`. Returns 0 if none. */
uint64_t vma_set_find_gap(const struct vma_set *s, uint64_t len, uint64_t floor, uint64_t below);

/* ---- page table: what backs each virtual page, and what the platform has mapped --------- */

#define PTE_PRESENT 0x1ull   /* backed by the memory-file page in the address bits */
#define PTE_ANON 0x2ull      /* a private page the mm owns (COW-shared when refs > 1) */
#define PTE_MAP_R 0x4ull     /* mapped in the platform address space, readable */
#define PTE_MAP_W 0x8ull     /* ... writable */
#define PTE_MAP_X 0x10ull    /* ... executable */
#define PTE_MAPPED (PTE_MAP_R | PTE_MAP_W | PTE_MAP_X)
#define PTE_ADDR_MASK (~0xfffull)

struct page_table {
	void *root; /* 4-level radix of 512-entry tables; leaves are uint64_t PTEs */
};

void pt_init(struct page_table *pt);
/* Frees the tables (not the pages). */
void pt_destroy(struct page_table *pt);
/* Returns the PTE slot for va, allocating tables when create; NULL if absent / -ENOMEM. */
uint64_t *pt_slot(struct page_table *pt, uint64_t va, bool create);
/* Calls fn for every non-zero PTE in [start, end); fn may modify *pte. */
void pt_walk(struct page_table *pt, uint64_t start, uint64_t end,
	     void (*fn)(void *arg, uint64_t va, uint64_t *pte), void *arg);

/* ---- the mm ------------------------------------------------------------------------- */

struct mm {
	pthread_mutex_t lock;
	int users; /* tasks using it (CLONE_VM); atomic */
	struct memfile *mf;
	struct platform *platform;
	struct address_space *as;
	struct vma_set vmas;
	struct page_table pt;

	uint64_t min_addr, max_addr; /* usable range, from the platform */
	uint64_t mmap_base;          /* top-down allocation starts below this */
	uint64_t brk_start, brk;
	uint64_t stack_top;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv[64];           /* copy of the exec auxv, for /proc/pid/auxv */
	size_t auxv_len;
	uint64_t vdso_base;
	uint64_t total_pages;        /* mapped VMA pages, for RLIMIT_AS */
	uint64_t rss_pages;
	uint64_t as_limit;           /* RLIMIT_AS in bytes, ~0 = none */
	uint64_t stack_limit;        /* RLIMIT_STACK in bytes */
	struct file *exe;            /* one reference, or NULL */
	uint64_t faults;             /* statistics */
	/* Anonymous fault-around (fault.c): where the last run ended and its length in pages;
	 * a fault right there is a sequential touch and doubles the next run. */
	uint64_t anon_run_end;
	size_t anon_run_pages;
};

/* A new empty mm with a fresh platform address space; ERR_PTR on error. */
struct mm *mm_new(struct memfile *mf, struct platform *p);
/* Takes / drops a user reference.  The last put releases everything. */
void mm_get(struct mm *mm);
void mm_put(struct mm *mm);
/* fork: a copy-on-write duplicate.  ERR_PTR on error. */
struct mm *mm_fork(struct mm *parent);

/* mmap(2) flags the mm understands, independent of the guest's bit values. */
#define MM_FIXED 0x1u
#define MM_FIXED_NOREPLACE 0x2u
#define MM_SHARED 0x4u
#define MM_POPULATE 0x8u
#define MM_GROWSDOWN 0x10u
#define MM_NORESERVE 0x20u

struct mm_map_req {
	uint64_t addr, len;
	int prot, max_prot;
	unsigned flags;          /* MM_* */
	unsigned vma_flags;      /* extra VMA_* (stack, heap, vdso) */
	struct mem_object *obj;  /* borrowed; the VMA takes a reference */
	uint64_t obj_off;
	struct file *file;       /* borrowed; the VMA takes a reference */
};

/* Maps; returns the address or -errno.  Caller does not hold mm->lock. */
int64_t mm_map(struct mm *mm, const struct mm_map_req *r);
int mm_unmap(struct mm *mm, uint64_t addr, uint64_t len);
int mm_protect(struct mm *mm, uint64_t addr, uint64_t len, int prot);
/* brk(2): returns the new (or unchanged) break. */
uint64_t mm_brk(struct mm *mm, uint64_t newbrk);
int64_t mm_remap(struct mm *mm, uint64_t old, uint64_t old_len, uint64_t new_len, unsigned flags,
		 uint64_t new_addr);
/* msync(2) flags, as Linux numbers them. */
#define MM_MS_ASYNC 0x1u
#define MM_MS_INVALIDATE 0x2u
#define MM_MS_SYNC 0x4u
/*
 * msync(2) of [addr, addr+len) (addr page-aligned, flags valid): writes back the shared
 * object pages of the range (MS_ASYNC too), waiting for durability with MS_SYNC.  -ENOMEM
 * when part of the range is unmapped (at once when flags is exactly MS_SYNC, as Linux),
 * -EBUSY for MS_INVALIDATE of a locked mapping, or the object's error.
 */
int mm_msync(struct mm *mm, uint64_t addr, uint64_t len, unsigned flags);
/* madvise(MADV_DONTNEED): drops private pages so they read back as zero / file contents. */
int mm_dontneed(struct mm *mm, uint64_t addr, uint64_t len);
/* Pages of [addr, addr+len) present in memory, for mincore. */
int mm_mincore(struct mm *mm, uint64_t addr, uint64_t len, uint8_t *vec);

/*
 * Resolves an application fault at addr.  access is ACCESS_* or 0 when unknown.  With an
 * unknown access on a page already mapped with all its VMA allows, the fault may be stale
 * (another thread mapped the page meanwhile): it is retried unless `repeated` says the same
 * instruction faulted on the same address last time.  Returns 0 when the application may
 * retry, -EFAULT (SIGSEGV, SEGV_MAPERR), -EACCES (SEGV_ACCERR), -EIO (SIGBUS), or -ENOMEM.
 */
int mm_handle_fault(struct mm *mm, uint64_t addr, unsigned access, bool repeated);

/*
 * Copies between the sentry and application memory, faulting pages in as needed but never
 * beyond what the VMAs permit.  Return the byte count copied (short at the first bad page)
 * or -EFAULT when nothing could be copied.
 */
ssize_t mm_copy_in(struct mm *mm, uint64_t src, void *dst, size_t n);
ssize_t mm_copy_out(struct mm *mm, uint64_t dst, const void *src, size_t n);
ssize_t mm_zero_out(struct mm *mm, uint64_t dst, size_t n);
/* Copies a NUL-terminated string of at most max bytes (including NUL).  -ENAMETOOLONG. */
ssize_t mm_copy_in_str(struct mm *mm, uint64_t src, char *dst, size_t max);

/*
 * Gives the sentry direct pointers to application memory for [addr, addr+len), for futex
 * words and atomic operations: returns a pointer into the memory file valid while the page
 * pin the caller receives in *page_off is held (memfile_unpin when done).  The range must
 * lie within one page.  write: break COW first.
 */
void *mm_pin(struct mm *mm, uint64_t addr, size_t len, bool write, uint64_t *page_off);

/*
 * /proc/<pid>/maps text for this mm into a malloc'd buffer (*out, the caller frees it);
 * returns its length or -ENOMEM.  File paths are named from the namespace root.  Takes
 * mm->lock.
 */
ssize_t mm_format_maps(struct mm *mm, char **out);

/* Sizes (bytes) and addresses /proc/<pid>/status, statm and stat report. */
struct mm_usage {
	uint64_t vm_size, vm_rss, vm_data, vm_stk, vm_exe, vm_lib, vm_lck;
	uint64_t rss_anon, rss_file, rss_shmem;
	uint64_t start_code, end_code, start_stack, start_brk, brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t faults;
	uint64_t lowest, highest; /* start of the first VMA, end of the last */
};
/* Fills u from mm's VMAs and page table.  Takes mm->lock. */
void mm_usage(struct mm *mm, struct mm_usage *u);

#endif
