/*
 * The pipe buffer: a ring of page-sized slots, as Linux keeps it.  A write first tops up the
 * last slot with the sub-page remainder of its data when that fits whole, then fills fresh
 * slots a page at a time; so a write of up to PIPE_BUF either lands entirely or waits, and a
 * partly read slot still counts as used until it is empty (which is what decides POLLOUT).
 * Packet slots (written with O_DIRECT) are never topped up and are consumed whole by a read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"
#include "pipe_internal.h"

struct pipe *pipe_new(void)
{
	struct pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->nslots = PIPE_DEFAULT_SIZE / PIPE_PAGE;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	waitqueue_init(&p->wq);
	p->refs = 1;
	return p;
}

void pipe_get(struct pipe *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
}

void pipe_put(struct pipe *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (uint32_t i = p->tail; i != p->head; i++)
		free(pipe_slot_at(p, i)->page);
	free(p->slots);
	free(p->spare);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void pipe_open_ends(struct pipe *p, int readers, int writers)
{
	pthread_mutex_lock(&p->lock);
	p->readers += readers;
	p->writers += writers;
	p->r_counter += (unsigned)readers;
	p->w_counter += (unsigned)writers;
	pthread_mutex_unlock(&p->lock);
	waitqueue_wake(&p->wq, ~0ull); /* FIFO openers waiting for a partner */
}

void pipe_close_ends(struct pipe *p, int readers, int writers)
{
	uint64_t ev = 0;

	pthread_mutex_lock(&p->lock);
	p->readers -= readers;
	p->writers -= writers;
	if (readers && !p->readers)
		ev |= LINUX_POLLERR | PIPE_WAKE_WRITERS;
	if (writers && !p->writers)
		ev |= LINUX_POLLHUP | PIPE_WAKE_READERS;
	pthread_mutex_unlock(&p->lock);
	if (ev)
		waitqueue_wake(&p->wq, ev);
}

void pipe_slot_drop(struct pipe *p)
{
	struct pipe_slot *s = pipe_slot_at(p, p->tail);

	if (p->spare)
		free(s->page);
	else
		p->spare = s->page;
	s->page = NULL;
	p->tail++;
}

/* Moves up to n bytes out (p->lock held); sets *freed when a slot emptied. */
static size_t take(struct pipe *p, char *dst, size_t n, bool *freed)
{
	size_t done = 0;

	while (done < n && pipe_used(p)) {
		struct pipe_slot *s = pipe_slot_at(p, p->tail);
		size_t c = MIN((size_t)s->len, n - done);
		bool packet = s->packet;

		memcpy(dst + done, s->page + s->off, c);
		done += c;
		p->nbytes -= s->len;
		s->off += (uint32_t)c;
		s->len = packet ? 0 : s->len - (uint32_t)c; /* a packet's unread rest is dropped */
		p->nbytes += s->len;
		if (!s->len) {
			pipe_slot_drop(p);
			*freed = true;
		}
		if (packet)
			break;
	}
	return done;
}

ssize_t pipe_read(struct pipe *p, struct task *t, void *buf, size_t n, unsigned flags)
{
	struct waiter w = {0};
	bool waiting = false;
	ssize_t r;

	if (n == 0)
		return 0;
	for (;;) {
		uint32_t seq = task_wake_seq(t);
		bool freed = false;

		pthread_mutex_lock(&p->lock);
		/* While a splice passes data on, it is still queued but not for us yet. */
		r = p->rd_busy ? -EAGAIN : (ssize_t)take(p, buf, n, &freed);
		if (!r && p->writers)
			r = -EAGAIN;
		pthread_mutex_unlock(&p->lock);
		if (freed)
			waitqueue_wake(&p->wq, PIPE_WAKE_WRITERS);
		if (r != -EAGAIN || (flags & PIPE_NONBLOCK))
			break;
		if (!waiting) {
			waitqueue_add(&p->wq, &w, t, PIPE_WAKE_READERS | LINUX_POLLHUP);
			waiting = true;
			continue;
		}
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	if (waiting)
		waitqueue_remove(&p->wq, &w);
	return r;
}

char *pipe_page_alloc(struct pipe *p)
{
	char *page = p->spare;

	if (page) {
		p->spare = NULL;
		return page;
	}
	return malloc(PIPE_PAGE);
}

/* Tops up the last slot with the sub-page remainder of an n-byte write when it fits whole. */
static size_t merge(struct pipe *p, const char *src, size_t n, bool packet)
{
	size_t chars = n & (PIPE_PAGE - 1);
	struct pipe_slot *s;

	if (!chars || packet || !pipe_used(p))
		return 0;
	s = pipe_slot_at(p, p->head - 1);
	if (s->packet || s->nomerge || s->off + s->len + chars > PIPE_PAGE)
		return 0;
	memcpy(s->page + s->off + s->len, src, chars);
	s->len += (uint32_t)chars;
	p->nbytes += chars;
	return chars;
}

/* Fills free slots with up to n bytes (p->lock held); -ENOMEM when nothing could be. */
static ssize_t fill(struct pipe *p, const char *src, size_t n, bool packet)
{
	size_t done = 0;

	while (done < n && pipe_room(p)) {
		struct pipe_slot *s = pipe_slot_at(p, p->head);
		size_t c = MIN((size_t)PIPE_PAGE, n - done);

		if (!(s->page = pipe_page_alloc(p)))
			return done ? (ssize_t)done : -ENOMEM;
		memcpy(s->page, src + done, c);
		s->off = 0;
		s->len = (uint32_t)c;
		s->packet = packet;
		s->nomerge = false;
		p->head++;
		p->nbytes += c;
		done += c;
	}
	return (ssize_t)done;
}

ssize_t pipe_write(struct pipe *p, struct task *t, const void *buf, size_t n, unsigned flags)
{
	const char *src = buf;
	bool packet = flags & PIPE_PACKET, waiting = false;
	struct waiter w = {0};
	size_t done = 0;
	ssize_t r = 0;

	if (n == 0)
		return 0;
	for (bool first = true;; first = false) {
		uint32_t seq = task_wake_seq(t);
		size_t before = done;

		pthread_mutex_lock(&p->lock);
		if (!p->readers) {
			pthread_mutex_unlock(&p->lock);
			r = -EPIPE;
			break;
		}
		if (first)
			done += merge(p, src, n, packet);
		/* Atomic writes go in one slot or not at all. */
		if (done < n && (n > PIPE_ATOMIC_MAX || pipe_room(p))) {
			r = fill(p, src + done, n - done, packet);
			if (r > 0)
				done += (size_t)r;
		}
		pthread_mutex_unlock(&p->lock);
		if (done > before)
			waitqueue_wake(&p->wq, PIPE_WAKE_READERS);
		if (done == n || r < 0)
			break;
		if (flags & PIPE_NONBLOCK) {
			r = -EAGAIN;
			break;
		}
		if (!waiting) {
			waitqueue_add(&p->wq, &w, t, PIPE_WAKE_WRITERS | LINUX_POLLERR);
			waiting = true;
			continue;
		}
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	if (waiting)
		waitqueue_remove(&p->wq, &w);
	return done ? (ssize_t)done : r;
}

unsigned pipe_poll(struct pipe *p, bool reader, bool writer, unsigned w_seen,
		   struct poll_table *pt)
{
	unsigned mask = 0;

	poll_wait(pt, &p->wq);
	pthread_mutex_lock(&p->lock);
	if (reader) {
		if (pipe_used(p))
			mask |= POLL_READABLE;
		if (!p->writers && w_seen != p->w_counter)
			mask |= LINUX_POLLHUP;
	}
	if (writer) {
		if (pipe_room(p))
			mask |= POLL_WRITABLE;
		if (!p->readers)
			mask |= LINUX_POLLERR;
	}
	pthread_mutex_unlock(&p->lock);
	return mask;
}

size_t pipe_nread(struct pipe *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->nbytes;
	pthread_mutex_unlock(&p->lock);
	return n;
}

long pipe_get_size(struct pipe *p)
{
	long n;

	pthread_mutex_lock(&p->lock);
	n = (long)p->nslots * PIPE_PAGE;
	pthread_mutex_unlock(&p->lock);
	return n;
}

long pipe_set_size(struct pipe *p, uint64_t size, bool privileged)
{
	uint32_t nslots = 1;
	struct pipe_slot *ring;

	if (size > (1ull << 31))
		return -EINVAL;
	while ((uint64_t)nslots * PIPE_PAGE < size)
		nslots <<= 1;
	if ((uint64_t)nslots * PIPE_PAGE > PIPE_MAX_SIZE && !privileged)
		return -EPERM;
	ring = calloc(nslots, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	if (pipe_used(p) + p->resv > nslots) {
		pthread_mutex_unlock(&p->lock);
		free(ring);
		return -EBUSY;
	}
	for (uint32_t i = 0, n = pipe_used(p); i < n; i++)
		ring[i] = *pipe_slot_at(p, p->tail + i);
	free(p->slots);
	p->slots = ring;
	p->head = pipe_used(p);
	p->tail = 0;
	p->nslots = nslots;
	pthread_mutex_unlock(&p->lock);
	waitqueue_wake(&p->wq, PIPE_WAKE_WRITERS);
	return (long)nslots * PIPE_PAGE;
}

int pipe_fifo_join(struct pipe *p, struct task *t, bool rd, bool wr, bool nonblock,
		   unsigned *w_seen)
{
	const unsigned *counter = NULL;
	struct waiter w = {0};
	unsigned seen = 0;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (wr && !rd && nonblock && !p->readers) {
		pthread_mutex_unlock(&p->lock);
		return -ENXIO;
	}
	p->readers += rd;
	p->writers += wr;
	p->r_counter += rd;
	p->w_counter += wr;
	*w_seen = p->w_counter;
	if (rd && !wr && !p->writers && !nonblock)
		counter = &p->w_counter;
	else if (wr && !rd && !p->readers)
		counter = &p->r_counter;
	if (counter)
		seen = *counter;
	pthread_mutex_unlock(&p->lock);
	waitqueue_wake(&p->wq, ~0ull); /* openers of the other end waiting for us */
	if (!counter)
		return 0;
	waitqueue_add(&p->wq, &w, t, ~0ull);
	for (;;) {
		uint32_t seq = task_wake_seq(t);
		bool moved;

		pthread_mutex_lock(&p->lock);
		moved = *counter != seen;
		pthread_mutex_unlock(&p->lock);
		if (moved)
			break;
		if (task_block(t, seq, 0) == -EINTR) {
			r = -ERESTARTSYS;
			break;
		}
	}
	waitqueue_remove(&p->wq, &w);
	if (r < 0)
		pipe_close_ends(p, rd, wr);
	return r;
}
