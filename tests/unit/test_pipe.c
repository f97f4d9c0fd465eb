/*
 * Unit tests of the pipe buffer (src/sentry/fs/pipe/pipe.c) without blocking: Linux's page
 * slots (top-up of the last page, a partly read page still counting), atomic writes,
 * packets, EOF and EPIPE, resizing, and poll events.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define NB PIPE_NONBLOCK

static struct task *fake_task(void)
{
	return calloc(1, sizeof(struct task)); /* only its wake sequence is read */
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
	free(t);
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
	free(t);
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
	free(t);
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
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_epipe),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
