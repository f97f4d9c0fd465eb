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
struct fs_type;

/*
 * hostfs over a host directory fd opened before the sentry confined itself.  proc_fd is an
 * fd of the host's /proc/self/fd, used to reopen O_PATH fds with other flags.  Takes
 * ownership of root_fd.  ERR_PTR on error.
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

#endif
