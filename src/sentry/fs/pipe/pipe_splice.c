/*
 * Splicing through a pipe: data in from a producer (a file, guest memory), out to a consumer,
 * moved or copied between two pipes.  Linux hands page references around; here the bytes are
 * copied, but the shape of the pipe is Linux's: what a splice adds fills page slots of its own
 * that writes never top up, laid out on the pages of the source (a file read at offset 100
 * fills 4096 - 100 bytes of its first slot), so how much one call moves is what Linux moves.
 *
 * Neither producer nor consumer runs under p->lock (they may block or touch guest memory):
 *  - in: the free slots a producer will fill are reserved (p->resv) before it runs, so other
 *    writers cannot take them and the data it returns always fits;
 *  - out: the data handed to a consumer stays queued until it says how much it took, and
 *    p->rd_busy holds off other consumers meanwhile, as Linux's pipe mutex does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/task.h"
#include "pipe_internal.h"

#define IN_MAX_SLOTS (PIPE_MAX_SIZE / PIPE_PAGE) /* bounds one producer's buffer */
#define OUT_CHUNK (256u << 10)                   /* bytes handed to a consumer at once */
#define WAIT_READ (PIPE_WAKE_READERS | LINUX_POLLHUP)
#define WAIT_WRITE (PIPE_WAKE_WRITERS | LINUX_POLLERR)
#define AT_EOF 2

/*
 * Waits until ready(p) (called with p->lock held) is not 0.  A positive value is returned
 * with p->lock held; a negative one, -EAGAIN (PIPE_NONBLOCK) or -ERESTARTSYS without it.
 */
static int wait_until(struct pipe *p, struct task *t, unsigned flags, uint64_t events,
		      int (*ready)(struct pipe *p))
{
	struct waiter w = {0};
	bool waiting = false;
	int r;

	for (;;) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_lock(&p->lock);
		if ((r = ready(p)) > 0)
			break;
		pthread_mutex_unlock(&p->lock);
		if (r < 0)
			break;
		if (flags & PIPE_NONBLOCK) {
			r = -EAGAIN;
			break;
		}
		if (!waiting) {
			waitqueue_add(&p->wq, &w, t, events);
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

/* A slot is free for a writer, or -EPIPE without readers. */
static int room_ready(struct pipe *p)
{
	if (!p->readers)
		return -EPIPE;
	return pipe_room(p) ? 1 : 0;
}

/* Data a consumer may take, or AT_EOF when empty without writers. */
static int data_ready(struct pipe *p)
{
	if (pipe_used(p))
		return p->rd_busy ? 0 : 1;
	return p->writers ? 0 : AT_EOF;
}

/* Data to copy (busy or not: tee does not consume), or the end of it. */
static int any_data(struct pipe *p)
{
	return pipe_used(p) || !p->writers;
}

static void lock_two(struct pipe *a, struct pipe *b)
{
	if ((uintptr_t)a > (uintptr_t)b) {
		struct pipe *x = a;

		a = b;
		b = x;
	}
	pthread_mutex_lock(&a->lock);
	pthread_mutex_lock(&b->lock);
}

static void unlock_two(struct pipe *a, struct pipe *b)
{
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&b->lock);
}

/* Appends a slot of the first c bytes of page (its owner now); p->lock held, room checked. */
static void push_slot(struct pipe *p, char *page, size_t c, bool packet)
{
	struct pipe_slot *s = pipe_slot_at(p, p->head++);

	*s = (struct pipe_slot){.page = page, .len = (uint32_t)c, .packet = packet, .nomerge = true};
	p->nbytes += c;
}

/* ---- from a producer ---------------------------------------------------------------------- */

/* k pages for the slots of a producer, allocated before it runs so its data always lands. */
static char **pages_new(uint32_t k)
{
	char **pg = calloc(k, sizeof(*pg));

	for (uint32_t i = 0; pg && i < k; i++) {
		if (!(pg[i] = malloc(PIPE_PAGE))) {
			while (i--)
				free(pg[i]);
			free(pg);
			return NULL;
		}
	}
	return pg;
}

/* The slots follow the source's pages: the first one ends at a page boundary. */
static size_t piece_len(size_t n, size_t done, size_t skip)
{
	return MIN(n - done, (size_t)PIPE_PAGE - (done ? 0 : skip));
}

ssize_t pipe_splice_in(struct pipe *p, struct task *t, size_t n, size_t skip, unsigned flags,
		       pipe_io_fn fill, void *arg)
{
	uint32_t k, made = 0;
	ssize_t got = -ENOMEM;
	char **pg, *buf = NULL;
	int r;

	skip &= PIPE_PAGE - 1;
	if (!n)
		return 0;
	if ((r = wait_until(p, t, flags, WAIT_WRITE, room_ready)) < 0)
		return r;
	k = MIN(pipe_room(p), (uint32_t)IN_MAX_SLOTS);
	n = MIN(n, (size_t)k * PIPE_PAGE - skip);
	k = (uint32_t)((skip + n + PIPE_PAGE - 1) / PIPE_PAGE);
	p->resv += k;
	pthread_mutex_unlock(&p->lock);

	if ((pg = pages_new(k)) && (buf = malloc(n)))
		got = fill(arg, buf, n);
	got = MIN(got, (ssize_t)n);
	for (size_t done = 0, c; got > 0 && done < (size_t)got; done += c, made++) {
		c = piece_len((size_t)got, done, skip);
		memcpy(pg[made], buf + done, c);
	}
	pthread_mutex_lock(&p->lock);
	p->resv -= k;
	for (size_t i = 0, done = 0, c; i < made; i++, done += c) {
		c = piece_len((size_t)got, done, skip);
		push_slot(p, pg[i], c, false);
	}
	pthread_mutex_unlock(&p->lock);
	if (made)
		waitqueue_wake(&p->wq, PIPE_WAKE_READERS);
	if (made < k)
		waitqueue_wake(&p->wq, PIPE_WAKE_WRITERS); /* the rest of the reservation is free */
	for (uint32_t i = made; pg && i < k; i++)
		free(pg[i]);
	free(pg);
	free(buf);
	return got;
}

/* ---- to a consumer ------------------------------------------------------------------------ */

/* Copies up to n queued bytes without consuming them (p->lock held). */
static size_t peek(struct pipe *p, char *dst, size_t n)
{
	size_t done = 0;

	for (uint32_t i = p->tail; i != p->head && done < n; i++) {
		struct pipe_slot *s = pipe_slot_at(p, i);
		size_t c = MIN((size_t)s->len, n - done);

		memcpy(dst + done, s->page + s->off, c);
		done += c;
	}
	return done;
}

/* Drops n queued bytes (p->lock held); true when a slot emptied. */
static bool consume(struct pipe *p, size_t n)
{
	bool freed = false;

	while (n && pipe_used(p)) {
		struct pipe_slot *s = pipe_slot_at(p, p->tail);
		uint32_t c = (uint32_t)MIN((size_t)s->len, n);

		s->off += c;
		s->len -= c;
		p->nbytes -= c;
		n -= c;
		if (!s->len) {
			pipe_slot_drop(p);
			freed = true;
		}
	}
	return freed;
}

ssize_t pipe_splice_out(struct pipe *p, struct task *t, size_t n, unsigned flags,
			pipe_io_fn drain, void *arg)
{
	size_t cap = MIN(n, (size_t)OUT_CHUNK), done = 0;
	ssize_t r = 0;
	char *buf;

	if (!n)
		return 0;
	if (!(buf = malloc(cap)))
		return -ENOMEM;
	while (done < n) {
		size_t len;
		bool freed = false;

		if (!done) { /* wait for data only until some moved */
			if ((r = wait_until(p, t, flags, WAIT_READ, data_ready)) == AT_EOF) {
				pthread_mutex_unlock(&p->lock);
				r = 0;
			}
			if (r <= 0)
				break;
		} else {
			if (task_signal_pending(t))
				break;
			pthread_mutex_lock(&p->lock);
			if (data_ready(p) != 1) {
				pthread_mutex_unlock(&p->lock);
				break;
			}
		}
		len = peek(p, buf, MIN(cap, n - done));
		p->rd_busy = true;
		pthread_mutex_unlock(&p->lock);

		r = drain(arg, buf, len);
		pthread_mutex_lock(&p->lock);
		if (r > 0)
			freed = consume(p, MIN((size_t)r, len));
		p->rd_busy = false;
		pthread_mutex_unlock(&p->lock);
		/* Readers held off by rd_busy, and writers when room was made. */
		waitqueue_wake(&p->wq, PIPE_WAKE_READERS | (freed ? PIPE_WAKE_WRITERS : 0));
		if (r <= 0)
			break;
		done += MIN((size_t)r, len);
		if ((size_t)r < len)
			break;
	}
	free(buf);
	return done ? (ssize_t)done : r;
}

/* ---- pipe to pipe ------------------------------------------------------------------------- */

/*
 * Moves up to n bytes from in to out (both locks held): whole slots are handed over, a
 * partly wanted one is split.  Returns the count (0 at EOF) or, when nothing moved, -EPIPE
 * or -EAGAIN (empty input, full output: the caller waits again).
 */
static ssize_t move_locked(struct pipe *in, struct pipe *out, size_t n, bool *freed)
{
	size_t done = 0;

	while (done < n) {
		struct pipe_slot *s;
		size_t c;

		if (!out->readers)
			return done ? (ssize_t)done : -EPIPE;
		if (!pipe_used(in) && !in->writers)
			break;
		if (!pipe_used(in) || in->rd_busy || !pipe_room(out))
			return done ? (ssize_t)done : -EAGAIN;
		s = pipe_slot_at(in, in->tail);
		c = MIN((size_t)s->len, n - done);
		if (c == s->len) {
			*pipe_slot_at(out, out->head++) = *s;
			out->nbytes += c;
			s->page = NULL;
			in->tail++;
			*freed = true;
		} else {
			char *page = pipe_page_alloc(out);

			if (!page)
				return done ? (ssize_t)done : -ENOMEM;
			memcpy(page, s->page + s->off, c);
			push_slot(out, page, c, s->packet);
			s->off += (uint32_t)c;
			s->len -= (uint32_t)c;
		}
		in->nbytes -= c;
		done += c;
	}
	return (ssize_t)done;
}

ssize_t pipe_splice_pipe(struct pipe *in, struct pipe *out, struct task *t, size_t n,
			 unsigned flags)
{
	ssize_t r;

	if (!n)
		return 0;
	for (;;) {
		bool freed = false;

		if ((r = wait_until(in, t, flags, WAIT_READ, data_ready)) < 0)
			return r;
		pthread_mutex_unlock(&in->lock);
		if ((r = wait_until(out, t, flags, WAIT_WRITE, room_ready)) < 0)
			return r;
		pthread_mutex_unlock(&out->lock);
		lock_two(in, out);
		r = move_locked(in, out, n, &freed);
		unlock_two(in, out);
		if (r > 0)
			waitqueue_wake(&out->wq, PIPE_WAKE_READERS);
		if (freed)
			waitqueue_wake(&in->wq, PIPE_WAKE_WRITERS);
		if (r != -EAGAIN || (flags & PIPE_NONBLOCK))
			return r;
	}
}

/* Copies the slots of in, as slots, into out's free ones (both locks held). */
static ssize_t copy_locked(struct pipe *in, struct pipe *out, size_t n)
{
	size_t done = 0;

	for (uint32_t i = in->tail; done < n; i++) {
		struct pipe_slot *s;
		size_t c;
		char *page;

		if (!out->readers)
			return done ? (ssize_t)done : -EPIPE;
		if (i == in->head || !pipe_room(out))
			break;
		s = pipe_slot_at(in, i);
		c = MIN((size_t)s->len, n - done);
		if (!(page = pipe_page_alloc(out)))
			return done ? (ssize_t)done : -ENOMEM;
		memcpy(page, s->page + s->off, c);
		push_slot(out, page, c, s->packet);
		done += c;
	}
	return (ssize_t)done;
}

ssize_t pipe_tee(struct pipe *in, struct pipe *out, struct task *t, size_t n, unsigned flags)
{
	ssize_t r;

	if (!n)
		return 0;
	if ((r = wait_until(in, t, flags, WAIT_READ, any_data)) < 0)
		return r;
	pthread_mutex_unlock(&in->lock);
	if ((r = wait_until(out, t, flags, WAIT_WRITE, room_ready)) < 0)
		return r;
	pthread_mutex_unlock(&out->lock);
	lock_two(in, out);
	r = copy_locked(in, out, n);
	unlock_two(in, out);
	if (r > 0)
		waitqueue_wake(&out->wq, PIPE_WAKE_READERS);
	return r;
}
