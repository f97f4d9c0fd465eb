/*
 * The sandbox process: forked by `create`, it confines itself and becomes the sentry
 * (src/sandbox).  The CLI talks to it over a unix stream socket in the container's state
 * directory (CV_CONTROL_SOCKET), one JSON request line and one JSON reply line per
 * connection:
 *
 *   {"cmd":"start"}                         -> {"ok":true}
 *   {"cmd":"state"}                         -> {"ok":true,"status":"created|running|paused|stopped"}
 *   {"cmd":"kill","signal":N,"all":bool}    -> {"ok":true}
 *   {"cmd":"pause"}, {"cmd":"resume"}       -> {"ok":true}   (every task frozen / thawed)
 *   {"cmd":"update","memory_limit":N,"pids_limit":P}
 *                                           -> {"ok":true}   (either may be absent; 0: none;
 *                                               N: bytes for the whole sandbox)
 *   {"cmd":"winch"}                         -> {"ok":true}   (re-read the consoles' host sizes)
 *   {"cmd":"ps"}                            -> {"ok":true,"processes":[{"pid":1,"ppid":0,"pgid":1,
 *                                               "sid":1,"uid":0,"threads":1,"state":"S",
 *                                               "comm":"sh","start_ns":<realtime ns>}, ...]}
 *   {"cmd":"exec","process":{OCI process},"tty":bool,"stdio":[bool,bool,bool]}
 *       with SCM_RIGHTS fds: the stdio marked true, in order; with a terminal, the host
 *       terminal (one fd, read and written) or its input and output (two fds).
 *                                           -> {"ok":true,"pid":N}  (the pid inside)
 *       The connection then stays open: the client may send {"signal":N} and
 *       {"winch":true} lines; the sandbox's last line is {"exit":STATUS} (exit code, or
 *       128+N for signal N) once the process has exited.  If the client closes its side
 *       first, the process is killed.
 *   any failure                             -> {"ok":false,"error":"message"}
 *
 * The sandbox process's exit status is the container init's: its exit code, or 128+N when
 * signal N killed it.
 */
#ifndef CV_SANDBOX_H
#define CV_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

struct cv_err;
struct oci_spec;
struct platform_ops;

#define CV_CONTROL_SOCKET "control.sock"

enum network_mode { NETWORK_SANDBOX = 0, NETWORK_NONE, NETWORK_HOST };

struct sandbox_config {
	const char *id;
	const char *bundle;      /* absolute */
	const char *state_dir;   /* absolute; the control socket is created here */
	const struct oci_spec *spec;
	const struct platform_ops *platform;
	enum network_mode network;
	bool strace;
	bool debug;
	bool no_syscall_patching;
	bool foreground;         /* `run` without --detach: the caller waits for the sandbox */
	bool rootless;           /* a user namespace maps the caller's uid/gid to root */
	int console_socket_fd;   /* connected --console-socket, or -1 */
	const char *cgroup;      /* cgroup_resolve()d path the sandbox runs in, or NULL */
};

/*
 * Forks the sandbox process.  On success *pid is its host pid; it has confined itself, bound
 * the control socket and waits for "start".  The sandbox keeps the caller's fds 0-2 as the
 * container's stdio.  Returns 0, or a negative value with *err set; nothing is left running.
 */
int sandbox_create(const struct sandbox_config *cfg, pid_t *pid, struct cv_err **err);

/*
 * Sends one request to the sandbox whose state directory is state_dir and stores the reply's
 * "status" (for "state") in status_out if not NULL (caller frees).  `request` is a JSON object
 * text.  Returns 0; -ECONNREFUSED/-ENOENT when no sandbox listens; another negative value with
 * *err set when the sandbox answered with an error.
 */
int sandbox_request(const char *state_dir, const char *request, char **status_out,
		    struct cv_err **err);

/*
 * Sends one request (JSON text) with nfds fds (SCM_RIGHTS) and reads the reply line, which
 * must say "ok":true.  *reply gets the parsed reply (a new json_t reference) when reply is
 * not NULL.  With conn not NULL the connection stays open for the caller (exec sessions) and
 * no receive timeout applies to later reads; otherwise it is closed.  Errors as
 * sandbox_request().
 */
struct json_t;
int sandbox_call(const char *state_dir, const char *request, const int *fds, int nfds,
		 struct json_t **reply, int *conn, struct cv_err **err);

/*
 * Allocates a host pty (rows x cols when not 0) and sends its master over the connected unix
 * socket sock with SCM_RIGHTS, the slave's name as data (runc's --console-socket protocol).
 * *slave gets the slave, in raw mode: the sentry's own pty does the line discipline.
 * Returns 0, or a negative value with *err set.  (src/sandbox/console.c)
 */
int console_host_pty(int sock, unsigned rows, unsigned cols, int *slave, struct cv_err **err);

/* ---- cgroups of the sandbox process (src/sandbox/cgroup.c) ---- */

struct oci_resources;

/*
 * Resolves config.json's cgroupsPath into the path cvisor uses under every hierarchy: an
 * absolute path as given; a relative one under the caller's own cgroup; none: /cvisor/<id>.
 * Returns a malloc'd string.
 */
char *cgroup_resolve(const char *cgroups_path, const char *id);

/*
 * Creates the cgroup `path` (in every v1 hierarchy, or the v2 tree), applies `res` (memory,
 * swap, pids, cpu shares/quota/period, cpuset) and moves pid into it.  Returns 0, or a
 * negative value with *err set (what was created is removed again).
 */
int cgroup_enter(const char *path, const struct oci_resources *res, pid_t pid,
		 struct cv_err **err);
/* Applies res to the existing cgroup (`update`). */
int cgroup_update(const char *path, const struct oci_resources *res, struct cv_err **err);
/* Removes the cgroup everywhere it exists (waits briefly for exiting processes). */
int cgroup_remove(const char *path, struct cv_err **err);
/* The host pids in the cgroup, sorted (from the memory or pids hierarchy, or v2).  Returns
 * the count, or -errno; *pids is malloc'd. */
int cgroup_pids(const char *path, pid_t **pids);
/* The `runc events --stats` data of the cgroup (a new json_t reference), or NULL. */
struct json_t *cgroup_stats(const char *path);
/* Which cgroup versions this host has: 1, 2, or 0 for none. */
int cgroup_version(void);

#endif
