/* The anonymous filesystem: inodes of pipes, sockets and event files, for fstat and
 * /proc/<pid>/fd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/vfs.h"

static const struct fs_type anon_fs = {.name = "anon_inodefs"};
static const struct inode_ops anon_inode_ops = {0};

struct inode *anon_inode_new(struct vfs *vfs, uint32_t mode)
{
	struct super_block *sb;
	struct inode *ino;

	pthread_mutex_lock(&vfs->mount_lock);
	sb = vfs->anon_sb;
	pthread_mutex_unlock(&vfs->mount_lock);
	if (!sb) {
		struct super_block *n = sb_new(vfs, &anon_fs, 0);

		if (IS_ERR(n))
			return NULL;
		pthread_mutex_lock(&vfs->mount_lock);
		if (!vfs->anon_sb)
			vfs->anon_sb = n;
		else
			sb_put(n);
		sb = vfs->anon_sb;
		pthread_mutex_unlock(&vfs->mount_lock);
	}
	ino = inode_new(sb, &anon_inode_ops, mode);
	if (ino)
		ino->mode = mode;
	return ino;
}

struct file *anon_file_new(struct vfs *vfs, uint32_t mode, const struct file_ops *ops,
			   unsigned flags, const char *name, void *priv)
{
	struct inode *ino = anon_inode_new(vfs, mode);
	struct file *f;

	if (!ino)
		return ERR_PTR(-ENOMEM);
	f = file_new(NULL, ino, ops, flags);
	inode_put(ino);
	if (IS_ERR(f))
		return f;
	if (!(f->anon_name = strdup(name))) {
		f->ops = NULL;
		file_put(f);
		return ERR_PTR(-ENOMEM);
	}
	f->priv = priv;
	return f;
}
