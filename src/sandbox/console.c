/*
 * Consoles (process.terminal): the container's processes get a pty of the sentry, whose
 * master side the sandbox pumps to and from a host fd:
 *  - with --console-socket, a host pty allocated here before confinement (the host's
 *    /dev/ptmx is unreachable after the pivot): its master goes to the socket over
 *    SCM_RIGHTS with the slave's name as data (runc's protocol), its slave, in raw mode, is
 *    the host side; for `exec`, the CLI allocates it and passes the slave;
 *  - otherwise the terminal (or pipes) the caller's stdin and stdout are.
 *
 * One pump thread per console moves bytes both ways without ever blocking on the sentry's
 * side (tty_master_read/tty_master_write, woken through a callback waiter and an eventfd).
 * Window sizes follow the host side: console_winch() reads TIOCGWINSZ and applies a change
 * to the sentry's tty, which sends SIGWINCH to the foreground group.  The sandbox calls it
 * on SIGWINCH (the host slave of init's console is the sandbox's controlling terminal, so a
 * resize of the master reaches it), on a "winch" request, and before feeding input.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/tty.h"
#include "cvisor/sentry/vfs.h"
#include "sandbox_internal.h"

/* How long a finishing console may take to hand its last output to the host. */
#define FLUSH_MS 1000

struct console {
	struct kernel *k;
	struct tty *tty;        /* the sentry's pty; the master side is ours */
	int in_fd, out_fd;      /* host side (the same fd for a pty slave) */
	bool nonblocking;       /* out_fd is ours alone and non-blocking */
	int wake_fd;            /* eventfd written by the master-side waiter */
	struct waiter w;
	pthread_t thread;
	bool running;
	int stop;               /* atomic: finish once the output is flushed */
	pthread_mutex_t ws_lock;
	struct linux_winsize ws; /* last size applied */
};

int console_send_master(int sock, int master, const char *name, struct cv_err **err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return cv_err_set(err, errno, "sending the terminal to the console socket");
	return 0;
}

int console_host_pty(int sock, unsigned rows, unsigned cols, int *slave_out, struct cv_err **err)
{
	char name[64];
	struct termios tio;
	int master, slave = -1;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return cv_err_set(err, errno, "opening /dev/ptmx");
	if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
		cv_err_set(err, errno, "unlocking a pty");
		goto fail;
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		cv_err_set(err, errno, "opening the pty slave `%s`", name);
		goto fail;
	}
	/* The sentry's pty does the line discipline: the host one passes bytes through. */
	if (tcgetattr(slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(slave, TCSANOW, &tio);
	}
	if (rows && cols) {
		struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};

		ioctl(slave, TIOCSWINSZ, &ws);
	}
	if (console_send_master(sock, master, name, err) < 0)
		goto fail;
	close(master);
	*slave_out = slave;
	return 0;
fail:
	if (slave >= 0)
		close(slave);
	close(master);
	return -1;
}

static void console_wake(struct waiter *w, uint64_t events)
{
	struct console *c = w->priv;
	uint64_t one = 1;

	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: the pump is awake anyway */
	}
}

/* The sentry's /dev/pts, where the console's pty is allocated. */
static struct tty *new_sentry_pty(struct kernel *k, struct cv_err **err)
{
	struct path root = {.mnt = k->vfs.root, .dentry = k->vfs.root->root}, pts;
	struct cred *cred = cred_new_root();
	struct walk_ctx w = {.root = root, .start = root, .cred = cred};
	struct tty *tty;
	int r;

	if (!cred) {
		cv_err_set(err, ENOMEM, "allocating the console");
		return NULL;
	}
	r = vfs_walk(&w, "/dev/pts", LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &pts);
	cred_put(cred);
	if (r < 0) {
		cv_err_set(err, -r, "process.terminal needs a devpts mount on /dev/pts");
		return NULL;
	}
	tty = pty_new_at(&pts);
	path_put(&pts);
	if (IS_ERR(tty)) {
		cv_err_set(err, (int)-PTR_ERR(tty),
			   "allocating the console's pty (is /dev/pts a devpts mount?)");
		return NULL;
	}
	return tty;
}

struct console *console_new(struct kernel *k, int in_fd, int out_fd, bool nonblocking,
			    const struct linux_winsize *size, struct cv_err **err)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c) {
		cv_err_set(err, ENOMEM, "allocating the console");
		return NULL;
	}
	c->k = k;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->nonblocking = nonblocking;
	pthread_mutex_init(&c->ws_lock, NULL);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		cv_err_set(err, errno, "eventfd");
		free(c);
		return NULL;
	}
	c->tty = new_sentry_pty(k, err);
	if (!c->tty) {
		close(c->wake_fd);
		free(c);
		return NULL;
	}
	if (nonblocking)
		fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
	c->w.callback = console_wake;
	c->w.priv = c;
	waitqueue_add(tty_master_wq(c->tty), &c->w, NULL,
		      LINUX_POLLIN | LINUX_POLLOUT | LINUX_POLLHUP);
	if (size && size->ws_row && size->ws_col) {
		c->ws = *size;
		tty_set_winsize(c->tty, size);
	}
	console_winch(c);
	return c;
}

struct file *console_open_slave(struct console *c)
{
	return pty_open_slave(c->tty, 02 /* O_RDWR */, NULL);
}

struct tty *console_tty(struct console *c)
{
	return c->tty;
}

void console_winch(struct console *c)
{
	struct winsize hw;
	struct linux_winsize ws;

	if (ioctl(c->in_fd, TIOCGWINSZ, &hw) < 0 || !hw.ws_row || !hw.ws_col)
		return;
	ws = (struct linux_winsize){.ws_row = hw.ws_row, .ws_col = hw.ws_col,
				    .ws_xpixel = hw.ws_xpixel, .ws_ypixel = hw.ws_ypixel};
	pthread_mutex_lock(&c->ws_lock);
	if (memcmp(&ws, &c->ws, sizeof(ws))) {
		c->ws = ws;
		tty_set_winsize(c->tty, &ws);
	}
	pthread_mutex_unlock(&c->ws_lock);
}

/* ---- the pump ------------------------------------------------------------------------- */

struct pump {
	uint8_t in[4096], out[4096];
	size_t in_off, in_len, out_off, out_len;
	bool in_eof, out_dead, sentry_done;
};

/* One round of progress without blocking; true when something moved. */
static bool pump_step(struct console *c, struct pump *p)
{
	bool moved = false;
	ssize_t r;

	if (p->out_off == p->out_len && !p->sentry_done) {
		r = tty_master_read(c->tty, p->out, sizeof(p->out));
		if (r > 0) {
			p->out_off = 0;
			p->out_len = (size_t)r;
			moved = true;
		} else if (r == -EIO) {
			p->sentry_done = true; /* every slave has closed */
		}
	}
	if (p->out_off < p->out_len) {
		r = p->out_dead ? (ssize_t)(p->out_len - p->out_off)
				: write(c->out_fd, p->out + p->out_off, p->out_len - p->out_off);
		if (r > 0) {
			p->out_off += (size_t)r;
			moved = true;
		} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
			p->out_dead = true; /* nobody reads the host side: output is dropped */
			moved = true;
		}
	}
	if (p->in_off < p->in_len) {
		r = tty_master_write(c->tty, p->in + p->in_off, p->in_len - p->in_off);
		if (r > 0) {
			p->in_off += (size_t)r;
			moved = true;
		} else if (r == -EIO) {
			p->in_off = p->in_len; /* no slave open: input is dropped */
		}
	}
	return moved;
}

static void pump_wait(struct console *c, struct pump *p, int timeout_ms)
{
	struct pollfd fds[3] = {{.fd = c->wake_fd, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
	uint64_t v;
	ssize_t r;

	if (!p->in_eof && p->in_off == p->in_len)
		fds[1] = (struct pollfd){.fd = c->in_fd, .events = POLLIN};
	if (p->out_off < p->out_len && !p->out_dead)
		fds[2] = (struct pollfd){.fd = c->out_fd, .events = POLLOUT};
	if (poll(fds, 3, timeout_ms) <= 0)
		return;
	if (fds[0].revents && read(c->wake_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	if (fds[1].revents) {
		console_winch(c);
		r = read(c->in_fd, p->in, sizeof(p->in));
		if (r > 0) {
			p->in_off = 0;
			p->in_len = (size_t)r;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			p->in_eof = true; /* the host side closed (EOF, or EIO from a pty) */
		}
	}
}

static void *pump_main(void *arg)
{
	struct console *c = arg;
	struct pump *p = calloc(1, sizeof(*p));
	uint64_t stop_at = 0;

	if (!p)
		return NULL;
	for (;;) {
		bool stopping = __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);

		if (pump_step(c, p))
			continue;
		if (p->sentry_done && p->out_off == p->out_len)
			break;
		if (stopping && !stop_at)
			stop_at = clock_mono_ns() + FLUSH_MS * 1000000ull;
		if (stopping && (p->out_off == p->out_len || clock_mono_ns() >= stop_at))
			break;
		pump_wait(c, p, stopping ? 50 : -1);
	}
	free(p);
	return NULL;
}

int console_start(struct console *c)
{
	sigset_t all, old;
	int r;

	/* The pump takes no host signal: they are the sandbox's main thread's (signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, pump_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	c->running = true;
	return 0;
}

void console_free(struct console *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (c->running) {
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
		if (write(c->wake_fd, &one, sizeof(one)) < 0) {
			/* saturated: the pump is awake anyway */
		}
		pthread_join(c->thread, NULL);
	}
	waitqueue_remove(tty_master_wq(c->tty), &c->w);
	tty_master_close(c->tty);
	close(c->wake_fd);
	if (c->out_fd != c->in_fd)
		close(c->out_fd);
	close(c->in_fd);
	pthread_mutex_destroy(&c->ws_lock);
	free(c);
}
