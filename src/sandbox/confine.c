/*
 * Confining the sandbox process (DESIGN.md §4): no host path reachable (an empty read-only
 * root), no stray fds.  Capabilities and no_new_privs: caps.c; the seccomp allowlist:
 * seccomp.c (see docs/security.md).
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

#include "cvisor/compiler.h"
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

int confine_inherited_fds(const int *keep, int n, struct cv_err **err)
{
	int sorted[8], m = 0, lo = 3;

	for (int i = 0; i < n && m < (int)ARRAY_SIZE(sorted); i++) {
		int j = m;

		if (keep[i] < lo)
			continue;
		while (j > 0 && sorted[j - 1] > keep[i]) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = keep[i];
		m++;
	}
	for (int i = 0; i <= m; i++) {
		int hi = i < m ? sorted[i] - 1 : (int)(~0U >> 1);

		if (hi >= lo && syscall(SYS_close_range, lo, hi, 0) < 0)
			return cv_err_set(err, errno, "closing inherited fds");
		if (i < m && sorted[i] + 1 > lo)
			lo = sorted[i] + 1;
	}
	return 0;
}
