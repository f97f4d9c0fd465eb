/*
 * In-kernel copies: sendfile(2) and copy_file_range(2), as read/write loops in the sentry;
 * splice(2), tee(2) and vmsplice(2) through the pipe's splice helpers (src/sentry/fs/pipe).
 */
#include <stdlib.h>

#include "cvisor/abi/linux/socket.h"
#include "cvisor/sentry/net.h"
#include "cvisor/sentry/pipe.h"
#include "syscalls_internal.h"

#define COPY_CHUNK (64u << 10)
#define COUNT_MAX 0x7ffff000ull
#define O_ACCMODE_ 3
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define O_APPEND_ 02000
#define O_NONBLOCK_ 04000
#define O_PATH_ 010000000
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define S_IFDIR_ 0040000
#define SPLICE_F_NONBLOCK_ 0x2
#define SPLICE_F_ALL_ 0xf /* MOVE, NONBLOCK, MORE, GIFT */

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

/* ---- splice, tee, vmsplice ---------------------------------------------------------------- */

static void raise_sigpipe(struct task *t)
{
	struct linux_siginfo info;

	siginfo_kill(&info, 13 /* SIGPIPE */, LINUX_SI_USER, t);
	signal_send_thread(t, &info);
}

static bool seekable(const struct file *f)
{
	return f->ops && f->ops->llseek;
}

/* Linux's rw_verify_area: the length and the range it covers from off must be valid. */
static bool range_ok(int64_t off, size_t n)
{
	return (int64_t)n >= 0 && off >= 0 && (uint64_t)off + n <= (uint64_t)INT64_MAX;
}

static unsigned splice_nonblock(unsigned flags, const struct file *a, const struct file *b)
{
	if ((flags & SPLICE_F_NONBLOCK_) || ((a ? a->flags : 0) | (b ? b->flags : 0)) & O_NONBLOCK_)
		return PIPE_NONBLOCK;
	return 0;
}

/* The file side of a splice: a task's read or write at an offset or the file position. */
struct splice_file {
	struct task *t;
	struct file *f;
	int64_t *off;          /* NULL: the file position */
	struct socket *nowait; /* read this socket without waiting instead */
};

static ssize_t sock_read_nowait(struct socket *s, struct task *t, void *buf, size_t n)
{
	struct linux_iovec iov = {.base = (uint64_t)(uintptr_t)buf, .len = n};
	struct sock_msg m = {0};

	msg_iter_init(&m.data, NULL, &iov, 1);
	return socket_recvmsg(s, t, &m, LINUX_MSG_DONTWAIT);
}

static ssize_t file_fill(void *arg, void *buf, size_t n)
{
	struct splice_file *sf = arg;
	ssize_t r = sf->nowait ? sock_read_nowait(sf->nowait, sf->t, buf, n)
		    : sf->off  ? vfs_pread(sf->f, sf->t, buf, n, *sf->off)
			       : vfs_read(sf->f, sf->t, buf, n);

	if (r > 0 && sf->off)
		*sf->off += r;
	return r;
}

static ssize_t file_drain(void *arg, void *buf, size_t n)
{
	struct splice_file *sf = arg;
	ssize_t r = sf->off ? vfs_pwrite(sf->f, sf->t, buf, n, *sf->off)
			    : vfs_write(sf->f, sf->t, buf, n);

	if (r > 0 && sf->off)
		*sf->off += r;
	return r;
}

/* Pipe to file: the output's offset must be usable, as pwrite's would, and not appending. */
static long splice_to_file(struct task *t, struct pipe *ip, struct file *in, struct file *out,
			   int64_t *ooff, size_t n, unsigned flags)
{
	struct splice_file sf = {t, out, ooff, NULL};

	if ((ooff && !seekable(out)) || (out->flags & O_APPEND_))
		return -EINVAL;
	if (!range_ok(ooff ? *ooff : out->pos, n))
		return -EINVAL;
	n = MIN(n, (size_t)COUNT_MAX);
	return pipe_splice_out(ip, t, n, splice_nonblock(flags, in, NULL), file_drain, &sf);
}

/*
 * File to pipe: one read of at most what the pipe has room for, in the file's pages.  A
 * nonblocking splice reads a unix stream socket without waiting, as Linux's does; other
 * files follow their own O_NONBLOCK.
 */
static long splice_from_file(struct task *t, struct file *in, int64_t *ioff, struct pipe *op,
			     struct file *out, size_t n, unsigned flags)
{
	struct splice_file sf = {t, in, ioff, NULL};
	int64_t at = ioff ? *ioff : in->pos;
	uint32_t type = file_mode(in) & S_IFMT_;
	unsigned pflags = splice_nonblock(flags, out, NULL);
	struct socket *s = socket_from_file(in);

	if ((ioff && !seekable(in)) || type == S_IFDIR_)
		return -EINVAL;
	if (!range_ok(at, n))
		return -EINVAL;
	if (s && s->family == LINUX_AF_UNIX && s->type == LINUX_SOCK_STREAM &&
	    (pflags & PIPE_NONBLOCK))
		sf.nowait = s;
	return pipe_splice_in(op, t, n, type == S_IFREG_ ? (size_t)at : 0, pflags, file_fill, &sf);
}

static long do_splice(struct task *t, struct file *in, int64_t *ioff, struct file *out,
		      int64_t *ooff, size_t n, unsigned flags)
{
	struct pipe *ip = pipe_of_file(in), *op = pipe_of_file(out);

	if (!can_read(in) || !can_write(out))
		return -EBADF;
	if (ip && op)
		return ip == op ? -EINVAL
				: pipe_splice_pipe(ip, op, t, n, splice_nonblock(flags, in, out));
	if (ip)
		return splice_to_file(t, ip, in, out, ooff, n, flags);
	if (op)
		return splice_from_file(t, in, ioff, op, out, n, flags);
	return -EINVAL;
}

/* Implements Linux splice(2). Deviations: the data is copied, so later writes to the file do
 * not show through the pipe (SPLICE_F_MOVE is a hint); one call from a file moves at most
 * PIPE_MAX_SIZE. */
SYSCALL(splice)
{
	struct file *in = NULL, *out = NULL;
	int64_t ioff = 0, ooff = 0;
	uint64_t uin = ARG(1), uout = ARG(3);
	unsigned flags = (unsigned)ARG(5);
	long r;

	if (!ARG(4))
		return 0;
	if (flags & ~SPLICE_F_ALL_)
		return -EINVAL;
	if (!(in = fd_get(t->files, IARG(0))) || !(out = fd_get(t->files, IARG(2))))
		r = -EBADF;
	else if ((uin && pipe_of_file(in)) || (uout && pipe_of_file(out)))
		r = -ESPIPE;
	else if ((uout && copy_in_all(t, uout, &ooff, 8) < 0) ||
		 (uin && copy_in_all(t, uin, &ioff, 8) < 0))
		r = -EFAULT;
	else
		r = do_splice(t, in, uin ? &ioff : NULL, out, uout ? &ooff : NULL, ARG(4), flags);
	if (r >= 0 && ((uout && copy_out_all(t, uout, &ooff, 8) < 0) ||
		       (uin && copy_out_all(t, uin, &ioff, 8) < 0)))
		r = -EFAULT;
	if (r == -EPIPE)
		raise_sigpipe(t);
	if (in)
		file_put(in);
	if (out)
		file_put(out);
	return r;
}

/* Implements Linux tee(2), copying the bytes (which nothing can tell from sharing them). */
SYSCALL(tee)
{
	struct file *in = NULL, *out = NULL;
	unsigned flags = (unsigned)ARG(3);
	long r;

	if (flags & ~SPLICE_F_ALL_)
		return -EINVAL;
	if (!ARG(2))
		return 0;
	if (!(in = fd_get(t->files, IARG(0))) || !(out = fd_get(t->files, IARG(1))))
		r = -EBADF;
	else if (!can_read(in) || !can_write(out))
		r = -EBADF;
	else if (!pipe_of_file(in) || !pipe_of_file(out) || pipe_of_file(in) == pipe_of_file(out))
		r = -EINVAL;
	else
		r = pipe_tee(pipe_of_file(in), pipe_of_file(out), t, ARG(2),
			     splice_nonblock(flags, in, out));
	if (r == -EPIPE)
		raise_sigpipe(t);
	if (in)
		file_put(in);
	if (out)
		file_put(out);
	return r;
}

/* The user side of vmsplice: guest memory, one iovec segment in, all of them out. */
struct user_io {
	struct task *t;
	const struct linux_iovec *iov;
	uint64_t cnt, seg, off; /* the next byte: iov[seg].base + off */
};

static ssize_t user_fill(void *arg, void *buf, size_t n)
{
	struct user_io *u = arg;

	return copy_in(u->t, u->iov[u->seg].base, buf, n);
}

static ssize_t user_drain(void *arg, void *buf, size_t n)
{
	struct user_io *u = arg;
	size_t done = 0;

	while (done < n && u->seg < u->cnt) {
		const struct linux_iovec *v = &u->iov[u->seg];
		size_t c = MIN(n - done, (size_t)(v->len - u->off));
		ssize_t r = c ? copy_out(u->t, v->base + u->off, (char *)buf + done, c) : 0;

		if (r < 0)
			break;
		done += (size_t)r;
		u->off += (uint64_t)r;
		if ((size_t)r < c)
			break;
		if (u->off == v->len) {
			u->seg++;
			u->off = 0;
		}
	}
	return done ? (ssize_t)done : -EFAULT;
}

/* Copies in the iovecs as Linux's import_iovec: lengths checked, the total capped. */
static long iov_import(struct task *t, uint64_t uiov, uint64_t cnt, struct linux_iovec **out,
		       uint64_t *total)
{
	struct linux_iovec *iov;

	*total = 0;
	if (cnt > LINUX_UIO_MAXIOV)
		return -EINVAL;
	if (!(iov = calloc(cnt ? cnt : 1, sizeof(*iov))))
		return -ENOMEM;
	*out = iov;
	if (copy_in_all(t, uiov, iov, cnt * sizeof(*iov)) < 0)
		return -EFAULT;
	for (uint64_t i = 0; i < cnt; i++) {
		if ((int64_t)iov[i].len < 0)
			return -EINVAL;
		iov[i].len = MIN(iov[i].len, COUNT_MAX - *total);
		*total += iov[i].len;
	}
	return 0;
}

/* User memory into the pipe: a wait for room first, then what fits, segment by segment. */
static long vmsplice_in(struct task *t, struct pipe *p, struct linux_iovec *iov, uint64_t cnt,
			unsigned pflags)
{
	struct user_io u = {t, iov, cnt, 0, 0};
	long done = 0;

	for (; u.seg < cnt; u.seg++) {
		ssize_t r;

		if (!iov[u.seg].len)
			continue;
		r = pipe_splice_in(p, t, iov[u.seg].len, iov[u.seg].base,
				   done ? pflags | PIPE_NONBLOCK : pflags, user_fill, &u);
		if (r <= 0)
			return done ? done : r;
		done += r;
		if ((uint64_t)r < iov[u.seg].len)
			break;
	}
	return done;
}

/* Implements Linux vmsplice(2). Deviations: the data is copied, so changing the memory after
 * a vmsplice into a pipe does not change what the pipe holds (SPLICE_F_GIFT is a hint). */
SYSCALL(vmsplice)
{
	struct linux_iovec *iov = NULL;
	unsigned flags = (unsigned)ARG(3);
	unsigned pflags = flags & SPLICE_F_NONBLOCK_ ? PIPE_NONBLOCK : 0; /* not O_NONBLOCK */
	uint64_t total;
	struct file *f;
	struct pipe *p;
	long r;

	if (flags & ~SPLICE_F_ALL_)
		return -EINVAL;
	if (!(f = fd_get(t->files, IARG(0))))
		return -EBADF;
	if (!can_write(f) && !can_read(f))
		r = -EBADF;
	else if ((r = iov_import(t, ARG(1), ARG(2), &iov, &total)) < 0 || !total)
		;
	else if (!(p = pipe_of_file(f)))
		r = -EBADF;
	else if (can_write(f))
		r = vmsplice_in(t, p, iov, ARG(2), pflags);
	else
		r = pipe_splice_out(p, t, total, pflags, user_drain,
				    &(struct user_io){t, iov, ARG(2), 0, 0});
	if (r == -EPIPE)
		raise_sigpipe(t);
	free(iov);
	file_put(f);
	return r;
}
