/*
 * Terminal ioctls, on either side of a pty (the master's termios is the slave's, as on
 * Linux).  Deviations: TIOCPKT packet mode is refused; TIOCSTI needs CAP_SYS_ADMIN (as on
 * Linux built without legacy TIOCSTI); TIOCGPTPEER opens the slave through the master's
 * devpts mount; TIOCEXCL is not supported.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"
#include "dev_internal.h"

#define SIGINT_ 2
#define SIGQUIT_ 3
#define SIGTSTP_ 20
#define SIGTTOU_ 22
#define CAP_SYS_ADMIN_ 21
#define SPEED_38400 38400u
#define RLIMIT_NOFILE_ 7
#define O_CLOEXEC_ 02000000

static long get_termios(struct tty *tty, struct task *t, uint64_t arg, bool v2)
{
	struct linux_termios2 t2 = {0};

	pthread_mutex_lock(&tty->lock);
	memcpy(&t2, &tty->termios, sizeof(tty->termios));
	pthread_mutex_unlock(&tty->lock);
	t2.c_ispeed = t2.c_ospeed = SPEED_38400;
	return copy_out_all(t, arg, &t2, v2 ? sizeof(t2) : sizeof(struct linux_termios));
}

/* TCSETS* and TCSETS2*: the F variants flush pending input first. */
static long set_termios(struct tty *tty, struct task *t, bool master, uint64_t arg, bool v2,
			bool flush)
{
	struct linux_termios2 t2;
	struct linux_termios old;
	long r;

	if (!master && (r = tty_check_job(tty, t, SIGTTOU_)) < 0)
		return r;
	if (copy_in_all(t, arg, &t2, v2 ? sizeof(t2) : sizeof(struct linux_termios)) < 0)
		return -EFAULT;
	pthread_mutex_lock(&tty->lock);
	old = tty->termios;
	if (flush)
		ldisc_flush_input(tty);
	memcpy(&tty->termios, &t2, sizeof(tty->termios));
	tty->termios.c_line = old.c_line;
	ldisc_termios_changed(tty, &old);
	pthread_mutex_unlock(&tty->lock);
	waitqueue_wake(&tty->swq, LINUX_POLLIN | LINUX_POLLOUT);
	waitqueue_wake(&tty->mwq, LINUX_POLLOUT);
	return 0;
}

static long put_int(struct task *t, uint64_t arg, int v)
{
	return copy_out_all(t, arg, &v, sizeof(v));
}

/* TCFLSH: the master's input is the slave's output and the other way round. */
static long flush_queues(struct tty *tty, struct task *t, bool master, uint64_t arg)
{
	bool in = arg == LINUX_TCIFLUSH || arg == LINUX_TCIOFLUSH;
	bool out = arg == LINUX_TCOFLUSH || arg == LINUX_TCIOFLUSH;
	long r;

	if (arg > LINUX_TCIOFLUSH)
		return -EINVAL;
	if (!master && (r = tty_check_job(tty, t, SIGTTOU_)) < 0)
		return r;
	pthread_mutex_lock(&tty->lock);
	if (master ? out : in)
		ldisc_flush_input(tty);
	if (master ? in : out)
		ldisc_flush_output(tty);
	pthread_mutex_unlock(&tty->lock);
	waitqueue_wake(&tty->swq, LINUX_POLLOUT);
	waitqueue_wake(&tty->mwq, LINUX_POLLOUT);
	return 0;
}

/* TCXONC: suspend or restart output, or send STOP/START to the other side. */
static long flow(struct tty *tty, struct task *t, bool master, uint64_t arg)
{
	long r;

	if (arg > LINUX_TCION)
		return -EINVAL;
	if (!master && (r = tty_check_job(tty, t, SIGTTOU_)) < 0)
		return r;
	pthread_mutex_lock(&tty->lock);
	if (arg == LINUX_TCOOFF || arg == LINUX_TCOON) {
		tty->stopped = arg == LINUX_TCOOFF;
	} else {
		uint8_t c = tty->termios.c_cc[arg == LINUX_TCIOFF ? LINUX_VSTOP : LINUX_VSTART];

		if (c)
			ldisc_write(tty, &c, 1);
	}
	pthread_mutex_unlock(&tty->lock);
	waitqueue_wake(&tty->swq, LINUX_POLLOUT);
	waitqueue_wake(&tty->mwq, LINUX_POLLIN);
	return 0;
}

/* FIONREAD and TIOCOUTQ: what this side may read, or has written but not yet delivered. */
static long queue_len(struct tty *tty, struct task *t, bool master, bool input, uint64_t arg)
{
	size_t n;

	pthread_mutex_lock(&tty->lock);
	n = master == input ? ldisc_output_len(tty) : ldisc_readable(tty);
	pthread_mutex_unlock(&tty->lock);
	return put_int(t, arg, (int)n);
}

static long winsize(struct tty *tty, struct task *t, bool set, uint64_t arg)
{
	struct linux_winsize ws;

	if (!set) {
		pthread_mutex_lock(&tty->lock);
		ws = tty->ws;
		pthread_mutex_unlock(&tty->lock);
		return copy_out_all(t, arg, &ws, sizeof(ws));
	}
	if (copy_in_all(t, arg, &ws, sizeof(ws)) < 0)
		return -EFAULT;
	tty_set_winsize(tty, &ws);
	return 0;
}

/* TIOCSIG on the master: a signal to the slave's foreground group. */
static long master_signal(struct tty *tty, uint64_t sig)
{
	if (sig < 1 || sig > LINUX_NSIG)
		return -EINVAL;
	if (sig == SIGINT_ || sig == SIGQUIT_ || sig == SIGTSTP_) {
		pthread_mutex_lock(&tty->lock);
		if (!(tty->termios.c_lflag & LINUX_NOFLSH)) {
			ldisc_flush_input(tty);
			ldisc_flush_output(tty);
		}
		pthread_mutex_unlock(&tty->lock);
	}
	tty_signal_fg(tty, (int)sig);
	return 0;
}

/* TIOCGPTPEER: a new fd for the slave, opened as O_RDWR|O_NOCTTY plus the given flags. */
static long open_peer(struct tty *tty, struct task *t, struct file *f, uint64_t flags)
{
	struct file *sf;
	long r;

	if (flags & ~(uint64_t)(O_CLOEXEC_ | 04000 /* O_NONBLOCK */ | 0400 /* O_NOCTTY */ | 3))
		return -EINVAL;
	sf = pty_open_slave(tty, (int)((flags & ~3ull) | 2 | 0400), t);
	if (IS_ERR(sf))
		return PTR_ERR(sf);
	r = fd_install(t->files, sf, flags & O_CLOEXEC_, 0,
		       (int)MIN(task_rlimit(t, RLIMIT_NOFILE_), (uint64_t)(1 << 20)));
	file_put(sf);
	return r;
}

/* TIOCSTI: one byte of input as if typed; CAP_SYS_ADMIN only (Linux without legacy TIOCSTI). */
static long push_input(struct tty *tty, struct task *t, uint64_t arg)
{
	uint8_t c;

	if (!cred_capable(t->cred, CAP_SYS_ADMIN_))
		return -EIO;
	if (copy_in_all(t, arg, &c, 1) < 0)
		return -EFAULT;
	tty_receive(tty, &c, 1);
	return 0;
}

/* The ioctls only the master side answers. */
static long master_ioctl(struct tty *tty, struct task *t, struct file *f, unsigned cmd,
			 uint64_t arg)
{
	int v;

	switch (cmd) {
	case LINUX_TIOCGPTN:
		return put_int(t, arg, tty->index);
	case LINUX_TIOCSPTLCK:
		if (copy_in_all(t, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		pthread_mutex_lock(&tty->lock);
		tty->locked = v != 0;
		pthread_mutex_unlock(&tty->lock);
		return 0;
	case LINUX_TIOCGPTLCK:
		pthread_mutex_lock(&tty->lock);
		v = tty->locked;
		pthread_mutex_unlock(&tty->lock);
		return put_int(t, arg, v);
	case LINUX_TIOCGPTPEER:
		return open_peer(tty, t, f, arg);
	case LINUX_TIOCSIG:
		return master_signal(tty, arg);
	case LINUX_TIOCPKT:
		if (copy_in_all(t, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return v ? -EINVAL : 0;
	case LINUX_TIOCGPKT:
		return put_int(t, arg, 0);
	default:
		return -ENOTTY;
	}
}

long tty_ioctl(struct tty *tty, struct task *t, bool master, struct file *f, unsigned cmd,
	       uint64_t arg)
{
	int v;

	switch (cmd) {
	case LINUX_TCGETS:
	case LINUX_TCGETS2:
		return get_termios(tty, t, arg, cmd == LINUX_TCGETS2);
	case LINUX_TCSETS:
	case LINUX_TCSETSW:
	case LINUX_TCSETSF:
		return set_termios(tty, t, master, arg, false, cmd == LINUX_TCSETSF);
	case LINUX_TCSETS2:
	case LINUX_TCSETSW2:
	case LINUX_TCSETSF2:
		return set_termios(tty, t, master, arg, true, cmd == LINUX_TCSETSF2);
	case LINUX_TIOCGWINSZ:
	case LINUX_TIOCSWINSZ:
		return winsize(tty, t, cmd == LINUX_TIOCSWINSZ, arg);
	case LINUX_FIONREAD:
	case LINUX_TIOCOUTQ:
		return queue_len(tty, t, master, cmd == LINUX_FIONREAD, arg);
	case LINUX_TCFLSH:
		return flush_queues(tty, t, master, arg);
	case LINUX_TCXONC:
		return flow(tty, t, master, arg);
	case LINUX_TCSBRK:
	case LINUX_TCSBRKP:
		/* Draining a pty never waits: its output is already the master's to read. */
		return master ? 0 : tty_check_job(tty, t, SIGTTOU_);
	case LINUX_TIOCGETD:
		return put_int(t, arg, 0 /* N_TTY */);
	case LINUX_TIOCSETD:
		if (copy_in_all(t, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return v == 0 ? 0 : -EINVAL;
	case LINUX_TIOCGDEV:
		return put_int(t, arg, (tty->index & 0xff) | (PTS_MAJOR << 8) |
					       ((tty->index & ~0xff) << 12));
	case LINUX_TIOCSCTTY:
	case LINUX_TIOCNOTTY:
	case LINUX_TIOCGPGRP:
	case LINUX_TIOCSPGRP:
	case LINUX_TIOCGSID:
		return tty_ioctl_jobctl(tty, t, master, f, cmd, arg);
	case LINUX_TIOCSTI:
		return push_input(tty, t, arg);
	default:
		return master ? master_ioctl(tty, t, f, cmd, arg) : -ENOTTY;
	}
}
