/*
 * AF_UNIX datagram and seqpacket sockets: message boundaries, MSG_TRUNC, abstract names,
 * autobind, sender addresses, SCM_CREDENTIALS, errors (EADDRINUSE, ECONNREFUSED, ENOTCONN,
 * EPROTOTYPE, EOPNOTSUPP, EPIPE), timeouts, poll, shutdown.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path + 1, name, strlen(name));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

static void boundaries(int type, const char *name)
{
	int sv[2], avail = -1;
	char buf[64];
	struct iovec iov = {.iov_base = buf, .iov_len = 5};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	printf("-- %s\n", name);
	socketpair(AF_UNIX, type, 0, sv);
	send(sv[0], "a", 1, 0);
	send(sv[0], "bb", 2, 0);
	send(sv[0], "", 0, 0);
	send(sv[0], "hello world", 11, 0);
	ioctl(sv[1], FIONREAD, &avail);
	printf("fionread: %d\n", type == SOCK_DGRAM ? avail : avail == 14);
	show("recv 1", recv(sv[1], buf, sizeof(buf), 0));
	show("recv 2", recv(sv[1], buf, sizeof(buf), 0));
	show("recv empty", recv(sv[1], buf, sizeof(buf), 0));
	show("peek trunc", recv(sv[1], buf, 5, MSG_PEEK | MSG_TRUNC));
	show("recvmsg 5", recvmsg(sv[1], &m, 0));
	printf("flags trunc: %d data: %.5s\n", !!(m.msg_flags & MSG_TRUNC), buf);
	show("nonblock empty", recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
	close(sv[0]);
	show("recv after peer close", type == SOCK_SEQPACKET ? recv(sv[1], buf, sizeof(buf), 0) : 0);
	show("send after peer close", send(sv[1], "x", 1, MSG_NOSIGNAL));
	close(sv[1]);
}

static void names(void)
{
	struct sockaddr_un a, b, got;
	socklen_t al = abstract(&a, "cvisor-test-a"), bl = abstract(&b, "cvisor-test-b"), gl;
	int r = socket(AF_UNIX, SOCK_DGRAM, 0), s = socket(AF_UNIX, SOCK_DGRAM, 0);
	int t = socket(AF_UNIX, SOCK_DGRAM, 0), st = socket(AF_UNIX, SOCK_STREAM, 0);
	char buf[64];

	printf("-- names\n");
	show("bind abstract", bind(r, (struct sockaddr *)&a, al));
	show("bind abstract in use", bind(t, (struct sockaddr *)&a, al));
	show("bind twice", bind(r, (struct sockaddr *)&b, bl));
	show("sendto unbound sender", sendto(s, "one", 3, 0, (struct sockaddr *)&a, al));
	gl = sizeof(got);
	show("recvfrom", recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&got, &gl));
	printf("from len: %u\n", gl);
	show("bind sender", bind(s, (struct sockaddr *)&b, bl));
	show("sendto bound sender", sendto(s, "two", 3, 0, (struct sockaddr *)&a, al));
	gl = sizeof(got);
	show("recvfrom", recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&got, &gl));
	printf("from len: %u name: %.*s\n", gl, (int)(gl - 3), got.sun_path + 1);
	gl = sizeof(got);
	getsockname(s, (struct sockaddr *)&got, &gl);
	printf("getsockname: len=%u abstract=%d\n", gl, got.sun_path[0] == 0);
	show("send unconnected", send(t, "x", 1, 0));
	show("sendto nobody", sendto(t, "x", 1, 0, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "\0nobody-here"}, offsetof(struct sockaddr_un, sun_path) + 12));
	show("sendto missing path", sendto(t, "x", 1, 0, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "/tmp/none"}, sizeof(struct sockaddr_un)));
	show("autobind", bind(t, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX}, sizeof(sa_family_t)));
	gl = sizeof(got);
	getsockname(t, (struct sockaddr *)&got, &gl);
	printf("autobind name: len=%u lead-nul=%d hex=%zu\n", gl, got.sun_path[0] == 0,
	       strspn(got.sun_path + 1, "0123456789abcdef"));
	show("connect", connect(t, (struct sockaddr *)&a, al));
	gl = sizeof(got);
	show("getpeername", getpeername(t, (struct sockaddr *)&got, &gl));
	printf("peer: %.*s\n", (int)(gl - 3), got.sun_path + 1);
	show("send connected", send(t, "three", 5, 0));
	gl = sizeof(got);
	show("recvfrom", recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&got, &gl));
	printf("from autobound: len=%u\n", gl);
	gl = sizeof(got);
	getsockname(t, (struct sockaddr *)&got, &gl);
	show("sendto a socket connected elsewhere", sendto(s, "x", 1, 0, (struct sockaddr *)&got, gl));
	show("connect stream to dgram", connect(st, (struct sockaddr *)&a, al));
	show("listen dgram", listen(r, 1));
	show("recv unconnected stream", recv(st, buf, 1, 0));
	close(r);
	show("send to closed peer", send(t, "x", 1, 0));
	show("send again", send(t, "x", 1, 0));
	close(s);
	close(t);
	close(st);
}

static void creds_and_opts(void)
{
	int sv[2], on = 1, v = -1;
	socklen_t vl = sizeof(v);
	char buf[8], cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	struct ucred uc = {0};
	struct timeval tv = {0, 100000};

	printf("-- creds and options\n");
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl);
	printf("type: %d\n", v);
	getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &vl);
	printf("domain: %d\n", v);
	getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	printf("acceptconn: %d\n", v);
	getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &vl);
	printf("sndbuf sane: %d\n", v >= 4096);
	show("setsockopt passcred", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
	send(sv[0], "cred", 4, 0);
	show("recvmsg", recvmsg(sv[1], &m, 0));
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&uc, CMSG_DATA(c), sizeof(uc));
	printf("cmsg: type=%d pid-is-me=%d uid=%u gid=%u\n", c ? c->cmsg_type : -1,
	       uc.pid == getpid(), uc.uid, uc.gid);
	show("bad option", setsockopt(sv[0], SOL_SOCKET, 9999, &on, sizeof(on)));
	show("ip option on unix", setsockopt(sv[0], IPPROTO_TCP, 1, &on, sizeof(on)));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	show("recv timeout", recv(sv[1], buf, sizeof(buf), 0));
	vl = sizeof(tv);
	getsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, &vl);
	printf("rcvtimeo: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
	close(sv[0]);
	close(sv[1]);
}

static void poll_and_shutdown(void)
{
	int sv[2];
	struct pollfd p[2];
	char buf[8];

	printf("-- poll and shutdown\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	p[0] = (struct pollfd){.fd = sv[0], .events = POLLIN | POLLOUT};
	p[1] = (struct pollfd){.fd = sv[1], .events = POLLIN | POLLOUT};
	show("poll", poll(p, 2, 0));
	printf("revents: %#x %#x\n", p[0].revents, p[1].revents);
	write(sv[0], "x", 1);
	show("poll", poll(p, 2, 0));
	printf("revents: %#x %#x\n", p[0].revents, p[1].revents);
	show("shutdown wr", shutdown(sv[0], SHUT_WR));
	show("read data", read(sv[1], buf, sizeof(buf)));
	show("read eof", read(sv[1], buf, sizeof(buf)));
	show("write after shutdown", write(sv[0], "y", 1));
	p[1].events = POLLIN | POLLRDHUP;
	show("poll", poll(p, 2, 0));
	printf("revents: %#x %#x\n", p[0].revents, p[1].revents);
	close(sv[1]);
	p[0].events = POLLIN;
	show("poll after close", poll(p, 1, 0));
	printf("revents: %#x\n", p[0].revents);
	show("shutdown bad", shutdown(sv[0], 7));
	close(sv[0]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(30); /* never hang the test run */
	setvbuf(stdout, NULL, _IONBF, 0);
	boundaries(SOCK_DGRAM, "dgram");
	boundaries(SOCK_SEQPACKET, "seqpacket");
	names();
	creds_and_opts();
	poll_and_shutdown();
	return 0;
}
