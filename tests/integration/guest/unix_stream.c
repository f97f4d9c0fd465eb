/*
 * AF_UNIX stream sockets between two processes: a server bound to a filesystem path, a
 * client that connects, SO_PEERCRED, SCM_RIGHTS passing an open file the server then reads,
 * MSG_PEEK, FIONREAD, shutdown and EOF, EADDRINUSE, ECONNREFUSED, EPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The socket path; argv[1] moves it (onto a tmpfs, say). */
static const char *PATH = "/tmp/unix_stream.sock";

static socklen_t addr_of(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static void show(const char *what, int r)
{
	printf("%s: %d%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

/* The client: sends a greeting, then a file descriptor, then waits for the reply and EOF. */
static int client(void)
{
	struct sockaddr_un a;
	socklen_t len = addr_of(&a, PATH);
	int s = socket(AF_UNIX, SOCK_STREAM, 0), fd = open("/data/lines.txt", O_RDONLY);
	char cbuf[CMSG_SPACE(sizeof(int))] = {0}, buf[64];
	struct iovec iov = {.iov_base = "F", .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	ssize_t n;

	if (s < 0 || fd < 0 || connect(s, (struct sockaddr *)&a, len) < 0)
		return 10;
	if (write(s, "hello", 5) != 5)
		return 11;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(s, &m, 0) != 1)
		return 12;
	close(fd);
	n = read(s, buf, sizeof(buf));
	if (n != 5 || memcmp(buf, "reply", 5))
		return 13;
	if (shutdown(s, SHUT_WR) < 0)
		return 14;
	n = read(s, buf, sizeof(buf)); /* the server closes after seeing our EOF */
	if (n != 0)
		return 15;
	close(s);
	return 0;
}

static void server_conn(int a, pid_t child)
{
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	char buf[64], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int avail = -1, fd = -1;
	ssize_t n;

	getsockopt(a, SOL_SOCKET, SO_PEERCRED, &uc, &ul);
	printf("peercred: len=%u pid-is-child=%d uid=%u gid=%u\n", ul, uc.pid == child, uc.uid,
	       uc.gid);
	n = recv(a, buf, 5, MSG_PEEK | MSG_WAITALL);
	ioctl(a, FIONREAD, &avail);
	printf("peek: %zd '%.5s' fionread>=5: %d\n", n, buf, avail >= 5);
	n = read(a, buf, 5);
	printf("read: %zd '%.5s'\n", n, buf);
	n = recvmsg(a, &m, 0);
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	printf("recvmsg: %zd '%c' level=%d type=%d flags=%d\n", n, buf[0], c ? c->cmsg_level : -1,
	       c ? c->cmsg_type : -1, m.msg_flags);
	n = fd >= 0 ? read(fd, buf, 9) : -1;
	printf("passed fd reads: %zd '%.9s' cloexec=%d\n", n, buf, fcntl(fd, F_GETFD));
	close(fd);
	show("write reply", (int)write(a, "reply", 5));
	n = read(a, buf, sizeof(buf));
	printf("read after client shutdown: %zd\n", n);
	close(a);
}

int main(int argc, char **argv)
{
	struct sockaddr_un a, got;
	socklen_t len, gl = sizeof(got);
	int ls, s2, st;
	struct stat sb;
	pid_t child;

	signal(SIGPIPE, SIG_IGN);
	alarm(30); /* never hang the test run */
	if (argc > 1)
		PATH = argv[1];
	len = addr_of(&a, PATH);
	unlink(PATH);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	show("bind", bind(ls, (struct sockaddr *)&a, len));
	printf("inode is socket: %d\n", stat(PATH, &sb) == 0 && S_ISSOCK(sb.st_mode));
	s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	show("bind in use", bind(s2, (struct sockaddr *)&a, len));
	show("connect before listen", connect(s2, (struct sockaddr *)&a, len));
	show("listen", listen(ls, 4));
	show("listen again", listen(ls, 8));
	getsockname(ls, (struct sockaddr *)&got, &gl);
	printf("getsockname: len-ok=%d same-path=%d\n", gl == len, !strcmp(got.sun_path, PATH));
	child = fork();
	if (child == 0)
		_exit(client());
	gl = sizeof(got);
	st = accept4(ls, (struct sockaddr *)&got, &gl, SOCK_CLOEXEC);
	printf("accept: ok=%d addrlen=%u family=%d\n", st >= 0, gl, got.sun_family);
	gl = sizeof(got);
	getsockname(st, (struct sockaddr *)&got, &gl);
	printf("accepted getsockname: same-path=%d\n", !strcmp(got.sun_path, PATH));
	server_conn(st, child);
	waitpid(child, &st, 0);
	printf("client exit: %d\n", WEXITSTATUS(st));
	close(ls);
	show("connect after close", connect(s2, (struct sockaddr *)&a, len));
	show("connect missing", connect(s2, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "/tmp/nope.sock"}, sizeof(struct sockaddr_un)));
	unlink(PATH);
	return 0;
}
