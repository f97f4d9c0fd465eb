/*
 * ttys: lifetime, and blocking reads and writes of both sides of a pty.  Reads honour
 * ICANON, VMIN and VTIME; a hung-up slave reads EOF and fails writes with EIO; a master
 * whose slave files have all closed reads EIO.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"
#include "dev_internal.h"

#define SIGTTIN_ 21
#define SIGTTOU_ 22
#define SIGWINCH_ 28
#define IN_EVENTS (LINUX_POLLIN | LINUX_POLLHUP)
#define OUT_EVENTS (LINUX_POLLOUT | LINUX_POLLHUP)
#define ALL_EVENTS (LINUX_POLLIN | LINUX_POLLOUT | LINUX_POLLHUP | LINUX_POLLERR)

struct tty *tty_new(struct kernel *k, struct devpts *pts, int index, uint32_t uid, uint32_t gid,
		    uint32_t mode)
{
	struct tty *tty = calloc(1, sizeof(*tty));

	if (!tty)
		return NULL;
	tty->refs = 1;
	pthread_mutex_init(&tty->lock, NULL);
	tty->k = k;
	tty->pts = pts;
	devpts_get(pts);
	tty->index = index;
	tty->uid = uid;
	tty->gid = gid;
	tty->mode = mode;
	ldisc_init_termios(&tty->termios);
	tty->locked = true;
	tty->masters = 1;
	waitqueue_init(&tty->swq);
	waitqueue_init(&tty->mwq);
	return tty;
}

void tty_get(struct tty *tty)
{
	__atomic_add_fetch(&tty->refs, 1, __ATOMIC_RELAXED);
}

void tty_put(struct tty *tty)
{
	if (!tty || __atomic_sub_fetch(&tty->refs, 1, __ATOMIC_ACQ_REL))
		return;
	tty_drop_session(tty);
	devpts_remove(tty->pts, tty);
	devpts_put(tty->pts);
	pthread_mutex_destroy(&tty->lock);
	free(tty);
}

int tty_index(const struct tty *tty)
{
	return tty->index;
}

struct waitqueue *tty_master_wq(struct tty *tty)
{
	return &tty->mwq;
}

/* ---- the slave side --------------------------------------------------------------------- */

int tty_slave_open(struct tty *tty, struct task *t, int flags)
{
	pthread_mutex_lock(&tty->lock);
	if (tty->locked || tty->hung_up) {
		pthread_mutex_unlock(&tty->lock);
		return -EIO;
	}
	tty->slaves++;
	tty->slave_closed = false;
	pthread_mutex_unlock(&tty->lock);
	if (!(flags & 0400 /* O_NOCTTY */) && t)
		tty_maybe_acquire(tty, t);
	return 0;
}

void tty_slave_release(struct tty *tty)
{
	pthread_mutex_lock(&tty->lock);
	if (--tty->slaves == 0)
		tty->slave_closed = true;
	pthread_mutex_unlock(&tty->lock);
	waitqueue_wake(&tty->mwq, ALL_EVENTS);
}

/* Is a non-canonical read of `done` bytes complete under VMIN/VTIME?  Sets the timer. */
static bool raw_read_done(const struct tty *tty, size_t done, size_t n, bool got,
			  uint64_t *deadline)
{
	unsigned vmin = tty->termios.c_cc[LINUX_VMIN], vtime = tty->termios.c_cc[LINUX_VTIME];
	uint64_t tmo = (uint64_t)vtime * 100000000ull;

	if (done >= n || done >= (vmin ? vmin : 1u))
		return true;
	if (!vmin && !vtime)
		return true; /* a polling read */
	if (vtime && !vmin && !*deadline)
		*deadline = clock_mono_ns() + tmo; /* one timer for the whole read */
	if (vtime && vmin && got)
		*deadline = clock_mono_ns() + tmo; /* an inter-byte timer */
	return false;
}

ssize_t tty_slave_read(struct tty *tty, struct task *t, uint8_t *buf, size_t n, bool nonblock)
{
	struct waiter w = {0};
	uint64_t deadline = 0;
	size_t done = 0;
	ssize_t r;

	if ((r = tty_check_job(tty, t, SIGTTIN_)) < 0)
		return r;
	waitqueue_add(&tty->swq, &w, t, IN_EVENTS);
	for (;;) {
		uint32_t seq = task_wake_seq(t);
		bool eof, finished, hung;
		size_t got;

		pthread_mutex_lock(&tty->lock);
		got = ldisc_read(tty, buf + done, n - done, &eof);
		done += got;
		if (tty->termios.c_lflag & LINUX_ICANON)
			finished = got || eof;
		else
			finished = raw_read_done(tty, done, n, got, &deadline);
		hung = tty->hung_up;
		pthread_mutex_unlock(&tty->lock);
		if (got || eof)
			waitqueue_wake(&tty->mwq, LINUX_POLLOUT);
		if (finished || hung)
			break;
		if (nonblock) {
			r = done ? (ssize_t)done : -EAGAIN;
			goto out;
		}
		r = task_block(t, seq, deadline);
		if (r == -EINTR) {
			r = done ? (ssize_t)done : -ERESTARTSYS;
			goto out;
		}
		if (r == -ETIMEDOUT)
			break;
	}
	r = (ssize_t)done;
out:
	waitqueue_remove(&tty->swq, &w);
	return r;
}

ssize_t tty_slave_write(struct tty *tty, struct task *t, const uint8_t *buf, size_t n,
			bool nonblock)
{
	struct waiter w = {0};
	size_t done = 0;
	ssize_t r = 0;
	bool tostop;

	pthread_mutex_lock(&tty->lock);
	tostop = tty->termios.c_lflag & LINUX_TOSTOP;
	pthread_mutex_unlock(&tty->lock);
	if (tostop && (r = tty_check_job(tty, t, SIGTTOU_)) < 0)
		return r;
	waitqueue_add(&tty->swq, &w, t, OUT_EVENTS);
	while (done < n) {
		uint32_t seq = task_wake_seq(t);
		size_t got = 0;
		bool hung;

		pthread_mutex_lock(&tty->lock);
		hung = tty->hung_up;
		if (!hung)
			got = ldisc_write(tty, buf + done, n - done);
		pthread_mutex_unlock(&tty->lock);
		if (got)
			waitqueue_wake(&tty->mwq, LINUX_POLLIN);
		done += got;
		r = hung ? -EIO : nonblock ? -EAGAIN : 0;
		if (done == n || r < 0)
			break;
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&tty->swq, &w);
	return done ? (ssize_t)done : r;
}

unsigned tty_slave_poll(struct tty *tty, struct poll_table *pt)
{
	unsigned m = 0;

	poll_wait(pt, &tty->swq);
	pthread_mutex_lock(&tty->lock);
	if (tty->hung_up) {
		m = LINUX_POLLIN | LINUX_POLLOUT | LINUX_POLLERR | LINUX_POLLHUP | LINUX_POLLRDNORM |
		    LINUX_POLLWRNORM;
	} else {
		if (ldisc_input_ready(tty))
			m |= LINUX_POLLIN | LINUX_POLLRDNORM;
		if (!tty->stopped && ldisc_output_len(tty) < TTY_OBUF)
			m |= LINUX_POLLOUT | LINUX_POLLWRNORM;
	}
	pthread_mutex_unlock(&tty->lock);
	return m;
}

/* ---- the master side -------------------------------------------------------------------- */

void tty_master_get(struct tty *tty)
{
	pthread_mutex_lock(&tty->lock);
	tty->masters++;
	pthread_mutex_unlock(&tty->lock);
	tty_get(tty);
}

size_t tty_receive(struct tty *tty, const uint8_t *buf, size_t n)
{
	uint64_t sigs = 0;
	size_t got, out_before;
	bool echoed;

	pthread_mutex_lock(&tty->lock);
	out_before = tty->ohead;
	got = ldisc_receive(tty, buf, n, &sigs);
	echoed = tty->ohead != out_before;
	pthread_mutex_unlock(&tty->lock);
	for (int sig = 1; sigs; sig++, sigs >>= 1)
		if (sigs & 1)
			tty_signal_fg(tty, sig);
	if (got) /* input to read, and output room after ^Q or a flush */
		waitqueue_wake(&tty->swq, LINUX_POLLIN | LINUX_POLLOUT);
	if (echoed)
		waitqueue_wake(&tty->mwq, LINUX_POLLIN);
	return got;
}

/* One step of input from the master: bytes taken, 0 when the queue is full, or -EIO. */
static ssize_t master_write_once(struct tty *tty, const uint8_t *buf, size_t n)
{
	int slaves;

	pthread_mutex_lock(&tty->lock);
	slaves = tty->slaves;
	pthread_mutex_unlock(&tty->lock);
	if (!slaves)
		return -EIO;
	return (ssize_t)tty_receive(tty, buf, n);
}

/* One step of output to the master: bytes taken, 0 when there is none, or -EIO. */
static ssize_t master_read_once(struct tty *tty, uint8_t *buf, size_t n)
{
	size_t got;
	bool closed;

	pthread_mutex_lock(&tty->lock);
	got = ldisc_take_output(tty, buf, n);
	closed = tty->slave_closed && tty->slaves == 0;
	pthread_mutex_unlock(&tty->lock);
	if (got) {
		waitqueue_wake(&tty->swq, LINUX_POLLOUT);
		return (ssize_t)got;
	}
	return closed ? -EIO : 0;
}

ssize_t tty_master_write(struct tty *tty, const void *buf, size_t n)
{
	ssize_t r = master_write_once(tty, buf, n);

	return r == 0 && n ? -EAGAIN : r;
}

ssize_t tty_master_read(struct tty *tty, void *buf, size_t n)
{
	ssize_t r = master_read_once(tty, buf, n);

	return r == 0 && n ? -EAGAIN : r;
}

ssize_t tty_master_write_wait(struct tty *tty, struct task *t, const uint8_t *buf, size_t n,
			      bool nonblock)
{
	struct waiter w = {0};
	size_t done = 0;
	ssize_t r = 0;

	waitqueue_add(&tty->mwq, &w, t, OUT_EVENTS);
	while (done < n) {
		uint32_t seq = task_wake_seq(t);

		r = master_write_once(tty, buf + done, n - done);
		if (r < 0)
			break;
		done += (size_t)r;
		if (done == n)
			break;
		if (r == 0 && nonblock) {
			r = -EAGAIN;
			break;
		}
		if (r == 0 && task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&tty->mwq, &w);
	return done ? (ssize_t)done : r;
}

ssize_t tty_master_read_wait(struct tty *tty, struct task *t, uint8_t *buf, size_t n,
			     bool nonblock)
{
	struct waiter w = {0};
	ssize_t r;

	if (!n)
		return 0;
	waitqueue_add(&tty->mwq, &w, t, IN_EVENTS);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		r = master_read_once(tty, buf, n);
		if (r != 0)
			break;
		if (nonblock) {
			r = -EAGAIN;
			break;
		}
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&tty->mwq, &w);
	return r;
}

unsigned tty_master_poll(struct tty *tty, struct poll_table *pt)
{
	unsigned m = 0;

	poll_wait(pt, &tty->mwq);
	pthread_mutex_lock(&tty->lock);
	if (ldisc_output_len(tty))
		m |= LINUX_POLLIN | LINUX_POLLRDNORM;
	if (tty->slave_closed && tty->slaves == 0)
		m |= LINUX_POLLHUP;
	if (ldisc_input_room(tty))
		m |= LINUX_POLLOUT | LINUX_POLLWRNORM;
	pthread_mutex_unlock(&tty->lock);
	return m;
}

void tty_master_close(struct tty *tty)
{
	bool last;

	pthread_mutex_lock(&tty->lock);
	last = --tty->masters == 0;
	if (last)
		tty->hung_up = true;
	pthread_mutex_unlock(&tty->lock);
	if (last) {
		tty_hangup_session(tty);
		devpts_remove(tty->pts, tty);
		waitqueue_wake(&tty->swq, ALL_EVENTS);
	}
	tty_put(tty);
}

void tty_set_winsize(struct tty *tty, const struct linux_winsize *ws)
{
	bool changed;

	pthread_mutex_lock(&tty->lock);
	changed = memcmp(&tty->ws, ws, sizeof(*ws)) != 0;
	tty->ws = *ws;
	pthread_mutex_unlock(&tty->lock);
	if (changed)
		tty_signal_fg(tty, SIGWINCH_);
}
