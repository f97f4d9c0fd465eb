/*
 * The virtual filesystem (src/sentry/vfs): inodes, dentries, mounts, path walk, open file
 * descriptions, and the ops tables each filesystem (src/sentry/fs/<fs>) implements.
 *
 * Refcounting: inodes, dentries, mounts and files are refcounted (get/put pairs).  A dentry
 * holds its parent and its inode; a struct path holds its mount and its dentry.
 *
 * Lock order: vfs->rename_lock, then directory inode->lock (the namespace-operation lock of
 * a directory: a parent before its child, unrelated directories by address), then dentry
 * locks (parent before child), then filesystem-private locks.  vfs->mount_lock is never held
 * with another vfs lock.  Filesystems never take inode->lock themselves (the vfs holds it
 * around create/mkdir/mknod/symlink/link/unlink/rmdir/rename of the directory).  The
 * fsnotify registry lock (fsnotify.h) comes after all of these.
 * File position: file->pos_lock.  No vfs lock is held while a task blocks.
 */
#ifndef CV_SENTRY_VFS_H
#define CV_SENTRY_VFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/abi/linux/stat.h"
#include "cvisor/abi/linux/types.h"

struct task;
struct cred;
struct mem_object;
struct memfile;
struct poll_table;
struct inode;
struct dentry;
struct mount;
struct file;
struct super_block;
struct vfs;
struct path;
struct pipe;
struct epoll_links;
struct file_lock_ctx;
struct fsnotify_state;

/* ---- ops tables ---------------------------------------------------------------------- */

/* Attribute changes for setattr; `valid` says which fields apply. */
#define ATTR_MODE 0x1u
#define ATTR_UID 0x2u
#define ATTR_GID 0x4u
#define ATTR_SIZE 0x8u
#define ATTR_ATIME 0x10u
#define ATTR_MTIME 0x20u
#define ATTR_ATIME_NOW 0x40u
#define ATTR_MTIME_NOW 0x80u

struct vfs_attr {
	unsigned valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct linux_timespec atime, mtime;
};

/*
 * Operations on inodes.  Optional ops may be NULL; the vfs then returns the Linux answer
 * (-EPERM for create/mkdir/... on filesystems without them, -EINVAL for readlink).  Name
 * arguments are single components.  Returned inodes are new references.
 */
struct inode_ops {
	struct inode *(*lookup)(struct inode *dir, const char *name); /* ERR_PTR(-ENOENT) */
	struct inode *(*create)(struct inode *dir, const char *name, uint32_t mode,
				const struct cred *c);
	struct inode *(*mkdir)(struct inode *dir, const char *name, uint32_t mode,
			       const struct cred *c);
	struct inode *(*mknod)(struct inode *dir, const char *name, uint32_t mode, uint64_t dev,
			       const struct cred *c);
	struct inode *(*symlink)(struct inode *dir, const char *name, const char *target,
				 const struct cred *c);
	int (*link)(struct inode *dir, const char *name, struct inode *target);
	int (*unlink)(struct inode *dir, const char *name, struct inode *victim);
	int (*rmdir)(struct inode *dir, const char *name, struct inode *victim);
	int (*rename)(struct inode *odir, const char *oname, struct inode *ndir, const char *nname,
		      unsigned flags);
	/* Copies the target into buf (no NUL); returns its length. */
	ssize_t (*readlink)(struct inode *ino, char *buf, size_t n);
	/* Fills st (all basic fields). */
	int (*getattr)(struct inode *ino, struct linux_statx *st);
	int (*setattr)(struct inode *ino, const struct vfs_attr *a);
	/* Prepares f (f->ops, f->priv) for an open of ino with the given O_* flags.  t is the
	 * opening task (FIFO opens block), or NULL for opens done by the sentry itself. */
	int (*open)(struct inode *ino, struct file *f, int flags, struct task *t);
	int (*statfs)(struct inode *ino, struct linux_statfs *st);
	/* Extended attributes; absent means -ENOTSUP (-EOPNOTSUPP).  flags: XATTR_CREATE (1),
	 * XATTR_REPLACE (2). */
	ssize_t (*getxattr)(struct inode *ino, const char *name, void *buf, size_t n);
	ssize_t (*listxattr)(struct inode *ino, char *buf, size_t n);
	int (*setxattr)(struct inode *ino, const char *name, const void *val, size_t n,
			int flags);
	int (*removexattr)(struct inode *ino, const char *name);
	/* O_TMPFILE: a new unnamed regular file (nlink 0) in dir, which linkat may name unless
	 * !linkable (O_EXCL); absent means -EOPNOTSUPP. */
	struct inode *(*tmpfile)(struct inode *dir, uint32_t mode, bool linkable,
				 const struct cred *c);
	/* Releases fs-private state when the last reference goes. */
	void (*evict)(struct inode *ino);
	/* Magic links (/proc/<pid>/fd/N, exe, cwd, root): resolve to a path, not text. */
	int (*get_link)(struct inode *ino, struct task *t, struct path *out);
};

/* Directory entries produced by file_ops.iterate. Returns false when the buffer is full. */
typedef bool (*dir_emit_fn)(void *ctx, const char *name, uint64_t ino, int64_t next_off,
			    unsigned dtype);

/*
 * Operations on open files.  `t` is the calling task (for blocking, credentials and
 * signals); blocking ops return -ERESTARTSYS when a signal interrupts them.  Buffers are
 * sentry memory.  NULL defaults (in the vfs wrappers): read/write -EINVAL, llseek -ESPIPE,
 * ioctl -ENOTTY, poll "always ready", mmap -ENODEV, fsync 0, iterate -ENOTDIR.
 */
struct file_ops {
	ssize_t (*read)(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos);
	ssize_t (*write)(struct file *f, struct task *t, const void *buf, size_t n, int64_t *pos);
	int64_t (*llseek)(struct file *f, int64_t off, int whence);
	/* Emits entries from *pos on; updates *pos. */
	int (*iterate)(struct file *f, int64_t *pos, dir_emit_fn emit, void *ctx);
	long (*ioctl)(struct file *f, struct task *t, unsigned cmd, uint64_t arg);
	/* Returns POLL* events now ready; registers with pt when not NULL. */
	unsigned (*poll)(struct file *f, struct poll_table *pt);
	/* Returns the object to map (new reference) for mmap of this file. */
	struct mem_object *(*mmap)(struct file *f, bool shared, bool write);
	int (*fsync)(struct file *f, bool datasync);
	int (*truncate)(struct file *f, uint64_t size);
	int (*fallocate)(struct file *f, int mode, int64_t off, int64_t len);
	/* Called once when the last reference to the file goes. */
	void (*release)(struct file *f);
};

/* A filesystem type (hostfs, tmpfs, proc, ...). */
struct fs_type {
	const char *name;
	/* Builds a superblock for a mount with source and options; ERR_PTR on error. */
	struct super_block *(*mount)(struct vfs *vfs, const char *source, const char *data,
				     unsigned long flags);
	void (*kill_sb)(struct super_block *sb);
	/* Optional: writes back what the sentry holds for sb's files (sync, syncfs). */
	int (*sync_fs)(struct super_block *sb);
};

/* ---- objects ------------------------------------------------------------------------- */

#define SB_NO_DCACHE_NEG 0x1u /* never cache negative lookups (the host may change) */
#define SB_VOLATILE 0x2u      /* entries may vanish behind our back: revalidate (procfs) */

struct super_block {
	const struct fs_type *type;
	unsigned sb_flags;    /* SB_* */
	struct vfs *vfs;
	struct inode *root;
	uint64_t dev;      /* st_dev */
	unsigned long flags; /* MS_RDONLY, ... */
	int refs;
	void *priv;
	uint64_t next_ino;
};

struct inode {
	const struct inode_ops *ops;
	struct super_block *sb;
	int refs;
	pthread_mutex_t lock;
	uint64_t ino;
	uint32_t mode; /* S_IFMT bits and permissions */
	uint32_t uid, gid;
	uint32_t nlink;
	struct pipe *pipe; /* a FIFO's pipe while it is open (src/sentry/fs/pipe), under lock */
	uint64_t rdev;
	uint64_t size;
	struct linux_timespec atime, mtime, ctime;
	void *priv;
	struct file_lock_ctx *locks; /* advisory locks (src/sentry/vfs/filelock.c), lazily */
};

struct dentry {
	char *name; /* "/" for roots */
	struct dentry *parent; /* one reference; self for roots */
	struct inode *inode;   /* one reference; NULL for a negative dentry */
	int refs;
	bool mounted_on;       /* some mount's mountpoint */
	bool dead;             /* unlinked or rmdir'd */
	struct dentry *children, *next_sibling; /* cache, under the parent's lock */
	pthread_mutex_t lock;
	struct dentry *lru_prev, *lru_next;     /* unused cached dentries (dentry.c) */
	bool in_lru;
};

#define MNT_RDONLY 0x1u
#define MNT_NOSUID 0x2u
#define MNT_NODEV 0x4u
#define MNT_NOEXEC 0x8u

struct mount {
	int id;
	int refs;
	struct super_block *sb;
	struct dentry *root;       /* root of this mount within sb */
	struct mount *parent;      /* NULL for the namespace root */
	struct dentry *mountpoint; /* in parent */
	unsigned flags;            /* MNT_* */
	char *source;
	char *data;                /* options, for /proc/mounts */
	struct mount *next;        /* in vfs->mounts */
};

struct path {
	struct mount *mnt;
	struct dentry *dentry;
};

/* An open file description. */
struct file {
	const struct file_ops *ops;
	int refs;
	unsigned flags;   /* O_* status flags (O_APPEND, O_NONBLOCK, ...) and access mode */
	struct path path; /* references; dentry may be NULL for anonymous files */
	struct inode *inode; /* reference, or NULL for anonymous files */
	pthread_mutex_t pos_lock;
	int64_t pos;
	void *priv;
	char *anon_name;  /* "pipe:[123]", "anon_inode:[eventfd]" ... for readlink of /proc fds */
	struct epoll_links *epoll_links; /* epolls watching this file (src/sentry/fs/epoll) */
	struct task *lock_owner_hint;
};

/* The mount namespace and dentry cache of one sandbox. */
struct vfs {
	pthread_mutex_t mount_lock;
	struct mount *mounts; /* all mounts, for /proc/mounts */
	struct mount *root;
	int next_mount_id;
	uint64_t next_dev;
	struct memfile *mf;
	struct super_block *anon_sb; /* anon_inode_new's, created on first use */
	struct super_block *memfd_sb; /* memfd_create's internal tmpfs, created on first use */
	pthread_mutex_t rename_lock; /* serialises renames and dentry moves (see lock order) */
	int fsnotify_marks; /* marks in place (atomic): the hooks' only cost without any */
	struct fsnotify_state *fsnotify; /* the marks' registry (fsnotify.c), created on first use */
};

/* ---- lifecycle and refcounting ----------------------------------------------------------- */

int vfs_init(struct vfs *vfs, struct memfile *mf);
void vfs_destroy(struct vfs *vfs);

/* Registered filesystem types (explicit list in src/sentry/vfs/fstypes.c). */
const struct fs_type *vfs_find_fs_type(const char *name);

/* A new superblock with a fresh device number; the caller fills root.  ERR_PTR on error. */
struct super_block *sb_new(struct vfs *vfs, const struct fs_type *type, unsigned long flags);
void sb_get(struct super_block *sb);
void sb_put(struct super_block *sb);

/* A new inode of sb with one reference. NULL on ENOMEM. */
struct inode *inode_new(struct super_block *sb, const struct inode_ops *ops, uint32_t mode);
void inode_get(struct inode *ino);
void inode_put(struct inode *ino);

void dentry_get(struct dentry *d);
void dentry_put(struct dentry *d);
/* How many unused dentries the cache keeps for later lookups before it evicts the least
 * recently used (each hostfs one holds a host fd).  The sandbox sizes it from RLIMIT_NOFILE. */
void dcache_set_limit(size_t n);
/* Unused dentries cached now (for tests and --debug statistics). */
size_t dcache_unused(void);
/* A root dentry for ino (takes the inode reference). */
struct dentry *dentry_new_root(struct inode *ino);

void mount_get(struct mount *m);
void mount_put(struct mount *m);

void path_get(const struct path *p);
void path_put(struct path *p);

/* A new file with one reference, holding path (new references).  ERR_PTR on error. */
struct file *file_new(const struct path *p, struct inode *ino, const struct file_ops *ops,
		      unsigned flags);
/* A new anonymous file (pipes, eventfd, sockets); `name` like "pipe:[12]". */
struct file *file_new_anon(const struct file_ops *ops, unsigned flags, const char *name,
			   void *priv);
void file_get(struct file *f);
void file_put(struct file *f);

/* ---- mounts --------------------------------------------------------------------------- */

/* Makes sb the namespace root. */
int vfs_mount_root(struct vfs *vfs, struct super_block *sb, unsigned mnt_flags,
		   const char *source);
/* Mounts sb (its root, or `root` when not NULL, for binds) at path.  Returns 0 or -errno. */
int vfs_mount_at(struct vfs *vfs, const struct path *at, struct super_block *sb,
		 struct dentry *root, unsigned mnt_flags, const char *source, const char *data);
/* The mount on (mnt, d), with a new reference, or NULL. */
struct mount *vfs_mount_lookup(struct vfs *vfs, struct mount *mnt, struct dentry *d);

/* ---- path walk ------------------------------------------------------------------------ */

#define LOOKUP_FOLLOW 0x1u    /* follow a trailing symlink */
#define LOOKUP_DIRECTORY 0x2u /* the result must be a directory */
#define LOOKUP_EMPTY 0x4u     /* "" names the starting directory (AT_EMPTY_PATH) */
#define LOOKUP_NO_SYMLINKS 0x8u
#define LOOKUP_BENEATH 0x10u
#define LOOKUP_IN_ROOT 0x20u
#define LOOKUP_NO_XDEV 0x40u
#define LOOKUP_NO_MAGICLINKS 0x80u

#define SYMLINK_MAX_FOLLOW 40
#define AT_FDCWD_LINUX (-100)

/* Where a walk starts and what bounds it. */
struct walk_ctx {
	struct path root; /* the task's root (borrowed) */
	struct path start; /* cwd or the dirfd's directory (borrowed) */
	const struct cred *cred;
	struct task *task; /* for /proc magic links; may be NULL */
};

/* Resolves name to *out (new references).  -ENOENT, -ENOTDIR, -ELOOP, -EACCES, ... */
int vfs_walk(const struct walk_ctx *w, const char *name, unsigned flags, struct path *out);

#define VFS_NAME_MAX 255

/*
 * Resolves all but the last component: *parent gets the directory (new references) and
 * last (VFS_NAME_MAX + 1 bytes) the final name, "." when there is none ("/"), or "..".
 * A trailing slash sets *trailing.
 */
int vfs_walk_parent(const struct walk_ctx *w, const char *name, unsigned flags,
		    struct path *parent, char *last, bool *trailing);

/* Looks up one component under dir (not following a final symlink or mount crossing). */
struct dentry *vfs_lookup_child(struct dentry *dir, const char *name); /* ERR_PTR */
/* Caches a new child of dir for ino (takes the inode reference); returns it referenced. */
struct dentry *vfs_dentry_add(struct dentry *dir, const char *name, struct inode *ino);
/* A dentry for ino under dir that is not in the cache (O_TMPFILE files); takes the inode
 * reference.  ERR_PTR(-ENOMEM). */
struct dentry *vfs_dentry_new_unlinked(struct dentry *dir, const char *name, struct inode *ino);
/* Removes d from the cache (unlink, rmdir, rename away); it dies with its last reference. */
void vfs_dentry_drop(struct dentry *d);
/* Same, by name (a no-op when not cached). */
void vfs_dentry_forget(struct dentry *dir, const char *name);

/* Writes the path of p as seen from root into buf (NUL-terminated); returns its length or
 * -ENAMETOOLONG.  Unreachable paths are prefixed as Linux does (an unreachable path is
 * written as its path from the mount). */
ssize_t vfs_path_name(const struct path *root, const struct path *p, char *buf, size_t n);

/* ---- operations used by syscalls -------------------------------------------------------- */

/* Permission check: may c access ino with mask (MAY_READ|MAY_WRITE|MAY_EXEC)? */
#define MAY_EXEC 1
#define MAY_WRITE 2
#define MAY_READ 4
int vfs_permission(const struct cred *c, struct inode *ino, int mask);

int vfs_open(const struct walk_ctx *w, const char *name, int flags, uint32_t mode,
	     struct file **out);
/* Opens an already resolved path; c NULL skips permission checks, t may be NULL. */
int vfs_open_path(const struct path *p, int flags, const struct cred *c, struct task *t,
		  struct file **out);

/* An inode of the sandbox's anonymous filesystem (pipes, sockets, eventfd, epoll...), with
 * one reference; NULL on ENOMEM. */
struct inode *anon_inode_new(struct vfs *vfs, uint32_t mode);
/* A file of its own anonymous inode of mode (0600 for event files, as Linux shows them) with
 * ops, flags, priv and anon_name `name`; one reference, or ERR_PTR (priv is the caller's to
 * free then). */
struct file *anon_file_new(struct vfs *vfs, uint32_t mode, const struct file_ops *ops,
			   unsigned flags, const char *name, void *priv);
int vfs_getattr(struct inode *ino, struct linux_statx *st);
/* Fills a struct stat from an inode. */
int vfs_stat(struct inode *ino, struct linux_stat *st);

ssize_t vfs_read(struct file *f, struct task *t, void *buf, size_t n);
ssize_t vfs_write(struct file *f, struct task *t, const void *buf, size_t n);
ssize_t vfs_pread(struct file *f, struct task *t, void *buf, size_t n, int64_t off);
ssize_t vfs_pwrite(struct file *f, struct task *t, const void *buf, size_t n, int64_t off);
int64_t vfs_llseek(struct file *f, int64_t off, int whence);
long vfs_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg);
unsigned vfs_poll(struct file *f, struct poll_table *pt);
int vfs_iterate(struct file *f, dir_emit_fn emit, void *ctx);
/* The object backing mmap of f (new reference); ERR_PTR(-ENODEV) when f cannot be mapped. */
struct mem_object *vfs_mmap(struct file *f, bool shared, bool write);

/* ---- namespace and attribute operations (namei.c, rename.c, attr.c) ------------------- */

/*
 * Each resolves its path(s) with w (the caller applied the umask to modes) and checks the
 * permissions of w->cred, sticky directories, read-only mounts (-EROFS) and mount points
 * (-EBUSY) as Linux does.  Return 0 or -errno.
 */
int vfs_mkdir(const struct walk_ctx *w, const char *name, uint32_t mode);
/* mode carries the S_IFMT type (0 means S_IFREG); dev is the Linux dev_t for devices. */
int vfs_mknod(const struct walk_ctx *w, const char *name, uint32_t mode, uint64_t dev);
int vfs_symlink(const struct walk_ctx *w, const char *target, const char *name);
/* A new name for old (a resolved path, borrowed) at name under nw. */
int vfs_link(const struct path *old, const struct walk_ctx *nw, const char *name);
int vfs_unlink(const struct walk_ctx *w, const char *name);
int vfs_rmdir(const struct walk_ctx *w, const char *name);
/* renameat2 flags */
#define VFS_RENAME_NOREPLACE 0x1u
#define VFS_RENAME_EXCHANGE 0x2u
#define VFS_RENAME_WHITEOUT 0x4u
int vfs_rename(const struct walk_ctx *ow, const char *oname, const struct walk_ctx *nw,
	       const char *nname, unsigned flags);

/* Moves d under newdir as name in the dentry cache (after a successful rename; the caller
 * holds vfs->rename_lock).  A cached entry of that name is dropped. */
void vfs_dentry_move(struct dentry *d, struct dentry *newdir, const char *name);
/* Swaps the places of a and b (RENAME_EXCHANGE; vfs->rename_lock held). */
void vfs_dentry_exchange(struct dentry *a, struct dentry *b);
/* d's parent with a new reference (d itself for a root), safe against concurrent moves. */
struct dentry *vfs_dentry_parent(struct dentry *d);

/*
 * Attribute changes of ino, reached through p (its mount gives -EROFS, its dentry names the
 * file to watchers; both NULL for anonymous files), checked against c (NULL: no checks).
 */
int vfs_chmod(const struct path *p, struct inode *ino, const struct cred *c, uint32_t mode);
/* uid/gid (uint32_t)-1 leave that id unchanged. */
int vfs_chown(const struct path *p, struct inode *ino, const struct cred *c, uint32_t uid,
	      uint32_t gid);
/* times NULL: both now.  Otherwise times->valid says which of ATTR_[AM]TIME(_NOW) apply. */
int vfs_utimes(const struct path *p, struct inode *ino, const struct cred *c,
	       const struct vfs_attr *times);
int vfs_truncate(const struct path *p, struct inode *ino, const struct cred *c, int64_t size);
/* The same on an open file (ftruncate: the file must be open for writing). */
int vfs_ftruncate(struct file *f, int64_t size);
int vfs_fallocate(struct file *f, int mode, int64_t off, int64_t len);
int vfs_fsync(struct file *f, bool datasync);
/* syncfs(2) of sb and sync(2) of every mounted filesystem: fs_type.sync_fs.  Return 0 or the
 * first error. */
int vfs_syncfs(struct super_block *sb);
int vfs_sync(struct vfs *vfs);
/* Attributes through the inode op (no checks); -EPERM when the filesystem has none. */
int vfs_setattr(struct inode *ino, const struct vfs_attr *a);

/* Extended attributes of ino, checked against c (p as for vfs_chmod: its mount for -EROFS
 * on changes).  Sizes and -ERANGE as getxattr(2)/listxattr(2). */
ssize_t vfs_getxattr(const struct cred *c, struct inode *ino, const char *name, void *buf,
		     size_t n);
ssize_t vfs_listxattr(struct inode *ino, char *buf, size_t n);
int vfs_setxattr(const struct path *p, struct inode *ino, const struct cred *c, const char *name,
		 const void *val, size_t n, int flags);
int vfs_removexattr(const struct path *p, struct inode *ino, const struct cred *c,
		    const char *name);

/* Is c the owner of ino, or CAP_FOWNER? */
bool vfs_owner_or_capable(const struct cred *c, const struct inode *ino);

/* Generic llseek for files with a size (regular files). */
int64_t generic_llseek(struct file *f, int64_t off, int whence, uint64_t size);

/* The file's mode bits (S_IFMT) or 0 for anonymous files without inode. */
static inline uint32_t file_mode(const struct file *f)
{
	return f->inode ? f->inode->mode : 0;
}

#endif
