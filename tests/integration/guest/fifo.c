/* FIFOs: mkfifo, opens that wait for the other end, O_NONBLOCK opens, O_RDWR, data between
 * processes, EOF and POLLHUP, and a new pipe once every opener is gone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH "/tmp/test.fifo"

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, errno == ENXIO ? "ENXIO" : errno == EAGAIN ? "EAGAIN" :
					     errno == EINTR ? "EINTR" : strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void on_alarm(int sig)
{
}

int main(void)
{
	struct stat st;
	char buf[64];
	int rd, wr, st2;
	pid_t c;
	struct pollfd pfd;

	setvbuf(stdout, NULL, _IONBF, 0);
	unlink(PATH);
	show("mkfifo", mkfifo(PATH, 0600));
	show("stat is fifo", stat(PATH, &st) == 0 && S_ISFIFO(st.st_mode));

	/* Nonblocking opens without a partner. */
	show("open wronly|nonblock, no reader", open(PATH, O_WRONLY | O_NONBLOCK));
	rd = open(PATH, O_RDONLY | O_NONBLOCK);
	show("open rdonly|nonblock", rd >= 0);
	show("read, never a writer", read(rd, buf, sizeof(buf)));
	pfd = (struct pollfd){.fd = rd, .events = POLLIN};
	show("poll, never a writer (no POLLHUP)", poll(&pfd, 1, 0));
	wr = open(PATH, O_WRONLY | O_NONBLOCK);
	show("open wronly|nonblock, with reader", wr >= 0);
	show("write", write(wr, "abc", 3));
	show("fstat size", fstat(wr, &st) == 0 ? (long)st.st_size : -1);
	close(wr);
	show("read after writer", read(rd, buf, sizeof(buf)));
	show("read at EOF", read(rd, buf, sizeof(buf)));
	pfd.revents = 0;
	poll(&pfd, 1, 0);
	printf("poll after writer left: %s\n", pfd.revents & POLLHUP ? "POLLHUP" : "none");
	close(rd);

	/* Blocking opens meet across processes. */
	c = fork();
	if (c == 0) {
		int w = open(PATH, O_WRONLY);

		write(w, "from child", 10);
		close(w);
		_exit(0);
	}
	rd = open(PATH, O_RDONLY);
	show("blocking open rdonly", rd >= 0);
	memset(buf, 0, sizeof(buf));
	{
		ssize_t n, total = 0;

		while ((n = read(rd, buf + total, sizeof(buf) - 1 - total)) > 0)
			total += n;
		printf("got '%s'\n", buf);
	}
	close(rd);
	waitpid(c, &st2, 0);

	/* The writer waits for a reader. */
	c = fork();
	if (c == 0) {
		int r = open(PATH, O_RDONLY);
		ssize_t n = read(r, buf, sizeof(buf));

		_exit(n == 5 && !memcmp(buf, "hello", 5) ? 7 : 1);
	}
	wr = open(PATH, O_WRONLY);
	show("blocking open wronly", wr >= 0);
	write(wr, "hello", 5);
	close(wr);
	waitpid(c, &st2, 0);
	printf("reader child exit %d\n", WEXITSTATUS(st2));

	/* O_RDWR never waits and is both ends. */
	rd = open(PATH, O_RDWR);
	show("open rdwr", rd >= 0);
	show("rdwr write", write(rd, "xy", 2));
	show("rdwr read", read(rd, buf, sizeof(buf)));
	close(rd);

	/* A blocked open is interrupted by a signal (no SA_RESTART: EINTR). */
	{
		struct sigaction sa = {.sa_handler = on_alarm};

		sigaction(SIGUSR1, &sa, NULL);
		c = fork();
		if (c == 0) {
			for (int i = 0; i < 200; i++) {
				kill(getppid(), SIGUSR1);
				usleep(10000);
			}
			_exit(0);
		}
		show("open interrupted", open(PATH, O_RDONLY));
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	}
	show("unlink", unlink(PATH));
	return 0;
}
