/*
 * Private to the AF_UNIX family (unix.c: lifecycle and connections; unix_io.c and
 * unix_recv.c: the data path; unix_names.c: bound names; unix_opts.c: options).
 *
 * A unix socket's receive queue holds messages sent to it.  Each message keeps a reference
 * to its sender, whose wmem it is charged to until read, so reading wakes the sender; the
 * queue is purged when the socket closes, which breaks every such reference cycle.
 */
#ifndef CV_SENTRY_NET_UNIX_INTERNAL_H
#define CV_SENTRY_NET_UNIX_INTERNAL_H

#include <pthread.h>

#include "cvisor/sentry/vfs.h"
#include "net_internal.h"

#define UNIX_RCV_SHUTDOWN 1u
#define UNIX_SEND_SHUTDOWN 2u
#define UNIX_SHUTDOWN_MASK 3u

/* net.unix.max_dgram_qlen: datagrams a socket queues for senders other than its peer. */
#define UNIX_MAX_DGRAM_QLEN 10
/* Largest piece of a stream write queued as one message. */
#define UNIX_STREAM_CHUNK (64u << 10)

enum unix_state {
	UNIX_UNCONNECTED,
	UNIX_CONNECTING, /* a connect is in progress on another thread */
	UNIX_CONNECTED,
	UNIX_LISTENING,
};

/* A sockaddr_un as Linux reports it: a path of all 108 bytes gets its NUL past the struct
 * (length 111), so the buffer is larger. */
union unix_sockaddr {
	struct linux_sockaddr_un sun;
	uint8_t bytes[LINUX_SOCKADDR_MAX];
};

/* A bound name, shared (refcounted) by a socket and the messages it sent. */
struct unix_addr {
	int refs;
	uint32_t len; /* sockaddr length, family included */
	union unix_sockaddr sa;
};

struct unix_msg {
	struct unix_msg *next;
	struct unix_sock *sender; /* reference; len is charged to its wmem */
	struct unix_addr *from;   /* the sender's name when sent (reference), or NULL */
	struct linux_ucred cred;
	struct file **files; /* SCM_RIGHTS (references) */
	int nfiles;
	size_t len, off; /* off: bytes of a stream message already read */
	char data[];
};

struct unix_sock {
	struct socket sock;
	pthread_mutex_t lock;     /* everything below but wmem */
	pthread_mutex_t bind_lock; /* serialises bind and autobind of this socket */
	enum unix_state state;
	struct unix_sock *peer;   /* reference; stays (maybe dead) after the peer closes */
	struct unix_addr *addr;   /* bound name (reference), or NULL */
	struct path bound;        /* the socket inode of a filesystem name (references) */
	struct unix_msg *rq_head, **rq_tail;
	size_t rq_bytes;
	int rq_count;
	struct unix_sock *aq_head, **aq_tail, *aq_next; /* accept queue (references) */
	int aq_count, backlog;
	bool embryo;              /* in an accept queue, not yet accepted */
	unsigned shutdown;        /* UNIX_*_SHUTDOWN */
	int err;                  /* pending error (SO_ERROR), positive errno */
	bool dead;                /* closed */
	bool passcred;
	bool has_peercred;
	struct linux_ucred peercred;
	uint64_t wmem;            /* atomic: bytes of our messages queued at receivers */
	int sndbuf, rcvbuf;
	uint32_t flag_opts;       /* SO_* booleans stored without effect, by bit (name) */
	struct linux_linger linger;
};

static inline struct unix_sock *unix_sk(struct socket *s)
{
	return container_of(s, struct unix_sock, sock);
}

static inline void unix_get(struct unix_sock *u)
{
	socket_get(&u->sock);
}

static inline void unix_put(struct unix_sock *u)
{
	if (u)
		socket_put(&u->sock);
}

void unix_addr_put(struct unix_addr *a);
static inline struct unix_addr *unix_addr_get(struct unix_addr *a)
{
	if (a)
		__atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
	return a;
}

/* Wakes everyone watching u (POLL* events). */
static inline void unix_wake(struct unix_sock *u, unsigned events)
{
	waitqueue_wake(&u->sock.wq, events);
}

/* ---- unix.c ---- */

/* A new socket of type in k (refs 1). NULL on ENOMEM. */
struct unix_sock *unix_sock_new(struct kernel *k, int type);
/* Sets u's peer credentials to t's (SO_PEERCRED). */
void unix_set_peercred_from(struct unix_sock *u, struct task *t);

/* ---- unix_io.c, unix_recv.c ---- */

ssize_t unix_sendmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags);
ssize_t unix_recvmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags);
/* Frees a message (drops its files and references, uncharges and wakes its sender). */
void unix_msg_free(struct unix_msg *msg);
/* Frees a list of messages linked through next. */
void unix_msg_free_list(struct unix_msg *msg);
/* Unlinks the head message of u's queue (u->lock held; the queue is not empty). */
struct unix_msg *unix_dequeue(struct unix_sock *u);
/* Unlinks and frees every queued message (u->lock not held). */
void unix_purge_queue(struct unix_sock *u);
/* FIONREAD: unread bytes (stream, seqpacket) or the next datagram's size. */
int unix_inq(struct unix_sock *u);
/* POLLOUT: may u send now? (u->lock held) */
bool unix_writable(struct unix_sock *u);

/* ---- unix_opts.c ---- */

int unix_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
		    uint32_t len);
int unix_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
		    uint32_t *len);

/* ---- unix_names.c ---- */

/* A parsed address: a filesystem path or an abstract name. */
struct unix_name_key {
	bool abstract;
	size_t len;                          /* abstract: name bytes; path: strlen */
	char name[LINUX_UNIX_PATH_MAX + 1];  /* the path (NUL-terminated) or the abstract bytes
						after the leading NUL */
};

/*
 * Parses a guest sockaddr_un of len bytes into key, with the address to report for it (as
 * Linux stores it: paths up to and including their NUL) in *sa and *alen.  Returns 0, 1 when
 * the address is the family alone (autobind), or -EINVAL.
 */
int unix_parse_addr(const void *addr, uint32_t len, struct unix_name_key *key,
		    union unix_sockaddr *sa, uint32_t *alen);
/* bind(2) of u to the name: creates the socket inode for paths. */
int unix_bind_name(struct unix_sock *u, struct task *t, const union unix_sockaddr *sa,
		   uint32_t alen, const struct unix_name_key *key);
/* Binds u to a fresh abstract name (autobind). */
int unix_autobind(struct unix_sock *u);
/* The socket bound to the name (new reference): -ECONNREFUSED, -ENOENT, -EACCES, ...
 * Abstract names are looked up among sockets of the given type, as on Linux. */
int unix_find(struct task *t, const struct unix_name_key *key, int type, struct unix_sock **out);
/* Forgets u's name (release). */
void unix_unbind(struct unix_sock *u);

#endif
