/*
 * Socket corner cases and errors: socket() argument checks, names of unbound sockets,
 * long and odd addresses, listen/accept/connect misuse, ECONNRESET after a peer closes with
 * unread data, option lengths, fstat and /proc/self/fd of a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

static void creation(void)
{
	printf("-- socket()\n");
	show("unix bad protocol", socket(AF_UNIX, SOCK_STREAM, 5));
	show("unix bad type", socket(AF_UNIX, 7, 0));
	show("unknown family", socket(99, SOCK_STREAM, 0));
	show("bad flags", socket(AF_INET, SOCK_STREAM | 0x100, 0));
	show("inet stream udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	show("inet seqpacket", socket(AF_INET, SOCK_SEQPACKET, 0));
	show("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0}));
}

static void names(void)
{
	struct sockaddr_un a, got;
	socklen_t gl = sizeof(got);
	int s = socket(AF_UNIX, SOCK_STREAM, 0), t = socket(AF_UNIX, SOCK_DGRAM, 0);
	char buf[4], longpath[sizeof(a.sun_path) + 1];

	printf("-- names\n");
	memset(&got, 0x55, sizeof(got));
	show("getsockname unbound", getsockname(s, (struct sockaddr *)&got, &gl));
	printf("len=%u family=%d\n", gl, got.sun_family);
	gl = sizeof(got);
	show("getpeername unconnected", getpeername(s, (struct sockaddr *)&got, &gl));
	gl = 1;
	show("getsockname short", getsockname(s, (struct sockaddr *)&got, &gl));
	printf("len=%u\n", gl);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memset(a.sun_path, 'x', sizeof(a.sun_path));
	memcpy(a.sun_path, "/tmp/", 5);
	memcpy(longpath, a.sun_path, sizeof(a.sun_path));
	longpath[sizeof(a.sun_path)] = 0;
	unlink(longpath);
	show("bind 108-byte path", bind(t, (struct sockaddr *)&a, sizeof(a)));
	gl = sizeof(got);
	getsockname(t, (struct sockaddr *)&got, &gl);
	printf("getsockname len: %u\n", gl);
	unlink(longpath);
	show("bind again", bind(t, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "/tmp/other"}, sizeof(a)));
	close(t);
	t = socket(AF_UNIX, SOCK_DGRAM, 0);
	show("bind missing dir", bind(t, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "/nonexistent/dir/s"}, sizeof(a)));
	show("bind bad family", bind(t, (struct sockaddr *)&(struct sockaddr_un){AF_INET, "/tmp/x"}, sizeof(a)));
	show("bind too long", bind(t, (struct sockaddr *)&a, sizeof(a) + 1));
	show("bind short", bind(t, (struct sockaddr *)&a, 1));
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, "\0a\0b", 4);
	show("bind abstract with NULs", bind(t, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 4));
	gl = sizeof(got);
	getsockname(t, (struct sockaddr *)&got, &gl);
	printf("len=%u same=%d\n", gl, !memcmp(got.sun_path, "\0a\0b", 4));
	show("connect stream to dgram abstract", connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 4));
	show("listen unbound", listen(s, 1));
	show("accept not listening", accept(s, NULL, NULL));
	show("accept on dgram", accept(t, NULL, NULL));
	show("read unconnected stream", read(s, buf, 1));
	show("write unconnected stream", send(s, "x", 1, MSG_NOSIGNAL));
	show("shutdown unconnected", shutdown(s, SHUT_RDWR));
	close(s);
	close(t);
}

static void resets(void)
{
	int sv[2], e = -1, v = 0;
	socklen_t el = sizeof(e), vl = 2;
	struct linger lg = {1, 5};
	socklen_t ll = sizeof(lg);
	char buf[8];
	struct sockaddr_un from;
	socklen_t fl = sizeof(from);

	printf("-- resets\n");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "unread", 6);
	write(sv[1], "data", 4);
	close(sv[1]); /* with "unread" still queued for it */
	show("read queued data", read(sv[0], buf, sizeof(buf)));
	show("read after reset", read(sv[0], buf, sizeof(buf)));
	show("read again", read(sv[0], buf, sizeof(buf)));
	getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &e, &el);
	printf("so_error: %d\n", e);
	show("sendto with address on stream", sendto(sv[0], "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "/tmp/x"}, sizeof(struct sockaddr_un)));
	close(sv[0]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	show("getsockopt short int", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl));
	printf("len=%u value=%d\n", vl, v);
	show("setsockopt short int", setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &v, 2));
	show("set linger", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	memset(&lg, 0, sizeof(lg));
	show("get linger", getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, &ll));
	printf("linger: %d %d len=%u\n", lg.l_onoff, lg.l_linger, ll);
	write(sv[1], "hi", 2);
	show("recvfrom stream", recvfrom(sv[0], buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
	printf("from len: %u\n", fl);
	close(sv[0]);
	close(sv[1]);
}

static void as_a_file(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct stat st;
	char link[64], path[64];
	ssize_t n;

	printf("-- as a file\n");
	fstat(s, &st);
	printf("fstat: sock=%d mode=%o\n", S_ISSOCK(st.st_mode), st.st_mode & 07777);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	printf("readlink: %.8s\n", link);
	printf("flags: %#x\n", fcntl(s, F_GETFL));
	show("lseek", lseek(s, 0, SEEK_SET));
	show("pread", pread(s, link, 1, 0));
	close(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	alarm(30); /* never hang the test run */
	creation();
	names();
	resets();
	as_a_file();
	return 0;
}
