/*
 * The socket layer: socket objects and their files, the wrappers over each family's ops,
 * options every family shares (timeouts, type, domain, protocol) and blocking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "cvisor/sentry/vfs.h"
#include "net_internal.h"

#define O_RDWR_ 2
#define O_NONBLOCK_ 04000
#define S_IFSOCK_ 0140000

/* Explicit and greppable: every family the sentry offers. */
static const struct net_family *const net_families[] = {
	&unix_net_family,
	&inet_net_family,
	&inet6_net_family,
	&netlink_net_family,
};

static const struct net_family *find_family(int family)
{
	for (size_t i = 0; i < ARRAY_SIZE(net_families); i++)
		if (net_families[i]->family == family)
			return net_families[i];
	return NULL;
}

int socket_create(struct task *t, int family, int type, int protocol, struct socket **out)
{
	const struct net_family *nf;

	if (family < 0 || family >= 46 /* AF_MAX */)
		return -EAFNOSUPPORT;
	if (type < 0 || type > LINUX_SOCK_PACKET)
		return -EINVAL;
	if (family == LINUX_AF_PACKET)
		return -EPERM; /* what Linux answers without CAP_NET_RAW; never offered */
	nf = find_family(family);
	if (!nf)
		return -EAFNOSUPPORT;
	return nf->create(t, type, protocol, out);
}

int socket_create_pair(struct task *t, int family, int type, int protocol,
		       struct socket *out[2])
{
	int r;

	if ((r = socket_create(t, family, type, protocol, &out[0])) < 0)
		return r;
	if (!out[0]->ops->socketpair) {
		socket_put(out[0]);
		return -EOPNOTSUPP;
	}
	if ((r = socket_create(t, family, type, protocol, &out[1])) < 0) {
		socket_put(out[0]);
		return r;
	}
	if ((r = out[0]->ops->socketpair(out[0], out[1], t)) < 0) {
		socket_discard(out[0]);
		socket_discard(out[1]);
	}
	return r;
}

void socket_init(struct socket *s, const struct socket_ops *ops, struct kernel *k, int family,
		 int type, int protocol)
{
	s->ops = ops;
	s->refs = 1;
	s->k = k;
	s->family = family;
	s->type = type;
	s->protocol = protocol;
	waitqueue_init(&s->wq);
}

void socket_get(struct socket *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void socket_put(struct socket *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	s->ops->destroy(s);
}

void socket_discard(struct socket *s)
{
	if (s->ops->release)
		s->ops->release(s);
	socket_put(s);
}

/* ---- the file ------------------------------------------------------------------------------ */

static int file_msg_flags(const struct file *f)
{
	return (f->flags & O_NONBLOCK_) ? LINUX_MSG_DONTWAIT : 0;
}

static ssize_t sock_file_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct linux_iovec iov = {.base = (uint64_t)(uintptr_t)buf, .len = n};
	struct sock_msg m = {0};

	msg_iter_init(&m.data, NULL, &iov, 1);
	return socket_recvmsg(f->priv, t, &m, file_msg_flags(f));
}

static ssize_t sock_file_write(struct file *f, struct task *t, const void *buf, size_t n,
			       int64_t *pos)
{
	struct linux_iovec iov = {.base = (uint64_t)(uintptr_t)buf, .len = n};
	struct sock_msg m = {0};

	msg_iter_init(&m.data, NULL, &iov, 1);
	return socket_sendmsg(f->priv, t, &m, file_msg_flags(f));
}

ssize_t socket_file_rw_iov(struct file *f, struct task *t, const struct linux_iovec *iov,
			   size_t nr_segs, bool write)
{
	struct socket *s = socket_from_file(f);
	struct sock_msg m = {0};

	if (!s)
		return -ENOTSOCK;
	msg_iter_init(&m.data, t, iov, nr_segs);
	if (m.data.count > 0x7ffff000u)
		return -EINVAL;
	if (write)
		return socket_sendmsg(s, t, &m, file_msg_flags(f));
	return socket_recvmsg(s, t, &m, file_msg_flags(f));
}

static unsigned sock_file_poll(struct file *f, struct poll_table *pt)
{
	struct socket *s = f->priv;

	if (!s->ops->poll)
		return LINUX_POLLIN | LINUX_POLLOUT;
	return s->ops->poll(s, pt);
}

static long sock_file_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	struct socket *s = f->priv;
	long r = s->ops->ioctl ? s->ops->ioctl(s, t, cmd, arg) : -ENOTTY;

	if (r == -ENOTTY && net_is_dev_ioctl(cmd))
		r = net_dev_ioctl(t, cmd, arg);
	return r;
}

static void sock_file_release(struct file *f)
{
	struct socket *s = f->priv;

	if (s->ops->release)
		s->ops->release(s);
	s->file = NULL;
	socket_put(s);
}

static const struct file_ops socket_file_ops = {
	.read = sock_file_read,
	.write = sock_file_write,
	.poll = sock_file_poll,
	.ioctl = sock_file_ioctl,
	.release = sock_file_release,
};

struct socket *socket_from_file(struct file *f)
{
	return f && f->ops == &socket_file_ops ? f->priv : NULL;
}

struct file *socket_file_new(struct task *t, struct socket *s, unsigned flags)
{
	struct inode *ino = anon_inode_new(&t->k->vfs, S_IFSOCK_ | 0777);
	char name[48];
	struct file *f;

	if (!ino) {
		socket_discard(s);
		return ERR_PTR(-ENOMEM);
	}
	ino->uid = t->cred->fsuid;
	ino->gid = t->cred->fsgid;
	f = file_new(NULL, ino, &socket_file_ops, O_RDWR_ | (flags & O_NONBLOCK_));
	inode_put(ino);
	if (IS_ERR(f)) {
		socket_discard(s);
		return f;
	}
	snprintf(name, sizeof(name), "socket:[%llu]", (unsigned long long)ino->ino);
	f->anon_name = strdup(name);
	f->priv = s;
	s->file = f;
	return f;
}

/* ---- wrappers ---------------------------------------------------------------------------- */

int socket_bind(struct socket *s, struct task *t, const void *addr, uint32_t len)
{
	return s->ops->bind ? s->ops->bind(s, t, addr, len) : -EOPNOTSUPP;
}

int socket_connect(struct socket *s, struct task *t, const void *addr, uint32_t len,
		   bool nonblock)
{
	return s->ops->connect ? s->ops->connect(s, t, addr, len, nonblock) : -EOPNOTSUPP;
}

int socket_listen(struct socket *s, struct task *t, int backlog)
{
	if (backlog < 0 || backlog > LINUX_SOMAXCONN)
		backlog = LINUX_SOMAXCONN;
	return s->ops->listen ? s->ops->listen(s, t, backlog) : -EOPNOTSUPP;
}

int socket_accept(struct socket *s, struct task *t, bool nonblock, struct socket **out)
{
	return s->ops->accept ? s->ops->accept(s, t, nonblock, out) : -EOPNOTSUPP;
}

int socket_getname(struct socket *s, void *addr, uint32_t *len, bool peer)
{
	return s->ops->getname ? s->ops->getname(s, addr, len, peer) : -EOPNOTSUPP;
}

ssize_t socket_sendmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	return s->ops->sendmsg ? s->ops->sendmsg(s, t, m, flags) : -EOPNOTSUPP;
}

ssize_t socket_recvmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	return s->ops->recvmsg ? s->ops->recvmsg(s, t, m, flags) : -EOPNOTSUPP;
}

int socket_shutdown(struct socket *s, int how)
{
	if (how < LINUX_SHUT_RD || how > LINUX_SHUT_RDWR)
		return -EINVAL;
	return s->ops->shutdown ? s->ops->shutdown(s, how) : -EOPNOTSUPP;
}

/* ---- options every family shares ----------------------------------------------------------- */

static int set_timeout(uint64_t *timeo, const void *val, uint32_t len)
{
	struct linux_timeval tv;

	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) /* Linux: a zero timeout, i.e. fail at once */
		*timeo = 1;
	else if (tv.tv_sec > (int64_t)(UINT64_MAX / 2000000000ull))
		*timeo = 0;
	else
		*timeo = (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
	return 0;
}

static int get_timeout(uint64_t timeo, void *val, uint32_t *len)
{
	struct linux_timeval tv = {0};

	if (timeo > 1) {
		tv.tv_sec = (int64_t)(timeo / 1000000000ull);
		tv.tv_usec = (int64_t)((timeo % 1000000000ull) / 1000ull);
	}
	return sockopt_put(val, len, &tv, sizeof(tv));
}

int socket_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
		      uint32_t len)
{
	if (level == LINUX_SOL_SOCKET) {
		switch (name) {
		case LINUX_SO_RCVTIMEO_OLD:
		case LINUX_SO_RCVTIMEO_NEW:
			return set_timeout(&s->rcvtimeo_ns, val, len);
		case LINUX_SO_SNDTIMEO_OLD:
		case LINUX_SO_SNDTIMEO_NEW:
			return set_timeout(&s->sndtimeo_ns, val, len);
		case LINUX_SO_TYPE:
		case LINUX_SO_DOMAIN:
		case LINUX_SO_PROTOCOL:
		case LINUX_SO_ACCEPTCONN:
		case LINUX_SO_PEERCRED:
		case LINUX_SO_ERROR:
			return -ENOPROTOOPT;
		}
	}
	return s->ops->setsockopt ? s->ops->setsockopt(s, t, level, name, val, len) : -ENOPROTOOPT;
}

int socket_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
		      uint32_t *len)
{
	if (level == LINUX_SOL_SOCKET) {
		switch (name) {
		case LINUX_SO_RCVTIMEO_OLD:
		case LINUX_SO_RCVTIMEO_NEW:
			return get_timeout(s->rcvtimeo_ns, val, len);
		case LINUX_SO_SNDTIMEO_OLD:
		case LINUX_SO_SNDTIMEO_NEW:
			return get_timeout(s->sndtimeo_ns, val, len);
		case LINUX_SO_TYPE:
			return sockopt_put_int(val, len, s->type);
		case LINUX_SO_DOMAIN:
			return sockopt_put_int(val, len, s->family);
		case LINUX_SO_PROTOCOL:
			return sockopt_put_int(val, len, s->protocol);
		}
	}
	return s->ops->getsockopt ? s->ops->getsockopt(s, t, level, name, val, len) : -ENOPROTOOPT;
}

/* ---- blocking ---------------------------------------------------------------------------- */

long socket_wait2(struct task *t, struct waitqueue *wq, struct waitqueue *wq2, uint64_t events,
		  bool nonblock, uint64_t deadline_ns, long (*attempt)(void *arg), void *arg)
{
	struct waiter w = {0}, w2 = {0};
	long r = attempt(arg);

	if (r != -EAGAIN || nonblock)
		return r;
	events |= LINUX_POLLERR | LINUX_POLLHUP;
	/* The waiters go in before each re-check, so a wake between check and sleep counts. */
	waitqueue_add(wq, &w, t, events);
	if (wq2)
		waitqueue_add(wq2, &w2, t, events);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		if ((r = attempt(arg)) != -EAGAIN)
			break;
		r = task_block(t, seq, deadline_ns);
		if (r == -EINTR) {
			r = deadline_ns ? -EINTR : -ERESTARTSYS;
			break;
		}
		if (r == -ETIMEDOUT) {
			r = -EAGAIN;
			break;
		}
	}
	if (wq2)
		waitqueue_remove(wq2, &w2);
	waitqueue_remove(wq, &w);
	return r;
}

long socket_wait(struct task *t, struct waitqueue *wq, uint64_t events, bool nonblock,
		 uint64_t deadline_ns, long (*attempt)(void *arg), void *arg)
{
	return socket_wait2(t, wq, NULL, events, nonblock, deadline_ns, attempt, arg);
}
