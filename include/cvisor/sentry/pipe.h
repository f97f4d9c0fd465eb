/*
 * Pipes and FIFOs (src/sentry/fs/pipe).
 *
 * struct pipe is a reusable byte queue with Linux pipe semantics: a ring of page-sized
 * buffers (16 by default, 64 KiB), reader and writer counts, writes of up to PIPE_BUF that
 * are atomic, partial reads and writes, EOF when the last writer goes and EPIPE when the last
 * reader goes, packet mode (O_DIRECT), and a wait queue woken with POLL* events on every
 * change.  Anything that needs a pipe-like stream (pipe(2), FIFOs, a unix stream socket's
 * direction) can use it: create it, count ends with pipe_open_ends/pipe_close_ends, and call
 * pipe_read/pipe_write/pipe_poll from its file ops.
 *
 * Lock order: a FIFO inode's lock (which guards ino->pipe) before the pipe's lock; the pipe's
 * lock before wait-queue locks.  No pipe lock is held while a task blocks or copies to guest
 * memory (buffers are sentry memory).
 */
#ifndef CV_SENTRY_PIPE_H
#define CV_SENTRY_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pipe;
struct task;
struct file;
struct inode;
struct poll_table;

#define PIPE_ATOMIC_MAX 4096      /* PIPE_BUF */
#define PIPE_PAGE 4096
#define PIPE_DEFAULT_SIZE 65536
#define PIPE_MAX_SIZE (1u << 20)  /* /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE */

/* pipe_read / pipe_write flags */
#define PIPE_NONBLOCK 0x1u
#define PIPE_PACKET 0x2u /* writes make packets of up to PIPE_PAGE bytes; a read takes one */

/* A new empty pipe with one reference and no ends open; NULL on ENOMEM. */
struct pipe *pipe_new(void);
void pipe_get(struct pipe *p);
void pipe_put(struct pipe *p);

/* Counts new readers/writers (also bumping the open counters FIFOs wait on). */
void pipe_open_ends(struct pipe *p, int readers, int writers);
/* Drops them, waking the other side (POLLHUP for readers, POLLERR for writers). */
void pipe_close_ends(struct pipe *p, int readers, int writers);

/*
 * Reads up to n bytes into buf (sentry memory).  Blocks while the pipe is empty and has
 * writers (unless PIPE_NONBLOCK: -EAGAIN).  Returns the count, 0 at EOF, -ERESTARTSYS.
 */
ssize_t pipe_read(struct pipe *p, struct task *t, void *buf, size_t n, unsigned flags);
/*
 * Writes n bytes from buf: all of them (blocking as needed), atomically when n <=
 * PIPE_ATOMIC_MAX.  A signal or the last reader leaving ends it early with the count so
 * far, or -ERESTARTSYS / -EPIPE when nothing was written; PIPE_NONBLOCK returns what fitted
 * or -EAGAIN.  The caller raises SIGPIPE on -EPIPE.
 */
ssize_t pipe_write(struct pipe *p, struct task *t, const void *buf, size_t n, unsigned flags);
/*
 * Events for an end that reads and/or writes.  w_seen is the writer-open counter the reader
 * saw when it opened (0 for pipe(2)): a FIFO reader reports POLLHUP only once a writer came
 * and went after its open, as Linux does.
 */
unsigned pipe_poll(struct pipe *p, bool reader, bool writer, unsigned w_seen,
		   struct poll_table *pt);
/* Bytes queued (FIONREAD). */
size_t pipe_nread(struct pipe *p);
/* Capacity in bytes (F_GETPIPE_SZ). */
long pipe_get_size(struct pipe *p);
/* F_SETPIPE_SZ: rounds up to a power-of-two number of pages; returns the new capacity or
 * -EINVAL, -EPERM (above PIPE_MAX_SIZE without privilege), -EBUSY (data would not fit). */
long pipe_set_size(struct pipe *p, uint64_t size, bool privileged);

/* ---- pipe files (pipe_file.c) ------------------------------------------------------------ */

/* pipe2(2): a read end and a write end (new references) with O_NONBLOCK/O_DIRECT flags. */
int pipe_files_new(struct task *t, unsigned flags, struct file **rd, struct file **wr);
/* F_GETPIPE_SZ / F_SETPIPE_SZ on any pipe or FIFO file; -EBADF for other files. */
long pipe_fcntl(struct file *f, struct task *t, int cmd, uint64_t arg);

#endif
