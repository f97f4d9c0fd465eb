/*
 * sysfs, minimal: the CPU topology files libc and runtimes read to count CPUs, the
 * transparent hugepage setting, and empty fs/cgroup and class/net directories.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/fs.h"
#include "../kernfs/kernfs.h"

#define SYSFS_MAGIC 0x62656572
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000

#define SYS_DIR(name, tab) {name, S_IFDIR_ | 0755, &kfs_dir_ops, tab}

static int cpu_range_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	int ncpu = kfs_ncpus();

	if (ncpu > 1)
		sbuf_printf(s, "0-%d\n", ncpu - 1);
	else
		sbuf_puts(s, "0\n");
	return 0;
}

static int const_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	sbuf_puts(s, n->arg);
	return 0;
}

static const struct kfs_ops cpu_range_ops = {.show = cpu_range_show};
static const struct kfs_ops const_ops = {.show = const_show};
static const struct kfs_entry empty[] = {{NULL, 0, NULL, NULL}};

/* cpu<N> directories, one per CPU the sandbox shows. */
static struct inode *cpu_lookup(struct inode *dir, const char *name)
{
	char *end;
	long n;

	if (strncmp(name, "cpu", 3) || !name[3] || (name[3] == '0' && name[4]))
		return ERR_PTR(-ENOENT);
	n = strtol(name + 3, &end, 10);
	if (*end || n < 0 || n >= kfs_ncpus())
		return ERR_PTR(-ENOENT);
	return kfs_inode_new(dir, name, S_IFDIR_ | 0755, &kfs_dir_ops, empty);
}

static int cpu_iterate(struct inode *dir, int64_t *pos, dir_emit_fn emit, void *ctx)
{
	int ncpu = kfs_ncpus();
	char name[16];

	for (int i = (int)(*pos - KFS_DYN_POS); i < ncpu; i++) {
		snprintf(name, sizeof(name), "cpu%d", i);
		if (!emit(ctx, name, kfs_child_ino(dir, name), KFS_DYN_POS + i + 1, 4 /* DT_DIR */))
			break;
		*pos = KFS_DYN_POS + i + 1;
	}
	return 0;
}

static const struct kfs_ops cpu_dir_ops = {.lookup = cpu_lookup, .iterate = cpu_iterate};

static const struct kfs_entry cpu_entries[] = {
	{"online", S_IFREG_ | 0444, &cpu_range_ops, NULL},
	{"possible", S_IFREG_ | 0444, &cpu_range_ops, NULL},
	{"present", S_IFREG_ | 0444, &cpu_range_ops, NULL},
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry system_entries[] = {
	{"cpu", S_IFDIR_ | 0755, &cpu_dir_ops, cpu_entries},
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry devices_entries[] = {
	SYS_DIR("system", system_entries),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry thp_entries[] = {
	{"enabled", S_IFREG_ | 0644, &const_ops, "always [madvise] never\n"},
	{"defrag", S_IFREG_ | 0644, &const_ops,
	 "always defer defer+madvise [madvise] never\n"},
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry mm_entries[] = {
	SYS_DIR("transparent_hugepage", thp_entries),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry kernel_entries[] = {
	SYS_DIR("mm", mm_entries),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry fs_entries[] = {
	SYS_DIR("cgroup", empty),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry class_entries[] = {
	SYS_DIR("net", empty),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry root_entries[] = {
	SYS_DIR("class", class_entries),
	SYS_DIR("devices", devices_entries),
	SYS_DIR("fs", fs_entries),
	SYS_DIR("kernel", kernel_entries),
	{NULL, 0, NULL, NULL},
};

static struct super_block *sysfs_mount(struct vfs *vfs, const char *source, const char *data,
				       unsigned long flags)
{
	return kfs_sb_new(vfs, &sysfs_fs_type, flags, 0, SYSFS_MAGIC, NULL, S_IFDIR_ | 0755,
			  &kfs_dir_ops, root_entries);
}

static void sysfs_kill_sb(struct super_block *sb)
{
	kfs_sb_free(sb);
}

const struct fs_type sysfs_fs_type = {
	.name = "sysfs",
	.mount = sysfs_mount,
	.kill_sb = sysfs_kill_sb,
};
