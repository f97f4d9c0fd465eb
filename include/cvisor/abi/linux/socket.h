/* Guest socket ABI (x86-64 kernel layouts): addresses, msghdr, cmsg, options, flags. */
#ifndef CV_ABI_LINUX_SOCKET_H
#define CV_ABI_LINUX_SOCKET_H

#include <stdint.h>

#include "cvisor/compiler.h"

/* Address families. */
#define LINUX_AF_UNSPEC 0
#define LINUX_AF_UNIX 1
#define LINUX_AF_INET 2
#define LINUX_AF_INET6 10
#define LINUX_AF_NETLINK 16
#define LINUX_AF_PACKET 17

/* Socket types and the flags socket(2) accepts with them. */
#define LINUX_SOCK_STREAM 1
#define LINUX_SOCK_DGRAM 2
#define LINUX_SOCK_RAW 3
#define LINUX_SOCK_RDM 4
#define LINUX_SOCK_SEQPACKET 5
#define LINUX_SOCK_PACKET 10
#define LINUX_SOCK_TYPE_MASK 0xf
#define LINUX_SOCK_NONBLOCK 04000
#define LINUX_SOCK_CLOEXEC 02000000

/* send/recv flags. */
#define LINUX_MSG_OOB 0x1
#define LINUX_MSG_PEEK 0x2
#define LINUX_MSG_DONTROUTE 0x4
#define LINUX_MSG_CTRUNC 0x8
#define LINUX_MSG_TRUNC 0x20
#define LINUX_MSG_DONTWAIT 0x40
#define LINUX_MSG_EOR 0x80
#define LINUX_MSG_WAITALL 0x100
#define LINUX_MSG_CONFIRM 0x800
#define LINUX_MSG_ERRQUEUE 0x2000
#define LINUX_MSG_NOSIGNAL 0x4000
#define LINUX_MSG_MORE 0x8000
#define LINUX_MSG_WAITFORONE 0x10000
#define LINUX_MSG_BATCH 0x40000
#define LINUX_MSG_ZEROCOPY 0x4000000
#define LINUX_MSG_FASTOPEN 0x20000000
#define LINUX_MSG_CMSG_CLOEXEC 0x40000000

#define LINUX_SHUT_RD 0
#define LINUX_SHUT_WR 1
#define LINUX_SHUT_RDWR 2

#define LINUX_SOMAXCONN 4096
#define LINUX_SCM_MAX_FD 253

/* Levels and protocols. */
#define LINUX_SOL_SOCKET 1
#define LINUX_IPPROTO_IP 0
#define LINUX_IPPROTO_ICMP 1
#define LINUX_IPPROTO_TCP 6
#define LINUX_IPPROTO_UDP 17
#define LINUX_IPPROTO_IPV6 41
#define LINUX_IPPROTO_ICMPV6 58
#define LINUX_IPPROTO_RAW 255
#define LINUX_NETLINK_ROUTE 0

/* SOL_SOCKET options. */
#define LINUX_SO_DEBUG 1
#define LINUX_SO_REUSEADDR 2
#define LINUX_SO_TYPE 3
#define LINUX_SO_ERROR 4
#define LINUX_SO_DONTROUTE 5
#define LINUX_SO_BROADCAST 6
#define LINUX_SO_SNDBUF 7
#define LINUX_SO_RCVBUF 8
#define LINUX_SO_KEEPALIVE 9
#define LINUX_SO_OOBINLINE 10
#define LINUX_SO_NO_CHECK 11
#define LINUX_SO_PRIORITY 12
#define LINUX_SO_LINGER 13
#define LINUX_SO_REUSEPORT 15
#define LINUX_SO_PASSCRED 16
#define LINUX_SO_PEERCRED 17
#define LINUX_SO_RCVLOWAT 18
#define LINUX_SO_SNDLOWAT 19
#define LINUX_SO_RCVTIMEO_OLD 20
#define LINUX_SO_SNDTIMEO_OLD 21
#define LINUX_SO_BINDTODEVICE 25
#define LINUX_SO_ATTACH_FILTER 26
#define LINUX_SO_DETACH_FILTER 27
#define LINUX_SO_TIMESTAMP_OLD 29
#define LINUX_SO_ACCEPTCONN 30
#define LINUX_SO_PEERSEC 31
#define LINUX_SO_SNDBUFFORCE 32
#define LINUX_SO_RCVBUFFORCE 33
#define LINUX_SO_PASSSEC 34
#define LINUX_SO_TIMESTAMPNS_OLD 35
#define LINUX_SO_MARK 36
#define LINUX_SO_PROTOCOL 38
#define LINUX_SO_DOMAIN 39
#define LINUX_SO_PEEK_OFF 42
#define LINUX_SO_BUSY_POLL 46
#define LINUX_SO_INCOMING_CPU 49
#define LINUX_SO_COOKIE 57
#define LINUX_SO_PEERGROUPS 59
#define LINUX_SO_ZEROCOPY 60
#define LINUX_SO_BINDTOIFINDEX 62
#define LINUX_SO_TIMESTAMP_NEW 63
#define LINUX_SO_TIMESTAMPNS_NEW 64
#define LINUX_SO_RCVTIMEO_NEW 66
#define LINUX_SO_SNDTIMEO_NEW 67

/* Control messages at SOL_SOCKET. */
#define LINUX_SCM_RIGHTS 1
#define LINUX_SCM_CREDENTIALS 2

/* IPPROTO_TCP options passed through to host sockets. */
#define LINUX_TCP_NODELAY 1
#define LINUX_TCP_MAXSEG 2
#define LINUX_TCP_CORK 3
#define LINUX_TCP_KEEPIDLE 4
#define LINUX_TCP_KEEPINTVL 5
#define LINUX_TCP_KEEPCNT 6
#define LINUX_TCP_SYNCNT 7
#define LINUX_TCP_LINGER2 8
#define LINUX_TCP_DEFER_ACCEPT 9
#define LINUX_TCP_WINDOW_CLAMP 10
#define LINUX_TCP_INFO 11
#define LINUX_TCP_QUICKACK 12
#define LINUX_TCP_CONGESTION 13
#define LINUX_TCP_USER_TIMEOUT 18
#define LINUX_TCP_FASTOPEN 23
#define LINUX_TCP_NOTSENT_LOWAT 25

/* ioctls on sockets. */
#define LINUX_FIONREAD 0x541b
#define LINUX_SIOCOUTQ 0x5411
#define LINUX_SIOCATMARK 0x8905
#define LINUX_SIOCGSTAMP 0x8906
#define LINUX_SIOCGIFNAME 0x8910
#define LINUX_SIOCGIFCONF 0x8912
#define LINUX_SIOCGIFFLAGS 0x8913
#define LINUX_SIOCGIFADDR 0x8915
#define LINUX_SIOCGIFDSTADDR 0x8917
#define LINUX_SIOCGIFBRDADDR 0x8919
#define LINUX_SIOCGIFNETMASK 0x891b
#define LINUX_SIOCGIFMETRIC 0x891d
#define LINUX_SIOCGIFMTU 0x8921
#define LINUX_SIOCGIFHWADDR 0x8927
#define LINUX_SIOCGIFINDEX 0x8933
#define LINUX_SIOCGIFTXQLEN 0x8942
#define LINUX_SIOCOUTQNSD 0x894b

#define LINUX_UNIX_PATH_MAX 108
#define LINUX_SOCKADDR_MAX 128 /* sizeof(struct sockaddr_storage) */

struct linux_sockaddr_un {
	uint16_t family;
	char path[LINUX_UNIX_PATH_MAX];
};

struct linux_sockaddr_in {
	uint16_t family;
	uint16_t port; /* network order */
	uint32_t addr;
	uint8_t zero[8];
};

struct linux_sockaddr_in6 {
	uint16_t family;
	uint16_t port;
	uint32_t flowinfo;
	uint8_t addr[16];
	uint32_t scope_id;
};

struct linux_msghdr {
	uint64_t name;
	uint32_t namelen;
	uint32_t pad0;
	uint64_t iov;
	uint64_t iovlen;
	uint64_t control;
	uint64_t controllen;
	int32_t flags;
	uint32_t pad1;
};
STATIC_ASSERT(sizeof(struct linux_msghdr) == 56);

struct linux_mmsghdr {
	struct linux_msghdr hdr;
	uint32_t len;
	uint32_t pad;
};
STATIC_ASSERT(sizeof(struct linux_mmsghdr) == 64);

struct linux_cmsghdr {
	uint64_t len;
	int32_t level;
	int32_t type;
};
#define LINUX_CMSG_ALIGN(n) (((n) + 7) & ~(uint64_t)7)
#define LINUX_CMSG_HDRLEN sizeof(struct linux_cmsghdr)
#define LINUX_CMSG_LEN(n) (LINUX_CMSG_HDRLEN + (n))
#define LINUX_CMSG_SPACE(n) (LINUX_CMSG_HDRLEN + LINUX_CMSG_ALIGN(n))

struct linux_ucred {
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
};

struct linux_linger {
	int32_t onoff;
	int32_t linger;
};

#endif
