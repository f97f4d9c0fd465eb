/*
 * What guests may pass through to host sockets: socket options from an allowlist (plain
 * values only, never pointers; the privileged ones need the capability in the guest, since
 * the sentry's own host privileges must not leak), ioctls that read, control messages of the
 * IP levels, and NETLINK_ROUTE requests that only read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvisor/sentry/task.h"
#include "hostinet_internal.h"

#define SOL_IP_ 0
#define SOL_TCP_ 6
#define SOL_UDP_ 17
#define SOL_IPV6_ 41
#define SOL_NETLINK_ 270
#define NO_CAP 0xff
#define GET_ONLY 0x1u

struct opt_rule {
	uint16_t level;
	uint16_t name;
	uint8_t cap;   /* capability the guest needs to set it, or NO_CAP */
	uint8_t flags; /* GET_ONLY */
};

#define OPT(l, n) {l, n, NO_CAP, 0}
#define OPT_GET(l, n) {l, n, NO_CAP, GET_ONLY}
#define OPT_CAP(l, n, c) {l, n, c, 0}

static const struct opt_rule opt_rules[] = {
	/* SOL_SOCKET (timeouts, type, domain and protocol are the socket layer's) */
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_DEBUG, CAP_NET_ADMIN_),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_REUSEADDR),
	OPT_GET(LINUX_SOL_SOCKET, LINUX_SO_ERROR),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_DONTROUTE),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_BROADCAST),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_SNDBUF),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_RCVBUF),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_KEEPALIVE),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_OOBINLINE),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_NO_CHECK),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_PRIORITY),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_LINGER),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_REUSEPORT),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_PASSCRED),
	OPT_GET(LINUX_SOL_SOCKET, LINUX_SO_PEERCRED),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_RCVLOWAT),
	OPT_GET(LINUX_SOL_SOCKET, LINUX_SO_SNDLOWAT),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_BINDTODEVICE, CAP_NET_RAW_),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_TIMESTAMP_OLD),
	OPT_GET(LINUX_SOL_SOCKET, LINUX_SO_ACCEPTCONN),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_SNDBUFFORCE, CAP_NET_ADMIN_),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_RCVBUFFORCE, CAP_NET_ADMIN_),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_TIMESTAMPNS_OLD),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_MARK, CAP_NET_ADMIN_),
	OPT(LINUX_SOL_SOCKET, 37 /* SO_TIMESTAMPING_OLD */),
	OPT(LINUX_SOL_SOCKET, 40 /* SO_RXQ_OVFL */),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_PEEK_OFF),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_BUSY_POLL, CAP_NET_ADMIN_),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_INCOMING_CPU),
	OPT_GET(LINUX_SOL_SOCKET, LINUX_SO_COOKIE),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_ZEROCOPY),
	OPT_CAP(LINUX_SOL_SOCKET, LINUX_SO_BINDTOIFINDEX, CAP_NET_RAW_),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_TIMESTAMP_NEW),
	OPT(LINUX_SOL_SOCKET, LINUX_SO_TIMESTAMPNS_NEW),
	OPT(LINUX_SOL_SOCKET, 65 /* SO_TIMESTAMPING_NEW */),
	/* IPPROTO_IP */
	OPT(SOL_IP_, 1),  /* IP_TOS */
	OPT(SOL_IP_, 2),  /* IP_TTL */
	OPT(SOL_IP_, 4),  /* IP_OPTIONS */
	OPT(SOL_IP_, 6),  /* IP_RECVOPTS */
	OPT(SOL_IP_, 7),  /* IP_RETOPTS */
	OPT(SOL_IP_, 8),  /* IP_PKTINFO */
	OPT(SOL_IP_, 10), /* IP_MTU_DISCOVER */
	OPT(SOL_IP_, 11), /* IP_RECVERR */
	OPT(SOL_IP_, 12), /* IP_RECVTTL */
	OPT(SOL_IP_, 13), /* IP_RECVTOS */
	OPT_GET(SOL_IP_, 14), /* IP_MTU */
	OPT(SOL_IP_, 15), /* IP_FREEBIND */
	OPT_CAP(SOL_IP_, 19, CAP_NET_ADMIN_), /* IP_TRANSPARENT */
	OPT(SOL_IP_, 20), /* IP_RECVORIGDSTADDR */
	OPT(SOL_IP_, 21), /* IP_MINTTL */
	OPT(SOL_IP_, 22), /* IP_NODEFRAG */
	OPT(SOL_IP_, 24), /* IP_BIND_ADDRESS_NO_PORT */
	OPT(SOL_IP_, 25), /* IP_RECVFRAGSIZE */
	OPT(SOL_IP_, 32), /* IP_MULTICAST_IF */
	OPT(SOL_IP_, 33), /* IP_MULTICAST_TTL */
	OPT(SOL_IP_, 34), /* IP_MULTICAST_LOOP */
	OPT(SOL_IP_, 35), /* IP_ADD_MEMBERSHIP */
	OPT(SOL_IP_, 36), /* IP_DROP_MEMBERSHIP */
	OPT(SOL_IP_, 37), /* IP_UNBLOCK_SOURCE */
	OPT(SOL_IP_, 38), /* IP_BLOCK_SOURCE */
	OPT(SOL_IP_, 39), /* IP_ADD_SOURCE_MEMBERSHIP */
	OPT(SOL_IP_, 40), /* IP_DROP_SOURCE_MEMBERSHIP */
	OPT(SOL_IP_, 49), /* IP_MULTICAST_ALL */
	OPT(SOL_IP_, 51), /* IP_LOCAL_PORT_RANGE */
	/* IPPROTO_TCP */
	OPT(SOL_TCP_, LINUX_TCP_NODELAY),
	OPT(SOL_TCP_, LINUX_TCP_MAXSEG),
	OPT(SOL_TCP_, LINUX_TCP_CORK),
	OPT(SOL_TCP_, LINUX_TCP_KEEPIDLE),
	OPT(SOL_TCP_, LINUX_TCP_KEEPINTVL),
	OPT(SOL_TCP_, LINUX_TCP_KEEPCNT),
	OPT(SOL_TCP_, LINUX_TCP_SYNCNT),
	OPT(SOL_TCP_, LINUX_TCP_LINGER2),
	OPT(SOL_TCP_, LINUX_TCP_DEFER_ACCEPT),
	OPT(SOL_TCP_, LINUX_TCP_WINDOW_CLAMP),
	OPT_GET(SOL_TCP_, LINUX_TCP_INFO),
	OPT(SOL_TCP_, LINUX_TCP_QUICKACK),
	OPT(SOL_TCP_, LINUX_TCP_CONGESTION),
	OPT(SOL_TCP_, 16), /* TCP_THIN_LINEAR_TIMEOUTS */
	OPT(SOL_TCP_, 17), /* TCP_THIN_DUPACK */
	OPT(SOL_TCP_, LINUX_TCP_USER_TIMEOUT),
	OPT(SOL_TCP_, LINUX_TCP_FASTOPEN),
	OPT(SOL_TCP_, 24), /* TCP_TIMESTAMP */
	OPT(SOL_TCP_, LINUX_TCP_NOTSENT_LOWAT),
	OPT_GET(SOL_TCP_, 26), /* TCP_CC_INFO */
	OPT(SOL_TCP_, 27), /* TCP_SAVE_SYN */
	OPT_GET(SOL_TCP_, 28), /* TCP_SAVED_SYN */
	OPT(SOL_TCP_, 30), /* TCP_FASTOPEN_CONNECT */
	OPT(SOL_TCP_, 34), /* TCP_FASTOPEN_NO_COOKIE */
	OPT(SOL_TCP_, 36), /* TCP_INQ */
	OPT(SOL_TCP_, 37), /* TCP_TX_DELAY */
	/* IPPROTO_UDP */
	OPT(SOL_UDP_, 1),   /* UDP_CORK */
	OPT(SOL_UDP_, 101), /* UDP_NO_CHECK6_TX */
	OPT(SOL_UDP_, 102), /* UDP_NO_CHECK6_RX */
	OPT(SOL_UDP_, 103), /* UDP_SEGMENT */
	OPT(SOL_UDP_, 104), /* UDP_GRO */
	/* IPPROTO_IPV6 */
	OPT(SOL_IPV6_, 16), /* IPV6_UNICAST_HOPS */
	OPT(SOL_IPV6_, 17), /* IPV6_MULTICAST_IF */
	OPT(SOL_IPV6_, 18), /* IPV6_MULTICAST_HOPS */
	OPT(SOL_IPV6_, 19), /* IPV6_MULTICAST_LOOP */
	OPT(SOL_IPV6_, 20), /* IPV6_ADD_MEMBERSHIP */
	OPT(SOL_IPV6_, 21), /* IPV6_DROP_MEMBERSHIP */
	OPT(SOL_IPV6_, 23), /* IPV6_MTU_DISCOVER */
	OPT(SOL_IPV6_, 24), /* IPV6_MTU */
	OPT(SOL_IPV6_, 25), /* IPV6_RECVERR */
	OPT(SOL_IPV6_, 26), /* IPV6_V6ONLY */
	OPT(SOL_IPV6_, 27), /* IPV6_JOIN_ANYCAST */
	OPT(SOL_IPV6_, 28), /* IPV6_LEAVE_ANYCAST */
	OPT(SOL_IPV6_, 29), /* IPV6_MULTICAST_ALL */
	OPT(SOL_IPV6_, 49), /* IPV6_RECVPKTINFO */
	OPT(SOL_IPV6_, 50), /* IPV6_PKTINFO */
	OPT(SOL_IPV6_, 51), /* IPV6_RECVHOPLIMIT */
	OPT(SOL_IPV6_, 52), /* IPV6_HOPLIMIT */
	OPT(SOL_IPV6_, 53), /* IPV6_RECVHOPOPTS */
	OPT(SOL_IPV6_, 56), /* IPV6_RECVRTHDR */
	OPT(SOL_IPV6_, 58), /* IPV6_RECVDSTOPTS */
	OPT(SOL_IPV6_, 60), /* IPV6_RECVPATHMTU */
	OPT_GET(SOL_IPV6_, 61), /* IPV6_PATHMTU */
	OPT(SOL_IPV6_, 62), /* IPV6_DONTFRAG */
	OPT(SOL_IPV6_, 66), /* IPV6_RECVTCLASS */
	OPT(SOL_IPV6_, 67), /* IPV6_TCLASS */
	OPT(SOL_IPV6_, 70), /* IPV6_AUTOFLOWLABEL */
	OPT(SOL_IPV6_, 72), /* IPV6_ADDR_PREFERENCES */
	OPT(SOL_IPV6_, 73), /* IPV6_MINHOPCOUNT */
	OPT(SOL_IPV6_, 74), /* IPV6_RECVORIGDSTADDR */
	OPT_CAP(SOL_IPV6_, 75, CAP_NET_ADMIN_), /* IPV6_TRANSPARENT */
	OPT(SOL_IPV6_, 76), /* IPV6_UNICAST_IF */
	OPT(SOL_IPV6_, 77), /* IPV6_RECVFRAGSIZE */
	OPT(SOL_IPV6_, 78), /* IPV6_FREEBIND */
	/* SOL_NETLINK */
	OPT(SOL_NETLINK_, 1),  /* NETLINK_ADD_MEMBERSHIP */
	OPT(SOL_NETLINK_, 2),  /* NETLINK_DROP_MEMBERSHIP */
	OPT(SOL_NETLINK_, 3),  /* NETLINK_PKTINFO */
	OPT(SOL_NETLINK_, 4),  /* NETLINK_BROADCAST_ERROR */
	OPT(SOL_NETLINK_, 5),  /* NETLINK_NO_ENOBUFS */
	OPT_GET(SOL_NETLINK_, 9), /* NETLINK_LIST_MEMBERSHIPS */
	OPT(SOL_NETLINK_, 10), /* NETLINK_CAP_ACK */
	OPT(SOL_NETLINK_, 11), /* NETLINK_EXT_ACK */
	OPT(SOL_NETLINK_, 12), /* NETLINK_GET_STRICT_CHK */
};

/* Multicast group requests (MCAST_JOIN_GROUP ... MCAST_MSFILTER) at the IP levels. */
static bool mcast_opt(int level, int name)
{
	return (level == SOL_IP_ || level == SOL_IPV6_) && name >= 42 && name <= 48;
}

static const struct opt_rule *find_rule(int level, int name)
{
	static const struct opt_rule mcast = {0, 0, NO_CAP, 0};

	if (mcast_opt(level, name))
		return &mcast;
	for (size_t i = 0; i < ARRAY_SIZE(opt_rules); i++)
		if (opt_rules[i].level == level && opt_rules[i].name == name)
			return &opt_rules[i];
	return NULL;
}

int hostinet_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
			uint32_t len)
{
	const struct opt_rule *rule = find_rule(level, name);
	int v;

	if (!rule || (rule->flags & GET_ONLY))
		return -ENOPROTOOPT;
	if (rule->cap != NO_CAP && !cred_capable(t->cred, rule->cap))
		return name == LINUX_SO_DEBUG && level == LINUX_SOL_SOCKET ? -EACCES : -EPERM;
	if (level == LINUX_SOL_SOCKET && name == LINUX_SO_PRIORITY &&
	    sockopt_get_int(val, len, &v) == 0 && (v < 0 || v > 6) &&
	    !cred_capable(t->cred, CAP_NET_ADMIN_))
		return -EPERM;
	if (setsockopt(host_sk(s)->fd, level, name, val, len) < 0)
		return -errno;
	return 0;
}

int hostinet_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
			uint32_t *len)
{
	socklen_t l = *len;

	if (!find_rule(level, name))
		return -ENOPROTOOPT;
	if (getsockopt(host_sk(s)->fd, level, name, val, &l) < 0)
		return -errno;
	*len = MIN(l, *len);
	return 0;
}

/* ---- ioctls ---------------------------------------------------------------------------------- */

#define IFREQ_SIZE 40
#define IFCONF_MAX (64u << 10)

struct linux_ifconf {
	int32_t len;
	uint32_t pad;
	uint64_t buf;
};

static long ifconf(int fd, struct task *t, uint64_t arg)
{
	struct linux_ifconf ic;
	struct ifconf hc = {0};
	long r = 0;

	if (copy_in_all(t, arg, &ic, sizeof(ic)) < 0)
		return -EFAULT;
	if (ic.buf && ic.len > 0) {
		hc.ifc_len = (int)MIN((uint32_t)ic.len, IFCONF_MAX);
		if (!(hc.ifc_buf = calloc(1, (size_t)hc.ifc_len)))
			return -ENOMEM;
	}
	if (ioctl(fd, SIOCGIFCONF, &hc) < 0)
		r = -errno;
	else if (hc.ifc_buf && copy_out_all(t, ic.buf, hc.ifc_buf, (size_t)hc.ifc_len) < 0)
		r = -EFAULT;
	free(hc.ifc_buf);
	ic.len = hc.ifc_len;
	if (r == 0 && copy_out_all(t, arg, &ic, sizeof(ic)) < 0)
		r = -EFAULT;
	return r;
}

/* An ioctl reading sz bytes from the host into the guest's arg (in-out when in is set). */
static long host_ioctl(int fd, struct task *t, unsigned cmd, uint64_t arg, size_t sz, bool in)
{
	uint8_t buf[IFREQ_SIZE] = {0};

	if (in && copy_in_all(t, arg, buf, sz) < 0)
		return -EFAULT;
	if (ioctl(fd, cmd, buf) < 0)
		return -errno;
	return copy_out_all(t, arg, buf, sz);
}

bool net_is_dev_ioctl(unsigned cmd)
{
	switch (cmd) {
	case LINUX_SIOCGIFNAME:
	case LINUX_SIOCGIFCONF:
	case LINUX_SIOCGIFFLAGS:
	case LINUX_SIOCGIFADDR:
	case LINUX_SIOCGIFDSTADDR:
	case LINUX_SIOCGIFBRDADDR:
	case LINUX_SIOCGIFNETMASK:
	case LINUX_SIOCGIFMETRIC:
	case LINUX_SIOCGIFMTU:
	case LINUX_SIOCGIFHWADDR:
	case LINUX_SIOCGIFINDEX:
	case LINUX_SIOCGIFTXQLEN:
		return true;
	}
	return false;
}

/* The interface queries, answered by the host about the sandbox's network namespace. */
static long dev_ioctl(int fd, struct task *t, unsigned cmd, uint64_t arg)
{
	if (cmd == LINUX_SIOCGIFCONF)
		return ifconf(fd, t, arg);
	return host_ioctl(fd, t, cmd, arg, IFREQ_SIZE, true);
}

long net_dev_ioctl(struct task *t, unsigned cmd, uint64_t arg)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long r;

	if (fd < 0)
		return -errno;
	r = dev_ioctl(fd, t, cmd, arg);
	close(fd);
	return r;
}

long hostinet_ioctl(struct socket *s, struct task *t, unsigned cmd, uint64_t arg)
{
	int fd = host_sk(s)->fd;

	switch (cmd) {
	case LINUX_FIONREAD:
	case LINUX_SIOCOUTQ:
	case LINUX_SIOCOUTQNSD:
	case LINUX_SIOCATMARK:
		return host_ioctl(fd, t, cmd, arg, sizeof(int), false);
	case LINUX_SIOCGSTAMP:
	case LINUX_SIOCGSTAMP + 1: /* SIOCGSTAMPNS */
		return host_ioctl(fd, t, cmd, arg, 16, false);
	}
	if (net_is_dev_ioctl(cmd))
		return dev_ioctl(fd, t, cmd, arg);
	/* Interface changes (SIOCSIF*) and routing ioctls are not offered. */
	if ((cmd & 0xff00) == 0x8900)
		return -EPERM;
	return -ENOTTY;
}

/* ---- messages --------------------------------------------------------------------------------- */

int hostinet_check_control(const struct sock_msg *m)
{
	struct cmsg_cursor c = {.buf = m->control, .len = m->control ? m->controllen : 0};
	const struct linux_cmsghdr *h;
	const void *data;
	size_t dlen;
	int r;

	while ((r = cmsg_next(&c, &h, &data, &dlen)) > 0)
		if (h->level == LINUX_SOL_SOCKET)
			return -EINVAL; /* SCM_RIGHTS/CREDENTIALS are AF_UNIX's; the rest not offered */
	return r;
}

struct linux_nlmsghdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t pid;
};

#define NLMSG_MIN_TYPE 16 /* below: NOOP, ERROR, DONE, OVERRUN */

int hostinet_netlink_check(const void *buf, size_t len)
{
	size_t off = 0;

	while (off + sizeof(struct linux_nlmsghdr) <= len) {
		struct linux_nlmsghdr h;

		memcpy(&h, (const uint8_t *)buf + off, sizeof(h));
		if (h.len < sizeof(h) || h.len > len - off)
			break; /* malformed: the host rejects it */
		/* rtnetlink message types come in fours: NEW, DEL, GET, SET. */
		if (h.type >= NLMSG_MIN_TYPE && (h.type & 3) != 2)
			return -EPERM;
		off += (h.len + 3u) & ~3u;
	}
	return 0;
}
