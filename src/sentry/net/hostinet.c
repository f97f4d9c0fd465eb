/*
 * AF_INET, AF_INET6 and NETLINK_ROUTE sockets backed by host sockets that the sentry opens
 * in the sandbox's network namespace (its own, with only what the engine configured, unless
 * --network=host).  The host socket is always non-blocking: a guest call that must wait
 * sleeps in task_host_wait, so signals interrupt it, and poll/epoll learn of readiness
 * through the sandbox's host fd watcher (struct host_watch).
 *
 * Deviations: raw and packet sockets are refused (EPERM, as Linux answers without
 * CAP_NET_RAW); netlink sockets only send requests that read (RTM_GET*: EPERM for the rest)
 * and only NETLINK_ROUTE exists; options and ioctls pass through from an allowlist
 * (hostinet_opts.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvisor/sentry/task.h"
#include "hostinet_internal.h"

#define IO_CHUNK (256u << 10)
#define PRIV_PORT_MAX 1024 /* net.ipv4.ip_unprivileged_port_start */
#define SEND_FLAGS (LINUX_MSG_OOB | LINUX_MSG_DONTROUTE | LINUX_MSG_EOR | LINUX_MSG_MORE | \
		    LINUX_MSG_CONFIRM | LINUX_MSG_FASTOPEN)
#define RECV_FLAGS (LINUX_MSG_OOB | LINUX_MSG_PEEK | LINUX_MSG_TRUNC | LINUX_MSG_ERRQUEUE)

static const struct socket_ops hostinet_socket_ops;

static struct host_sock *host_sock_new(struct kernel *k, int fd, int family, int type,
				       int protocol)
{
	struct host_sock *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	socket_init(&h->sock, &hostinet_socket_ops, k, family, type, protocol);
	h->fd = fd;
	host_watch_init(&h->hw, fd);
	return h;
}

static int host_create(struct task *t, int family, int type, int protocol, struct socket **out)
{
	struct host_sock *h;
	int fd;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return -errno;
	/* SO_PROTOCOL reports the protocol the host chose for 0 (IPPROTO_TCP, ...). */
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &(socklen_t){sizeof(protocol)});
	if (!(h = host_sock_new(t->k, fd, family, type, protocol))) {
		close(fd);
		return -ENOMEM;
	}
	*out = &h->sock;
	return 0;
}

static int inet_check(int family, int type, int protocol)
{
	if (type == LINUX_SOCK_RAW || type == LINUX_SOCK_PACKET)
		return -EPERM;
	if (type != LINUX_SOCK_STREAM && type != LINUX_SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	switch (protocol) {
	case 0:
	case LINUX_IPPROTO_TCP:
	case LINUX_IPPROTO_UDP:
		return 0;
	case LINUX_IPPROTO_ICMP:
		return family == LINUX_AF_INET ? 0 : -EPROTONOSUPPORT;
	case LINUX_IPPROTO_ICMPV6:
		return family == LINUX_AF_INET6 ? 0 : -EPROTONOSUPPORT;
	}
	return -EPROTONOSUPPORT;
}

static int inet_create(struct task *t, int type, int protocol, struct socket **out)
{
	int r = inet_check(LINUX_AF_INET, type, protocol);

	return r < 0 ? r : host_create(t, LINUX_AF_INET, type, protocol, out);
}

static int inet6_create(struct task *t, int type, int protocol, struct socket **out)
{
	int r = inet_check(LINUX_AF_INET6, type, protocol);

	return r < 0 ? r : host_create(t, LINUX_AF_INET6, type, protocol, out);
}

static int netlink_create(struct task *t, int type, int protocol, struct socket **out)
{
	if (type != LINUX_SOCK_RAW && type != LINUX_SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	if (protocol != LINUX_NETLINK_ROUTE)
		return -EPROTONOSUPPORT;
	return host_create(t, LINUX_AF_NETLINK, type, protocol, out);
}

const struct net_family inet_net_family = {.family = LINUX_AF_INET, .create = inet_create};
const struct net_family inet6_net_family = {.family = LINUX_AF_INET6, .create = inet6_create};
const struct net_family netlink_net_family = {
	.family = LINUX_AF_NETLINK,
	.create = netlink_create,
};

/* Waits for the host socket; the error convention of socket_wait. */
static int host_wait(struct task *t, struct host_sock *h, short events, uint64_t deadline)
{
	int r = task_host_wait(t, h->fd, events, deadline);

	if (r == -EINTR)
		return deadline ? -EINTR : -ERESTARTSYS;
	if (r == -ETIMEDOUT)
		return -EAGAIN;
	return r;
}

/* ---- connections ------------------------------------------------------------------------------ */

/* Binding a port below 1024 needs CAP_NET_BIND_SERVICE in the guest, whatever the sentry has. */
static int check_port(struct task *t, const void *addr, uint32_t len)
{
	uint16_t family, port;

	if (len < 4)
		return 0;
	memcpy(&family, addr, 2);
	if (family != LINUX_AF_INET && family != LINUX_AF_INET6)
		return 0;
	memcpy(&port, (const uint8_t *)addr + 2, 2);
	port = (uint16_t)((port >> 8) | (port << 8));
	if (port && port < PRIV_PORT_MAX && !cred_capable(t->cred, CAP_NET_BIND_SERVICE_))
		return -EACCES;
	return 0;
}

static int hostinet_bind(struct socket *s, struct task *t, const void *addr, uint32_t len)
{
	struct host_sock *h = host_sk(s);
	int r;

	if (s->family != LINUX_AF_NETLINK && (r = check_port(t, addr, len)) < 0)
		return r;
	return bind(h->fd, addr, len) < 0 ? -errno : 0;
}

static int hostinet_connect(struct socket *s, struct task *t, const void *addr, uint32_t len,
			    bool nonblock)
{
	struct host_sock *h = host_sk(s);
	socklen_t elen = sizeof(int);
	int r, err;

	if (connect(h->fd, addr, len) == 0)
		return 0;
	r = -errno;
	/* EALREADY: a connect already in progress (ours, restarted after a signal) waits too. */
	if ((r != -EINPROGRESS && r != -EALREADY) || nonblock)
		return r;
	if ((r = host_wait(t, h, POLLOUT, net_deadline(s->sndtimeo_ns))) < 0)
		return r == -EAGAIN ? -EINPROGRESS : r;
	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return -err;
}

static int hostinet_listen(struct socket *s, struct task *t, int backlog)
{
	return listen(host_sk(s)->fd, backlog) < 0 ? -errno : 0;
}

static int hostinet_accept(struct socket *s, struct task *t, bool nonblock, struct socket **out)
{
	struct host_sock *h = host_sk(s), *n;
	uint64_t deadline = net_deadline(s->rcvtimeo_ns);
	int fd, r;

	for (;;) {
		fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN || nonblock)
			return -errno;
		if ((r = host_wait(t, h, POLLIN, deadline)) < 0)
			return r;
	}
	if (!(n = host_sock_new(s->k, fd, s->family, s->type, s->protocol))) {
		close(fd);
		return -ENOMEM;
	}
	*out = &n->sock;
	return 0;
}

static int hostinet_getname(struct socket *s, void *addr, uint32_t *len, bool peer)
{
	struct host_sock *h = host_sk(s);
	socklen_t l = LINUX_SOCKADDR_MAX;
	int r = peer ? getpeername(h->fd, addr, &l) : getsockname(h->fd, addr, &l);

	if (r < 0)
		return -errno;
	*len = MIN(l, (socklen_t)LINUX_SOCKADDR_MAX);
	return 0;
}

static int hostinet_shutdown(struct socket *s, int how)
{
	return shutdown(host_sk(s)->fd, how) < 0 ? -errno : 0;
}

/* ---- data ---------------------------------------------------------------------------------------- */

static void raise_sigpipe(struct task *t)
{
	struct linux_siginfo info;

	siginfo_kill(&info, 13 /* SIGPIPE */, LINUX_SI_USER, t);
	signal_send_thread(t, &info);
}

/* Sends buf[0, n) (one datagram, or stream data until all is sent). */
static ssize_t send_buf(struct host_sock *h, struct task *t, struct msghdr *hm, char *buf,
			size_t n, int flags, uint64_t deadline)
{
	bool nonblock = flags & LINUX_MSG_DONTWAIT;
	int hflags = (flags & SEND_FLAGS) | MSG_DONTWAIT | MSG_NOSIGNAL;
	size_t done = 0;
	struct iovec iov;

	hm->msg_iov = &iov;
	hm->msg_iovlen = 1;
	do {
		ssize_t r;

		iov.iov_base = buf + done;
		iov.iov_len = n - done;
		r = sendmsg(h->fd, hm, hflags);
		if (r >= 0) {
			done += (size_t)r;
			hm->msg_control = NULL; /* control data goes with the first piece only */
			hm->msg_controllen = 0;
			continue;
		}
		if (errno != EAGAIN || nonblock)
			return done ? (ssize_t)done : -errno;
		if ((r = host_wait(t, h, POLLOUT, deadline)) < 0)
			return done ? (ssize_t)done : r;
	} while (done < n && h->sock.type == LINUX_SOCK_STREAM);
	return (ssize_t)done;
}

static ssize_t hostinet_sendmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	struct host_sock *h = host_sk(s);
	struct msghdr hm = {.msg_name = m->name, .msg_namelen = m->name ? m->namelen : 0};
	uint64_t deadline = net_deadline(s->sndtimeo_ns);
	bool stream = s->type == LINUX_SOCK_STREAM;
	size_t total = m->data.count, sent = 0;
	ssize_t r = 0;
	char *buf;

	if ((r = hostinet_check_control(m)) < 0)
		return r;
	hm.msg_control = m->controllen ? m->control : NULL;
	hm.msg_controllen = m->controllen;
	if (!stream && total > HOSTINET_DGRAM_MAX)
		return -EMSGSIZE;
	if (!(buf = malloc(MAX(stream ? MIN(total, IO_CHUNK) : total, 1))))
		return -ENOMEM;
	do {
		size_t want = stream ? MIN(total - sent, IO_CHUNK) : total;

		if ((r = msg_iter_copy_from(&m->data, buf, want)) < 0 || (size_t)r < want) {
			r = -EFAULT;
			break;
		}
		if (s->family == LINUX_AF_NETLINK && (r = hostinet_netlink_check(buf, want)) < 0)
			break;
		if ((r = send_buf(h, t, &hm, buf, want, flags, deadline)) < 0)
			break;
		sent += (size_t)r;
		if ((size_t)r < want)
			break;
	} while (sent < total);
	free(buf);
	if (!stream)
		return r < 0 ? r : (ssize_t)total;
	if (r == -EPIPE && !sent && !(flags & LINUX_MSG_NOSIGNAL))
		raise_sigpipe(t);
	return sent ? (ssize_t)sent : (r < 0 ? r : 0);
}

/* One host recvmsg into buf, with room for *ctl control bytes (updated); fills m's name and
 * adds to its flags. */
static ssize_t recv_once(struct host_sock *h, struct sock_msg *m, char *buf, size_t n,
			 size_t *ctl, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = n};
	struct msghdr hm = {
		.msg_name = m->name,
		.msg_namelen = m->name ? LINUX_SOCKADDR_MAX : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = *ctl ? m->control : NULL,
		.msg_controllen = *ctl,
	};
	ssize_t r = recvmsg(h->fd, &hm, (flags & RECV_FLAGS) | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (r < 0)
		return -errno;
	if (m->name)
		m->namelen = hm.msg_namelen;
	*ctl = hm.msg_controllen;
	m->flags |= hm.msg_flags & ~MSG_CMSG_CLOEXEC;
	return r;
}

static ssize_t hostinet_recvmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	struct host_sock *h = host_sk(s);
	uint64_t deadline = net_deadline(s->rcvtimeo_ns);
	bool stream = s->type == LINUX_SOCK_STREAM, nonblock = flags & LINUX_MSG_DONTWAIT;
	bool waitall = stream && (flags & LINUX_MSG_WAITALL) && !(flags & LINUX_MSG_PEEK);
	size_t want = MIN(m->data.count, (size_t)IO_CHUNK), got = 0, ctl = m->controllen, room;
	char *buf = malloc(MAX(want, 1));
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	m->flags = 0;
	m->controllen = 0;
	for (;;) {
		room = got ? 0 : ctl; /* control data comes with the first piece */
		r = recv_once(h, m, buf, want, &room, flags);
		if (r == -EAGAIN && !nonblock && !(flags & LINUX_MSG_ERRQUEUE)) {
			if ((r = host_wait(t, h, POLLIN, deadline)) < 0)
				break;
			continue;
		}
		if (r < 0)
			break;
		if (!got)
			m->controllen = room;
		if (stream && (flags & LINUX_MSG_TRUNC)) /* TCP: the data is discarded, not copied */
			msg_iter_skip(&m->data, MIN((size_t)r, want));
		else if (msg_iter_copy_to(&m->data, buf, MIN((size_t)r, want)) <
			 (ssize_t)MIN((size_t)r, want)) {
			r = -EFAULT;
			break;
		}
		got += MIN((size_t)r, want);
		want = MIN(m->data.count, (size_t)IO_CHUNK);
		if (!waitall || r == 0 || !want)
			break;
	}
	free(buf);
	if (stream && got)
		return (ssize_t)got;
	return r;
}

/* ---- the rest ------------------------------------------------------------------------------------- */

static unsigned hostinet_poll(struct socket *s, struct poll_table *pt)
{
	return host_watch_poll(&host_sk(s)->hw, pt);
}

static void hostinet_release(struct socket *s)
{
	struct host_sock *h = host_sk(s);

	host_watch_stop(&h->hw);
	close(h->fd);
	h->fd = -1;
}

static void hostinet_destroy(struct socket *s)
{
	struct host_sock *h = host_sk(s);

	if (h->fd >= 0) {
		host_watch_stop(&h->hw);
		close(h->fd);
	}
	free(h);
}

static const struct socket_ops hostinet_socket_ops = {
	.bind		= hostinet_bind,
	.connect	= hostinet_connect,
	.listen		= hostinet_listen,
	.accept		= hostinet_accept,
	.getname	= hostinet_getname,
	.sendmsg	= hostinet_sendmsg,
	.recvmsg	= hostinet_recvmsg,
	.shutdown	= hostinet_shutdown,
	.setsockopt	= hostinet_setsockopt,
	.getsockopt	= hostinet_getsockopt,
	.poll		= hostinet_poll,
	.ioctl		= hostinet_ioctl,
	.release	= hostinet_release,
	.destroy	= hostinet_destroy,
};
