/*
 * Unit tests of fault-around (src/sentry/mm/fault.c) on a fake platform that records map_file
 * calls: filling an anonymous buffer in order costs a logarithmic number of faults, while
 * scattered touches get the fixed 16-page run and allocate no more; a fault in a file mapping
 * brings in its 16-page window (not past the object's end), except in a writable shared one.
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

/* A page the sentry pins (a futex word) is still its mapping's own: a write goes in place,
 * where the pin holder reads it, not to a copy. */
static void test_pin_is_not_a_sharer(void **state)
{
	struct fixture *f = *state;
	uint64_t buf = anon(f, 16 * PAGE_SIZE), off;
	uint32_t v = 7, *p;

	fill(f, buf, 16 * PAGE_SIZE);
	p = mm_pin(f->mm, buf, sizeof(*p), false, &off);
	assert_non_null(p);
	assert_int_equal(memfile_refs(&f->mf, off), 1);
	assert_int_equal(mm_copy_out(f->mm, buf, &v, sizeof(v)), sizeof(v));
	assert_int_equal(*p, 7);
	assert_int_equal(f->mf.stats.cow_copies, 0);
	memfile_unpin(&f->mf, off);
	assert_int_equal(memfile_refs(&f->mf, off), 1);
}

/* A file-like object of npages pages in the memory file; counts get_page calls. */
struct fake_obj {
	struct mem_object obj;
	struct memfile *mf;
	uint64_t off;
	size_t npages;
	int gets, write_gets;
};

/* Outlives the test body: the mm (torn down later) still holds it. */
static struct fake_obj the_obj;

static int obj_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct fake_obj *f = (struct fake_obj *)o;

	if (pgoff >= f->npages)
		return -EIO;
	f->gets++;
	f->write_gets += write;
	*off = f->off + pgoff * PAGE_SIZE;
	memfile_get(f->mf, *off, 1);
	return 0;
}

static uint64_t obj_size(struct mem_object *o)
{
	return ((struct fake_obj *)o)->npages * PAGE_SIZE;
}

static void obj_ref(struct mem_object *o)
{
}

static const struct mem_object_ops obj_ops = {
	.get_page = obj_get_page, .size = obj_size, .get = obj_ref, .put = obj_ref};

static uint64_t map_obj(struct fixture *f, struct fake_obj *o, size_t npages, size_t vma_pages,
			int prot, unsigned flags)
{
	size_t got;
	int64_t off = memfile_alloc(&f->mf, npages, &got);
	struct mm_map_req r = {.len = vma_pages * PAGE_SIZE, .prot = prot,
			       .max_prot = PROT_READ | PROT_WRITE | PROT_EXEC, .flags = flags,
			       .obj = &o->obj};
	int64_t a;

	assert_true(off >= 0 && got == npages);
	*o = (struct fake_obj){.obj.ops = &obj_ops, .mf = &f->mf, .off = (uint64_t)off,
			       .npages = npages};
	a = mm_map(f->mm, &r);
	assert_true(a > 0);
	return (uint64_t)a;
}

static size_t present(struct fixture *f, uint64_t va, size_t npages)
{
	size_t n = 0;

	for (size_t i = 0; i < npages; i++) {
		uint64_t *pte = pt_slot(&f->mm->pt, va + i * PAGE_SIZE, false);

		n += pte && (*pte & PTE_PRESENT);
	}
	return n;
}

/* One read fault brings in the aligned window around it, mapped: 64 pages of a read-only
 * mapping, 16 of a writable one. */
static void test_file_window(void **state)
{
	struct fixture *f = *state;
	struct fake_obj *op = &the_obj;
	uint64_t buf = map_obj(f, op, 128, 128, PROT_READ | PROT_EXEC, 0);

	assert_int_equal(mm_handle_fault(f->mm, buf + 70 * PAGE_SIZE, ACCESS_READ, false), 0);
	assert_int_equal(present(f, buf, 128), 64);
	assert_int_equal(present(f, buf + 64 * PAGE_SIZE, 64), 64);
	assert_int_equal(op->gets, 64);
	assert_int_equal(mapped_bytes, 64 * PAGE_SIZE);
	/* The rest of the window is there: no further fault for it (the host would not trap). */
	assert_int_equal(f->mm->faults, 1);
}

static void test_file_window_writable(void **state)
{
	struct fixture *f = *state;
	struct fake_obj *op = &the_obj;
	uint64_t buf = map_obj(f, op, 64, 64, PROT_READ | PROT_WRITE, 0);

	assert_int_equal(mm_handle_fault(f->mm, buf + 20 * PAGE_SIZE, ACCESS_READ, false), 0);
	assert_int_equal(present(f, buf + 16 * PAGE_SIZE, 16), 16);
	assert_int_equal(present(f, buf, 64), 16);
	/* A write to one of them copies that page alone. */
	assert_int_equal(mm_handle_fault(f->mm, buf + 21 * PAGE_SIZE, ACCESS_WRITE, false), 0);
	assert_int_equal(f->mf.stats.cow_copies, 1);
}

/* A window reaching past the object's end stops there (those pages would be SIGBUS). */
static void test_file_window_eof(void **state)
{
	struct fixture *f = *state;
	struct fake_obj *op = &the_obj;
	uint64_t buf = map_obj(f, op, 20, 32, PROT_READ, 0);

	assert_int_equal(mm_handle_fault(f->mm, buf + 17 * PAGE_SIZE, 0, false), 0);
	assert_int_equal(present(f, buf, 32), 20);
	assert_int_equal(mapped_bytes, 20 * PAGE_SIZE);
	assert_int_equal(mm_handle_fault(f->mm, buf + 25 * PAGE_SIZE, 0, false), -EIO);
}

/* A writable shared mapping takes only the faulting page: pages handed to it count as dirty. */
static void test_file_shared_writable(void **state)
{
	struct fixture *f = *state;
	struct fake_obj *op = &the_obj;
	uint64_t buf = map_obj(f, op, 64, 64, PROT_READ | PROT_WRITE, MM_SHARED);

	assert_int_equal(mm_handle_fault(f->mm, buf + 3 * PAGE_SIZE, ACCESS_READ, false), 0);
	assert_int_equal(present(f, buf, 64), 1);
	assert_int_equal(op->write_gets, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequential_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scattered_stays_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_by_vma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_is_not_a_sharer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_window_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_window_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_shared_writable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
