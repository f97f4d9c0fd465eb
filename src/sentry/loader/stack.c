/*
 * The initial stack of a new image, as Linux's create_elf_tables lays it out: strings at the
 * top, then the 16 AT_RANDOM bytes, then (16-byte aligned) argc, argv[], envp[], auxv[].
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "cvisor/sentry/loader.h"
#include "cvisor/sentry/mm.h"

#define STACK_INIT_SIZE (128ull << 10)
#define MAX_ARG_STRLEN (32 * PAGE_SIZE)

static size_t count(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

int64_t stack_map(struct mm *mm)
{
	uint64_t rnd = 0, top, gap;
	int64_t r;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = 0;
	top = (mm->max_addr - PAGE_SIZE - (rnd % 4096) * PAGE_SIZE) & PAGE_MASK;
	struct mm_map_req req = {
		.addr = top - STACK_INIT_SIZE,
		.len = STACK_INIT_SIZE,
		.prot = PROT_READ | PROT_WRITE,
		.flags = MM_FIXED_NOREPLACE | MM_GROWSDOWN,
		.vma_flags = VMA_STACK,
	};

	if ((r = mm_map(mm, &req)) < 0)
		return r;
	mm->stack_top = top;
	gap = MAX(mm->stack_limit, 128ull << 20);
	gap = MIN(gap, (mm->max_addr / 6) * 5);
	mm->mmap_base = (top - gap - (rnd >> 12) % (1ull << 28) * PAGE_SIZE) & PAGE_MASK;
	if (mm->mmap_base < mm->min_addr + (1ull << 30))
		mm->mmap_base = top - gap;
	return (int64_t)top;
}

/* Copies strings downwards from *sp; fills ptrs with their addresses. */
static int push_strings(struct mm *mm, uint64_t *sp, char *const *v, size_t n, uint64_t *ptrs)
{
	for (size_t i = n; i-- > 0;) {
		size_t len = strlen(v[i]) + 1;

		if (len > MAX_ARG_STRLEN)
			return -E2BIG;
		*sp -= len;
		if (mm_copy_out(mm, *sp, v[i], len) != (ssize_t)len)
			return -EFAULT;
		ptrs[i] = *sp;
	}
	return 0;
}

int64_t stack_build(struct mm *mm, const struct stack_params *p)
{
	size_t argc = count(p->argv), envc = count(p->envp);
	uint64_t *vec = calloc(argc + envc + 2 + 1 + 2 * 64, sizeof(uint64_t));
	uint64_t sp, execfn, platform, random, *v, total;
	uint8_t rnd[16];
	int64_t top;
	int r = -EFAULT;

	if (!vec)
		return -ENOMEM;
	top = (int64_t)mm->stack_top;
	sp = (uint64_t)top;
	sp -= strlen(p->execfn) + 1;
	execfn = sp;
	if (mm_copy_out(mm, execfn, p->execfn, strlen(p->execfn) + 1) < 0)
		goto out;
	mm->env_end = sp;
	if ((r = push_strings(mm, &sp, p->envp, envc, vec + argc + 1)) < 0)
		goto out;
	mm->env_start = mm->arg_end = sp;
	if ((r = push_strings(mm, &sp, p->argv, argc, vec)) < 0)
		goto out;
	mm->arg_start = sp;
	sp -= sizeof("x86_64");
	platform = sp;
	sp &= ~15ull;
	sp -= 16;
	random = sp;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd) ||
	    mm_copy_out(mm, platform, "x86_64", sizeof("x86_64")) < 0 ||
	    mm_copy_out(mm, random, rnd, sizeof(rnd)) < 0) {
		r = -EFAULT;
		goto out;
	}

	/* argc, argv..., NULL, envp..., NULL, auxv pairs..., AT_NULL pair */
	v = vec;
	v[argc] = 0;
	v[argc + 1 + envc] = 0;
	size_t nwords = argc + 1 + envc + 1, ai = nwords;

	for (size_t i = 0; i < p->auxc; i++) {
		uint64_t type = p->auxv[i * 2], val = p->auxv[i * 2 + 1];

		v[ai++] = type;
		v[ai++] = type == AT_EXECFN ? execfn : type == AT_PLATFORM ? platform
						     : type == AT_RANDOM ? random : val;
	}
	v[ai++] = AT_NULL;
	v[ai++] = 0;
	total = (1 + ai) * 8;
	sp = (sp - total) & ~15ull;
	if (mm_copy_out(mm, sp, &(uint64_t){argc}, 8) < 0 ||
	    mm_copy_out(mm, sp + 8, v, ai * 8) != (ssize_t)(ai * 8)) {
		r = -EFAULT;
		goto out;
	}
	mm->auxv_len = MIN(ai - nwords, ARRAY_SIZE(mm->auxv));
	memcpy(mm->auxv, v + nwords, mm->auxv_len * 8);
	free(vec);
	return (int64_t)sp;
out:
	free(vec);
	return r;
}
