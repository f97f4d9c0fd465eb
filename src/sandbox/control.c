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

static int socket_path(const char *state_dir, struct sockaddr_un *sa, struct cv_err **err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", state_dir,
			     CV_CONTROL_SOCKET) >= sizeof(sa->sun_path))
		return cv_err_set(err, ENAMETOOLONG, "control socket path under `%s`", state_dir);
	return 0;
}

int control_listen(const char *state_dir, struct cv_err **err)
{
	struct sockaddr_un sa;
	int fd;

	if (socket_path(state_dir, &sa, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "creating the control socket");
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return cv_err_set(err, e, "binding `%s`", sa.sun_path);
	}
	return fd;
}

static ssize_t read_msg(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t r = write(fd, s, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

static void reply(int fd, bool ok, const char *status, const char *error)
{
	_cleanup_json_ json_t *j = json_object();
	char *s;

	json_object_set_new(j, "ok", json_boolean(ok));
	if (status)
		json_object_set_new(j, "status", json_string(status));
	if (error)
		json_object_set_new(j, "error", json_string(error));
	s = json_dumps(j, JSON_COMPACT);
	if (s) {
		write_all(fd, s, strlen(s));
		write_all(fd, "\n", 1);
		free(s);
	}
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

struct server {
	const struct sandbox_config *cfg;
	struct kernel *k;
	int (*start)(void *arg, char *why, size_t n);
	void *arg;
	bool started;
};

static void handle(struct server *sv, int fd)
{
	char buf[MAX_MSG], why[512] = "";
	_cleanup_json_ json_t *req = NULL;
	json_error_t jerr;
	const char *cmd;

	if (read_msg(fd, buf, sizeof(buf)) <= 0)
		return;
	req = json_loads(buf, 0, &jerr);
	cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
	if (!cmd) {
		reply(fd, false, NULL, "malformed request");
	} else if (!strcmp(cmd, "state")) {
		reply(fd, true, !sv->started ? "created" : sv->k->shutdown ? "stopped" : "running", NULL);
	} else if (!strcmp(cmd, "start")) {
		if (sv->started) {
			reply(fd, false, NULL, "container already started");
		} else if (sv->start(sv->arg, why, sizeof(why)) < 0) {
			reply(fd, false, NULL, why);
			sv->started = true;
			sv->k->shutdown = true;
			sv->k->exit_status = 127;
		} else {
			sv->started = true;
			reply(fd, true, NULL, NULL);
		}
	} else if (!strcmp(cmd, "kill")) {
		int sig = (int)json_integer_value(json_object_get(req, "signal"));
		bool all = json_is_true(json_object_get(req, "all"));
		int r;

		if (!sv->started) {
			/* Not started: a signal that would kill init ends the sandbox. */
			sv->k->shutdown = true;
			sv->k->exit_status = 128 + sig;
			reply(fd, true, NULL, NULL);
			return;
		}
		r = kernel_kill(sv->k, sig, all);
		reply(fd, r == 0 || r == -ESRCH, NULL, r == 0 || r == -ESRCH ? NULL : strerror(-r));
	} else if (!strcmp(cmd, "test-forbidden-syscall") && getenv("CVISOR_TEST_HOOKS")) {
		reply(fd, true, NULL, NULL);
		forbidden_syscall(json_string_value(json_object_get(req, "which")));
	} else {
		snprintf(why, sizeof(why), "unknown command `%s`", cmd);
		reply(fd, false, NULL, why);
	}
}

/* Host signals sent to the sandbox process go to the container's init. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGWINCH, SIGCONT};

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void forward_signals(struct server *sv, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (!sv->started) {
			if (si.ssi_signo != SIGWINCH && si.ssi_signo != SIGCONT) {
				sv->k->shutdown = true;
				sv->k->exit_status = 128 + (int)si.ssi_signo;
			}
			continue;
		}
		kernel_kill(sv->k, (int)si.ssi_signo, false);
	}
}

static bool finished(struct server *sv)
{
	bool done;

	pthread_mutex_lock(&sv->k->lock);
	done = sv->k->shutdown && sv->k->live_threads == 0;
	pthread_mutex_unlock(&sv->k->lock);
	return done;
}

int control_serve(const struct sandbox_config *cfg, int listen_fd, struct kernel *k,
		  int (*start)(void *arg, char *why, size_t n), void *arg)
{
	struct server sv = {.cfg = cfg, .k = k, .start = start, .arg = arg};
	struct pollfd p[3] = {
		{.fd = listen_fd, .events = POLLIN},
		{.fd = signal_fd(), .events = POLLIN},
		{.fd = k->notify_fd, .events = POLLIN},
	};

	while (!finished(&sv)) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			forward_signals(&sv, p[1].fd);
		if (p[2].revents) {
			uint64_t v;

			if (read(p[2].fd, &v, sizeof(v)) < 0) {
				/* spurious wake-up */
			}
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				handle(&sv, fd);
				close(fd);
			}
		}
	}
	if (p[1].fd >= 0)
		close(p[1].fd);
	return k->exit_status;
}

/* ---- client ------------------------------------------------------------------------- */

int sandbox_request(const char *state_dir, const char *request, char **status_out,
		    struct cv_err **err)
{
	char buf[MAX_MSG];
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	_cleanup_json_ json_t *rep = NULL;
	json_error_t jerr;
	ssize_t n;

	if (socket_path(state_dir, &sa, err) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "creating a socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno; /* no sandbox listening: the caller decides what that means */
	/* A wedged sandbox must not hang state, list or kill. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){.tv_sec = 10}, sizeof(struct timeval));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){.tv_sec = 10}, sizeof(struct timeval));
	write_all(fd, request, strlen(request));
	write_all(fd, "\n", 1);
	shutdown(fd, SHUT_WR);
	n = read_msg(fd, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 ? (int)n : -ECONNRESET;
	rep = json_loads(buf, 0, &jerr);
	if (!rep)
		return cv_err_set(err, EPROTO, "malformed reply from the sandbox");
	if (!json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep, "error"));

		return cv_err_set(err, 0, "%s", e ? e : "the sandbox refused the request");
	}
	if (status_out) {
		const char *st = json_string_value(json_object_get(rep, "status"));

		*status_out = st ? strdup(st) : NULL;
	}
	return 0;
}
