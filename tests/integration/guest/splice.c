/*
 * splice(2), tee(2) and vmsplice(2): file -> pipe -> file with and without offsets (file
 * positions used and advanced, offsets read and written back), the page-sized pipe slots that
 * bound one splice, pipe -> pipe, tee without consuming, vmsplice both ways, sockets, the
 * argument errors (EINVAL, ESPIPE, EBADF, EFAULT), SPLICE_F_NONBLOCK and
 * O_NONBLOCK (EAGAIN), EOF, EPIPE and SIGPIPE, blocking calls woken by another thread or
 * process or interrupted by a signal, multi-megabyte transfers checked by checksum, and
 * producers and consumers of every kind on one pipe at once.
 * Works in argv[1] (the rootfs's /tmp).
 */
// ARGS: /tmp
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			printf("FAIL line %d: %s (errno %d)\n", __LINE__, #c, errno);      \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static char dir[200];
static volatile int sigpipes, alarms;

/* Prints "what: r" or "what: -1 ENAME". */
static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: %ld %s\n", what, r, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static const char *P(const char *name)
{
	static char bufs[4][300];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, 300, "%s/%s", dir, name);
	return b;
}

static long pipe_bytes(int fd)
{
	int n = -1;

	CHECK(ioctl(fd, FIONREAD, &n) == 0);
	return n;
}

static long pos(int fd)
{
	return (long)lseek(fd, 0, SEEK_CUR);
}

/* A deterministic byte pattern. */
static void pattern(unsigned char *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
}

static uint32_t sum_update(uint32_t s, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s = (s ^ b[i]) * 16777619u;
	return s;
}

static uint32_t file_sum(const char *path, long *len)
{
	static unsigned char buf[65536];
	int fd = open(path, O_RDONLY);
	uint32_t s = 2166136261u;
	ssize_t n;

	CHECK(fd >= 0);
	*len = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		s = sum_update(s, buf, (size_t)n);
		*len += n;
	}
	close(fd);
	return s;
}

static int make_file(const char *name, size_t n, uint32_t seed)
{
	unsigned char *b = malloc(n ? n : 1);
	int fd = open(P(name), O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(b && fd >= 0);
	pattern(b, n, seed);
	CHECK(write(fd, b, n) == (ssize_t)n);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	free(b);
	return fd;
}

static int same_bytes(const char *a, long aoff, const char *b, long boff, long n)
{
	unsigned char *x = malloc((size_t)n), *y = malloc((size_t)n);
	int fa = open(P(a), O_RDONLY), fb = open(P(b), O_RDONLY), same;

	CHECK(x && y && fa >= 0 && fb >= 0);
	CHECK(pread(fa, x, (size_t)n, aoff) == n && pread(fb, y, (size_t)n, boff) == n);
	same = memcmp(x, y, (size_t)n) == 0;
	close(fa);
	close(fb);
	free(x);
	free(y);
	return same;
}

/*
 * Threads run detached and say on a pipe when they are done instead of being joined, and no
 * process forks once it has had threads: in cvisor today a join issued the instant a thread
 * exits can miss its wakeup (the futex waiter's reference to the page makes the exit's write
 * of the thread id copy that page), and a fork while a thread exits can hang (systrap).
 */
static int done_fds[2] = {-1, -1};

struct job {
	void *(*fn)(void *);
	void *arg;
};

static void *job_run(void *p)
{
	struct job j = *(struct job *)p;

	free(p);
	j.fn(j.arg);
	CHECK(write(done_fds[1], "", 1) == 1);
	return NULL;
}

static void spawn(void *(*fn)(void *), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	pthread_attr_t a;
	pthread_t th;

	if (done_fds[0] < 0)
		CHECK(pipe(done_fds) == 0);
	CHECK(j != NULL);
	*j = (struct job){fn, arg};
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	CHECK(pthread_create(&th, &a, job_run, j) == 0);
	pthread_attr_destroy(&a);
}

static void wait_jobs(int n)
{
	char c;

	while (n--)
		CHECK(read(done_fds[0], &c, 1) == 1);
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* file -> pipe -> file, with file positions and with explicit offsets. */
static void file_pipe_file(void)
{
	int src = make_file("src", 100000, 1), p[2], dst;
	loff_t off, ooff;

	printf("-- file/pipe/file\n");
	dst = open(P("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(dst >= 0 && pipe(p) == 0);
	show("file->pipe 30000", splice(src, NULL, p[1], NULL, 30000, 0));
	printf("src pos %ld, pipe holds %ld\n", pos(src), pipe_bytes(p[0]));
	show("pipe->file 30000", splice(p[0], NULL, dst, NULL, 30000, SPLICE_F_MOVE));
	printf("dst pos %ld, pipe holds %ld, same %d\n", pos(dst), pipe_bytes(p[0]),
	       same_bytes("src", 0, "dst", 0, 30000));

	off = 5000;
	show("file->pipe at 5000", splice(src, &off, p[1], NULL, 10000, SPLICE_F_MORE));
	printf("off %ld, src pos %ld\n", (long)off, pos(src));
	ooff = 70000;
	show("pipe->file at 70000", splice(p[0], NULL, dst, &ooff, 20000, 0));
	printf("ooff %ld, dst pos %ld, same %d\n", (long)ooff, pos(dst),
	       same_bytes("src", 5000, "dst", 70000, 10000));

	/* One splice fills at most the pipe's free page slots, counted from the file's pages. */
	off = 100;
	show("file->pipe 1M at 100", splice(src, &off, p[1], NULL, 1 << 20, 0));
	printf("off %ld, pipe holds %ld\n", (long)off, pipe_bytes(p[0]));
	show("pipe->file 1M", splice(p[0], NULL, dst, NULL, 1 << 20, 0));
	off = 4096;
	show("file->pipe 1M at 4096", splice(src, &off, p[1], NULL, 1 << 20, 0));
	show("file->pipe, pipe full", splice(src, &off, p[1], NULL, 1, SPLICE_F_NONBLOCK));
	show("drain", splice(p[0], NULL, dst, NULL, 1 << 20, 0));
	/* A partly used page is not topped up by a splice: 16 slots of 4000 bytes. */
	CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	for (int i = 0; i < 20; i++) {
		off = 0;
		if (splice(src, &off, p[1], NULL, 4000, SPLICE_F_NONBLOCK) < 0) {
			printf("splices of 4000 that fit: %d (%s), pipe holds %ld\n", i,
			       strerrorname_np(errno), pipe_bytes(p[0]));
			break;
		}
	}
	show("write 1 after them", write(p[1], "x", 1)); /* (pipe is O_NONBLOCK here) */
	show("drain", splice(p[0], NULL, dst, NULL, 1 << 20, 0));
	show("drain empty, nonblock", splice(p[0], NULL, dst, NULL, 1 << 20, SPLICE_F_NONBLOCK));
	CHECK(fcntl(p[1], F_SETFL, 0) == 0);

	/* EOF of the input. */
	off = 100000;
	show("file->pipe at EOF", splice(src, &off, p[1], NULL, 100, 0));
	CHECK(lseek(src, 0, SEEK_END) == 100000);
	show("file->pipe at EOF (pos)", splice(src, NULL, p[1], NULL, 100, 0));
	close(p[1]);
	show("pipe->file, no writers", splice(p[0], NULL, dst, NULL, 100, 0));
	close(p[0]);

	printf("dst size %ld\n", (long)lseek(dst, 0, SEEK_END));
	close(src);
	close(dst);
}

/* pipe -> pipe moves data; tee copies it. */
static void pipe_pipe(void)
{
	int a[2], b[2];
	char buf[20000];
	static char big[70000];

	printf("-- pipe/pipe\n");
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	pattern((unsigned char *)big, sizeof(big), 7);
	CHECK(write(a[1], big, 10000) == 10000);
	show("pipe->pipe 6000", splice(a[0], NULL, b[1], NULL, 6000, 0));
	printf("a holds %ld, b holds %ld\n", pipe_bytes(a[0]), pipe_bytes(b[0]));
	show("pipe->pipe rest", splice(a[0], NULL, b[1], NULL, 100000, 0));
	show("pipe->pipe empty nonblock", splice(a[0], NULL, b[1], NULL, 10, SPLICE_F_NONBLOCK));
	CHECK(read(b[0], buf, sizeof(buf)) == 10000);
	printf("b same %d\n", memcmp(buf, big, 10000) == 0);

	/* Output full. */
	CHECK(fcntl(b[1], F_SETFL, O_NONBLOCK) == 0);
	show("fill b", write(b[1], big, sizeof(big)));
	CHECK(fcntl(b[1], F_SETFL, 0) == 0);
	CHECK(write(a[1], "abc", 3) == 3);
	show("pipe->pipe, output full", splice(a[0], NULL, b[1], NULL, 10, SPLICE_F_NONBLOCK));
	CHECK(fcntl(a[0], F_SETFL, O_NONBLOCK) == 0);
	show("pipe->pipe, output full, O_NONBLOCK in", splice(a[0], NULL, b[1], NULL, 10, 0));
	CHECK(fcntl(a[0], F_SETFL, 0) == 0);
	while (pipe_bytes(b[0]) > 0)
		CHECK(read(b[0], big, sizeof(big)) > 0);
	show("tee", tee(a[0], b[1], 100, 0));
	printf("a holds %ld, b holds %ld\n", pipe_bytes(a[0]), pipe_bytes(b[0]));
	show("tee 2", tee(a[0], b[1], 2, SPLICE_F_NONBLOCK));
	CHECK(read(b[0], buf, sizeof(buf)) == 5);
	printf("b got '%.5s'\n", buf);
	CHECK(read(a[0], buf, sizeof(buf)) == 3);
	show("tee empty nonblock", tee(a[0], b[1], 100, SPLICE_F_NONBLOCK));
	CHECK(fcntl(a[0], F_SETFL, O_NONBLOCK) == 0);
	show("tee empty, O_NONBLOCK in", tee(a[0], b[1], 100, 0));
	CHECK(fcntl(a[0], F_SETFL, 0) == 0);
	/* tee of a multi-slot pipe: stops at the output's free slots. */
	CHECK(write(a[1], big, 40000) == 40000);
	CHECK(write(b[1], big, 40000) == 40000);
	show("tee into a half-full pipe", tee(a[0], b[1], 1 << 20, 0));
	printf("a holds %ld, b holds %ld\n", pipe_bytes(a[0]), pipe_bytes(b[0]));
	CHECK(read(b[0], big, 40000) == 40000);
	CHECK(read(b[0], buf, sizeof(buf)) == 20000);
	printf("tee data same %d\n", memcmp(buf, big, 20000) == 0);
	while (pipe_bytes(b[0]) > 0)
		CHECK(read(b[0], buf, sizeof(buf)) > 0);
	while (pipe_bytes(a[0]) > 0)
		CHECK(read(a[0], buf, sizeof(buf)) > 0);

	/* EOF and EPIPE. */
	close(a[1]);
	show("pipe->pipe, no writers", splice(a[0], NULL, b[1], NULL, 10, 0));
	show("tee, no writers", tee(a[0], b[1], 10, 0));
	close(b[0]);
	sigpipes = 0;
	show("pipe->pipe, no readers", splice(a[0], NULL, b[1], NULL, 10, 0));
	show("tee, no readers", tee(a[0], b[1], 10, 0));
	printf("SIGPIPEs caught: %d\n", sigpipes > 0);
	close(a[0]);
	close(b[1]);
}

static void vmsplice_both(void)
{
	int p[2];
	char a[8] = "abc", b[8] = "defgh", r1[4], r2[10];
	struct iovec in[2] = {{a, 3}, {b, 5}}, out[2] = {{r1, 4}, {r2, 10}};
	char *big = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec bigv = {big, 1 << 20};

	printf("-- vmsplice\n");
	CHECK(big != MAP_FAILED && pipe(p) == 0);
	show("vmsplice in", vmsplice(p[1], in, 2, 0));
	show("vmsplice out", vmsplice(p[0], out, 2, 0));
	printf("got '%.4s' '%.4s'\n", r1, r2);
	CHECK(write(p[1], "0123456789", 10) == 10);
	show("vmsplice out 14 of 10", vmsplice(p[0], out, 2, 0));
	printf("got '%.4s' '%.6s'\n", r1, r2);
	show("vmsplice out, empty nonblock", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
	memset(big, 'v', 1 << 20);
	show("vmsplice 1M aligned", vmsplice(p[1], &bigv, 1, SPLICE_F_NONBLOCK));
	show("vmsplice full", vmsplice(p[1], &bigv, 1, SPLICE_F_NONBLOCK | SPLICE_F_GIFT));
	show("vmsplice out 1M", vmsplice(p[0], &bigv, 1, 0));
	bigv.iov_base = big + 100;
	bigv.iov_len = 1 << 19;
	show("vmsplice 512K unaligned", vmsplice(p[1], &bigv, 1, SPLICE_F_NONBLOCK));
	bigv.iov_base = big;
	show("vmsplice out", vmsplice(p[0], &bigv, 1, 0));
	struct iovec small[3] = {{a, 1}, {a, 1}, {a, 1}};
	show("vmsplice 3 tiny", vmsplice(p[1], small, 3, 0));
	show("pipe holds", pipe_bytes(p[0]));
	show("vmsplice 0 segs", vmsplice(p[1], small, 0, 0));
	show("vmsplice bad iov", vmsplice(p[1], (struct iovec *)8, 1, 0));
	show("vmsplice bad base", vmsplice(p[1], &(struct iovec){(void *)8, 10}, 1, 0));
	show("vmsplice bad flags", vmsplice(p[1], small, 1, 0x100));
	show("vmsplice too many segs", vmsplice(p[1], small, 1025, 0));
	show("vmsplice negative len", vmsplice(p[1], &(struct iovec){a, (size_t)-1}, 1, 0));
	int f = open(P("vm"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	show("vmsplice on a file", vmsplice(f, small, 1, 0));
	close(f);
	unlink(P("vm"));
	show("vmsplice bad fd", vmsplice(99, small, 1, 0));
	show("vmsplice out to bad memory", vmsplice(p[0], &(struct iovec){(void *)8, 3}, 1, 0));
	close(p[1]);
	show("vmsplice out the rest", vmsplice(p[0], out, 2, 0));
	show("vmsplice out at EOF", vmsplice(p[0], out, 2, 0));
	close(p[0]);
	CHECK(pipe(p) == 0);
	close(p[0]);
	sigpipes = 0;
	show("vmsplice no readers", vmsplice(p[1], in, 2, 0));
	printf("SIGPIPE caught: %d\n", sigpipes);
	close(p[1]);
	munmap(big, 1 << 20);
}

static void errors(void)
{
	int p[2], q[2], f = make_file("errs", 1000, 3), ro = open(P("errs"), O_RDONLY);
	int wo = open(P("errs"), O_WRONLY), ap = open(P("errs"), O_WRONLY | O_APPEND);
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	loff_t off = 0, neg = -1;

	printf("-- errors\n");
	CHECK(pipe(p) == 0 && pipe(q) == 0 && ro >= 0 && wo >= 0 && ap >= 0 && d >= 0);
	CHECK(write(p[1], "data", 4) == 4);
	show("len 0, bad fds", splice(99, NULL, 98, NULL, 0, 0));
	show("bad flags", splice(p[0], NULL, f, NULL, 1, 0x10));
	show("bad fd in", splice(99, NULL, p[1], NULL, 1, 0));
	show("bad fd out", splice(p[0], NULL, 99, NULL, 1, 0));
	show("no pipe", splice(f, NULL, wo, NULL, 1, 0));
	show("same pipe", splice(p[0], NULL, p[1], NULL, 1, 0));
	show("pipe in with offset", splice(p[0], &off, f, NULL, 1, 0));
	show("pipe out with offset", splice(f, NULL, p[1], &off, 1, 0));
	show("pipe->pipe with offset", splice(p[0], NULL, q[1], &off, 1, 0));
	show("write end as input", splice(p[1], NULL, f, NULL, 1, 0));
	show("read end as output", splice(f, NULL, p[0], NULL, 1, 0));
	show("read-only file as output", splice(p[0], NULL, ro, NULL, 1, 0));
	show("write-only file as input", splice(wo, NULL, p[1], NULL, 1, 0));
	show("O_APPEND output", splice(p[0], NULL, ap, NULL, 1, 0));
	show("O_APPEND output with offset", splice(p[0], NULL, ap, &off, 1, 0));
	show("negative in offset", splice(f, &neg, p[1], NULL, 1, 0));
	show("negative out offset", splice(p[0], NULL, f, &neg, 1, 0));
	show("bad in offset pointer", splice(f, (loff_t *)8, p[1], NULL, 1, 0));
	show("bad out offset pointer", splice(p[0], NULL, f, (loff_t *)8, 1, 0));
	show("directory in", splice(d, NULL, p[1], NULL, 1, 0));
	show("huge len pipe->file", splice(p[0], NULL, f, NULL, (size_t)-1, 0));
	show("huge len file->pipe", splice(f, NULL, p[1], NULL, (size_t)-1, SPLICE_F_NONBLOCK));
	show("len 2^40 pipe->file", splice(p[0], NULL, f, NULL, 1ull << 40, SPLICE_F_NONBLOCK));
	CHECK(write(p[1], "data", 4) == 4);
	show("offset near the end", splice(f, &(loff_t){0x7fffffffffffff00}, p[1], NULL, 4096, 0));
	show("tee bad flags", tee(p[0], q[1], 1, 0x10));
	show("tee len 0", tee(p[0], q[1], 0, 0));
	show("tee len 0, bad fds", tee(99, 98, 0, 0));
	show("tee bad fd", tee(99, q[1], 1, 0));
	show("tee same pipe", tee(p[0], p[1], 1, 0));
	show("tee file in", tee(f, q[1], 1, 0));
	show("tee file out", tee(p[0], f, 1, 0));
	show("tee write end as input", tee(p[1], q[1], 1, 0));
	show("tee read end as output", tee(p[0], q[0], 1, 0));
	printf("pipe still holds %ld\n", pipe_bytes(p[0]));
	close_all((int[]){p[0], p[1], q[0], q[1], f, ro, wo, ap, d}, 9);
}

static void on_sigpipe(int s)
{
	sigpipes++;
}

static void on_alarm(int s)
{
	alarms++;
}

struct delayed {
	int fd;
	const char *data;
	int read_n; /* read this many bytes instead of writing */
};

static void *delayed_io(void *arg)
{
	struct delayed *d = arg;
	static char sink[100000];

	usleep(100000);
	if (d->read_n)
		CHECK(read(d->fd, sink, (size_t)d->read_n) > 0);
	else
		CHECK(write(d->fd, d->data, strlen(d->data)) == (ssize_t)strlen(d->data));
	return NULL;
}

/* Blocking calls: woken by another thread or process, interrupted by a signal. */
static void blocking(void)
{
	int p[2], q[2], r[2], dst = open(P("blk"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct delayed d = {0};
	struct sigaction sa = {.sa_handler = on_alarm};
	static char big[70000];
	pid_t c;
	int st;

	printf("-- blocking\n");
	CHECK(pipe(p) == 0 && pipe(q) == 0 && pipe(r) == 0 && dst >= 0);
	c = fork();
	if (c == 0) {
		usleep(100000);
		_exit(write(p[1], "from child", 10) != 10);
	}
	show("pipe->pipe woken by a process", splice(p[0], NULL, q[1], NULL, 100, 0));
	waitpid(c, &st, 0);
	show("tee", tee(q[0], p[1], 100, 0));
	c = fork();
	if (c == 0) {
		usleep(100000);
		_exit(write(q[1], "!", 1) != 1);
	}
	CHECK(read(q[0], big, 100) == 10);
	show("tee woken by a process", tee(q[0], p[1], 100, 0));
	waitpid(c, &st, 0);
	CHECK(read(q[0], big, 100) == 1 && read(p[0], big, 100) == 11);
	/* SIGPIPE's default action kills (no readers: that is checked before the input). */
	close(r[0]);
	c = fork();
	if (c == 0) {
		signal(SIGPIPE, SIG_DFL);
		splice(dst, &(loff_t){0}, r[1], NULL, 10, 0);
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("child: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
	close(r[1]);

	/* Threads (no fork from here on). */
	d = (struct delayed){.fd = p[1], .data = "woken"};
	spawn(delayed_io, &d);
	show("pipe->file woken by a thread", splice(p[0], NULL, dst, NULL, 100, 0));
	wait_jobs(1);
	/* A full pipe: file->pipe waits for a reader. */
	CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	CHECK(write(p[1], big, sizeof(big)) == 65536);
	CHECK(fcntl(p[1], F_SETFL, 0) == 0);
	d = (struct delayed){.fd = p[0], .read_n = 8192};
	spawn(delayed_io, &d);
	show("file->pipe woken by a reader", splice(dst, &(loff_t){0}, p[1], NULL, 100, 0));
	wait_jobs(1);
	d = (struct delayed){.fd = p[0], .read_n = 8192};
	spawn(delayed_io, &d);
	show("vmsplice woken by a reader", vmsplice(p[1], &(struct iovec){big, 3}, 1, 0));
	wait_jobs(1);
	while (pipe_bytes(p[0]) > 0)
		CHECK(read(p[0], big, sizeof(big)) > 0);

	/* Signals: EINTR without SA_RESTART; with it the call goes on. */
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {0, 50000}}, NULL);
	show("pipe->file interrupted", splice(p[0], NULL, dst, NULL, 100, 0));
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {0, 50000}}, NULL);
	show("tee interrupted", tee(p[0], q[1], 100, 0));
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {0, 50000}}, NULL);
	show("vmsplice out interrupted", vmsplice(p[0], &(struct iovec){big, 3}, 1, 0));
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {0, 50000}}, NULL);
	show("vmsplice out, O_NONBLOCK", vmsplice(p[0], &(struct iovec){big, 3}, 1, 0));
	CHECK(fcntl(p[0], F_SETFL, 0) == 0);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {0, 50000}}, NULL);
	d = (struct delayed){.fd = p[1], .data = "after restart"};
	spawn(delayed_io, &d);
	show("pipe->pipe restarted", splice(p[0], NULL, q[1], NULL, 100, 0));
	wait_jobs(1);
	printf("alarms %d\n", alarms);
	close_all((int[]){p[0], p[1], q[1], dst}, 4);
}

struct feeder {
	int fd;
	size_t n;
	uint32_t sum;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	static unsigned char buf[50000];
	size_t done = 0;
	uint32_t seed = 99;

	f->sum = 2166136261u;
	while (done < f->n) {
		size_t c = f->n - done < sizeof(buf) ? f->n - done : sizeof(buf);

		pattern(buf, c, seed++);
		f->sum = sum_update(f->sum, buf, c);
		CHECK(write(f->fd, buf, c) == (ssize_t)c);
		done += c;
	}
	close(f->fd);
	return NULL;
}

/* Several megabytes: file -> pipe -> file, and socket -> pipe -> file fed by a thread. */
static void large(void)
{
	int src = make_file("large", 6 * 1048576 + 12345, 42), p[2], sv[2];
	int dst = open(P("large.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	long n1, n2, calls = 0, total = 0;
	struct feeder f = {0};
	ssize_t r;

	printf("-- large\n");
	CHECK(dst >= 0 && pipe(p) == 0);
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) == 1 << 20);
	while ((r = splice(src, NULL, p[1], NULL, 1 << 30, 0)) > 0) {
		calls++;
		CHECK(splice(p[0], NULL, dst, NULL, (size_t)r, 0) == r);
	}
	show("last", r);
	printf("calls %ld\n", calls);
	close(dst);
	uint32_t s1 = file_sum(P("large"), &n1), s2 = file_sum(P("large.out"), &n2);
	printf("copied %ld of %ld bytes, checksums equal %d\n", n2, n1, s1 == s2);

	/* A socket in, the file out at an explicit offset. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	dst = open(P("large.out"), O_WRONLY | O_TRUNC);
	f = (struct feeder){.fd = sv[1], .n = 5 * 1048576 + 777};
	spawn(feed, &f);
	loff_t off = 0;
	while ((r = splice(sv[0], NULL, p[1], NULL, 300000, 0)) > 0) {
		for (ssize_t left = r; left > 0;) {
			ssize_t w = splice(p[0], NULL, dst, &off, (size_t)left, 0);

			CHECK(w > 0);
			left -= w;
		}
		total += r;
	}
	wait_jobs(1);
	show("socket at EOF", r);
	printf("off %ld, dst pos %ld\n", (long)off, pos(dst));
	close(dst);
	s2 = file_sum(P("large.out"), &n2);
	printf("socket copied %ld of %zu, checksums equal %d\n", n2, f.n, s2 == f.sum);

	/* And the other way: pipe -> socket. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(p[1], "to the socket", 13) == 13);
	show("pipe->socket", splice(p[0], NULL, sv[0], NULL, 100, 0));
	char buf[20] = {0};
	CHECK(read(sv[1], buf, sizeof(buf)) == 13);
	printf("socket got '%s'\n", buf);
	close(sv[1]);
	CHECK(write(p[1], "x", 1) == 1);
	sigpipes = 0;
	show("pipe->socket, peer closed", splice(p[0], NULL, sv[0], NULL, 100, 0));
	printf("SIGPIPE caught: %d\n", sigpipes > 0);
	close_all((int[]){p[0], p[1], sv[0], src}, 4);
	unlink(P("large"));
	unlink(P("large.out"));
}

/*
 * Three producers (write, splice from a file, vmsplice) and three consumers (read, splice to a
 * file, vmsplice) on one pipe at once: every byte arrives exactly once.
 */
#define CONC_CHUNKS 300
#define CONC_CHUNK 5000

struct conc {
	int fd, kind;
	uint64_t bytes, sum;
};

static unsigned char conc_src[CONC_CHUNK];

static void *conc_produce(void *arg)
{
	struct conc *c = arg;
	int f = open(P("conc.src"), O_RDONLY);

	CHECK(f >= 0);
	for (int i = 0; i < CONC_CHUNKS; i++) {
		for (size_t done = 0; done < CONC_CHUNK;) {
			ssize_t r;

			if (c->kind == 0)
				r = write(c->fd, conc_src + done, CONC_CHUNK - done);
			else if (c->kind == 1)
				r = splice(f, &(loff_t){(loff_t)done}, c->fd, NULL, CONC_CHUNK - done, 0);
			else
				r = vmsplice(c->fd, &(struct iovec){conc_src + done, CONC_CHUNK - done},
					     1, 0);
			CHECK(r > 0);
			done += (size_t)r;
		}
	}
	close(f);
	return NULL;
}

static void *conc_consume(void *arg)
{
	struct conc *c = arg;
	static __thread unsigned char buf[7000];
	char name[32];
	int f = -1;
	ssize_t r;

	snprintf(name, sizeof(name), "conc.out%d", c->kind);
	if (c->kind == 1)
		CHECK((f = open(P(name), O_RDWR | O_CREAT | O_TRUNC, 0644)) >= 0);
	for (;;) {
		if (c->kind == 0)
			r = read(c->fd, buf, sizeof(buf));
		else if (c->kind == 1)
			r = splice(c->fd, NULL, f, NULL, sizeof(buf), 0);
		else
			r = vmsplice(c->fd, &(struct iovec){buf, sizeof(buf)}, 1, 0);
		CHECK(r >= 0);
		if (r == 0)
			break;
		c->bytes += (uint64_t)r;
		if (c->kind != 1)
			for (ssize_t i = 0; i < r; i++)
				c->sum += buf[i];
	}
	if (f >= 0) {
		CHECK(lseek(f, 0, SEEK_SET) == 0);
		while ((r = read(f, buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < r; i++)
				c->sum += buf[i];
		close(f);
		unlink(P(name));
	}
	return NULL;
}

static void concurrent(void)
{
	struct conc prod[3], cons[3];
	uint64_t bytes = 0, sum = 0, want = 0;
	int p[2], f = make_file("conc.src", CONC_CHUNK, 5);

	printf("-- concurrent\n");
	CHECK(read(f, conc_src, CONC_CHUNK) == CONC_CHUNK);
	close(f);
	for (int i = 0; i < CONC_CHUNK; i++)
		want += conc_src[i];
	CHECK(pipe(p) == 0);
	for (int i = 0; i < 3; i++) {
		prod[i] = (struct conc){.fd = p[1], .kind = i};
		cons[i] = (struct conc){.fd = p[0], .kind = i};
		spawn(conc_produce, &prod[i]);
		spawn(conc_consume, &cons[i]);
	}
	wait_jobs(3); /* the producers: consumers end only at EOF */
	close(p[1]);
	wait_jobs(3);
	for (int i = 0; i < 3; i++) {
		bytes += cons[i].bytes;
		sum += cons[i].sum;
	}
	printf("bytes %llu of %d, sum equal %d\n", (unsigned long long)bytes,
	       3 * CONC_CHUNKS * CONC_CHUNK, sum == want * 3 * CONC_CHUNKS);
	close(p[0]);
	unlink(P("conc.src"));
}

/* A nonblocking splice does not wait on a unix stream socket (it would on a datagram one). */
static void socket_nonblock(void)
{
	int sv[2], p[2];

	printf("-- socket nonblock\n");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(p) == 0);
	show("empty socket, SPLICE_F_NONBLOCK",
	     splice(sv[0], NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK));
	CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
	show("empty socket, O_NONBLOCK pipe", splice(sv[0], NULL, p[1], NULL, 100, 0));
	CHECK(write(sv[1], "sock", 4) == 4);
	show("socket with data", splice(sv[0], NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK));
	show("socket with an offset", splice(sv[0], &(loff_t){0}, p[1], NULL, 100, 0));
	close(sv[1]);
	show("socket at EOF", splice(sv[0], NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK));
	close_all((int[]){sv[0], p[0], p[1]}, 3);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : "/tmp");
	signal(SIGPIPE, on_sigpipe);
	file_pipe_file();
	pipe_pipe();
	vmsplice_both();
	errors();
	blocking();
	large();
	socket_nonblock();
	concurrent();
	unlink(P("src"));
	unlink(P("dst"));
	unlink(P("errs"));
	unlink(P("blk"));
	return 0;
}
