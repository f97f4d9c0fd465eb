/*
 * hostfs: the bundle's rootfs (and bind mounts), reached only through directory fds opened
 * before the sentry confined itself.  Every lookup is a single component resolved with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) into an O_PATH fd;
 * symlinks are read and followed by the sentry's own path walk, so no host path is ever
 * resolved on the application's behalf.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "host_internal.h"

static long openat2_(int dirfd, const char *name, struct open_how *how)
{
	return syscall(SYS_openat2, dirfd, name, how, sizeof(*how));
}

static const struct fs_type hostfs_type;

struct inode *hostfs_inode_from_fd(struct super_block *sb, int fd)
{
	struct host_inode *hi = calloc(1, sizeof(*hi));
	struct stat st;
	struct inode *ino;

	if (!hi || fstat(fd, &st) < 0) {
		int e = hi ? errno : ENOMEM;

		free(hi);
		close(fd);
		return ERR_PTR(-e);
	}
	ino = inode_new(sb, &hostfs_inode_ops, st.st_mode);
	if (!ino) {
		free(hi);
		close(fd);
		return ERR_PTR(-ENOMEM);
	}
	hi->fd = fd;
	hi->data_fd = -1;
	hi->wb_fd = -1;
	hi->inode = ino;
	pthread_mutex_init(&hi->lock, NULL);
	page_cache_init(&hi->pc, sb->vfs->mf);
	ino->priv = hi;
	ino->ino = st.st_ino;
	ino->uid = st.st_uid;
	ino->gid = st.st_gid;
	ino->size = (uint64_t)st.st_size;
	ino->nlink = (uint32_t)st.st_nlink;
	ino->rdev = st.st_rdev;
	return ino;
}

int hostfs_reopen(struct inode *ino, int flags)
{
	char name[16];
	int fd;

	snprintf(name, sizeof(name), "%d", HI(ino)->fd);
	fd = openat(HSB(ino->sb)->proc_fd, name, flags | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

struct inode *hostfs_lookup(struct inode *dir, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	long fd;

	if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return ERR_PTR(-EINVAL);
	fd = openat2_(HI(dir)->fd, name, &how);
	if (fd < 0)
		return ERR_PTR(errno == ELOOP ? -ENOENT : -errno);
	return hostfs_inode_from_fd(dir->sb, (int)fd);
}

static void stat_to_statx(const struct stat *st, struct linux_statx *x, uint64_t dev)
{
	x->stx_mask = 0x7ff;
	x->stx_blksize = (uint32_t)st->st_blksize;
	x->stx_nlink = (uint32_t)st->st_nlink;
	x->stx_uid = st->st_uid;
	x->stx_gid = st->st_gid;
	x->stx_mode = (uint16_t)st->st_mode;
	x->stx_ino = st->st_ino;
	x->stx_size = (uint64_t)st->st_size;
	x->stx_blocks = (uint64_t)st->st_blocks;
	x->stx_atime.tv_sec = st->st_atim.tv_sec;
	x->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	x->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	x->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	x->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	x->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	x->stx_rdev_major = major(st->st_rdev);
	x->stx_rdev_minor = minor(st->st_rdev);
	x->stx_dev_major = 0;
	x->stx_dev_minor = (uint32_t)dev;
}

int hostfs_getattr(struct inode *ino, struct linux_statx *x)
{
	struct stat st;

	if (fstat(HI(ino)->fd, &st) < 0)
		return -errno;
	ino->mode = st.st_mode;
	ino->uid = st.st_uid;
	ino->gid = st.st_gid;
	ino->size = (uint64_t)st.st_size;
	stat_to_statx(&st, x, ino->sb->dev);
	return 0;
}

ssize_t hostfs_readlink(struct inode *ino, char *buf, size_t n)
{
	ssize_t r = readlinkat(HI(ino)->fd, "", buf, n);

	return r < 0 ? -errno : r;
}

int hostfs_statfs(struct inode *ino, struct linux_statfs *st)
{
	struct statfs hs;

	if (fstatfs(HI(ino)->fd, &hs) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->f_type = hs.f_type;
	st->f_bsize = hs.f_bsize;
	st->f_blocks = hs.f_blocks;
	st->f_bfree = hs.f_bfree;
	st->f_bavail = hs.f_bavail;
	st->f_files = hs.f_files;
	st->f_ffree = hs.f_ffree;
	st->f_namelen = hs.f_namelen;
	st->f_frsize = hs.f_frsize;
	st->f_flags = hs.f_flags;
	return 0;
}

void hostfs_evict(struct inode *ino)
{
	struct host_inode *hi = HI(ino);

	/* No mapping is left: what shared ones wrote goes to the host before the pages go. */
	hostfs_dirty_forget(hi);
	hostfs_writeback(hi, 0, UINT64_MAX, false);
	page_cache_destroy(&hi->pc);
	if (hi->data_fd >= 0)
		close(hi->data_fd);
	if (hi->wb_fd >= 0)
		close(hi->wb_fd);
	close(hi->fd);
	free(hi);
}

static void host_kill_sb(struct super_block *sb)
{
	struct host_sb *hsb = sb->priv;

	if (hsb)
		pthread_mutex_destroy(&hsb->lock);
	free(hsb);
}

static const struct fs_type hostfs_type = {
	.name = "hostfs",
	.kill_sb = host_kill_sb,
	.sync_fs = hostfs_sync_fs,
};

struct super_block *hostfs_new(struct vfs *vfs, int root_fd, int proc_fd, bool readonly)
{
	struct super_block *sb = sb_new(vfs, &hostfs_type, readonly ? 1 /* MS_RDONLY */ : 0);
	struct host_sb *hsb;
	struct inode *root;
	struct stat st;
	int fd;

	if (IS_ERR(sb)) {
		close(root_fd);
		return sb;
	}
	hsb = calloc(1, sizeof(*hsb));
	if (!hsb) {
		close(root_fd);
		sb_put(sb);
		return ERR_PTR(-ENOMEM);
	}
	hsb->proc_fd = proc_fd;
	pthread_mutex_init(&hsb->lock, NULL);
	sb->priv = hsb;
	sb->sb_flags = SB_NO_DCACHE_NEG;
	/* A bind mount of a single file has that file as its root. */
	if (fstat(root_fd, &st) == 0 && !S_ISDIR(st.st_mode))
		fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	else
		fd = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(root_fd);
	if (fd < 0) {
		sb_put(sb);
		return ERR_PTR(-errno);
	}
	root = hostfs_inode_from_fd(sb, fd);
	if (IS_ERR(root)) {
		sb_put(sb);
		return ERR_CAST(root);
	}
	sb->root = root;
	return sb;
}
