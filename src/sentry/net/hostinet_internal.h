/* Private to the host-backed families (hostinet.c, hostinet_opts.c). */
#ifndef CV_SENTRY_NET_HOSTINET_INTERNAL_H
#define CV_SENTRY_NET_HOSTINET_INTERNAL_H

#include <poll.h>

#include "cvisor/sentry/poll.h"
#include "net_internal.h"

/* Largest datagram the sentry bounces (UDP's own limit is 65507 bytes). */
#define HOSTINET_DGRAM_MAX (1u << 20)

struct host_sock {
	struct socket sock;
	int fd;               /* the host socket: O_NONBLOCK, O_CLOEXEC; -1 once closed */
	struct host_watch hw; /* its readiness, for poll and epoll */
};

static inline struct host_sock *host_sk(struct socket *s)
{
	return container_of(s, struct host_sock, sock);
}

/* Options from the allowlist, passed to the host socket. */
int hostinet_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
			uint32_t len);
int hostinet_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
			uint32_t *len);
/* FIONREAD and friends, and the read-only interface queries (SIOCGIF*). */
long hostinet_ioctl(struct socket *s, struct task *t, unsigned cmd, uint64_t arg);
/* sendmsg control data: only IP-level messages (no SCM_RIGHTS, SCM_CREDENTIALS). */
int hostinet_check_control(const struct sock_msg *m);
/* A NETLINK_ROUTE request may only read (RTM_GET*, or netlink control messages). */
int hostinet_netlink_check(const void *buf, size_t len);

#endif
