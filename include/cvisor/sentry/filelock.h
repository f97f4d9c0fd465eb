/*
 * Advisory file locks (src/sentry/vfs/filelock.c), one lock context per inode, allocated on
 * first use:
 *  - POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK): byte ranges owned by an fd table
 *    (Linux's files_struct), released when that table closes *any* fd of the inode;
 *  - open file description locks (F_OFD_*): the same ranges, owned by a struct file and
 *    released with its last reference; they conflict with POSIX locks of other owners;
 *  - flock(2) locks: whole-file, owned by a struct file, a namespace of their own.
 *
 * Lock order: the context's mutex is a leaf, never held while a task blocks.
 */
#ifndef CV_SENTRY_FILELOCK_H
#define CV_SENTRY_FILELOCK_H

#include <stdbool.h>
#include <stdint.h>

struct inode;
struct file;
struct task;
struct file_lock_ctx;

enum file_lock_kind {
	FILE_LOCK_POSIX,
	FILE_LOCK_OFD,
	FILE_LOCK_FLOCK,
};

/* Lock types, with the values of F_RDLCK, F_WRLCK and F_UNLCK. */
#define FILE_LOCK_RD 0
#define FILE_LOCK_WR 1
#define FILE_LOCK_UN 2

#define FILE_LOCK_EOF UINT64_MAX /* an `end` reaching the end of any file */

/* A lock request or, from file_lock_test, the conflicting lock. */
struct file_lock_desc {
	enum file_lock_kind kind;
	const void *owner; /* the fd table (POSIX) or the struct file (OFD, flock) */
	int pid;           /* the owner's tgid, reported by F_GETLK (-1 for OFD locks) */
	int type;          /* FILE_LOCK_* */
	uint64_t start, end; /* inclusive byte range; whole file for flock */
};

/*
 * Sets, changes or removes (FILE_LOCK_UN) a lock on ino.  Without wait, -EAGAIN when another
 * owner's lock conflicts; with wait, blocks t until it can be granted (-ERESTARTSYS on a
 * signal).  -ENOLCK when memory runs out.  Borrows everything.
 */
int file_lock_set(struct inode *ino, const struct file_lock_desc *d, struct task *t, bool wait);

/*
 * F_GETLK: when a lock of another owner conflicts with d, copies it into *out and returns 1;
 * returns 0 when d could be granted (out untouched), -ENOLCK on ENOMEM.
 */
int file_lock_test(struct inode *ino, const struct file_lock_desc *d, struct file_lock_desc *out);

/* A close of an fd of f by fd table owner: drops owner's POSIX locks on f's inode. */
void file_lock_close_posix(struct file *f, const void *owner);

/* The last reference to f goes: drops its OFD and flock locks. */
void file_lock_release_file(struct file *f);

/* Frees an inode's lock context (its last reference is gone; no locks can remain). */
void file_lock_ctx_free(struct file_lock_ctx *ctx);

#endif
