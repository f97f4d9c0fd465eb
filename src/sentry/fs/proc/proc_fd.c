/*
 * Magic links and fd directories: /proc/<pid>/{exe,cwd,root}, fd/<n> and fdinfo/<n>.  A
 * magic link resolves to the object itself (a path in the sentry's vfs, so it can never
 * lead outside the sandbox).  Opening fd/<n> of a pipe or of the container's stdio (files
 * without a path) gives a new file that reads and writes the same object, as reopening a
 * pipe does on Linux; other anonymous files give ENXIO.  Deviation: such a reopened file
 * shares the original's offset, and O_TRUNC leaves a regular file (a stdout redirected to a
 * file) as it is.
 *
 * Following another process's links needs its uid or CAP_SYS_PTRACE (Linux's
 * ptrace_may_access, without the dumpable and LSM parts); readlink has no such check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "proc_internal.h"

#define PATH_MAX_ 4096
#define CAP_SYS_PTRACE_ 19
#define S_IFIFO_ 0010000
#define S_IFCHR_ 0020000
#define O_ACCMODE_ 3

enum link_kind { LINK_EXE, LINK_CWD, LINK_ROOT, LINK_FD };

static bool may_access_locked(struct task *reader, struct task *t)
{
	const struct cred *a = reader->cred, *b = t->cred;

	if (reader->tg == t->tg || cred_capable(a, CAP_SYS_PTRACE_))
		return true;
	return a->euid == b->uid && a->euid == b->euid && a->euid == b->suid &&
	       a->egid == b->gid && a->egid == b->egid && a->egid == b->sgid;
}

/* The fd table of n's task with a reference, or NULL. */
static struct fd_table *task_files(const struct kfs_node *n, struct task *reader, int *err)
{
	struct kernel *k = proc_kernel(n);
	struct fd_table *files = NULL;
	struct task *t;

	*err = -ENOENT;
	pthread_mutex_lock(&k->lock);
	t = proc_task_locked(k, n);
	if (t && reader && !may_access_locked(reader, t))
		*err = -EACCES;
	else if (t && proc_task_live(t) && t->files)
		fd_table_get(files = t->files);
	pthread_mutex_unlock(&k->lock);
	return files;
}

/* The target of a link as a path (new references); *anon gets the file of a pathless fd. */
static int link_target(struct kfs_node *n, enum link_kind kind, struct task *reader,
		       struct path *out, struct file **anon)
{
	struct kernel *k = proc_kernel(n);
	struct fd_table *files;
	struct file *f = NULL;
	struct task *t;
	int r = -ENOENT;

	*anon = NULL;
	if (kind == LINK_FD) {
		if (!(files = task_files(n, reader, &r)))
			return r;
		f = fd_get(files, n->fd);
		fd_table_put(files);
	} else {
		pthread_mutex_lock(&k->lock);
		t = proc_task_locked(k, n);
		if (!t || !proc_task_live(t)) {
			/* gone, or exiting: no links */
		} else if (reader && !may_access_locked(reader, t)) {
			r = -EACCES;
		} else if (kind == LINK_EXE) {
			if (t->mm && t->mm->exe)
				file_get(f = t->mm->exe);
		} else if (t->fs) {
			fs_struct_snapshot(t->fs, kind == LINK_ROOT ? out : NULL,
					   kind == LINK_CWD ? out : NULL);
			r = 0;
		}
		pthread_mutex_unlock(&k->lock);
	}
	if (!f)
		return r;
	if (f->path.dentry) {
		*out = f->path;
		path_get(out);
		file_put(f);
		return 0;
	}
	*anon = f;
	return 0;
}

/* The reader's root (new references): where readlink names paths from. */
static void reader_root(struct kernel *k, struct path *root)
{
	struct task *t;

	pthread_mutex_lock(&k->lock);
	t = proc_current_locked(k);
	if (t && proc_task_live(t) && t->fs) {
		fs_struct_snapshot(t->fs, root, NULL);
	} else {
		*root = proc_ns_root(k);
		path_get(root);
	}
	pthread_mutex_unlock(&k->lock);
}

static ssize_t link_readlink(struct kfs_node *n, enum link_kind kind, char *buf, size_t len)
{
	struct path p, root;
	struct file *anon;
	char text[PATH_MAX_ + 16];
	ssize_t r = link_target(n, kind, NULL, &p, &anon);

	if (r < 0)
		return r;
	if (anon) {
		snprintf(text, sizeof(text), "%s", anon->anon_name ? anon->anon_name
								   : "anon_inode:[unknown]");
		file_put(anon);
	} else {
		reader_root(proc_kernel(n), &root);
		r = vfs_path_name(&root, &p, text, PATH_MAX_);
		if (r >= 0 && p.dentry->dead)
			strcat(text, " (deleted)");
		path_put(&root);
		path_put(&p);
		if (r < 0)
			return r;
	}
	r = (ssize_t)MIN(strlen(text), len);
	memcpy(buf, text, (size_t)r);
	return r;
}

/* ---- reopening pathless files ------------------------------------------------------------ */

static ssize_t proxy_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	return vfs_read(f->priv, t, buf, n);
}

static ssize_t proxy_write(struct file *f, struct task *t, const void *buf, size_t n,
			   int64_t *pos)
{
	return vfs_write(f->priv, t, buf, n);
}

static long proxy_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	return vfs_ioctl(f->priv, t, cmd, arg);
}

static unsigned proxy_poll(struct file *f, struct poll_table *pt)
{
	return vfs_poll(f->priv, pt);
}

static void proxy_release(struct file *f)
{
	file_put(f->priv);
}

static const struct file_ops proxy_fops = {
	.read = proxy_read,
	.write = proxy_write,
	.ioctl = proxy_ioctl,
	.poll = proxy_poll,
	.release = proxy_release,
};

/* The reopened file is anonymous like its target: no path, the same name. */
static int proxy_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct file *target = KN(ino)->data;

	if (target->anon_name && !(f->anon_name = strdup(target->anon_name)))
		return -ENOMEM;
	file_get(target);
	f->priv = target;
	f->ops = &proxy_fops;
	path_put(&f->path);
	return 0;
}

static void proxy_node_release(struct kfs_node *n)
{
	if (n->data)
		file_put(n->data);
}

/* O_TRUNC of a reopened stdio file: the shared description keeps its content and offset. */
static int proxy_setattr(struct kfs_node *n, const struct vfs_attr *a)
{
	return a->valid == ATTR_SIZE ? 0 : -EPERM;
}

static const struct kfs_ops proxy_node_ops = {
	.open = proxy_open,
	.setattr = proxy_setattr,
	.release = proxy_node_release,
};

static bool reopenable(const struct file *f)
{
	const char *name = f->anon_name ? f->anon_name : "";

	return !strncmp(name, "pipe:", 5) || !strncmp(name, "host:", 5);
}

/* A path to a throwaway inode whose open reopens target (takes the file reference). */
static int proxy_path(struct kfs_node *n, struct file *target, struct path *out)
{
	uint32_t mode = target->inode ? target->inode->mode : S_IFIFO_ | 0600;
	struct mount *m;
	struct inode *ino;

	if (!reopenable(target) || !(m = proc_mount_of(n->inode->sb))) {
		file_put(target);
		return -ENXIO;
	}
	if (!strncmp(target->anon_name, "host:", 5) && !target->inode)
		mode = S_IFCHR_ | 0620;
	ino = kfs_inode_new(n->inode, "fd", mode, &proxy_node_ops, NULL);
	if (IS_ERR(ino)) {
		mount_put(m);
		file_put(target);
		return (int)PTR_ERR(ino);
	}
	KN(ino)->data = target;
	if (target->inode) {
		ino->uid = target->inode->uid;
		ino->gid = target->inode->gid;
	}
	out->mnt = m;
	out->dentry = dentry_new_root(ino);
	if (!out->dentry) {
		inode_put(ino);
		mount_put(m);
		return -ENOMEM;
	}
	return 0;
}

static int link_get(struct kfs_node *n, enum link_kind kind, struct task *t, struct path *out)
{
	struct file *anon;
	int r = link_target(n, kind, t, out, &anon);

	if (r < 0 || !anon)
		return r;
	return proxy_path(n, anon, out);
}

#define LINK_OPS(name, kind)                                                             \
	static ssize_t name##_readlink(struct kfs_node *n, char *buf, size_t len)        \
	{                                                                                \
		return link_readlink(n, kind, buf, len);                                 \
	}                                                                                \
	static int name##_get_link(struct kfs_node *n, struct task *t, struct path *out) \
	{                                                                                \
		return link_get(n, kind, t, out);                                        \
	}

LINK_OPS(exe, LINK_EXE)
LINK_OPS(cwd, LINK_CWD)
LINK_OPS(root, LINK_ROOT)
LINK_OPS(fd, LINK_FD)

const struct kfs_ops proc_exe_ops = {.readlink = exe_readlink, .get_link = exe_get_link};
const struct kfs_ops proc_cwd_ops = {.readlink = cwd_readlink, .get_link = cwd_get_link};
const struct kfs_ops proc_root_link_ops = {.readlink = root_readlink, .get_link = root_get_link};
static const struct kfs_ops fd_link_ops = {.readlink = fd_readlink, .get_link = fd_get_link};

/* ---- fd/ and fdinfo/ ---------------------------------------------------------------------- */

static int parse_fd(const char *name)
{
	long v = 0;

	if (!*name || (name[0] == '0' && name[1]))
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v > (1 << 20))
			return -1;
		v = v * 10 + (*name - '0');
	}
	return v <= (1 << 20) ? (int)v : -1;
}

static int fdinfo_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct fd_table *files;
	struct file *f;
	int r, cloexec;

	if (!(files = task_files(n, NULL, &r)))
		return r;
	f = fd_get(files, n->fd);
	cloexec = f ? fd_get_cloexec(files, n->fd) : 0;
	fd_table_put(files);
	if (!f)
		return -ENOENT;
	sbuf_printf(s, "pos:\t%lld\nflags:\t0%o\nmnt_id:\t%d\nino:\t%llu\n", (long long)f->pos,
		    f->flags | (cloexec > 0 ? 02000000u : 0), f->path.mnt ? f->path.mnt->id : 0,
		    (unsigned long long)(f->inode ? f->inode->ino : 0));
	file_put(f);
	return 0;
}

static const struct kfs_ops fdinfo_file_ops = {.show = fdinfo_show};

/* fd/<n> and fdinfo/<n>: one entry per open fd. */
static struct inode *fds_lookup(struct inode *dir, const char *name, bool info)
{
	struct kfs_node *dn = KN(dir);
	int fd = parse_fd(name), r;
	struct fd_table *files;
	struct inode *ino;
	struct file *f;
	uint32_t mode;

	if (fd < 0 || !(files = task_files(dn, NULL, &r)))
		return ERR_PTR(-ENOENT);
	f = fd_get(files, fd);
	fd_table_put(files);
	if (!f)
		return ERR_PTR(-ENOENT);
	if (info) {
		mode = S_IFREG_ | 0444;
	} else {
		unsigned acc = f->flags & O_ACCMODE_;

		mode = S_IFLNK_ | 0100 | (acc != 1 ? 0400 : 0) | (acc != 0 ? 0200 : 0);
	}
	file_put(f);
	ino = kfs_inode_new(dir, name, mode, info ? &fdinfo_file_ops : &fd_link_ops, NULL);
	if (!IS_ERR(ino))
		KN(ino)->fd = fd;
	return ino;
}

/* Positions KFS_DYN_POS + fd. */
static int fds_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx, bool info)
{
	struct kfs_node *dn = KN(dir);
	unsigned type = info ? 8 /* DT_REG */ : 10 /* DT_LNK */;
	struct fd_table *files;
	char name[16];
	int r;

	if (!(files = task_files(dn, NULL, &r)))
		return 0;
	for (int fd = (int)(*pos - KFS_DYN_POS);; fd++) {
		bool open, more;

		pthread_mutex_lock(&files->lock);
		more = fd < files->cap;
		open = more && files->fds[fd].file;
		pthread_mutex_unlock(&files->lock);
		if (!more)
			break;
		if (!open)
			continue;
		snprintf(name, sizeof(name), "%d", fd);
		if (!emit(ctx, name, kfs_child_ino(dir, name), KFS_DYN_POS + fd + 1, type))
			break;
		*pos = KFS_DYN_POS + fd + 1;
	}
	fd_table_put(files);
	return 0;
}

static struct inode *fd_lookup(struct inode *dir, const char *name)
{
	return fds_lookup(dir, name, false);
}

static struct inode *fdinfo_lookup(struct inode *dir, const char *name)
{
	return fds_lookup(dir, name, true);
}

static int fd_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	return fds_iterate(dir, pos, emit, ctx, false);
}

static int fdinfo_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	return fds_iterate(dir, pos, emit, ctx, true);
}

const struct kfs_ops proc_fd_dir_ops = {.lookup = fd_lookup, .iterate = fd_iterate};
const struct kfs_ops proc_fdinfo_dir_ops = {.lookup = fdinfo_lookup, .iterate = fdinfo_iterate};
