/*
 * Unit tests of the socket layer (src/sentry/net) without a running kernel: iovec cursors,
 * control-message helpers, unix address parsing, and AF_UNIX socketpairs and abstract names
 * driven directly (never blocking: every call is MSG_DONTWAIT).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/sentry/net/unix_internal.h"
#include "cvisor/sentry/net.h"
#include "cvisor/sentry/task.h"

#define NB (LINUX_MSG_DONTWAIT | LINUX_MSG_NOSIGNAL)

/* Just what the unix family reads of a task: its kernel, credentials and tgid. */
struct fake {
	struct kernel k;
	struct thread_group tg;
	struct task t;
};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	f->k.net = net_ns_new();
	f->tg.tgid = 42;
	f->t.k = &f->k;
	f->t.tg = &f->tg;
	f->t.cred = cred_new_root();
	return f;
}

static void fake_free(struct fake *f)
{
	cred_put(f->t.cred);
	net_ns_free(f->k.net);
	free(f);
}

static ssize_t send_buf(struct socket *s, struct task *t, const void *buf, size_t n)
{
	struct linux_iovec iov = {(uint64_t)(uintptr_t)buf, n};
	struct sock_msg m = {0};

	msg_iter_init(&m.data, NULL, &iov, 1);
	return socket_sendmsg(s, t, &m, NB);
}

static ssize_t recv_buf(struct socket *s, struct task *t, void *buf, size_t n, int flags,
			int *mflags)
{
	struct linux_iovec iov = {(uint64_t)(uintptr_t)buf, n};
	struct sock_msg m = {0};
	ssize_t r;

	msg_iter_init(&m.data, NULL, &iov, 1);
	r = socket_recvmsg(s, t, &m, flags | NB);
	if (mflags)
		*mflags = m.flags;
	return r;
}

static void test_msg_iter(void **state)
{
	char a[3], b[5], out[8];
	struct linux_iovec iov[3] = {{(uint64_t)(uintptr_t)a, 3}, {0, 0}, {(uint64_t)(uintptr_t)b, 5}};
	struct msg_iter it;

	msg_iter_init(&it, NULL, iov, 3);
	assert_int_equal(it.count, 8);
	assert_int_equal(msg_iter_copy_to(&it, "0123456789", 10), 8);
	assert_memory_equal(a, "012", 3);
	assert_memory_equal(b, "34567", 5);
	msg_iter_init(&it, NULL, iov, 3);
	msg_iter_skip(&it, 2);
	assert_int_equal(msg_iter_copy_from(&it, out, sizeof(out)), 6);
	assert_memory_equal(out, "234567", 6);
	assert_int_equal(it.count, 0);
}

static void test_cmsg(void **state)
{
	uint8_t buf[40];
	struct sock_msg m = {.control = buf, .controllen = sizeof(buf)};
	struct cmsg_cursor c = {.buf = buf};
	const struct linux_cmsghdr *h;
	const void *data;
	size_t used = 0, dlen;
	int32_t fds[4] = {3, 4, 5, 6};

	assert_int_equal(cmsg_put(&m, &used, LINUX_SOL_SOCKET, LINUX_SCM_RIGHTS, fds, 8), 8);
	assert_int_equal(used, 24);
	assert_int_equal(m.flags, 0);
	/* 16 bytes left: a header and nothing else fits. */
	assert_int_equal(cmsg_put(&m, &used, LINUX_SOL_SOCKET, LINUX_SCM_RIGHTS, fds, 16), 0);
	assert_true(m.flags & LINUX_MSG_CTRUNC);
	c.len = 24;
	assert_int_equal(cmsg_next(&c, &h, &data, &dlen), 1);
	assert_int_equal(h->type, LINUX_SCM_RIGHTS);
	assert_int_equal(dlen, 8);
	assert_int_equal(cmsg_next(&c, &h, &data, &dlen), 0);
	/* A header claiming more than the buffer holds is malformed. */
	((struct linux_cmsghdr *)buf)->len = 100;
	c.off = 0;
	assert_int_equal(cmsg_next(&c, &h, &data, &dlen), -EINVAL);
}

static void test_parse_addr(void **state)
{
	struct linux_sockaddr_un in = {.family = LINUX_AF_UNIX, .path = "/tmp/s"};
	struct unix_name_key key;
	union unix_sockaddr sa;
	uint32_t alen;

	assert_int_equal(unix_parse_addr(&in, sizeof(in), &key, &sa, &alen), 0);
	assert_false(key.abstract);
	assert_string_equal(key.name, "/tmp/s");
	assert_int_equal(alen, 2 + 6 + 1);
	assert_int_equal(unix_parse_addr(&in, 2, &key, &sa, &alen), 1);
	memcpy(in.path, "\0ab", 3);
	assert_int_equal(unix_parse_addr(&in, 5, &key, &sa, &alen), 0);
	assert_true(key.abstract);
	assert_int_equal(key.len, 2);
	assert_int_equal(alen, 5);
	assert_int_equal(unix_parse_addr(&in, sizeof(in) + 1, &key, &sa, &alen), -EINVAL);
	in.family = LINUX_AF_INET;
	assert_int_equal(unix_parse_addr(&in, sizeof(in), &key, &sa, &alen), -EINVAL);
	/* A path of all 108 bytes is reported with its NUL past the struct. */
	in.family = LINUX_AF_UNIX;
	memset(in.path, 'x', sizeof(in.path));
	assert_int_equal(unix_parse_addr(&in, sizeof(in), &key, &sa, &alen), 0);
	assert_int_equal(key.len, 108);
	assert_int_equal(alen, 111);
}

static void test_stream_pair(void **state)
{
	struct fake *f = fake_new();
	struct task *t = &f->t;
	struct socket *s[2];
	static char big[300000], out[300000];
	ssize_t n, total = 0;

	assert_int_equal(socket_create_pair(t, LINUX_AF_UNIX, LINUX_SOCK_STREAM, 0, s), 0);
	assert_int_equal(send_buf(s[0], t, "hello", 5), 5);
	assert_int_equal(send_buf(s[0], t, " world", 6), 6);
	assert_int_equal(recv_buf(s[1], t, out, 3, LINUX_MSG_PEEK, NULL), 3);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), 11);
	assert_memory_equal(out, "hello world", 11);
	assert_int_equal(recv_buf(s[1], t, out, 1, 0, NULL), -EAGAIN);
	/* Flow control: the writer stops at its send buffer, then continues once read. */
	while ((n = send_buf(s[0], t, big, sizeof(big))) > 0)
		total += n;
	assert_int_equal(n, -EAGAIN);
	assert_true(total >= NET_DEFAULT_BUF / 2 && total <= NET_DEFAULT_BUF + 65536);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), total);
	assert_true(send_buf(s[0], t, "x", 1) == 1);
	assert_int_equal(socket_shutdown(s[0], LINUX_SHUT_WR), 0);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), 1);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), 0); /* EOF */
	assert_int_equal(send_buf(s[0], t, "y", 1), -EPIPE);
	assert_true(s[1]->ops->poll(s[1], NULL) & LINUX_POLLRDHUP);
	socket_discard(s[0]);
	assert_true(s[1]->ops->poll(s[1], NULL) & LINUX_POLLHUP);
	socket_discard(s[1]);
	fake_free(f);
}

static void test_seqpacket_pair(void **state)
{
	struct fake *f = fake_new();
	struct task *t = &f->t;
	struct socket *s[2];
	char out[16];
	int fl = 0;

	assert_int_equal(socket_create_pair(t, LINUX_AF_UNIX, LINUX_SOCK_SEQPACKET, 0, s), 0);
	assert_int_equal(send_buf(s[0], t, "one", 3), 3);
	assert_int_equal(send_buf(s[0], t, "", 0), 0);
	assert_int_equal(send_buf(s[0], t, "three", 5), 5);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), 3);
	assert_int_equal(recv_buf(s[1], t, out, sizeof(out), 0, NULL), 0);
	assert_int_equal(recv_buf(s[1], t, out, 2, LINUX_MSG_TRUNC, &fl), 5);
	assert_true(fl & LINUX_MSG_TRUNC);
	socket_discard(s[1]);
	assert_int_equal(send_buf(s[0], t, "x", 1), -EPIPE);
	socket_discard(s[0]);
	fake_free(f);
}

static void test_abstract_dgram(void **state)
{
	struct fake *f = fake_new();
	struct task *t = &f->t;
	struct linux_sockaddr_un a = {.family = LINUX_AF_UNIX, .path = "\0unit"};
	uint8_t name[LINUX_SOCKADDR_MAX];
	struct socket *r, *s, *other;
	uint32_t len;
	char out[8];

	assert_int_equal(socket_create(t, LINUX_AF_UNIX, LINUX_SOCK_DGRAM, 0, &r), 0);
	assert_int_equal(socket_create(t, LINUX_AF_UNIX, LINUX_SOCK_DGRAM, 0, &s), 0);
	assert_int_equal(socket_create(t, LINUX_AF_UNIX, LINUX_SOCK_STREAM, 0, &other), 0);
	assert_int_equal(socket_bind(r, t, &a, 2 + 5), 0);
	assert_int_equal(socket_bind(s, t, &a, 2 + 5), -EADDRINUSE);
	/* Another socket type has an abstract namespace of its own. */
	assert_int_equal(socket_bind(other, t, &a, 2 + 5), 0);
	assert_int_equal(socket_connect(s, t, &a, 2 + 5, true), 0);
	assert_int_equal(send_buf(s, t, "dgram", 5), 5);
	assert_int_equal(recv_buf(r, t, out, sizeof(out), 0, NULL), 5);
	assert_int_equal(socket_getname(s, name, &len, true), 0);
	assert_int_equal(len, 7);
	assert_int_equal(socket_bind(s, t, &a, 2), 0); /* autobind */
	assert_int_equal(socket_getname(s, name, &len, false), 0);
	assert_int_equal(len, 8);
	socket_discard(r);
	assert_int_equal(send_buf(s, t, "x", 1), -ECONNREFUSED);
	assert_int_equal(send_buf(s, t, "x", 1), -ENOTCONN);
	socket_discard(s);
	socket_discard(other);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_iter),
		cmocka_unit_test(test_cmsg),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_stream_pair),
		cmocka_unit_test(test_seqpacket_pair),
		cmocka_unit_test(test_abstract_dgram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
