/*
 * Confining the sandbox process (DESIGN.md §4): no host path reachable (an empty read-only
 * root), no stray fds.  Capabilities, no_new_privs and the seccomp allowlist come with
 * issue 9 (see docs/security.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "sandbox_internal.h"

#define EMPTY_ROOT "sandbox-root"

int confine_mount_ns(const char *state_dir, struct cv_err **err)
{
	char root[4096];

	if ((size_t)snprintf(root, sizeof(root), "%s/%s", state_dir, EMPTY_ROOT) >= sizeof(root))
		return cv_err_set(err, ENAMETOOLONG, "state directory `%s`", state_dir);
	if (mkdir(root, 0500) < 0 && errno != EEXIST)
		return cv_err_set(err, errno, "creating `%s`", root);
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0500") < 0)
		return cv_err_set(err, errno, "mounting the empty root on `%s`", root);
	if (chdir(root) < 0)
		return cv_err_set(err, errno, "chdir `%s`", root);
	/* pivot_root(".", "."): the old root ends up stacked on the new one, then goes. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return cv_err_set(err, errno, "pivot_root into the empty root");
	if (umount2(".", MNT_DETACH) < 0)
		return cv_err_set(err, errno, "detaching the old root");
	if (chdir("/") < 0)
		return cv_err_set(err, errno, "chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return cv_err_set(err, errno, "remounting the empty root read-only");
	return 0;
}

int confine_inherited_fds(int sync_fd, struct cv_err **err)
{
	int keep[] = {sync_fd, log_output_fd()};
	int lo = 3;

	if (keep[0] > keep[1]) {
		int x = keep[0];

		keep[0] = keep[1];
		keep[1] = x;
	}
	for (int i = 0; i <= 2; i++) {
		int hi = i < 2 ? keep[i] - 1 : (int)(~0U >> 1);

		if (i < 2 && keep[i] < lo)
			continue;
		if (hi >= lo && syscall(SYS_close_range, lo, hi, 0) < 0)
			return cv_err_set(err, errno, "closing inherited fds");
		if (i < 2)
			lo = keep[i] + 1;
	}
	return 0;
}
