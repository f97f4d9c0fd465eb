/*
 * The AF_UNIX data path, receiving: stream reads that join messages (stopping after files,
 * or at a change of writer under SO_PASSCRED), datagram and seqpacket reads of one message,
 * and the control messages delivered with them (SCM_CREDENTIALS, SCM_RIGHTS).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "unix_internal.h"

#define RLIMIT_NOFILE_ 7
#define CONTROL_MAX_FILES LINUX_SCM_MAX_FD

/* What a receive collected for the control buffer. */
struct recv_scm {
	struct file **files;
	int nfiles;
	bool has_cred;
	struct linux_ucred cred;
};

/* Takes msg's files (or, peeking, new references to them). */
static int take_files(struct recv_scm *rs, struct unix_msg *msg, bool peek)
{
	if (!msg->nfiles)
		return 0;
	if (!peek) {
		rs->files = msg->files;
		rs->nfiles = msg->nfiles;
		msg->files = NULL;
		msg->nfiles = 0;
		return 1;
	}
	rs->files = malloc((size_t)msg->nfiles * sizeof(*rs->files));
	if (rs->files) {
		for (int i = 0; i < msg->nfiles; i++)
			file_get(rs->files[i] = msg->files[i]);
		rs->nfiles = msg->nfiles;
	}
	return 1;
}

/* Installs received files and writes the control messages (Linux scm_recv order). */
static void deliver_scm(struct unix_sock *u, struct task *t, struct sock_msg *m,
			struct recv_scm *rs, int flags)
{
	size_t used = 0;
	int room, n = 0;
	int32_t fds[CONTROL_MAX_FILES];

	if (u->passcred && rs->has_cred)
		cmsg_put(m, &used, LINUX_SOL_SOCKET, LINUX_SCM_CREDENTIALS, &rs->cred,
			 sizeof(rs->cred));
	if (rs->nfiles) {
		room = m->control && m->controllen > used + LINUX_CMSG_HDRLEN
			? (int)((m->controllen - used - LINUX_CMSG_HDRLEN) / sizeof(int32_t)) : 0;
		for (; n < rs->nfiles && n < room; n++) {
			int fd = fd_install(t->files, rs->files[n], flags & LINUX_MSG_CMSG_CLOEXEC, 0,
					    (int)MIN(task_rlimit(t, RLIMIT_NOFILE_), 1u << 20));
			if (fd < 0)
				break;
			fds[n] = fd;
		}
		if (n)
			cmsg_put(m, &used, LINUX_SOL_SOCKET, LINUX_SCM_RIGHTS, fds,
				 (size_t)n * sizeof(int32_t));
		if (n < rs->nfiles)
			m->flags |= LINUX_MSG_CTRUNC;
		for (int i = 0; i < rs->nfiles; i++)
			file_put(rs->files[i]);
		free(rs->files);
	}
	m->controllen = used;
}

static void copy_from_addr(struct sock_msg *m, const struct unix_addr *a)
{
	if (!m->name)
		return;
	m->namelen = a ? a->len : 0;
	if (a)
		memcpy(m->name, &a->sa, a->len);
}

struct recv_ctx {
	struct unix_sock *u;
	struct sock_msg *m;
	int flags;
	size_t copied, target;
	struct recv_scm rs;
	struct unix_msg *done; /* consumed messages, freed after unlocking */
	bool check_cred;
};

/*
 * One pass of a stream read (u->lock held): copies queued data.  Returns 1 when the read is
 * complete (room used up, a message only partly read, files received, a writer change under
 * SO_PASSCRED, or a fault after some data), 0 when the queue ran dry, or -EFAULT.
 */
static long stream_take(struct recv_ctx *c)
{
	struct unix_sock *u = c->u;
	bool peek = c->flags & LINUX_MSG_PEEK;
	struct unix_msg *msg = u->rq_head;

	while (msg && c->m->data.count) {
		size_t avail = msg->len - msg->off;
		ssize_t r;
		bool files;

		if (c->check_cred && memcmp(&msg->cred, &c->rs.cred, sizeof(c->rs.cred)))
			return 1;
		if (!c->check_cred && u->passcred) {
			c->rs.cred = msg->cred;
			c->rs.has_cred = c->check_cred = true;
		}
		if (c->copied == 0)
			copy_from_addr(c->m, msg->from);
		r = msg_iter_copy_to(&c->m->data, msg->data + msg->off, MIN(avail, c->m->data.count));
		if (r < 0)
			return c->copied ? 1 : r;
		c->copied += (size_t)r;
		files = take_files(&c->rs, msg, peek);
		if (!peek) {
			msg->off += (size_t)r;
			u->rq_bytes -= (size_t)r;
			if (msg->off == msg->len) {
				unix_dequeue(u)->next = c->done;
				c->done = msg;
			}
		}
		if ((size_t)r < avail || files)
			return 1;
		msg = peek ? msg->next : u->rq_head;
	}
	return c->m->data.count ? 0 : 1;
}

static long stream_attempt(void *arg)
{
	struct recv_ctx *c = arg;
	struct unix_sock *u = c->u;
	long r = 0;

	pthread_mutex_lock(&u->lock);
	if (u->rq_head && (r = stream_take(c)) != 0) {
		pthread_mutex_unlock(&u->lock);
		return r < 0 ? r : 0;
	}
	if (c->copied >= c->target || !c->m->data.count) {
		r = 0;
	} else if (u->err) {
		r = c->copied ? 0 : -u->err;
		if (!c->copied)
			u->err = 0;
	} else if (u->shutdown & UNIX_RCV_SHUTDOWN) {
		r = 0;
	} else {
		r = -EAGAIN;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static ssize_t stream_recv(struct unix_sock *u, struct task *t, struct sock_msg *m, int flags)
{
	struct recv_ctx c = {.u = u, .m = m, .flags = flags};
	long r;

	if (u->state != UNIX_CONNECTED)
		return -EINVAL;
	c.target = (flags & LINUX_MSG_WAITALL) && !(flags & LINUX_MSG_PEEK) ? m->data.count : 1;
	r = socket_wait(t, &u->sock.wq, LINUX_POLLIN, flags & LINUX_MSG_DONTWAIT,
			net_deadline(u->sock.rcvtimeo_ns), stream_attempt, &c);
	unix_msg_free_list(c.done);
	deliver_scm(u, t, m, &c.rs, flags);
	if (c.copied)
		return (ssize_t)c.copied;
	return r;
}

/* A datagram or seqpacket read: one message. */
static long dgram_attempt(void *arg)
{
	struct recv_ctx *c = arg;
	struct unix_sock *u = c->u;
	struct unix_msg *msg;
	long r;

	pthread_mutex_lock(&u->lock);
	if (u->err) {
		r = -u->err;
		u->err = 0;
	} else if (!(msg = u->rq_head)) {
		r = (u->shutdown & UNIX_RCV_SHUTDOWN) ? 0 : -EAGAIN;
	} else {
		size_t n = MIN(msg->len, c->m->data.count);

		copy_from_addr(c->m, msg->from);
		r = msg_iter_copy_to(&c->m->data, msg->data, n);
		if (r >= 0) {
			if (msg->len > n)
				c->m->flags |= LINUX_MSG_TRUNC;
			c->copied = (size_t)r;
			if (u->passcred) {
				c->rs.cred = msg->cred;
				c->rs.has_cred = true;
			}
			take_files(&c->rs, msg, c->flags & LINUX_MSG_PEEK);
			r = (c->flags & LINUX_MSG_TRUNC) ? (long)msg->len : r;
			if (!(c->flags & LINUX_MSG_PEEK)) {
				u->rq_bytes -= msg->len;
				c->done = unix_dequeue(u);
			}
		}
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static ssize_t dgram_recv(struct unix_sock *u, struct task *t, struct sock_msg *m, int flags)
{
	struct recv_ctx c = {.u = u, .m = m, .flags = flags};
	long r;

	if (u->sock.type == LINUX_SOCK_SEQPACKET && u->state != UNIX_CONNECTED)
		return -ENOTCONN;
	r = socket_wait(t, &u->sock.wq, LINUX_POLLIN, flags & LINUX_MSG_DONTWAIT,
			net_deadline(u->sock.rcvtimeo_ns), dgram_attempt, &c);
	if (c.done)
		unix_wake(u, POLL_WRITABLE);
	unix_msg_free_list(c.done);
	if (r >= 0)
		deliver_scm(u, t, m, &c.rs, flags);
	return r;
}

ssize_t unix_recvmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	struct unix_sock *u = unix_sk(s);

	m->flags = 0;
	if (m->name)
		m->namelen = 0;
	if (flags & LINUX_MSG_OOB)
		return -EOPNOTSUPP;
	if (s->type == LINUX_SOCK_STREAM)
		return stream_recv(u, t, m, flags);
	return dgram_recv(u, t, m, flags);
}
