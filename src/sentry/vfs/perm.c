/* Permission checks against a task's credentials (generic_permission semantics). */
#include <errno.h>

#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"

#define CAP_DAC_OVERRIDE_ 1
#define CAP_DAC_READ_SEARCH_ 2
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000

int vfs_permission(const struct cred *c, struct inode *ino, int mask)
{
	uint32_t mode = ino->mode, bits;
	bool dir = (mode & S_IFMT_) == S_IFDIR_;

	if (!c)
		return 0;
	if (c->fsuid == ino->uid)
		bits = (mode >> 6) & 7;
	else if (cred_in_group(c, ino->gid))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	if ((bits & (unsigned)mask) == (unsigned)mask)
		return 0;
	/* Capabilities: DAC_OVERRIDE grants all but exec of files nobody may execute. */
	if (cred_capable(c, CAP_DAC_OVERRIDE_)) {
		if (!(mask & MAY_EXEC) || dir || (mode & 0111))
			return 0;
	}
	if (cred_capable(c, CAP_DAC_READ_SEARCH_) && !(mask & MAY_WRITE) &&
	    (dir || !(mask & MAY_EXEC)))
		return 0;
	return -EACCES;
}
