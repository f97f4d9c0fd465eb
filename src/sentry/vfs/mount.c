/* The mount table: the namespace root, mounts on dentries, and lookups during path walks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/vfs.h"

int vfs_init(struct vfs *vfs, struct memfile *mf)
{
	memset(vfs, 0, sizeof(*vfs));
	pthread_mutex_init(&vfs->mount_lock, NULL);
	pthread_mutex_init(&vfs->rename_lock, NULL);
	vfs->mf = mf;
	vfs->next_mount_id = 20;
	return 0;
}

void vfs_destroy(struct vfs *vfs)
{
	struct mount *m = vfs->mounts;

	/* Mounts reference each other; break them at teardown. */
	while (m) {
		struct mount *next = m->next;

		dentry_put(m->root);
		if (m->mountpoint)
			dentry_put(m->mountpoint);
		sb_put(m->sb);
		free(m->source);
		free(m->data);
		free(m);
		m = next;
	}
	vfs->mounts = vfs->root = NULL;
	fsnotify_destroy(vfs);
}

void mount_get(struct mount *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void mount_put(struct mount *m)
{
	/* Mounts live until vfs_destroy (no umount yet); the count documents users. */
	__atomic_sub_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

static struct mount *mount_alloc(struct vfs *vfs, struct super_block *sb, struct dentry *root,
				 unsigned flags, const char *source, const char *data)
{
	struct mount *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->refs = 1;
	m->sb = sb;
	sb_get(sb);
	m->root = root;
	dentry_get(root);
	m->flags = flags;
	m->source = strdup(source ? source : "none");
	m->data = data ? strdup(data) : NULL;
	m->id = vfs->next_mount_id++;
	return m;
}

static void append_mount(struct vfs *vfs, struct mount *m)
{
	struct mount **pp = &vfs->mounts;

	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
}

int vfs_mount_root(struct vfs *vfs, struct super_block *sb, unsigned mnt_flags, const char *source)
{
	struct dentry *root = dentry_new_root(sb->root);
	struct mount *m;

	if (!root)
		return -ENOMEM;
	inode_get(sb->root);
	pthread_mutex_lock(&vfs->mount_lock);
	m = mount_alloc(vfs, sb, root, mnt_flags, source, NULL);
	if (m) {
		vfs->root = m;
		append_mount(vfs, m);
	}
	pthread_mutex_unlock(&vfs->mount_lock);
	dentry_put(root);
	return m ? 0 : -ENOMEM;
}

int vfs_mount_at(struct vfs *vfs, const struct path *at, struct super_block *sb,
		 struct dentry *root, unsigned mnt_flags, const char *source, const char *data)
{
	struct dentry *r = root;
	struct mount *m;

	if (!r) {
		r = dentry_new_root(sb->root);
		if (!r)
			return -ENOMEM;
		inode_get(sb->root);
	} else {
		dentry_get(r);
	}
	pthread_mutex_lock(&vfs->mount_lock);
	m = mount_alloc(vfs, sb, r, mnt_flags, source, data);
	if (m) {
		m->parent = at->mnt;
		m->mountpoint = at->dentry;
		dentry_get(at->dentry);
		at->dentry->mounted_on = true;
		append_mount(vfs, m);
	}
	pthread_mutex_unlock(&vfs->mount_lock);
	dentry_put(r);
	return m ? 0 : -ENOMEM;
}

struct mount *vfs_mount_lookup(struct vfs *vfs, struct mount *mnt, struct dentry *d)
{
	struct mount *found = NULL;

	if (!d->mounted_on)
		return NULL;
	pthread_mutex_lock(&vfs->mount_lock);
	/* The most recent mount on a point hides earlier ones. */
	for (struct mount *m = vfs->mounts; m; m = m->next)
		if (m->parent == mnt && m->mountpoint == d)
			found = m;
	if (found)
		mount_get(found);
	pthread_mutex_unlock(&vfs->mount_lock);
	return found;
}
