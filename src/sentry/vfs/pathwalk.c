/*
 * Path resolution: component by component from the task's root or a start directory,
 * following symlinks (at most 40), crossing mounts, and never letting `..` climb above the
 * root.  Symlinks are expanded in a private buffer: target + "/" + the unresolved rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/sentry/vfs.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFLNK_ 0120000
#define LINK_MAX_LEN 4096

struct nd {
	const struct walk_ctx *w;
	struct path root;  /* borrowed: where `/` and `..` stop */
	struct path cur;   /* held */
	unsigned flags;
	int links;
	char *buf;         /* remaining path (owned) */
	size_t pos;
};

void path_get(const struct path *p)
{
	if (p->mnt)
		mount_get(p->mnt);
	if (p->dentry)
		dentry_get(p->dentry);
}

void path_put(struct path *p)
{
	if (p->dentry)
		dentry_put(p->dentry);
	if (p->mnt)
		mount_put(p->mnt);
	p->dentry = NULL;
	p->mnt = NULL;
}

static bool path_eq(const struct path *a, const struct path *b)
{
	return a->mnt == b->mnt && a->dentry == b->dentry;
}

static bool is_dir(const struct dentry *d)
{
	return d->inode && (d->inode->mode & S_IFMT_) == S_IFDIR_;
}

static struct vfs *vfs_of(const struct path *p)
{
	return p->mnt->sb->vfs;
}

static void set_cur(struct nd *nd, const struct path *p)
{
	path_put(&nd->cur);
	nd->cur = *p;
	path_get(&nd->cur);
}

/* Enters whatever is mounted on cur, repeatedly. */
static void cross_mounts(struct nd *nd)
{
	struct mount *m;

	while ((m = vfs_mount_lookup(vfs_of(&nd->cur), nd->cur.mnt, nd->cur.dentry))) {
		path_put(&nd->cur);
		nd->cur.mnt = m; /* lookup's reference */
		nd->cur.dentry = m->root;
		dentry_get(m->root);
	}
}

static int step_dotdot(struct nd *nd)
{
	for (;;) {
		if (path_eq(&nd->cur, &nd->root))
			return (nd->flags & LOOKUP_BENEATH) ? -EXDEV : 0;
		if (nd->cur.dentry != nd->cur.mnt->root)
			break;
		if (!nd->cur.mnt->parent)
			return 0; /* the namespace root */
		if (nd->flags & LOOKUP_NO_XDEV)
			return -EXDEV;
		struct path up = {nd->cur.mnt->parent, nd->cur.mnt->mountpoint};

		set_cur(nd, &up);
	}
	struct dentry *parent = vfs_dentry_parent(nd->cur.dentry);

	dentry_put(nd->cur.dentry);
	nd->cur.dentry = parent;
	return 0;
}

/* Replaces the remaining path with target + "/" + rest. */
static int splice_link(struct nd *nd, const char *target, size_t tlen, bool trailing)
{
	const char *rest = nd->buf + nd->pos;
	size_t rlen = strlen(rest);
	char *nb = malloc(tlen + rlen + 3);

	if (!nb)
		return -ENOMEM;
	memcpy(nb, target, tlen);
	if (rlen) {
		nb[tlen] = '/';
		memcpy(nb + tlen + 1, rest, rlen + 1);
	} else {
		strcpy(nb + tlen, trailing ? "/" : "");
	}
	free(nd->buf);
	nd->buf = nb;
	nd->pos = 0;
	return 0;
}

static int follow(struct nd *nd, struct path *link, bool trailing)
{
	struct inode *ino = link->dentry->inode;
	char target[LINK_MAX_LEN];
	ssize_t n;

	if (nd->flags & LOOKUP_NO_SYMLINKS)
		return -ELOOP;
	if (++nd->links > SYMLINK_MAX_FOLLOW)
		return -ELOOP;
	if (ino->ops->get_link) {
		struct path to;
		int r;

		if (nd->flags & LOOKUP_NO_MAGICLINKS)
			return -ELOOP;
		if ((r = ino->ops->get_link(ino, nd->w->task, &to)) < 0)
			return r;
		path_put(&nd->cur);
		nd->cur = to;
		return 0;
	}
	if (!ino->ops->readlink)
		return -EINVAL;
	n = ino->ops->readlink(ino, target, sizeof(target));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ENOENT;
	if (target[0] == '/') {
		if (nd->flags & LOOKUP_BENEATH)
			return -EXDEV;
		set_cur(nd, &nd->root);
	}
	return splice_link(nd, target, (size_t)n, trailing);
}

/* Looks up one name under cur; *next gets it (held), mounts crossed. */
static int step_name(struct nd *nd, const char *name, struct path *next)
{
	struct dentry *d;
	int r;

	if (!is_dir(nd->cur.dentry))
		return -ENOTDIR;
	if ((r = vfs_permission(nd->w->cred, nd->cur.dentry->inode, MAY_EXEC)) < 0)
		return r;
	d = vfs_lookup_child(nd->cur.dentry, name);
	if (IS_ERR(d))
		return (int)PTR_ERR(d);
	if (!d->inode) {
		dentry_put(d);
		return -ENOENT;
	}
	next->mnt = nd->cur.mnt;
	mount_get(next->mnt);
	next->dentry = d;
	struct path save = nd->cur;

	nd->cur = *next;
	cross_mounts(nd);
	*next = nd->cur;
	nd->cur = save;
	return 0;
}

/* Copies the next component into comp; returns false at the end of the path. */
static bool next_component(struct nd *nd, char *comp, size_t cap, bool *last, bool *trailing,
			   int *err)
{
	const char *s = nd->buf + nd->pos, *e;
	size_t len;

	while (*s == '/')
		s++;
	if (!*s)
		return false;
	e = strchr(s, '/');
	len = e ? (size_t)(e - s) : strlen(s);
	if (len >= cap) {
		*err = -ENAMETOOLONG;
		return false;
	}
	memcpy(comp, s, len);
	comp[len] = 0;
	nd->pos = (size_t)(s - nd->buf) + len;
	*trailing = e != NULL;
	s = nd->buf + nd->pos;
	while (*s == '/')
		s++;
	*last = *s == 0;
	return true;
}

static int nd_start(struct nd *nd, const struct walk_ctx *w, const char *name, unsigned flags)
{
	memset(nd, 0, sizeof(*nd));
	nd->w = w;
	nd->flags = flags;
	nd->root = (flags & (LOOKUP_IN_ROOT | LOOKUP_BENEATH)) ? w->start : w->root;
	if (name[0] == '/' && (flags & LOOKUP_BENEATH))
		return -EXDEV;
	nd->cur = name[0] == '/' ? nd->root : w->start;
	path_get(&nd->cur);
	nd->buf = strdup(name);
	return nd->buf ? 0 : -ENOMEM;
}

/*
 * Walks; with want_parent, stops before the last component and returns it in *last
 * (malloc'd copy inside nd->buf semantics are hidden from callers by vfs_walk_parent).
 */
static int walk(struct nd *nd, bool want_parent, char *last, bool *trailing_out)
{
	char comp[256];
	bool is_last, trailing;
	int err = 0;

	while (next_component(nd, comp, sizeof(comp), &is_last, &trailing, &err)) {
		struct path next;

		if (want_parent && is_last) {
			strcpy(last, comp);
			*trailing_out = trailing;
			return 0;
		}
		if (!strcmp(comp, ".")) {
			if (!is_dir(nd->cur.dentry))
				return -ENOTDIR;
			continue;
		}
		if (!strcmp(comp, "..")) {
			if ((err = step_dotdot(nd)) < 0)
				return err;
			continue;
		}
		if ((err = step_name(nd, comp, &next)) < 0)
			return err;
		if (next.dentry->inode && (next.dentry->inode->mode & S_IFMT_) == S_IFLNK_ &&
		    (!is_last || trailing || (nd->flags & LOOKUP_FOLLOW))) {
			err = follow(nd, &next, trailing);
			path_put(&next);
			if (err < 0)
				return err;
			continue;
		}
		path_put(&nd->cur);
		nd->cur = next;
		if (is_last && trailing && !is_dir(nd->cur.dentry))
			return -ENOTDIR;
	}
	if (err)
		return err;
	if (want_parent) {
		strcpy(last, "."); /* the path was "/" or only "."/"..": no last component */
		*trailing_out = false;
	}
	return 0;
}

int vfs_walk(const struct walk_ctx *w, const char *name, unsigned flags, struct path *out)
{
	struct nd nd;
	int r;

	if (!*name) {
		if (!(flags & LOOKUP_EMPTY))
			return -ENOENT;
		*out = w->start;
		path_get(out);
		return 0;
	}
	if ((r = nd_start(&nd, w, name, flags)) == 0)
		r = walk(&nd, false, NULL, NULL);
	free(nd.buf);
	if (r == 0 && (flags & LOOKUP_DIRECTORY) && !is_dir(nd.cur.dentry))
		r = -ENOTDIR;
	if (r < 0) {
		path_put(&nd.cur);
		return r;
	}
	*out = nd.cur;
	return 0;
}

int vfs_walk_parent(const struct walk_ctx *w, const char *name, unsigned flags,
		    struct path *parent, char *last, bool *trailing)
{
	struct nd nd;
	int r;

	if (!*name)
		return -ENOENT;
	if ((r = nd_start(&nd, w, name, flags)) == 0)
		r = walk(&nd, true, last, trailing);
	free(nd.buf);
	if (r == 0 && !is_dir(nd.cur.dentry))
		r = -ENOTDIR;
	if (r < 0) {
		path_put(&nd.cur);
		return r;
	}
	*parent = nd.cur;
	return 0;
}

/* vfs_path_name with the vfs's rename_lock held (names and parents stay put). */
static ssize_t path_name_locked(const struct path *root, const struct path *p, char *buf, size_t n)
{
	const char *names[256];
	struct path cur = *p;
	size_t depth = 0, len = 0;

	while (!path_eq(&cur, root)) {
		if (cur.dentry == cur.mnt->root) {
			if (!cur.mnt->parent)
				break; /* outside root: named from the namespace root */
			cur.dentry = cur.mnt->mountpoint;
			cur.mnt = cur.mnt->parent;
			continue;
		}
		if (depth == ARRAY_SIZE(names))
			return -ENAMETOOLONG;
		names[depth++] = cur.dentry->name;
		cur.dentry = cur.dentry->parent;
	}
	if (n < 2)
		return -ENAMETOOLONG;
	if (depth == 0) {
		strcpy(buf, "/");
		return 1;
	}
	while (depth-- > 0) {
		size_t nl = strlen(names[depth]);

		if (len + nl + 2 > n)
			return -ENAMETOOLONG;
		buf[len++] = '/';
		memcpy(buf + len, names[depth], nl);
		len += nl;
	}
	buf[len] = 0;
	return (ssize_t)len;
}

ssize_t vfs_path_name(const struct path *root, const struct path *p, char *buf, size_t n)
{
	struct vfs *vfs = p->mnt->sb->vfs;
	ssize_t r;

	pthread_mutex_lock(&vfs->rename_lock);
	r = path_name_locked(root, p, buf, n);
	pthread_mutex_unlock(&vfs->rename_lock);
	return r;
}
