/*
 * `cvisor exec`, the sandbox's side (protocol in include/cvisor/sandbox.h).  The request
 * carries the OCI process and, with SCM_RIGHTS, the host fds of its stdio: the CLI's fds 0-2,
 * or the host side of its terminal.  The process starts in the running kernel
 * (kernel_exec_process) and the connection stays open as a session: the client sends signals
 * and window changes; the sandbox sends the exit status when the process has exited.  A
 * client that goes away takes the process with it (SIGKILL), so the process the engine
 * waits on (the CLI, or its --detach proxy) and the container's process live and die
 * together.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/abi/linux/termios.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/vfs.h"
#include "sandbox_internal.h"

#define LINE_MAX_ 512

struct exec_session {
	int conn;                /* -1 once the client has gone */
	int pid;                 /* in the sentry */
	struct console *console; /* with a terminal */
	char line[LINE_MAX_];
	size_t len;
};

int exec_session_fd(const struct exec_session *s)
{
	return s->conn;
}

/* The process's stdio from the received fds: a console, or hostfd files. */
struct exec_stdio {
	struct file *files[3];
	struct console *console;
};

static void stdio_release(struct exec_stdio *io)
{
	for (int i = 0; i < 3; i++)
		if (io->files[i] && !IS_ERR(io->files[i]))
			file_put(io->files[i]);
}

/* Takes every fd in fds (closes what it does not keep). */
static int exec_stdio(struct sandbox *sb, json_t *req, const struct oci_process *p, int *fds,
		      int nfds, struct exec_stdio *io, char *why, size_t n)
{
	json_t *which = json_object_get(req, "stdio");
	struct cv_err *err = NULL;
	int used = 0;

	if (p->terminal) {
		struct linux_winsize ws = {.ws_row = (uint16_t)p->console_height,
					   .ws_col = (uint16_t)p->console_width};

		if (nfds < 1 || nfds > 2) {
			snprintf(why, n, "a terminal needs one or two host fds, got %d", nfds);
			return -EINVAL;
		}
		io->console = console_new(sb->k, fds[0], fds[nfds - 1], nfds == 1, &ws, &err);
		if (!io->console) {
			snprintf(why, n, "%s", err ? err->msg : "cannot allocate the terminal");
			cv_err_free(&err);
			return -EIO;
		}
		for (int i = 0; i < nfds; i++)
			fds[i] = -1;
		io->files[0] = console_open_slave(io->console);
		if (IS_ERR(io->files[0])) {
			snprintf(why, n, "opening the terminal");
			return (int)PTR_ERR(io->files[0]);
		}
		io->files[1] = io->files[2] = io->files[0];
		file_get(io->files[0]);
		file_get(io->files[0]);
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		int fl;

		if (!json_is_true(json_array_get(which, (size_t)i)))
			continue;
		if (used >= nfds) {
			snprintf(why, n, "stdio: fd %d is missing from the request", i);
			return -EINVAL;
		}
		fl = fcntl(fds[used], F_GETFL);
		io->files[i] = hostfd_file_new(&sb->k->vfs, fds[used],
					       (unsigned)fl & (O_ACCMODE | O_APPEND));
		if (IS_ERR(io->files[i])) {
			snprintf(why, n, "stdio: cannot wrap fd %d", i);
			return (int)PTR_ERR(io->files[i]);
		}
		fds[used++] = -1;
	}
	return 0;
}

/* Starts the process; returns its pid or -errno with why filled. */
static int exec_start(struct sandbox *sb, const struct oci_process *p, struct exec_stdio *io,
		      char *why, size_t n)
{
	struct init_params ip = {
		.argv = p->args,
		.envp = p->env,
		.cwd = p->cwd,
		.umask = p->user.has_umask ? p->user.umask : 022,
		.ctty = io->console ? console_tty(io->console) : NULL,
	};
	int pid;

	if (!p->n_args) {
		snprintf(why, n, "process.args must not be empty");
		return -EINVAL;
	}
	ip.cred = sandbox_process_cred(p);
	if (!ip.cred) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	sandbox_process_rlimits(sb, p, ip.rlimits);
	for (int i = 0; i < 3; i++)
		ip.stdio[i] = io->files[i];
	pid = kernel_exec_process(sb->k, &ip, why, n);
	cred_put(ip.cred);
	return pid;
}

static bool add_session(struct sandbox *sb, int conn, int pid, struct console *console)
{
	struct exec_session *s = calloc(1, sizeof(*s)), **v;

	v = s ? realloc(sb->execs, (sb->n_execs + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(s);
		return false;
	}
	s->conn = conn;
	s->pid = pid;
	s->console = console;
	sb->execs = v;
	sb->execs[sb->n_execs++] = s;
	return true;
}

bool exec_request(struct sandbox *sb, int conn, json_t *req, int *fds, int nfds)
{
	struct exec_stdio io = {0};
	struct oci_process p = {0};
	struct cv_err *err = NULL;
	_cleanup_free_ char *text = json_dumps(json_object_get(req, "process"), JSON_COMPACT);
	_cleanup_json_ json_t *rep = NULL;
	char why[512] = "";
	int pid = -EINVAL;

	if (!sb->started || sb->k->shutdown) {
		snprintf(why, sizeof(why), "cannot exec in a container that is not running");
	} else if (!text || oci_process_parse(text, strlen(text), "process.json", &p, &err) < 0) {
		snprintf(why, sizeof(why), "%s", err ? err->msg : "malformed process");
	} else if (json_is_true(json_object_get(req, "tty")) && !p.terminal) {
		p.terminal = true;
	}
	if (!why[0] && exec_stdio(sb, req, &p, fds, nfds, &io, why, sizeof(why)) == 0)
		pid = exec_start(sb, &p, &io, why, sizeof(why));
	stdio_release(&io); /* the process holds its own references now */
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	oci_process_free(&p);
	cv_err_free(&err);
	if (pid < 0 || !add_session(sb, conn, pid, io.console)) {
		if (pid >= 0)
			kernel_kill_pid(sb->k, pid, SIGKILL);
		console_free(io.console);
		control_reply(conn, false, why[0] ? why : "out of memory");
		return false;
	}
	if (io.console && console_start(io.console) < 0)
		log_warn("exec: cannot start the terminal of pid %d", pid);
	rep = json_pack("{s:b,s:i}", "ok", 1, "pid", pid);
	control_send_json(conn, rep);
	return true;
}

/* One line from the client: {"signal":N} or {"winch":true}. */
static void session_line(struct sandbox *sb, struct exec_session *s, const char *line)
{
	_cleanup_json_ json_t *j = json_loads(line, 0, NULL);
	json_t *sig = json_object_get(j, "signal");

	if (json_is_integer(sig))
		kernel_kill_pid(sb->k, s->pid, (int)json_integer_value(sig));
	if (json_is_true(json_object_get(j, "winch")) && s->console)
		console_winch(s->console);
}

void exec_session_input(struct sandbox *sb, struct exec_session *s)
{
	char *nl;
	ssize_t r;

	if (s->conn < 0)
		return;
	if (s->len == sizeof(s->line) - 1)
		s->len = 0; /* an overlong line is dropped */
	r = recv(s->conn, s->line + s->len, sizeof(s->line) - 1 - s->len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		/* The client is gone: so is the process (the engine saw it "exit"). */
		kernel_kill_pid(sb->k, s->pid, SIGKILL);
		close(s->conn);
		s->conn = -1;
		return;
	}
	s->len += (size_t)r;
	s->line[s->len] = 0;
	while ((nl = strchr(s->line, '\n'))) {
		*nl = 0;
		session_line(sb, s, s->line);
		s->len -= (size_t)(nl + 1 - s->line);
		memmove(s->line, nl + 1, s->len + 1);
	}
}

void exec_winch(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->n_execs; i++)
		if (sb->execs[i]->console)
			console_winch(sb->execs[i]->console);
}

/* The process has exited: its last output reaches the host first, then its status. */
static void session_finish(struct exec_session *s, int status)
{
	console_free(s->console);
	if (s->conn >= 0) {
		_cleanup_json_ json_t *j = json_pack("{s:i}", "exit", status);

		control_send_json(s->conn, j);
		close(s->conn);
	}
	free(s);
}

void exec_reap(struct sandbox *sb, bool all)
{
	size_t kept = 0;

	for (size_t i = 0; i < sb->n_execs; i++) {
		struct exec_session *s = sb->execs[i];
		int status = 0, r = kernel_exec_reap(sb->k, s->pid, &status);

		if (r == 0 && all) {
			/* Every task is gone: only a lost process can still be here. */
			r = 1;
			status = 128 + SIGKILL;
		}
		if (r < 0)
			status = 128 + SIGKILL;
		if (r != 0)
			session_finish(s, status);
		else
			sb->execs[kept++] = s;
	}
	sb->n_execs = kept;
}
