/* File descriptor syscalls: open, close, read, write, seek, dup, fcntl, ioctl. */
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/net.h"
#include "cvisor/sentry/pipe.h"
#include "syscalls_internal.h"

#define IO_CHUNK (256u << 10)
#define O_CLOEXEC_ 02000000
#define O_PATH_ 010000000
#define O_NONBLOCK_ 04000
#define O_APPEND_ 02000
#define O_DIRECT_ 040000
#define O_NOATIME_ 01000000
#define O_ASYNC_ 020000
#define O_LARGEFILE_ 0100000
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define F_DUPFD_ 0
#define F_GETFD_ 1
#define F_SETFD_ 2
#define F_GETFL_ 3
#define F_SETFL_ 4
#define F_DUPFD_CLOEXEC_ 1030
#define F_SETPIPE_SZ_ 1031
#define F_GETPIPE_SZ_ 1032
#define FD_CLOEXEC_ 1

static int nofile(struct task *t)
{
	uint64_t l = task_rlimit(t, 7 /* RLIMIT_NOFILE */);

	return (int)MIN(l, (uint64_t)(1 << 20));
}

static struct file *get_file(struct task *t, int fd)
{
	return fd_get(t->files, fd);
}

/* read(2)/pread64(2): through a bounce buffer; regular files loop until n or EOF. */
static long do_read(struct task *t, struct file *f, uint64_t ubuf, size_t n, int64_t *off)
{
	size_t chunk = MIN(n, (size_t)IO_CHUNK), done = 0;
	bool regular = (file_mode(f) & S_IFMT_) == S_IFREG_;
	char *buf;

	if (n == 0)
		return 0;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	while (done < n) {
		size_t want = MIN(chunk, n - done);
		ssize_t r = off ? vfs_pread(f, t, buf, want, *off + (int64_t)done)
				: vfs_read(f, t, buf, want);

		if (r < 0) {
			free(buf);
			return done ? (long)done : r;
		}
		if (r > 0 && copy_out_all(t, ubuf + done, buf, (size_t)r) < 0) {
			free(buf);
			return done ? (long)done : -EFAULT;
		}
		done += (size_t)r;
		if ((size_t)r < want || !regular)
			break;
	}
	free(buf);
	return (long)done;
}

static long do_write(struct task *t, struct file *f, uint64_t ubuf, size_t n, int64_t *off)
{
	size_t chunk = MIN(n, (size_t)IO_CHUNK), done = 0;
	char *buf;

	if (n == 0)
		return 0;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	while (done < n) {
		size_t want = MIN(chunk, n - done);
		ssize_t r;

		if (copy_in_all(t, ubuf + done, buf, want) < 0) {
			r = -EFAULT;
		} else {
			r = off ? vfs_pwrite(f, t, buf, want, *off + (int64_t)done)
				: vfs_write(f, t, buf, want);
		}
		if (r == -EPIPE && !done) {
			struct linux_siginfo info;

			siginfo_kill(&info, 13 /* SIGPIPE */, LINUX_SI_USER, t);
			signal_send_thread(t, &info);
		}
		if (r < 0) {
			free(buf);
			return done ? (long)done : r;
		}
		done += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	free(buf);
	return (long)done;
}

/* Implements Linux read(2). */
SYSCALL(read)
{
	struct file *f = get_file(t, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = do_read(t, f, ARG(1), MIN(ARG(2), (uint64_t)0x7ffff000), NULL);
	file_put(f);
	return r;
}

/* Implements Linux write(2). */
SYSCALL(write)
{
	struct file *f = get_file(t, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = do_write(t, f, ARG(1), MIN(ARG(2), (uint64_t)0x7ffff000), NULL);
	file_put(f);
	return r;
}

/* Implements Linux pread64(2). */
SYSCALL(pread64)
{
	struct file *f = get_file(t, IARG(0));
	int64_t off = (int64_t)ARG(3);
	long r;

	if (!f)
		return -EBADF;
	r = off < 0 ? -EINVAL : do_read(t, f, ARG(1), MIN(ARG(2), (uint64_t)0x7ffff000), &off);
	file_put(f);
	return r;
}

/* Implements Linux pwrite64(2). */
SYSCALL(pwrite64)
{
	struct file *f = get_file(t, IARG(0));
	int64_t off = (int64_t)ARG(3);
	long r;

	if (!f)
		return -EBADF;
	r = off < 0 ? -EINVAL : do_write(t, f, ARG(1), MIN(ARG(2), (uint64_t)0x7ffff000), &off);
	file_put(f);
	return r;
}

/* readv/writev/preadv/pwritev: one call per iovec segment, stopping at a short one. */
static long do_iov(struct task *t, int fd, uint64_t uiov, uint64_t cnt, int64_t *off, bool wr)
{
	struct linux_iovec *iov;
	struct file *f;
	long total = 0, r = 0;

	if (cnt > LINUX_UIO_MAXIOV)
		return -EINVAL;
	if (!(f = get_file(t, fd)))
		return -EBADF;
	iov = calloc(cnt ? cnt : 1, sizeof(*iov));
	if (!iov || copy_in_all(t, uiov, iov, cnt * sizeof(*iov)) < 0) {
		r = iov ? -EFAULT : -ENOMEM;
		goto out;
	}
	if (!off && socket_from_file(f)) { /* one message over all iovecs */
		r = socket_file_rw_iov(f, t, iov, cnt, wr);
		goto out;
	}
	for (uint64_t i = 0; i < cnt; i++) {
		int64_t at = off ? *off + total : 0;

		if (iov[i].len > 0x7ffff000ull) {
			r = -EINVAL;
			break;
		}
		r = wr ? do_write(t, f, iov[i].base, iov[i].len, off ? &at : NULL)
		       : do_read(t, f, iov[i].base, iov[i].len, off ? &at : NULL);
		if (r < 0)
			break;
		total += r;
		if ((uint64_t)r < iov[i].len)
			break;
	}
out:
	free(iov);
	file_put(f);
	return total ? total : r;
}

/* Implements Linux readv(2). */
SYSCALL(readv)
{
	return do_iov(t, IARG(0), ARG(1), ARG(2), NULL, false);
}

/* Implements Linux writev(2). */
SYSCALL(writev)
{
	return do_iov(t, IARG(0), ARG(1), ARG(2), NULL, true);
}

/* Implements Linux preadv(2). */
SYSCALL(preadv)
{
	int64_t off = (int64_t)ARG(3);

	return off < 0 ? -EINVAL : do_iov(t, IARG(0), ARG(1), ARG(2), &off, false);
}

/* Implements Linux pwritev(2). */
SYSCALL(pwritev)
{
	int64_t off = (int64_t)ARG(3);

	return off < 0 ? -EINVAL : do_iov(t, IARG(0), ARG(1), ARG(2), &off, true);
}

/* Implements Linux preadv2(2). Deviations: RWF_* flags other than 0 are EOPNOTSUPP. */
SYSCALL(preadv2)
{
	int64_t off = (int64_t)ARG(3);

	if (ARG(5))
		return -EOPNOTSUPP;
	return off == -1 ? do_iov(t, IARG(0), ARG(1), ARG(2), NULL, false)
			 : off < 0 ? -EINVAL : do_iov(t, IARG(0), ARG(1), ARG(2), &off, false);
}

/* Implements Linux pwritev2(2). Deviations: RWF_* flags other than 0 are EOPNOTSUPP. */
SYSCALL(pwritev2)
{
	int64_t off = (int64_t)ARG(3);

	if (ARG(5))
		return -EOPNOTSUPP;
	return off == -1 ? do_iov(t, IARG(0), ARG(1), ARG(2), NULL, true)
			 : off < 0 ? -EINVAL : do_iov(t, IARG(0), ARG(1), ARG(2), &off, true);
}

static long do_openat(struct task *t, int dirfd, uint64_t upath, int flags, uint32_t mode)
{
	struct path hr, hs;
	struct walk_ctx w;
	struct file *f;
	char *path = copy_in_path(t, upath);
	long r;

	if (IS_ERR(path))
		return PTR_ERR(path);
	if ((r = task_walk_ctx(t, dirfd, &w, &hr, &hs)) < 0)
		goto out;
	pthread_mutex_lock(&t->fs->lock);
	mode &= ~t->fs->umask;
	pthread_mutex_unlock(&t->fs->lock);
	r = vfs_open(&w, path, flags, mode, &f);
	task_walk_ctx_put(&hr, &hs);
	if (r < 0)
		goto out;
	r = fd_install(t->files, f, flags & O_CLOEXEC_, 0, nofile(t));
	file_put(f);
out:
	free(path);
	return r;
}

/* Implements Linux open(2). */
SYSCALL(open)
{
	return do_openat(t, AT_FDCWD_LINUX, ARG(0), IARG(1), (uint32_t)ARG(2));
}

/* Implements Linux openat(2). */
SYSCALL(openat)
{
	return do_openat(t, IARG(0), ARG(1), IARG(2), (uint32_t)ARG(3));
}

/* Implements Linux creat(2). */
SYSCALL(creat)
{
	return do_openat(t, AT_FDCWD_LINUX, ARG(0), 0100 | 01000 | 1, (uint32_t)ARG(1));
}

/* Implements Linux close(2). */
SYSCALL(close)
{
	return fd_close(t->files, IARG(0));
}

/* Implements Linux close_range(2). */
SYSCALL(close_range)
{
	unsigned lo = (unsigned)ARG(0), hi = (unsigned)ARG(1), flags = (unsigned)ARG(2);

	if (lo > hi || (flags & ~6u))
		return -EINVAL;
	if (flags & 2) /* CLOSE_RANGE_UNSHARE */
		return -EINVAL;
	fd_close_range(t->files, lo, hi, flags & 4);
	return 0;
}

/* Implements Linux lseek(2). */
SYSCALL(lseek)
{
	struct file *f = get_file(t, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = vfs_llseek(f, (int64_t)ARG(1), IARG(2));
	file_put(f);
	return r;
}

/* Implements Linux dup(2). */
SYSCALL(dup)
{
	struct file *f = get_file(t, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = fd_install(t->files, f, false, 0, nofile(t));
	file_put(f);
	return r;
}

static long do_dup3(struct task *t, int oldfd, int newfd, int flags)
{
	struct file *f = get_file(t, oldfd);
	long r;

	if (!f)
		return -EBADF;
	r = fd_install_at(t->files, newfd, f, flags & O_CLOEXEC_, nofile(t));
	file_put(f);
	return r;
}

/* Implements Linux dup2(2). */
SYSCALL(dup2)
{
	if (IARG(0) == IARG(1)) {
		struct file *f = get_file(t, IARG(0));

		if (!f)
			return -EBADF;
		file_put(f);
		return IARG(1);
	}
	return do_dup3(t, IARG(0), IARG(1), 0);
}

/* Implements Linux dup3(2). */
SYSCALL(dup3)
{
	if (IARG(0) == IARG(1) || (IARG(2) & ~O_CLOEXEC_))
		return -EINVAL;
	return do_dup3(t, IARG(0), IARG(1), IARG(2));
}

/* Implements Linux fcntl(2). Deviations: leases are not implemented; F_SETLKW does not
 * detect deadlocks (no EDEADLK). */
SYSCALL(fcntl)
{
	int fd = IARG(0), cmd = IARG(1);
	struct file *f = get_file(t, fd);
	long r = 0;
	unsigned settable = O_APPEND_ | O_NONBLOCK_ | O_DIRECT_ | O_NOATIME_ | O_ASYNC_;

	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD_:
	case F_DUPFD_CLOEXEC_:
		r = IARG(2) < 0 || IARG(2) >= nofile(t) ? -EINVAL
			: fd_install(t->files, f, cmd == F_DUPFD_CLOEXEC_, IARG(2), nofile(t));
		break;
	case F_GETFD_:
		r = fd_get_cloexec(t->files, fd) > 0 ? FD_CLOEXEC_ : 0;
		break;
	case F_SETFD_:
		r = fd_set_cloexec(t->files, fd, ARG(2) & FD_CLOEXEC_);
		break;
	case F_GETFL_:
		/* open(2) forces O_LARGEFILE on 64-bit; pipes, sockets and other anonymous
		 * files (no path) never have it. */
		r = (long)(f->flags | (f->path.dentry ? O_LARGEFILE_ : 0));
		break;
	case F_SETFL_:
		if (f->flags & O_PATH_) {
			r = -EBADF;
			break;
		}
		pthread_mutex_lock(&f->pos_lock);
		f->flags = (f->flags & ~settable) | ((unsigned)ARG(2) & settable);
		pthread_mutex_unlock(&f->pos_lock);
		break;
	case 5: /* F_GETLK */
	case 6: /* F_SETLK */
	case 7: /* F_SETLKW */
	case 36: /* F_OFD_GETLK */
	case 37: /* F_OFD_SETLK */
	case 38: /* F_OFD_SETLKW */
		r = fcntl_lock(t, f, cmd, ARG(2));
		break;
	case 1033: /* F_ADD_SEALS */
	case 1034: /* F_GET_SEALS */
		r = fcntl_seals(f, cmd, ARG(2));
		break;
	case F_SETPIPE_SZ_:
	case F_GETPIPE_SZ_:
		r = pipe_fcntl(f, t, cmd, ARG(2));
		break;
	default:
		r = -EINVAL;
		break;
	}
	file_put(f);
	return r;
}

/* Implements Linux ioctl(2): FIONBIO and FIOCLEX here, the rest by the file. */
SYSCALL(ioctl)
{
	struct file *f = get_file(t, IARG(0));
	unsigned cmd = (unsigned)ARG(1);
	long r;
	int v;

	if (!f)
		return -EBADF;
	switch (cmd) {
	case 0x5421: /* FIONBIO */
		r = copy_in_all(t, ARG(2), &v, 4);
		if (r == 0) {
			pthread_mutex_lock(&f->pos_lock);
			f->flags = v ? f->flags | O_NONBLOCK_ : f->flags & ~(unsigned)O_NONBLOCK_;
			pthread_mutex_unlock(&f->pos_lock);
		}
		break;
	case 0x5451: /* FIOCLEX */
	case 0x5450: /* FIONCLEX */
		r = fd_set_cloexec(t->files, IARG(0), cmd == 0x5451);
		break;
	default:
		r = vfs_ioctl(f, t, cmd, ARG(2));
		break;
	}
	file_put(f);
	return r;
}
