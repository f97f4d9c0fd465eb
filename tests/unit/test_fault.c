/*
 * Unit tests of anonymous fault-around (src/sentry/mm/fault.c) on a fake platform that records
 * map_file calls: filling a buffer in order costs a logarithmic number of faults, while
 * scattered touches get the fixed 16-page run and allocate no more.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "cvisor/err.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/mm.h"

static int maps;
static uint64_t mapped_bytes;

static struct address_space *fake_new_as(struct platform *p)
{
	struct address_space *as = calloc(1, sizeof(*as));

	if (!as)
		return ERR_PTR(-ENOMEM);
	as->platform = p;
	return as;
}

static void fake_release_as(struct address_space *as)
{
	free(as);
}

static int fake_map(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot)
{
	maps++;
	mapped_bytes += len;
	return 0;
}

static int fake_unmap(struct address_space *as, uint64_t addr, uint64_t len)
{
	return 0;
}

static const struct platform_ops fake_ops = {
	.name = "fake",
	.new_address_space = fake_new_as,
	.release_address_space = fake_release_as,
	.map_file = fake_map,
	.unmap = fake_unmap,
};

struct fixture {
	struct memfile mf;
	struct platform p;
	struct mm *mm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(memfile_init(&f->mf, 256ull << 20), 0);
	f->p.ops = &fake_ops;
	f->p.min_user_address = 0x10000;
	f->p.max_user_address = 1ull << 46;
	f->mm = mm_new(&f->mf, &f->p);
	assert_false(IS_ERR(f->mm));
	maps = 0;
	mapped_bytes = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mm_put(f->mm);
	memfile_destroy(&f->mf);
	free(f);
	return 0;
}

static uint64_t anon(struct fixture *f, uint64_t len)
{
	struct mm_map_req r = {.len = len, .prot = PROT_READ | PROT_WRITE,
			       .max_prot = PROT_READ | PROT_WRITE | PROT_EXEC};
	int64_t a = mm_map(f->mm, &r);

	assert_true(a > 0);
	return (uint64_t)a;
}

/* A write to every page of buf, in order, faulting only where nothing is mapped yet (as the
 * host would: a mapped page does not trap). */
static void fill(struct fixture *f, uint64_t buf, uint64_t len)
{
	uint64_t done = f->mm->rss_pages;

	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		uint64_t *pte = pt_slot(&f->mm->pt, buf + off, false);

		if (pte && (*pte & PTE_PRESENT))
			continue;
		assert_int_equal(mm_handle_fault(f->mm, buf + off, ACCESS_WRITE, false), 0);
	}
	assert_int_equal(f->mm->rss_pages - done, len / PAGE_SIZE);
}

/* 64 MiB in order: 16, 32, ... 512 pages per fault, then 2 MiB runs. */
static void test_sequential_grows(void **state)
{
	struct fixture *f = *state;
	uint64_t len = 64ull << 20, buf = anon(f, len);

	fill(f, buf, len);
	assert_true(f->mm->faults <= len / (512 * PAGE_SIZE) + 6);
	assert_int_equal(maps, (int)f->mm->faults);
	assert_int_equal(mapped_bytes, len);
}

/* Touches 64 KiB apart in reverse: no run is sequential, each fault fills 16 pages. */
static void test_scattered_stays_small(void **state)
{
	struct fixture *f = *state;
	uint64_t len = 16ull << 20, buf = anon(f, len);
	uint64_t stride = 64 * PAGE_SIZE;

	for (uint64_t off = len - stride; off + stride > 0 && off < len; off -= stride)
		assert_int_equal(mm_handle_fault(f->mm, buf + off, ACCESS_WRITE, false), 0);
	assert_int_equal(f->mm->faults, len / stride);
	assert_int_equal(f->mm->rss_pages, (len / stride) * 16);
}

/* A run never crosses the end of its VMA, nor pages already present. */
static void test_bounded_by_vma(void **state)
{
	struct fixture *f = *state;
	uint64_t len = 20 * PAGE_SIZE, buf = anon(f, len), guard = anon(f, len);

	(void)guard;
	fill(f, buf, len);
	assert_int_equal(f->mm->rss_pages, 20);
	assert_int_equal(mapped_bytes, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequential_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scattered_stays_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_by_vma, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
