/*
 * Copies between sentry buffers and application memory.  Always through the sentry's own
 * mapping of the memory file, never through the platform, so it works the same everywhere.
 * Access is checked against the VMAs exactly as the CPU would (x86: write and exec imply
 * read); pages are made present on demand without mapping them into the address space.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cvisor/platform.h"
#include "mm_internal.h"

enum io_op { IO_IN, IO_OUT, IO_ZERO };

/* Returns a pointer to the byte at addr, resolving its page for `write`; NULL if invalid. */
static uint8_t *page_ptr(struct mm *mm, uint64_t addr, bool write, int *err)
{
	struct vma *v = mm_find_vma_grow(mm, addr);
	uint64_t *pte;
	bool changed;

	if (!v || v->prot == PROT_NONE || (write && !(v->prot & PROT_WRITE))) {
		*err = -EFAULT;
		return NULL;
	}
	*err = mm_resolve_page(mm, v, addr & PAGE_MASK, write, &pte, &changed);
	if (*err < 0)
		return NULL;
	if (changed) {
		/* The application still maps the old (COW-shared) page: replace it. */
		*pte &= ~PTE_MAPPED;
		*err = mm_map_ptes(mm, v, addr & PAGE_MASK, 1);
		if (*err < 0)
			return NULL;
	}
	return (uint8_t *)memfile_ptr(mm->mf, *pte & PTE_ADDR_MASK) + (addr & ~PAGE_MASK);
}

static ssize_t do_io(struct mm *mm, uint64_t addr, void *buf, size_t n, enum io_op op)
{
	size_t done = 0;
	int err = 0;

	if (n == 0)
		return 0;
	if (addr + n < addr || addr < mm->min_addr || addr + n > mm->max_addr)
		return -EFAULT;
	pthread_mutex_lock(&mm->lock);
	while (done < n) {
		uint64_t a = addr + done;
		size_t chunk = MIN(n - done, PAGE_SIZE - (a & ~PAGE_MASK));
		uint8_t *p = page_ptr(mm, a, op != IO_IN, &err);

		if (!p)
			break;
		if (op == IO_IN)
			memcpy((uint8_t *)buf + done, p, chunk);
		else if (op == IO_OUT)
			memcpy(p, (const uint8_t *)buf + done, chunk);
		else
			memset(p, 0, chunk);
		done += chunk;
	}
	pthread_mutex_unlock(&mm->lock);
	if (done == 0)
		return err == -ENOMEM ? -ENOMEM : -EFAULT;
	return (ssize_t)done;
}

ssize_t mm_copy_in(struct mm *mm, uint64_t src, void *dst, size_t n)
{
	return do_io(mm, src, dst, n, IO_IN);
}

ssize_t mm_copy_out(struct mm *mm, uint64_t dst, const void *src, size_t n)
{
	return do_io(mm, dst, (void *)src, n, IO_OUT);
}

ssize_t mm_zero_out(struct mm *mm, uint64_t dst, size_t n)
{
	return do_io(mm, dst, NULL, n, IO_ZERO);
}

ssize_t mm_copy_in_str(struct mm *mm, uint64_t src, char *dst, size_t max)
{
	size_t done = 0;

	while (done < max) {
		uint64_t a = src + done;
		size_t chunk = MIN(max - done, PAGE_SIZE - (a & ~PAGE_MASK));
		ssize_t r = do_io(mm, a, dst + done, chunk, IO_IN);

		if (r <= 0)
			return -EFAULT;
		char *nul = memchr(dst + done, 0, (size_t)r);

		if (nul)
			return nul - dst;
		done += (size_t)r;
		if ((size_t)r < chunk)
			return -EFAULT;
	}
	return -ENAMETOOLONG;
}

void *mm_pin(struct mm *mm, uint64_t addr, size_t len, bool write, uint64_t *page_off)
{
	uint8_t *p;
	int err;

	if ((addr & PAGE_MASK) != ((addr + len - 1) & PAGE_MASK) || addr < mm->min_addr ||
	    addr >= mm->max_addr)
		return NULL;
	pthread_mutex_lock(&mm->lock);
	p = page_ptr(mm, addr, write, &err);
	if (p) {
		uint64_t *pte = pt_slot(&mm->pt, addr & PAGE_MASK, false);

		*page_off = *pte & PTE_ADDR_MASK;
		memfile_pin(mm->mf, *page_off);
	}
	pthread_mutex_unlock(&mm->lock);
	return p;
}
