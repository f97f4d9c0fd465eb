/* hostfs open files: regular files (read, write, seek, sync, size changes; mmap and the page
 * cache in mmap.c) and directories (getdents64 on the host fd). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/sentry/kernel.h"
#include "host_internal.h"

static int hfd(const struct file *f)
{
	return ((struct host_file *)f->priv)->fd;
}

static ssize_t host_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct host_inode *hi = HI(f->inode);
	bool dirty;
	ssize_t r;

	if (S_ISFIFO(f->inode->mode))
		return -EOPNOTSUPP; /* host FIFOs are not joined to sandbox pipes */
	/* Pages a shared mapping may have written are newer than the host file's bytes. */
	dirty = page_cache_has_dirty(&hi->pc);
	if (dirty)
		pthread_mutex_lock(&hi->lock);
	r = pread(hfd(f), buf, n, *pos);
	r = r < 0 ? -errno : r;
	if (r > 0 && dirty)
		page_cache_read_dirty(&hi->pc, buf, (size_t)r, (uint64_t)*pos);
	if (dirty)
		pthread_mutex_unlock(&hi->lock);
	if (r > 0)
		*pos += r;
	return r;
}

/* hi->lock held: the cache and the host file change together. */
static ssize_t write_locked(struct file *f, const void *buf, size_t n, int64_t *pos)
{
	struct host_inode *hi = HI(f->inode);
	int64_t at = *pos, old = hostfs_size_if_dirty(hi, hfd(f));
	ssize_t r;

	if (old < -1)
		return old;
	if (f->flags & O_APPEND) {
		struct stat st;

		if (fstat(hfd(f), &st) < 0)
			return -errno;
		at = st.st_size;
	}
	r = pwrite(hfd(f), buf, n, at);
	if (r < 0)
		return -errno;
	hostfs_zero_grown(hi, old, (uint64_t)(at + r));
	hostfs_cache_write(f->inode, buf, (size_t)r, at);
	*pos = at + r;
	return r;
}

static ssize_t host_write(struct file *f, struct task *t, const void *buf, size_t n,
			  int64_t *pos)
{
	struct host_inode *hi = HI(f->inode);
	ssize_t r;

	pthread_mutex_lock(&hi->lock);
	r = write_locked(f, buf, n, pos);
	pthread_mutex_unlock(&hi->lock);
	return r;
}

static int64_t host_llseek(struct file *f, int64_t off, int whence)
{
	struct stat st;

	if (fstat(hfd(f), &st) < 0)
		return -errno;
	return generic_llseek(f, off, whence, (uint64_t)st.st_size);
}

static int host_fsync(struct file *f, bool datasync)
{
	int r = hostfs_writeback(HI(f->inode), 0, UINT64_MAX, false);

	if (r < 0)
		return r;
	return (datasync ? fdatasync(hfd(f)) : fsync(hfd(f))) < 0 ? -errno : 0;
}

static int host_truncate(struct file *f, uint64_t size)
{
	return hostfs_set_size(f->inode, hfd(f), size);
}

#define FALLOC_FL_PUNCH_HOLE_ 0x02
#define FALLOC_FL_COLLAPSE_RANGE_ 0x08
#define FALLOC_FL_ZERO_RANGE_ 0x10
#define FALLOC_FL_INSERT_RANGE_ 0x20

/* hi->lock held.  The cache follows: zeroed ranges are zeroed there too; when data moves
 * within the file, dirty pages go to the host first and every cached page is read again. */
static int fallocate_locked(struct file *f, int mode, int64_t off, int64_t len)
{
	struct host_inode *hi = HI(f->inode);
	bool moves = mode & (FALLOC_FL_COLLAPSE_RANGE_ | FALLOC_FL_INSERT_RANGE_);
	int64_t old = hostfs_size_if_dirty(hi, hfd(f));
	struct stat st;
	int r;

	if (old < -1)
		return (int)old;
	if (moves && (r = hostfs_writeback_locked(hi, 0, UINT64_MAX, false)) < 0)
		return r;
	if (fallocate(hfd(f), mode, off, len) < 0)
		return -errno;
	if (mode & (FALLOC_FL_PUNCH_HOLE_ | FALLOC_FL_ZERO_RANGE_))
		page_cache_zero(&hi->pc, (uint64_t)off, (uint64_t)(off + len));
	if (moves)
		return page_cache_refill(&hi->pc, hostfs_fill_page, hi);
	if (old >= 0 && fstat(hfd(f), &st) == 0)
		hostfs_zero_grown(hi, old, (uint64_t)st.st_size);
	return 0;
}

static int host_fallocate(struct file *f, int mode, int64_t off, int64_t len)
{
	struct host_inode *hi = HI(f->inode);
	int r;

	pthread_mutex_lock(&hi->lock);
	r = fallocate_locked(f, mode, off, len);
	pthread_mutex_unlock(&hi->lock);
	return r;
}

static struct mem_object *host_mmap(struct file *f, bool shared, bool write)
{
	return hostfs_mem_object(f, hfd(f), shared);
}

static void host_release(struct file *f)
{
	struct host_file *hf = f->priv;

	if (hf) {
		close(hf->fd);
		free(hf);
	}
}

const struct file_ops hostfs_file_ops = {
	.read = host_read,
	.write = host_write,
	.llseek = host_llseek,
	.mmap = host_mmap,
	.fsync = host_fsync,
	.truncate = host_truncate,
	.fallocate = host_fallocate,
	.release = host_release,
};

static int host_iterate(struct file *f, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	char buf[8192];
	long n;

	if (lseek(hfd(f), *pos, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		n = syscall(SYS_getdents64, hfd(f), buf, sizeof(buf));
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (long o = 0; o < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + o);

			if (!emit(ctx, d->d_name, d->d_ino, d->d_off, d->d_type))
				return 0;
			*pos = d->d_off;
			o += d->d_reclen;
		}
	}
}

static int64_t host_dir_llseek(struct file *f, int64_t off, int whence)
{
	if (whence != SEEK_SET && whence != SEEK_CUR)
		return -EINVAL;
	if (whence == SEEK_CUR)
		off += f->pos;
	if (off < 0)
		return -EINVAL;
	f->pos = off;
	return off;
}

const struct file_ops hostfs_dir_ops = {
	.iterate = host_iterate,
	.llseek = host_dir_llseek,
	.fsync = host_fsync,
	.release = host_release,
};
