/*
 * tmpfs: a filesystem in sentry memory.  Directories, symlinks and special files live in
 * the sentry's heap; regular-file pages live in the memory file (a page cache per file), so
 * read/write and shared mappings see the same pages.  This file holds the filesystem type,
 * its mount options (size=, nr_inodes=, mode=, uid=, gid=), the size and inode accounting,
 * and inode creation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "tmpfs_internal.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000
#define S_IFLNK_ 0120000
#define S_ISGID_ 02000
#define CAP_FSETID_ 4
#define TMPFS_MAGIC 0x01021994
#define MS_RDONLY_ 1

struct tmpfs_opts {
	uint64_t max_pages, max_inodes;
	uint32_t mode, uid, gid;
};

static uint64_t ram_bytes(void)
{
	struct sysinfo si;

	if (sysinfo(&si) < 0)
		return 0;
	return (uint64_t)si.totalram * si.mem_unit;
}

/* "64m", "65536k", "50%": bytes (or a count for nr_inodes); -EINVAL when malformed. */
static int parse_size(const char *v, uint64_t *out, bool pages)
{
	char *end;
	unsigned long long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	n = strtoull(v, &end, 0);
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	case 't': case 'T': n <<= 40; end++; break;
	case '%':
		n = ram_bytes() / 100 * n;
		if (!pages)
			n /= PAGE_SIZE * 2; /* nr_inodes=N%: of half the RAM's pages, as Linux */
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -EINVAL;
	*out = pages ? ALIGN_UP((uint64_t)n, PAGE_SIZE) / PAGE_SIZE : (uint64_t)n;
	return 0;
}

static int parse_uint(const char *v, int base, uint32_t *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, base);

	if (!*v || *end || n > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int parse_opt(struct tmpfs_opts *o, char *opt)
{
	char *v = strchr(opt, '=');
	static const char *const ignored[] = {"huge", "mpol", "inode32", "inode64", "noswap",
					      "quota", "usrquota", "grpquota", "noswap"};

	if (v)
		*v++ = 0;
	if (!strcmp(opt, "size") && v)
		return parse_size(v, &o->max_pages, true);
	if (!strcmp(opt, "nr_blocks") && v) {
		uint64_t n;
		int r = parse_size(v, &n, false);

		o->max_pages = n;
		return r;
	}
	if (!strcmp(opt, "nr_inodes") && v)
		return parse_size(v, &o->max_inodes, false);
	if (!strcmp(opt, "mode") && v) {
		int r = parse_uint(v, 8, &o->mode);

		o->mode &= 07777;
		return r;
	}
	if (!strcmp(opt, "uid") && v)
		return parse_uint(v, 10, &o->uid);
	if (!strcmp(opt, "gid") && v)
		return parse_uint(v, 10, &o->gid);
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		if (!strcmp(opt, ignored[i]))
			return 0;
	return -EINVAL;
}

static int parse_opts(const char *data, struct tmpfs_opts *o)
{
	char *copy, *save = NULL;
	int r = 0;

	/* Linux's defaults: half the RAM, and as many inodes as half the RAM has pages. */
	o->max_pages = ram_bytes() / PAGE_SIZE / 2;
	o->max_inodes = o->max_pages;
	o->mode = 01777;
	o->uid = o->gid = 0;
	if (!data || !*data)
		return 0;
	if (!(copy = strdup(data)))
		return -ENOMEM;
	for (char *opt = strtok_r(copy, ",", &save); opt && r == 0; opt = strtok_r(NULL, ",", &save))
		r = parse_opt(o, opt);
	free(copy);
	return r;
}

int tmpfs_charge_pages(struct super_block *sb, uint64_t n)
{
	struct tmpfs_sb *s = TSB(sb);
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->max_pages && (s->pages + n > s->max_pages || s->pages + n < s->pages))
		r = -ENOSPC;
	else
		s->pages += n;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void tmpfs_uncharge_pages(struct super_block *sb, uint64_t n)
{
	struct tmpfs_sb *s = TSB(sb);

	pthread_mutex_lock(&s->lock);
	s->pages -= MIN(n, s->pages);
	pthread_mutex_unlock(&s->lock);
}

static int charge_inode(struct super_block *sb)
{
	struct tmpfs_sb *s = TSB(sb);
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->max_inodes && s->inodes >= s->max_inodes)
		r = -ENOSPC;
	else
		s->inodes++;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void uncharge_inode(struct super_block *sb)
{
	struct tmpfs_sb *s = TSB(sb);

	pthread_mutex_lock(&s->lock);
	if (s->inodes)
		s->inodes--;
	pthread_mutex_unlock(&s->lock);
}

void tmpfs_touch(struct inode *ino, unsigned which)
{
	uint64_t now = clock_real_ns();
	struct linux_timespec ts = {(int64_t)(now / 1000000000ull), (int64_t)(now % 1000000000ull)};

	if (which & ATTR_ATIME)
		ino->atime = ts;
	if (which & ATTR_MTIME)
		ino->mtime = ts;
	/* An access alone (reading a file or a directory) changes no metadata: no ctime. */
	if (which != ATTR_ATIME)
		ino->ctime = ts;
}

/* Linux's inode_init_owner: the creator's ids, the group (and S_ISGID for dirs) of an
 * S_ISGID directory; S_ISGID dropped from files of a group the creator is not in. */
static void init_owner(struct inode *ino, struct inode *dir, const struct cred *c)
{
	ino->uid = c ? c->fsuid : 0;
	ino->gid = c ? c->fsgid : 0;
	if (dir && (dir->mode & S_ISGID_)) {
		ino->gid = dir->gid;
		if ((ino->mode & S_IFMT_) == S_IFDIR_)
			ino->mode |= S_ISGID_;
	} else if (c && (ino->mode & S_ISGID_) && (ino->mode & S_IFMT_) != S_IFDIR_ &&
		   !cred_in_group(c, ino->gid) && !cred_capable(c, CAP_FSETID_)) {
		ino->mode &= ~(uint32_t)S_ISGID_;
	}
}

struct inode *tmpfs_new_inode(struct super_block *sb, struct inode *dir, uint32_t mode,
			      const struct cred *c)
{
	struct tmpfs_inode *ti;
	struct inode *ino;
	int r;

	if ((r = charge_inode(sb)) < 0)
		return ERR_PTR(r);
	ti = calloc(1, sizeof(*ti));
	ino = ti ? inode_new(sb, &tmpfs_inode_ops, mode) : NULL;
	if (!ino) {
		free(ti);
		uncharge_inode(sb);
		return ERR_PTR(-ENOMEM);
	}
	pthread_mutex_init(&ti->lock, NULL);
	ti->inode = ino;
	ino->priv = ti;
	init_owner(ino, dir, c);
	switch (mode & S_IFMT_) {
	case S_IFDIR_:
		tmpfs_dir_init(&ti->dir);
		ino->nlink = 2;
		ino->size = 40; /* Linux's tmpfs: 20 per entry, "." and ".." included */
		break;
	case S_IFREG_:
		tmpfs_file_init(ti, sb->vfs->mf);
		break;
	default:
		break;
	}
	return ino;
}

void tmpfs_evict(struct inode *ino)
{
	struct tmpfs_inode *ti = TI(ino);

	switch (ino->mode & S_IFMT_) {
	case S_IFDIR_:
		tmpfs_dir_destroy(&ti->dir);
		break;
	case S_IFREG_:
		tmpfs_file_destroy(ti);
		break;
	case S_IFLNK_:
		free(ti->target);
		break;
	default:
		break;
	}
	tmpfs_xattrs_free(ti);
	uncharge_inode(ino->sb);
	free(ti);
}

int tmpfs_statfs(struct inode *ino, struct linux_statfs *st)
{
	struct tmpfs_sb *s = TSB(ino->sb);

	memset(st, 0, sizeof(*st));
	st->f_type = TMPFS_MAGIC;
	st->f_bsize = st->f_frsize = PAGE_SIZE;
	st->f_namelen = VFS_NAME_MAX;
	st->f_fsid[0] = (int32_t)ino->sb->dev;
	pthread_mutex_lock(&s->lock);
	if (s->max_pages) {
		st->f_blocks = s->max_pages;
		st->f_bfree = st->f_bavail = s->max_pages - MIN(s->pages, s->max_pages);
	}
	if (s->max_inodes) {
		st->f_files = s->max_inodes;
		st->f_ffree = s->max_inodes - MIN(s->inodes, s->max_inodes);
	}
	pthread_mutex_unlock(&s->lock);
	if (ino->sb->flags & MS_RDONLY_)
		st->f_flags |= 1; /* ST_RDONLY */
	return 0;
}

static void tmpfs_kill_sb(struct super_block *sb)
{
	free(sb->priv);
}

static struct super_block *sb_alloc(struct vfs *vfs, const struct tmpfs_opts *o,
				    unsigned long flags);

static struct super_block *tmpfs_mount(struct vfs *vfs, const char *source, const char *data,
				       unsigned long flags)
{
	struct tmpfs_opts o;
	struct super_block *sb;
	struct inode *root;
	int r;

	if ((r = parse_opts(data, &o)) < 0)
		return ERR_PTR(r);
	sb = sb_alloc(vfs, &o, flags);
	if (IS_ERR(sb))
		return sb;
	root = tmpfs_new_inode(sb, NULL, S_IFDIR_ | o.mode, NULL);
	if (IS_ERR(root)) {
		sb_put(sb);
		return ERR_CAST(root);
	}
	root->uid = o.uid;
	root->gid = o.gid;
	sb->root = root;
	return sb;
}

const struct fs_type tmpfs_fs_type = {
	.name = "tmpfs",
	.mount = tmpfs_mount,
	.kill_sb = tmpfs_kill_sb,
};

static struct super_block *sb_alloc(struct vfs *vfs, const struct tmpfs_opts *o,
				    unsigned long flags)
{
	struct super_block *sb = sb_new(vfs, &tmpfs_fs_type, flags);
	struct tmpfs_sb *s;

	if (IS_ERR(sb))
		return sb;
	s = calloc(1, sizeof(*s));
	if (!s) {
		sb_put(sb);
		return ERR_PTR(-ENOMEM);
	}
	pthread_mutex_init(&s->lock, NULL);
	s->max_pages = o->max_pages;
	s->max_inodes = o->max_inodes;
	sb->priv = s;
	return sb;
}

struct super_block *tmpfs_new_internal(struct vfs *vfs)
{
	struct tmpfs_opts o = {0};

	return sb_alloc(vfs, &o, 0);
}
