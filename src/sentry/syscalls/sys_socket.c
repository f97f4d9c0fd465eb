/*
 * Socket syscalls other than the data path (sys_sockmsg.c): socket, socketpair, bind,
 * listen, accept, connect, names, shutdown and options.  The semantics live in
 * src/sentry/net; these decode guest arguments and copy results out.
 */
#include <stdlib.h>
#include <string.h>

#include "cvisor/abi/linux/socket.h"
#include "cvisor/sentry/net.h"
#include "sockcall.h"
#include "syscalls_internal.h"

#define O_NONBLOCK_ 04000
#define SOCK_FLAGS (LINUX_SOCK_NONBLOCK | LINUX_SOCK_CLOEXEC)
#define OPT_MAX 512

static int nofile(struct task *t)
{
	return (int)MIN(task_rlimit(t, 7 /* RLIMIT_NOFILE */), (uint64_t)(1 << 20));
}

struct socket *sockcall_get(struct task *t, int fd, struct file **f, long *err)
{
	struct socket *s;

	*f = fd_get(t->files, fd);
	if (!*f) {
		*err = -EBADF;
		return NULL;
	}
	s = socket_from_file(*f);
	if (!s) {
		file_put(*f);
		*err = -ENOTSOCK;
	}
	return s;
}

bool sockcall_nonblock(const struct file *f)
{
	return f->flags & O_NONBLOCK_;
}

long sockcall_copy_addr_in(struct task *t, uint64_t uaddr, uint64_t ulen, void *addr)
{
	if (ulen > LINUX_SOCKADDR_MAX)
		return -EINVAL;
	if (ulen && copy_in_all(t, uaddr, addr, ulen) < 0)
		return -EFAULT;
	return 0;
}

long sockcall_copy_addr_out(struct task *t, uint64_t uaddr, uint64_t ulenp, const void *addr,
			    uint32_t len)
{
	int32_t room;

	if (!uaddr || !ulenp)
		return 0;
	if (copy_in_all(t, ulenp, &room, sizeof(room)) < 0)
		return -EFAULT;
	if (room < 0)
		return -EINVAL;
	if (len && copy_out_all(t, uaddr, addr, MIN((uint32_t)room, len)) < 0)
		return -EFAULT;
	return copy_out_all(t, ulenp, &len, sizeof(len));
}

/* Gives s a file and an fd (taking over the reference to s). */
static long install_socket(struct task *t, struct socket *s, int flags)
{
	struct file *f = socket_file_new(t, s, (unsigned)flags & O_NONBLOCK_);
	long fd;

	if (IS_ERR(f))
		return PTR_ERR(f);
	fd = fd_install(t->files, f, flags & LINUX_SOCK_CLOEXEC, 0, nofile(t));
	file_put(f);
	return fd;
}

/* Implements Linux socket(2). Deviations: see the families in src/sentry/net. */
SYSCALL(socket)
{
	int type = IARG(1);
	struct socket *s;
	long r;

	if (type & ~(SOCK_FLAGS | LINUX_SOCK_TYPE_MASK))
		return -EINVAL;
	r = socket_create(t, IARG(0), type & LINUX_SOCK_TYPE_MASK, IARG(2), &s);
	return r < 0 ? r : install_socket(t, s, type & SOCK_FLAGS);
}

/* Implements Linux socketpair(2). */
SYSCALL(socketpair)
{
	int type = IARG(1), fds[2];
	struct socket *s[2];
	long r;

	if (type & ~(SOCK_FLAGS | LINUX_SOCK_TYPE_MASK))
		return -EINVAL;
	r = socket_create_pair(t, IARG(0), type & LINUX_SOCK_TYPE_MASK, IARG(2), s);
	if (r < 0)
		return r;
	if ((r = fds[0] = (int)install_socket(t, s[0], type & SOCK_FLAGS)) < 0) {
		socket_discard(s[1]);
		return r;
	}
	if ((r = fds[1] = (int)install_socket(t, s[1], type & SOCK_FLAGS)) < 0 ||
	    (r = copy_out_all(t, ARG(3), fds, sizeof(fds))) < 0) {
		fd_close(t->files, fds[0]);
		if (fds[1] >= 0)
			fd_close(t->files, fds[1]);
		return r;
	}
	return 0;
}

/* Implements Linux bind(2). */
SYSCALL(bind)
{
	uint8_t addr[LINUX_SOCKADDR_MAX];
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);

	if (!s)
		return r;
	r = sockcall_copy_addr_in(t, ARG(1), (uint32_t)ARG(2), addr);
	if (r == 0)
		r = socket_bind(s, t, addr, (uint32_t)ARG(2));
	file_put(f);
	return r;
}

/* Implements Linux listen(2). */
SYSCALL(listen)
{
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);

	if (!s)
		return r;
	r = socket_listen(s, t, IARG(1));
	file_put(f);
	return r;
}

/* Implements Linux connect(2). */
SYSCALL(connect)
{
	uint8_t addr[LINUX_SOCKADDR_MAX];
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);

	if (!s)
		return r;
	r = sockcall_copy_addr_in(t, ARG(1), (uint32_t)ARG(2), addr);
	if (r == 0)
		r = socket_connect(s, t, addr, (uint32_t)ARG(2), sockcall_nonblock(f));
	file_put(f);
	return r;
}

static long do_accept(struct task *t, int fd, uint64_t uaddr, uint64_t ulenp, int flags)
{
	uint8_t addr[LINUX_SOCKADDR_MAX];
	uint32_t len = 0;
	struct socket *s, *ns;
	struct file *f, *nf;
	long r;

	if (flags & ~SOCK_FLAGS)
		return -EINVAL;
	if (!(s = sockcall_get(t, fd, &f, &r)))
		return r;
	r = socket_accept(s, t, sockcall_nonblock(f), &ns);
	file_put(f);
	if (r < 0)
		return r;
	/* The file first: on a later error its close tells the peer. */
	nf = socket_file_new(t, ns, (unsigned)flags & O_NONBLOCK_);
	if (IS_ERR(nf))
		return PTR_ERR(nf);
	if (uaddr && socket_getname(ns, addr, &len, true) < 0)
		r = -ECONNABORTED;
	if (r == 0)
		r = sockcall_copy_addr_out(t, uaddr, ulenp, addr, len);
	if (r == 0)
		r = fd_install(t->files, nf, flags & LINUX_SOCK_CLOEXEC, 0, nofile(t));
	file_put(nf);
	return r;
}

/* Implements Linux accept(2). */
SYSCALL(accept)
{
	return do_accept(t, IARG(0), ARG(1), ARG(2), 0);
}

/* Implements Linux accept4(2). */
SYSCALL(accept4)
{
	return do_accept(t, IARG(0), ARG(1), ARG(2), IARG(3));
}

static long do_getname(struct task *t, int fd, uint64_t uaddr, uint64_t ulenp, bool peer)
{
	uint8_t addr[LINUX_SOCKADDR_MAX];
	uint32_t len = 0;
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, fd, &f, &r);

	if (!s)
		return r;
	r = socket_getname(s, addr, &len, peer);
	file_put(f);
	if (r < 0)
		return r;
	if (!uaddr || !ulenp)
		return -EFAULT;
	return sockcall_copy_addr_out(t, uaddr, ulenp, addr, len);
}

/* Implements Linux getsockname(2). */
SYSCALL(getsockname)
{
	return do_getname(t, IARG(0), ARG(1), ARG(2), false);
}

/* Implements Linux getpeername(2). */
SYSCALL(getpeername)
{
	return do_getname(t, IARG(0), ARG(1), ARG(2), true);
}

/* Implements Linux shutdown(2). */
SYSCALL(shutdown)
{
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);

	if (!s)
		return r;
	r = socket_shutdown(s, IARG(1));
	file_put(f);
	return r;
}

/* Implements Linux setsockopt(2). Deviations: options are per family (src/sentry/net). */
SYSCALL(setsockopt)
{
	uint8_t val[OPT_MAX];
	uint32_t len = (uint32_t)ARG(4);
	struct file *f;
	long r;
	struct socket *s;

	if ((int32_t)len < 0)
		return -EINVAL;
	len = MIN(len, (uint32_t)OPT_MAX);
	if (!(s = sockcall_get(t, IARG(0), &f, &r)))
		return r;
	r = len && copy_in_all(t, ARG(3), val, len) < 0 ? -EFAULT : 0;
	if (r == 0)
		r = socket_setsockopt(s, t, IARG(1), IARG(2), val, len);
	file_put(f);
	return r;
}

/* Implements Linux getsockopt(2). Deviations: options are per family (src/sentry/net). */
SYSCALL(getsockopt)
{
	uint8_t val[OPT_MAX];
	int32_t room;
	uint32_t len;
	struct file *f;
	long r;
	struct socket *s;

	if (copy_in_all(t, ARG(4), &room, sizeof(room)) < 0)
		return -EFAULT;
	if (room < 0)
		return -EINVAL;
	len = MIN((uint32_t)room, (uint32_t)OPT_MAX);
	if (!(s = sockcall_get(t, IARG(0), &f, &r)))
		return r;
	memset(val, 0, sizeof(val));
	r = socket_getsockopt(s, t, IARG(1), IARG(2), val, &len);
	file_put(f);
	if (r < 0)
		return r;
	if (len && copy_out_all(t, ARG(3), val, len) < 0)
		return -EFAULT;
	return copy_out_all(t, ARG(4), &len, sizeof(len));
}
