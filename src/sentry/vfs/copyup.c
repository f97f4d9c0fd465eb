/*
 * runc's tmpcopyup mount option: before a tmpfs is mounted over a directory, the
 * directory's content is copied into it (files, directories, symlinks and special nodes,
 * with modes, owners and times), so the mount hides nothing.  Done by the sandbox at setup,
 * without permission checks, through the filesystems' own ops.
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
#define S_IFLNK_ 0120000
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define COPYUP_DEPTH_MAX 32
#define COPY_CHUNK (64u << 10)

struct names {
	char **v;
	size_t n, cap;
	int err;
};

static bool collect(void *ctx, const char *name, uint64_t ino, int64_t off, unsigned type)
{
	struct names *c = ctx;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return true;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		char **v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return false;
		}
		c->v = v;
		c->cap = cap;
	}
	if (!(c->v[c->n] = strdup(name))) {
		c->err = -ENOMEM;
		return false;
	}
	c->n++;
	return true;
}

static void names_free(struct names *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
}

/* The names in directory src (without "." and ".."). */
static int list_dir(const struct path *src, struct names *out)
{
	struct file *f;
	int r = vfs_open_path(src, O_RDONLY_ | 0200000 /* O_DIRECTORY */, NULL, NULL, &f);

	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	r = vfs_iterate(f, collect, out);
	file_put(f);
	return r < 0 ? r : out->err;
}

/* Copies a regular file's bytes from src into the new inode dst. */
static int copy_data(const struct path *src, struct inode *dst)
{
	struct file *in = NULL, *out = file_new(NULL, dst, NULL, O_WRONLY_);
	char *buf = malloc(COPY_CHUNK);
	int64_t pos = 0;
	ssize_t n = 0;
	int r;

	if (IS_ERR(out) || !buf) {
		free(buf);
		return IS_ERR(out) ? (int)PTR_ERR(out) : -ENOMEM;
	}
	r = dst->ops->open ? dst->ops->open(dst, out, O_WRONLY_, NULL) : -EINVAL;
	if (r == 0)
		r = vfs_open_path(src, O_RDONLY_, NULL, NULL, &in);
	while (r == 0 && (n = vfs_read(in, NULL, buf, COPY_CHUNK)) > 0) {
		ssize_t w = out->ops && out->ops->write ? out->ops->write(out, NULL, buf, (size_t)n, &pos)
							: -EINVAL;

		if (w < 0)
			r = (int)w;
	}
	if (r == 0 && n < 0)
		r = (int)n;
	if (in)
		file_put(in);
	file_put(out);
	free(buf);
	return r;
}

static int copy_tree(const struct path *src, struct inode *dst, int depth);

/* Creates the copy of src (a child of the directory being copied) as name in dst. */
static int copy_one(const struct path *src, struct inode *dst, const char *name, int depth)
{
	struct inode *si = src->dentry->inode, *ni;
	struct linux_statx st;
	struct vfs_attr a;
	char target[4097];
	ssize_t n;
	int r;

	if ((r = vfs_getattr(si, &st)) < 0)
		return r;
	switch (st.stx_mode & S_IFMT_) {
	case S_IFDIR_:
		ni = dst->ops->mkdir(dst, name, st.stx_mode & 07777, NULL);
		break;
	case S_IFREG_:
		ni = dst->ops->create(dst, name, st.stx_mode & 07777, NULL);
		break;
	case S_IFLNK_:
		n = si->ops->readlink ? si->ops->readlink(si, target, sizeof(target) - 1) : -EINVAL;
		if (n < 0)
			return (int)n;
		target[n] = 0;
		ni = dst->ops->symlink(dst, name, target, NULL);
		break;
	default:
		ni = dst->ops->mknod(dst, name, st.stx_mode, si->rdev, NULL);
		break;
	}
	if (IS_ERR(ni))
		return (int)PTR_ERR(ni);
	if ((st.stx_mode & S_IFMT_) == S_IFREG_)
		r = copy_data(src, ni);
	else if ((st.stx_mode & S_IFMT_) == S_IFDIR_)
		r = copy_tree(src, ni, depth + 1);
	a = (struct vfs_attr){.valid = ATTR_UID | ATTR_GID | ATTR_ATIME | ATTR_MTIME,
			      .uid = st.stx_uid, .gid = st.stx_gid,
			      .atime = {st.stx_atime.tv_sec, st.stx_atime.tv_nsec},
			      .mtime = {st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec}};
	if ((st.stx_mode & S_IFMT_) != S_IFLNK_) {
		a.valid |= ATTR_MODE;
		a.mode = st.stx_mode & 07777;
	}
	if (r == 0)
		r = vfs_setattr(ni, &a);
	inode_put(ni);
	return r;
}

static int copy_tree(const struct path *src, struct inode *dst, int depth)
{
	struct names names;
	int r;

	if (depth > COPYUP_DEPTH_MAX)
		return -ELOOP;
	if ((r = list_dir(src, &names)) < 0) {
		names_free(&names);
		return r;
	}
	for (size_t i = 0; i < names.n && r == 0; i++) {
		struct dentry *d = namei_lookup_last(src->dentry, names.v[i]);
		struct path child = {src->mnt, d};

		if (!d)
			continue; /* gone meanwhile */
		if (IS_ERR(d)) {
			r = (int)PTR_ERR(d);
			break;
		}
		r = copy_one(&child, dst, names.v[i], depth);
		dentry_put(d);
	}
	names_free(&names);
	return r;
}

int vfs_copy_up(struct vfs *vfs, const char *dest, struct super_block *sb)
{
	struct walk_ctx w = {0};
	struct path src;
	int r;

	w.root.mnt = vfs->root;
	w.root.dentry = vfs->root->root;
	w.start = w.root;
	r = vfs_walk(&w, dest, LOOKUP_FOLLOW, &src);
	if (r == -ENOENT)
		return 0; /* nothing there yet: nothing to copy */
	if (r < 0)
		return r;
	r = namei_is_dir(src.dentry->inode) && namei_is_dir(sb->root) ? copy_tree(&src, sb->root, 0)
								      : 0;
	path_put(&src);
	return r;
}
