/*
 * The mm's page table: a 4-level radix tree shaped like x86-64's (9 bits per level over 48
 * bits of address), whose leaves are PTEs (see mm.h).  Tables are allocated on demand.
 */
#include <stdlib.h>

#include "cvisor/sentry/mm.h"

#define PT_LEVELS 4
#define PT_BITS 9
#define PT_ENTRIES (1u << PT_BITS)

static unsigned pt_index(uint64_t va, int level)
{
	return (unsigned)(va >> (PAGE_SHIFT + PT_BITS * (unsigned)level)) & (PT_ENTRIES - 1);
}

void pt_init(struct page_table *pt)
{
	pt->root = NULL;
}

static void free_level(void **table, int level)
{
	if (!table)
		return;
	if (level > 1)
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			free_level(table[i], level - 1);
	free(table);
}

void pt_destroy(struct page_table *pt)
{
	free_level(pt->root, PT_LEVELS);
	pt->root = NULL;
}

uint64_t *pt_slot(struct page_table *pt, uint64_t va, bool create)
{
	void **slot = &pt->root;

	for (int level = PT_LEVELS; level >= 1; level--) {
		if (!*slot) {
			if (!create)
				return NULL;
			*slot = calloc(PT_ENTRIES, level == 1 ? sizeof(uint64_t) : sizeof(void *));
			if (!*slot)
				return NULL;
		}
		if (level == 1)
			return &((uint64_t *)*slot)[pt_index(va, 0)];
		slot = &((void **)*slot)[pt_index(va, level - 1)];
	}
	return NULL;
}

struct walk {
	uint64_t start, end;
	void (*fn)(void *arg, uint64_t va, uint64_t *pte);
	void *arg;
};

static void walk_level(const struct walk *w, void *table, int level, uint64_t base)
{
	uint64_t span = 1ull << (PAGE_SHIFT + PT_BITS * (unsigned)(level - 1));

	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t lo = base + i * span, hi = lo + span;

		if (hi <= w->start || lo >= w->end)
			continue;
		if (level == 1) {
			uint64_t *pte = &((uint64_t *)table)[i];

			if (*pte)
				w->fn(w->arg, lo, pte);
		} else if (((void **)table)[i]) {
			walk_level(w, ((void **)table)[i], level - 1, lo);
		}
	}
}

void pt_walk(struct page_table *pt, uint64_t start, uint64_t end,
	     void (*fn)(void *arg, uint64_t va, uint64_t *pte), void *arg)
{
	struct walk w = {.start = start, .end = end, .fn = fn, .arg = arg};

	if (pt->root && start < end)
		walk_level(&w, pt->root, PT_LEVELS, 0);
}
