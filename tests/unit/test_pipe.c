/*
 * Unit tests of the pipe buffer (src/sentry/fs/pipe/pipe.c) without blocking: Linux's page
 * slots (top-up of the last page, a partly read page still counting), atomic writes,
 * packets, EOF and EPIPE, resizing, and poll events.  And its splice helpers
 * (pipe_splice.c): slots reserved while a producer runs and laid on its pages, data kept
 * queued while a consumer runs (other readers held off) and what it did not take left there,
 * pipe to pipe moves, tee.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define NB PIPE_NONBLOCK

static struct task *fake_task(void)
{
	struct task *t = calloc(1, sizeof(struct task)); /* only its wake sequence is read */

	t->k = calloc(1, sizeof(struct kernel)); /* and whether it is frozen, by splices */
	return t;
}

static void task_free(struct task *t)
{
	free(t->k);
	free(t);
}

static void test_stream(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();
	static char big[200000], out[200000];

	pipe_open_ends(p, 1, 1);
	memset(big, 'a', sizeof(big));
	assert_int_equal(pipe_write(p, t, big, sizeof(big), NB), PIPE_DEFAULT_SIZE);
	assert_int_equal(pipe_write(p, t, "x", 1, NB), -EAGAIN);
	assert_int_equal(pipe_nread(p), PIPE_DEFAULT_SIZE);
	assert_int_equal(pipe_poll(p, true, true, 0, NULL), POLL_READABLE);
	/* A partly read page keeps its slot: still no room. */
	assert_int_equal(pipe_read(p, t, out, 100, NB), 100);
	assert_int_equal(pipe_write(p, t, "x", 1, NB), -EAGAIN);
	assert_int_equal(pipe_read(p, t, out, 4096, NB), 4096);
	assert_int_equal(pipe_poll(p, true, true, 0, NULL), POLL_READABLE | POLL_WRITABLE);
	/* An atomic write that needs a whole page waits for one... */
	assert_int_equal(pipe_write(p, t, big, 4096, NB), 4096);
	assert_int_equal(pipe_write(p, t, big, 10, NB), -EAGAIN);
	while (pipe_read(p, t, out, sizeof(out), NB) > 0)
		;
	assert_int_equal(pipe_read(p, t, out, 1, NB), -EAGAIN);
	/* ...while small writes top up the last page. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(pipe_write(p, t, "0123456789", 10, NB), 10);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 1000);
	assert_memory_equal(out, "01234567890123456789", 20);
	pipe_close_ends(p, 0, 1);
	assert_int_equal(pipe_read(p, t, out, 1, NB), 0);
	assert_true(pipe_poll(p, true, false, 0, NULL) & LINUX_POLLHUP);
	pipe_close_ends(p, 1, 0);
	pipe_put(p);
	task_free(t);
}

static void test_epipe(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();

	pipe_open_ends(p, 1, 1);
	pipe_close_ends(p, 1, 0);
	assert_int_equal(pipe_write(p, t, "x", 1, NB), -EPIPE);
	assert_true(pipe_poll(p, false, true, 0, NULL) & LINUX_POLLERR);
	assert_int_equal(pipe_write(p, t, "x", 0, NB), 0);
	pipe_close_ends(p, 0, 1);
	pipe_put(p);
	task_free(t);
}

static void test_packets(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();
	char big[6000], out[8192];

	pipe_open_ends(p, 1, 1);
	memset(big, 'p', sizeof(big));
	assert_int_equal(pipe_write(p, t, "ab", 2, NB | PIPE_PACKET), 2);
	assert_int_equal(pipe_write(p, t, "cde", 3, NB | PIPE_PACKET), 3);
	assert_int_equal(pipe_write(p, t, big, sizeof(big), NB | PIPE_PACKET), 6000);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 2);
	assert_int_equal(pipe_read(p, t, out, 1, NB), 1); /* "de" is dropped */
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 4096);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 6000 - 4096);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), -EAGAIN);
	/* A packet is never topped up by a stream write. */
	assert_int_equal(pipe_write(p, t, "x", 1, NB | PIPE_PACKET), 1);
	assert_int_equal(pipe_write(p, t, "yz", 2, NB), 2);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 1);
	pipe_close_ends(p, 1, 1);
	pipe_put(p);
	task_free(t);
}

static void test_resize(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();
	static char big[1 << 20];

	pipe_open_ends(p, 1, 1);
	assert_int_equal(pipe_get_size(p), PIPE_DEFAULT_SIZE);
	assert_int_equal(pipe_set_size(p, 0, false), 4096);
	assert_int_equal(pipe_set_size(p, 4097, false), 8192);
	assert_int_equal(pipe_set_size(p, 3 << 20, false), -EPERM);
	assert_int_equal(pipe_set_size(p, (1ull << 31) + 1, true), -EINVAL);
	assert_int_equal(pipe_write(p, t, big, 3 * 4096, NB), 8192);
	assert_int_equal(pipe_set_size(p, 4096, false), -EBUSY);
	assert_int_equal(pipe_set_size(p, PIPE_MAX_SIZE, false), PIPE_MAX_SIZE);
	assert_int_equal(pipe_write(p, t, big, sizeof(big), NB), PIPE_MAX_SIZE - 8192);
	assert_int_equal(pipe_nread(p), PIPE_MAX_SIZE);
	pipe_close_ends(p, 1, 1);
	pipe_put(p);
	task_free(t);
}

/* A producer or consumer for the splice helpers, poking at the pipe while it runs. */
struct io {
	struct pipe *p;
	struct task *t;
	char *data;
	size_t len;          /* a producer's bytes; the most a consumer takes */
	ssize_t err;         /* returned instead, when set */
	ssize_t write_while; /* a nonblocking write of a page meanwhile */
	ssize_t read_while;  /* a nonblocking read meanwhile */
};

static ssize_t io_fill(void *arg, void *buf, size_t n)
{
	struct io *io = arg;
	char page[4096] = {0};

	io->write_while = pipe_write(io->p, io->t, page, sizeof(page), NB);
	if (io->err)
		return io->err;
	n = n < io->len ? n : io->len;
	memcpy(buf, io->data, n);
	return (ssize_t)n;
}

static ssize_t io_drain(void *arg, void *buf, size_t n)
{
	struct io *io = arg;
	char c;

	io->read_while = pipe_read(io->p, io->t, &c, 1, NB);
	if (io->err)
		return io->err;
	n = n < io->len ? n : io->len;
	memcpy(io->data, buf, n);
	io->data += n;
	return (ssize_t)n;
}

static void test_splice_in(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();
	static char src[1 << 20], out[1 << 20];
	struct io io = {.p = p, .t = t, .data = src, .len = sizeof(src)};

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7);
	pipe_open_ends(p, 1, 1);
	/* Slots on the source's pages: the first one holds 4096 - 100 bytes. */
	assert_int_equal(pipe_splice_in(p, t, sizeof(src), 100, NB, io_fill, &io), 65536 - 100);
	assert_int_equal(io.write_while, -EAGAIN); /* every free slot was reserved */
	assert_int_equal(pipe_nread(p), 65536 - 100);
	assert_int_equal(pipe_splice_in(p, t, 1, 0, NB, io_fill, &io), -EAGAIN);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 65536 - 100);
	assert_memory_equal(out, src, 65536 - 100);
	/* A spliced slot is never topped up: 10 bytes and then 1 byte take two slots. */
	assert_int_equal(pipe_splice_in(p, t, 10, 0, NB, io_fill, &io), 10);
	assert_int_equal(io.write_while, 4096); /* the rest was free */
	assert_int_equal(pipe_read(p, t, out, 4096, NB), 4096);
	assert_int_equal(pipe_write(p, t, "x", 1, NB), 1);
	assert_int_equal(pipe_write(p, t, out, sizeof(out), NB), 14 * 4096);
	while (pipe_read(p, t, out, sizeof(out), NB) > 0)
		;
	/* Nothing produced, an error: the reservation is given back. */
	io.len = 0;
	assert_int_equal(pipe_splice_in(p, t, 5, 0, NB, io_fill, &io), 0);
	io.err = -EIO;
	assert_int_equal(pipe_splice_in(p, t, 5, 0, NB, io_fill, &io), -EIO);
	assert_int_equal(pipe_read(p, t, out, sizeof(out), NB), 2 * 4096); /* the pokes */
	assert_int_equal(pipe_write(p, t, out, sizeof(out), NB), 65536);
	while (pipe_read(p, t, out, sizeof(out), NB) > 0)
		;
	pipe_close_ends(p, 1, 0);
	assert_int_equal(pipe_splice_in(p, t, 5, 0, NB, io_fill, &io), -EPIPE);
	pipe_close_ends(p, 0, 1);
	pipe_put(p);
	task_free(t);
}

static void test_splice_out(void **state)
{
	struct task *t = fake_task();
	struct pipe *p = pipe_new();
	static char src[10000], got[20000];
	struct io io = {.p = p, .t = t, .data = got, .len = 3000};

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 13);
	pipe_open_ends(p, 1, 1);
	assert_int_equal(pipe_write(p, t, src, sizeof(src), NB), sizeof(src));
	/* A consumer taking less: the rest stays queued; other readers wait meanwhile. */
	assert_int_equal(pipe_splice_out(p, t, sizeof(got), NB, io_drain, &io), 3000);
	assert_int_equal(io.read_while, -EAGAIN);
	assert_int_equal(pipe_nread(p), 7000);
	io.err = -EPIPE;
	assert_int_equal(pipe_splice_out(p, t, sizeof(got), NB, io_drain, &io), -EPIPE);
	assert_int_equal(pipe_nread(p), 7000);
	io.err = 0;
	io.len = sizeof(got);
	assert_int_equal(pipe_splice_out(p, t, 5000, NB, io_drain, &io), 5000);
	assert_int_equal(pipe_splice_out(p, t, sizeof(got), NB, io_drain, &io), 2000);
	assert_memory_equal(got, src, sizeof(src));
	/* The slots it emptied are free again. */
	assert_int_equal(pipe_write(p, t, got, sizeof(got), NB), 20000);
	assert_int_equal(pipe_read(p, t, got, sizeof(got), NB), 20000);
	assert_int_equal(pipe_splice_out(p, t, 1, NB, io_drain, &io), -EAGAIN);
	pipe_close_ends(p, 0, 1);
	assert_int_equal(pipe_splice_out(p, t, 1, NB, io_drain, &io), 0);
	pipe_close_ends(p, 1, 0);
	pipe_put(p);
	task_free(t);
}

static void test_splice_pipe_tee(void **state)
{
	struct task *t = fake_task();
	struct pipe *a = pipe_new(), *b = pipe_new();
	static char src[70000], out[70000];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 3);
	pipe_open_ends(a, 1, 1);
	pipe_open_ends(b, 1, 1);
	assert_int_equal(pipe_write(a, t, src, 10000, NB), 10000);
	/* Two whole slots move, the third is split. */
	assert_int_equal(pipe_splice_pipe(a, b, t, 6000, NB), 6000);
	assert_int_equal(pipe_nread(a), 4000);
	assert_int_equal(pipe_splice_pipe(a, b, t, 1 << 20, NB), 4000);
	assert_int_equal(pipe_splice_pipe(a, b, t, 1, NB), -EAGAIN);
	assert_int_equal(pipe_read(b, t, out, sizeof(out), NB), 10000);
	assert_memory_equal(out, src, 10000);
	/* tee copies without consuming, up to the output's free slots. */
	assert_int_equal(pipe_write(a, t, src, 40000, NB), 40000);
	assert_int_equal(pipe_write(b, t, src, 40000, NB), 40000);
	assert_int_equal(pipe_tee(a, b, t, 1 << 20, NB), 6 * 4096);
	assert_int_equal(pipe_nread(a), 40000);
	assert_int_equal(pipe_tee(a, b, t, 1, NB), -EAGAIN);
	assert_int_equal(pipe_splice_pipe(a, b, t, 1, NB), -EAGAIN);
	assert_int_equal(pipe_read(b, t, out, 40000, NB), 40000);
	assert_int_equal(pipe_read(b, t, out, sizeof(out), NB), 6 * 4096);
	assert_memory_equal(out, src, 6 * 4096);
	assert_int_equal(pipe_read(a, t, out, sizeof(out), NB), 40000);
	/* EOF of the input; EPIPE without readers of the output. */
	pipe_close_ends(a, 0, 1);
	assert_int_equal(pipe_splice_pipe(a, b, t, 1, NB), 0);
	assert_int_equal(pipe_tee(a, b, t, 1, NB), 0);
	pipe_close_ends(b, 1, 0);
	assert_int_equal(pipe_splice_pipe(a, b, t, 1, NB), -EPIPE);
	assert_int_equal(pipe_tee(a, b, t, 1, NB), -EPIPE);
	pipe_close_ends(a, 1, 0);
	pipe_close_ends(b, 0, 1);
	pipe_put(a);
	pipe_put(b);
	task_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_epipe),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_splice_in),
		cmocka_unit_test(test_splice_out),
		cmocka_unit_test(test_splice_pipe_tee),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
