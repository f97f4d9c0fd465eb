/*
 * The sandbox process: forked by `create`, it confines itself and becomes the sentry
 * (src/sandbox).  The CLI talks to it over a unix stream socket in the container's state
 * directory (CV_CONTROL_SOCKET), one JSON request and one JSON reply per connection:
 *
 *   {"cmd":"start"}                         -> {"ok":true}
 *   {"cmd":"state"}                         -> {"ok":true,"status":"created|running|paused|stopped"}
 *   {"cmd":"kill","signal":N,"all":bool}    -> {"ok":true}
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

#endif
