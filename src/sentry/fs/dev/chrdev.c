/*
 * Character devices: the registry from (major, minor) to the sentry's devices.  Every
 * filesystem's open of a character node lands here (chrdev_open), so a device node in an
 * image's rootfs gives the sentry's device, never the host's.
 */
#include <errno.h>

#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/vfs.h"
#include "dev_internal.h"

#define MEM_MAJOR 1

struct chrdev {
	uint32_t major, minor;
	int (*open)(struct inode *ino, struct file *f, int flags, struct task *t);
};

static int dev_mem(struct inode *ino, struct file *f, int flags, struct task *t)
{
	return mem_dev_open(ino, f, flags, t, dev_minor(ino->rdev));
}

static int dev_tty(struct inode *ino, struct file *f, int flags, struct task *t)
{
	return tty_dev_open(ino, f, flags, t, false);
}

static int dev_console(struct inode *ino, struct file *f, int flags, struct task *t)
{
	return tty_dev_open(ino, f, flags, t, true);
}

static int dev_ptmx(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct devpts *pts = devpts_for_ptmx(&f->path);
	int r;

	if (!pts)
		return -ENODEV;
	r = ptmx_open(pts, ino, f, flags, t);
	devpts_put(pts);
	return r;
}

static const struct chrdev chrdevs[] = {
	{MEM_MAJOR, 3, dev_mem},	/* null */
	{MEM_MAJOR, 5, dev_mem},	/* zero */
	{MEM_MAJOR, 7, dev_mem},	/* full */
	{MEM_MAJOR, 8, dev_mem},	/* random */
	{MEM_MAJOR, 9, dev_mem},	/* urandom */
	{TTY_MAJOR, 0, dev_tty},	/* tty: the controlling terminal */
	{TTY_MAJOR, 1, dev_console},	/* console */
	{TTY_MAJOR, 2, dev_ptmx},	/* ptmx */
};

/*
 * Implements opening a character device node.  Deviations: pty slaves (major 136) open only
 * through their devpts node; a node of another filesystem gives ENXIO.
 */
int chrdev_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	uint32_t major = dev_major(ino->rdev), minor = dev_minor(ino->rdev);

	if (f->path.mnt && (f->path.mnt->flags & MNT_NODEV))
		return -EACCES;
	for (size_t i = 0; i < sizeof(chrdevs) / sizeof(chrdevs[0]); i++)
		if (chrdevs[i].major == major && chrdevs[i].minor == minor)
			return chrdevs[i].open(ino, f, flags, t);
	return -ENXIO;
}
