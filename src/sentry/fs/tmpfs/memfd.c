/*
 * memfd_create(2) files: unnamed regular files of an internal, unmounted tmpfs (one per
 * sandbox, made on first use), with file seals.  Deviation: F_SEAL_WRITE is granted even
 * while writable shared mappings exist (Linux says EBUSY); later writes through them still
 * reach the pages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "tmpfs_internal.h"

#define S_IFREG_ 0100000
#define O_RDWR_ 2
#define O_LARGEFILE_ 0100000
#define O_ACCMODE_ 3
#define MFD_ALLOW_SEALING_ 0x2u
#define MFD_NOEXEC_SEAL_ 0x8u
#define F_SEAL_EXEC_ 0x20u
#define SEALS_ALL (TMPFS_SEAL_SEAL | TMPFS_SEAL_SHRINK | TMPFS_SEAL_GROW | TMPFS_SEAL_WRITE | \
		   TMPFS_SEAL_FUTURE_WRITE | F_SEAL_EXEC_)

static struct super_block *memfd_sb(struct vfs *vfs)
{
	struct super_block *sb, *n;

	pthread_mutex_lock(&vfs->mount_lock);
	sb = vfs->memfd_sb;
	pthread_mutex_unlock(&vfs->mount_lock);
	if (sb)
		return sb;
	n = tmpfs_new_internal(vfs);
	if (IS_ERR(n))
		return n;
	pthread_mutex_lock(&vfs->mount_lock);
	if (!vfs->memfd_sb)
		vfs->memfd_sb = n;
	else
		sb_put(n);
	sb = vfs->memfd_sb;
	pthread_mutex_unlock(&vfs->mount_lock);
	return sb;
}

struct file *memfd_new(struct vfs *vfs, const char *name, unsigned flags, const struct cred *c)
{
	struct super_block *sb = memfd_sb(vfs);
	uint32_t mode = (flags & MFD_NOEXEC_SEAL_) ? 0666 : 0777;
	char anon[VFS_NAME_MAX + 32];
	struct inode *ino;
	struct file *f;

	if (IS_ERR(sb))
		return ERR_CAST(sb);
	ino = tmpfs_new_inode(sb, NULL, S_IFREG_ | mode, c);
	if (IS_ERR(ino))
		return ERR_CAST(ino);
	if (flags & (MFD_ALLOW_SEALING_ | MFD_NOEXEC_SEAL_))
		TI(ino)->seals = 0;
	if (flags & MFD_NOEXEC_SEAL_)
		TI(ino)->seals |= F_SEAL_EXEC_;
	ino->nlink = 0; /* never linked anywhere (and never linkable) */
	f = file_new(NULL, ino, &tmpfs_file_ops, O_RDWR_ | O_LARGEFILE_);
	inode_put(ino);
	if (IS_ERR(f))
		return f;
	snprintf(anon, sizeof(anon), "/memfd:%s (deleted)", name);
	if (!(f->anon_name = strdup(anon))) {
		file_put(f);
		return ERR_PTR(-ENOMEM);
	}
	return f;
}

static struct tmpfs_inode *tmpfs_file_of(struct file *f)
{
	if (!f->inode || f->inode->ops != &tmpfs_inode_ops || (f->inode->mode & 0170000) != S_IFREG_)
		return NULL;
	return TI(f->inode);
}

int memfd_add_seals(struct file *f, unsigned seals)
{
	struct tmpfs_inode *ti = tmpfs_file_of(f);
	int r = 0;

	if (!ti || (seals & ~SEALS_ALL))
		return -EINVAL;
	if ((f->flags & O_ACCMODE_) == 0 /* O_RDONLY */)
		return -EPERM;
	pthread_mutex_lock(&ti->lock);
	if (ti->seals & TMPFS_SEAL_SEAL)
		r = -EPERM;
	else
		ti->seals |= seals;
	pthread_mutex_unlock(&ti->lock);
	return r;
}

int memfd_get_seals(struct file *f)
{
	struct tmpfs_inode *ti = tmpfs_file_of(f);
	int r;

	if (!ti)
		return -EINVAL;
	pthread_mutex_lock(&ti->lock);
	r = (int)ti->seals;
	pthread_mutex_unlock(&ti->lock);
	return r;
}
