/* Private to tmpfs. */
#ifndef CV_SENTRY_FS_TMPFS_INTERNAL_H
#define CV_SENTRY_FS_TMPFS_INTERNAL_H

#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

struct cred;

/* Superblock accounting: size= and nr_inodes=.  A zero maximum means unlimited. */
struct tmpfs_sb {
	pthread_mutex_t lock;
	uint64_t max_pages, pages;
	uint64_t max_inodes, inodes;
};

struct tmpfs_dirent {
	struct tmpfs_dirent *hnext;       /* hash chain */
	struct tmpfs_dirent *prev, *next; /* in cookie order */
	uint64_t cookie;                  /* the getdents offset after this entry */
	struct inode *inode;              /* one reference */
	char name[];
};

struct tmpfs_dir {
	struct tmpfs_dirent **buckets;
	size_t nbuckets, n;
	struct tmpfs_dirent *first, *last;
	uint64_t next_cookie;
};

struct tmpfs_xattr {
	struct tmpfs_xattr *next;
	size_t len;
	char *name;
	char val[];
};

/* Seals (F_ADD_SEALS), with Linux's values. */
#define TMPFS_SEAL_SEAL 0x1u
#define TMPFS_SEAL_SHRINK 0x2u
#define TMPFS_SEAL_GROW 0x4u
#define TMPFS_SEAL_WRITE 0x8u
#define TMPFS_SEAL_FUTURE_WRITE 0x10u

struct tmpfs_inode {
	pthread_mutex_t lock; /* everything below, and the inode's size, nlink and times */
	struct inode *inode;  /* back pointer (no reference) */
	union {
		struct tmpfs_dir dir;
		struct page_cache pc; /* regular files */
		char *target;         /* symlinks */
	};
	struct mem_object obj; /* regular files: what mmap maps */
	struct tmpfs_xattr *xattrs;
	size_t xattr_bytes;
	unsigned seals;
	bool linkable; /* an O_TMPFILE file: linkat may give it a name */
};

extern const struct inode_ops tmpfs_inode_ops;
extern const struct file_ops tmpfs_file_ops;
extern const struct file_ops tmpfs_dir_ops;

static inline struct tmpfs_inode *TI(struct inode *ino)
{
	return ino->priv;
}

static inline struct tmpfs_sb *TSB(struct super_block *sb)
{
	return sb->priv;
}

/* fs.c: accounting (0 or -ENOSPC) and inode creation. */
int tmpfs_charge_pages(struct super_block *sb, uint64_t n);
void tmpfs_uncharge_pages(struct super_block *sb, uint64_t n);
/*
 * A new inode of sb with mode (type and permissions) owned by c (the group from an S_ISGID
 * dir), or by root when c is NULL.  ERR_PTR(-ENOSPC) past nr_inodes.
 */
struct inode *tmpfs_new_inode(struct super_block *sb, struct inode *dir, uint32_t mode,
			      const struct cred *c);
/* Sets the given times (ATTR_ATIME/ATTR_MTIME bits; ctime always) to now. */
void tmpfs_touch(struct inode *ino, unsigned which);
/* A superblock without a root and without limits (memfd_create). */
struct super_block *tmpfs_new_internal(struct vfs *vfs);
/* inode_ops.evict (contents and accounting) and inode_ops.statfs. */
void tmpfs_evict(struct inode *ino);
int tmpfs_statfs(struct inode *ino, struct linux_statfs *st);

/* dir.c: directory contents and the namespace inode ops. */
void tmpfs_dir_init(struct tmpfs_dir *d);
void tmpfs_dir_destroy(struct tmpfs_dir *d);
struct inode *tmpfs_lookup(struct inode *dir, const char *name);
struct inode *tmpfs_create(struct inode *dir, const char *name, uint32_t mode,
			   const struct cred *c);
struct inode *tmpfs_mkdir(struct inode *dir, const char *name, uint32_t mode,
			  const struct cred *c);
struct inode *tmpfs_mknod(struct inode *dir, const char *name, uint32_t mode, uint64_t dev,
			  const struct cred *c);
struct inode *tmpfs_symlink(struct inode *dir, const char *name, const char *target,
			    const struct cred *c);
struct inode *tmpfs_tmpfile(struct inode *dir, uint32_t mode, bool linkable,
			    const struct cred *c);
int tmpfs_link(struct inode *dir, const char *name, struct inode *target);
int tmpfs_unlink(struct inode *dir, const char *name, struct inode *victim);
int tmpfs_rmdir(struct inode *dir, const char *name, struct inode *victim);
int tmpfs_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname,
		 unsigned flags);

/* file.c */
void tmpfs_file_init(struct tmpfs_inode *ti, struct memfile *mf);
void tmpfs_file_destroy(struct tmpfs_inode *ti);
/* Sets the size (ti->lock held): frees pages past it, zeroes the tail of the last one. */
int tmpfs_set_size_locked(struct inode *ino, uint64_t size);

/* xattr.c */
ssize_t tmpfs_getxattr(struct inode *ino, const char *name, void *buf, size_t n);
ssize_t tmpfs_listxattr(struct inode *ino, char *buf, size_t n);
int tmpfs_setxattr(struct inode *ino, const char *name, const void *val, size_t n, int flags);
int tmpfs_removexattr(struct inode *ino, const char *name);
void tmpfs_xattrs_free(struct tmpfs_inode *ti);

#endif
