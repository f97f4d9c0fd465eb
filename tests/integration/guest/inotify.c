/*
 * inotify: the events of file and directory operations in a watched directory (creation,
 * writes, closes, attributes, links, nodes, sockets, deletion, renames within and across
 * directories with shared cookies, exchanges), self events (delete_self then ignored, also
 * deferred while the file is open, move_self), IN_EXCL_UNLINK, IN_ONESHOT, IN_MASK_ADD and
 * IN_MASK_CREATE, IN_DONT_FOLLOW, one wd per object, rm_watch, the argument checks, reads
 * (EAGAIN, too-small buffers, partial reads, blocking), poll and epoll readiness, FIONREAD,
 * merged events, IN_Q_OVERFLOW, and a watch surviving thousands of lookups of other files.
 * Works in argv[1] (t_guest.sh: the rootfs's /tmp; t_mounts.sh: a tmpfs).
 */
// ARGS: /tmp/inotify.d
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "fs_check.h"

static char dir[256];

/* dir/name in a static ring of buffers. */
static const char *P(const char *name)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];

	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

static const char *mask_str(uint32_t m)
{
	static const char *names[] = {"ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE",
				      "OPEN", "MOVED_FROM", "MOVED_TO", "CREATE", "DELETE",
				      "DELETE_SELF", "MOVE_SELF", "?", "UNMOUNT", "Q_OVERFLOW",
				      "IGNORED"};
	static char buf[256];

	buf[0] = 0;
	for (int i = 0; i < 16; i++)
		if (m & (1u << i))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", *buf ? "|" : "",
				 names[i]);
	if (m & IN_ISDIR)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "|ISDIR");
	return buf;
}

/* Prints every event read from buf[0..n); cookies as C1, C2... in order of appearance. */
static void print_events(const char *buf, ssize_t n)
{
	uint32_t cookies[64];
	int ncookies = 0;

	for (ssize_t off = 0; off < n;) {
		const struct inotify_event *e = (const void *)(buf + off);
		int c = 0;

		if (e->cookie) {
			while (c < ncookies && cookies[c] != e->cookie)
				c++;
			if (c == ncookies && ncookies < 64)
				cookies[ncookies++] = e->cookie;
			c++;
		}
		printf("  wd=%d %s", e->wd, mask_str(e->mask));
		if (c)
			printf(" cookie=C%d", c);
		if (e->len)
			printf(" len=%u name=%s", e->len, e->name);
		printf("\n");
		off += (ssize_t)sizeof(*e) + e->len;
	}
}

/* Reads and prints what is queued on the nonblocking fd (one read of a big buffer). */
static void drain(int fd, const char *what)
{
	static char buf[1 << 16] __attribute__((aligned(8)));
	ssize_t n = read(fd, buf, sizeof(buf));

	printf("%s:\n", what);
	if (n < 0) {
		printf("  read: %s\n", strerrorname_np(errno));
		return;
	}
	print_events(buf, n);
}

static void touch_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			perror("write");
		close(fd);
	}
}

static int add(int fd, const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(fd, path, mask);

	if (wd < 0)
		printf("add_watch %s: %s\n", path + strlen(dir), strerrorname_np(errno));
	return wd;
}

static void test_args(void)
{
	int fd, flags, reg;

	printf("-- arguments\n");
	CHECK("init1 bad flags", inotify_init1(1));
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	flags = fcntl(fd, F_GETFL);
	printf("fl: accmode=%d nonblock=%d cloexec=%d\n", flags & O_ACCMODE, !!(flags & O_NONBLOCK),
	       fcntl(fd, F_GETFD) & FD_CLOEXEC);
	reg = open(P("f"), O_RDWR | O_CREAT, 0644);
	CHECK("read empty", read(fd, &flags, 0 + sizeof(flags)));
	CHECK("write", write(fd, "x", 1));
	CHECK("add mask 0", inotify_add_watch(fd, dir, 0));
	CHECK("add bad bit", inotify_add_watch(fd, dir, IN_MODIFY | 0x1000));
	CHECK("add bad fd", inotify_add_watch(-1, dir, IN_MODIFY));
	CHECK("add not inotify", inotify_add_watch(reg, dir, IN_MODIFY));
	CHECK("add add|create", inotify_add_watch(fd, dir, IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
	CHECK("add missing", inotify_add_watch(fd, P("nope"), IN_MODIFY));
	CHECK("add onlydir file", inotify_add_watch(fd, P("f"), IN_MODIFY | IN_ONLYDIR));
	CHECKV("add onlydir dir", inotify_add_watch(fd, dir, IN_MODIFY | IN_ONLYDIR));
	CHECKV("add flags only", inotify_add_watch(fd, P("f"), IN_ONESHOT));
	CHECKV("add excl_unlink", inotify_add_watch(fd, P("f"), IN_OPEN | IN_EXCL_UNLINK));
	CHECK("rm unknown", inotify_rm_watch(fd, 99));
	CHECK("rm not inotify", inotify_rm_watch(reg, 1));
	CHECK("rm bad fd", inotify_rm_watch(-1, 1));
	CHECK("rm 1", inotify_rm_watch(fd, 1));
	CHECK("rm 1 again", inotify_rm_watch(fd, 1));
	drain(fd, "ignored");
	close(reg);
	close(fd);
	unlink(P("f"));
}

/* Read permission on the path: watching agrees with access(R_OK), for root and nobody. */
static void test_permission(void)
{
	int fd = inotify_init1(IN_NONBLOCK), st;
	pid_t c;

	printf("-- permission\n");
	write_file(P("secret"), "s");
	chmod(P("secret"), 0);
	chmod(dir, 0755);
	for (int as_nobody = 0; as_nobody < 2; as_nobody++) {
		c = fork();
		if (c == 0) {
			bool dropped = as_nobody && setgid(65534) == 0 && setuid(65534) == 0;
			int wd = inotify_add_watch(fd, P("secret"), IN_MODIFY);
			int e = errno, acc = access(P("secret"), R_OK);

			if (as_nobody && !dropped)
				acc = wd; /* without CAP_SETUID: nothing to compare */
			printf("as %s: %s\n", as_nobody ? "nobody" : "root",
			       (wd < 0) == (acc < 0) && (wd >= 0 || e == EACCES) ? "consistent"
										  : "MISMATCH");
			_exit(0);
		}
		waitpid(c, &st, 0);
	}
	close(fd);
	unlink(P("secret"));
}

/* Events of a watched directory's entries. */
static void test_dir_events(void)
{
	int fd = inotify_init1(IN_NONBLOCK), f, s;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
	char buf[16];
	DIR *d;

	printf("-- directory events\n");
	mkdir(P("w"), 0755);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/w");
	CHECKV("add dir", add(fd, dir, IN_ALL_EVENTS));
	f = open(P("f"), O_WRONLY | O_CREAT, 0644);
	write(f, "hello", 5);
	write(f, " world", 6);
	close(f);
	drain(fd, "create, write twice (merged), close");
	f = open(P("f"), O_RDONLY);
	read(f, buf, sizeof(buf));
	read(f, buf, sizeof(buf)); /* at EOF: no event */
	close(f);
	drain(fd, "open, read, close");
	chmod(P("f"), 0600);
	chown(P("f"), getuid(), -1);
	chown(P("f"), -1, -1);
	truncate(P("f"), 3);
	utimensat(AT_FDCWD, P("f"), NULL, 0);
	utimensat(AT_FDCWD, P("f"), t, 0);
	t[0].tv_nsec = UTIME_OMIT;
	t[1].tv_nsec = UTIME_NOW;
	utimensat(AT_FDCWD, P("f"), t, 0);
	drain(fd, "chmod, chown, chown(-1,-1), truncate, utimes, atime only, mtime only");
	f = open(P("f"), O_RDWR | O_TRUNC);
	ftruncate(f, 10);
	pread(f, buf, 1, 0);
	fallocate(f, 0, 0, 20);
	pread(f, buf, 1, 0);
	write(f, "x", 1);
	pread(f, buf, 1, 0);
	pwrite(f, "y", 1, 5);
	fchmod(f, 0644);
	close(f);
	drain(fd, "O_TRUNC open, ftruncate, fallocate, write, pwrite (each after a pread), fchmod");
	s = setxattr(P("f"), "user.k", "v", 1, 0) == 0;
	f = open(P(""), O_RDONLY | O_DIRECTORY); /* any event after the xattr one */
	close(f);
	{
		char eb[512] __attribute__((aligned(8)));
		ssize_t n = read(fd, eb, sizeof(eb));
		const struct inotify_event *e = (const void *)eb;

		printf("xattr: %s\n", n > 0 && (e->mask == IN_ATTRIB) == s ? "consistent" : "MISMATCH");
	}
	mkdir(P("sub"), 0755);
	f = open(P("sub"), O_RDONLY | O_DIRECTORY);
	close(f);
	symlink("f", P("link"));
	link(P("f"), P("hard"));
	mkfifo(P("fifo"), 0644);
	mknod(P("node"), S_IFREG | 0644, 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P("sock"));
	CHECK("bind", bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	close(s);
	drain(fd, "mkdir, open subdir, symlink, link, mkfifo, mknod, bind");
	d = opendir(dir);
	while (readdir(d))
		;
	closedir(d);
	drain(fd, "readdir");
	unlink(P("hard"));
	unlink(P("link"));
	unlink(P("sock"));
	rmdir(P("sub"));
	rename(P("f"), P("g"));
	rename(P("fifo"), P("node")); /* over an existing file */
	drain(fd, "unlink, rmdir, rename twice");
	close(fd);
	unlink(P("g"));
	unlink(P("node"));
	dir[strlen(dir) - 2] = 0;
	rmdir(P("w"));
}

/* A directory and a file in it, watched by one instance. */
static void test_self_events(void)
{
	int fd = inotify_init1(IN_NONBLOCK), f, wd;

	printf("-- self events\n");
	write_file(P("g"), "g");
	CHECKV("add dir", add(fd, dir, IN_ALL_EVENTS));
	CHECKV("add file", add(fd, P("g"), IN_ALL_EVENTS));
	CHECKV("add file again", add(fd, P("./g"), IN_ALL_EVENTS));
	link(P("g"), P("g2"));
	CHECKV("add hard link", add(fd, P("g2"), IN_ALL_EVENTS));
	touch_write(P("g"), "more");
	chmod(P("g"), 0644);
	drain(fd, "link, write, chmod");
	unlink(P("g2"));
	unlink(P("g"));
	drain(fd, "unlink both names");

	write_file(P("h"), "h");
	CHECKV("add h", add(fd, P("h"), IN_ALL_EVENTS));
	f = open(P("h"), O_WRONLY);
	unlink(P("h"));
	write(f, "x", 1);
	drain(fd, "unlink while open, write");
	close(f);
	drain(fd, "close (delete_self now)");

	mkdir(P("d"), 0755);
	wd = (int)CHECKV("add subdir", add(fd, P("d"), IN_ALL_EVENTS));
	chmod(P("d"), 0700);
	rmdir(P("d"));
	drain(fd, "chmod, rmdir subdir");
	CHECK("rm removed wd", inotify_rm_watch(fd, wd));
	close(fd);
}

static void test_excl_unlink(void)
{
	int fd = inotify_init1(IN_NONBLOCK), f;

	printf("-- IN_EXCL_UNLINK\n");
	for (int excl = 0; excl < 2; excl++) {
		write_file(P("e"), "e");
		CHECKV("add", add(fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE |
					       (excl ? IN_EXCL_UNLINK : 0)));
		f = open(P("e"), O_WRONLY);
		unlink(P("e"));
		write(f, "x", 1);
		close(f);
		drain(fd, excl ? "with IN_EXCL_UNLINK" : "without");
	}
	close(fd);
}

static void test_renames(void)
{
	int fd = inotify_init1(IN_NONBLOCK);

	printf("-- renames\n");
	mkdir(P("a"), 0755);
	mkdir(P("b"), 0755);
	mkdir(P("a/sub"), 0755);
	write_file(P("a/x"), "x");
	write_file(P("b/victim"), "v");
	write_file(P("a/e1"), "1");
	write_file(P("b/e2"), "2");
	CHECKV("add a", add(fd, P("a"), IN_ALL_EVENTS & ~(IN_OPEN | IN_CLOSE | IN_ACCESS)));
	CHECKV("add b", add(fd, P("b"), IN_MOVE | IN_CREATE | IN_DELETE));
	CHECKV("add x", add(fd, P("a/x"), IN_ALL_EVENTS));
	CHECKV("add victim", add(fd, P("b/victim"), IN_ALL_EVENTS));
	CHECKV("add sub", add(fd, P("a/sub"), IN_MOVE_SELF));
	rename(P("a/x"), P("b/y"));
	drain(fd, "across directories");
	rename(P("b/y"), P("b/victim"));
	drain(fd, "over a watched file");
	rename(P("a/sub"), P("b/sub"));
	drain(fd, "a directory");
	CHECK("exchange", renameat2(AT_FDCWD, P("a/e1"), AT_FDCWD, P("b/e2"), RENAME_EXCHANGE));
	drain(fd, "exchange");
	touch_write(P("b/victim"), "still watched after moves");
	drain(fd, "write to the moved file");
	close(fd);
	rm_rf(P("a"));
	rm_rf(P("b"));
}

static void test_masks(void)
{
	int fd = inotify_init1(IN_NONBLOCK), f;

	printf("-- masks\n");
	write_file(P("m"), "m");
	CHECKV("oneshot", add(fd, P("m"), IN_MODIFY | IN_ONESHOT));
	touch_write(P("m"), "1");
	touch_write(P("m"), "2");
	drain(fd, "oneshot: one event, then ignored");
	CHECKV("open only", add(fd, P("m"), IN_OPEN));
	CHECKV("replace", add(fd, P("m"), IN_CLOSE_NOWRITE));
	f = open(P("m"), O_RDONLY);
	close(f);
	drain(fd, "replaced: close only");
	CHECKV("mask_add", add(fd, P("m"), IN_OPEN | IN_MASK_ADD));
	f = open(P("m"), O_RDONLY);
	close(f);
	drain(fd, "added: open and close");
	CHECK("mask_create existing", inotify_add_watch(fd, P("m"), IN_OPEN | IN_MASK_CREATE));
	write_file(P("n"), "n");
	CHECKV("mask_create new", add(fd, P("n"), IN_OPEN | IN_MASK_CREATE));
	symlink("m", P("sl"));
	CHECKV("follow", add(fd, P("sl"), IN_ATTRIB));
	CHECKV("dont_follow", add(fd, P("sl"), IN_ATTRIB | IN_DONT_FOLLOW));
	lchown(P("sl"), getuid(), -1);
	drain(fd, "lchown of the link");
	close(fd);
	unlink(P("m"));
	unlink(P("n"));
	unlink(P("sl"));
}

static void test_reads(void)
{
	int fd = inotify_init1(IN_NONBLOCK), ep = epoll_create1(0), n, st;
	struct epoll_event ev = {.events = EPOLLIN}, out;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[256] __attribute__((aligned(8)));
	pid_t c;

	printf("-- reads, poll, FIONREAD\n");
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	add(fd, dir, IN_CREATE);
	n = poll(&p, 1, 0);
	printf("poll empty: %d revents=%#x\n", n, p.revents);
	printf("epoll empty: %d\n", epoll_wait(ep, &out, 1, 0));
	CHECK("read empty", read(fd, buf, sizeof(buf)));
	write_file(P("sixteen_chars_xx"), "");
	write_file(P("r2"), "");
	n = poll(&p, 1, 0);
	printf("poll: %d revents=%#x\n", n, p.revents);
	n = epoll_wait(ep, &out, 1, 0);
	printf("epoll: %d events=%#x\n", n, out.events);
	ioctl(fd, FIONREAD, &n);
	printf("FIONREAD: %d\n", n);
	CHECK("read 16", read(fd, buf, 16));
	CHECK("read 47", read(fd, buf, 47));
	CHECKV("read 48 (one of two)", read(fd, buf, 48));
	print_events(buf, 48);
	CHECKV("read rest", read(fd, buf, sizeof(buf)));
	print_events(buf, 32);
	ioctl(fd, FIONREAD, &n);
	printf("FIONREAD: %d\n", n);
	close(fd);
	close(ep);

	fd = inotify_init();
	add(fd, dir, IN_CREATE);
	c = fork();
	if (c == 0) {
		usleep(100 * 1000);
		write_file(P("late"), "");
		_exit(0);
	}
	n = (int)read(fd, buf, sizeof(buf));
	printf("blocking read: %d\n", n);
	print_events(buf, n);
	waitpid(c, &st, 0);
	close(fd);
	unlink(P("sixteen_chars_xx"));
	unlink(P("r2"));
	unlink(P("late"));
}

static void test_merge_overflow(void)
{
	int fd = inotify_init1(IN_NONBLOCK), f, n, events = 0;
	static char buf[1 << 20] __attribute__((aligned(8)));
	ssize_t got;
	const struct inotify_event *last = NULL;

	printf("-- merging and overflow\n");
	write_file(P("o"), "");
	add(fd, P("o"), IN_MODIFY | IN_ATTRIB | IN_OPEN | IN_CLOSE_NOWRITE);
	touch_write(P("o"), "1");
	chmod(P("o"), 0600);
	chmod(P("o"), 0644);
	drain(fd, "open, modify, close_write (not watched), attrib twice (merged)");
	for (int i = 0; i < 8200; i++)
		close(open(P("o"), O_RDONLY));
	ioctl(fd, FIONREAD, &n);
	printf("FIONREAD: %d\n", n);
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < got; off += (ssize_t)sizeof(*last) + last->len) {
			last = (const void *)(buf + off);
			events++;
		}
	}
	printf("events: %d, last: wd=%d %s\n", events, last->wd, mask_str(last->mask));
	f = open(P("o"), O_RDONLY);
	close(f);
	drain(fd, "after the overflow was read");
	close(fd);
	unlink(P("o"));
}

/* A watch keyed by the file, not by a cached inode: thousands of other lookups between. */
static void test_many_lookups(void)
{
	int fd = inotify_init1(IN_NONBLOCK), evicted = 0;
	struct stat st, st2;
	char name[64];

	printf("-- many lookups\n");
	mkdir(P("many"), 0755);
	mkdir(P("watched"), 0755);
	write_file(P("watched/file"), "");
	add(fd, P("watched"), IN_CREATE | IN_MODIFY);
	add(fd, P("watched/file"), IN_ATTRIB);
	stat(P("watched/file"), &st);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4000; i++) {
			snprintf(name, sizeof(name), "many/f%d", i);
			if (round == 0)
				write_file(P(name), "");
			evicted += stat(P(name), &st2) < 0;
		}
	}
	printf("stat failures: %d\n", evicted);
	touch_write(P("watched/file"), "x");
	chmod(P("watched/file"), 0600);
	write_file(P("watched/new"), "");
	drain(fd, "after 8000 lookups elsewhere");
	close(fd);
	rm_rf(P("many"));
	rm_rf(P("watched"));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : "/tmp/inotify.d");
	fresh_dir(dir);
	test_args();
	test_permission();
	test_dir_events();
	test_self_events();
	test_excl_unlink();
	test_renames();
	test_masks();
	test_reads();
	test_merge_overflow();
	test_many_lookups();
	rm_rf(dir);
	return 0;
}
