/*
 * tmpfs regular files: pages in the memory file through a page cache, allocated on first
 * write (holes read as zeros) and charged to the superblock's size= limit.  The same pages
 * back shared mappings (the inode's mem_object), so read/write and mmap agree.
 */
#include <errno.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "tmpfs_internal.h"

#define O_APPEND_ 02000
#define RLIMIT_FSIZE_ 1
#define SIGXFSZ_ 25
#define FALLOC_FL_KEEP_SIZE_ 0x1
#define FALLOC_FL_PUNCH_HOLE_ 0x2
#define MAX_FILE_SIZE ((uint64_t)INT64_MAX)

static const struct mem_object_ops tmpfs_obj_ops;

void tmpfs_file_init(struct tmpfs_inode *ti, struct memfile *mf)
{
	page_cache_init(&ti->pc, mf);
	ti->obj.ops = &tmpfs_obj_ops;
	ti->seals = TMPFS_SEAL_SEAL; /* memfd_create(MFD_ALLOW_SEALING) lifts it */
}

void tmpfs_file_destroy(struct tmpfs_inode *ti)
{
	tmpfs_uncharge_pages(ti->inode->sb, ti->pc.n);
	page_cache_destroy(&ti->pc);
}

/* The memory-file offset of page pg, allocated (and charged) when absent.  ti->lock held;
 * the page stays valid while it is. */
static int page_locked(struct tmpfs_inode *ti, uint64_t pg, uint64_t *off)
{
	int64_t o = page_cache_peek(&ti->pc, pg);
	int r;

	if (o >= 0) {
		*off = (uint64_t)o;
		return 0;
	}
	if ((r = tmpfs_charge_pages(ti->inode->sb, 1)) < 0)
		return r;
	if ((r = page_cache_get(&ti->pc, pg, NULL, NULL, off)) < 0) {
		tmpfs_uncharge_pages(ti->inode->sb, 1);
		return r;
	}
	memfile_put(ti->pc.mf, *off, 1); /* the cache keeps its own reference */
	return 0;
}

/* Copies [at, at+n) out of the cache (holes read as zeros).  ti->lock held. */
static void read_locked(struct tmpfs_inode *ti, void *buf, size_t n, uint64_t at)
{
	for (size_t done = 0; done < n;) {
		uint64_t pos = at + done, in = pos % PAGE_SIZE;
		size_t chunk = MIN(n - done, (size_t)(PAGE_SIZE - in));
		int64_t o = page_cache_peek(&ti->pc, pos / PAGE_SIZE);

		if (o < 0)
			memset((char *)buf + done, 0, chunk);
		else
			memcpy((char *)buf + done, (char *)memfile_ptr(ti->pc.mf, (uint64_t)o) + in, chunk);
		done += chunk;
	}
}

static ssize_t write_locked(struct tmpfs_inode *ti, const void *buf, size_t n, uint64_t at)
{
	size_t done = 0;

	while (done < n) {
		uint64_t pos = at + done, in = pos % PAGE_SIZE, off;
		size_t chunk = MIN(n - done, (size_t)(PAGE_SIZE - in));
		int r = page_locked(ti, pos / PAGE_SIZE, &off);

		if (r < 0)
			return done ? (ssize_t)done : r;
		memcpy((char *)memfile_ptr(ti->pc.mf, off) + in, (const char *)buf + done, chunk);
		done += chunk;
	}
	return (ssize_t)done;
}

static ssize_t tmpfs_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct tmpfs_inode *ti = TI(f->inode);
	uint64_t size;

	pthread_mutex_lock(&ti->lock);
	size = f->inode->size;
	n = (uint64_t)*pos >= size ? 0 : MIN(n, size - (uint64_t)*pos);
	read_locked(ti, buf, n, (uint64_t)*pos);
	pthread_mutex_unlock(&ti->lock);
	*pos += (int64_t)n;
	return (ssize_t)n;
}

static void send_sigxfsz(struct task *t)
{
	struct linux_siginfo info;

	siginfo_kill(&info, SIGXFSZ_, LINUX_SI_USER, t);
	signal_send_thread(t, &info);
}

/* How much of n bytes at `at` may be written (seals, RLIMIT_FSIZE lim); ti->lock held. */
static ssize_t writable_len(struct tmpfs_inode *ti, uint64_t at, size_t n, uint64_t lim)
{
	uint64_t size = ti->inode->size;

	if (ti->seals & (TMPFS_SEAL_WRITE | TMPFS_SEAL_FUTURE_WRITE))
		return -EPERM;
	if (at > MAX_FILE_SIZE - n)
		return -EFBIG;
	if (at >= lim)
		return -EFBIG;
	n = (size_t)MIN((uint64_t)n, lim - at);
	if ((ti->seals & TMPFS_SEAL_GROW) && at + n > size) {
		/* Linux writes page by page and stops at the first page that would grow the
		 * file: only whole pieces up to a page boundary at or below the size go in. */
		uint64_t end = MIN(ALIGN_DOWN(size, PAGE_SIZE), at + n);

		if (end <= at)
			return -EPERM;
		n = (size_t)(end - at);
	}
	return (ssize_t)n;
}

static ssize_t tmpfs_write(struct file *f, struct task *t, const void *buf, size_t n, int64_t *pos)
{
	struct inode *ino = f->inode;
	struct tmpfs_inode *ti = TI(ino);
	/* Read before locking: kernel->lock comes before vfs locks. */
	uint64_t lim = t ? task_rlimit(t, RLIMIT_FSIZE_) : LINUX_RLIM_INFINITY, at;
	ssize_t r;

	pthread_mutex_lock(&ti->lock);
	at = (f->flags & O_APPEND_) ? ino->size : (uint64_t)*pos;
	r = writable_len(ti, at, n, lim);
	if (r > 0)
		r = write_locked(ti, buf, (size_t)r, at);
	if (r > 0) {
		ino->size = MAX(ino->size, at + (uint64_t)r);
		tmpfs_touch(ino, ATTR_MTIME);
		*pos = (int64_t)(at + (uint64_t)r);
	}
	pthread_mutex_unlock(&ti->lock);
	if (r == -EFBIG && t && at < MAX_FILE_SIZE - n)
		send_sigxfsz(t);
	return r;
}

static int64_t tmpfs_llseek(struct file *f, int64_t off, int whence)
{
	return generic_llseek(f, off, whence, f->inode->size);
}

int tmpfs_set_size_locked(struct inode *ino, uint64_t size)
{
	struct tmpfs_inode *ti = TI(ino);
	uint64_t old = ino->size;

	if (size > MAX_FILE_SIZE)
		return -EFBIG;
	if ((size < old && (ti->seals & TMPFS_SEAL_SHRINK)) ||
	    (size > old && (ti->seals & TMPFS_SEAL_GROW)))
		return -EPERM;
	if (size < old) {
		size_t before = ti->pc.n;
		int64_t o;

		page_cache_truncate(&ti->pc, ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE);
		tmpfs_uncharge_pages(ino->sb, before - ti->pc.n);
		if (size % PAGE_SIZE && (o = page_cache_peek(&ti->pc, size / PAGE_SIZE)) >= 0)
			memset((char *)memfile_ptr(ti->pc.mf, (uint64_t)o) + size % PAGE_SIZE, 0,
			       PAGE_SIZE - size % PAGE_SIZE);
	}
	ino->size = size;
	tmpfs_touch(ino, ATTR_MTIME);
	return 0;
}

static int tmpfs_truncate(struct file *f, uint64_t size)
{
	struct tmpfs_inode *ti = TI(f->inode);
	int r;

	pthread_mutex_lock(&ti->lock);
	r = tmpfs_set_size_locked(f->inode, size);
	pthread_mutex_unlock(&ti->lock);
	return r;
}

static int punch_locked(struct tmpfs_inode *ti, uint64_t off, uint64_t end)
{
	if (ti->seals & (TMPFS_SEAL_WRITE | TMPFS_SEAL_FUTURE_WRITE))
		return -EPERM;
	end = MIN(end, ti->inode->size);
	/* The pages stay allocated: zeroing gives the same contents. */
	for (uint64_t pos = off; pos < end;) {
		uint64_t in = pos % PAGE_SIZE, chunk = MIN(end - pos, PAGE_SIZE - in);
		int64_t o = page_cache_peek(&ti->pc, pos / PAGE_SIZE);

		if (o >= 0)
			memset((char *)memfile_ptr(ti->pc.mf, (uint64_t)o) + in, 0, chunk);
		pos += chunk;
	}
	return 0;
}

static int tmpfs_fallocate(struct file *f, int mode, int64_t off, int64_t len)
{
	struct inode *ino = f->inode;
	struct tmpfs_inode *ti = TI(ino);
	uint64_t end = (uint64_t)off + (uint64_t)len, o;
	int r = 0;

	if (mode & ~(FALLOC_FL_KEEP_SIZE_ | FALLOC_FL_PUNCH_HOLE_))
		return -EOPNOTSUPP;
	if (end > MAX_FILE_SIZE)
		return -EFBIG;
	pthread_mutex_lock(&ti->lock);
	if (mode & FALLOC_FL_PUNCH_HOLE_) {
		r = punch_locked(ti, (uint64_t)off, end);
	} else if (end > ino->size && !(mode & FALLOC_FL_KEEP_SIZE_) &&
		   (ti->seals & TMPFS_SEAL_GROW)) {
		r = -EPERM;
	} else {
		for (uint64_t pg = (uint64_t)off / PAGE_SIZE; pg * PAGE_SIZE < end && r == 0; pg++)
			r = page_locked(ti, pg, &o);
		if (r == 0 && end > ino->size && !(mode & FALLOC_FL_KEEP_SIZE_))
			ino->size = end;
	}
	if (r == 0)
		tmpfs_touch(ino, ATTR_MTIME);
	pthread_mutex_unlock(&ti->lock);
	return r;
}

static struct mem_object *tmpfs_mmap(struct file *f, bool shared, bool write)
{
	struct tmpfs_inode *ti = TI(f->inode);

	if (shared && write && (ti->seals & (TMPFS_SEAL_WRITE | TMPFS_SEAL_FUTURE_WRITE)))
		return ERR_PTR(-EPERM);
	inode_get(f->inode);
	return &ti->obj;
}

const struct file_ops tmpfs_file_ops = {
	.read = tmpfs_read,
	.write = tmpfs_write,
	.llseek = tmpfs_llseek,
	.mmap = tmpfs_mmap,
	.truncate = tmpfs_truncate,
	.fallocate = tmpfs_fallocate,
};

/* ---- the memory object behind mmap ---------------------------------------------------- */

static int obj_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct tmpfs_inode *ti = container_of(o, struct tmpfs_inode, obj);
	int r;

	pthread_mutex_lock(&ti->lock);
	if (pgoff >= ALIGN_UP(ti->inode->size, PAGE_SIZE) / PAGE_SIZE)
		r = -EIO; /* past the end: SIGBUS */
	else if ((r = page_locked(ti, pgoff, off)) == 0)
		memfile_get(ti->pc.mf, *off, 1);
	else
		r = -EIO; /* ENOSPC: SIGBUS, as Linux */
	pthread_mutex_unlock(&ti->lock);
	return r;
}

static uint64_t obj_size(struct mem_object *o)
{
	return container_of(o, struct tmpfs_inode, obj)->inode->size;
}

static void obj_get(struct mem_object *o)
{
	inode_get(container_of(o, struct tmpfs_inode, obj)->inode);
}

static void obj_put(struct mem_object *o)
{
	inode_put(container_of(o, struct tmpfs_inode, obj)->inode);
}

static const struct mem_object_ops tmpfs_obj_ops = {
	.get_page = obj_get_page,
	.size = obj_size,
	.get = obj_get,
	.put = obj_put,
};
