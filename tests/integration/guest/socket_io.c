/*
 * Socket I/O across processes and threads: large transfers that block on full buffers,
 * epoll and poll woken by another process (unix and TCP), SCM_RIGHTS with several fds and a
 * short control buffer (MSG_CTRUNC), passing a socket over a socket, readv/writev keeping
 * datagram boundaries, SO_SNDTIMEO, a full backlog, shutdown of a listener waking accept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (4u << 20)

static void show(const char *what, long r)
{
	printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 13));
}

/* Writes BIG bytes in uneven pieces. */
static int send_big(int s)
{
	static unsigned char buf[65536];
	size_t done = 0;

	while (done < BIG) {
		size_t n = 1 + (done * 7) % sizeof(buf);
		ssize_t w;

		n = n > BIG - done ? BIG - done : n;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(done + i);
		w = write(s, buf, n);
		if (w <= 0)
			return 1;
		done += (size_t)w;
	}
	return 0;
}

/* Reads until EOF; returns the byte count, or -1 on a pattern mismatch. */
static long recv_big(int s)
{
	static unsigned char buf[100000];
	long total = 0;
	ssize_t n;

	while ((n = read(s, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern((size_t)total + (size_t)i))
				return -1;
		total += n;
	}
	return n < 0 ? -2 : total;
}

static void transfer(int a, int b, const char *what)
{
	pid_t child = fork();
	int st;

	if (child == 0) {
		close(b);
		_exit(send_big(a));
	}
	close(a);
	printf("%s: received %ld\n", what, recv_big(b));
	waitpid(child, &st, 0);
	printf("%s: sender exit %d\n", what, WEXITSTATUS(st));
	close(b);
}

static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	bind(ls, (struct sockaddr *)&a, sizeof(a));
	listen(ls, 1);
	getsockname(ls, (struct sockaddr *)&a, &l);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	connect(sv[0], (struct sockaddr *)&a, sizeof(a));
	sv[1] = accept(ls, NULL, NULL);
	close(ls);
}

static void big_transfers(void)
{
	int sv[2];

	printf("-- transfers\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	transfer(sv[0], sv[1], "unix");
	tcp_pair(sv);
	transfer(sv[0], sv[1], "tcp");
}

static void wakeups(void)
{
	int u[2], t[2], ep = epoll_create1(EPOLL_CLOEXEC), n, st;
	struct epoll_event ev[4];
	struct pollfd p;
	pid_t child;
	char c;

	printf("-- wakeups\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, u);
	tcp_pair(t);
	ev[0] = (struct epoll_event){.events = EPOLLIN, .data.u32 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, u[1], &ev[0]);
	ev[0] = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 2};
	epoll_ctl(ep, EPOLL_CTL_ADD, t[1], &ev[0]);
	show("epoll nothing yet", epoll_wait(ep, ev, 4, 0));
	child = fork();
	if (child == 0) {
		usleep(50000);
		write(u[0], "u", 1);
		usleep(50000);
		write(t[0], "t", 1);
		usleep(50000);
		shutdown(t[0], SHUT_WR);
		_exit(0);
	}
	n = epoll_wait(ep, ev, 4, 5000);
	printf("epoll 1: n=%d id=%u in=%d\n", n, ev[0].data.u32, !!(ev[0].events & EPOLLIN));
	read(u[1], &c, 1);
	n = epoll_wait(ep, ev, 4, 5000);
	printf("epoll 2: n=%d id=%u in=%d\n", n, ev[0].data.u32, !!(ev[0].events & EPOLLIN));
	read(t[1], &c, 1);
	n = epoll_wait(ep, ev, 4, 5000);
	printf("epoll 3: n=%d id=%u rdhup=%d\n", n, ev[0].data.u32, !!(ev[0].events & EPOLLRDHUP));
	waitpid(child, &st, 0);
	p = (struct pollfd){.fd = u[1], .events = POLLIN};
	child = fork();
	if (child == 0) {
		usleep(50000);
		close(u[0]);
		_exit(0);
	}
	close(u[0]);
	n = poll(&p, 1, 5000);
	printf("poll on peer close: n=%d in=%d hup=%d\n", n, !!(p.revents & POLLIN),
	       !!(p.revents & POLLHUP));
	waitpid(child, &st, 0);
	close(u[1]);
	close(t[0]);
	close(t[1]);
	close(ep);
}

static int send_fds(int s, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))] = {0};
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	return (int)sendmsg(s, &m, 0);
}

/* Receives with room for `room` fds; returns how many arrived. */
static int recv_fds(int s, int *fds, int room, int *flags)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))], c;
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = CMSG_SPACE((size_t)room * sizeof(int))};
	struct cmsghdr *h;
	int n = 0;

	if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) < 0)
		return -1;
	*flags = m.msg_flags;
	for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_type == SCM_RIGHTS) {
			n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(h), (size_t)n * sizeof(int));
		}
	return n;
}

static void fd_passing(void)
{
	int sv[2], p[2], q[2], fds[3], got[8], flags = 0, n;
	char buf[16] = {0};

	printf("-- fd passing\n");
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	pipe(p);
	socketpair(AF_UNIX, SOCK_STREAM, 0, q);
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = q[1];
	show("send 3 fds", send_fds(sv[0], fds, 3));
	n = recv_fds(sv[1], got, 1, &flags);
	printf("room for 1: got %d ctrunc=%d cloexec=%d\n", n, !!(flags & MSG_CTRUNC),
	       n > 0 ? fcntl(got[0], F_GETFD) : -1);
	write(p[1], "pipe!", 5);
	printf("passed pipe reads: %zd\n", n > 0 ? read(got[0], buf, 5) : -1);
	if (n > 0)
		close(got[0]);
	show("send socket", send_fds(sv[0], &q[1], 1));
	n = recv_fds(sv[1], got, 4, &flags);
	printf("got %d ctrunc=%d\n", n, !!(flags & MSG_CTRUNC));
	close(q[1]);
	write(got[0], "via passed socket", 17);
	printf("read: %zd\n", read(q[0], buf, sizeof(buf)));
	close(got[0]);
	show("read eof once every copy is closed", read(q[0], buf, sizeof(buf)));
	show("send bad fd", send_fds(sv[0], (int[]){999}, 1));
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(sv[0]);
	close(sv[1]);
}

static void vectors_and_timeouts(void)
{
	int sv[2];
	char a[4] = {0}, b[8] = {0};
	struct iovec w[2] = {{"abc", 3}, {"defgh", 5}}, r[2] = {{a, 4}, {b, 8}};
	struct timeval tv = {0, 100000};
	long total = 0;
	ssize_t n;

	printf("-- vectors and timeouts\n");
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	show("writev", writev(sv[0], w, 2));
	show("writev", writev(sv[0], w, 1));
	show("readv", readv(sv[1], r, 2));
	printf("parts: %.4s %.4s\n", a, b);
	show("readv", readv(sv[1], r, 2));
	close(sv[0]);
	close(sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while ((n = write(sv[0], a, sizeof(a))) > 0)
		total += n;
	printf("send timeout after filling: %s, filled>0: %d\n", strerror(errno), total > 0);
	close(sv[0]);
	close(sv[1]);
}

static int lsock;

static void *acceptor(void *arg)
{
	long r = accept(lsock, NULL, NULL);

	return (void *)(r < 0 ? (long)-errno : r);
}

static void listeners(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + 1 + 9;
	int c[8], n = 0;
	pthread_t th;
	void *res;

	printf("-- listeners\n");
	memcpy(a.sun_path + 1, "backlog-1", 9);
	lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(lsock, (struct sockaddr *)&a, al);
	listen(lsock, 1);
	for (int i = 0; i < 8; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(c[i], (struct sockaddr *)&a, al) == 0)
			n++;
		else if (errno != EAGAIN)
			printf("connect %d: %s\n", i, strerror(errno));
	}
	printf("connected before the backlog filled: %d\n", n);
	for (int i = 0; i < 8; i++)
		close(c[i]);
	for (int i = 0; i < n; i++) {
		int s = accept(lsock, NULL, NULL);
		char ch;

		printf("accepted %d: read %zd\n", i, read(s, &ch, 1));
		close(s);
	}
	pthread_create(&th, NULL, acceptor, NULL);
	usleep(50000);
	show("shutdown listener", shutdown(lsock, SHUT_RDWR));
	pthread_join(th, &res);
	printf("blocked accept returned: %ld\n", (long)res);
	close(lsock);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	alarm(60); /* never hang the test run */
	big_transfers();
	wakeups();
	fd_passing();
	vectors_and_timeouts();
	listeners();
	return 0;
}
