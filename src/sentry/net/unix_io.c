/*
 * The AF_UNIX data path, sending: messages queued on the receiver (charged to the sender),
 * SCM_RIGHTS and SCM_CREDENTIALS from control data, stream writes in pieces, datagrams and
 * seqpackets whole.  Receiving: unix_recv.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "unix_internal.h"

#define CONTROL_MAX_FILES LINUX_SCM_MAX_FD

/* What a sendmsg's control data carries. */
struct unix_scm {
	struct file **files;
	int nfiles;
	struct linux_ucred cred;
};

static void scm_drop(struct unix_scm *scm)
{
	for (int i = 0; i < scm->nfiles; i++)
		file_put(scm->files[i]);
	free(scm->files);
	scm->files = NULL;
	scm->nfiles = 0;
}

static int scm_add_files(struct task *t, struct unix_scm *scm, const int32_t *fds, size_t n)
{
	struct file **nf;

	if (!n)
		return 0;
	if (scm->nfiles + n > CONTROL_MAX_FILES)
		return -EINVAL;
	nf = realloc(scm->files, (scm->nfiles + n) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	scm->files = nf;
	for (size_t i = 0; i < n; i++) {
		struct file *f = fd_get(t->files, fds[i]);

		if (!f)
			return -EBADF;
		scm->files[scm->nfiles++] = f;
	}
	return 0;
}

/* SCM_CREDENTIALS may only claim ids the sender holds (Linux scm_check_creds). */
static int scm_check_cred(struct task *t, const struct linux_ucred *uc)
{
	const struct cred *c = t->cred;

	if (uc->pid != t->tg->tgid && !cred_capable(c, CAP_SYS_ADMIN_))
		return -EPERM;
	if (uc->uid != c->uid && uc->uid != c->euid && uc->uid != c->suid &&
	    !cred_capable(c, CAP_SETUID_))
		return -EPERM;
	if (uc->gid != c->gid && uc->gid != c->egid && uc->gid != c->sgid &&
	    !cred_capable(c, CAP_SETGID_))
		return -EPERM;
	return 0;
}

static int scm_parse(struct task *t, const struct sock_msg *m, struct unix_scm *scm)
{
	struct cmsg_cursor c = {.buf = m->control, .len = m->control ? m->controllen : 0};
	const struct linux_cmsghdr *h;
	const void *data;
	size_t dlen;
	int r;

	net_task_ucred(t, &scm->cred);
	while ((r = cmsg_next(&c, &h, &data, &dlen)) > 0) {
		if (h->level != LINUX_SOL_SOCKET)
			continue;
		if (h->type == LINUX_SCM_RIGHTS) {
			r = scm_add_files(t, scm, data, dlen / sizeof(int32_t));
		} else if (h->type == LINUX_SCM_CREDENTIALS) {
			if (dlen != sizeof(struct linux_ucred))
				r = -EINVAL;
			else if ((r = scm_check_cred(t, data)) == 0)
				memcpy(&scm->cred, data, sizeof(scm->cred));
		} else {
			r = -EINVAL;
		}
		if (r < 0)
			break;
	}
	if (r < 0)
		scm_drop(scm);
	return r;
}

/* ---- messages --------------------------------------------------------------------------------- */

static struct unix_msg *msg_alloc(struct unix_sock *from, size_t len)
{
	struct unix_msg *msg = malloc(sizeof(*msg) + len);

	if (!msg)
		return NULL;
	memset(msg, 0, sizeof(*msg));
	msg->len = len;
	msg->sender = from;
	unix_get(from);
	pthread_mutex_lock(&from->lock);
	msg->from = unix_addr_get(from->addr);
	pthread_mutex_unlock(&from->lock);
	return msg;
}

/* Moves the scm's files (and credentials) onto msg. */
static void msg_attach(struct unix_msg *msg, struct unix_scm *scm, bool files)
{
	msg->cred = scm->cred;
	if (files) {
		msg->files = scm->files;
		msg->nfiles = scm->nfiles;
		scm->files = NULL;
		scm->nfiles = 0;
	}
}

void unix_msg_free(struct unix_msg *msg)
{
	struct unix_sock *s = msg->sender;

	for (int i = 0; i < msg->nfiles; i++)
		file_put(msg->files[i]);
	free(msg->files);
	unix_addr_put(msg->from);
	if (s) {
		__atomic_sub_fetch(&s->wmem, msg->len, __ATOMIC_RELAXED);
		unix_wake(s, POLL_WRITABLE | LINUX_POLLWRBAND);
		unix_put(s);
	}
	free(msg);
}

void unix_msg_free_list(struct unix_msg *msg)
{
	while (msg) {
		struct unix_msg *next = msg->next;

		unix_msg_free(msg);
		msg = next;
	}
}

void unix_purge_queue(struct unix_sock *u)
{
	struct unix_msg *list;

	pthread_mutex_lock(&u->lock);
	list = u->rq_head;
	u->rq_head = NULL;
	u->rq_tail = &u->rq_head;
	u->rq_bytes = 0;
	u->rq_count = 0;
	pthread_mutex_unlock(&u->lock);
	unix_msg_free_list(list);
}

/* Queues msg on u (u->lock held) and charges its sender. */
static void enqueue(struct unix_sock *u, struct unix_msg *msg)
{
	__atomic_add_fetch(&msg->sender->wmem, msg->len, __ATOMIC_RELAXED);
	*u->rq_tail = msg;
	u->rq_tail = &msg->next;
	u->rq_bytes += msg->len - msg->off;
	u->rq_count++;
}

struct unix_msg *unix_dequeue(struct unix_sock *u)
{
	struct unix_msg *msg = u->rq_head;

	u->rq_head = msg->next;
	if (!u->rq_head)
		u->rq_tail = &u->rq_head;
	msg->next = NULL;
	u->rq_count--;
	return msg;
}

int unix_inq(struct unix_sock *u)
{
	int n = 0;

	pthread_mutex_lock(&u->lock);
	if (u->state == UNIX_LISTENING)
		n = -EINVAL;
	else if (u->sock.type != LINUX_SOCK_DGRAM)
		n = (int)MIN(u->rq_bytes, (size_t)INT32_MAX);
	else if (u->rq_head)
		n = (int)u->rq_head->len;
	pthread_mutex_unlock(&u->lock);
	return n;
}

bool unix_writable(struct unix_sock *u)
{
	struct unix_sock *p = u->peer;

	if (__atomic_load_n(&u->wmem, __ATOMIC_RELAXED) * 4 > (uint64_t)u->sndbuf)
		return false;
	/* A datagram peer whose queue is full of other senders' messages (racy, as in Linux). */
	if (u->sock.type == LINUX_SOCK_DGRAM && p && p != u &&
	    __atomic_load_n(&p->peer, __ATOMIC_RELAXED) != u &&
	    __atomic_load_n(&p->rq_count, __ATOMIC_RELAXED) >= UNIX_MAX_DGRAM_QLEN)
		return false;
	return true;
}

static void raise_sigpipe(struct task *t, int flags)
{
	struct linux_siginfo info;

	if (flags & LINUX_MSG_NOSIGNAL)
		return;
	siginfo_kill(&info, 13 /* SIGPIPE */, LINUX_SI_USER, t);
	signal_send_thread(t, &info);
}

/* ---- stream send -------------------------------------------------------------------------------- */

struct room_ctx {
	struct unix_sock *u;
};

static long stream_room(void *arg)
{
	struct unix_sock *u = ((struct room_ctx *)arg)->u;
	long r = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->shutdown & UNIX_SEND_SHUTDOWN) &&
	    __atomic_load_n(&u->wmem, __ATOMIC_RELAXED) >= (uint64_t)u->sndbuf)
		r = -EAGAIN;
	pthread_mutex_unlock(&u->lock);
	return r;
}

/* Queues msg on the peer; -EPIPE when it no longer reads. */
static int stream_deliver(struct unix_sock *p, struct unix_msg *msg)
{
	pthread_mutex_lock(&p->lock);
	if (p->dead || (p->shutdown & UNIX_RCV_SHUTDOWN)) {
		pthread_mutex_unlock(&p->lock);
		return -EPIPE;
	}
	enqueue(p, msg);
	pthread_mutex_unlock(&p->lock);
	unix_wake(p, POLL_READABLE);
	return 0;
}

/* Takes a reference to u's peer when u may send; else the error. */
static int stream_peer(struct unix_sock *u, struct unix_sock **peer)
{
	int r = 0;

	pthread_mutex_lock(&u->lock);
	if (!u->peer || u->state != UNIX_CONNECTED)
		r = -ENOTCONN;
	else if (u->shutdown & UNIX_SEND_SHUTDOWN)
		r = -EPIPE;
	else
		unix_get(*peer = u->peer);
	pthread_mutex_unlock(&u->lock);
	return r;
}

static ssize_t stream_send(struct unix_sock *u, struct task *t, struct sock_msg *m, int flags,
			   struct unix_scm *scm)
{
	struct room_ctx rc = {.u = u};
	uint64_t deadline = net_deadline(u->sock.sndtimeo_ns);
	size_t sent = 0, total = m->data.count;
	struct unix_sock *p = NULL;
	long r = 0;

	if (m->name)
		return u->state == UNIX_CONNECTED ? -EISCONN : -EOPNOTSUPP;
	if ((r = stream_peer(u, &p)) < 0)
		goto out;
	while (sent < total) {
		size_t chunk = MIN(total - sent, UNIX_STREAM_CHUNK), len;
		struct unix_msg *msg;

		chunk = MIN(chunk, (size_t)(u->sndbuf / 2 - 64));
		r = socket_wait(t, &u->sock.wq, LINUX_POLLOUT, flags & LINUX_MSG_DONTWAIT, deadline,
				stream_room, &rc);
		if (r < 0)
			break;
		if (u->shutdown & UNIX_SEND_SHUTDOWN) {
			r = -EPIPE;
			break;
		}
		if (!(msg = msg_alloc(u, chunk))) {
			r = -ENOMEM;
			break;
		}
		r = msg_iter_copy_from(&m->data, msg->data, chunk);
		if (r >= 0 && (size_t)r < chunk)
			msg->len = (size_t)r;
		msg_attach(msg, scm, sent == 0);
		len = msg->len; /* once delivered, msg is the reader's (and may be gone) */
		if (r < 0 || (r = stream_deliver(p, msg)) < 0) {
			unix_msg_free(msg);
			break;
		}
		sent += len;
		if (len < chunk) {
			r = -EFAULT;
			break;
		}
	}
	unix_put(p);
out:
	if (r == -EPIPE && !sent)
		raise_sigpipe(t, flags);
	return sent ? (ssize_t)sent : r;
}

/* ---- datagram and seqpacket send ------------------------------------------------------------------ */

struct dgram_ctx {
	struct unix_sock *u, *to;
	struct unix_msg *msg;
};

static long dgram_deliver(void *arg)
{
	struct dgram_ctx *c = arg;
	struct unix_sock *to = c->to, *u = c->u;
	long r = 0;

	pthread_mutex_lock(&to->lock);
	if (to->dead)
		r = u->sock.type == LINUX_SOCK_SEQPACKET ? -EPIPE : -ECONNREFUSED;
	else if (u->sock.type == LINUX_SOCK_DGRAM && to->peer && to->peer != u)
		r = -EPERM;
	else if (to->shutdown & UNIX_RCV_SHUTDOWN)
		r = -EPIPE;
	else if (to != u && to->peer != u && to->rq_count >= UNIX_MAX_DGRAM_QLEN)
		r = -EAGAIN;
	else if (__atomic_load_n(&u->wmem, __ATOMIC_RELAXED) >= (uint64_t)u->sndbuf)
		r = -EAGAIN;
	else
		enqueue(to, c->msg);
	pthread_mutex_unlock(&to->lock);
	if (r == 0)
		unix_wake(to, POLL_READABLE);
	return r;
}

/* The destination of a datagram: the named socket or the peer (new reference). */
static int dgram_target(struct unix_sock *u, struct task *t, const struct sock_msg *m,
			struct unix_sock **to)
{
	union unix_sockaddr sa;
	struct unix_name_key key;
	uint32_t alen;
	int r;

	if (m->name && u->sock.type == LINUX_SOCK_DGRAM) {
		r = unix_parse_addr(m->name, m->namelen, &key, &sa, &alen);
		if (r)
			return r < 0 ? r : -EINVAL;
		if ((r = unix_find(t, &key, LINUX_SOCK_DGRAM, to)) < 0)
			return r;
		if ((*to)->sock.type != LINUX_SOCK_DGRAM) {
			unix_put(*to);
			return -EPROTOTYPE;
		}
		return 0;
	}
	pthread_mutex_lock(&u->lock);
	r = u->peer ? 0 : -ENOTCONN;
	if (u->peer)
		unix_get(*to = u->peer);
	pthread_mutex_unlock(&u->lock);
	return r;
}

/* A datagram to a closed peer disconnects us (Linux returns ECONNREFUSED once). */
static void drop_dead_peer(struct unix_sock *u, struct unix_sock *to)
{
	struct unix_sock *old = NULL;

	pthread_mutex_lock(&u->lock);
	if (u->peer == to) {
		old = u->peer;
		u->peer = NULL;
		u->state = UNIX_UNCONNECTED;
	}
	pthread_mutex_unlock(&u->lock);
	unix_put(old);
}

static ssize_t dgram_send(struct unix_sock *u, struct task *t, struct sock_msg *m, int flags,
			  struct unix_scm *scm)
{
	struct dgram_ctx c = {.u = u};
	size_t len = m->data.count;
	ssize_t r;

	if (u->sock.type == LINUX_SOCK_SEQPACKET) {
		pthread_mutex_lock(&u->lock);
		r = u->err ? -u->err : u->state != UNIX_CONNECTED ? -ENOTCONN : 0;
		u->err = 0;
		pthread_mutex_unlock(&u->lock);
		if (r < 0)
			return r;
	}
	if (u->passcred && !u->addr && (r = unix_autobind(u)) < 0)
		return r;
	if (len > (size_t)u->sndbuf - 32)
		return -EMSGSIZE;
	if ((r = dgram_target(u, t, m, &c.to)) < 0)
		return r;
	if (!(c.msg = msg_alloc(u, len))) {
		unix_put(c.to);
		return -ENOMEM;
	}
	if ((r = msg_iter_copy_from(&m->data, c.msg->data, len)) >= 0 && (size_t)r < len)
		r = -EFAULT;
	if (r >= 0) {
		msg_attach(c.msg, scm, true);
		r = socket_wait2(t, &c.to->sock.wq, &u->sock.wq, LINUX_POLLOUT,
				 flags & LINUX_MSG_DONTWAIT, net_deadline(u->sock.sndtimeo_ns),
				 dgram_deliver, &c);
	}
	if (r == -ECONNREFUSED)
		drop_dead_peer(u, c.to);
	if (r < 0)
		unix_msg_free(c.msg);
	unix_put(c.to);
	return r < 0 ? r : (ssize_t)len;
}

ssize_t unix_sendmsg(struct socket *s, struct task *t, struct sock_msg *m, int flags)
{
	struct unix_sock *u = unix_sk(s);
	struct unix_scm scm = {0};
	ssize_t r;

	if (flags & LINUX_MSG_OOB)
		return -EOPNOTSUPP;
	if ((r = scm_parse(t, m, &scm)) < 0)
		return r;
	if (s->type == LINUX_SOCK_STREAM)
		r = stream_send(u, t, m, flags, &scm);
	else
		r = dgram_send(u, t, m, flags, &scm);
	scm_drop(&scm);
	return r;
}
