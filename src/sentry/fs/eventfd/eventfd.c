/*
 * eventfd: a 64-bit counter.  Reads take the whole count (or 1 in semaphore mode) and block
 * while it is zero; writes add and block while the sum would reach 2^64 - 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define EVENTFD_MAX (~0ull - 1) /* the counter never reaches ULLONG_MAX */

struct eventfd {
	pthread_mutex_t lock;
	uint64_t count;
	bool semaphore;
	struct waitqueue wq;
};

struct eventfd_op {
	struct eventfd *e;
	uint64_t val;
};

static long try_read(void *arg)
{
	struct eventfd_op *op = arg;
	struct eventfd *e = op->e;

	pthread_mutex_lock(&e->lock);
	if (!e->count) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	op->val = e->semaphore ? 1 : e->count;
	e->count -= op->val;
	pthread_mutex_unlock(&e->lock);
	waitqueue_wake(&e->wq, POLL_WRITABLE);
	return 8;
}

static ssize_t eventfd_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct eventfd_op op = {.e = f->priv};
	long r;

	if (n < 8)
		return -EINVAL;
	r = wait_event(t, &op.e->wq, POLL_READABLE, f->flags & O_NONBLOCK, try_read, &op);
	if (r > 0)
		memcpy(buf, &op.val, 8);
	return r;
}

static long try_write(void *arg)
{
	struct eventfd_op *op = arg;
	struct eventfd *e = op->e;

	pthread_mutex_lock(&e->lock);
	if (EVENTFD_MAX - e->count < op->val) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	e->count += op->val;
	pthread_mutex_unlock(&e->lock);
	waitqueue_wake(&e->wq, POLL_READABLE);
	return 8;
}

static ssize_t eventfd_write(struct file *f, struct task *t, const void *buf, size_t n,
			     int64_t *pos)
{
	struct eventfd_op op = {.e = f->priv};

	if (n < 8)
		return -EINVAL;
	memcpy(&op.val, buf, 8);
	if (op.val == ~0ull)
		return -EINVAL;
	return wait_event(t, &op.e->wq, POLL_WRITABLE, f->flags & O_NONBLOCK, try_write, &op);
}

static unsigned eventfd_poll(struct file *f, struct poll_table *pt)
{
	struct eventfd *e = f->priv;
	unsigned mask = 0;

	poll_wait(pt, &e->wq);
	pthread_mutex_lock(&e->lock);
	if (e->count)
		mask |= POLL_READABLE;
	if (e->count < EVENTFD_MAX)
		mask |= POLL_WRITABLE;
	pthread_mutex_unlock(&e->lock);
	return mask;
}

static void eventfd_release(struct file *f)
{
	struct eventfd *e = f->priv;

	pthread_mutex_destroy(&e->lock);
	free(e);
}

static const struct file_ops eventfd_ops = {
	.read = eventfd_read,
	.write = eventfd_write,
	.poll = eventfd_poll,
	.release = eventfd_release,
};

struct file *eventfd_file_new(struct task *t, uint64_t initval, unsigned flags)
{
	struct eventfd *e = calloc(1, sizeof(*e));
	struct file *f;

	if (!e)
		return ERR_PTR(-ENOMEM);
	pthread_mutex_init(&e->lock, NULL);
	waitqueue_init(&e->wq);
	e->count = initval;
	e->semaphore = flags & EVENTFD_SEMAPHORE;
	f = anon_file_new(&t->k->vfs, 0600, &eventfd_ops, O_RDWR | (flags & O_NONBLOCK),
			  "anon_inode:[eventfd]", e);
	if (IS_ERR(f))
		free(e);
	return f;
}
