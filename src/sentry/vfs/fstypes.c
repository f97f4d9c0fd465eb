/* The filesystem types mounts from config.json may name: an explicit list. */
#include <string.h>

#include "cvisor/compiler.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/vfs.h"

static const struct fs_type *const fs_types[] = {
	&tmpfs_fs_type,
	&proc_fs_type,
	&sysfs_fs_type,
	&devpts_fs_type,
	NULL, /* mqueue registers here (issue 4) */
};

const struct fs_type *vfs_find_fs_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
		if (fs_types[i] && !strcmp(fs_types[i]->name, name))
			return fs_types[i];
	return NULL;
}
