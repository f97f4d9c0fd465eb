/*
 * Terminals (src/sentry/fs/dev): pseudo-terminal pairs with a line discipline, the session's
 * controlling terminal and job control.
 *
 * A pty's master side is driven either by a guest process (a file from /dev/ptmx) or by the
 * sandbox itself, e.g. pumping a host console fd (--console-socket): the sandbox allocates a
 * pty with pty_new_at(), gives the slave to the container (pty_open_slave) and moves bytes
 * with the non-blocking tty_master_read/tty_master_write, waiting on tty_master_wq() with a
 * callback waiter for POLLIN (output to read) and POLLOUT (room for input).
 *
 * Lock order: kernel->lock before a tty's own lock.
 */
#ifndef CV_SENTRY_TTY_H
#define CV_SENTRY_TTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/abi/linux/termios.h"

struct tty;
struct path;
struct file;
struct kernel;
struct task;
struct thread_group;
struct poll_table;
struct waitqueue;

void tty_get(struct tty *tty);
void tty_put(struct tty *tty);

/*
 * Allocates a pty in the devpts filesystem whose root is pts (e.g. the resolved /dev/pts),
 * unlocked, with its master side held by the caller: the result is a new reference that
 * tty_master_close() gives back.  ERR_PTR(-ENODEV) when pts is not a devpts root.
 */
struct tty *pty_new_at(const struct path *pts);

/* Opens the slave side (like open("/dev/pts/N", flags)); t may be NULL.  ERR_PTR on error. */
struct file *pty_open_slave(struct tty *tty, int flags, struct task *t);

/* The pty's number: the N of /dev/pts/N. */
int tty_index(const struct tty *tty);

/*
 * Master side without a guest process.  Neither blocks:
 *  - tty_master_write feeds input through the line discipline (echo, signals); returns the
 *    bytes taken, -EAGAIN when the input queue is full, -EIO when no slave is open.
 *  - tty_master_read takes output; -EAGAIN when there is none, -EIO once every slave file
 *    has closed.
 */
ssize_t tty_master_write(struct tty *tty, const void *buf, size_t n);
ssize_t tty_master_read(struct tty *tty, void *buf, size_t n);
/* POLL* events of the master side now; registers with pt when not NULL. */
unsigned tty_master_poll(struct tty *tty, struct poll_table *pt);
/* The wait queue announcing master-side events (for callback waiters). */
struct waitqueue *tty_master_wq(struct tty *tty);
/* Sets the window size, sending SIGWINCH to the foreground group when it changes. */
void tty_set_winsize(struct tty *tty, const struct linux_winsize *ws);
/* Gives back the master side from pty_new_at: hangs the slave up when it was the last. */
void tty_master_close(struct tty *tty);

/*
 * Makes tty the controlling terminal of the session `leader` leads (its sid is its tgid),
 * with the leader's group in the foreground, as TIOCSCTTY does; a session it served before
 * loses it.  For the container's init and its console.  kernel->lock held.
 */
void tty_set_ctty_locked(struct tty *tty, struct thread_group *leader);

/*
 * The controlling terminal of tg's session, for /proc/<pid>/stat: its device number (Linux
 * encoding, 0 if none) and foreground group (-1 if none).  kernel->lock held.
 */
void tty_ctty_info_locked(struct kernel *k, struct thread_group *tg, uint32_t *tty_nr,
			  int *tpgid);

#endif
