/*
 * AF_UNIX sockets inside the sentry: creation, bind, connections (listen, connect, accept,
 * socketpair), shutdown, close, poll.  Data: unix_io.c; names: unix_names.c; options:
 * unix_opts.c.  Connections complete at once, as on Linux: connect() queues a new server-side
 * socket (an embryo, already connected to the client) on the listener for accept() to take.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "unix_internal.h"

static const struct socket_ops unix_socket_ops;

void unix_addr_put(struct unix_addr *a)
{
	if (a && !__atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL))
		free(a);
}

struct unix_sock *unix_sock_new(struct kernel *k, int type)
{
	struct unix_sock *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	socket_init(&u->sock, &unix_socket_ops, k, LINUX_AF_UNIX, type, 0);
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->bind_lock, NULL);
	u->rq_tail = &u->rq_head;
	u->aq_tail = &u->aq_head;
	u->sndbuf = NET_DEFAULT_BUF;
	u->rcvbuf = NET_DEFAULT_BUF;
	return u;
}

static int unix_create(struct task *t, int type, int protocol, struct socket **out)
{
	struct unix_sock *u;

	if (protocol != 0 && protocol != LINUX_AF_UNIX)
		return -EPROTONOSUPPORT;
	switch (type) {
	case LINUX_SOCK_RAW: /* Linux treats it as SOCK_DGRAM */
		type = LINUX_SOCK_DGRAM;
		break;
	case LINUX_SOCK_STREAM:
	case LINUX_SOCK_DGRAM:
	case LINUX_SOCK_SEQPACKET:
		break;
	default:
		return -ESOCKTNOSUPPORT;
	}
	if (!(u = unix_sock_new(t->k, type)))
		return -ENOMEM;
	*out = &u->sock;
	return 0;
}

const struct net_family unix_net_family = {
	.family = LINUX_AF_UNIX,
	.create = unix_create,
};

static bool connection_based(const struct unix_sock *u)
{
	return u->sock.type != LINUX_SOCK_DGRAM;
}

void unix_set_peercred_from(struct unix_sock *u, struct task *t)
{
	u->peercred.pid = t->tg->tgid;
	u->peercred.uid = t->cred->euid;
	u->peercred.gid = t->cred->egid;
	u->has_peercred = true;
}

/* ---- bind -------------------------------------------------------------------------------- */

static int unix_bind(struct socket *s, struct task *t, const void *addr, uint32_t len)
{
	struct unix_sock *u = unix_sk(s);
	union unix_sockaddr sa;
	struct unix_name_key key;
	uint32_t alen;
	int r = unix_parse_addr(addr, len, &key, &sa, &alen);

	if (r == 1)
		return unix_autobind(u);
	if (r < 0)
		return r;
	return unix_bind_name(u, t, &sa, alen, &key);
}

/* ---- connect ------------------------------------------------------------------------------ */

struct connect_ctx {
	struct unix_sock *listener, *embryo;
	struct linux_ucred listener_cred;
	bool has_cred;
};

/* Queues the embryo on the listener when there is room. */
static long try_enqueue(void *arg)
{
	struct connect_ctx *c = arg;
	struct unix_sock *l = c->listener;
	long r = 0;

	pthread_mutex_lock(&l->lock);
	if (l->dead || l->state != UNIX_LISTENING) {
		r = -ECONNREFUSED;
	} else if (l->aq_count > l->backlog) {
		r = -EAGAIN;
	} else {
		c->embryo->addr = unix_addr_get(l->addr);
		*l->aq_tail = c->embryo;
		l->aq_tail = &c->embryo->aq_next;
		l->aq_count++;
		c->listener_cred = l->peercred;
		c->has_cred = l->has_peercred;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Marks u as connecting; the previous state decides the error. */
static int begin_connect(struct unix_sock *u)
{
	int r = 0;

	pthread_mutex_lock(&u->lock);
	if (u->state == UNIX_CONNECTED)
		r = -EISCONN;
	else if (u->state == UNIX_LISTENING)
		r = -EINVAL;
	else if (u->state == UNIX_CONNECTING)
		r = -EALREADY;
	else
		u->state = UNIX_CONNECTING;
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int stream_connect(struct unix_sock *u, struct task *t, struct unix_sock *l,
			  bool nonblock)
{
	struct connect_ctx c = {.listener = l};
	long r;

	if (l->sock.type != u->sock.type)
		return -EPROTOTYPE;
	if ((r = begin_connect(u)) < 0)
		return (int)r;
	if (!(c.embryo = unix_sock_new(u->sock.k, u->sock.type))) {
		r = -ENOMEM;
		goto fail;
	}
	c.embryo->state = UNIX_CONNECTED;
	c.embryo->embryo = true;
	c.embryo->peer = u;
	unix_get(u);
	unix_set_peercred_from(c.embryo, t);
	/* Two references: the accept queue's (the first) and u->peer's, taken now because once
	 * queued the embryo may be accepted and closed before we look again. */
	unix_get(c.embryo);
	r = socket_wait(t, &l->sock.wq, LINUX_POLLOUT, nonblock,
			net_deadline(u->sock.sndtimeo_ns), try_enqueue, &c);
	if (r < 0) {
		unix_put(c.embryo);
		goto fail;
	}
	pthread_mutex_lock(&u->lock);
	u->peer = c.embryo;
	u->state = UNIX_CONNECTED;
	u->peercred = c.listener_cred;
	u->has_peercred = c.has_cred;
	pthread_mutex_unlock(&u->lock);
	unix_wake(l, POLL_READABLE);
	return 0;
fail:
	unix_put(c.embryo);
	pthread_mutex_lock(&u->lock);
	u->state = UNIX_UNCONNECTED;
	pthread_mutex_unlock(&u->lock);
	return (int)r;
}

/* A datagram socket's connect just names its default destination. */
static int dgram_connect(struct unix_sock *u, struct unix_sock *to)
{
	struct unix_sock *old;

	if (to->sock.type != LINUX_SOCK_DGRAM)
		return -EPROTOTYPE;
	pthread_mutex_lock(&u->lock);
	old = u->peer;
	u->peer = to;
	unix_get(to);
	u->state = UNIX_CONNECTED;
	pthread_mutex_unlock(&u->lock);
	unix_put(old);
	return 0;
}

static int dgram_disconnect(struct unix_sock *u)
{
	struct unix_sock *old;

	pthread_mutex_lock(&u->lock);
	old = u->peer;
	u->peer = NULL;
	u->state = UNIX_UNCONNECTED;
	pthread_mutex_unlock(&u->lock);
	unix_put(old);
	return 0;
}

static int unix_connect(struct socket *s, struct task *t, const void *addr, uint32_t len,
			bool nonblock)
{
	struct unix_sock *u = unix_sk(s), *to;
	union unix_sockaddr sa;
	struct unix_name_key key;
	uint32_t alen;
	int r;

	if (s->type == LINUX_SOCK_DGRAM && len >= 2 &&
	    *(const uint16_t *)addr == LINUX_AF_UNSPEC)
		return dgram_disconnect(u);
	r = unix_parse_addr(addr, len, &key, &sa, &alen);
	if (r)
		return r < 0 ? r : -EINVAL;
	if (u->passcred && !u->addr && (r = unix_autobind(u)) < 0)
		return r;
	if ((r = unix_find(t, &key, s->type, &to)) < 0)
		return r;
	if (s->type == LINUX_SOCK_DGRAM)
		r = dgram_connect(u, to);
	else
		r = stream_connect(u, t, to, nonblock);
	unix_put(to);
	return r;
}

static int unix_socketpair(struct socket *a, struct socket *b, struct task *t)
{
	struct unix_sock *ua = unix_sk(a), *ub = unix_sk(b);

	ua->peer = ub;
	ub->peer = ua;
	unix_get(ua);
	unix_get(ub);
	ua->state = ub->state = UNIX_CONNECTED;
	unix_set_peercred_from(ua, t);
	unix_set_peercred_from(ub, t);
	return 0;
}

/* ---- listen and accept --------------------------------------------------------------------- */

static int unix_listen(struct socket *s, struct task *t, int backlog)
{
	struct unix_sock *u = unix_sk(s);
	int r = 0;

	if (!connection_based(u))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&u->lock);
	if ((u->state != UNIX_UNCONNECTED && u->state != UNIX_LISTENING) || !u->addr) {
		r = -EINVAL;
	} else {
		if (u->state != UNIX_LISTENING)
			unix_set_peercred_from(u, t);
		u->state = UNIX_LISTENING;
		u->backlog = backlog;
	}
	pthread_mutex_unlock(&u->lock);
	if (r == 0)
		unix_wake(u, LINUX_POLLOUT);
	return r;
}

struct accept_ctx {
	struct unix_sock *l, *got;
};

static long try_dequeue(void *arg)
{
	struct accept_ctx *c = arg;
	struct unix_sock *l = c->l;
	long r = 0;

	pthread_mutex_lock(&l->lock);
	if (l->state != UNIX_LISTENING) {
		r = -EINVAL;
	} else if (!l->aq_head) {
		r = (l->shutdown & UNIX_RCV_SHUTDOWN) ? -EINVAL : -EAGAIN;
	} else {
		c->got = l->aq_head;
		l->aq_head = c->got->aq_next;
		if (!l->aq_head)
			l->aq_tail = &l->aq_head;
		c->got->aq_next = NULL;
		l->aq_count--;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

static int unix_accept(struct socket *s, struct task *t, bool nonblock, struct socket **out)
{
	struct unix_sock *l = unix_sk(s);
	struct accept_ctx c = {.l = l};
	long r;

	if (!connection_based(l))
		return -EOPNOTSUPP;
	r = socket_wait(t, &s->wq, LINUX_POLLIN, nonblock, net_deadline(s->rcvtimeo_ns),
			try_dequeue, &c);
	if (r < 0)
		return (int)r;
	pthread_mutex_lock(&c.got->lock);
	c.got->embryo = false;
	c.got->passcred = l->passcred;
	pthread_mutex_unlock(&c.got->lock);
	unix_wake(l, LINUX_POLLOUT);
	*out = &c.got->sock;
	return 0;
}

/* ---- names --------------------------------------------------------------------------------- */

static uint32_t put_addr(const struct unix_addr *a, void *out)
{
	if (!a) {
		*(uint16_t *)out = LINUX_AF_UNIX;
		return 2;
	}
	memcpy(out, &a->sa, a->len);
	return a->len;
}

static int unix_getname(struct socket *s, void *addr, uint32_t *len, bool peer)
{
	struct unix_sock *u = unix_sk(s), *p;

	pthread_mutex_lock(&u->lock);
	if (!peer) {
		*len = put_addr(u->addr, addr);
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	p = u->peer;
	if (p)
		unix_get(p);
	pthread_mutex_unlock(&u->lock);
	if (!p)
		return -ENOTCONN;
	pthread_mutex_lock(&p->lock);
	*len = put_addr(p->addr, addr);
	pthread_mutex_unlock(&p->lock);
	unix_put(p);
	return 0;
}

/* ---- shutdown and close --------------------------------------------------------------------- */

static int unix_shutdown(struct socket *s, int how)
{
	struct unix_sock *u = unix_sk(s), *p;
	unsigned mode = (unsigned)how + 1, pmode = 0;

	pthread_mutex_lock(&u->lock);
	u->shutdown |= mode;
	p = u->peer;
	if (p)
		unix_get(p);
	pthread_mutex_unlock(&u->lock);
	unix_wake(u, POLL_READABLE | POLL_WRITABLE | LINUX_POLLHUP | LINUX_POLLRDHUP);
	if (p && connection_based(u)) {
		if (mode & UNIX_RCV_SHUTDOWN)
			pmode |= UNIX_SEND_SHUTDOWN;
		if (mode & UNIX_SEND_SHUTDOWN)
			pmode |= UNIX_RCV_SHUTDOWN;
		pthread_mutex_lock(&p->lock);
		p->shutdown |= pmode;
		pthread_mutex_unlock(&p->lock);
		unix_wake(p, POLL_READABLE | POLL_WRITABLE | LINUX_POLLHUP | LINUX_POLLRDHUP);
	}
	unix_put(p);
	return 0;
}

/* Closes u: the peer sees EOF (ECONNRESET when data we never read is lost), queued
 * connections are refused, and every queued message goes. */
static void unix_close(struct unix_sock *u)
{
	struct unix_sock *p, *embryos;
	bool lost_data;

	pthread_mutex_lock(&u->lock);
	u->dead = true;
	u->shutdown = UNIX_SHUTDOWN_MASK;
	p = u->peer;
	u->peer = NULL;
	lost_data = u->rq_head != NULL || u->embryo;
	embryos = u->aq_head;
	u->aq_head = NULL;
	u->aq_tail = &u->aq_head;
	u->aq_count = 0;
	pthread_mutex_unlock(&u->lock);
	unix_unbind(u);
	if (p && connection_based(u)) {
		pthread_mutex_lock(&p->lock);
		p->shutdown = UNIX_SHUTDOWN_MASK;
		if (lost_data)
			p->err = ECONNRESET;
		pthread_mutex_unlock(&p->lock);
	}
	if (p)
		unix_wake(p, ~0u);
	unix_put(p);
	unix_purge_queue(u);
	while (embryos) {
		struct unix_sock *e = embryos;

		embryos = e->aq_next;
		unix_close(e);
		unix_put(e);
	}
	unix_wake(u, ~0u);
}

static void unix_release(struct socket *s)
{
	unix_close(unix_sk(s));
}

static void unix_destroy(struct socket *s)
{
	struct unix_sock *u = unix_sk(s);

	unix_purge_queue(u);
	unix_put(u->peer);
	unix_addr_put(u->addr);
	path_put(&u->bound);
	free(u);
}

/* ---- poll and ioctl -------------------------------------------------------------------------- */

static unsigned unix_poll(struct socket *s, struct poll_table *pt)
{
	struct unix_sock *u = unix_sk(s);
	unsigned ev = 0;

	poll_wait(pt, &s->wq);
	pthread_mutex_lock(&u->lock);
	if (u->err)
		ev |= LINUX_POLLERR;
	if (u->shutdown == UNIX_SHUTDOWN_MASK)
		ev |= LINUX_POLLHUP;
	if (u->shutdown & UNIX_RCV_SHUTDOWN)
		ev |= LINUX_POLLRDHUP | POLL_READABLE;
	if (u->rq_head || (u->state == UNIX_LISTENING && u->aq_head))
		ev |= POLL_READABLE;
	if (connection_based(u) && u->state == UNIX_UNCONNECTED)
		ev |= LINUX_POLLHUP;
	if (u->state != UNIX_LISTENING && u->state != UNIX_CONNECTING && unix_writable(u))
		ev |= POLL_WRITABLE | LINUX_POLLWRBAND;
	pthread_mutex_unlock(&u->lock);
	return ev;
}

static long unix_ioctl(struct socket *s, struct task *t, unsigned cmd, uint64_t arg)
{
	struct unix_sock *u = unix_sk(s);
	int v;

	switch (cmd) {
	case LINUX_FIONREAD:
		if ((v = unix_inq(u)) < 0)
			return v;
		break;
	case LINUX_SIOCOUTQ:
		v = (int)__atomic_load_n(&u->wmem, __ATOMIC_RELAXED);
		break;
	default:
		return -ENOTTY;
	}
	return copy_out_all(t, arg, &v, sizeof(v));
}

static const struct socket_ops unix_socket_ops = {
	.bind		= unix_bind,
	.connect	= unix_connect,
	.listen		= unix_listen,
	.accept		= unix_accept,
	.socketpair	= unix_socketpair,
	.getname	= unix_getname,
	.sendmsg	= unix_sendmsg,
	.recvmsg	= unix_recvmsg,
	.shutdown	= unix_shutdown,
	.setsockopt	= unix_setsockopt,
	.getsockopt	= unix_getsockopt,
	.poll		= unix_poll,
	.ioctl		= unix_ioctl,
	.release	= unix_release,
	.destroy	= unix_destroy,
};
