/*
 * `cvisor exec`: runs a new process in a running container.  The process is started by the
 * sandbox in the running sentry (protocol in include/cvisor/sandbox.h); its stdio are this
 * command's fds 0-2, or a terminal.  This command stays connected and exits with the
 * process's status (its code, or 128+N), forwarding the signals it receives.  With --detach
 * a small proxy process does that instead, and the pid file names it: the engine (containerd)
 * waits for it and signals it as it would the process itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

/* The status reported when the sandbox goes away without telling (its processes are gone). */
#define LOST_STATUS (128 + SIGKILL)

struct exec_opts {
	const char *process, *pid_file, *console_socket, *cwd, *user;
	struct cli_list env, caps, gids;
	bool detach, tty, no_new_privs, ignore_paused;
	int preserve_fds;
};

/* A JSON array of strings, appended to (created when missing). */
static void append_strings(json_t *obj, const char *key, const struct cli_list *l)
{
	json_t *a = json_object_get(obj, key);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(obj, key, a);
	}
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
}

/* `--user uid[:gid]`. */
static int set_user(json_t *proc, const char *spec, struct cv_err **err)
{
	json_t *user = json_object_get(proc, "user");
	unsigned long uid, gid;
	char *end;

	if (!json_is_object(user)) {
		user = json_object();
		json_object_set_new(proc, "user", user);
	}
	uid = strtoul(spec, &end, 10);
	if (end == spec || (*end && *end != ':'))
		return cv_err_set(err, 0, "--user `%s`: expected UID[:GID] (numbers)", spec);
	json_object_set_new(user, "uid", json_integer((json_int_t)uid));
	if (*end == ':') {
		gid = strtoul(end + 1, &end, 10);
		if (*end)
			return cv_err_set(err, 0, "--user `%s`: expected UID[:GID] (numbers)", spec);
		json_object_set_new(user, "gid", json_integer((json_int_t)gid));
	}
	return 0;
}

/* runc's rules: the container's process with the command line's changes. */
static int process_from_flags(const struct cv_state *st, const struct exec_opts *o, int argc,
			      char **argv, json_t **out, struct cv_err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *cfg = NULL;
	json_error_t je;
	json_t *proc, *args, *caps;

	if (argc == 0)
		return cv_err_set(err, 0, "exec: a command (or --process) is required");
	if (asprintf(&path, "%s/config.json", st->dir) < 0)
		abort();
	cfg = json_load_file(path, 0, &je);
	proc = cfg ? json_object_get(cfg, "process") : NULL;
	proc = json_is_object(proc) ? json_deep_copy(proc) : json_object();
	args = json_array();
	for (int i = 0; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_object_set_new(proc, "args", args);
	json_object_set_new(proc, "terminal", json_boolean(o->tty));
	json_object_del(proc, "consoleSize");
	if (o->cwd)
		json_object_set_new(proc, "cwd", json_string(o->cwd));
	append_strings(proc, "env", &o->env);
	if (o->user && set_user(proc, o->user, err) < 0) {
		json_decref(proc);
		return -1;
	}
	if (o->gids.n) {
		json_t *user = json_object_get(proc, "user"), *g;

		if (!json_is_object(user)) {
			user = json_object();
			json_object_set_new(proc, "user", user);
		}
		g = json_object_get(user, "additionalGids");
		if (!json_is_array(g)) {
			g = json_array();
			json_object_set_new(user, "additionalGids", g);
		}
		for (size_t i = 0; i < o->gids.n; i++)
			json_array_append_new(g, json_integer(strtoll(o->gids.v[i], NULL, 10)));
	}
	if (o->caps.n) {
		caps = json_object_get(proc, "capabilities");
		if (!json_is_object(caps)) {
			caps = json_object();
			json_object_set_new(proc, "capabilities", caps);
		}
		append_strings(caps, "bounding", &o->caps);
		append_strings(caps, "effective", &o->caps);
		append_strings(caps, "permitted", &o->caps);
	}
	if (o->no_new_privs)
		json_object_set_new(proc, "noNewPrivileges", json_true());
	*out = proc;
	return 0;
}

static int process_from_file(const char *file, json_t **out, struct cv_err **err)
{
	json_error_t je;

	*out = json_load_file(file, 0, &je);
	if (!*out)
		return cv_err_set(err, 0, "--process `%s`: %s (line %d)", file, je.text, je.line);
	if (!json_is_object(*out)) {
		json_decref(*out);
		return cv_err_set(err, 0, "--process `%s`: expected a JSON object", file);
	}
	return 0;
}

/* ---- the terminal or stdio to send ---- */

struct exec_io {
	int fds[3], nfds;
	bool stdio[3];
	int tty_slave;          /* --console-socket: the host pty's slave (kept for SIGWINCH) */
	bool raw;               /* our own terminal was put in raw mode */
	struct termios saved;
};

static struct exec_io *restore_io;

static void restore_terminal(void)
{
	if (restore_io && restore_io->raw)
		tcsetattr(0, TCSANOW, &restore_io->saved);
}

static int open_console_socket(const char *path, struct cv_err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cv_err_set(err, ENAMETOOLONG, "console socket `%s`", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return cv_err_set(err, e, "connecting to console socket `%s`", path);
	}
	return fd;
}

static int setup_io(const struct exec_opts *o, bool terminal, json_t *proc, struct exec_io *io,
		    struct cv_err **err)
{
	io->tty_slave = -1;
	if (terminal && o->console_socket) {
		json_t *cs = json_object_get(proc, "consoleSize");
		unsigned h = (unsigned)json_integer_value(json_object_get(cs, "height"));
		unsigned w = (unsigned)json_integer_value(json_object_get(cs, "width"));
		_cleanup_close_ int sock = open_console_socket(o->console_socket, err);

		if (sock < 0 || console_host_pty(sock, h, w, &io->tty_slave, err) < 0)
			return -1;
		io->fds[io->nfds++] = io->tty_slave;
		return 0;
	}
	if (terminal) {
		if (o->detach)
			return cv_err_set(err, 0, "exec: a detached terminal needs --console-socket");
		if (isatty(0) && tcgetattr(0, &io->saved) == 0) {
			struct termios raw = io->saved;

			cfmakeraw(&raw);
			io->raw = tcsetattr(0, TCSANOW, &raw) == 0;
			restore_io = io;
			atexit(restore_terminal);
		}
		io->fds[io->nfds++] = 0;
		io->fds[io->nfds++] = 1;
		return 0;
	}
	if (o->console_socket)
		return cv_err_set(err, 0, "--console-socket needs process.terminal (--tty)");
	for (int i = 0; i < 3; i++) {
		io->stdio[i] = fcntl(i, F_GETFD) >= 0;
		if (io->stdio[i])
			io->fds[io->nfds++] = i;
	}
	return 0;
}

/* ---- waiting for the process ---- */

/* Every signal worth forwarding: all but the uncatchable, the synchronous and SIGCHLD. */
static void forwarded_set(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGKILL);
	sigdelset(set, SIGSTOP);
	sigdelset(set, SIGCHLD);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGSYS);
}

static void send_text(int conn, const char *line)
{
	if (send(conn, line, strlen(line), MSG_NOSIGNAL) < 0) {
		/* the sandbox is gone: the read side will say so */
	}
}

/* Reads the sandbox's lines until {"exit":N}; false at EOF. */
static bool read_exit(int conn, char *buf, size_t *len, size_t cap, int *status)
{
	ssize_t r = read(conn, buf + *len, cap - 1 - *len);
	char *nl;

	if (r <= 0)
		return r < 0 && errno == EINTR ? true : (*status = LOST_STATUS, false);
	*len += (size_t)r;
	buf[*len] = 0;
	while ((nl = strchr(buf, '\n'))) {
		json_t *j;

		*nl = 0;
		j = json_loads(buf, 0, NULL);
		if (json_is_integer(json_object_get(j, "exit"))) {
			*status = (int)json_integer_value(json_object_get(j, "exit"));
			json_decref(j);
			return false;
		}
		json_decref(j);
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	if (*len == cap - 1)
		*len = 0;
	return true;
}

static int wait_process(int conn)
{
	char buf[512];
	size_t len = 0;
	sigset_t set;
	int sfd, status = LOST_STATUS;
	bool more = true;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	while (more) {
		struct pollfd p[2] = {{.fd = conn, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			char line[48];

			if (si.ssi_signo == SIGWINCH)
				snprintf(line, sizeof(line), "{\"winch\":true}\n");
			else
				snprintf(line, sizeof(line), "{\"signal\":%d}\n", (int)si.ssi_signo);
			send_text(conn, line);
		}
		if (p[0].revents)
			more = read_exit(conn, buf, &len, sizeof(buf), &status);
	}
	return status;
}

/* With a console socket, the host pty becomes our controlling terminal: its resizes reach
 * us as SIGWINCH, passed on as "winch".  One is sent now for a resize that came before. */
static void take_terminal(int conn, const struct exec_io *io)
{
	if (io->tty_slave >= 0 && ioctl(io->tty_slave, TIOCSCTTY, 0) < 0)
		log_debug("exec: cannot take the terminal: %s", strerror(errno));
	if (io->tty_slave >= 0 || io->raw)
		send_text(conn, "{\"winch\":true}\n");
}

/*
 * --detach: the proxy stands for the process (the engine waits for it and signals it); this
 * command writes its pid and returns.  The proxy keeps none of the stdio (the engine's
 * pipes must see EOF when the process, not the proxy, closes them) and, with a console
 * socket, holds the host pty as its controlling terminal so that resizes reach it as
 * SIGWINCH.
 */
static int detach(const struct exec_opts *o, int conn, struct exec_io *io, struct cv_err **err)
{
	pid_t pid;
	int null;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return cv_err_set(err, errno, "exec: forking the waiting process");
	if (pid > 0)
		return o->pid_file ? cli_write_pid_file(o->pid_file, pid, err) : 0;
	setsid();
	take_terminal(conn, io);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3 && null >= 0; i++)
		dup2(null, i);
	_exit(wait_process(conn));
}

static int run_exec(struct cli_global *g, const struct exec_opts *o, const char *id,
		    json_t *proc, struct cv_err **err)
{
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_json_ json_t *req = NULL, *rep = NULL;
	_cleanup_free_ char *text = NULL;
	struct exec_io io = {.tty_slave = -1};
	bool terminal = json_is_true(json_object_get(proc, "terminal")) || o->tty;
	int conn = -1, r;

	if (state_load(g->root, id, STATE_LOCK_SHARED, &st, err) < 0)
		return -1;
	r = state_status(st);
	if (r == CV_STATUS_PAUSED && !o->ignore_paused)
		return cv_err_set(err, 0, "cannot exec in a paused container `%s`", id);
	if (r != CV_STATUS_RUNNING && r != CV_STATUS_PAUSED)
		return cv_err_set(err, 0, "cannot exec in container `%s`: it is %s", id,
				  state_status_name((enum cv_status)r));
	state_unlock(st);
	if (terminal)
		json_object_set_new(proc, "terminal", json_true());
	if (setup_io(o, terminal, proc, &io, err) < 0)
		return -1;
	req = json_pack("{s:s,s:O,s:b,s:[bbb]}", "cmd", "exec", "process", proc, "tty", terminal,
			"stdio", io.stdio[0], io.stdio[1], io.stdio[2]);
	text = json_dumps(req, JSON_COMPACT);
	r = sandbox_call(st->dir, text, io.fds, io.nfds, &rep, &conn, err);
	if (r < 0 && !*err)
		cv_err_set(err, -r, "exec in `%s`: the sandbox does not answer", id);
	if (r < 0)
		return cv_err_wrap(err, "exec failed");
	log_debug("exec in `%s`: pid %d", id, (int)json_integer_value(json_object_get(rep, "pid")));
	if (o->detach)
		return detach(o, conn, &io, err);
	if (o->pid_file && cli_write_pid_file(o->pid_file, getpid(), err) < 0)
		return -1;
	if (io.tty_slave >= 0)
		setsid();
	take_terminal(conn, &io);
	return wait_process(conn);
}

int cmd_exec(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	struct exec_opts o = {0};
	const struct cli_opt opts[] = {
		{ "process", 'p', CLI_OPT_STRING, &o.process, "FILE",
		  "the process, as an OCI process JSON (instead of a command)" },
		{ "detach", 'd', CLI_OPT_BOOL, &o.detach, NULL,
		  "return at once; the pid file names a process that exits with its status" },
		{ "pid-file", 0, CLI_OPT_STRING, &o.pid_file, "FILE", "write that pid to FILE" },
		{ "console-socket", 0, CLI_OPT_STRING, &o.console_socket, "PATH",
		  "unix socket that receives the pty master (with a terminal)" },
		{ "cwd", 0, CLI_OPT_STRING, &o.cwd, "DIR", "working directory" },
		{ "env", 'e', CLI_OPT_LIST, &o.env, "K=V", "add an environment variable" },
		{ "user", 'u', CLI_OPT_STRING, &o.user, "UID[:GID]", "run as this user" },
		{ "additional-gids", 'g', CLI_OPT_LIST, &o.gids, "GID", "add a group" },
		{ "tty", 't', CLI_OPT_BOOL, &o.tty, NULL, "allocate a terminal" },
		{ "cap", 'c', CLI_OPT_LIST, &o.caps, "CAP", "add a capability" },
		{ "no-new-privs", 0, CLI_OPT_BOOL, &o.no_new_privs, NULL, "set no_new_privs" },
		{ "ignore-paused", 0, CLI_OPT_BOOL, &o.ignore_paused, NULL,
		  "exec even in a paused container (the process starts frozen)" },
		{ "preserve-fds", 0, CLI_OPT_INT, &o.preserve_fds, NULL, NULL },
		{ "process-label", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "apparmor", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		CLI_OPT_END,
	};
	_cleanup_json_ json_t *proc = NULL;
	_cleanup_state_ struct cv_state *st = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id> [command [args...]]",
			   "Runs a new process in a running container and exits with its status.",
			   1, -1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (o.preserve_fds > 0)
		r = cv_err_set(err, 0, "--preserve-fds is not supported yet");
	else if (o.process)
		r = process_from_file(o.process, &proc, err);
	else if (state_load(g->root, argv[pos], STATE_LOCK_SHARED, &st, err) == 0)
		r = process_from_flags(st, &o, argc - pos - 1, argv + pos + 1, &proc, err);
	else
		r = -1;
	free(o.env.v);
	free(o.caps.v);
	free(o.gids.v);
	if (r < 0)
		return -1;
	state_free(steal_ptr(&st));
	return run_exec(g, &o, argv[pos], proc, err);
}
