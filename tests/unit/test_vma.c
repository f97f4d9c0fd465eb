/* Unit tests of the VMA set (src/sentry/mm/vma.c): insert, merge, split, remove, gaps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "cvisor/sentry/mm.h"

#define P 4096ull

static struct vma anon(uint64_t start, uint64_t end, int prot)
{
	return (struct vma){.start = start, .end = end, .prot = prot, .max_prot = 7};
}

static void assert_vmas(const struct vma_set *s, const uint64_t (*want)[2], size_t n)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s->v[i].start, want[i][0]);
		assert_int_equal(s->v[i].end, want[i][1]);
	}
}

static void insert_keeps_order_and_merges(void **state)
{
	struct vma_set s;
	struct vma a = anon(10 * P, 20 * P, PROT_READ), b = anon(30 * P, 40 * P, PROT_READ);
	struct vma c = anon(20 * P, 30 * P, PROT_READ), d = anon(50 * P, 60 * P, PROT_WRITE);

	vma_set_init(&s);
	assert_int_equal(vma_set_insert(&s, &b), 0);
	assert_int_equal(vma_set_insert(&s, &a), 0);
	assert_int_equal(vma_set_insert(&s, &d), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(vma_set_insert(&s, &c), 0); /* fills the hole: three become one */
	const uint64_t want[][2] = {{10 * P, 40 * P}, {50 * P, 60 * P}};
	assert_vmas(&s, want, 2);
	assert_int_equal(vma_set_insert(&s, &a), -EEXIST);
	vma_set_destroy(&s);
}

static void different_prot_does_not_merge(void **state)
{
	struct vma_set s;
	struct vma a = anon(0, 4 * P, PROT_READ), b = anon(4 * P, 8 * P, PROT_READ | PROT_WRITE);

	vma_set_init(&s);
	vma_set_insert(&s, &a);
	vma_set_insert(&s, &b);
	assert_int_equal(s.n, 2);
	vma_set_destroy(&s);
}

static void find_and_lower_bound(void **state)
{
	struct vma_set s;
	struct vma a = anon(10 * P, 20 * P, PROT_READ), b = anon(30 * P, 40 * P, PROT_WRITE);

	vma_set_init(&s);
	vma_set_insert(&s, &a);
	vma_set_insert(&s, &b);
	assert_null(vma_set_find(&s, 5 * P));
	assert_ptr_equal(vma_set_find(&s, 10 * P), &s.v[0]);
	assert_ptr_equal(vma_set_find(&s, 20 * P - 1), &s.v[0]);
	assert_null(vma_set_find(&s, 20 * P));
	assert_ptr_equal(vma_set_find(&s, 39 * P), &s.v[1]);
	assert_int_equal(vma_set_lower_bound(&s, 25 * P), 1);
	assert_int_equal(vma_set_lower_bound(&s, 40 * P), 2);
	vma_set_destroy(&s);
}

static void split_and_remove_middle(void **state)
{
	struct vma_set s;
	struct vma a = anon(0, 10 * P, PROT_READ);

	vma_set_init(&s);
	vma_set_insert(&s, &a);
	assert_int_equal(vma_set_remove(&s, 3 * P, 5 * P), 0);
	const uint64_t want[][2] = {{0, 3 * P}, {5 * P, 10 * P}};
	assert_vmas(&s, want, 2);
	/* a removal spanning a hole and parts of two VMAs */
	assert_int_equal(vma_set_remove(&s, 2 * P, 6 * P), 0);
	const uint64_t want2[][2] = {{0, 2 * P}, {6 * P, 10 * P}};
	assert_vmas(&s, want2, 2);
	/* removing nothing is fine */
	assert_int_equal(vma_set_remove(&s, 20 * P, 30 * P), 0);
	assert_int_equal(s.n, 2);
	vma_set_destroy(&s);
}

static void split_keeps_object_offsets(void **state)
{
	struct vma_set s;
	struct vma a = anon(10 * P, 20 * P, PROT_READ);

	a.obj_off = 100 * P;
	vma_set_init(&s);
	vma_set_insert(&s, &a);
	assert_int_equal(vma_set_split(&s, 14 * P), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[1].start, 14 * P);
	assert_int_equal(s.v[1].obj_off, 104 * P);
	assert_int_equal(vma_set_split(&s, 14 * P), 0); /* already a boundary */
	assert_int_equal(s.n, 2);
	vma_set_destroy(&s);
}

static void gaps_are_found_top_down(void **state)
{
	struct vma_set s;
	struct vma a = anon(10 * P, 20 * P, PROT_READ), b = anon(22 * P, 40 * P, PROT_READ);

	vma_set_init(&s);
	vma_set_insert(&s, &a);
	vma_set_insert(&s, &b);
	assert_int_equal(vma_set_find_gap(&s, 5 * P, P, 100 * P), 95 * P);
	assert_int_equal(vma_set_find_gap(&s, 2 * P, P, 40 * P), 20 * P); /* the hole */
	assert_int_equal(vma_set_find_gap(&s, 3 * P, P, 40 * P), 7 * P);  /* below a */
	assert_int_equal(vma_set_find_gap(&s, 20 * P, P, 40 * P), 0);     /* no room */
	vma_set_destroy(&s);
}

static void page_table_walks_what_was_set(void **state)
{
	struct page_table pt;
	uint64_t *slot;

	pt_init(&pt);
	assert_null(pt_slot(&pt, 0x7fff0000, false));
	slot = pt_slot(&pt, 0x7fff0000, true);
	assert_non_null(slot);
	*slot = 0x5000 | PTE_PRESENT;
	assert_ptr_equal(pt_slot(&pt, 0x7fff0fff, false), slot);
	assert_null(pt_slot(&pt, 0x12340000, false));
	pt_destroy(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(insert_keeps_order_and_merges),
		cmocka_unit_test(different_prot_does_not_merge),
		cmocka_unit_test(find_and_lower_bound),
		cmocka_unit_test(split_and_remove_middle),
		cmocka_unit_test(split_keeps_object_offsets),
		cmocka_unit_test(gaps_are_found_top_down),
		cmocka_unit_test(page_table_walks_what_was_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
