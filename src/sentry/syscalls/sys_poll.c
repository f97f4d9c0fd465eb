/* Readiness syscalls: poll, ppoll, select, pselect6, epoll_*. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/poll.h"
#include "syscalls_internal.h"

#define O_CLOEXEC_ 02000000
#define NS_PER_SEC 1000000000ull
#define EPOLL_BATCH 4096 /* events collected per epoll_wait call, at most */

/* select's event sets (Linux fs/select.c). */
#define IN_SET (LINUX_POLLRDNORM | LINUX_POLLRDBAND | LINUX_POLLIN | LINUX_POLLHUP | LINUX_POLLERR)
#define OUT_SET (LINUX_POLLWRBAND | LINUX_POLLWRNORM | LINUX_POLLOUT | LINUX_POLLERR)
#define EX_SET LINUX_POLLPRI

/* A timeout: deadline (CLOCK_MONOTONIC ns, 0 = none) or nowait for a zero one. */
struct timeout {
	uint64_t deadline;
	bool nowait;
	bool given; /* write back the time left (ppoll, select, pselect6) */
};

static void timeout_after(struct timeout *to, uint64_t ns)
{
	uint64_t now = clock_mono_ns();

	to->given = true;
	to->nowait = ns == 0;
	to->deadline = ns > UINT64_MAX - now ? 0 : now + ns; /* centuries away: none */
}

/* From a guest timespec (uts 0: none). */
static int timeout_ts(struct task *t, uint64_t uts, struct timeout *to)
{
	struct linux_timespec ts;

	memset(to, 0, sizeof(*to));
	if (!uts)
		return 0;
	if (copy_in_all(t, uts, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= (int64_t)NS_PER_SEC)
		return -EINVAL;
	if ((uint64_t)ts.tv_sec > (UINT64_MAX - NS_PER_SEC) / NS_PER_SEC)
		ts.tv_sec = (int64_t)((UINT64_MAX - NS_PER_SEC) / NS_PER_SEC);
	timeout_after(to, (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec);
	return 0;
}

/* From milliseconds (negative: none). */
static void timeout_ms(int ms, struct timeout *to)
{
	memset(to, 0, sizeof(*to));
	if (ms >= 0)
		timeout_after(to, (uint64_t)ms * 1000000ull);
	to->given = false;
}

static uint64_t time_left(const struct timeout *to)
{
	uint64_t now = clock_mono_ns();

	return to->deadline > now ? to->deadline - now : 0;
}

/* Writes the time left back as a timespec or timeval, as Linux does; an interrupted call
 * that cannot becomes -EINTR (it must not restart with the old timeout). */
static long write_back(struct task *t, uint64_t uaddr, const struct timeout *to, bool tv, long r)
{
	uint64_t left = time_left(to);
	struct linux_timespec ts = {(int64_t)(left / NS_PER_SEC), (int64_t)(left % NS_PER_SEC)};
	struct linux_timeval v = {ts.tv_sec, ts.tv_nsec / 1000};

	if (!to->given || !to->deadline)
		return r;
	if (tv ? copy_out_all(t, uaddr, &v, sizeof(v)) : copy_out_all(t, uaddr, &ts, sizeof(ts)))
		return r == -ERESTARTNOHAND ? -EINTR : r;
	return r;
}

/* ppoll/pselect6/epoll_pwait: the temporary signal mask. */
static int sigmask_set(struct task *t, uint64_t umask, uint64_t size, bool *set)
{
	linux_sigset_t m;

	*set = false;
	if (!umask)
		return 0;
	if (size != sizeof(m))
		return -EINVAL;
	if (copy_in_all(t, umask, &m, sizeof(m)) < 0)
		return -EFAULT;
	t->saved_sigmask = t->sigmask;
	signal_set_mask(t, m);
	*set = true;
	return 0;
}

/* Interrupted: the mask stays until the handler's frame is built, which then restores it. */
static long sigmask_done(struct task *t, bool set, long r)
{
	if (!set)
		return r;
	if (r == -EINTR || r == -ERESTARTNOHAND)
		t->restore_sigmask = true;
	else
		signal_set_mask(t, t->saved_sigmask);
	return r;
}

static int nofile(struct task *t)
{
	return (int)MIN(task_rlimit(t, 7 /* RLIMIT_NOFILE */), (uint64_t)(1 << 20));
}

/* ---- poll, ppoll ----------------------------------------------------------------------- */

static long do_poll(struct task *t, uint64_t ufds, uint64_t nfds, const struct timeout *to)
{
	struct linux_pollfd *pfds;
	struct poll_req *reqs;
	long r;

	if (nfds > (uint64_t)nofile(t))
		return -EINVAL;
	pfds = malloc(nfds * sizeof(*pfds) + 1);
	reqs = malloc(nfds * sizeof(*reqs) + 1);
	if (!pfds || !reqs) {
		r = -ENOMEM;
		goto out;
	}
	if (copy_in_all(t, ufds, pfds, nfds * sizeof(*pfds)) < 0) {
		r = -EFAULT;
		goto out;
	}
	for (uint64_t i = 0; i < nfds; i++)
		reqs[i] = (struct poll_req){.fd = pfds[i].fd,
					    .events = (uint16_t)pfds[i].events | LINUX_POLLERR |
						      LINUX_POLLHUP};
	r = poll_fds(t, reqs, nfds, to->deadline, to->nowait);
	for (uint64_t i = 0; i < nfds; i++)
		pfds[i].revents = (int16_t)reqs[i].revents;
	if (copy_out_all(t, ufds, pfds, nfds * sizeof(*pfds)) < 0)
		r = -EFAULT;
out:
	free(pfds);
	free(reqs);
	return r;
}

static long poll_restart(struct task *t)
{
	struct timeout to = {.deadline = t->restart_block[2]};
	long r;

	to.nowait = clock_mono_ns() >= to.deadline;
	r = do_poll(t, t->restart_block[0], t->restart_block[1], &to);
	if (r == -EINTR)
		t->restart_fn = poll_restart;
	return r == -EINTR ? -ERESTART_RESTARTBLOCK : r;
}

/* Implements Linux poll(2). */
SYSCALL(poll)
{
	struct timeout to;
	long r;

	timeout_ms(IARG(2), &to);
	r = do_poll(t, ARG(0), ARG(1), &to);
	if (r != -EINTR)
		return r;
	if (!to.deadline)
		return -ERESTARTNOHAND;
	t->restart_block[0] = ARG(0);
	t->restart_block[1] = ARG(1);
	t->restart_block[2] = to.deadline;
	t->restart_fn = poll_restart;
	return -ERESTART_RESTARTBLOCK;
}

/* Implements Linux ppoll(2). */
SYSCALL(ppoll)
{
	struct timeout to;
	bool masked;
	long r;

	if ((r = timeout_ts(t, ARG(2), &to)) < 0)
		return r;
	if ((r = sigmask_set(t, ARG(3), ARG(4), &masked)) < 0)
		return r;
	r = do_poll(t, ARG(0), ARG(1), &to);
	r = write_back(t, ARG(2), &to, false, r == -EINTR ? -ERESTARTNOHAND : r);
	return sigmask_done(t, masked, r);
}

/* ---- select, pselect6 ------------------------------------------------------------------ */

struct fdsets {
	uint64_t *bits[3]; /* in, out, ex (NULL: not given) */
	uint64_t uaddr[3];
	size_t words;
};

static int fdsets_in(struct task *t, struct fdsets *s, int n)
{
	for (int i = 0; i < 3; i++) {
		if (!s->uaddr[i])
			continue;
		if (!(s->bits[i] = calloc(s->words + 1, sizeof(uint64_t))))
			return -ENOMEM;
		if (copy_in_all(t, s->uaddr[i], s->bits[i], s->words * 8) < 0)
			return -EFAULT;
		if (n % 64)
			s->bits[i][s->words - 1] &= (1ull << (n % 64)) - 1;
	}
	return 0;
}

static bool fdset_has(const struct fdsets *s, int set, int fd)
{
	return s->bits[set] && (s->bits[set][fd / 64] >> (fd % 64) & 1);
}

/* Rewrites the sets with what is ready; returns the number of bits set. */
static long fdsets_out(struct task *t, struct fdsets *s, const struct poll_req *reqs, size_t n)
{
	static const unsigned masks[3] = {IN_SET, OUT_SET, EX_SET};
	long count = 0;

	for (int i = 0; i < 3; i++)
		if (s->bits[i])
			memset(s->bits[i], 0, s->words * 8);
	for (size_t k = 0; k < n; k++) {
		for (int i = 0; i < 3; i++) {
			if (!s->bits[i] || !(reqs[k].events & reqs[k].revents & masks[i]))
				continue;
			s->bits[i][reqs[k].fd / 64] |= 1ull << (reqs[k].fd % 64);
			count++;
		}
	}
	for (int i = 0; i < 3; i++)
		if (s->bits[i] && copy_out_all(t, s->uaddr[i], s->bits[i], s->words * 8) < 0)
			return -EFAULT;
	return count;
}

/* The wanted sets of fd, as events; a want only counts for a set that was given. */
static unsigned wanted(const struct fdsets *s, int fd)
{
	return (fdset_has(s, 0, fd) ? IN_SET : 0) | (fdset_has(s, 1, fd) ? OUT_SET : 0) |
	       (fdset_has(s, 2, fd) ? EX_SET : 0);
}

static long do_select(struct task *t, int n, const uint64_t uset[3], const struct timeout *to)
{
	struct fdsets s = {.uaddr = {uset[0], uset[1], uset[2]}};
	struct poll_req *reqs = NULL;
	size_t nreq = 0;
	long r;

	if (n < 0)
		return -EINVAL;
	pthread_mutex_lock(&t->files->lock);
	n = MIN(n, t->files->cap); /* descriptors past the table cannot be open: ignored */
	pthread_mutex_unlock(&t->files->lock);
	s.words = ((size_t)n + 63) / 64;
	if ((r = fdsets_in(t, &s, n)) < 0)
		goto out;
	if (!(reqs = malloc((size_t)n * sizeof(*reqs) + 1))) {
		r = -ENOMEM;
		goto out;
	}
	for (int fd = 0; fd < n; fd++)
		if (wanted(&s, fd))
			reqs[nreq++] = (struct poll_req){.fd = fd, .events = wanted(&s, fd)};
	r = poll_fds(t, reqs, nreq, to->deadline, to->nowait);
	for (size_t k = 0; k < nreq && r >= 0; k++)
		if (reqs[k].revents & LINUX_POLLNVAL)
			r = -EBADF;
	if (r >= 0)
		r = fdsets_out(t, &s, reqs, nreq);
out:
	for (int i = 0; i < 3; i++)
		free(s.bits[i]);
	free(reqs);
	return r == -EINTR ? -ERESTARTNOHAND : r;
}

/* Implements Linux select(2). */
SYSCALL(select)
{
	const uint64_t sets[3] = {ARG(1), ARG(2), ARG(3)};
	struct linux_timeval tv;
	struct timeout to = {0};

	if (ARG(4)) {
		if (copy_in_all(t, ARG(4), &tv, sizeof(tv)) < 0)
			return -EFAULT;
		/* Linux folds whole seconds out of tv_usec first. */
		tv.tv_sec += tv.tv_usec / 1000000;
		tv.tv_usec %= 1000000;
		if (tv.tv_sec < 0 || tv.tv_usec < 0)
			return -EINVAL;
		tv.tv_sec = MIN(tv.tv_sec, (int64_t)(UINT64_MAX / NS_PER_SEC) - 1);
		timeout_after(&to, (uint64_t)tv.tv_sec * NS_PER_SEC + (uint64_t)tv.tv_usec * 1000);
	}
	return write_back(t, ARG(4), &to, true, do_select(t, IARG(0), sets, &to));
}

/* Implements Linux pselect6(2). */
SYSCALL(pselect6)
{
	const uint64_t sets[3] = {ARG(1), ARG(2), ARG(3)};
	struct linux_sigset_argpack pack = {0};
	struct timeout to;
	bool masked = false;
	long r;

	if ((r = timeout_ts(t, ARG(4), &to)) < 0)
		return r;
	if (ARG(5) && copy_in_all(t, ARG(5), &pack, sizeof(pack)) < 0)
		return -EFAULT;
	if ((r = sigmask_set(t, pack.ss, pack.ss_len, &masked)) < 0)
		return r;
	r = write_back(t, ARG(4), &to, false, do_select(t, IARG(0), sets, &to));
	return sigmask_done(t, masked, r);
}

/* ---- epoll ------------------------------------------------------------------------------ */

static long new_epoll(struct task *t, bool cloexec)
{
	struct file *f = epoll_file_new(t);
	long r;

	if (IS_ERR(f))
		return PTR_ERR(f);
	r = fd_install(t->files, f, cloexec, 0, nofile(t));
	file_put(f);
	return r;
}

/* Implements Linux epoll_create(2). */
SYSCALL(epoll_create)
{
	return IARG(0) <= 0 ? -EINVAL : new_epoll(t, false);
}

/* Implements Linux epoll_create1(2). */
SYSCALL(epoll_create1)
{
	return IARG(0) & ~O_CLOEXEC_ ? -EINVAL : new_epoll(t, IARG(0) & O_CLOEXEC_);
}

/* Implements Linux epoll_ctl(2). Deviations: EPOLLEXCLUSIVE wakes every waiter (it is
 * accepted and checked, but no wake-up is exclusive); EPOLLWAKEUP is ignored. */
SYSCALL(epoll_ctl)
{
	struct linux_epoll_event ev = {0};
	struct file *epf, *target;
	long r;

	if (IARG(1) != LINUX_EPOLL_CTL_DEL && copy_in_all(t, ARG(3), &ev, sizeof(ev)) < 0)
		return -EFAULT;
	if (!(epf = fd_get(t->files, IARG(0))))
		return -EBADF;
	if (!(target = fd_get(t->files, IARG(2)))) {
		file_put(epf);
		return -EBADF;
	}
	r = epoll_ctl_file(t, epf, IARG(1), IARG(2), target, &ev);
	file_put(target);
	file_put(epf);
	return r;
}

static long do_epoll_wait(struct task *t, int epfd, uint64_t uevents, int max,
			  const struct timeout *to)
{
	struct linux_epoll_event *buf;
	struct file *f;
	long r;

	if (max <= 0 || max > INT_MAX / (int)sizeof(*buf))
		return -EINVAL;
	if (!(f = fd_get(t->files, epfd)))
		return -EBADF;
	max = MIN(max, EPOLL_BATCH);
	if (!file_is_epoll(f))
		r = -EINVAL;
	else if (!(buf = malloc((size_t)max * sizeof(*buf))))
		r = -ENOMEM;
	else {
		r = epoll_wait_file(t, f, buf, max, to->deadline, to->nowait);
		if (r > 0 && copy_out_all(t, uevents, buf, (size_t)r * sizeof(*buf)) < 0)
			r = -EFAULT;
		free(buf);
	}
	file_put(f);
	return r;
}

/* Implements Linux epoll_wait(2). */
SYSCALL(epoll_wait)
{
	struct timeout to;

	timeout_ms(IARG(3), &to);
	return do_epoll_wait(t, IARG(0), ARG(1), IARG(2), &to);
}

/* Implements Linux epoll_pwait(2). */
SYSCALL(epoll_pwait)
{
	struct timeout to;
	bool masked;
	long r;

	timeout_ms(IARG(3), &to);
	if ((r = sigmask_set(t, ARG(4), ARG(5), &masked)) < 0)
		return r;
	return sigmask_done(t, masked, do_epoll_wait(t, IARG(0), ARG(1), IARG(2), &to));
}

/* Implements Linux epoll_pwait2(2). */
SYSCALL(epoll_pwait2)
{
	struct timeout to;
	bool masked;
	long r;

	if ((r = timeout_ts(t, ARG(3), &to)) < 0)
		return r;
	if ((r = sigmask_set(t, ARG(4), ARG(5), &masked)) < 0)
		return r;
	return sigmask_done(t, masked, do_epoll_wait(t, IARG(0), ARG(1), IARG(2), &to));
}
