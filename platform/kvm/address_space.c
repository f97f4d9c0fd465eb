/*
 * Address spaces: 4-level page tables in the page-table region, written by the sentry.
 *
 * KVM shadows these tables and only sees guest writes to them (docs/platforms.md, "kvm").
 * An entry that was absent, or that only gains permissions on the same page, is picked up on
 * the next fault through it, so map_file just writes it.  An entry that loses a page or a
 * permission is written too, then "touched": the maintenance vCPU re-stores it in ring 0,
 * which drops KVM's shadow of it on every vCPU (KVM flushes the others' TLBs before the write
 * completes), so the old page is unreachable when map_file or unmap returns.  unmap clears a
 * whole table with one touch of the entry above it when the range covers it or empties it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

#define LEVELS 4
#define TABLE_BITS (PTE_P | PTE_W | PTE_U | PTE_A)

/* One map_file/unmap: entries to touch and table pages to free once they are. */
struct pt_op {
	struct kvm_platform *kp;
	struct touch_list tl;
	uint64_t *freed;
	size_t nfreed, cap_freed;
	bool oom;
};

static void gpa_push(struct pt_op *op, uint64_t **arr, size_t *n, size_t *cap, uint64_t gpa)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		uint64_t *a = realloc(*arr, ncap * sizeof(**arr));

		if (!a) {
			op->oom = true;
			return;
		}
		*arr = a;
		*cap = ncap;
	}
	(*arr)[(*n)++] = gpa;
}

static void touch(struct pt_op *op, uint64_t entry_gpa)
{
	gpa_push(op, &op->tl.gpa, &op->tl.n, &op->tl.cap, entry_gpa);
}

/* Makes every recorded change visible, then releases the tables it unlinked. */
static int op_finish(struct pt_op *op)
{
	int r = op->oom ? -ENOMEM : kvm_maint_touch(op->kp, &op->tl);

	if (r < 0) {
		/* Could not touch entry by entry: drop every shadow instead. */
		log_warn("kvm: page-table touch failed (%d); dropping every shadow", r);
		r = kvm_pt_recycle(op->kp);
	}
	for (size_t i = 0; r == 0 && i < op->nfreed; i++)
		kvm_pt_page_free(op->kp, op->freed[i]);
	free(op->tl.gpa);
	free(op->freed);
	return r;
}

static unsigned pt_index(uint64_t va, int lvl)
{
	return (unsigned)((va >> (12 + 9 * lvl)) & 511);
}

/* The last-level table covering va, created (with its parents) if absent; 0 if out of pages. */
static uint64_t leaf_table(struct kvm_as *kas, uint64_t va)
{
	uint64_t table = kas->root;

	for (int lvl = LEVELS - 1; lvl > 0; lvl--) {
		uint64_t *e = pt_ptr(kas->kp, table) + pt_index(va, lvl);

		if (!(*e & PTE_P)) {
			uint64_t page = kvm_pt_page_alloc(kas->kp);

			if (!page)
				return 0;
			*e = page | TABLE_BITS; /* absent -> present: no touch needed */
		}
		table = *e & PTE_ADDR;
	}
	return table;
}

static uint64_t leaf_bits(int prot)
{
	uint64_t b = PTE_P | PTE_U | PTE_A | PTE_D; /* A and D preset: KVM never writes them */

	if (prot & PROT_WRITE)
		b |= PTE_W;
	if (!(prot & PROT_EXEC))
		b |= PTE_NX;
	return b;
}

/* Can the shadow of `old` stay until a fault refreshes it?  Only if new allows more. */
static bool is_upgrade(uint64_t old, uint64_t new)
{
	if (!(old & PTE_P))
		return true;
	if (!(new & PTE_P) || (old & PTE_ADDR) != (new & PTE_ADDR))
		return false;
	return (old & PTE_W) <= (new & PTE_W) && (new & PTE_NX) <= (old & PTE_NX);
}

/* Sets the entries of one last-level table for [va, end); returns the address it stopped at. */
static uint64_t map_run(struct pt_op *op, uint64_t table, uint64_t va, uint64_t end,
			uint64_t *gpa, uint64_t bits)
{
	uint64_t *t = pt_ptr(op->kp, table);

	for (unsigned i = pt_index(va, 0); i < 512 && va < end; i++, va += KVM_PAGE) {
		uint64_t old = t[i], new = bits ? *gpa | bits : 0;

		*gpa += KVM_PAGE;
		if (old == new)
			continue;
		t[i] = new;
		if (!is_upgrade(old, new))
			touch(op, table + 8ull * i);
	}
	return va;
}

static int check_range(struct kvm_as *kas, uint64_t addr, uint64_t len)
{
	const struct platform *p = kas->kp->p;

	if (!len || (addr | len) & (KVM_PAGE - 1) || addr < p->min_user_address ||
	    addr + len < addr || addr + len > p->max_user_address)
		return -EINVAL;
	return 0;
}

int kvm_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot)
{
	struct kvm_as *kas = to_kas(as);
	struct pt_op op = { .kp = kas->kp };
	uint64_t va = addr, end = addr + len, gpa = off;
	uint64_t bits = prot & (PROT_READ | PROT_WRITE | PROT_EXEC) ? leaf_bits(prot) : 0;
	int r = check_range(kas, addr, len), fin;

	if (r < 0 || (off & (KVM_PAGE - 1)) || off + len < off || off + len > kas->kp->mem_size)
		return r < 0 ? r : -EINVAL;
	pthread_mutex_lock(&kas->lock);
	while (va < end) {
		uint64_t table = leaf_table(kas, va);

		if (!table) {
			r = -ENOMEM;
			break;
		}
		va = map_run(&op, table, va, end, &gpa, bits);
	}
	fin = op_finish(&op);
	pthread_mutex_unlock(&kas->lock);
	return r < 0 ? r : fin;
}

static bool table_empty(const uint64_t *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (t[i] & PTE_P)
			return false;
	}
	return true;
}

/* Queues table (at level lvl) and every table under it for freeing. */
static void free_subtree(struct pt_op *op, uint64_t table, int lvl)
{
	const uint64_t *t = pt_ptr(op->kp, table);

	for (unsigned i = 0; lvl > 0 && i < 512; i++) {
		if (t[i] & PTE_P)
			free_subtree(op, t[i] & PTE_ADDR, lvl - 1);
	}
	gpa_push(op, &op->freed, &op->nfreed, &op->cap_freed, table);
}

/*
 * Clears [start, end) in `table`, a level-lvl table mapping from `base`.  A child table the
 * range covers, or leaves empty, is unlinked with one touch of its entry and freed.  Returns
 * whether `table` is empty afterwards.
 */
static bool unmap_level(struct pt_op *op, uint64_t table, int lvl, uint64_t base, uint64_t start,
			uint64_t end)
{
	uint64_t *t = pt_ptr(op->kp, table), span = 1ull << (12 + 9 * lvl);
	uint64_t first = (MAX(start, base) - base) / span;
	uint64_t last = (MIN(end, base + 512 * span) - 1 - base) / span;

	for (uint64_t i = first; i <= last; i++) {
		uint64_t lo = base + i * span, hi = lo + span, child = t[i] & PTE_ADDR;

		if (!(t[i] & PTE_P))
			continue;
		if (lvl > 0 && !(start <= lo && hi <= end) &&
		    !unmap_level(op, child, lvl - 1, lo, start, end))
			continue;
		t[i] = 0;
		touch(op, table + 8 * i);
		if (lvl > 0)
			free_subtree(op, child, lvl - 1);
	}
	return table_empty(t, 512);
}

int kvm_unmap(struct address_space *as, uint64_t addr, uint64_t len)
{
	struct kvm_as *kas = to_kas(as);
	struct pt_op op = { .kp = kas->kp };
	int r = check_range(kas, addr, len);

	if (r < 0)
		return r;
	pthread_mutex_lock(&kas->lock);
	unmap_level(&op, kas->root, LEVELS - 1, 0, addr, addr + len);
	r = op_finish(&op);
	pthread_mutex_unlock(&kas->lock);
	return r;
}

/* The memory-file offset va is mapped to for users, or -EFAULT. */
static int64_t user_offset(struct kvm_as *kas, uint64_t va)
{
	uint64_t table = kas->root, e = 0;

	for (int lvl = LEVELS - 1; lvl >= 0; lvl--) {
		e = pt_ptr(kas->kp, table)[pt_index(va, lvl)];
		if (!(e & PTE_P) || !(e & PTE_U))
			return -EFAULT;
		table = e & PTE_ADDR;
	}
	return (int64_t)(table | (va & (KVM_PAGE - 1)));
}

int kvm_as_read(struct kvm_as *kas, uint64_t va, void *buf, size_t n)
{
	uint8_t *b = buf;
	int r = 0;

	if (va >= KVM_USER_TOP || n > KVM_USER_TOP - va)
		return -EFAULT;
	pthread_mutex_lock(&kas->lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		int64_t off = user_offset(kas, va + i);

		if (off < 0 || (uint64_t)off >= kas->kp->mem_size)
			r = -EFAULT;
		else
			b[i] = ((const uint8_t *)kas->kp->p->opts.mem_base)[off];
	}
	pthread_mutex_unlock(&kas->lock);
	return r;
}

struct address_space *kvm_new_address_space(struct platform *p)
{
	struct kvm_platform *kp = p->priv;
	struct kvm_as *kas = calloc(1, sizeof(*kas));

	if (!kas)
		return ERR_PTR(-ENOMEM);
	kas->root = kvm_pt_page_alloc(kp);
	if (!kas->root) {
		free(kas);
		return ERR_PTR(-ENOMEM);
	}
	memcpy(pt_ptr(kp, kas->root) + 256, kp->kernel_pml4, sizeof(kp->kernel_pml4));
	kas->base.platform = p;
	kas->kp = kp;
	pthread_mutex_init(&kas->lock, NULL);
	return &kas->base;
}

/*
 * No vCPU runs in `as` any more and none will load its root again, so nothing is touched:
 * its tables go to quarantine and their shadows die with the next recycle.
 */
void kvm_release_address_space(struct address_space *as)
{
	struct kvm_as *kas = to_kas(as);
	const uint64_t *root = pt_ptr(kas->kp, kas->root);
	struct pt_op op = { .kp = kas->kp };

	for (unsigned i = 0; i < 256; i++) {
		if (root[i] & PTE_P)
			free_subtree(&op, root[i] & PTE_ADDR, LEVELS - 2);
	}
	gpa_push(&op, &op.freed, &op.nfreed, &op.cap_freed, kas->root);
	for (size_t i = 0; i < op.nfreed; i++)
		kvm_pt_page_free(kas->kp, op.freed[i]);
	free(op.freed); /* on oom the unrecorded pages just leak */
	pthread_mutex_destroy(&kas->lock);
	free(kas);
}
