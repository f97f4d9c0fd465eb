/*
 * The core of poll(2), ppoll(2), select(2) and pselect6(2): look at every file once with a
 * poll table that hangs a task-waking waiter on each wait queue the files name, then sleep on
 * the task's wake sequence until one of them (or a signal, or the deadline) wakes it, and
 * look again without registering.  The table holds a reference to each file it registered
 * with, so a descriptor closed meanwhile cannot free a wait queue under a waiter.
 *
 * Also wait_event(), the try/sleep loop the event files' blocking reads and writes share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define CHUNK_ENTRIES 32

struct poll_entry {
	struct waiter w;
	struct waitqueue *wq;
	struct file *file; /* reference */
};

/* Entries live in chunks that never move: their waiters are linked into wait queues. */
struct poll_chunk {
	struct poll_chunk *next;
	int used;
	struct poll_entry e[CHUNK_ENTRIES];
};

struct poll_set {
	struct poll_table pt;
	struct file *cur; /* the file being polled */
	struct poll_chunk *chunks;
	int error;
};

static void poll_set_queue(struct poll_table *pt, struct waitqueue *wq)
{
	struct poll_set *ps = container_of(pt, struct poll_set, pt);
	struct poll_chunk *c = ps->chunks;
	struct poll_entry *e;

	if (!c || c->used == CHUNK_ENTRIES) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			ps->error = -ENOMEM;
			return;
		}
		c->next = ps->chunks;
		ps->chunks = c;
	}
	e = &c->e[c->used++];
	e->wq = wq;
	e->file = ps->cur;
	file_get(e->file);
	/* Any event wakes: a spurious look is cheap, a filter that misses one is not. */
	waitqueue_add(wq, &e->w, pt->task, ~0ull);
}

static void poll_set_free(struct poll_set *ps)
{
	struct poll_chunk *c, *next;

	for (c = ps->chunks; c; c = next) {
		next = c->next;
		for (int i = 0; i < c->used; i++) {
			waitqueue_remove(c->e[i].wq, &c->e[i].w);
			file_put(c->e[i].file);
		}
		free(c);
	}
	ps->chunks = NULL;
}

/* One look at every descriptor; registers with pt when register_ is set. */
static long poll_scan(struct task *t, struct poll_set *ps, struct poll_req *reqs, size_t n,
		      bool register_)
{
	struct poll_table nowait = {.task = t};
	long count = 0;

	for (size_t i = 0; i < n; i++) {
		struct poll_req *r = &reqs[i];
		struct file *f;

		r->revents = 0;
		if (r->fd < 0)
			continue;
		f = fd_get(t->files, r->fd);
		if (!f) {
			r->revents = LINUX_POLLNVAL;
			count++;
			continue;
		}
		ps->cur = f;
		ps->pt.events = r->events;
		r->revents = vfs_poll(f, register_ ? &ps->pt : &nowait) & r->events;
		file_put(f);
		if (r->revents) {
			count++;
			register_ = false; /* something is ready: no need to wait any more */
		}
	}
	return count;
}

long poll_fds(struct task *t, struct poll_req *reqs, size_t n, uint64_t deadline, bool nowait)
{
	struct poll_set ps = {.pt = {.queue = poll_set_queue, .task = t}};
	bool first = !nowait, timed_out = false;
	long count;

	for (;;) {
		uint32_t seq = task_wake_seq(t);

		count = poll_scan(t, &ps, reqs, n, first);
		first = false;
		if (count || nowait || timed_out)
			break;
		if (ps.error) {
			count = ps.error;
			break;
		}
		switch (task_block(t, seq, deadline)) {
		case -EINTR:
			count = -EINTR;
			goto out;
		case -ETIMEDOUT:
			timed_out = true; /* one last look, as Linux does */
			break;
		}
	}
out:
	poll_set_free(&ps);
	return count;
}

long wait_event(struct task *t, struct waitqueue *wq, uint64_t events, bool nonblock,
		long (*try)(void *arg), void *arg)
{
	struct waiter w = {0};
	bool waiting = false;
	long r;

	for (;;) {
		uint32_t seq = task_wake_seq(t);

		r = try(arg);
		if (r != -EAGAIN || nonblock)
			break;
		if (!waiting) {
			waitqueue_add(wq, &w, t, events);
			waiting = true;
			continue; /* look again now that no wake-up can be missed */
		}
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	if (waiting)
		waitqueue_remove(wq, &w);
	return r;
}
