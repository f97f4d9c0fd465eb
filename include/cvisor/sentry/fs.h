/*
 * Constructors of the filesystems the sandbox sets up itself (the others are created by
 * mount options through struct fs_type).
 */
#ifndef CV_SENTRY_FS_H
#define CV_SENTRY_FS_H

#include <stdbool.h>

struct vfs;
struct super_block;
struct file;
struct inode;
struct task;
struct cred;
struct fs_type;

/*
 * hostfs over a host directory fd (or, for a bind mount of a file, a file fd) opened before
 * the sentry confined itself.  proc_fd is an fd of the host's /proc/self/fd, used to reopen
 * O_PATH fds with other flags.  Takes ownership of root_fd.  ERR_PTR on error.
 */
struct super_block *hostfs_new(struct vfs *vfs, int root_fd, int proc_fd, bool readonly);

/* A file reading and writing a host fd (the container's stdio); takes ownership of fd. */
struct file *hostfd_file_new(struct vfs *vfs, int fd, unsigned flags);

/*
 * Hooks every filesystem's open calls for special inodes:
 *  - chrdev_open: a character device node (major/minor in ino->rdev) becomes the sentry's
 *    device (src/sentry/fs/dev); -ENXIO when there is no such device.
 *  - fifo_open: a FIFO joins the pipe shared by every opener of ino (src/sentry/fs/pipe),
 *    blocking as Linux does unless O_NONBLOCK.
 */
int chrdev_open(struct inode *ino, struct file *f, int flags, struct task *t);
int fifo_open(struct inode *ino, struct file *f, int flags, struct task *t);

/*
 * The synthetic filesystems (src/sentry/fs/proc, sys, dev): procfs, a minimal sysfs, and
 * devpts (options mode=, ptmxmode=, uid=, gid=, max=; every mount is a new instance).
 */
extern const struct fs_type proc_fs_type;
extern const struct fs_type sysfs_fs_type;
extern const struct fs_type devpts_fs_type;

/*
 * Mounts sb (a new superblock the caller keeps its reference to) at dest, an absolute path
 * resolved from the sandbox root (symlinks stay inside it).  Missing directories are
 * created on the way, and the mount point itself: a directory, or an empty file when sb's
 * root is a file; read-only mounts are ignored for that, as runc creates mount points before
 * remounting.  mnt_flags are MNT_*.  Returns 0 or -errno (-ENOTDIR, -EISDIR on a type
 * mismatch).
 */
int vfs_mount_path(struct vfs *vfs, const char *dest, struct super_block *sb, unsigned mnt_flags,
		   const char *source, const char *data);
/*
 * runc's tmpcopyup: copies the content of the directory dest (if any) into sb's root before
 * sb is mounted there (files, directories, symlinks, nodes; modes, owners, times).  Returns
 * 0 or -errno (-ENOSPC when it does not fit).
 */
int vfs_copy_up(struct vfs *vfs, const char *dest, struct super_block *sb);
/*
 * Fills the tmpfs mounted on /dev as runc does: null, zero, full, random, urandom and tty
 * (character nodes with Linux's numbers; inode->rdev holds glibc's makedev(major, minor)
 * layout everywhere), the fd, stdin, stdout, stderr and ptmx links, shm/, and with console
 * (process.terminal) a console node (5, 1).  Returns 0 or -errno.
 */
int vfs_populate_dev(struct vfs *vfs, bool console);
/*
 * linux.maskedPaths and linux.readonlyPaths, as runc applies them: a masked directory gets an
 * empty read-only tmpfs over it, a masked file a null device (1, 3); a read-only path is
 * bound onto itself read-only.  A path that does not exist is left
 * alone (0).  Returns 0 or -errno.
 */
int vfs_mask_path(struct vfs *vfs, const char *dest);
int vfs_readonly_path(struct vfs *vfs, const char *dest);

/* tmpfs (src/sentry/fs/tmpfs), for mounts: options size=, nr_inodes=, mode=, uid=, gid=. */
extern const struct fs_type tmpfs_fs_type;

/*
 * memfd_create(2): a new unnamed tmpfs file of the sandbox's internal tmpfs, open O_RDWR,
 * owned by c.  flags are MFD_ALLOW_SEALING (2), MFD_NOEXEC_SEAL (8), MFD_EXEC (0x10); the
 * caller handles MFD_CLOEXEC.  Returns a new file or ERR_PTR.
 */
struct file *memfd_new(struct vfs *vfs, const char *name, unsigned flags, const struct cred *c);
/* F_ADD_SEALS / F_GET_SEALS on f: -EINVAL unless f is a tmpfs file, -EPERM when sealed. */
int memfd_add_seals(struct file *f, unsigned seals);
int memfd_get_seals(struct file *f);

#endif
