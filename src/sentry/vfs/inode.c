/* Superblocks and inodes: allocation and reference counting. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/filelock.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

struct super_block *sb_new(struct vfs *vfs, const struct fs_type *type, unsigned long flags)
{
	struct super_block *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return ERR_PTR(-ENOMEM);
	sb->type = type;
	sb->vfs = vfs;
	sb->flags = flags;
	sb->refs = 1;
	sb->next_ino = 1;
	pthread_mutex_lock(&vfs->mount_lock);
	sb->dev = ++vfs->next_dev;
	pthread_mutex_unlock(&vfs->mount_lock);
	return sb;
}

void sb_get(struct super_block *sb)
{
	__atomic_add_fetch(&sb->refs, 1, __ATOMIC_RELAXED);
}

void sb_put(struct super_block *sb)
{
	if (__atomic_sub_fetch(&sb->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (sb->type && sb->type->kill_sb)
		sb->type->kill_sb(sb);
	free(sb);
}

struct inode *inode_new(struct super_block *sb, const struct inode_ops *ops, uint32_t mode)
{
	struct inode *ino = calloc(1, sizeof(*ino));
	uint64_t now = clock_real_ns();

	if (!ino)
		return NULL;
	ino->ops = ops;
	ino->sb = sb;
	ino->refs = 1;
	pthread_mutex_init(&ino->lock, NULL);
	ino->ino = __atomic_fetch_add(&sb->next_ino, 1, __ATOMIC_RELAXED);
	ino->mode = mode;
	ino->nlink = 1;
	ino->atime.tv_sec = ino->mtime.tv_sec = ino->ctime.tv_sec = (int64_t)(now / 1000000000ull);
	ino->atime.tv_nsec = ino->mtime.tv_nsec = ino->ctime.tv_nsec =
		(int64_t)(now % 1000000000ull);
	sb_get(sb);
	return ino;
}

void inode_get(struct inode *ino)
{
	__atomic_add_fetch(&ino->refs, 1, __ATOMIC_RELAXED);
}

void inode_put(struct inode *ino)
{
	struct super_block *sb;

	if (!ino || __atomic_sub_fetch(&ino->refs, 1, __ATOMIC_ACQ_REL))
		return;
	sb = ino->sb;
	if (ino->ops && ino->ops->evict)
		ino->ops->evict(ino);
	file_lock_ctx_free(ino->locks);
	free(ino);
	sb_put(sb);
}
