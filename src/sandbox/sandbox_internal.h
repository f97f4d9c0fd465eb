/* Private to src/sandbox. */
#ifndef CV_SANDBOX_INTERNAL_H
#define CV_SANDBOX_INTERNAL_H

#include <stdbool.h>

#include "cvisor/sandbox.h"

struct cv_err;
struct kernel;

/* What the sandbox holds open from before confinement. */
struct sandbox_fds {
	int root;       /* the rootfs directory (O_PATH) */
	int proc_self;  /* host /proc/self/fd, for reopening O_PATH fds */
	int control;    /* listening control socket */
	int stdio[3];   /* the container's stdio (dups of 0-2) */
	int log;        /* log fd, or -1 */
};

/* The sandbox process's main (never returns): reports readiness or failure on sync_fd. */
void sandbox_main(const struct sandbox_config *cfg, int sync_fd) __attribute__((noreturn));

/* Binds and listens on <state_dir>/control.sock. */
int control_listen(const char *state_dir, struct cv_err **err);

/* Serves control requests until the kernel's init exits; handles "start". */
int control_serve(const struct sandbox_config *cfg, int listen_fd, struct kernel *k,
		  int (*start)(void *arg, char *why, size_t n), void *arg);

/* Applies config.json's mounts in order (mounts.c); bind sources are opened on the host, so
 * this runs before confinement.  proc_fd is the host's /proc/self/fd for hostfs. */
int sandbox_mount_all(struct kernel *k, const struct sandbox_config *cfg, int proc_fd,
		      struct cv_err **err);

/* Confinement steps (confine.c). */
int confine_mount_ns(const char *state_dir, struct cv_err **err);
int confine_close_fds(const int *keep, int nkeep, struct cv_err **err);

#endif
