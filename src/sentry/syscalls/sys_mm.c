/* Memory syscalls: mmap family, brk, mprotect, mremap, madvise, mincore, msync, mlock. */
#include <stdlib.h>
#include <sys/mman.h>

#include "cvisor/sentry/vfs.h"
#include "syscalls_internal.h"

#define LINUX_MAP_SHARED 0x01
#define LINUX_MAP_PRIVATE 0x02
#define LINUX_MAP_SHARED_VALIDATE 0x03
#define LINUX_MAP_FIXED 0x10
#define LINUX_MAP_ANONYMOUS 0x20
#define LINUX_MAP_32BIT 0x40
#define LINUX_MAP_GROWSDOWN 0x100
#define LINUX_MAP_DENYWRITE 0x800
#define LINUX_MAP_EXECUTABLE 0x1000
#define LINUX_MAP_LOCKED 0x2000
#define LINUX_MAP_NORESERVE 0x4000
#define LINUX_MAP_POPULATE 0x8000
#define LINUX_MAP_NONBLOCK 0x10000
#define LINUX_MAP_STACK 0x20000
#define LINUX_MAP_HUGETLB 0x40000
#define LINUX_MAP_FIXED_NOREPLACE 0x100000
#define O_ACCMODE_ 3
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000

static unsigned mm_flags(uint64_t f)
{
	return ((f & LINUX_MAP_FIXED) ? MM_FIXED : 0) |
	       ((f & LINUX_MAP_FIXED_NOREPLACE) ? MM_FIXED_NOREPLACE : 0) |
	       ((f & 3) != LINUX_MAP_PRIVATE ? MM_SHARED : 0) |
	       ((f & LINUX_MAP_POPULATE) ? MM_POPULATE : 0) |
	       ((f & LINUX_MAP_GROWSDOWN) ? MM_GROWSDOWN : 0) |
	       ((f & LINUX_MAP_NORESERVE) ? MM_NORESERVE : 0);
}

/* Fills the object part of an mmap request from a file. */
static long file_mapping(struct task *t, int fd, uint64_t flags, int prot, struct mm_map_req *r,
			 struct file **fp, struct mem_object **op)
{
	struct file *f = fd_get(t->files, fd);
	bool shared = (flags & 3) != LINUX_MAP_PRIVATE;
	unsigned acc;

	if (!f)
		return -EBADF;
	*fp = f;
	acc = f->flags & O_ACCMODE_;
	if ((file_mode(f) & S_IFMT_) == S_IFDIR_)
		return -ENODEV;
	if (acc == O_WRONLY_)
		return -EACCES;
	if (shared && (prot & PROT_WRITE) && acc == O_RDONLY_)
		return -EACCES;
	if ((prot & PROT_EXEC) && f->path.mnt && (f->path.mnt->flags & MNT_NOEXEC))
		return -EPERM;
	*op = vfs_mmap(f, shared, shared && (prot & PROT_WRITE));
	if (IS_ERR(*op)) {
		long e = PTR_ERR(*op);

		*op = NULL;
		return e;
	}
	r->obj = *op;
	r->file = f;
	r->max_prot = PROT_READ | PROT_EXEC | (!shared || acc != O_RDONLY_ ? PROT_WRITE : 0);
	return 0;
}

/* Implements Linux mmap(2). Deviations: MAP_HUGETLB and MAP_32BIT are refused. */
SYSCALL(mmap)
{
	uint64_t addr = ARG(0), len = ARG(1), flags = ARG(3), off = ARG(5);
	int prot = IARG(2);
	struct mm_map_req r = {.addr = addr, .len = len, .prot = prot};
	struct file *f = NULL;
	struct mem_object *obj = NULL;
	long ret;

	if ((flags & 3) == 0 || (prot & ~7) || (flags & (LINUX_MAP_HUGETLB | LINUX_MAP_32BIT)))
		return (flags & 3) == 0 || (prot & ~7) ? -EINVAL : -ENOMEM;
	if (len == 0 || (off & ~PAGE_MASK) || off + ALIGN_UP(len, PAGE_SIZE) < off)
		return -EINVAL;
	r.flags = mm_flags(flags);
	if (flags & LINUX_MAP_ANONYMOUS) {
		if (r.flags & MM_SHARED) {
			obj = shm_object_new(&t->k->mf, ALIGN_UP(len, PAGE_SIZE));
			if (!obj)
				return -ENOMEM;
			r.obj = obj;
		}
	} else if ((ret = file_mapping(t, IARG(4), flags, prot, &r, &f, &obj)) < 0) {
		goto out;
	}
	r.obj_off = off;
	if (prot & PROT_WRITE)
		r.prot |= PROT_READ;
	ret = mm_map(t->mm, &r);
out:
	if (obj)
		obj->ops->put(obj);
	if (f)
		file_put(f);
	return ret;
}

/* Implements Linux munmap(2). */
SYSCALL(munmap)
{
	return mm_unmap(t->mm, ARG(0), ARG(1));
}

/* Implements Linux mprotect(2). Deviations: PROT_GROWSDOWN/UP are refused. */
SYSCALL(mprotect)
{
	if (ARG(2) & ~7ull)
		return -EINVAL;
	return mm_protect(t->mm, ARG(0), ARG(1), IARG(2));
}

/* Implements Linux brk(2). */
SYSCALL(brk)
{
	return (long)mm_brk(t->mm, ARG(0));
}

/* Implements Linux mremap(2). Deviations: MREMAP_DONTUNMAP and old_size 0 are refused. */
SYSCALL(mremap)
{
	return mm_remap(t->mm, ARG(0), ARG(1), ARG(2), (unsigned)ARG(3), ARG(4));
}

/* Implements Linux madvise(2). Deviations: only DONTNEED/FREE change anything; hints are
 * accepted and ignored. */
SYSCALL(madvise)
{
	int advice = IARG(2);

	if (ARG(0) & ~PAGE_MASK)
		return -EINVAL;
	switch (advice) {
	case 4:  /* MADV_DONTNEED */
	case 8:  /* MADV_FREE */
		return mm_dontneed(t->mm, ARG(0), ARG(1));
	case 0: case 1: case 2: case 3: /* NORMAL RANDOM SEQUENTIAL WILLNEED */
	case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 16: case 17: case 18:
	case 19: case 20: case 21: case 22: case 23: case 24: case 25:
		return 0;
	default:
		return -EINVAL;
	}
}

/* Implements Linux mincore(2). */
SYSCALL(mincore)
{
	uint64_t len = ALIGN_UP(ARG(1), PAGE_SIZE) / PAGE_SIZE;
	uint8_t *vec;
	long r;

	if (len > (1ull << 24))
		return -ENOMEM;
	vec = calloc(len ? len : 1, 1);
	if (!vec)
		return -ENOMEM;
	r = mm_mincore(t->mm, ARG(0), ARG(1), vec);
	if (r == 0 && copy_out_all(t, ARG(2), vec, len) < 0)
		r = -EFAULT;
	free(vec);
	return r;
}

/* Implements Linux msync(2). Deviations: MS_ASYNC writes host-backed pages back at once (to
 * the host's page cache, without waiting for its disks); MS_INVALIDATE does nothing more, as
 * mappings already share the page cache. */
SYSCALL(msync)
{
	uint64_t flags = ARG(2);

	if ((ARG(0) & ~PAGE_MASK) || (flags & ~7ull) ||
	    ((flags & MM_MS_ASYNC) && (flags & MM_MS_SYNC)))
		return -EINVAL;
	return mm_msync(t->mm, ARG(0), ARG(1), (unsigned)flags);
}

/* Implements Linux mlock(2), munlock(2), mlockall(2), munlockall(2): memory in the sentry's
 * memory file is never swapped, so these only validate. */
SYSCALL(mlock)
{
	return (ARG(0) + ARG(1) < ARG(0)) ? -EINVAL : 0;
}

SYSCALL(mlockall)
{
	return (ARG(0) & ~7ull) || !ARG(0) ? -EINVAL : 0;
}

SYSCALL(munlockall)
{
	return 0;
}
