/*
 * hostfs mappings: the inode's page cache is the memory object behind mmap.  Private
 * mappings copy its pages on write; shared ones write them in place, so the pages they may
 * write are marked dirty (when handed out to a writable shared mapping, or when one becomes
 * writable) and written back to the host file: on msync, fsync, sync, when a mapping goes
 * away, and at eviction.  Until then reads take a dirty page's bytes from the cache.
 *
 * Write-back writes only up to the host file's size at the time, and zeroes what a mapping
 * wrote past it (as Linux does to the page straddling the end), so a mapping never extends a
 * file.  Only files opened for writing can be mapped writable, so a read-only filesystem
 * never gets a dirty page nor a write attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "host_internal.h"

#define O_ACCMODE_ 3
#define O_RDWR_ 2

int hostfs_fill_page(void *arg, uint64_t pgoff, void *dst)
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

/* ---- write-back ------------------------------------------------------------------------ */

struct wb_ctx {
	int fd;
	uint64_t size; /* the host file's, when write-back started */
};

static int write_run(void *arg, uint64_t pgoff, void *src, size_t npages)
{
	const struct wb_ctx *w = arg;
	uint64_t at = pgoff * PAGE_SIZE, len = npages * PAGE_SIZE;
	uint64_t keep = at >= w->size ? 0 : MIN(len, w->size - at);

	memset((char *)src + keep, 0, len - keep); /* past the end: never written, reads as 0 */
	while (keep) {
		ssize_t r = pwrite(w->fd, src, keep, (off_t)at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		src = (char *)src + r;
		at += (uint64_t)r;
		keep -= (uint64_t)r;
	}
	return 0;
}

int hostfs_writeback_locked(struct host_inode *hi, uint64_t first, uint64_t last,
			    bool unmapped_only)
{
	struct wb_ctx w = {.fd = hi->wb_fd};
	struct stat st;

	/* Without wb_fd the file was never mapped writable: nothing can be dirty. */
	if (!page_cache_has_dirty(&hi->pc) || hi->wb_fd < 0)
		return 0;
	if (fstat(hi->wb_fd, &st) < 0)
		return -errno;
	w.size = (uint64_t)st.st_size;
	return page_cache_writeback(&hi->pc, first, last, unmapped_only, write_run, &w);
}

int hostfs_writeback(struct host_inode *hi, uint64_t first, uint64_t last, bool unmapped_only)
{
	int r;

	if (!page_cache_has_dirty(&hi->pc))
		return 0;
	pthread_mutex_lock(&hi->lock);
	r = hostfs_writeback_locked(hi, first, last, unmapped_only);
	pthread_mutex_unlock(&hi->lock);
	if (r < 0)
		log_warn("hostfs: writing back shared-mapping pages of inode %llu: %s",
			 (unsigned long long)hi->inode->ino, strerror(-r));
	return r;
}

/* ---- the dirty list: what sync and syncfs write back --------------------------------- */

static void dirty_list_add(struct host_inode *hi)
{
	struct host_sb *hsb = HSB(hi->inode->sb);

	if (__atomic_load_n(&hi->on_dirty_list, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&hsb->lock);
	if (!hi->on_dirty_list) {
		hi->dirty_prev = NULL;
		hi->dirty_next = hsb->dirty;
		if (hsb->dirty)
			hsb->dirty->dirty_prev = hi;
		hsb->dirty = hi;
		__atomic_store_n(&hi->on_dirty_list, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&hsb->lock);
}

void hostfs_dirty_forget(struct host_inode *hi)
{
	struct host_sb *hsb = HSB(hi->inode->sb);

	/* Only holders of a reference add inodes, and eviction has the last one. */
	if (!__atomic_load_n(&hi->on_dirty_list, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&hsb->lock);
	if (hi->on_dirty_list) {
		if (hi->dirty_prev)
			hi->dirty_prev->dirty_next = hi->dirty_next;
		else
			hsb->dirty = hi->dirty_next;
		if (hi->dirty_next)
			hi->dirty_next->dirty_prev = hi->dirty_prev;
		hi->on_dirty_list = false;
	}
	pthread_mutex_unlock(&hsb->lock);
}

int hostfs_sync_fs(struct super_block *sb)
{
	struct host_sb *hsb = HSB(sb);
	int r = 0;

	/* hsb->lock keeps listed inodes alive: eviction takes them off the list first. */
	pthread_mutex_lock(&hsb->lock);
	for (struct host_inode *hi = hsb->dirty; hi; hi = hi->dirty_next) {
		int e = hostfs_writeback(hi, 0, UINT64_MAX, false);

		if (e < 0 && r == 0)
			r = e;
	}
	pthread_mutex_unlock(&hsb->lock);
	return r;
}

/* ---- size changes and writes, with dirty pages around ------------------------------------ */

int64_t hostfs_size_if_dirty(struct host_inode *hi, int fd)
{
	struct stat st;

	if (!page_cache_has_dirty(&hi->pc))
		return -1;
	return fstat(fd, &st) < 0 ? -errno : st.st_size;
}

void hostfs_zero_grown(struct host_inode *hi, int64_t old, uint64_t size)
{
	if (old >= 0 && size > (uint64_t)old)
		page_cache_zero(&hi->pc, (uint64_t)old, size);
}

int hostfs_set_size(struct inode *ino, int fd, uint64_t size)
{
	struct host_inode *hi = HI(ino);
	int64_t old;
	int r = 0;

	pthread_mutex_lock(&hi->lock);
	old = hostfs_size_if_dirty(hi, fd);
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
	} else {
		page_cache_truncate(&hi->pc, ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE);
		page_cache_zero(&hi->pc, size, ALIGN_UP(size, PAGE_SIZE));
		hostfs_zero_grown(hi, old, size);
	}
	pthread_mutex_unlock(&hi->lock);
	return r;
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

/* ---- the memory object ----------------------------------------------------------------- */

static struct host_inode *obj_hi(struct mem_object *o)
{
	return container_of(o, struct host_inode, obj);
}

static uint64_t obj_size(struct mem_object *o)
{
	struct stat st;

	return fstat(obj_hi(o)->fd, &st) < 0 ? 0 : (uint64_t)st.st_size;
}

static int obj_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct host_inode *hi = obj_hi(o);
	int r;

	if (pgoff * PAGE_SIZE >= ALIGN_UP(obj_size(o), PAGE_SIZE))
		return -EIO; /* past the end: SIGBUS */
	pthread_mutex_lock(&hi->lock);
	r = page_cache_get(&hi->pc, pgoff, hostfs_fill_page, hi, off);
	if (r == 0 && write)
		page_cache_mark_dirty(&hi->pc, pgoff, pgoff + 1);
	pthread_mutex_unlock(&hi->lock);
	if (r == 0 && write)
		dirty_list_add(hi);
	return r;
}

static void obj_map_writable(struct mem_object *o, uint64_t off, uint64_t len)
{
	struct host_inode *hi = obj_hi(o);

	pthread_mutex_lock(&hi->lock);
	page_cache_mark_dirty(&hi->pc, off / PAGE_SIZE, ALIGN_UP(off + len, PAGE_SIZE) / PAGE_SIZE);
	pthread_mutex_unlock(&hi->lock);
	if (page_cache_has_dirty(&hi->pc))
		dirty_list_add(hi);
}

static int obj_sync(struct mem_object *o, uint64_t off, uint64_t len, bool wait)
{
	struct host_inode *hi = obj_hi(o);
	int r = hostfs_writeback(hi, off / PAGE_SIZE, ALIGN_UP(off + len, PAGE_SIZE) / PAGE_SIZE,
				 false);

	if (r == 0 && wait && hi->wb_fd >= 0 && fdatasync(hi->wb_fd) < 0)
		r = -errno;
	return r;
}

static void obj_get(struct mem_object *o)
{
	inode_get(obj_hi(o)->inode);
}

/* A mapping went away: the dirty pages nothing maps any more go to the host now. */
static void obj_put(struct mem_object *o)
{
	struct host_inode *hi = obj_hi(o);

	hostfs_writeback(hi, 0, UINT64_MAX, true);
	inode_put(hi->inode);
}

static const struct mem_object_ops host_obj_ops = {
	.get_page	= obj_get_page,
	.size		= obj_size,
	.get		= obj_get,
	.put		= obj_put,
	.map_writable	= obj_map_writable,
	.sync		= obj_sync,
};

/* The fd write-back uses: a reopen for writing, else the file's own when it has no flag that
 * would move or refuse pwrite (O_APPEND, O_DIRECT).  hi->lock held. */
static int open_wb_fd(struct host_inode *hi, int file_fd, unsigned flags)
{
	int fd;

	if (hi->wb_fd >= 0)
		return 0;
	fd = hostfs_reopen(hi->inode, O_WRONLY);
	if (fd < 0 && !(flags & (O_APPEND | O_DIRECT)) &&
	    (fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		fd = -errno;
	if (fd < 0)
		return fd;
	hi->wb_fd = fd;
	return 0;
}

struct mem_object *hostfs_mem_object(struct file *f, int file_fd, bool shared)
{
	struct host_inode *hi = HI(f->inode);

	/* A shared mapping of a file open for writing may be (or become) writable. */
	if (shared && (f->flags & O_ACCMODE_) == O_RDWR_) {
		int r;

		pthread_mutex_lock(&hi->lock);
		r = open_wb_fd(hi, file_fd, f->flags);
		pthread_mutex_unlock(&hi->lock);
		if (r < 0)
			return ERR_PTR(r);
	}
	hi->obj.ops = &host_obj_ops;
	inode_get(f->inode);
	return &hi->obj;
}
