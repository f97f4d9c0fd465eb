/* In-kernel copies: sendfile(2) and copy_file_range(2), as read/write loops in the sentry. */
#include <stdlib.h>

#include "syscalls_internal.h"

#define COPY_CHUNK (64u << 10)
#define COUNT_MAX 0x7ffff000ull
#define O_ACCMODE_ 3
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define O_APPEND_ 02000
#define O_PATH_ 010000000
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define S_IFDIR_ 0040000

static bool can_read(const struct file *f)
{
	return (f->flags & O_ACCMODE_) != O_WRONLY_ && !(f->flags & O_PATH_);
}

static bool can_write(const struct file *f)
{
	return (f->flags & O_ACCMODE_) != O_RDONLY_ && !(f->flags & O_PATH_);
}

/* Where each side reads or writes: an explicit offset (pread/pwrite) or the file position. */
struct copy_end {
	struct file *f;
	int64_t *off; /* NULL: the file position */
};

/*
 * Copies up to n bytes.  Data read but not written goes back: the explicit offset is not
 * advanced past it, or the input file's position is moved back.  Returns bytes copied or
 * -errno when nothing was.
 */
static long copy_loop(struct task *t, struct copy_end *in, struct copy_end *out, size_t n)
{
	char *buf = malloc(MIN(n, (size_t)COPY_CHUNK) ? MIN(n, (size_t)COPY_CHUNK) : 1);
	size_t done = 0;
	long r = 0;

	if (!buf)
		return -ENOMEM;
	while (done < n) {
		size_t want = MIN(n - done, (size_t)COPY_CHUNK);
		ssize_t got = in->off ? vfs_pread(in->f, t, buf, want, *in->off)
				      : vfs_read(in->f, t, buf, want);
		ssize_t put;

		if (got <= 0) {
			r = got;
			break;
		}
		put = out->off ? vfs_pwrite(out->f, t, buf, (size_t)got, *out->off)
			       : vfs_write(out->f, t, buf, (size_t)got);
		if (put < 0) {
			r = put;
			put = 0;
		}
		if (in->off)
			*in->off += put;
		else if (put < got)
			vfs_llseek(in->f, put - got, 1 /* SEEK_CUR */);
		if (out->off)
			*out->off += put;
		done += (size_t)put;
		if (put < got || r < 0)
			break;
	}
	free(buf);
	return done ? (long)done : r;
}

/* Implements Linux sendfile(2). Deviations: a read/write loop through the sentry. */
SYSCALL(sendfile)
{
	struct file *out = fd_get(t->files, IARG(0)), *in = fd_get(t->files, IARG(1));
	int64_t off = 0;
	struct copy_end ein = {in, ARG(2) ? &off : NULL}, eout = {out, NULL};
	long r;

	if (!in || !out || !can_read(in) || !can_write(out))
		r = -EBADF;
	else if (out->flags & O_APPEND_)
		r = -EINVAL;
	else if (ARG(2) && copy_in_all(t, ARG(2), &off, sizeof(off)) < 0)
		r = -EFAULT;
	else if (off < 0)
		r = -EINVAL;
	else
		r = copy_loop(t, &ein, &eout, MIN(ARG(3), COUNT_MAX));
	if (r >= 0 && ARG(2) && copy_out_all(t, ARG(2), &off, sizeof(off)) < 0)
		r = -EFAULT;
	if (in)
		file_put(in);
	if (out)
		file_put(out);
	return r;
}

static long check_cfr(struct file *in, struct file *out)
{
	uint32_t im = file_mode(in) & S_IFMT_, om = file_mode(out) & S_IFMT_;

	if (im == S_IFDIR_ || om == S_IFDIR_)
		return -EISDIR;
	if (im != S_IFREG_ || om != S_IFREG_)
		return -EINVAL;
	if (!can_read(in) || !can_write(out) || (out->flags & O_APPEND_))
		return -EBADF;
	return 0;
}

/* Implements Linux copy_file_range(2). Deviations: a read/write loop through the sentry, also
 * across filesystems. */
SYSCALL(copy_file_range)
{
	struct file *in = fd_get(t->files, IARG(0)), *out = fd_get(t->files, IARG(2));
	int64_t ioff = 0, ooff = 0;
	struct copy_end ein = {in, ARG(1) ? &ioff : NULL}, eout = {out, ARG(3) ? &ooff : NULL};
	uint64_t n = MIN(ARG(4), COUNT_MAX);
	long r;

	if (!in || !out)
		r = -EBADF;
	else if (ARG(5))
		r = -EINVAL;
	else if ((r = check_cfr(in, out)) < 0)
		;
	else if ((ARG(1) && copy_in_all(t, ARG(1), &ioff, 8) < 0) ||
		 (ARG(3) && copy_in_all(t, ARG(3), &ooff, 8) < 0))
		r = -EFAULT;
	else if (ioff < 0 || ooff < 0)
		r = -EINVAL;
	else if (in->inode == out->inode &&
		 (ARG(1) ? ioff : in->pos) < (ARG(3) ? ooff : out->pos) + (int64_t)n &&
		 (ARG(3) ? ooff : out->pos) < (ARG(1) ? ioff : in->pos) + (int64_t)n)
		r = -EINVAL; /* overlapping ranges of one file */
	else
		r = copy_loop(t, &ein, &eout, n);
	if (r >= 0 && ((ARG(1) && copy_out_all(t, ARG(1), &ioff, 8) < 0) ||
		       (ARG(3) && copy_out_all(t, ARG(3), &ooff, 8) < 0)))
		r = -EFAULT;
	if (in)
		file_put(in);
	if (out)
		file_put(out);
	return r;
}
