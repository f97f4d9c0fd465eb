/* Per-process root, cwd and umask (shared by CLONE_FS). */
#include <stdlib.h>

#include "cvisor/sentry/kernel.h"

struct fs_struct *fs_struct_new(const struct path *root, const struct path *cwd)
{
	struct fs_struct *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	pthread_mutex_init(&fs->lock, NULL);
	fs->refs = 1;
	fs->root = *root;
	fs->cwd = *cwd;
	path_get(&fs->root);
	path_get(&fs->cwd);
	fs->umask = 022;
	return fs;
}

struct fs_struct *fs_struct_copy(struct fs_struct *src)
{
	struct fs_struct *fs;

	pthread_mutex_lock(&src->lock);
	fs = fs_struct_new(&src->root, &src->cwd);
	if (fs)
		fs->umask = src->umask;
	pthread_mutex_unlock(&src->lock);
	return fs;
}

void fs_struct_put(struct fs_struct *fs)
{
	if (__atomic_sub_fetch(&fs->refs, 1, __ATOMIC_ACQ_REL))
		return;
	path_put(&fs->root);
	path_put(&fs->cwd);
	free(fs);
}

void fs_struct_snapshot(struct fs_struct *fs, struct path *root, struct path *cwd)
{
	pthread_mutex_lock(&fs->lock);
	if (root) {
		*root = fs->root;
		path_get(root);
	}
	if (cwd) {
		*cwd = fs->cwd;
		path_get(cwd);
	}
	pthread_mutex_unlock(&fs->lock);
}
