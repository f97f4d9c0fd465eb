/* Private to src/sentry/net: family constructors and helpers the families share. */
#ifndef CV_SENTRY_NET_INTERNAL_H
#define CV_SENTRY_NET_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cvisor/abi/linux/socket.h"
#include "cvisor/sentry/net.h"
#include "cvisor/sentry/poll.h"

struct task;
struct file;

/* ---- families (the explicit list is in socket.c) ----------------------------------------- */

struct net_family {
	int family;
	/* A new socket (type without SOCK_* flags); new reference in *out. */
	int (*create)(struct task *t, int type, int protocol, struct socket **out);
};

extern const struct net_family unix_net_family;
extern const struct net_family inet_net_family;
extern const struct net_family inet6_net_family;
extern const struct net_family netlink_net_family;

/* ---- options ------------------------------------------------------------------------------ */

/* setsockopt: reads an int option value; -EINVAL when len is short. */
int sockopt_get_int(const void *val, uint32_t len, int *out);
/* getsockopt: writes v truncated to the room in *len (as Linux does) and sets *len. */
int sockopt_put(void *val, uint32_t *len, const void *v, uint32_t size);
static inline int sockopt_put_int(void *val, uint32_t *len, int v)
{
	return sockopt_put(val, len, &v, sizeof(v));
}

/* ---- interfaces ---------------------------------------------------------------------------- */

/* Is cmd a read-only interface query (SIOCGIF*), which Linux answers on any socket? */
bool net_is_dev_ioctl(unsigned cmd);
/* Answers it from the sandbox's network namespace (hostinet_opts.c). */
long net_dev_ioctl(struct task *t, unsigned cmd, uint64_t arg);

/* ---- control messages ---------------------------------------------------------------------- */

/*
 * Appends one control message to a recvmsg control buffer (m->control, room m->controllen,
 * used so far *used).  Truncates and sets MSG_CTRUNC in m->flags when it does not fit.
 * Returns the number of payload bytes stored.
 */
size_t cmsg_put(struct sock_msg *m, size_t *used, int level, int type, const void *data,
		size_t len);

/* Walks the control messages of a sendmsg: each call yields the next one (header and
 * payload) or returns 0 at the end, -EINVAL on a malformed header. */
struct cmsg_cursor {
	const uint8_t *buf;
	size_t len, off;
};
int cmsg_next(struct cmsg_cursor *c, const struct linux_cmsghdr **h, const void **data,
	      size_t *dlen);

/* The credentials a task sends by default: its tgid, real uid and gid. */
void net_task_ucred(struct task *t, struct linux_ucred *uc);

/* ---- blocking ------------------------------------------------------------------------------ */

/* socket_wait() sleeping on two wait queues (wq2 may be NULL). */
long socket_wait2(struct task *t, struct waitqueue *wq, struct waitqueue *wq2, uint64_t events,
		  bool nonblock, uint64_t deadline_ns, long (*attempt)(void *arg), void *arg);

/* The absolute deadline for a timeout of timeo_ns (0: none) from now. */
uint64_t net_deadline(uint64_t timeo_ns);

/* Linux's default socket buffer sizes (net.core.[rw]mem_default) and their bounds. */
#define NET_DEFAULT_BUF 212992
#define NET_MIN_SNDBUF 4608
#define NET_MIN_RCVBUF 2304
#define NET_MAX_BUF (4 << 20)

/* Linux capability numbers the network code checks. */
#define CAP_NET_BIND_SERVICE_ 10
#define CAP_NET_ADMIN_ 12
#define CAP_NET_RAW_ 13
#define CAP_SETUID_ 7
#define CAP_SETGID_ 6
#define CAP_SYS_ADMIN_ 21

#endif
