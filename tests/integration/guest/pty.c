/*
 * Pseudo-terminals by hand (t_procdev.sh mounts devpts on /dev/pts, with /dev/ptmx linking
 * to pts/ptmx): /dev/ptmx, TIOCGPTN, unlocking, the slave's default termios, canonical
 * input with echo and erase, ONLCR output, raw mode with VMIN/VTIME, window size and
 * SIGWINCH, VINTR as SIGINT to the foreground group of a session whose controlling terminal
 * it is, background reads stopped by SIGTTIN, and hang-ups on both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, const char *buf, ssize_t n)
{
	printf("%s: ", what);
	if (n < 0) {
		printf("%s\n", strerrorname_np(errno));
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\r')
			printf("\\r");
		else if (c == '\n')
			printf("\\n");
		else if (c < 32 || c == 127)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf(" (%zd)\n", n);
	fflush(stdout);
}

/* Reads what is there within 200ms (the master side, after the slave or echo wrote). */
static ssize_t drain(int fd, char *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t got = 0;

	while ((size_t)got < n && poll(&p, 1, 200) == 1 && (p.revents & POLLIN)) {
		ssize_t r = read(fd, buf + got, n - (size_t)got);

		if (r <= 0)
			return got ? got : r;
		got += r;
	}
	return got;
}

static int open_pair(int *slave, char *name, size_t len)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY), n = -1, unlock = 0;

	if (master < 0) {
		printf("open /dev/ptmx: %s\n", strerrorname_np(errno));
		return -1;
	}
	printf("TIOCGPTN: %d\n", ioctl(master, TIOCGPTN, &n) == 0 ? n : -1);
	snprintf(name, len, "/dev/pts/%d", n);
	*slave = open(name, O_RDWR | O_NOCTTY);
	printf("slave before unlock: %s\n", *slave < 0 ? strerrorname_np(errno) : "opened");
	if (*slave >= 0)
		close(*slave);
	ioctl(master, TIOCSPTLCK, &unlock);
	*slave = open(name, O_RDWR | O_NOCTTY);
	printf("slave after unlock: %s\n", *slave < 0 ? strerrorname_np(errno) : "opened");
	return master;
}

static void termios_defaults(int slave, const char *name)
{
	struct termios t;
	struct stat st;

	printf("isatty: %d, ptsname matches: %d\n", isatty(slave), !strcmp(ttyname(slave) ?: "", name));
	fstat(slave, &st);
	printf("slave rdev major %u\n", major(st.st_rdev));
	tcgetattr(slave, &t);
	printf("iflag %#o oflag %#o cflag %#o lflag %#o\n", t.c_iflag, t.c_oflag,
	       t.c_cflag & ~CBAUD, t.c_lflag);
	printf("VINTR %d VQUIT %d VERASE %d VKILL %d VEOF %d VMIN %d VTIME %d VSUSP %d\n",
	       t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VERASE], t.c_cc[VKILL], t.c_cc[VEOF],
	       t.c_cc[VMIN], t.c_cc[VTIME], t.c_cc[VSUSP]);
}

static void canonical(int master, int slave)
{
	char buf[256];
	int avail = -1;

	write(master, "hello\n", 6);
	show("echo", buf, drain(master, buf, sizeof(buf)));
	ioctl(slave, FIONREAD, &avail);
	printf("FIONREAD: %d\n", avail);
	show("slave read", buf, read(slave, buf, sizeof(buf)));
	write(master, "ab\x7f" "c\x15xy\x7f" "z\n", 10);
	show("echo", buf, drain(master, buf, sizeof(buf)));
	show("slave read", buf, read(slave, buf, sizeof(buf)));
	write(master, "two\nlines\n", 10);
	drain(master, buf, sizeof(buf));
	show("first line", buf, read(slave, buf, sizeof(buf)));
	show("second line", buf, read(slave, buf, 3));
	show("rest", buf, read(slave, buf, sizeof(buf)));
	write(master, "eof\x04", 4);
	show("echo", buf, drain(master, buf, sizeof(buf)));
	show("before EOF", buf, read(slave, buf, sizeof(buf)));
	write(master, "\x04", 1);
	show("EOF", buf, read(slave, buf, sizeof(buf)));
	write(slave, "out\nput\n", 8);
	show("ONLCR", buf, drain(master, buf, sizeof(buf)));
}

static void raw_mode(int master, int slave)
{
	struct termios t, saved;
	char buf[64];

	tcgetattr(slave, &saved);
	t = saved;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 0;
	tcsetattr(slave, TCSANOW, &t);
	write(master, "xyz\r", 4);
	show("raw echo", buf, drain(master, buf, sizeof(buf)));
	show("raw read (VMIN 3)", buf, read(slave, buf, 3));
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 1;
	tcsetattr(slave, TCSANOW, &t);
	show("VTIME with data", buf, read(slave, buf, sizeof(buf)));
	show("VTIME timeout", buf, read(slave, buf, sizeof(buf)));
	t.c_cc[VTIME] = 0;
	tcsetattr(slave, TCSANOW, &t);
	show("poll read", buf, read(slave, buf, sizeof(buf)));
	fcntl(slave, F_SETFL, O_NONBLOCK);
	t.c_cc[VMIN] = 1;
	tcsetattr(slave, TCSANOW, &t);
	show("nonblocking", buf, read(slave, buf, sizeof(buf)));
	fcntl(slave, F_SETFL, 0);
	tcsetattr(slave, TCSAFLUSH, &saved);
}

static volatile sig_atomic_t got_sig[65];

static void on_sig(int sig)
{
	got_sig[sig]++;
}

/* A child session whose controlling terminal is the pty: SIGWINCH, ^C, job control. */
static void session(int master, const char *name)
{
	int ready[2], done[2], st;
	char buf[64], c;
	pid_t pid;

	pipe(ready);
	pipe(done);
	pid = fork();
	if (pid == 0) {
		struct winsize ws;
		int fd;

		signal(SIGWINCH, on_sig);
		signal(SIGINT, on_sig);
		setsid();
		fd = open(name, O_RDWR); /* no O_NOCTTY: becomes the controlling terminal */
		printf("child: tcgetpgrp is own group: %d, tcgetsid is own sid: %d\n",
		       tcgetpgrp(fd) == getpgrp(), tcgetsid(fd) == getsid(0));
		printf("child: /dev/tty opens: %d\n", close(open("/dev/tty", O_RDWR)) == 0);
		fflush(stdout);
		write(ready[1], "r", 1);
		read(done[0], &c, 1);
		ioctl(fd, TIOCGWINSZ, &ws);
		printf("child: SIGWINCH %d, SIGINT %d, winsize %dx%d\n", got_sig[SIGWINCH],
		       got_sig[SIGINT], ws.ws_row, ws.ws_col);
		fflush(stdout);
		if (fork() == 0) {
			setpgid(0, 0); /* a background group: reading stops it with SIGTTIN */
			signal(SIGTTIN, SIG_DFL);
			read(fd, buf, 1);
			_exit(0);
		}
		pid_t bg = waitpid(-1, &st, WUNTRACED);

		printf("child: background reader %s by signal %d\n",
		       WIFSTOPPED(st) ? "stopped" : "not stopped", WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
		fflush(stdout);
		kill(bg, SIGKILL);
		waitpid(bg, &st, 0);
		signal(SIGTTOU, SIG_IGN);
		_exit(0);
	}
	read(ready[0], &c, 1);
	struct winsize ws = {.ws_row = 40, .ws_col = 132};
	ioctl(master, TIOCSWINSZ, &ws);
	write(master, "\x03", 1);
	usleep(100000);
	show("^C echo", buf, drain(master, buf, sizeof(buf)));
	write(done[1], "d", 1);
	usleep(100000);
	waitpid(pid, &st, WUNTRACED);
	if (WIFSTOPPED(st)) /* never: the background reader's stop is reported to its parent */
		kill(pid, SIGKILL);
	printf("child exit: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv)
{
	char name[64], buf[64];
	int master, slave;

	if (argc < 2 || strcmp(argv[1], "mounted")) {
		printf("needs devpts: run by t_procdev.sh\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((master = open_pair(&slave, name, sizeof(name))) < 0)
		return 1;
	termios_defaults(slave, name);
	canonical(master, slave);
	raw_mode(master, slave);
	close(slave);
	session(master, name);
	show("master read, slave closed", buf, read(master, buf, sizeof(buf)));
	slave = open(name, O_RDWR | O_NOCTTY);
	close(master);
	show("slave read, master closed", buf, read(slave, buf, sizeof(buf)));
	show("slave write, master closed", buf, write(slave, "x", 1));
	printf("node gone: %d\n", access(name, F_OK) != 0);
	return 0;
}
