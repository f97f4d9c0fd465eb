/* Open file descriptions and the vfs entry points syscalls use on them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/filelock.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/vfs.h"

#define O_ACCMODE_ 3
#define O_WRONLY_ 1
#define O_RDWR_ 2
#define O_PATH_ 010000000
#define SEEK_SET_ 0
#define SEEK_CUR_ 1
#define SEEK_END_ 2
#define SEEK_DATA_ 3
#define SEEK_HOLE_ 4

static struct file *file_alloc(const struct file_ops *ops, unsigned flags)
{
	struct file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->ops = ops;
	f->refs = 1;
	f->flags = flags;
	pthread_mutex_init(&f->pos_lock, NULL);
	return f;
}

struct file *file_new(const struct path *p, struct inode *ino, const struct file_ops *ops,
		      unsigned flags)
{
	struct file *f = file_alloc(ops, flags);

	if (!f)
		return ERR_PTR(-ENOMEM);
	if (p) {
		f->path = *p;
		path_get(&f->path);
	}
	if (ino) {
		f->inode = ino;
		inode_get(ino);
	}
	return f;
}

struct file *file_new_anon(const struct file_ops *ops, unsigned flags, const char *name,
			   void *priv)
{
	struct file *f = file_alloc(ops, flags);

	if (!f)
		return ERR_PTR(-ENOMEM);
	f->priv = priv;
	if (name && !(f->anon_name = strdup(name))) {
		free(f);
		return ERR_PTR(-ENOMEM);
	}
	return f;
}

void file_get(struct file *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void file_put(struct file *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (f->inode && f->inode->locks)
		file_lock_release_file(f);
	fsnotify_close(f);
	if (f->epoll_links)
		epoll_file_release(f); /* before release: epolls may be polling f right now */
	if (f->ops && f->ops->release)
		f->ops->release(f);
	if (f->inode)
		inode_put(f->inode);
	path_put(&f->path);
	free(f->anon_name);
	free(f);
}

static bool readable(const struct file *f)
{
	return (f->flags & O_ACCMODE_) != O_WRONLY_ && !(f->flags & O_PATH_);
}

static bool writable(const struct file *f)
{
	unsigned acc = f->flags & O_ACCMODE_;

	return (acc == O_WRONLY_ || acc == O_RDWR_) && !(f->flags & O_PATH_);
}

/*
 * Only regular files and directories serialise I/O on the file position (Linux's
 * FMODE_ATOMIC_POS): pipes, sockets and devices block in read/write, and a mutex held there
 * would make a second reader or writer of the same description wait uninterruptibly.
 */
static bool atomic_pos(const struct file *f)
{
	uint32_t type = file_mode(f) & 0170000;

	return type == 0100000 || type == 0040000;
}

ssize_t vfs_read(struct file *f, struct task *t, void *buf, size_t n)
{
	bool lock = atomic_pos(f);
	ssize_t r;

	if (!readable(f))
		return -EBADF;
	if (!f->ops || !f->ops->read)
		return -EINVAL;
	if (lock)
		pthread_mutex_lock(&f->pos_lock);
	r = f->ops->read(f, t, buf, n, &f->pos);
	if (lock)
		pthread_mutex_unlock(&f->pos_lock);
	if (r > 0)
		fsnotify_access(f);
	return r;
}

ssize_t vfs_write(struct file *f, struct task *t, const void *buf, size_t n)
{
	bool lock = atomic_pos(f);
	ssize_t r;

	if (!writable(f))
		return -EBADF;
	if (!f->ops || !f->ops->write)
		return -EINVAL;
	if (lock)
		pthread_mutex_lock(&f->pos_lock);
	r = f->ops->write(f, t, buf, n, &f->pos);
	if (lock)
		pthread_mutex_unlock(&f->pos_lock);
	if (r > 0)
		fsnotify_modify(f);
	return r;
}

ssize_t vfs_pread(struct file *f, struct task *t, void *buf, size_t n, int64_t off)
{
	ssize_t r;

	if (!readable(f))
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	if (!f->ops || !f->ops->read)
		return -EINVAL;
	if (!f->ops->llseek)
		return -ESPIPE;
	if ((r = f->ops->read(f, t, buf, n, &off)) > 0)
		fsnotify_access(f);
	return r;
}

ssize_t vfs_pwrite(struct file *f, struct task *t, const void *buf, size_t n, int64_t off)
{
	ssize_t r;

	if (!writable(f))
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	if (!f->ops || !f->ops->write)
		return -EINVAL;
	if (!f->ops->llseek)
		return -ESPIPE;
	if ((r = f->ops->write(f, t, buf, n, &off)) > 0)
		fsnotify_modify(f);
	return r;
}

int64_t vfs_llseek(struct file *f, int64_t off, int whence)
{
	int64_t r;

	if (f->flags & O_PATH_)
		return -EBADF;
	if (!f->ops || !f->ops->llseek)
		return -ESPIPE;
	pthread_mutex_lock(&f->pos_lock);
	r = f->ops->llseek(f, off, whence);
	pthread_mutex_unlock(&f->pos_lock);
	return r;
}

int64_t generic_llseek(struct file *f, int64_t off, int whence, uint64_t size)
{
	int64_t base;

	switch (whence) {
	case SEEK_SET_:
		base = 0;
		break;
	case SEEK_CUR_:
		base = f->pos;
		break;
	case SEEK_END_:
		base = (int64_t)size;
		break;
	case SEEK_DATA_:
		if (off < 0 || (uint64_t)off >= size)
			return -ENXIO;
		return f->pos = off;
	case SEEK_HOLE_:
		if (off < 0 || (uint64_t)off >= size)
			return -ENXIO;
		return f->pos = (int64_t)size;
	default:
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -EINVAL;
	f->pos = base + off;
	return f->pos;
}

long vfs_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	if (f->flags & O_PATH_)
		return -EBADF;
	if (!f->ops || !f->ops->ioctl)
		return -ENOTTY;
	return f->ops->ioctl(f, t, cmd, arg);
}

unsigned vfs_poll(struct file *f, struct poll_table *pt)
{
	if (!f->ops || !f->ops->poll)
		return 0x1 | 0x4 | 0x40 | 0x100; /* POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM */
	return f->ops->poll(f, pt);
}

int vfs_iterate(struct file *f, dir_emit_fn emit, void *ctx)
{
	int r;

	if (f->flags & O_PATH_)
		return -EBADF;
	if (!f->ops || !f->ops->iterate)
		return -ENOTDIR;
	pthread_mutex_lock(&f->pos_lock);
	r = f->ops->iterate(f, &f->pos, emit, ctx);
	pthread_mutex_unlock(&f->pos_lock);
	/* Every getdents of a directory still linked, as Linux's iterate_dir. */
	if (!f->path.dentry || !__atomic_load_n(&f->path.dentry->dead, __ATOMIC_ACQUIRE))
		fsnotify_access(f);
	return r;
}

struct mem_object *vfs_mmap(struct file *f, bool shared, bool write)
{
	if (!f->ops || !f->ops->mmap || (f->flags & O_PATH_))
		return ERR_PTR(-ENODEV);
	return f->ops->mmap(f, shared, write);
}

int vfs_getattr(struct inode *ino, struct linux_statx *st)
{
	memset(st, 0, sizeof(*st));
	if (ino->ops && ino->ops->getattr)
		return ino->ops->getattr(ino, st);
	st->stx_mask = 0x7ff;
	st->stx_mode = (uint16_t)ino->mode;
	st->stx_nlink = ino->nlink;
	st->stx_uid = ino->uid;
	st->stx_gid = ino->gid;
	st->stx_ino = ino->ino;
	st->stx_size = ino->size;
	st->stx_blksize = 4096;
	st->stx_blocks = (ino->size + 511) / 512;
	st->stx_atime.tv_sec = ino->atime.tv_sec;
	st->stx_atime.tv_nsec = (uint32_t)ino->atime.tv_nsec;
	st->stx_mtime.tv_sec = ino->mtime.tv_sec;
	st->stx_mtime.tv_nsec = (uint32_t)ino->mtime.tv_nsec;
	st->stx_ctime.tv_sec = ino->ctime.tv_sec;
	st->stx_ctime.tv_nsec = (uint32_t)ino->ctime.tv_nsec;
	st->stx_rdev_major = (uint32_t)(ino->rdev >> 8) & 0xfff;
	st->stx_rdev_minor = (uint32_t)(ino->rdev & 0xff);
	st->stx_dev_minor = (uint32_t)ino->sb->dev;
	return 0;
}

static uint64_t makedev_linux(uint32_t major, uint32_t minor)
{
	return ((uint64_t)(major & 0xfffff000) << 32) | ((uint64_t)(major & 0xfff) << 8) |
	       ((uint64_t)(minor & 0xffffff00) << 12) | (minor & 0xff);
}

int vfs_stat(struct inode *ino, struct linux_stat *st)
{
	struct linux_statx x;
	int r = vfs_getattr(ino, &x);

	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev_linux(x.stx_dev_major, x.stx_dev_minor);
	st->st_ino = x.stx_ino;
	st->st_nlink = x.stx_nlink;
	st->st_mode = x.stx_mode;
	st->st_uid = x.stx_uid;
	st->st_gid = x.stx_gid;
	st->st_rdev = makedev_linux(x.stx_rdev_major, x.stx_rdev_minor);
	st->st_size = (int64_t)x.stx_size;
	st->st_blksize = x.stx_blksize;
	st->st_blocks = (int64_t)x.stx_blocks;
	st->st_atime_sec = (uint64_t)x.stx_atime.tv_sec;
	st->st_atime_nsec = x.stx_atime.tv_nsec;
	st->st_mtime_sec = (uint64_t)x.stx_mtime.tv_sec;
	st->st_mtime_nsec = x.stx_mtime.tv_nsec;
	st->st_ctime_sec = (uint64_t)x.stx_ctime.tv_sec;
	st->st_ctime_nsec = x.stx_ctime.tv_nsec;
	return 0;
}
