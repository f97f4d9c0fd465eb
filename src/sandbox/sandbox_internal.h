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
	int dev;        /* the platform's device (/dev/kvm), or -1 */
};

/* The sandbox process's main (never returns): reports readiness or failure on sync_fd. */
void sandbox_main(const struct sandbox_config *cfg, int sync_fd) __attribute__((noreturn));

/* Binds and listens on <state_dir>/control.sock. */
int control_listen(const char *state_dir, struct cv_err **err);

/* Serves control requests until the kernel's init exits; handles "start". */
int control_serve(const struct sandbox_config *cfg, int listen_fd, struct kernel *k,
		  int (*start)(void *arg, char *why, size_t n), void *arg);

/* Brings the loopback of the sandbox's own network namespace up (net.c); nothing with
 * --network=host. */
int sandbox_net_setup(const struct sandbox_config *cfg, struct cv_err **err);

/* Applies config.json's mounts in order (mounts.c); bind sources are opened on the host, so
 * this runs before confinement.  proc_fd is the host's /proc/self/fd for hostfs. */
int sandbox_mount_all(struct kernel *k, const struct sandbox_config *cfg, int proc_fd,
		      struct cv_err **err);

/* A capability the confined sentry keeps (caps.c). */
struct sentry_cap {
	int cap;
	const char *name;
	const char *why;
};
extern const struct sentry_cap sentry_caps[];
extern const size_t sentry_ncaps;

/* Drops every capability but sentry_caps from all sets and sets no_new_privs. */
int confine_caps(struct cv_err **err);

/*
 * The seccomp allowlist of the sentry's own host syscalls (seccomp.c, seccomp_rules.c):
 * sentry_host_syscalls plus the platform's.  debug: violations trap to a SIGSYS handler that
 * logs the syscall and its arguments, then exits; otherwise they kill the process.
 * CVISOR_SECCOMP_AUDIT=1 in the environment logs violations (to the kernel log) and lets them
 * run, to discover missing entries.
 */
struct platform;
struct host_syscall_rule;
extern const struct host_syscall_rule *const sentry_host_syscalls;
extern const size_t sentry_host_nsyscalls;
/* proc_fd: the only directory openat(2) may start from (hostfs reopens through it). */
int confine_seccomp(struct platform *p, int proc_fd, bool debug, struct cv_err **err);

/* Closes every fd the sandbox inherited but 0-2, sync_fd and the log (first thing it does). */
int confine_inherited_fds(int sync_fd, struct cv_err **err);

/* Confinement steps (confine.c). */
int confine_mount_ns(const char *state_dir, struct cv_err **err);

#endif
