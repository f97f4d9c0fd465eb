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
 * lock before wait-queue locks; two pipes' locks (pipe to pipe splice, tee) in address order.
 * No pipe lock is held while a task blocks or copies to guest memory (buffers are sentry
 * memory), nor while a splice producer or consumer runs.
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

/* ---- splice, tee, vmsplice (pipe_splice.c) ----------------------------------------------- */

/*
 * A splice's producer (fills buf) or consumer (takes from buf): buf is sentry memory, n > 0.
 * Returns the bytes filled or taken, or -errno.
 */
typedef ssize_t (*pipe_io_fn)(void *arg, void *buf, size_t n);

/*
 * Splices up to n bytes into p from `fill` (splice from a file, vmsplice): waits for a free
 * slot (-EAGAIN with PIPE_NONBLOCK; -EPIPE without readers, the caller raising SIGPIPE;
 * -ERESTARTSYS), then calls fill once for at most what the free slots hold (and at most
 * PIPE_MAX_SIZE).  skip is where in its page the first byte sits in the source (a file
 * offset): the new slots follow the source's pages, as Linux's do, and are never topped up
 * by writes.  Returns what fill returned (bytes now queued, 0, or its -errno) or -ENOMEM.
 */
ssize_t pipe_splice_in(struct pipe *p, struct task *t, size_t n, size_t skip, unsigned flags,
		       pipe_io_fn fill, void *arg);
/*
 * Splices up to n bytes out of p into `drain` (splice to a file, vmsplice to memory): waits
 * for data (-EAGAIN with PIPE_NONBLOCK, -ERESTARTSYS), 0 when empty without writers; then
 * hands drain the queued bytes, again while more are queued, it takes all it is given and no
 * signal is pending.  What drain does not take stays queued.  Other readers wait meanwhile.
 * Returns the bytes taken, or the first error when none were.
 */
ssize_t pipe_splice_out(struct pipe *p, struct task *t, size_t n, unsigned flags,
			pipe_io_fn drain, void *arg);
/*
 * splice(2) between two different pipes: moves up to n bytes (whole slots as they are, a
 * partly wanted one split), waiting for input data and output room as Linux does.  Returns
 * the count, 0 at EOF of in, -EPIPE (no readers of out), -EAGAIN, -ERESTARTSYS.
 */
ssize_t pipe_splice_pipe(struct pipe *in, struct pipe *out, struct task *t, size_t n,
			 unsigned flags);
/* tee(2): the same but copying, in stays as it was; stops at out's free slots. */
ssize_t pipe_tee(struct pipe *in, struct pipe *out, struct task *t, size_t n, unsigned flags);

/* ---- pipe files (pipe_file.c) ------------------------------------------------------------ */

/* The pipe of a pipe or FIFO file (borrowed from f), or NULL for any other file. */
struct pipe *pipe_of_file(struct file *f);

/* pipe2(2): a read end and a write end (new references) with O_NONBLOCK/O_DIRECT flags. */
int pipe_files_new(struct task *t, unsigned flags, struct file **rd, struct file **wr);
/* F_GETPIPE_SZ / F_SETPIPE_SZ on any pipe or FIFO file; -EBADF for other files. */
long pipe_fcntl(struct file *f, struct task *t, int cmd, uint64_t arg);

#endif
