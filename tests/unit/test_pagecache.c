/*
 * Unit tests of the page cache (src/sentry/mm/pagecache.c): dirty pages, reads that take
 * them over the backing store's bytes, write-back in runs (pages still mapped stay dirty),
 * zeroing and truncation that keeps mapped pages.  A fake backing store in memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cvisor/sentry/mm.h"

#define PG PAGE_SIZE
#define NPAGES 8

struct store {
	uint8_t bytes[NPAGES * PG];
	int runs;      /* write calls */
	size_t pages;  /* pages written */
	int fail;      /* errno to fail writes with, or 0 */
};

struct fixture {
	struct memfile mf;
	struct page_cache pc;
	struct store st;
};

static int fill(void *arg, uint64_t pgoff, void *dst)
{
	struct store *s = arg;

	memcpy(dst, s->bytes + pgoff * PG, PG);
	return 0;
}

static int wr(void *arg, uint64_t pgoff, void *src, size_t npages)
{
	struct store *s = arg;

	if (s->fail)
		return -s->fail;
	memcpy(s->bytes + pgoff * PG, src, npages * PG);
	s->runs++;
	s->pages += npages;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(memfile_init(&f->mf, 16ull << 20), 0);
	page_cache_init(&f->pc, &f->mf);
	memset(f->st.bytes, 'h', sizeof(f->st.bytes));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	page_cache_destroy(&f->pc);
	memfile_destroy(&f->mf);
	free(f);
	return 0;
}

/* Page pgoff cached; *off its memory-file offset.  The caller's reference is kept (a
 * "mapping") when mapped, else dropped. */
static uint8_t *get(struct fixture *f, uint64_t pgoff, bool mapped, uint64_t *off)
{
	uint64_t o;

	assert_int_equal(page_cache_get(&f->pc, pgoff, fill, &f->st, &o), 0);
	if (!mapped)
		memfile_put(&f->mf, o, 1);
	if (off)
		*off = o;
	return memfile_ptr(&f->mf, o);
}

static void dirty_pages_are_read_over_the_store(void **state)
{
	struct fixture *f = *state;
	uint8_t *p0 = get(f, 0, true, NULL), *p1 = get(f, 1, true, NULL);
	char buf[2 * PG];

	assert_false(page_cache_has_dirty(&f->pc));
	p0[10] = 'm';
	p1[0] = 'm';
	page_cache_mark_dirty(&f->pc, 1, 2);
	assert_true(page_cache_has_dirty(&f->pc));
	memset(buf, 's', sizeof(buf));
	page_cache_read_dirty(&f->pc, buf, sizeof(buf) - 5, 5);
	assert_int_equal(buf[5], 's');           /* page 0 is clean: the store's bytes */
	assert_int_equal(buf[PG - 5], 'm');      /* page 1's first byte */
	assert_int_equal(buf[PG - 4], 'h');
	assert_int_equal(buf[sizeof(buf) - 5], 's'); /* past the read */
	page_cache_mark_dirty(&f->pc, 1, 2);     /* marking twice counts once */
	assert_int_equal(f->pc.ndirty, 1);
	page_cache_mark_dirty(&f->pc, 0, ~0ull); /* a range wider than the table */
	assert_int_equal(f->pc.ndirty, 2);
}

static void writeback_keeps_mapped_pages_dirty(void **state)
{
	struct fixture *f = *state;
	uint64_t off1;
	uint8_t *p0 = get(f, 0, false, NULL), *p1 = get(f, 1, true, &off1);

	p0[0] = 'a';
	p1[0] = 'b';
	page_cache_mark_dirty(&f->pc, 0, 4);
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, false, wr, &f->st), 0);
	assert_int_equal(f->st.bytes[0], 'a');
	assert_int_equal(f->st.bytes[PG], 'b');
	assert_int_equal(f->pc.ndirty, 1); /* page 1 is still mapped: it may be written again */
	/* Only pages nothing maps: none now; after the "unmap", page 1. */
	f->st.pages = 0;
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, true, wr, &f->st), 0);
	assert_int_equal(f->st.pages, 0);
	memfile_put(&f->mf, off1, 1);
	p1[1] = 'c';
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, true, wr, &f->st), 0);
	assert_int_equal(f->st.bytes[PG + 1], 'c');
	assert_false(page_cache_has_dirty(&f->pc));
}

static void writeback_in_runs_and_ranges(void **state)
{
	struct fixture *f = *state;

	for (uint64_t pg = 0; pg < 6; pg++)
		get(f, pg, false, NULL)[0] = (uint8_t)('0' + pg);
	page_cache_mark_dirty(&f->pc, 0, 6);
	/* A range: pages 2 and 3 only. */
	assert_int_equal(page_cache_writeback(&f->pc, 2, 4, false, wr, &f->st), 0);
	assert_int_equal(f->st.pages, 2);
	assert_int_equal(f->st.bytes[2 * PG], '2');
	assert_int_equal(f->st.bytes[PG], 'h');
	assert_int_equal(f->pc.ndirty, 4);
	/* The rest: consecutive pages allocated in order go out in one run each side. */
	f->st.runs = 0;
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, false, wr, &f->st), 0);
	assert_int_equal(f->st.pages, 6);
	assert_true(f->st.runs <= 2);
	assert_int_equal(f->st.bytes[5 * PG], '5');
	assert_false(page_cache_has_dirty(&f->pc));
}

static void failed_writeback_stays_dirty(void **state)
{
	struct fixture *f = *state;

	get(f, 3, false, NULL)[0] = 'x';
	page_cache_mark_dirty(&f->pc, 3, 4);
	f->st.fail = EIO;
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, false, wr, &f->st), -EIO);
	assert_true(page_cache_has_dirty(&f->pc));
	f->st.fail = 0;
	assert_int_equal(page_cache_writeback(&f->pc, 0, ~0ull, false, wr, &f->st), 0);
	assert_int_equal(f->st.bytes[3 * PG], 'x');
	assert_false(page_cache_has_dirty(&f->pc));
}

static void truncate_keeps_mapped_pages_zeroed(void **state)
{
	struct fixture *f = *state;
	uint64_t off2;
	uint8_t *p2 = get(f, 2, true, &off2);

	get(f, 0, false, NULL);
	get(f, 3, false, NULL);
	page_cache_mark_dirty(&f->pc, 0, 4);
	assert_int_equal(f->pc.ndirty, 3);
	page_cache_truncate(&f->pc, 1);
	assert_int_equal(page_cache_peek(&f->pc, 3), -1); /* only the cache held it */
	assert_int_equal(page_cache_peek(&f->pc, 2), (int64_t)off2);
	assert_int_equal(p2[0], 0);
	assert_int_equal(f->pc.ndirty, 2);
	/* Zeroing a byte range touches cached pages only. */
	get(f, 0, false, NULL)[100] = 'z';
	page_cache_zero(&f->pc, 50, 150);
	assert_int_equal(((uint8_t *)memfile_ptr(&f->mf, (uint64_t)page_cache_peek(&f->pc, 0)))[100], 0);
	memfile_put(&f->mf, off2, 1);
}

static void refill_reads_the_store_again(void **state)
{
	struct fixture *f = *state;
	uint8_t *p = get(f, 1, false, NULL);

	assert_int_equal(p[0], 'h');
	f->st.bytes[PG] = 'n';
	assert_int_equal(page_cache_refill(&f->pc, fill, &f->st), 0);
	assert_int_equal(p[0], 'n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dirty_pages_are_read_over_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(writeback_keeps_mapped_pages_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(writeback_in_runs_and_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_writeback_stays_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(truncate_keeps_mapped_pages_zeroed, setup, teardown),
		cmocka_unit_test_setup_teardown(refill_reads_the_store_again, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
