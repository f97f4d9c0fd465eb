/* Private to hostfs. */
#ifndef CV_SENTRY_FS_HOST_INTERNAL_H
#define CV_SENTRY_FS_HOST_INTERNAL_H

#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

struct host_sb {
	int proc_fd; /* host /proc/self/fd */
};

struct host_inode {
	int fd;              /* O_PATH|O_NOFOLLOW on the host object */
	pthread_mutex_t lock;
	struct mem_object obj; /* for mmap: pages in the memory file */
	struct page_cache pc;
	int data_fd;         /* O_RDONLY, opened on first page fill, or -1 */
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
/* The memory object of a host inode (new reference). */
struct mem_object *hostfs_mem_object(struct inode *ino);
/* Updates cached pages of ino after a write of [off, off+n) from buf. */
void hostfs_cache_write(struct inode *ino, const void *buf, size_t n, int64_t off);

#endif
