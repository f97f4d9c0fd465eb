/*
 * Sockets (src/sentry/net): the socket object every family shares, the ops table each family
 * implements (unix.c: AF_UNIX inside the sentry; hostinet.c: AF_INET, AF_INET6 and
 * NETLINK_ROUTE over host sockets in the sandbox's network namespace), and the per-sandbox
 * network state (struct net_ns: names of bound unix sockets).
 *
 * A socket is refcounted (socket_get/socket_put); its file holds one reference and f->priv
 * points at it.  Sockets exist without a file while they wait in a listener's accept queue.
 *
 * Lock order: a unix socket's lock is never held with another socket's lock; net_ns->lock is
 * taken before a socket lock is ever needed and dropped first.  Socket locks come before
 * mm->lock (data is copied to and from application memory under them), fd_table->lock and
 * wait-queue locks.  No socket lock is held while a task blocks.
 */
#ifndef CV_SENTRY_NET_H
#define CV_SENTRY_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/abi/linux/types.h"
#include "cvisor/sentry/kernel.h"

struct task;
struct file;
struct poll_table;
struct net_ns;

/* ---- per-sandbox state ----------------------------------------------------------------- */

/* A new, empty network state (the kernel owns one).  NULL on ENOMEM. */
struct net_ns *net_ns_new(void);
/* Frees it; every socket must be gone. */
void net_ns_free(struct net_ns *ns);

/* ---- data to send or room to receive into ---------------------------------------------- */

/*
 * A cursor over iovecs: in the memory of task t, or in sentry memory when t is NULL (reads
 * and writes through a file, which already bounced the data).  The iovec array is borrowed.
 */
struct msg_iter {
	struct task *t;
	const struct linux_iovec *iov;
	size_t nr_segs;
	size_t seg, seg_off;
	size_t count; /* bytes left */
};

/* Starts a cursor at the first byte of iov[0..nr_segs) (borrowed); count is their total. */
void msg_iter_init(struct msg_iter *it, struct task *t, const struct linux_iovec *iov,
		   size_t nr_segs);
/* Copies up to n bytes out of the iovecs into dst, advancing.  Returns the count (short at a
 * bad guest page) or -EFAULT when nothing could be copied. */
ssize_t msg_iter_copy_from(struct msg_iter *it, void *dst, size_t n);
/* Copies up to n bytes of src into the iovecs, advancing; same returns. */
ssize_t msg_iter_copy_to(struct msg_iter *it, const void *src, size_t n);
/* Skips n bytes (n <= count). */
void msg_iter_skip(struct msg_iter *it, size_t n);

/*
 * One message for sendmsg/recvmsg, in sentry memory.
 *  send: name/namelen is the destination (or NULL), control/controllen the control data.
 *  recv: name points at LINUX_SOCKADDR_MAX bytes and namelen returns the source address's
 *        full length (0: none); control has room for controllen bytes and controllen returns
 *        what was written; flags returns MSG_TRUNC, MSG_CTRUNC, MSG_EOR, ...
 */
struct sock_msg {
	struct msg_iter data;
	void *name;
	uint32_t namelen;
	void *control;
	size_t controllen;
	int flags;
};

/* ---- sockets ------------------------------------------------------------------------------ */

struct socket;

/*
 * What a family implements.  Every op returns >= 0 or -errno; blocking ops return
 * -ERESTARTSYS (-EINTR when a timeout is set) on a signal and honour MSG_DONTWAIT / nonblock
 * (the callers fold the file's O_NONBLOCK in).  Addresses are sentry copies of the guest's
 * sockaddr (len bytes, at most LINUX_SOCKADDR_MAX).  NULL ops: the wrappers below answer
 * -EOPNOTSUPP (-ENOPROTOOPT for options, -ENOTTY for ioctl).
 */
struct socket_ops {
	int (*bind)(struct socket *s, struct task *t, const void *addr, uint32_t len);
	int (*connect)(struct socket *s, struct task *t, const void *addr, uint32_t len,
		       bool nonblock);
	int (*listen)(struct socket *s, struct task *t, int backlog);
	/* The next connection as a new socket (new reference, no file yet). */
	int (*accept)(struct socket *s, struct task *t, bool nonblock, struct socket **out);
	/* Connects two fresh sockets of this family to each other. */
	int (*socketpair)(struct socket *a, struct socket *b, struct task *t);
	/* Writes the local (peer == false) or remote address into addr (LINUX_SOCKADDR_MAX
	 * bytes); *len gets its full length. */
	int (*getname)(struct socket *s, void *addr, uint32_t *len, bool peer);
	ssize_t (*sendmsg)(struct socket *s, struct task *t, struct sock_msg *m, int flags);
	ssize_t (*recvmsg)(struct socket *s, struct task *t, struct sock_msg *m, int flags);
	int (*shutdown)(struct socket *s, int how);
	/* Options (val and *len in sentry memory; getsockopt's *len is the room in val). */
	int (*setsockopt)(struct socket *s, struct task *t, int level, int name, const void *val,
			  uint32_t len);
	int (*getsockopt)(struct socket *s, struct task *t, int level, int name, void *val,
			  uint32_t *len);
	unsigned (*poll)(struct socket *s, struct poll_table *pt);
	long (*ioctl)(struct socket *s, struct task *t, unsigned cmd, uint64_t arg);
	/* The file was closed (last reference): disconnect, unbind, wake everyone. */
	void (*release)(struct socket *s);
	/* The last reference went: free the socket. */
	void (*destroy)(struct socket *s);
};

struct socket {
	const struct socket_ops *ops;
	int refs;
	int family, type, protocol;
	struct kernel *k;
	struct file *file;    /* no reference; NULL until socket_file_new, and after close */
	struct waitqueue wq;  /* readiness changes of this socket (POLL* events) */
	uint64_t rcvtimeo_ns; /* SO_RCVTIMEO, 0 = none */
	uint64_t sndtimeo_ns; /* SO_SNDTIMEO */
};

/* Creates a socket of the family (socket(2) arguments, flags already stripped from type):
 * a new reference in *out, or -EAFNOSUPPORT, -EPROTONOSUPPORT, -ESOCKTNOSUPPORT, -EPERM, ... */
int socket_create(struct task *t, int family, int type, int protocol, struct socket **out);
/* socketpair(2): two connected sockets (new references). */
int socket_create_pair(struct task *t, int family, int type, int protocol,
		       struct socket *out[2]);

/* Initializes the shared part of a family's socket (refs 1). */
void socket_init(struct socket *s, const struct socket_ops *ops, struct kernel *k, int family,
		 int type, int protocol);
/* References; the last put calls ops->destroy (no lock may be held that destroy takes). */
void socket_get(struct socket *s);
void socket_put(struct socket *s);
/* Drops the caller's reference to a socket that never got a file, closing it first (peers
 * see it go, as if its file had been closed). */
void socket_discard(struct socket *s);

/*
 * A file for s (an S_IFSOCK anonymous inode owned by t's fsuid, named "socket:[ino]"), open
 * O_RDWR plus O_NONBLOCK from flags.  Takes over the caller's reference to s.  ERR_PTR on
 * error (then s is discarded).
 */
struct file *socket_file_new(struct task *t, struct socket *s, unsigned flags);
/* The socket behind f (borrowed), or NULL when f is not a socket. */
struct socket *socket_from_file(struct file *f);

/* Wrappers over the ops (defaults as described above). */
int socket_bind(struct socket *s, struct task *t, const void *addr, uint32_t len);
int socket_connect(struct socket *s, struct task *t, const void *addr, uint32_t len,
		   bool nonblock);
int socket_listen(struct socket *s, struct task *t, int backlog);
int socket_accept(struct socket *s, struct task *t, bool nonblock, struct socket **out);
int socket_getname(struct socket *s, void *addr, uint32_t *len, bool peer);
ssize_t socket_sendmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags);
ssize_t socket_recvmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags);
int socket_shutdown(struct socket *s, int how);
/* SO_RCVTIMEO/SO_SNDTIMEO, SO_TYPE, SO_DOMAIN and SO_PROTOCOL are answered here for every
 * family; the rest goes to the family. */
int socket_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
		      uint32_t len);
int socket_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
		      uint32_t *len);

/*
 * readv/writev on a socket file: one recvmsg/sendmsg over all the guest's iovecs (borrowed),
 * so datagram boundaries hold.  Returns bytes or -errno; -EPIPE is the caller's to signal.
 */
ssize_t socket_file_rw_iov(struct file *f, struct task *t, const struct linux_iovec *iov,
			   size_t nr_segs, bool write);

/*
 * Waits for a socket condition: runs attempt(arg) until it returns something other than
 * -EAGAIN, sleeping on wq (for `events`) in between.  Returns -EAGAIN at once when nonblock,
 * -EAGAIN at deadline_ns (CLOCK_MONOTONIC; 0 = none), and on a signal -ERESTARTSYS (-EINTR
 * when there is a deadline, as Linux does for sockets with a timeout).  attempt takes and
 * drops whatever locks it needs.
 */
long socket_wait(struct task *t, struct waitqueue *wq, uint64_t events, bool nonblock,
		 uint64_t deadline_ns, long (*attempt)(void *arg), void *arg);

#endif
