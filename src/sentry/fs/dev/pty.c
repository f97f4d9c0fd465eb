/*
 * Pseudo-terminal files: the master (from ptmx), the slave (/dev/pts/N), /dev/tty and
 * /dev/console, and the pty API the sandbox uses to drive a master itself.
 */
#include <errno.h>
#include <stdio.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "dev_internal.h"

#define O_NONBLOCK_ 04000
#define O_NOCTTY_ 0400

static bool nonblock(const struct file *f)
{
	return f->flags & O_NONBLOCK_;
}

/* ---- master ------------------------------------------------------------------------------ */

static ssize_t ptm_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	return tty_master_read_wait(f->priv, t, buf, n, nonblock(f));
}

static ssize_t ptm_write(struct file *f, struct task *t, const void *buf, size_t n, int64_t *pos)
{
	return tty_master_write_wait(f->priv, t, buf, n, nonblock(f));
}

static long ptm_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	return tty_ioctl(f->priv, t, true, f, cmd, arg);
}

static unsigned ptm_poll(struct file *f, struct poll_table *pt)
{
	return tty_master_poll(f->priv, pt);
}

static void ptm_release(struct file *f)
{
	tty_master_close(f->priv);
}

static const struct file_ops ptm_fops = {
	.read = ptm_read,
	.write = ptm_write,
	.ioctl = ptm_ioctl,
	.poll = ptm_poll,
	.release = ptm_release,
};

int ptmx_open(struct devpts *pts, struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct tty *tty;
	int r;

	r = devpts_alloc(pts, t ? t->cred->fsuid : 0, t ? t->cred->fsgid : 0, &tty);
	if (r < 0)
		return r;
	f->priv = tty; /* the master side's reference */
	f->ops = &ptm_fops;
	return 0;
}

/* ---- slave ------------------------------------------------------------------------------- */

static ssize_t pts_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	return tty_slave_read(f->priv, t, buf, n, nonblock(f));
}

static ssize_t pts_write(struct file *f, struct task *t, const void *buf, size_t n, int64_t *pos)
{
	return tty_slave_write(f->priv, t, buf, n, nonblock(f));
}

static long pts_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	return tty_ioctl(f->priv, t, false, f, cmd, arg);
}

static unsigned pts_poll(struct file *f, struct poll_table *pt)
{
	return tty_slave_poll(f->priv, pt);
}

static void pts_release(struct file *f)
{
	tty_slave_release(f->priv);
	tty_put(f->priv);
}

static const struct file_ops pts_fops = {
	.read = pts_read,
	.write = pts_write,
	.ioctl = pts_ioctl,
	.poll = pts_poll,
	.release = pts_release,
};

int pty_slave_file_open(struct tty *tty, struct file *f, int flags, struct task *t)
{
	int r = tty_slave_open(tty, t, flags);

	if (r < 0)
		return r;
	tty_get(tty);
	f->priv = tty;
	f->ops = &pts_fops;
	return 0;
}

/* Implements opening /dev/tty (the caller's controlling terminal) and /dev/console (init's). */
int tty_dev_open(struct inode *ino, struct file *f, int flags, struct task *t, bool console)
{
	struct thread_group *tg;
	struct tty *tty;
	int r;

	if (!t)
		return -ENXIO;
	pthread_mutex_lock(&t->k->lock);
	tg = console ? t->k->init : t->tg;
	tty = tg ? tty_ctty_locked(t->k, tg) : NULL;
	if (tty)
		tty_get(tty);
	pthread_mutex_unlock(&t->k->lock);
	if (!tty)
		return -ENXIO;
	r = pty_slave_file_open(tty, f, flags | O_NOCTTY_, t);
	tty_put(tty);
	return r;
}

/* ---- the sandbox's side ------------------------------------------------------------------ */

struct tty *pty_new_at(const struct path *pts_root)
{
	struct devpts *pts = devpts_of_sb(pts_root->dentry->inode->sb);
	struct tty *tty;
	int r;

	if (!pts)
		return ERR_PTR(-ENODEV);
	r = devpts_alloc(pts, 0, 0, &tty);
	if (r < 0)
		return ERR_PTR(r);
	pthread_mutex_lock(&tty->lock);
	tty->locked = false;
	pthread_mutex_unlock(&tty->lock);
	return tty;
}

struct file *pty_open_slave(struct tty *tty, int flags, struct task *t)
{
	struct path root, p;
	struct dentry *d;
	struct file *f;
	char name[16];
	int r;

	r = devpts_root_path(tty->pts, &root);
	if (r < 0)
		return ERR_PTR(r);
	snprintf(name, sizeof(name), "%d", tty->index);
	d = vfs_lookup_child(root.dentry, name);
	if (IS_ERR(d) || !d->inode) {
		if (!IS_ERR(d))
			dentry_put(d);
		path_put(&root);
		return ERR_PTR(-EIO);
	}
	p.mnt = root.mnt;
	p.dentry = d;
	r = vfs_open_path(&p, flags, NULL, t, &f);
	dentry_put(d);
	path_put(&root);
	return r < 0 ? ERR_PTR(r) : f;
}
