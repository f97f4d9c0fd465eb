/*
 * AF_UNIX socket options (SOL_SOCKET; other levels are EOPNOTSUPP as on Linux).  Options
 * that only matter to IP are stored and reported back without effect.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/sentry/task.h"
#include "unix_internal.h"

#define OVERFLOW_ID 65534u

/* Boolean options kept only to be read back. */
static bool stored_flag(int name)
{
	switch (name) {
	case LINUX_SO_DEBUG:
	case LINUX_SO_REUSEADDR:
	case LINUX_SO_DONTROUTE:
	case LINUX_SO_BROADCAST:
	case LINUX_SO_KEEPALIVE:
	case LINUX_SO_OOBINLINE:
	case LINUX_SO_NO_CHECK:
	case LINUX_SO_REUSEPORT:
	case LINUX_SO_TIMESTAMP_OLD:
	case LINUX_SO_TIMESTAMPNS_OLD:
	case LINUX_SO_PASSSEC:
	case LINUX_SO_ZEROCOPY:
		return true;
	}
	return false;
}

static int clamp_buf(int v, int min)
{
	int64_t d = (int64_t)v * 2; /* Linux doubles the request for bookkeeping */

	if (d < min)
		return min;
	return d > NET_MAX_BUF ? NET_MAX_BUF : (int)d;
}

int unix_setsockopt(struct socket *s, struct task *t, int level, int name, const void *val,
		    uint32_t len)
{
	struct unix_sock *u = unix_sk(s);
	struct linux_linger lg;
	int v, r;

	if (level != LINUX_SOL_SOCKET)
		return -EOPNOTSUPP;
	if (name == LINUX_SO_LINGER) {
		if (len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		pthread_mutex_lock(&u->lock);
		u->linger = lg;
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	if ((r = sockopt_get_int(val, len, &v)) < 0)
		return r;
	pthread_mutex_lock(&u->lock);
	switch (name) {
	case LINUX_SO_PASSCRED:
		u->passcred = v != 0;
		break;
	case LINUX_SO_SNDBUFFORCE:
	case LINUX_SO_RCVBUFFORCE:
		if (!cred_capable(t->cred, CAP_NET_ADMIN_)) {
			r = -EPERM;
			break;
		}
		if (name == LINUX_SO_SNDBUFFORCE)
			u->sndbuf = clamp_buf(v, NET_MIN_SNDBUF);
		else
			u->rcvbuf = clamp_buf(v, NET_MIN_RCVBUF);
		break;
	case LINUX_SO_SNDBUF:
		u->sndbuf = clamp_buf(v, NET_MIN_SNDBUF);
		break;
	case LINUX_SO_RCVBUF:
		u->rcvbuf = clamp_buf(v, NET_MIN_RCVBUF);
		break;
	case LINUX_SO_PRIORITY:
		if ((v < 0 || v > 6) && !cred_capable(t->cred, CAP_NET_ADMIN_))
			r = -EPERM;
		break;
	case LINUX_SO_RCVLOWAT:
	case LINUX_SO_PEEK_OFF:
		break;
	default:
		if (stored_flag(name)) {
			u->flag_opts = v ? u->flag_opts | (1u << name) : u->flag_opts & ~(1u << name);
			break;
		}
		r = -ENOPROTOOPT;
	}
	pthread_mutex_unlock(&u->lock);
	if (r == 0 && name == LINUX_SO_SNDBUF)
		unix_wake(u, POLL_WRITABLE);
	return r;
}

static int get_peercred(struct unix_sock *u, void *val, uint32_t *len)
{
	struct linux_ucred uc = {.pid = 0, .uid = OVERFLOW_ID, .gid = OVERFLOW_ID};

	if (u->has_peercred)
		uc = u->peercred;
	return sockopt_put(val, len, &uc, sizeof(uc));
}

/* u->lock held. */
static int get_locked(struct unix_sock *u, int name, void *val, uint32_t *len)
{
	int v;

	switch (name) {
	case LINUX_SO_PASSCRED:
		v = u->passcred;
		break;
	case LINUX_SO_SNDBUF:
		v = u->sndbuf;
		break;
	case LINUX_SO_RCVBUF:
		v = u->rcvbuf;
		break;
	case LINUX_SO_ERROR:
		v = u->err;
		u->err = 0;
		break;
	case LINUX_SO_ACCEPTCONN:
		v = u->state == UNIX_LISTENING;
		break;
	case LINUX_SO_PEERCRED:
		return get_peercred(u, val, len);
	case LINUX_SO_LINGER:
		return sockopt_put(val, len, &u->linger, sizeof(u->linger));
	case LINUX_SO_PRIORITY:
	case LINUX_SO_INCOMING_CPU:
		v = 0;
		break;
	case LINUX_SO_RCVLOWAT:
	case LINUX_SO_SNDLOWAT:
		v = 1;
		break;
	case LINUX_SO_PEEK_OFF:
		v = -1;
		break;
	default:
		if (!stored_flag(name))
			return -ENOPROTOOPT;
		v = (u->flag_opts >> name) & 1;
	}
	return sockopt_put_int(val, len, v);
}

int unix_getsockopt(struct socket *s, struct task *t, int level, int name, void *val,
		    uint32_t *len)
{
	struct unix_sock *u = unix_sk(s);
	int r;

	if (level != LINUX_SOL_SOCKET)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&u->lock);
	r = get_locked(u, name, val, len);
	pthread_mutex_unlock(&u->lock);
	return r;
}
