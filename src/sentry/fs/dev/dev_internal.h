/*
 * Private to src/sentry/fs/dev: character devices, ttys (the line discipline and pty pairs)
 * and the devpts filesystem.
 *
 * Lock order: kernel->lock, then tty->lock, then devpts->lock; wait-queue locks are leaves.
 * The line discipline (tty_ldisc.c) only touches buffers under tty->lock and never blocks;
 * blocking, signals and process groups live in tty.c and tty_jobctl.c.
 */
#ifndef CV_SENTRY_FS_DEV_INTERNAL_H
#define CV_SENTRY_FS_DEV_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvisor/abi/linux/termios.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/tty.h"

struct devpts;

/* Device numbers, in the encoding inode->rdev and stat use. */
static inline uint32_t dev_major(uint64_t rdev)
{
	return (uint32_t)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffull));
}

static inline uint32_t dev_minor(uint64_t rdev)
{
	return (uint32_t)((rdev & 0xff) | ((rdev >> 12) & ~0xffull));
}

static inline uint64_t dev_mkdev(uint32_t major, uint32_t minor)
{
	return ((uint64_t)(major & 0xfffff000u) << 32) | ((uint64_t)(major & 0xfffu) << 8) |
	       ((uint64_t)(minor & 0xffffff00u) << 12) | (minor & 0xffu);
}

#define TTY_MAJOR 5
#define PTS_MAJOR 136
#define PTS_MAX 4096

/* ---- memory devices (mem.c) --------------------------------------------------------------- */

/* null, zero, full, random, urandom: minor 3, 5, 7, 8, 9 of major 1. */
int mem_dev_open(struct inode *ino, struct file *f, int flags, struct task *t, uint32_t minor);

/* ---- ttys ---------------------------------------------------------------------------------- */

#define TTY_IBUF 4096u   /* input queue: what slave readers get (N_TTY_BUF_SIZE) */
#define TTY_OBUF 16384u  /* output queue: what the master reads */

struct tty {
	int refs;                  /* atomic */
	pthread_mutex_t lock;      /* everything below but the [K] fields */
	struct kernel *k;
	struct devpts *pts;        /* the devpts instance (holds a superblock reference) */
	int index;                 /* /dev/pts/<index> */
	uint32_t uid, gid, mode;   /* of the /dev/pts/<index> node */

	struct linux_termios termios;
	struct linux_winsize ws;

	/* Input, master -> slave.  Free-running counters: [itail, ihead) is queued. */
	uint8_t ibuf[TTY_IBUF];
	uint8_t idelim[TTY_IBUF / 8]; /* ICANON: bytes that end a line (EOF is a NUL mark) */
	size_t ihead, itail;
	size_t canon_head;         /* ICANON: [itail, canon_head) holds whole lines */
	bool lnext;                /* the previous byte was VLNEXT */
	unsigned column;           /* output column (ONOCR, erasing tabs) */
	unsigned canon_column;     /* column where the partial line's echo started */

	/* Output, slave writes and echoes -> master. */
	uint8_t obuf[TTY_OBUF];
	size_t ohead, otail;
	bool stopped;              /* VSTOP / TCOOFF: slave writes wait */

	bool locked;               /* TIOCSPTLCK: the slave may not be opened */
	int masters;               /* open master sides */
	int slaves;                /* open slave files */
	bool slave_closed;         /* the last slave file closed (master reads EIO) */
	bool hung_up;              /* the master is gone: slave reads EOF, writes EIO */

	int session;               /* [K] session whose controlling terminal this is, or 0 */
	int pgrp;                  /* [K] foreground process group, or 0 */

	struct waitqueue swq;      /* slave readers, writers and pollers */
	struct waitqueue mwq;      /* master readers, writers and pollers */
};

/* tty.c: lifecycle, blocking reads and writes of both sides. */
struct tty *tty_new(struct kernel *k, struct devpts *pts, int index, uint32_t uid, uint32_t gid,
		    uint32_t mode);
ssize_t tty_slave_read(struct tty *tty, struct task *t, uint8_t *buf, size_t n, bool nonblock);
ssize_t tty_slave_write(struct tty *tty, struct task *t, const uint8_t *buf, size_t n,
			bool nonblock);
ssize_t tty_master_read_wait(struct tty *tty, struct task *t, uint8_t *buf, size_t n,
			     bool nonblock);
ssize_t tty_master_write_wait(struct tty *tty, struct task *t, const uint8_t *buf, size_t n,
			      bool nonblock);
unsigned tty_slave_poll(struct tty *tty, struct poll_table *pt);
/* A slave file opens / closes. */
int tty_slave_open(struct tty *tty, struct task *t, int flags);
void tty_slave_release(struct tty *tty);
/* Feeds input through the line discipline (signals sent, readers woken); bytes taken. */
size_t tty_receive(struct tty *tty, const uint8_t *buf, size_t n);
/* One more master side (TIOCGPTPEER does not count; ptmx opens do). */
void tty_master_get(struct tty *tty);

/* tty_ioctl.c: the terminal ioctls of either side. */
long tty_ioctl(struct tty *tty, struct task *t, bool master, struct file *f, unsigned cmd,
	       uint64_t arg);

/* tty_jobctl.c: sessions, foreground groups and job-control signals. */
/* Background access check: 0, -EIO, or -ERESTARTSYS after sending sig to t's group. */
int tty_check_job(struct tty *tty, struct task *t, int sig);
/* Sends sig to the foreground process group (kernel->lock not held). */
void tty_signal_fg(struct tty *tty, int sig);
/* The master went away: the session leader gets SIGHUP and SIGCONT; no session remains. */
void tty_hangup_session(struct tty *tty);
/* Forgets the session of a tty about to be freed. */
void tty_drop_session(struct tty *tty);
/* Makes tty the controlling terminal of t's session if t leads one without a terminal. */
void tty_maybe_acquire(struct tty *tty, struct task *t);
long tty_ioctl_jobctl(struct tty *tty, struct task *t, bool master, struct file *f,
		      unsigned cmd, uint64_t arg);
/* The controlling terminal of tg's session (no new reference), or NULL.  kernel->lock held. */
struct tty *tty_ctty_locked(struct kernel *k, struct thread_group *tg);
/* Does t's session have tty as its controlling terminal?  kernel->lock held. */
bool tty_is_ctty_locked(struct tty *tty, struct task *t);

/* tty_ldisc.c: the line discipline (tty->lock held, never blocks). */
void ldisc_init_termios(struct linux_termios *tio);
/* Processes input from the master; returns bytes consumed and adds signals in *sigs. */
size_t ldisc_receive(struct tty *tty, const uint8_t *buf, size_t n, uint64_t *sigs);
/* Copies readable input: a line (ICANON) or raw bytes; *eof when an EOF mark was consumed. */
size_t ldisc_read(struct tty *tty, uint8_t *buf, size_t n, bool *eof);
/* Bytes a read would return now (FIONREAD); for poll with ICANON, whether a line is ready. */
size_t ldisc_readable(struct tty *tty);
bool ldisc_input_ready(struct tty *tty);
/* Output processing of slave writes; returns bytes consumed. */
size_t ldisc_write(struct tty *tty, const uint8_t *buf, size_t n);
/* Takes up to n bytes of output for the master. */
size_t ldisc_take_output(struct tty *tty, uint8_t *buf, size_t n);
size_t ldisc_output_len(struct tty *tty);
size_t ldisc_input_room(struct tty *tty);
void ldisc_flush_input(struct tty *tty);
void ldisc_flush_output(struct tty *tty);
/* After a termios change from old. */
void ldisc_termios_changed(struct tty *tty, const struct linux_termios *old);

/* ---- ptys and devpts (pty.c, devpts.c) ------------------------------------------------------ */

/* Opens the master of a new pty in pts (ptmx). */
int ptmx_open(struct devpts *pts, struct inode *ino, struct file *f, int flags, struct task *t);
/* Finds the devpts instance a ptmx node at p belongs to (sibling "pts" or its own fs). */
struct devpts *devpts_for_ptmx(const struct path *p);
/* Opens the slave of tty in file f. */
int pty_slave_file_open(struct tty *tty, struct file *f, int flags, struct task *t);
/* The tty of a devpts index (new reference), or NULL. */
struct tty *devpts_get_tty(struct devpts *pts, int index);
/* Allocates an index for tty (new pty), or -ENOSPC. */
int devpts_alloc(struct devpts *pts, uint32_t uid, uint32_t gid, struct tty **out);
/* The pty's master is gone: its node disappears and the index may be reused. */
void devpts_remove(struct devpts *pts, struct tty *tty);
void devpts_get(struct devpts *pts);
void devpts_put(struct devpts *pts);
/* A mount of pts's filesystem, its root (new references); -ENODEV when none is mounted. */
int devpts_root_path(struct devpts *pts, struct path *out);
/* The devpts instance whose superblock is sb, or NULL. */
struct devpts *devpts_of_sb(struct super_block *sb);

/* /dev/tty and /dev/console: the controlling terminal of t's session / of init's. */
int tty_dev_open(struct inode *ino, struct file *f, int flags, struct task *t, bool console);

#endif
