/* eventfd: counter and semaphore modes, EFD_NONBLOCK, overflow, short buffers, poll, and a
 * reader blocked until another process writes. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what,
		       errno == EAGAIN ? "EAGAIN" : errno == EINVAL ? "EINVAL" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void rd(int fd)
{
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n < 0)
		show("read", n);
	else
		printf("read: %zd value %llu\n", n, (unsigned long long)v);
}

static void wr(int fd, uint64_t v)
{
	show("write", write(fd, &v, sizeof(v)));
}

static short revents(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};

	poll(&p, 1, 0);
	return p.revents;
}

int main(void)
{
	int fd, st;
	char small[4];
	pid_t c;

	setvbuf(stdout, NULL, _IONBF, 0);
	fd = eventfd(5, EFD_NONBLOCK);
	printf("poll initial: %#x\n", revents(fd));
	rd(fd);
	rd(fd);
	printf("poll empty: %#x\n", revents(fd));
	wr(fd, 3);
	wr(fd, 4);
	rd(fd);
	show("short read", read(fd, small, sizeof(small)));
	show("short write", write(fd, small, sizeof(small)));
	wr(fd, UINT64_MAX);
	wr(fd, UINT64_MAX - 1);
	printf("poll full: %#x\n", revents(fd));
	wr(fd, 1);
	rd(fd);
	close(fd);

	fd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	rd(fd);
	rd(fd);
	rd(fd);
	rd(fd);
	close(fd);

	show("bad flags", eventfd(0, 0x4000000));

	/* Blocking read woken by a child's write. */
	fd = eventfd(0, 0);
	c = fork();
	if (c == 0) {
		uint64_t v = 42;

		usleep(20000);
		write(fd, &v, sizeof(v));
		_exit(0);
	}
	rd(fd);
	waitpid(c, &st, 0);
	close(fd);
	return 0;
}
