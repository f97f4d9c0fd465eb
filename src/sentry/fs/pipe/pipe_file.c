/*
 * Pipe files: the two ends pipe(2) makes (sharing one anonymous S_IFIFO inode), and FIFOs,
 * whose openers all join the pipe hung on the FIFO's inode (ino->pipe, under ino->lock, as
 * Linux's i_pipe) until the last of them closes.  Opening a FIFO waits for the other end as
 * fifo(7) says.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/pipe.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"
#include "pipe_internal.h"

#define F_SETPIPE_SZ_ 1031
#define F_GETPIPE_SZ_ 1032
#define FIONREAD_ 0x541b
#define CAP_SYS_RESOURCE_ 24

/* f->priv of a pipe file. */
struct pipe_file {
	struct pipe *p; /* reference */
	unsigned w_seen; /* the writer counter this (FIFO) reader saw at open */
	bool fifo;
};

static bool reads(const struct file *f)
{
	return (f->flags & O_ACCMODE) != O_WRONLY;
}

static bool writes(const struct file *f)
{
	return (f->flags & O_ACCMODE) != O_RDONLY;
}

static unsigned io_flags(const struct file *f)
{
	unsigned fl = READ_ONCE(f->flags);

	return (fl & O_NONBLOCK ? PIPE_NONBLOCK : 0) | (fl & O_DIRECT ? PIPE_PACKET : 0);
}

static ssize_t pipe_file_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct pipe_file *pf = f->priv;

	return pipe_read(pf->p, t, buf, n, io_flags(f));
}

static ssize_t pipe_file_write(struct file *f, struct task *t, const void *buf, size_t n,
			       int64_t *pos)
{
	struct pipe_file *pf = f->priv;

	return pipe_write(pf->p, t, buf, n, io_flags(f));
}

static unsigned pipe_file_poll(struct file *f, struct poll_table *pt)
{
	struct pipe_file *pf = f->priv;

	return pipe_poll(pf->p, reads(f), writes(f), pf->w_seen, pt);
}

static long pipe_file_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	struct pipe_file *pf = f->priv;
	int n;

	if (cmd != FIONREAD_)
		return -ENOTTY;
	n = (int)MIN(pipe_nread(pf->p), (size_t)INT32_MAX);
	return copy_out_all(t, arg, &n, sizeof(n));
}

/* A FIFO's last file detaches the pipe from the inode. */
static void fifo_detach(struct inode *ino, struct pipe *p)
{
	pthread_mutex_lock(&ino->lock);
	if (--p->fifo_files == 0 && ino->pipe == p)
		ino->pipe = NULL;
	pthread_mutex_unlock(&ino->lock);
}

static void pipe_file_release(struct file *f)
{
	struct pipe_file *pf = f->priv;

	pipe_close_ends(pf->p, reads(f), writes(f));
	if (pf->fifo)
		fifo_detach(f->inode, pf->p);
	pipe_put(pf->p);
	free(pf);
}

static const struct file_ops pipe_file_ops = {
	.read = pipe_file_read,
	.write = pipe_file_write,
	.poll = pipe_file_poll,
	.ioctl = pipe_file_ioctl,
	.release = pipe_file_release,
};

static struct file *end_new(struct inode *ino, struct pipe *p, unsigned flags, const char *name)
{
	struct pipe_file *pf = calloc(1, sizeof(*pf));
	struct file *f;

	if (!pf)
		return ERR_PTR(-ENOMEM);
	f = file_new(NULL, ino, &pipe_file_ops, flags);
	if (IS_ERR(f) || !(f->anon_name = strdup(name))) {
		free(pf);
		if (!IS_ERR(f)) {
			f->ops = NULL;
			file_put(f);
		}
		return ERR_PTR(-ENOMEM);
	}
	pipe_get(p);
	pf->p = p;
	f->priv = pf;
	return f;
}

int pipe_files_new(struct task *t, unsigned flags, struct file **rd, struct file **wr)
{
	struct pipe *p = pipe_new();
	struct inode *ino = anon_inode_new(&t->k->vfs, S_IFIFO | 0600);
	char name[40];
	int r = -ENOMEM;

	if (!p || !ino)
		goto out;
	ino->uid = t->cred->fsuid;
	ino->gid = t->cred->fsgid;
	snprintf(name, sizeof(name), "pipe:[%llu]", (unsigned long long)ino->ino);
	flags &= O_NONBLOCK | O_DIRECT;
	/* Packets are made by writers: only the write end shows O_DIRECT, as in Linux. */
	*rd = end_new(ino, p, O_RDONLY | (flags & O_NONBLOCK), name);
	if (IS_ERR(*rd))
		goto out;
	*wr = end_new(ino, p, O_WRONLY | flags, name);
	if (IS_ERR(*wr)) {
		file_put(*rd);
		goto out;
	}
	pipe_open_ends(p, 1, 1);
	r = 0;
out:
	if (ino)
		inode_put(ino);
	pipe_put(p);
	return r;
}

struct pipe *pipe_of_file(struct file *f)
{
	return f->ops == &pipe_file_ops ? ((struct pipe_file *)f->priv)->p : NULL;
}

long pipe_fcntl(struct file *f, struct task *t, int cmd, uint64_t arg)
{
	struct pipe_file *pf = f->priv;

	if (f->ops != &pipe_file_ops)
		return -EBADF;
	if (cmd == F_GETPIPE_SZ_)
		return pipe_get_size(pf->p);
	if (cmd == F_SETPIPE_SZ_) /* the argument is an unsigned int */
		return pipe_set_size(pf->p, (uint32_t)arg,
				     cred_capable(t->cred, CAP_SYS_RESOURCE_));
	return -EINVAL;
}

/* ---- FIFOs ------------------------------------------------------------------------------- */

/* The pipe of a FIFO inode, created for its first opener; a new reference. */
static struct pipe *fifo_attach(struct inode *ino)
{
	struct pipe *p;

	pthread_mutex_lock(&ino->lock);
	p = ino->pipe;
	if (p) {
		pipe_get(p);
	} else if ((p = pipe_new())) {
		ino->pipe = p; /* holds no reference: the FIFO's files do */
	}
	if (p)
		p->fifo_files++;
	pthread_mutex_unlock(&ino->lock);
	return p;
}

int fifo_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct pipe_file *pf = calloc(1, sizeof(*pf));
	int acc = flags & O_ACCMODE, r;

	if (!pf)
		return -ENOMEM;
	if (!(pf->p = fifo_attach(ino))) {
		free(pf);
		return -ENOMEM;
	}
	pf->fifo = true;
	r = pipe_fifo_join(pf->p, t, acc != O_WRONLY, acc != O_RDONLY,
			   (flags & O_NONBLOCK) || !t, &pf->w_seen);
	if (r < 0) {
		fifo_detach(ino, pf->p);
		pipe_put(pf->p);
		free(pf);
		return r;
	}
	f->ops = &pipe_file_ops;
	f->priv = pf;
	return 0;
}
