/*
 * The sandbox's own mounts, before the container starts: a mount point is resolved from the
 * sandbox root by the sentry's path walk (symlinks stay inside the root, as runc's
 * securejoin keeps them), missing directories are created on the way (an empty file for a
 * file bind mount), ignoring read-only mounts as runc does before it remounts them, and a
 * tmpfs /dev gets runc's default nodes and links.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "namei_internal.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFCHR_ 0020000
#define S_IFLNK_ 0120000

static void root_ctx(struct vfs *vfs, struct walk_ctx *w)
{
	memset(w, 0, sizeof(*w));
	w->root.mnt = vfs->root;
	w->root.dentry = vfs->root->root;
	w->start = w->root;
}

/* Creates name under dir (an inode op, no permission or read-only checks); returns the
 * child (held) in *out.  An existing entry is returned as is. */
static int make_child(const struct path *dir, const char *name, uint32_t mode, uint64_t dev,
		      const char *target, struct path *out)
{
	struct inode *di = dir->dentry->inode, *ino;
	struct dentry *d;
	int r = 0;

	pthread_mutex_lock(&di->lock);
	d = namei_lookup_last(dir->dentry, name);
	if (!d) {
		switch (mode & S_IFMT_) {
		case S_IFDIR_:
			ino = di->ops->mkdir ? di->ops->mkdir(di, name, mode, NULL) : ERR_PTR(-EPERM);
			break;
		case S_IFLNK_:
			ino = di->ops->symlink ? di->ops->symlink(di, name, target, NULL) : ERR_PTR(-EPERM);
			break;
		case S_IFREG_:
			ino = di->ops->create ? di->ops->create(di, name, mode, NULL) : ERR_PTR(-EPERM);
			break;
		default:
			ino = di->ops->mknod ? di->ops->mknod(di, name, mode, dev, NULL) : ERR_PTR(-EPERM);
			break;
		}
		d = IS_ERR(ino) ? ERR_CAST(ino) : vfs_dentry_add(dir->dentry, name, ino);
	}
	if (IS_ERR(d))
		r = (int)PTR_ERR(d);
	pthread_mutex_unlock(&di->lock);
	if (r == 0 && out) {
		out->mnt = dir->mnt;
		mount_get(out->mnt);
		out->dentry = d;
	} else if (r == 0) {
		dentry_put(d);
	}
	return r;
}

/* Resolves dest, creating what is missing: directories on the way, then the last component
 * as a directory, or as a file when file. */
static int make_path(struct vfs *vfs, const char *dest, bool file, struct path *out)
{
	struct walk_ctx w;
	char *copy = strdup(dest), *save = NULL, *comp, *next;
	struct path cur;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	root_ctx(vfs, &w);
	cur = w.root;
	path_get(&cur);
	for (comp = strtok_r(copy, "/", &save); comp && r == 0; comp = next) {
		struct walk_ctx here = w;
		struct path nextp;

		next = strtok_r(NULL, "/", &save);
		here.start = cur;
		r = vfs_walk(&here, comp, LOOKUP_FOLLOW, &nextp);
		if (r == -ENOENT)
			r = make_child(&cur, comp, (file && !next) ? S_IFREG_ | 0755 : S_IFDIR_ | 0755, 0,
				       NULL, &nextp);
		if (r == 0) {
			path_put(&cur);
			cur = nextp;
		}
	}
	free(copy);
	if (r == 0 && !file && !namei_is_dir(cur.dentry->inode))
		r = -ENOTDIR;
	if (r < 0) {
		path_put(&cur);
		return r;
	}
	*out = cur;
	return 0;
}

int vfs_mount_path(struct vfs *vfs, const char *dest, struct super_block *sb, unsigned mnt_flags,
		   const char *source, const char *data)
{
	bool file = !namei_is_dir(sb->root);
	struct path at;
	int r;

	if (dest[0] != '/')
		return -EINVAL;
	if ((r = make_path(vfs, dest, file, &at)) < 0)
		return r;
	if (file && namei_is_dir(at.dentry->inode))
		r = -EISDIR;
	else
		r = vfs_mount_at(vfs, &at, sb, NULL, mnt_flags, source, data);
	path_put(&at);
	return r;
}

/* Resolves an existing dest from the sandbox root; -ENOENT when there is nothing there. */
static int find_path(struct vfs *vfs, const char *dest, struct path *out)
{
	struct walk_ctx w;

	root_ctx(vfs, &w);
	return vfs_walk(&w, dest, LOOKUP_FOLLOW, out);
}

/* Mounts a null device over the file at `at`, from a private tmpfs holding just that node
 * (the sandbox may have no /dev of its own). */
static int mask_file(struct vfs *vfs, const struct path *at)
{
	struct super_block *sb = tmpfs_fs_type.mount(vfs, "tmpfs", NULL, 0);
	struct dentry *root, *null;
	struct inode *ino;
	int r;

	if (IS_ERR(sb))
		return (int)PTR_ERR(sb);
	inode_get(sb->root);
	root = dentry_new_root(sb->root);
	if (!root) {
		inode_put(sb->root);
		sb_put(sb);
		return -ENOMEM;
	}
	ino = sb->root->ops->mknod(sb->root, "null", S_IFCHR_ | 0666, (1u << 8) | 3, NULL);
	null = IS_ERR(ino) ? ERR_CAST(ino) : vfs_dentry_add(root, "null", ino);
	r = IS_ERR(null) ? (int)PTR_ERR(null) : vfs_mount_at(vfs, at, sb, null, 0, "/dev/null", NULL);
	if (!IS_ERR(null))
		dentry_put(null);
	dentry_put(root);
	sb_put(sb);
	return r;
}

int vfs_mask_path(struct vfs *vfs, const char *dest)
{
	struct super_block *sb;
	struct path at;
	int r;

	if ((r = find_path(vfs, dest, &at)) < 0)
		return r == -ENOENT ? 0 : r;
	if (namei_is_dir(at.dentry->inode)) {
		/* an empty read-only tmpfs over a directory */
		sb = tmpfs_fs_type.mount(vfs, "tmpfs", NULL, 0);
		r = IS_ERR(sb) ? (int)PTR_ERR(sb)
			       : vfs_mount_at(vfs, &at, sb, NULL, MNT_RDONLY, "tmpfs", NULL);
		if (!IS_ERR(sb))
			sb_put(sb);
	} else {
		/* reads see nothing, writes go nowhere */
		r = mask_file(vfs, &at);
	}
	path_put(&at);
	return r;
}

int vfs_readonly_path(struct vfs *vfs, const char *dest)
{
	struct path at;
	int r;

	if ((r = find_path(vfs, dest, &at)) < 0)
		return r == -ENOENT ? 0 : r;
	/* a read-only bind of the path onto itself */
	r = vfs_mount_at(vfs, &at, at.mnt->sb, at.dentry, at.mnt->flags | MNT_RDONLY,
			 at.mnt->source, NULL);
	path_put(&at);
	return r;
}

/* runc's default devices and /dev links. */
static const struct {
	const char *name;
	uint32_t major, minor;
} dev_nodes[] = {
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9},
	{"tty", 5, 0},
};

static const struct {
	const char *name, *target;
} dev_links[] = {
	{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
};

int vfs_populate_dev(struct vfs *vfs, bool console)
{
	struct path dev;
	int r;

	if ((r = make_path(vfs, "/dev", false, &dev)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes) && r == 0; i++)
		r = make_child(&dev, dev_nodes[i].name, S_IFCHR_ | 0666,
			       ((uint64_t)dev_nodes[i].major << 8) | dev_nodes[i].minor, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(dev_links) && r == 0; i++)
		r = make_child(&dev, dev_links[i].name, S_IFLNK_ | 0777, 0, dev_links[i].target, NULL);
	if (r == 0)
		r = make_child(&dev, "shm", S_IFDIR_ | 01777, 0, NULL, NULL);
	if (r == 0 && console) /* runc binds the pty there; this node opens the same console */
		r = make_child(&dev, "console", S_IFCHR_ | 0620, (5 << 8) | 1, NULL, NULL);
	path_put(&dev);
	return r;
}
