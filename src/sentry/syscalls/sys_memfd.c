/* memfd_create(2) and the file seals of fcntl(2). */
#include "cvisor/sentry/fs.h"
#include "syscalls_internal.h"

#define MFD_CLOEXEC_ 0x1u
#define MFD_ALLOW_SEALING_ 0x2u
#define MFD_HUGETLB_ 0x4u
#define MFD_NOEXEC_SEAL_ 0x8u
#define MFD_EXEC_ 0x10u
#define MFD_NAME_MAX 249 /* NAME_MAX minus "memfd:" */
#define F_ADD_SEALS_ 1033
#define F_GET_SEALS_ 1034

static int nofile(struct task *t)
{
	return (int)MIN(task_rlimit(t, 7 /* RLIMIT_NOFILE */), (uint64_t)(1 << 20));
}

/* Implements Linux memfd_create(2). Deviations: MFD_HUGETLB is refused (EINVAL). */
SYSCALL(memfd_create)
{
	unsigned flags = (unsigned)ARG(1);
	char name[MFD_NAME_MAX + 1];
	struct file *f;
	ssize_t n;
	long r;

	if (flags & ~(MFD_CLOEXEC_ | MFD_ALLOW_SEALING_ | MFD_NOEXEC_SEAL_ | MFD_EXEC_))
		return -EINVAL; /* includes MFD_HUGETLB and its size bits */
	if ((flags & MFD_NOEXEC_SEAL_) && (flags & MFD_EXEC_))
		return -EINVAL;
	n = mm_copy_in_str(t->mm, ARG(0), name, sizeof(name));
	if (n < 0)
		return n == -ENAMETOOLONG ? -EINVAL : n;
	f = memfd_new(&t->k->vfs, name, flags & ~MFD_CLOEXEC_, t->cred);
	if (IS_ERR(f))
		return PTR_ERR(f);
	r = fd_install(t->files, f, flags & MFD_CLOEXEC_, 0, nofile(t));
	file_put(f);
	return r;
}

long fcntl_seals(struct file *f, int cmd, uint64_t arg)
{
	if (cmd == F_ADD_SEALS_)
		return memfd_add_seals(f, (unsigned)arg);
	if (cmd == F_GET_SEALS_)
		return memfd_get_seals(f);
	return -EINVAL;
}
