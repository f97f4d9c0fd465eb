/* Decoding helpers shared by syscall handlers: paths and string vectors from the guest. */
#include <stdlib.h>
#include <string.h>

#include "syscalls_internal.h"

#define PATH_MAX_ 4096
#define STRV_MAX 0x7fffffff

char *copy_in_path(struct task *t, uint64_t addr)
{
	char *p = malloc(PATH_MAX_);
	ssize_t r;

	if (!p)
		return ERR_PTR(-ENOMEM);
	r = mm_copy_in_str(t->mm, addr, p, PATH_MAX_);
	if (r < 0) {
		free(p);
		return ERR_PTR(r);
	}
	return p;
}

void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **copy_in_strv(struct task *t, uint64_t addr, size_t max_total)
{
	size_t n = 0, cap = 16, total = 0;
	char **v = calloc(cap, sizeof(char *));

	if (!v)
		return ERR_PTR(-ENOMEM);
	for (; addr; n++) {
		uint64_t p;
		char buf[4096];
		ssize_t len;

		if (copy_in_all(t, addr + n * 8, &p, 8) < 0)
			goto fault;
		if (!p)
			break;
		if (n + 2 > cap) {
			char **nv = realloc(v, cap * 2 * sizeof(char *));

			if (!nv)
				goto nomem;
			v = nv;
			cap *= 2;
		}
		len = mm_copy_in_str(t->mm, p, buf, sizeof(buf));
		if (len == -ENAMETOOLONG) {
			/* Long strings (up to 128 KiB) take the slow path. */
			char *big = malloc(32 * 4096);

			if (!big)
				goto nomem;
			len = mm_copy_in_str(t->mm, p, big, 32 * 4096);
			if (len < 0) {
				free(big);
				free_strv(v);
				return ERR_PTR(len == -ENAMETOOLONG ? -E2BIG : len);
			}
			v[n] = big;
		} else if (len < 0) {
			goto fault;
		} else if (!(v[n] = strdup(buf))) {
			goto nomem;
		}
		v[n + 1] = NULL;
		total += (size_t)len + 1 + 8;
		if (total > max_total) {
			free_strv(v);
			return ERR_PTR(-E2BIG);
		}
	}
	v[n] = NULL;
	return v;
fault:
	free_strv(v);
	return ERR_PTR(-EFAULT);
nomem:
	free_strv(v);
	return ERR_PTR(-ENOMEM);
}
