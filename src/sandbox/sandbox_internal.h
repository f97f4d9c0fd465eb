/* Private to src/sandbox. */
#ifndef CV_SANDBOX_INTERNAL_H
#define CV_SANDBOX_INTERNAL_H

#include <stdbool.h>

#include "cvisor/platform.h"
#include "cvisor/sandbox.h"
#include "cvisor/sentry/kernel.h"

struct cv_err;
struct console;
struct exec_session;
struct oci_process;
struct tty;
struct linux_winsize;
struct json_t;

/* What the sandbox holds open from before confinement. */
struct sandbox_fds {
	int root;       /* the rootfs directory (O_PATH) */
	int proc_self;  /* host /proc/self/fd, for reopening O_PATH fds */
	int control;    /* listening control socket */
	int stdio[3];   /* the container's stdio (dups of 0-2) */
	int log;        /* log fd, or -1 */
	int dev;        /* the platform's device (/dev/kvm), or -1 */
};

/* The sandbox process's state (sandbox.c); its main thread serves the control socket. */
struct sandbox {
	const struct sandbox_config *cfg;
	struct platform platform;
	struct kernel *k;
	struct sandbox_fds fds;
	struct file *stdio[3];
	struct linux_rlimit64 host_rlimits[LINUX_RLIM_NLIMITS]; /* the sandbox's own, at birth */
	int console_host;         /* host side of init's console before it is wrapped, or -1 */
	int console_host_out;     /* its output side when distinct, or -1 */
	struct console *console;  /* init's console (process.terminal), or NULL */
	struct file *console_slave; /* init's end of it until `start` hands it over */
	bool started;
	struct exec_session **execs; /* live `cvisor exec` connections (exec.c) */
	size_t n_execs;
};

/* The sandbox process's main (never returns): reports readiness or failure on sync_fd. */
void sandbox_main(const struct sandbox_config *cfg, int sync_fd) __attribute__((noreturn));

/* Binds and listens on <state_dir>/control.sock. */
int control_listen(const char *state_dir, struct cv_err **err);

/* Blocks the host signals the sandbox reads through a signalfd; called before any thread
 * exists so that every thread inherits the mask. */
void control_block_signals(void);

/* Serves control requests until the container has finished; returns the exit status. */
int control_serve(struct sandbox *sb);
/* Writes j as one line on a control connection. */
void control_send_json(int fd, struct json_t *j);
/* Writes {"ok":ok[,"error":error]}. */
void control_reply(int fd, bool ok, const char *error);

/* Most fds one control request carries (exec: stdin, stdout, stderr). */
#define CONTROL_MAX_FDS 3

/*
 * The memory the sentry may hand to the application under a limit of `limit` bytes for the
 * whole sandbox (its cgroup): the sandbox's own memory (sentry heap and metadata, stubs,
 * freed pages not yet returned to the host) must fit beside it, or the cgroup's OOM killer
 * would kill the sandbox instead of the application getting ENOMEM.
 */
uint64_t sandbox_sentry_memory_limit(uint64_t limit);
/* The memory file's size under that limit (the default without one). */
uint64_t sandbox_memfile_size(uint64_t limit);

/* Starts the container's init (sandbox.c); -errno with `why` filled. */
int sandbox_start_init(struct sandbox *sb, char *why, size_t n);

/* The credentials and rlimits of an OCI process (sandbox.c).  cred: a new reference, NULL
 * on ENOMEM. */
struct cred *sandbox_process_cred(const struct oci_process *p);
void sandbox_process_rlimits(const struct sandbox *sb, const struct oci_process *p,
			     struct linux_rlimit64 *out);

/* ---- `cvisor exec` (exec.c) ---- */

/*
 * Handles an "exec" request on connection conn with the host fds it carried (closed or
 * taken in all cases).  On success the reply {"ok":true,"pid":N} is sent and the connection
 * becomes a session (sb->execs) that stays open until the process exits; returns true then.
 * On failure, replies with the error and returns false (the caller closes conn).
 */
bool exec_request(struct sandbox *sb, int conn, struct json_t *req, int *fds, int nfds);
/* The session's connection has input: signals and window changes; EOF kills the process. */
void exec_session_input(struct sandbox *sb, struct exec_session *s);
/* Reports the exit of every finished exec'd process (all of them when `all`) and closes
 * their sessions. */
void exec_reap(struct sandbox *sb, bool all);
/* The connection fd of a session, or -1 once its client has gone. */
int exec_session_fd(const struct exec_session *s);
/* Re-reads the window size of every exec'd process's console. */
void exec_winch(struct sandbox *sb);

/* ---- consoles (console.c) ---- */

/* Sends master over sock with SCM_RIGHTS, `name` as the data (runc's console protocol). */
int console_send_master(int sock, int master, const char *name, struct cv_err **err);
/*
 * A console pumping between the host fds in_fd/out_fd (owned from now on, even on failure
 * of a later step; the same fd twice for a pty) and a new pty of the sentry's /dev/pts.
 * nonblocking: out_fd is not shared with another process and may be made non-blocking.
 * size: initial window size when not zero.  NULL with *err set on failure (fds not taken).
 */
struct console *console_new(struct kernel *k, int in_fd, int out_fd, bool nonblocking,
			    const struct linux_winsize *size, struct cv_err **err);
/* A new file of the pty's slave side, for the process's stdio (ERR_PTR on error). */
struct file *console_open_slave(struct console *c);
struct tty *console_tty(struct console *c);
/* Starts the pump thread; -errno. */
int console_start(struct console *c);
/* Applies the host side's window size to the sentry's pty when it changed. */
void console_winch(struct console *c);
/* Flushes what the container wrote (for a bounded time), stops and frees. NULL is fine. */
void console_free(struct console *c);

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

/* Closes every fd the sandbox inherited but 0-2 and the n in keep (-1 entries ignored): the
 * first thing it does. */
int confine_inherited_fds(const int *keep, int n, struct cv_err **err);

/* Confinement steps (confine.c). */
int confine_mount_ns(const char *state_dir, struct cv_err **err);

#endif
