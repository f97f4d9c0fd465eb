/*
 * The control socket: one JSON request and one JSON reply per connection (see
 * include/cvisor/sandbox.h).  The server runs on the sandbox's main thread; the client is
 * used by the CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/sentry/kernel.h"
#include "sandbox_internal.h"

#define MAX_MSG 65536

/*
 * The control socket's address.  <state_dir>/control.sock may not fit in sun_path (Docker's
 * state directories end in a 64-character id): it is then reached through an O_PATH fd of
 * the directory, as /proc/self/fd/N/control.sock; *dirfd is that fd (-1 when unused), to be
 * closed once the address has been used.
 */
static int socket_path(const char *state_dir, struct sockaddr_un *sa, int *dirfd,
		       struct cv_err **err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", state_dir,
			     CV_CONTROL_SOCKET) < sizeof(sa->sun_path))
		return 0;
	*dirfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return cv_err_set(err, errno, "opening the state directory `%s`", state_dir);
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd,
		 CV_CONTROL_SOCKET);
	return 0;
}

int control_listen(const char *state_dir, struct cv_err **err)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dirfd = -1;
	mode_t old;
	int fd, r;

	if (socket_path(state_dir, &sa, &dirfd, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "creating the control socket");
	unlink(sa.sun_path);
	/* Whoever may connect may exec in the container: only its owner (mode 0600). */
	old = umask(077);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return cv_err_set(err, e, "binding the control socket in `%s`", state_dir);
	}
	return fd;
}

/* Reads one request line, with the fds it carried (SCM_RIGHTS, up to max, close-on-exec). */
static ssize_t read_msg_fds(int fd, char *buf, size_t cap, int *fds, int max, int *nfds)
{
	size_t n = 0;

	*nfds = 0;
	while (n < cap - 1) {
		char cbuf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
		struct iovec iov = {.iov_base = buf + n, .iov_len = cap - 1 - n};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (int i = 0; i < k; i++) {
				int x;

				memcpy(&x, CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
				if (*nfds < max)
					fds[(*nfds)++] = x;
				else
					close(x);
			}
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

static ssize_t read_msg(int fd, char *buf, size_t cap)
{
	int fds[CONTROL_MAX_FDS], nfds;
	ssize_t r = read_msg_fds(fd, buf, cap, fds, CONTROL_MAX_FDS, &nfds);

	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t r = send(fd, s, n, MSG_NOSIGNAL);

		if (r < 0 && errno == ENOTSOCK)
			r = write(fd, s, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

void control_send_json(int fd, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s) {
		write_all(fd, s, strlen(s));
		write_all(fd, "\n", 1);
		free(s);
	}
}

void control_reply(int fd, bool ok, const char *error)
{
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "ok", json_boolean(ok));
	if (error)
		json_object_set_new(j, "error", json_string(error));
	control_send_json(fd, j);
}

static void reply_status(int fd, const char *status)
{
	_cleanup_json_ json_t *j = json_pack("{s:b,s:s}", "ok", 1, "status", status);

	control_send_json(fd, j);
}

/*
 * Test-only (CVISOR_TEST_HOOKS=1 in the sandbox's environment): the sentry makes a host
 * syscall its seccomp allowlist forbids, to show that the second wall holds.
 */
static void forbidden_syscall(const char *which)
{
	if (which && !strcmp(which, "execve"))
		syscall(SYS_execve, "/bin/sh", NULL, NULL);
	else if (which && !strcmp(which, "ptrace"))
		syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
	else
		syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static const char *status_of(struct sandbox *sb)
{
	if (!sb->started)
		return "created";
	if (sb->k->shutdown)
		return "stopped";
	return __atomic_load_n(&sb->k->frozen, __ATOMIC_SEQ_CST) ? "paused" : "running";
}

static void do_start(struct sandbox *sb, int fd)
{
	char why[512] = "";

	if (sb->started) {
		control_reply(fd, false, "container already started");
	} else if (sandbox_start_init(sb, why, sizeof(why)) < 0) {
		control_reply(fd, false, why);
		sb->started = true;
		sb->k->shutdown = true;
		sb->k->exit_status = 127;
	} else {
		sb->started = true;
		control_reply(fd, true, NULL);
	}
}

static void do_kill(struct sandbox *sb, int fd, json_t *req)
{
	int sig = (int)json_integer_value(json_object_get(req, "signal"));
	bool all = json_is_true(json_object_get(req, "all"));
	int r;

	if (!sb->started) {
		/* Not started: a signal that would kill init ends the sandbox. */
		sb->k->shutdown = true;
		sb->k->exit_status = 128 + sig;
		control_reply(fd, true, NULL);
		return;
	}
	r = kernel_kill(sb->k, sig, all);
	control_reply(fd, r == 0 || r == -ESRCH, r == 0 || r == -ESRCH ? NULL : strerror(-r));
}

static void do_pause(struct sandbox *sb, int fd, bool pause)
{
	if (!sb->started || sb->k->shutdown) {
		control_reply(fd, false, "the container is not running");
		return;
	}
	kernel_freeze(sb->k, pause);
	control_reply(fd, true, NULL);
}

/* The sentry's limits: its share of the memory limit (see sandbox_sentry_memory_limit()) and
 * the number of tasks. */
static void do_update(struct sandbox *sb, int fd, json_t *req)
{
	json_t *m = json_object_get(req, "memory_limit"), *pids = json_object_get(req, "pids_limit");
	uint64_t pages = 0;

	if (json_is_integer(m) && json_integer_value(m) > 0)
		pages = sandbox_sentry_memory_limit((uint64_t)json_integer_value(m)) / PAGE_SIZE;
	if (m) {
		pthread_mutex_lock(&sb->k->mf.lock);
		sb->k->mf.limit = pages;
		pthread_mutex_unlock(&sb->k->mf.lock);
	}
	if (json_is_integer(pids)) {
		pthread_mutex_lock(&sb->k->lock);
		sb->k->cfg.pids_limit =
			json_integer_value(pids) > 0 ? (uint64_t)json_integer_value(pids) : 0;
		pthread_mutex_unlock(&sb->k->lock);
	}
	control_reply(fd, true, NULL);
}

static void do_ps(struct sandbox *sb, int fd)
{
	_cleanup_json_ json_t *j = json_object(), *list = json_array();
	struct kernel_proc *v = NULL;
	int n = 0, cap = 0;

	do {
		free(v);
		cap = n + 64;
		v = calloc((size_t)cap, sizeof(*v));
		n = v ? kernel_list_processes(sb->k, v, cap) : 0;
	} while (v && n > cap);
	for (int i = 0; v && i < n; i++) {
		uint64_t start = sb->k->boot_real_ns + (v[i].start_ns - sb->k->boot_mono_ns);
		char state[2] = {v[i].state, 0};

		json_array_append_new(list, json_pack("{s:i,s:i,s:i,s:i,s:I,s:i,s:s,s:s,s:I}",
			"pid", v[i].pid, "ppid", v[i].ppid, "pgid", v[i].pgid, "sid", v[i].sid,
			"uid", (json_int_t)v[i].uid, "threads", v[i].nr_threads, "state", state,
			"comm", v[i].comm, "start_ns", (json_int_t)start));
	}
	free(v);
	json_object_set_new(j, "ok", json_true());
	json_object_set(j, "processes", list);
	control_send_json(fd, j);
}

static void winch_all(struct sandbox *sb)
{
	if (sb->console)
		console_winch(sb->console);
	exec_winch(sb);
}

/* Handles one request; returns true when the connection became an exec session. */
static bool handle(struct sandbox *sb, int fd)
{
	char buf[MAX_MSG];
	int fds[CONTROL_MAX_FDS], nfds = 0;
	_cleanup_json_ json_t *req = NULL;
	json_error_t jerr;
	const char *cmd;

	if (read_msg_fds(fd, buf, sizeof(buf), fds, CONTROL_MAX_FDS, &nfds) <= 0)
		goto close_fds;
	req = json_loads(buf, 0, &jerr);
	cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
	if (cmd && !strcmp(cmd, "exec"))
		return exec_request(sb, fd, req, fds, nfds);
	if (!cmd)
		control_reply(fd, false, "malformed request");
	else if (!strcmp(cmd, "state"))
		reply_status(fd, status_of(sb));
	else if (!strcmp(cmd, "start"))
		do_start(sb, fd);
	else if (!strcmp(cmd, "kill"))
		do_kill(sb, fd, req);
	else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
		do_pause(sb, fd, !strcmp(cmd, "pause"));
	else if (!strcmp(cmd, "update"))
		do_update(sb, fd, req);
	else if (!strcmp(cmd, "ps"))
		do_ps(sb, fd);
	else if (!strcmp(cmd, "winch")) {
		winch_all(sb);
		control_reply(fd, true, NULL);
	} else if (!strcmp(cmd, "test-forbidden-syscall") && getenv("CVISOR_TEST_HOOKS")) {
		control_reply(fd, true, NULL);
		forbidden_syscall(json_string_value(json_object_get(req, "which")));
	} else {
		char why[128];

		snprintf(why, sizeof(why), "unknown command `%s`", cmd);
		control_reply(fd, false, why);
	}
close_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return false;
}

/* Host signals sent to the sandbox process go to the container's init. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGWINCH, SIGCONT};

static void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(set, forwarded[i]);
}

void control_block_signals(void)
{
	sigset_t set;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int signal_fd(void)
{
	sigset_t set;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void forward_signals(struct sandbox *sb, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		/* The host side of init's console is the sandbox's terminal: SIGWINCH is a resize
		 * to apply (the sentry's tty signals the container itself). */
		if (si.ssi_signo == SIGWINCH && sb->console) {
			winch_all(sb);
			continue;
		}
		if (!sb->started) {
			if (si.ssi_signo != SIGWINCH && si.ssi_signo != SIGCONT) {
				sb->k->shutdown = true;
				sb->k->exit_status = 128 + (int)si.ssi_signo;
			}
			continue;
		}
		kernel_kill(sb->k, (int)si.ssi_signo, false);
	}
}

static bool finished(struct sandbox *sb)
{
	bool done;

	pthread_mutex_lock(&sb->k->lock);
	done = sb->k->shutdown && sb->k->live_threads == 0;
	pthread_mutex_unlock(&sb->k->lock);
	return done;
}

#define FIXED_FDS 3

/* The poll set: the listening socket, the signalfd, the kernel's notifications, then one
 * entry per exec session whose client is still connected. */
static struct pollfd *poll_set(struct sandbox *sb, struct pollfd *p, size_t *n,
			       struct exec_session ***owners)
{
	size_t m = FIXED_FDS;

	p = realloc(p, (FIXED_FDS + sb->n_execs) * sizeof(*p));
	*owners = realloc(*owners, (sb->n_execs + 1) * sizeof(**owners));
	if (!p || !*owners)
		abort();
	for (size_t i = 0; i < sb->n_execs; i++) {
		int fd = exec_session_fd(sb->execs[i]);

		if (fd < 0)
			continue;
		p[m] = (struct pollfd){.fd = fd, .events = POLLIN};
		(*owners)[m - FIXED_FDS] = sb->execs[i];
		m++;
	}
	*n = m;
	return p;
}

int control_serve(struct sandbox *sb)
{
	struct pollfd fixed[FIXED_FDS] = {
		{.fd = sb->fds.control, .events = POLLIN},
		{.fd = signal_fd(), .events = POLLIN},
		{.fd = sb->k->notify_fd, .events = POLLIN},
	};
	struct pollfd *p = NULL;
	struct exec_session **owners = NULL;
	size_t n;

	while (!finished(sb)) {
		p = poll_set(sb, p, &n, &owners);
		memcpy(p, fixed, sizeof(fixed));
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			forward_signals(sb, p[1].fd);
		if (p[2].revents) {
			uint64_t v;

			if (read(p[2].fd, &v, sizeof(v)) < 0) {
				/* spurious wake-up */
			}
		}
		for (size_t i = FIXED_FDS; i < n; i++)
			if (p[i].revents)
				exec_session_input(sb, owners[i - FIXED_FDS]);
		exec_reap(sb, false);
		if (p[0].revents & POLLIN) {
			int fd = accept4(sb->fds.control, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && !handle(sb, fd))
				close(fd);
		}
	}
	exec_reap(sb, true);
	free(p);
	free(owners);
	if (fixed[1].fd >= 0)
		close(fixed[1].fd);
	return sb->k->exit_status;
}

/* ---- client ------------------------------------------------------------------------- */

static int send_request(int fd, const char *request, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
	size_t len = strlen(request);
	_cleanup_free_ char *line = malloc(len + 2);
	struct iovec iov = {.iov_base = line, .iov_len = len + 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (!line || nfds > CONTROL_MAX_FDS)
		return -EINVAL;
	memcpy(line, request, len);
	line[len] = '\n';
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* the fds went with the first byte; the rest is plain */
	if ((size_t)r < len + 1)
		write_all(fd, line + r, len + 1 - (size_t)r);
	return 0;
}

/* Reads one reply line without consuming what follows it (exec sessions go on). */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

int sandbox_call(const char *state_dir, const char *request, const int *fds, int nfds,
		 json_t **reply, int *conn, struct cv_err **err)
{
	char buf[MAX_MSG];
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1, dirfd = -1;
	_cleanup_json_ json_t *rep = NULL;
	struct timeval tmo = {.tv_sec = 10};
	json_error_t jerr;
	ssize_t n;
	int r;

	r = socket_path(state_dir, &sa, &dirfd, NULL);
	if (r < 0)
		return r; /* -ENOENT: no state directory, no sandbox */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "creating a socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno; /* no sandbox listening: the caller decides what that means */
	/* A wedged sandbox must not hang state, list or kill. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	if ((r = send_request(fd, request, fds, nfds)) < 0)
		return r;
	if (!conn)
		shutdown(fd, SHUT_WR);
	n = conn ? read_line(fd, buf, sizeof(buf)) : read_msg(fd, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 ? (int)n : -ECONNRESET;
	rep = json_loads(buf, 0, &jerr);
	if (!rep)
		return cv_err_set(err, EPROTO, "malformed reply from the sandbox");
	if (!json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep, "error"));

		return cv_err_set(err, 0, "%s", e ? e : "the sandbox refused the request");
	}
	if (reply)
		*reply = steal_ptr(&rep);
	if (conn) {
		tmo.tv_sec = 0;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
		*conn = take_fd(&fd);
	}
	return 0;
}

int sandbox_request(const char *state_dir, const char *request, char **status_out,
		    struct cv_err **err)
{
	_cleanup_json_ json_t *rep = NULL;
	int r = sandbox_call(state_dir, request, NULL, 0, status_out ? &rep : NULL, NULL, err);

	if (r == 0 && status_out) {
		const char *st = json_string_value(json_object_get(rep, "status"));

		*status_out = st ? strdup(st) : NULL;
	}
	return r;
}
