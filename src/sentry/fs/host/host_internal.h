/* Private to hostfs. */
#ifndef CV_SENTRY_FS_HOST_INTERNAL_H
#define CV_SENTRY_FS_HOST_INTERNAL_H

#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

/*
 * Lock order: host_sb->lock, then host_inode->lock, then the inode's page cache lock.  No vfs
 * lock is taken under them.
 */
struct host_sb {
	int proc_fd; /* host /proc/self/fd */
	pthread_mutex_t lock;
	struct host_inode *dirty; /* inodes that ever had dirty pages, until evicted (sync) */
};

/*
 * Shared writable mappings write the page cache, not the host file: pages handed out to one,
 * or present when one became writable, are marked dirty.  While a page is dirty, reads take
 * its bytes from the cache, and write-back (msync, fsync, sync, a mapping going away,
 * eviction) writes it to the host, never beyond the host file's size.  `lock` orders host
 * I/O that must agree with the cache: page fills, writes, size changes and write-back.
 */
struct host_inode {
	int fd;              /* O_PATH|O_NOFOLLOW on the host object */
	pthread_mutex_t lock;
	struct mem_object obj; /* for mmap: pages in the memory file */
	struct page_cache pc;
	int data_fd;         /* O_RDONLY, opened on first page fill, or -1 */
	int wb_fd;           /* O_WRONLY for write-back, opened by a writable shared mmap, or -1 */
	bool on_dirty_list;  /* in host_sb.dirty (under host_sb.lock) */
	struct host_inode *dirty_prev, *dirty_next;
	struct inode *inode; /* back pointer (no reference) */
};

struct host_file {
	int fd;
};

extern const struct inode_ops hostfs_inode_ops;
extern const struct file_ops hostfs_file_ops;
extern const struct file_ops hostfs_dir_ops;

static inline struct host_inode *HI(struct inode *ino)
{
	return ino->priv;
}

static inline struct host_sb *HSB(struct super_block *sb)
{
	return sb->priv;
}

/* Inode operations defined in fs.c. */
struct inode *hostfs_lookup(struct inode *dir, const char *name);
int hostfs_getattr(struct inode *ino, struct linux_statx *x);
ssize_t hostfs_readlink(struct inode *ino, char *buf, size_t n);
int hostfs_statfs(struct inode *ino, struct linux_statfs *st);
void hostfs_evict(struct inode *ino);

/* A new inode for a host O_PATH fd (takes ownership); ERR_PTR on error. */
struct inode *hostfs_inode_from_fd(struct super_block *sb, int fd);
/* Reopens ino's O_PATH fd with open(2) flags; returns the new fd or -errno. */
int hostfs_reopen(struct inode *ino, int flags);
/* In mmap.c: the page cache, mappings and write-back. */

/*
 * The memory object for mmap of f, whose host fd is file_fd (new reference).  A shared
 * mapping of a file open for writing first gets the inode its write-back fd.  ERR_PTR.
 */
struct mem_object *hostfs_mem_object(struct file *f, int file_fd, bool shared);
/* page_fill_fn for the inode's cache (arg: the host_inode): the host file's bytes, zeros
 * past its end.  hi->lock held. */
int hostfs_fill_page(void *arg, uint64_t pgoff, void *dst);
/* Updates cached pages of ino after a write of [off, off+n) from buf.  hi->lock held. */
void hostfs_cache_write(struct inode *ino, const void *buf, size_t n, int64_t off);
/*
 * Writes dirty pages among pages [first, last) back to the host (see page_cache_writeback);
 * 0 or -errno.  The _locked form wants hi->lock; the other takes it and logs failures.
 */
int hostfs_writeback_locked(struct host_inode *hi, uint64_t first, uint64_t last,
			    bool unmapped_only);
int hostfs_writeback(struct host_inode *hi, uint64_t first, uint64_t last, bool unmapped_only);
/*
 * Growing the host file brings what a mapping wrote past its old end into it; those bytes
 * must read as zeros.  Before an operation that may grow it: hostfs_size_if_dirty gives the
 * size (-1 when no page is dirty, or -errno); after it, hostfs_zero_grown zeroes the cached
 * bytes from there to the new size.  hi->lock held across both and the operation.
 */
int64_t hostfs_size_if_dirty(struct host_inode *hi, int fd);
void hostfs_zero_grown(struct host_inode *hi, int64_t old, uint64_t size);
/* ftruncate(fd, size) of ino's host file (fd open for writing), keeping the cache in step:
 * pages past the end go (zeroed if still mapped), bytes past it read as zeros.  0 or -errno. */
int hostfs_set_size(struct inode *ino, int fd, uint64_t size);
/* Writes every dirty page of sb's inodes back (fs_type.sync_fs). */
int hostfs_sync_fs(struct super_block *sb);
/* Takes hi off its superblock's dirty list (eviction, before the final write-back). */
void hostfs_dirty_forget(struct host_inode *hi);

#endif
