/* kernfs: inodes, generated files and table directories of the synthetic filesystems. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/kernel.h"
#include "kernfs.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000
#define DT_DIR_ 4
#define STORE_MAX 4096

/* An open generated file: the snapshot its reads are served from. */
struct kfs_file {
	pthread_mutex_t lock;
	struct sbuf s;
	bool valid;
};

struct kernel *kfs_kernel_of(struct vfs *vfs)
{
	return container_of(vfs, struct kernel, vfs);
}

int kfs_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return MAX(CPU_COUNT(&set), 1);
}

unsigned kfs_dtype(uint32_t mode)
{
	return (mode & S_IFMT_) >> 12;
}

uint64_t kfs_child_ino(const struct inode *dir, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (dir->ino * 0x9e3779b97f4a7c15ull);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h &= 0x7fffffffffffffffull; /* positive as an off_t, for programs that care */
	return h > 1 ? h : h + 2;   /* 1 is the root */
}

static const struct inode_ops kfs_magic_inode_ops;

static struct inode *node_inode(struct super_block *sb, uint32_t mode, const struct kfs_ops *ops,
				const void *arg)
{
	struct kfs_node *n = calloc(1, sizeof(*n));
	struct inode *ino;

	if (!n)
		return ERR_PTR(-ENOMEM);
	ino = inode_new(sb, ops && ops->get_link ? &kfs_magic_inode_ops : &kfs_inode_ops, mode);
	if (!ino) {
		free(n);
		return ERR_PTR(-ENOMEM);
	}
	n->ops = ops;
	n->arg = arg;
	n->inode = ino;
	ino->priv = n;
	if ((mode & S_IFMT_) == S_IFDIR_)
		ino->nlink = 2;
	return ino;
}

struct inode *kfs_inode_new(struct inode *dir, const char *name, uint32_t mode,
			    const struct kfs_ops *ops, const void *arg)
{
	struct inode *ino = node_inode(dir->sb, mode, ops, arg);
	struct kfs_node *n, *dn = KN(dir);

	if (IS_ERR(ino))
		return ino;
	n = KN(ino);
	n->pid = dn->pid;
	n->tid = dn->tid;
	n->fd = dn->fd;
	ino->ino = kfs_child_ino(dir, name);
	ino->uid = dir->uid;
	ino->gid = dir->gid;
	return ino;
}

struct super_block *kfs_sb_new(struct vfs *vfs, const struct fs_type *type, unsigned long flags,
			       unsigned sb_flags, uint64_t magic, void *fs_priv, uint32_t mode,
			       const struct kfs_ops *ops, const void *arg)
{
	struct super_block *sb = sb_new(vfs, type, flags);
	struct kfs_sb *ksb;
	struct inode *root;

	if (IS_ERR(sb))
		return sb;
	ksb = calloc(1, sizeof(*ksb));
	if (!ksb) {
		sb_put(sb); /* kill_sb sees no sb->priv: fs_priv stays the caller's */
		return ERR_PTR(-ENOMEM);
	}
	ksb->magic = magic;
	ksb->k = kfs_kernel_of(vfs);
	ksb->fs_priv = fs_priv;
	sb->priv = ksb;
	sb->sb_flags = sb_flags;
	root = node_inode(sb, mode, ops, arg);
	if (IS_ERR(root)) {
		sb->priv = NULL;
		free(ksb);
		sb_put(sb);
		return ERR_CAST(root);
	}
	root->ino = 1;
	sb->root = root;
	return sb;
}

void kfs_sb_free(struct super_block *sb)
{
	free(sb->priv);
	sb->priv = NULL;
}

struct inode *kfs_lookup_static(struct inode *dir, const char *name)
{
	const struct kfs_entry *tab = KN(dir)->arg;

	for (; tab && tab->name; tab++)
		if (!strcmp(tab->name, name))
			return kfs_inode_new(dir, name, tab->mode, tab->ops, tab->arg);
	return ERR_PTR(-ENOENT);
}

/* ---- inode operations -------------------------------------------------------------------- */

static struct inode *kfs_lookup(struct inode *dir, const char *name)
{
	struct kfs_node *n = KN(dir);
	struct inode *ino = kfs_lookup_static(dir, name);

	if (IS_ERR(ino) && PTR_ERR(ino) == -ENOENT && n->ops && n->ops->lookup)
		return n->ops->lookup(dir, name);
	return ino;
}

static ssize_t kfs_readlink(struct inode *ino, char *buf, size_t len)
{
	struct kfs_node *n = KN(ino);

	if (!n->ops || !n->ops->readlink)
		return -EINVAL;
	return n->ops->readlink(n, buf, len);
}

static int kfs_get_link(struct inode *ino, struct task *t, struct path *out)
{
	return KN(ino)->ops->get_link(KN(ino), t, out);
}

static int kfs_statfs(struct inode *ino, struct linux_statfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_type = (int64_t)KSB(ino->sb)->magic;
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namelen = 255;
	return 0;
}

static int kfs_setattr(struct inode *ino, const struct vfs_attr *a)
{
	struct kfs_node *n = KN(ino);

	if (n->ops && n->ops->setattr)
		return n->ops->setattr(n, a);
	/* O_TRUNC of a generated file (echo x > /proc/sys/...) changes nothing. */
	return a->valid == ATTR_SIZE && (ino->mode & S_IFMT_) == S_IFREG_ ? 0 : -EPERM;
}

static void kfs_evict(struct inode *ino)
{
	struct kfs_node *n = KN(ino);

	if (!n)
		return;
	if (n->ops && n->ops->release)
		n->ops->release(n);
	free(n);
}

extern const struct file_ops kfs_reg_fops, kfs_dir_fops;

static int kfs_open(struct inode *ino, struct file *f, int flags, struct task *t)
{
	struct kfs_node *n = KN(ino);

	if (n->ops && n->ops->open)
		return n->ops->open(ino, f, flags, t);
	switch (ino->mode & S_IFMT_) {
	case S_IFDIR_:
		f->ops = &kfs_dir_fops;
		return 0;
	case S_IFREG_: {
		struct kfs_file *kf = calloc(1, sizeof(*kf));

		if (!kf)
			return -ENOMEM;
		pthread_mutex_init(&kf->lock, NULL);
		f->priv = kf;
		f->ops = &kfs_reg_fops;
		return 0;
	}
	default:
		return -ENXIO;
	}
}

const struct inode_ops kfs_inode_ops = {
	.lookup = kfs_lookup,
	.readlink = kfs_readlink,
	.setattr = kfs_setattr,
	.open = kfs_open,
	.statfs = kfs_statfs,
	.evict = kfs_evict,
};

static const struct inode_ops kfs_magic_inode_ops = {
	.lookup = kfs_lookup,
	.readlink = kfs_readlink,
	.get_link = kfs_get_link,
	.setattr = kfs_setattr,
	.open = kfs_open,
	.statfs = kfs_statfs,
	.evict = kfs_evict,
};

/* ---- generated files --------------------------------------------------------------------- */

/* Regenerates the snapshot of kf (kf->lock held). */
static int generate(struct kfs_file *kf, struct kfs_node *kn, struct task *t)
{
	int r;

	sbuf_free(&kf->s);
	kf->valid = false;
	r = kn->ops && kn->ops->show ? kn->ops->show(kn, t, &kf->s) : 0;
	if (r == 0 && kf->s.oom)
		r = -ENOMEM;
	if (r < 0) {
		sbuf_free(&kf->s);
		return r;
	}
	kf->valid = true;
	return 0;
}

static ssize_t kfs_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct kfs_file *kf = f->priv;
	ssize_t r = 0;

	pthread_mutex_lock(&kf->lock);
	/* A read from the start sees fresh content, as seq_file gives. */
	if (*pos == 0 || !kf->valid)
		r = generate(kf, KN(f->inode), t);
	if (r == 0 && *pos >= 0 && (uint64_t)*pos < kf->s.len) {
		r = (ssize_t)MIN(n, kf->s.len - (size_t)*pos);
		memcpy(buf, kf->s.buf + *pos, (size_t)r);
		*pos += r;
	}
	pthread_mutex_unlock(&kf->lock);
	return r;
}

static ssize_t kfs_write(struct file *f, struct task *t, const void *buf, size_t n, int64_t *pos)
{
	struct kfs_node *kn = KN(f->inode);
	char tmp[STORE_MAX + 1];
	ssize_t r;

	if (!kn->ops || !kn->ops->store)
		return -EINVAL;
	if (*pos != 0)
		return -EINVAL; /* one write of the whole value, as sysctl files want */
	n = MIN(n, (size_t)STORE_MAX);
	memcpy(tmp, buf, n);
	tmp[n] = 0;
	r = kn->ops->store(kn, t, tmp, n);
	if (r > 0)
		*pos += r;
	return r;
}

static int64_t kfs_llseek(struct file *f, int64_t off, int whence)
{
	struct kfs_file *kf = f->priv;
	int64_t r;

	pthread_mutex_lock(&kf->lock);
	r = generic_llseek(f, off, whence, kf->s.len);
	pthread_mutex_unlock(&kf->lock);
	return r;
}

static void kfs_release(struct file *f)
{
	struct kfs_file *kf = f->priv;

	if (!kf)
		return;
	sbuf_free(&kf->s);
	pthread_mutex_destroy(&kf->lock);
	free(kf);
}

const struct file_ops kfs_reg_fops = {
	.read = kfs_read,
	.write = kfs_write,
	.llseek = kfs_llseek,
	.release = kfs_release,
};

/* ---- directories ------------------------------------------------------------------------- */

static int kfs_iterate(struct file *f, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	struct inode *dir = f->inode;
	struct kfs_node *n = KN(dir);
	const struct kfs_entry *tab = n->arg;
	struct dentry *d = f->path.dentry;
	size_t cnt = 0;

	while (tab && tab[cnt].name)
		cnt++;
	if (*pos == 0) {
		if (!emit(ctx, ".", dir->ino, 1, DT_DIR_))
			return 0;
		*pos = 1;
	}
	if (*pos == 1) {
		uint64_t pino = d && d->parent->inode ? d->parent->inode->ino : dir->ino;

		if (!emit(ctx, "..", pino, 2, DT_DIR_))
			return 0;
		*pos = 2;
	}
	for (; *pos >= 2 && (uint64_t)*pos < 2 + cnt; (*pos)++) {
		const struct kfs_entry *e = &tab[*pos - 2];
		int64_t next = (uint64_t)*pos + 1 < 2 + cnt ? *pos + 1 : KFS_DYN_POS;

		if (!emit(ctx, e->name, kfs_child_ino(dir, e->name), next, kfs_dtype(e->mode)))
			return 0;
	}
	if (*pos < KFS_DYN_POS)
		*pos = KFS_DYN_POS;
	if (n->ops && n->ops->iterate)
		return n->ops->iterate(dir, pos, emit, ctx);
	return 0;
}

static int64_t kfs_dir_llseek(struct file *f, int64_t off, int whence)
{
	if (whence == 1 /* SEEK_CUR */)
		off += f->pos;
	else if (whence != 0 /* SEEK_SET */)
		return -EINVAL;
	if (off < 0)
		return -EINVAL;
	return f->pos = off;
}

const struct file_ops kfs_dir_fops = {
	.iterate = kfs_iterate,
	.llseek = kfs_dir_llseek,
};

const struct kfs_ops kfs_dir_ops = {0};
