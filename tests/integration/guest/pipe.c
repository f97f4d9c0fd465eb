/* Pipes: partial reads and writes, capacity, EOF, EPIPE and SIGPIPE, O_NONBLOCK, packet mode,
 * PIPE_BUF atomicity between two writers, fds across fork, fstat and FIONREAD. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e)
{
	switch (e) {
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EBUSY: return "EBUSY";
	case EPIPE: return "EPIPE";
	case ESPIPE: return "ESPIPE";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	default: return "E?";
	}
}

/* Prints "what: r" or "what: -1 ENAME". */
static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: %ld %s\n", what, r, ename(errno));
	else
		printf("%s: %ld\n", what, r);
}

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			printf("FAIL line %d: %s (errno %d)\n", __LINE__, #c, errno);      \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static void basics(void)
{
	int p[2], n;
	char buf[256];
	struct stat st;

	CHECK(pipe(p) == 0);
	CHECK(fstat(p[0], &st) == 0);
	printf("fifo type: %d, same inode: ", S_ISFIFO(st.st_mode));
	{
		struct stat st2;

		fstat(p[1], &st2);
		printf("%d\n", st.st_ino == st2.st_ino);
	}
	printf("flags rd=%o ", fcntl(p[0], F_GETFL) & O_ACCMODE);
	printf("wr=%o\n", fcntl(p[1], F_GETFL) & O_ACCMODE);
	printf("size %d\n", fcntl(p[0], F_GETPIPE_SZ));
	CHECK(write(p[1], "hello world", 11) == 11);
	CHECK(ioctl(p[0], FIONREAD, &n) == 0);
	printf("FIONREAD %d\n", n);
	printf("read 5: %zd ", read(p[0], buf, 5));
	printf("read 100: %zd '%.6s'\n", read(p[0], buf, 100), buf);
	show("lseek", (long)lseek(p[0], 0, SEEK_CUR));
	show("read on write end", read(p[1], buf, 1));
	close(p[1]);
	printf("eof: %zd\n", read(p[0], buf, 10));
	close(p[0]);
}

static void capacity(void)
{
	int p[2];
	static char big[200000];
	ssize_t w;

	CHECK(pipe2(p, O_NONBLOCK) == 0);
	memset(big, 'x', sizeof(big));
	w = write(p[1], big, sizeof(big));
	printf("nonblocking big write: %zd\n", w);
	show("full write", write(p[1], "a", 1));
	printf("read 1000: %zd\n", read(p[0], big, 1000));
	/* A partly read page still occupies its slot: no room yet. */
	show("after partial read", write(p[1], "a", 1));
	printf("read 4096: %zd\n", read(p[0], big, 4096));
	printf("after a page freed: %zd\n", write(p[1], big, 5000));
	show("shrink busy", fcntl(p[0], F_SETPIPE_SZ, 4096));
	while (read(p[0], big, sizeof(big)) > 0)
		;
	show("empty read", read(p[0], big, 1));
	printf("setsize 5000 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 5000));
	printf("getsize %d\n", fcntl(p[0], F_GETPIPE_SZ));
	printf("setsize 1 -> %d\n", fcntl(p[1], F_SETPIPE_SZ, 1));
	printf("write into one page: %zd\n", write(p[1], big, 10000));
	show("F_GETPIPE_SZ on a file", fcntl(0, F_GETPIPE_SZ));
	show("setsize 2 GiB", fcntl(p[1], F_SETPIPE_SZ, 1u << 31 | 1));
	close(p[0]);
	close(p[1]);
}

static void epipe(void)
{
	int p[2], st;
	pid_t c;

	CHECK(pipe(p) == 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	show("write no reader", write(p[1], "x", 1));
	signal(SIGPIPE, SIG_DFL);
	c = fork();
	if (c == 0) {
		write(p[1], "x", 1);
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("child: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
	close(p[1]);
}

static void packets(void)
{
	int p[2];
	char buf[8192];

	CHECK(pipe2(p, O_DIRECT) == 0);
	printf("O_DIRECT in flags: rd %d wr %d\n", !!(fcntl(p[0], F_GETFL) & O_DIRECT),
	       !!(fcntl(p[1], F_GETFL) & O_DIRECT));
	write(p[1], "one", 3);
	write(p[1], "two2", 4);
	memset(buf, 'p', sizeof(buf));
	write(p[1], buf, 5000); /* two packets: 4096 + 904 */
	printf("packet: %zd ", read(p[0], buf, sizeof(buf)));
	printf("%zd ", read(p[0], buf, sizeof(buf)));
	printf("%zd ", read(p[0], buf, 10)); /* the rest of this packet is dropped */
	printf("%zd\n", read(p[0], buf, sizeof(buf)));
	close(p[0]);
	close(p[1]);
}

/* Two writers of PIPE_BUF-sized records, one reader of small chunks: no record interleaves. */
static void atomicity(void)
{
	int p[2], bad = 0, recs[2] = {0, 0};
	static char rec[PIPE_BUF], got[PIPE_BUF];
	pid_t w[2];
	size_t have = 0;
	ssize_t n;

	CHECK(pipe(p) == 0);
	for (int i = 0; i < 2; i++) {
		w[i] = fork();
		if (w[i] == 0) {
			close(p[0]);
			memset(rec, 'A' + i, sizeof(rec));
			for (int k = 0; k < 200; k++)
				if (write(p[1], rec, sizeof(rec)) != sizeof(rec))
					_exit(1);
			_exit(0);
		}
	}
	close(p[1]);
	while ((n = read(p[0], got + have, MIN(1000, sizeof(got) - have))) > 0) {
		have += (size_t)n;
		if (have < sizeof(got))
			continue;
		for (size_t i = 1; i < sizeof(got); i++)
			bad += got[i] != got[0];
		recs[got[0] - 'A']++;
		have = 0;
	}
	for (int i = 0; i < 2; i++)
		waitpid(w[i], NULL, 0);
	printf("records A=%d B=%d torn=%d leftover=%zu\n", recs[0], recs[1], bad, have);
	close(p[0]);
}

/* Blocking write larger than the pipe, drained by a child; fds inherited across fork. */
static void across_fork(void)
{
	int p[2], st;
	static char big[300000];
	size_t total = 0;
	pid_t c;
	ssize_t n;

	CHECK(pipe(p) == 0);
	c = fork();
	if (c == 0) {
		close(p[0]);
		memset(big, 'z', sizeof(big));
		_exit(write(p[1], big, sizeof(big)) == sizeof(big) ? 0 : 1);
	}
	close(p[1]);
	while ((n = read(p[0], big, 7000)) > 0)
		total += (size_t)n;
	waitpid(c, &st, 0);
	printf("drained %zu, writer exit %d\n", total, WEXITSTATUS(st));
	close(p[0]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	basics();
	capacity();
	epipe();
	packets();
	atomicity();
	across_fork();
	return 0;
}
