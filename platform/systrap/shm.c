/*
 * The platform's shared memory: one memfd, mapped whole by the sentry and piecewise by stubs
 * (exit page, trampoline table, control pages, thread slots, patched code pages).  A run
 * belongs to one address space until that stub is dead and reaped: memory one stub could
 * still map is never handed to another.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "systrap_internal.h"

uint64_t systrap_shm_alloc(struct systrap_platform *sp, uint64_t len)
{
	struct shm_free **pp, *f;
	uint64_t off = 0;

	len = ALIGN_UP(len, 4096);
	pthread_mutex_lock(&sp->lock);
	for (pp = &sp->shm_free; (f = *pp); pp = &f->next) {
		if (f->len == len) {
			*pp = f->next;
			off = f->off;
			free(f);
			break;
		}
	}
	if (!off && sp->shm_next + len <= SHM_SIZE) {
		off = sp->shm_next;
		sp->shm_next += len;
	}
	pthread_mutex_unlock(&sp->lock);
	return off;
}

void systrap_shm_free_locked(struct systrap_platform *sp, uint64_t off, uint64_t len)
{
	struct shm_free *f = malloc(sizeof(*f));

	len = ALIGN_UP(len, 4096);
	/* Zero-filled when reused, and no memory held meanwhile. */
	madvise(shm_ptr(sp, off), len, MADV_REMOVE);
	if (!f)
		return; /* leaked address space, not memory */
	f->off = off;
	f->len = len;
	f->next = sp->shm_free;
	sp->shm_free = f;
}
