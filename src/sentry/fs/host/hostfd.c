/*
 * Files over host fds: the container's stdio, inherited from whoever ran `create`.  Reads
 * and writes wait for readiness with task_host_wait, so a signal interrupts them; poll,
 * select and epoll learn of readiness from the sandbox's host fd watcher (struct host_watch).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"
#include "cvisor/sentry/vfs.h"

struct hostfd {
	int fd;
	bool seekable;
	struct host_watch hw; /* readiness for poll, select and epoll */
};

static int fdof(const struct file *f)
{
	return ((struct hostfd *)f->priv)->fd;
}

static ssize_t hostfd_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct hostfd *h = f->priv;

	for (;;) {
		ssize_t r = h->seekable ? pread(h->fd, buf, n, *pos) : read(h->fd, buf, n);

		if (r >= 0) {
			if (h->seekable)
				*pos += r;
			return r;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		if ((r = task_host_wait(t, h->fd, POLLIN, 0)) < 0)
			return r == -EINTR ? -ERESTARTSYS : r;
	}
}

static ssize_t hostfd_write(struct file *f, struct task *t, const void *buf, size_t n,
			    int64_t *pos)
{
	struct hostfd *h = f->priv;
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(h->fd, (const char *)buf + done, n - done);

		if (r >= 0) {
			done += (size_t)r;
			continue;
		}
		if (errno == EPIPE)
			return done ? (ssize_t)done : -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return done ? (ssize_t)done : -errno;
		if (f->flags & O_NONBLOCK)
			return done ? (ssize_t)done : -EAGAIN;
		if ((r = task_host_wait(t, h->fd, POLLOUT, 0)) < 0)
			return done ? (ssize_t)done : (r == -EINTR ? -ERESTARTSYS : r);
	}
	return (ssize_t)done;
}

static int64_t hostfd_llseek(struct file *f, int64_t off, int whence)
{
	struct hostfd *h = f->priv;
	struct stat st;

	if (!h->seekable)
		return -ESPIPE;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	return generic_llseek(f, off, whence, (uint64_t)st.st_size);
}

/* Terminal ioctls pass through when the host fd is a terminal; otherwise ENOTTY. */
static long hostfd_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	uint8_t buf[64];
	size_t len;
	bool in = false, out = false;

	switch (cmd) {
	case TCGETS: len = 36; out = true; break;
	case TIOCGWINSZ: len = 8; out = true; break;
	case TCSETS: case TCSETSW: case TCSETSF: len = 36; in = true; break;
	case TIOCSWINSZ: len = 8; in = true; break;
	case TIOCGPGRP: len = 4; out = true; break;
	case FIONREAD: len = 4; out = true; break;
	default:
		return -ENOTTY;
	}
	if (cmd != FIONREAD && !isatty(fdof(f)))
		return -ENOTTY;
	if (cmd == TIOCGPGRP) {
		int pg = t->tg->pgid;

		return copy_out_all(t, arg, &pg, 4);
	}
	if (in && copy_in_all(t, arg, buf, len) < 0)
		return -EFAULT;
	if (ioctl(fdof(f), cmd, buf) < 0)
		return -errno;
	if (out && copy_out_all(t, arg, buf, len) < 0)
		return -EFAULT;
	return 0;
}

static unsigned hostfd_poll(struct file *f, struct poll_table *pt)
{
	return host_watch_poll(&((struct hostfd *)f->priv)->hw, pt);
}

static void hostfd_release(struct file *f)
{
	struct hostfd *h = f->priv;

	host_watch_stop(&h->hw);
	close(h->fd);
	free(h);
}

static const struct file_ops hostfd_ops = {
	.read = hostfd_read,
	.write = hostfd_write,
	.llseek = hostfd_llseek,
	.ioctl = hostfd_ioctl,
	.poll = hostfd_poll,
	.release = hostfd_release,
};

/* The same for host files the host cannot poll (regular files, /dev/null): as in Linux, they
 * are always ready and epoll refuses them (EPERM). */
static const struct file_ops hostfd_nopoll_ops = {
	.read = hostfd_read,
	.write = hostfd_write,
	.llseek = hostfd_llseek,
	.ioctl = hostfd_ioctl,
	.release = hostfd_release,
};

/* Can the host poll fd?  Asked once, of a throwaway host epoll. */
static bool host_pollable(int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok;

	if (ep < 0)
		return true;
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EPERM;
	close(ep);
	return ok;
}

static int hostfd_getattr(struct inode *ino, struct linux_statx *x)
{
	struct stat st;

	if (fstat((int)(intptr_t)ino->priv, &st) < 0)
		return -errno;
	x->stx_mask = 0x7ff;
	x->stx_mode = (uint16_t)st.st_mode;
	x->stx_nlink = (uint32_t)st.st_nlink;
	x->stx_uid = ino->uid;
	x->stx_gid = ino->gid;
	x->stx_ino = ino->ino;
	x->stx_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	x->stx_blksize = 4096;
	x->stx_rdev_major = S_ISCHR(st.st_mode) ? major(st.st_rdev) : 0;
	x->stx_rdev_minor = S_ISCHR(st.st_mode) ? minor(st.st_rdev) : 0;
	x->stx_dev_minor = (uint32_t)ino->sb->dev;
	return 0;
}

static const struct inode_ops hostfd_inode_ops = {
	.getattr = hostfd_getattr,
};

static const struct fs_type hostfd_fs = {.name = "hostfd"};

struct file *hostfd_file_new(struct vfs *vfs, int fd, unsigned flags)
{
	struct hostfd *h = calloc(1, sizeof(*h));
	struct super_block *sb = sb_new(vfs, &hostfd_fs, 0);
	struct inode *ino = NULL;
	struct file *f;
	struct stat st;

	if (!h || IS_ERR(sb) || fstat(fd, &st) < 0)
		goto err;
	ino = inode_new(sb, &hostfd_inode_ops, st.st_mode);
	if (!ino)
		goto err;
	ino->priv = (void *)(intptr_t)fd;
	h->fd = fd;
	h->seekable = S_ISREG(st.st_mode);
	host_watch_init(&h->hw, fd);
	f = file_new(NULL, ino, host_pollable(fd) ? &hostfd_ops : &hostfd_nopoll_ops, flags);
	inode_put(ino);
	sb_put(sb);
	if (IS_ERR(f)) {
		free(h);
		close(fd);
		return f;
	}
	f->priv = h;
	f->anon_name = strdup(S_ISFIFO(st.st_mode) ? "pipe:[host]" : "host:[stdio]");
	return f;
err:
	free(h);
	if (!IS_ERR_OR_NULL(sb))
		sb_put(sb);
	close(fd);
	return ERR_PTR(-ENOMEM);
}
