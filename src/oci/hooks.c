/*
 * config.json hooks (runtime spec, "POSIX-platform Hooks"): each runs as its own process
 * with the container's state JSON on stdin, its args and env as given, and its timeout.
 * The first hook that fails (non-zero exit, killed, timed out) stops the list; its output
 * is quoted in the error, as runc does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "oci_internal.h"

/* Output of a hook kept for the error message. */
#define OUTPUT_MAX 1024

static const char *const kind_names[OCI_HOOK_NKINDS] = {
	[OCI_HOOK_PRESTART]	    = "prestart",
	[OCI_HOOK_CREATE_RUNTIME]   = "createRuntime",
	[OCI_HOOK_CREATE_CONTAINER] = "createContainer",
	[OCI_HOOK_START_CONTAINER]  = "startContainer",
	[OCI_HOOK_POSTSTART]	    = "poststart",
	[OCI_HOOK_POSTSTOP]	    = "poststop",
};

const char *oci_hook_kind_name(enum oci_hook_kind kind)
{
	return kind_names[kind];
}

/* The child: stdin from in, stdout and stderr to out, nothing else open. */
static void __attribute__((noreturn)) hook_child(const struct oci_hook *h, int in, int out)
{
	char *argv0[] = {h->path, NULL};
	char *envp0[] = {NULL};
	sigset_t none;

	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	syscall(SYS_close_range, 3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(h->path, h->n_args ? h->args : argv0, h->env ? h->env : envp0);
	dprintf(1, "exec `%s`: %s", h->path, strerror(errno));
	_exit(127);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Collects the hook's output until the hook exits (pidfd readable; a process it left
 * behind may keep the pipe open) or the deadline (0: none) passes; false on timeout. */
static bool collect_output(int fd, int pidfd, uint64_t deadline, char *buf, size_t *len)
{
	char scratch[512];
	bool exited = false, eof = false;

	while (!eof) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
		int tmo = deadline ? (int)(deadline > now_ms() ? deadline - now_ms() : 0) : -1;
		ssize_t r;

		if (exited)
			tmo = 0; /* only what is already written */
		r = poll(p, pidfd >= 0 && !exited ? 2 : 1, tmo);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return exited;
		exited |= pidfd >= 0 && p[1].revents != 0;
		if (!p[0].revents)
			continue;
		r = read(fd, scratch, sizeof(scratch));
		if (r < 0 && errno == EINTR)
			continue;
		eof = r <= 0;
		if (r > 0 && *len < OUTPUT_MAX) {
			size_t n = MIN((size_t)r, OUTPUT_MAX - *len);

			memcpy(buf + *len, scratch, n);
			*len += n;
		}
	}
	return true;
}

static int run_hook(const struct oci_hook *h, const char *kind, const char *state,
		    struct cv_err **err)
{
	int in[2], out[2], status = 0, pidfd;
	char output[OUTPUT_MAX + 1];
	size_t len = 0;
	uint64_t deadline = h->timeout > 0 ? now_ms() + (uint64_t)h->timeout * 1000 : 0;
	bool timed_out;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return cv_err_set(err, errno, "%s hook: pipe", kind);
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return cv_err_set(err, errno, "%s hook: pipe", kind);
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		hook_child(h, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return cv_err_set(err, errno, "%s hook `%s`: fork", kind, h->path);
	}
	/* The state is far smaller than a pipe: this never blocks, even if it is not read. */
	if (write(in[1], state, strlen(state)) < 0 && errno != EPIPE)
		log_debug("%s hook `%s`: writing the state: %s", kind, h->path, strerror(errno));
	close(in[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	timed_out = !collect_output(out[0], pidfd, deadline, output, &len);
	close(out[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (len && (output[len - 1] == '\n' || output[len - 1] == ' '))
		len--;
	output[len] = 0;
	if (timed_out)
		return cv_err_set(err, 0, "%s hook `%s` did not finish within %d s", kind, h->path,
				  h->timeout);
	if (WIFSIGNALED(status))
		return cv_err_set(err, 0, "%s hook `%s` was killed by signal %d%s%s", kind, h->path,
				  WTERMSIG(status), len ? ": " : "", output);
	if (WEXITSTATUS(status))
		return cv_err_set(err, 0, "%s hook `%s` failed with exit status %d%s%s", kind,
				  h->path, WEXITSTATUS(status), len ? ": " : "", output);
	return 0;
}

int oci_hooks_run(const struct oci_spec *s, enum oci_hook_kind kind, const char *state_json,
		  struct cv_err **err)
{
	const struct oci_hook_list *l = &s->hooks[kind];
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	int r = 0;

	if (!l->n)
		return 0;
	sigaction(SIGPIPE, &ign, &old);
	for (size_t i = 0; i < l->n && r == 0; i++) {
		log_debug("running %s hook `%s`", kind_names[kind], l->hooks[i].path);
		r = run_hook(&l->hooks[i], kind_names[kind], state_json, err);
	}
	sigaction(SIGPIPE, &old, NULL);
	return r;
}
