/*
 * AF_INET over loopback: a TCP echo between two processes (on an ephemeral port), UDP
 * datagrams, options, nonblocking connect with poll, ECONNREFUSED, EPIPE,
 * a blocking recv interrupted by a signal, and NETLINK_ROUTE finding `lo`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 50

static void show(const char *what, long r)
{
	printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static uint16_t port_of(int s)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	getsockname(s, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

/* The client: ROUNDS lines of growing size, each echoed back in full. */
static int echo_client(uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char out[4096], in[4096];

	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 10;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 1; i <= ROUNDS; i++) {
		size_t n = (size_t)i * 60;

		memset(out, 'a' + i % 26, n);
		if (write(s, out, n) != (ssize_t)n)
			return 11;
		if (recv(s, in, n, MSG_WAITALL) != (ssize_t)n || memcmp(in, out, n))
			return 12;
	}
	shutdown(s, SHUT_WR);
	if (read(s, in, sizeof(in)) != 0)
		return 13;
	close(s);
	return 0;
}

static void tcp_echo(void)
{
	struct sockaddr_in a = loopback(0), peer;
	socklen_t pl = sizeof(peer);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1, v = 0, c, st;
	socklen_t vl = sizeof(v);
	long total = 0;
	char buf[8192];
	ssize_t n;
	pid_t child;

	printf("-- tcp echo\n");
	show("setsockopt reuseaddr", setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	getsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &v, &vl);
	printf("reuseaddr: %d\n", v != 0);
	show("bind", bind(ls, (struct sockaddr *)&a, sizeof(a)));
	show("listen", listen(ls, 8));
	getsockopt(ls, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	printf("acceptconn: %d\n", v);
	child = fork();
	if (child == 0)
		_exit(echo_client(port_of(ls)));
	c = accept(ls, (struct sockaddr *)&peer, &pl);
	printf("accepted: ok=%d len=%u from-loopback=%d\n", c >= 0, pl,
	       peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		total += n;
		if (write(c, buf, (size_t)n) != n)
			break;
	}
	printf("echoed: %ld bytes, last read %zd\n", total, n);
	getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl);
	printf("type: %d\n", v);
	getsockopt(c, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
	printf("protocol: %d\n", v);
	getsockopt(c, SOL_SOCKET, SO_DOMAIN, &v, &vl);
	printf("domain: %d\n", v);
	close(c);
	waitpid(child, &st, 0);
	printf("client exit: %d\n", WEXITSTATUS(st));
	close(ls);
}

static void udp(void)
{
	struct sockaddr_in a = loopback(0), from;
	socklen_t fl = sizeof(from);
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	char buf[64];

	printf("-- udp\n");
	show("bind", bind(r, (struct sockaddr *)&a, sizeof(a)));
	a = loopback(port_of(r));
	show("sendto", sendto(s, "datagram", 8, 0, (struct sockaddr *)&a, sizeof(a)));
	show("sendto empty", sendto(s, "", 0, 0, (struct sockaddr *)&a, sizeof(a)));
	show("recvfrom", recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
	printf("from: len=%u loopback=%d port-matches=%d\n", fl,
	       from.sin_addr.s_addr == htonl(INADDR_LOOPBACK), ntohs(from.sin_port) == port_of(s));
	show("recv empty datagram", recv(r, buf, sizeof(buf), 0));
	show("connect", connect(s, (struct sockaddr *)&a, sizeof(a)));
	show("send", send(s, "0123456789", 10, 0));
	show("recv truncated", recv(r, buf, 4, MSG_TRUNC));
	show("recv nothing", recv(s, buf, sizeof(buf), 0));
	close(r);
	close(s);
}

static void connections(void)
{
	struct sockaddr_in a = loopback(0);
	int ls = socket(AF_INET, SOCK_STREAM, 0), s, e = -1, c;
	socklen_t el = sizeof(e);
	struct pollfd p;
	uint16_t port;
	char buf[4];

	printf("-- connections\n");
	bind(ls, (struct sockaddr *)&a, sizeof(a));
	port = port_of(ls);
	close(ls); /* nobody listens on port now */
	a = loopback(port);
	s = socket(AF_INET, SOCK_STREAM, 0);
	show("connect refused", connect(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	a = loopback(0);
	bind(ls, (struct sockaddr *)&a, sizeof(a));
	listen(ls, 1);
	a = loopback(port_of(ls));
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	c = connect(s, (struct sockaddr *)&a, sizeof(a));
	printf("nonblocking connect: %s\n", c == 0 || errno == EINPROGRESS ? "ok" : strerror(errno));
	p = (struct pollfd){.fd = s, .events = POLLOUT};
	show("poll", poll(&p, 1, 5000));
	printf("revents: %#x\n", p.revents);
	getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
	printf("so_error: %d\n", e);
	c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
	show("accept nonblock again", accept4(ls, NULL, NULL, SOCK_NONBLOCK));
	show("recv nothing yet", recv(c, buf, sizeof(buf), 0));
	send(s, "abcdef", 6, 0);
	poll(&(struct pollfd){.fd = c, .events = POLLIN}, 1, 5000);
	show("recv MSG_TRUNC discards", recv(c, buf, 4, MSG_TRUNC));
	memset(buf, 0, sizeof(buf));
	show("recv the rest", recv(c, buf, 4, 0));
	printf("rest: %.2s\n", buf);
	close(c);
	p = (struct pollfd){.fd = s, .events = POLLIN};
	show("poll after peer close", poll(&p, 1, 5000));
	printf("revents has in: %d\n", !!(p.revents & POLLIN));
	show("read eof", read(s, buf, sizeof(buf)));
	send(s, "x", 1, MSG_NOSIGNAL); /* the peer answers with RST */
	usleep(100000);
	show("send after reset", send(s, "x", 1, MSG_NOSIGNAL));
	close(s);
	close(ls);
}

static void on_alarm(int sig)
{
}

static void interrupted(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	struct itimerval it = {.it_value = {0, 100000}};
	struct sockaddr_in a = loopback(0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[4];

	printf("-- signals\n");
	bind(s, (struct sockaddr *)&a, sizeof(a));
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	show("recv interrupted", recv(s, buf, sizeof(buf), 0));
	signal(SIGALRM, SIG_DFL);
	alarm(30);
	close(s);
}

/* NETLINK_ROUTE: dump the links and look for the loopback. */
static void netlink(void)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {
		.h = {.nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
		      .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1},
		.i = {.ifi_family = AF_UNSPEC},
	};
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), found = 0, done = 0;
	static char buf[32768];

	printf("-- netlink\n");
	show("send", send(s, &req, sizeof(req), 0) == sizeof(req) ? 0 : -1);
	while (!done) {
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct ifinfomsg *ifi = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				done = 1;
			else if (h->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_LOOPBACK))
				found = (ifi->ifi_flags & IFF_UP) ? 2 : 1;
		}
	}
	printf("loopback found: %d (2 = up)\n", found);
	printf("if_nametoindex(lo) > 0: %d\n", if_nametoindex("lo") > 0);
	close(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	alarm(30); /* never hang the test run */
	tcp_echo();
	udp();
	connections();
	interrupted();
	netlink();
	return 0;
}
