/* hostfs open files: regular files (read, write, seek, mmap via the page cache) and
 * directories (getdents64 on the host fd). */
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
	ssize_t r;

	if (S_ISFIFO(f->inode->mode))
		return -EOPNOTSUPP; /* host FIFOs are not joined to sandbox pipes */
	r = pread(hfd(f), buf, n, *pos);
	if (r < 0)
		return -errno;
	*pos += r;
	return r;
}

static ssize_t host_write(struct file *f, struct task *t, const void *buf, size_t n,
			  int64_t *pos)
{
	int64_t at = *pos;
	ssize_t r;

	if (f->flags & O_APPEND) {
		struct stat st;

		if (fstat(hfd(f), &st) < 0)
			return -errno;
		at = st.st_size;
	}
	r = pwrite(hfd(f), buf, n, at);
	if (r < 0)
		return -errno;
	hostfs_cache_write(f->inode, buf, (size_t)r, at);
	*pos = at + r;
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
	return (datasync ? fdatasync(hfd(f)) : fsync(hfd(f))) < 0 ? -errno : 0;
}

static int host_truncate(struct file *f, uint64_t size)
{
	if (ftruncate(hfd(f), (off_t)size) < 0)
		return -errno;
	page_cache_truncate(&HI(f->inode)->pc, ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE);
	return 0;
}

static int host_fallocate(struct file *f, int mode, int64_t off, int64_t len)
{
	return fallocate(hfd(f), mode, off, len) < 0 ? -errno : 0;
}

static struct mem_object *host_mmap(struct file *f, bool shared, bool write)
{
	return hostfs_mem_object(f->inode);
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

/* ---- the memory object behind mmap: the inode's page cache -------------------------- */

static int fill_page(void *arg, uint64_t pgoff, void *dst)
{
	struct host_inode *hi = arg;
	ssize_t n;

	if (hi->data_fd < 0) {
		int fd = hostfs_reopen(hi->inode, O_RDONLY);

		if (fd < 0)
			return fd;
		hi->data_fd = fd;
	}
	n = pread(hi->data_fd, dst, PAGE_SIZE, (off_t)(pgoff * PAGE_SIZE));
	if (n < 0)
		return -errno;
	memset((char *)dst + n, 0, PAGE_SIZE - (size_t)n);
	return 0;
}

static uint64_t obj_size(struct mem_object *o)
{
	struct host_inode *hi = container_of(o, struct host_inode, obj);
	struct stat st;

	return fstat(hi->fd, &st) < 0 ? 0 : (uint64_t)st.st_size;
}

static int obj_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct host_inode *hi = container_of(o, struct host_inode, obj);
	int r;

	if (pgoff * PAGE_SIZE >= ALIGN_UP(obj_size(o), PAGE_SIZE))
		return -EIO; /* past the end: SIGBUS */
	pthread_mutex_lock(&hi->lock);
	r = page_cache_get(&hi->pc, pgoff, fill_page, hi, off);
	pthread_mutex_unlock(&hi->lock);
	return r;
}

static void obj_get(struct mem_object *o)
{
	inode_get(container_of(o, struct host_inode, obj)->inode);
}

static void obj_put(struct mem_object *o)
{
	inode_put(container_of(o, struct host_inode, obj)->inode);
}

static const struct mem_object_ops host_obj_ops = {
	.get_page = obj_get_page,
	.size = obj_size,
	.get = obj_get,
	.put = obj_put,
};

struct mem_object *hostfs_mem_object(struct inode *ino)
{
	struct host_inode *hi = HI(ino);

	hi->obj.ops = &host_obj_ops;
	inode_get(ino);
	return &hi->obj;
}

void hostfs_cache_write(struct inode *ino, const void *buf, size_t n, int64_t off)
{
	struct host_inode *hi = HI(ino);
	size_t done = 0;

	if (!hi->pc.n)
		return;
	while (done < n) {
		uint64_t at = (uint64_t)off + done, pg = at / PAGE_SIZE, in = at % PAGE_SIZE;
		size_t chunk = MIN(n - done, PAGE_SIZE - in);
		int64_t page = page_cache_peek(&hi->pc, pg);

		if (page >= 0)
			memcpy((char *)memfile_ptr(hi->pc.mf, (uint64_t)page) + in, (const char *)buf + done,
			       chunk);
		done += chunk;
	}
}
