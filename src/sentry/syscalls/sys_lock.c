/* Advisory locks: flock(2) and fcntl(2)'s record and open file description locks. */
#include <string.h>

#include "cvisor/sentry/filelock.h"
#include "syscalls_internal.h"

#define O_ACCMODE_ 3
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define O_PATH_ 010000000
#define LOCK_SH_ 1
#define LOCK_EX_ 2
#define LOCK_NB_ 4
#define LOCK_UN_ 8
#define LOCK_MAND_ 32
#define F_GETLK_ 5
#define F_SETLK_ 6
#define F_SETLKW_ 7
#define F_OFD_GETLK_ 36
#define F_OFD_SETLK_ 37
#define F_OFD_SETLKW_ 38
#define SEEK_SET_ 0
#define SEEK_CUR_ 1
#define SEEK_END_ 2

/* struct flock as x86-64 lays it out. */
struct linux_flock {
	int16_t l_type;
	int16_t l_whence;
	int32_t pad0;
	int64_t l_start;
	int64_t l_len;
	int32_t l_pid;
	int32_t pad1;
};

/* Implements Linux flock(2). Deviations: LOCK_MAND is refused (EINVAL). */
SYSCALL(flock)
{
	struct file *f = fd_get(t->files, IARG(0));
	int op = IARG(1), cmd = op & ~LOCK_NB_;
	struct file_lock_desc d = {.kind = FILE_LOCK_FLOCK, .start = 0, .end = FILE_LOCK_EOF};
	long r;

	if (!f)
		return -EBADF;
	d.owner = f;
	d.pid = t->tg->tgid;
	if (cmd == LOCK_SH_)
		d.type = FILE_LOCK_RD;
	else if (cmd == LOCK_EX_)
		d.type = FILE_LOCK_WR;
	else if (cmd == LOCK_UN_)
		d.type = FILE_LOCK_UN;
	else
		d.type = -1;
	if ((f->flags & O_PATH_) || !f->inode)
		r = -EBADF;
	else if (d.type < 0 || (op & LOCK_MAND_))
		r = -EINVAL;
	else
		r = file_lock_set(f->inode, &d, t, !(op & LOCK_NB_) && d.type != FILE_LOCK_UN);
	file_put(f);
	return r == -EAGAIN ? -EWOULDBLOCK : r;
}

/* struct flock to a byte range; -EINVAL or -EOVERFLOW as Linux. */
static long flock_range(struct file *f, const struct linux_flock *fl, struct file_lock_desc *d)
{
	int64_t base, start, end;

	switch (fl->l_whence) {
	case SEEK_SET_:
		base = 0;
		break;
	case SEEK_CUR_:
		base = f->pos;
		break;
	case SEEK_END_: {
		struct linux_statx st;
		long r = vfs_getattr(f->inode, &st);

		if (r < 0)
			return r;
		base = (int64_t)st.stx_size;
		break;
	}
	default:
		return -EINVAL;
	}
	if ((fl->l_start > 0 && base > INT64_MAX - fl->l_start) ||
	    (fl->l_start < 0 && base < INT64_MIN - fl->l_start))
		return -EOVERFLOW;
	start = base + fl->l_start;
	if (fl->l_len > 0) {
		if (start > INT64_MAX - (fl->l_len - 1))
			return -EOVERFLOW;
		end = start + fl->l_len - 1;
	} else if (fl->l_len < 0) {
		end = start - 1;
		if (start < INT64_MIN - fl->l_len)
			return -EINVAL;
		start += fl->l_len;
	} else {
		end = -1; /* to the end of the file, however large */
	}
	if (start < 0)
		return -EINVAL;
	d->start = (uint64_t)start;
	d->end = end < 0 ? FILE_LOCK_EOF : (uint64_t)end;
	return 0;
}

/* F_GETLK / F_OFD_GETLK: writes back the conflicting lock, or l_type = F_UNLCK. */
static long getlk(struct task *t, struct file *f, struct file_lock_desc *d,
		  struct linux_flock *fl, uint64_t arg)
{
	struct file_lock_desc held;
	long r;

	if (d->type == FILE_LOCK_UN)
		return -EINVAL;
	r = file_lock_test(f->inode, d, &held);
	if (r < 0)
		return r;
	if (r == 0) {
		fl->l_type = FILE_LOCK_UN;
	} else {
		fl->l_type = (int16_t)held.type;
		fl->l_whence = SEEK_SET_;
		fl->l_start = (int64_t)held.start;
		fl->l_len = held.end == FILE_LOCK_EOF ? 0 : (int64_t)(held.end - held.start + 1);
		fl->l_pid = held.kind == FILE_LOCK_POSIX ? held.pid : -1;
	}
	return copy_out_all(t, arg, fl, sizeof(*fl));
}

long fcntl_lock(struct task *t, struct file *f, int cmd, uint64_t arg)
{
	bool ofd = cmd >= F_OFD_GETLK_;
	struct file_lock_desc d = {.kind = ofd ? FILE_LOCK_OFD : FILE_LOCK_POSIX};
	struct linux_flock fl;
	unsigned acc = f->flags & O_ACCMODE_;
	long r;

	if ((f->flags & O_PATH_) || !f->inode)
		return -EBADF;
	if (copy_in_all(t, arg, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	if (fl.l_type != FILE_LOCK_RD && fl.l_type != FILE_LOCK_WR && fl.l_type != FILE_LOCK_UN)
		return -EINVAL;
	if (ofd && fl.l_pid != 0)
		return -EINVAL;
	d.type = fl.l_type;
	d.owner = ofd ? (const void *)f : (const void *)t->files;
	d.pid = ofd ? -1 : t->tg->tgid;
	if ((r = flock_range(f, &fl, &d)) < 0)
		return r;
	if (cmd == F_GETLK_ || cmd == F_OFD_GETLK_)
		return getlk(t, f, &d, &fl, arg);
	if ((d.type == FILE_LOCK_RD && acc == O_WRONLY_) || (d.type == FILE_LOCK_WR && acc == O_RDONLY_))
		return -EBADF;
	r = file_lock_set(f->inode, &d, t, cmd == F_SETLKW_ || cmd == F_OFD_SETLKW_);
	return r;
}
