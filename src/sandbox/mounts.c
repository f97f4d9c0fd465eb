/*
 * The mounts of config.json, applied in order before the sandbox confines itself.  A bind
 * mount's source is opened here, on the host, as an O_PATH fd (which survives the pivot into
 * the empty root) and becomes a hostfs superblock; every other type is built by the sentry's
 * filesystem of that name.  The sentry resolves and creates the mount points inside the
 * sandbox's own tree (vfs_mount_path): no host path is ever resolved for a destination.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "sandbox_internal.h"

/* Filesystems a container can run without: skipped (with a debug line) until the sentry
 * has them, never failing the container. */
static const char *const optional_types[] = {"proc", "sysfs", "devpts", "mqueue", "cgroup",
					     "cgroup2", "securityfs", "debugfs", "binfmt_misc"};

static bool optional_type(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(optional_types); i++)
		if (!strcmp(optional_types[i], type))
			return true;
	return false;
}

/* MS_* flags (and the recursive rro, rnosuid, ... attributes) as MNT_* flags. */
static unsigned mnt_flags(const struct oci_mount *m)
{
	unsigned long f = (m->flags | m->rec_set) & ~m->rec_clear;

	return ((f & MS_RDONLY) ? MNT_RDONLY : 0) | ((f & MS_NOSUID) ? MNT_NOSUID : 0) |
	       ((f & MS_NODEV) ? MNT_NODEV : 0) | ((f & MS_NOEXEC) ? MNT_NOEXEC : 0);
}

static struct super_block *bind_sb(struct kernel *k, const struct sandbox_config *cfg,
				   int proc_fd, const struct oci_mount *m, struct cv_err **err)
{
	char path[4096];
	struct super_block *sb;
	int fd;

	if (m->source[0] == '/')
		snprintf(path, sizeof(path), "%s", m->source);
	else
		snprintf(path, sizeof(path), "%s/%s", cfg->bundle, m->source);
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		cv_err_set(err, errno, "opening the source `%s` of the bind mount on `%s`", path,
			   m->destination);
		return NULL;
	}
	sb = hostfs_new(&k->vfs, fd, proc_fd, (m->flags | m->rec_set) & MS_RDONLY);
	if (IS_ERR(sb)) {
		cv_err_set(err, (int)-PTR_ERR(sb), "bind mount of `%s`", path);
		return NULL;
	}
	return sb;
}

/* Builds the superblock of m; *skip when the sentry has no such filesystem. */
static struct super_block *mount_sb(struct kernel *k, const struct sandbox_config *cfg,
				    int proc_fd, const struct oci_mount *m, bool *skip,
				    struct cv_err **err)
{
	const struct fs_type *type;
	struct super_block *sb;

	*skip = false;
	if (m->bind)
		return bind_sb(k, cfg, proc_fd, m, err);
	type = vfs_find_fs_type(m->type);
	if (!type || !type->mount) {
		*skip = true;
		if (optional_type(m->type))
			log_debug("mount of %s on `%s`: the sentry has no %s filesystem yet; skipped",
				  m->type, m->destination, m->type);
		else
			log_warn("mount of `%s` (%s) on `%s`: filesystem type not supported; skipped",
				 m->source ? m->source : "none", m->type, m->destination);
		return NULL;
	}
	sb = type->mount(&k->vfs, m->source, m->data, m->flags);
	if (IS_ERR(sb)) {
		cv_err_set(err, (int)-PTR_ERR(sb), "mounting %s on `%s` (options `%s`)", m->type,
			   m->destination, m->data ? m->data : "");
		return NULL;
	}
	return sb;
}

int sandbox_mount_all(struct kernel *k, const struct sandbox_config *cfg, int proc_fd,
		      struct cv_err **err)
{
	const struct oci_spec *spec = cfg->spec;
	bool dev_tmpfs = false;
	int r;

	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct oci_mount *m = &spec->mounts[i];
		struct super_block *sb;
		bool skip;

		if (m->flags & MS_REMOUNT) {
			log_warn("remount of `%s` in config.json: not supported; skipped", m->destination);
			continue;
		}
		sb = mount_sb(k, cfg, proc_fd, m, &skip, err);
		if (!sb) {
			if (skip)
				continue;
			return -1;
		}
		r = 0;
		if (m->tmpcopyup && !m->bind && !strcmp(m->type, "tmpfs"))
			r = vfs_copy_up(&k->vfs, m->destination, sb);
		if (r == 0)
			r = vfs_mount_path(&k->vfs, m->destination, sb, mnt_flags(m),
					   m->source ? m->source : m->type, m->data);
		sb_put(sb);
		if (r < 0)
			return cv_err_set(err, -r, "mounting on `%s`", m->destination);
		if (!strcmp(m->destination, "/dev") && !m->bind && !strcmp(m->type, "tmpfs"))
			dev_tmpfs = true;
	}
	if (dev_tmpfs && (r = vfs_populate_dev(&k->vfs, spec->process.terminal)) < 0)
		return cv_err_set(err, -r, "creating the device nodes in /dev");
	for (size_t i = 0; i < spec->n_masked_paths; i++)
		if ((r = vfs_mask_path(&k->vfs, spec->masked_paths[i])) < 0)
			return cv_err_set(err, -r, "masking `%s` (linux.maskedPaths)",
					  spec->masked_paths[i]);
	for (size_t i = 0; i < spec->n_readonly_paths; i++)
		if ((r = vfs_readonly_path(&k->vfs, spec->readonly_paths[i])) < 0)
			return cv_err_set(err, -r, "making `%s` read-only (linux.readonlyPaths)",
					  spec->readonly_paths[i]);
	return 0;
}
