/* Operations on an existing container shared by several verbs: start, signal, stop, destroy,
 * signal names, and its OCI state as JSON. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"

/* How long a SIGKILLed sandbox may take to disappear before delete gives up. */
#define KILL_WAIT_MS 10000
/* How long a sandbox that refused `start` gets to exit on its own before it is killed. */
#define START_FAIL_GRACE_MS 1000

/* Makes sure the error of a failed request r is set, with the container named. */
static int request_error(const struct cv_state *st, int r, const char *what, struct cv_err **err)
{
	if (!*err)
		cv_err_set(err, r < -1 ? -r : 0, "%s `%s`: the sandbox does not answer", what,
			   st->id);
	else
		cv_err_wrap(err, "%s `%s`", what, st->id);
	return r;
}

static int request(const struct cv_state *st, const char *req, const char *what,
		   struct cv_err **err)
{
	int r = sandbox_request(st->dir, req, NULL, err);

	return r < 0 ? request_error(st, r, what, err) : 0;
}

int cli_load_spec(const struct cv_state *st, struct oci_spec **out, struct cv_err **err)
{
	_cleanup_free_ char *copy = NULL;

	if (asprintf(&copy, "%s/config.json", st->dir) < 0)
		abort();
	return oci_spec_load(access(copy, F_OK) == 0 ? st->dir : st->bundle, out, err);
}

/* Runs the hooks of `kind` with the container in `status`; a failure is only logged when
 * `warn_only` (poststart, poststop: the runtime spec says so). */
static int run_hooks(const struct cv_state *st, enum oci_hook_kind kind, const char *status,
		     bool warn_only, struct cv_err **err)
{
	_cleanup_spec_ struct oci_spec *spec = NULL;
	_cleanup_free_ char *state = NULL;
	struct cv_err *e = NULL;
	int r;

	if (cli_load_spec(st, &spec, &e) < 0) {
		log_warn("container `%s`: cannot run the %s hooks: %s", st->id,
			 oci_hook_kind_name(kind), e->msg);
		cv_err_free(&e);
		return 0;
	}
	if (!spec->hooks[kind].n)
		return 0;
	state = cli_hook_state(st, status);
	r = oci_hooks_run(spec, kind, state, warn_only ? &e : err);
	if (r < 0 && warn_only) {
		log_warn("container `%s`: %s", st->id, e->msg);
		cv_err_free(&e);
		return 0;
	}
	return r;
}

int cli_start_container(struct cv_state *st, struct cv_err **err)
{
	enum cv_status s = state_status(st);
	int r;

	if (s == CV_STATUS_STOPPED)
		return cv_err_set(err, 0, "cannot start container `%s`: it has stopped", st->id);
	if (s != CV_STATUS_CREATED)
		return cv_err_set(err, 0, "cannot start container `%s`: it is already %s", st->id,
				  state_status_name(s));
	r = run_hooks(st, OCI_HOOK_START_CONTAINER, "created", false, err);
	if (r == 0)
		r = request(st, "{\"cmd\":\"start\"}", "starting container", err);
	if (r < 0) {
		/* Its init will never run: leave it stopped rather than forever "created".  A
		 * sandbox that exits by itself in time keeps its own exit status (127, ...). */
		cli_stop_sandbox(st, START_FAIL_GRACE_MS, NULL);
		return r;
	}
	st->started = true;
	r = state_save(st, err);
	if (r == 0)
		run_hooks(st, OCI_HOOK_POSTSTART, "running", true, NULL);
	return r;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal(int fd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

/* Waits up to ms for the process behind pidfd to exit; true when it did. */
static bool pidfd_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* Opens a pidfd on the sandbox, or returns -ESRCH when it is already gone (or its pid now
 * belongs to another process: the check runs after the pidfd pinned the process). */
static int open_sandbox(const struct cv_state *st, struct cv_err **err)
{
	int fd = pidfd_open(st->pid);

	if (fd < 0 && errno == ESRCH)
		return -ESRCH;
	if (fd < 0)
		return cv_err_set(err, errno, "pidfd_open(%d)", (int)st->pid);
	if (!state_sandbox_alive(st)) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

int cli_signal_container(const struct cv_state *st, int sig, bool all, struct cv_err **err)
{
	_cleanup_close_ int fd = -1;
	char req[80];
	int r;

	snprintf(req, sizeof(req), "{\"cmd\":\"kill\",\"signal\":%d,\"all\":%s}", sig,
		 all ? "true" : "false");
	r = sandbox_request(st->dir, req, NULL, err);
	if (r == 0)
		return 0;
	if ((r != -ECONNREFUSED && r != -ENOENT) || sig != SIGKILL)
		return request_error(st, r, "signalling container", err);
	/* A sandbox that no longer answers can still be killed, and SIGKILL means exactly that. */
	cv_err_free(err);
	fd = open_sandbox(st, err);
	if (fd == -ESRCH)
		return cv_err_set(err, 0, "container `%s` is not running", st->id);
	if (fd < 0)
		return fd;
	log_warn("container `%s`: the sandbox does not answer; killing pid %d", st->id,
		 (int)st->pid);
	if (pidfd_send_signal(fd, SIGKILL) < 0 && errno != ESRCH)
		return cv_err_set(err, errno, "killing sandbox pid %d", (int)st->pid);
	return 0;
}

int cli_stop_sandbox(const struct cv_state *st, int grace_ms, struct cv_err **err)
{
	_cleanup_close_ int fd = open_sandbox(st, err);

	if (fd == -ESRCH)
		return 0;
	if (fd < 0)
		return fd;
	if (grace_ms > 0 && pidfd_wait(fd, grace_ms))
		return 0;
	log_debug("container `%s`: killing sandbox pid %d", st->id, (int)st->pid);
	if (pidfd_send_signal(fd, SIGKILL) < 0 && errno != ESRCH)
		return cv_err_set(err, errno, "killing sandbox pid %d", (int)st->pid);
	if (!pidfd_wait(fd, KILL_WAIT_MS))
		return cv_err_set(err, 0, "sandbox pid %d of `%s` did not die within %d s of SIGKILL",
				  (int)st->pid, st->id, KILL_WAIT_MS / 1000);
	return 0;
}

int cli_destroy_container(struct cv_state *st, int grace_ms, struct cv_err **err)
{
	struct cv_err *e = NULL;

	if (cli_stop_sandbox(st, grace_ms, err) < 0)
		return -1;
	if (st->cgroup && cgroup_remove(st->cgroup, &e) < 0) {
		log_warn("container `%s`: %s", st->id, e->msg);
		cv_err_free(&e);
	}
	run_hooks(st, OCI_HOOK_POSTSTOP, "stopped", true, NULL);
	return state_remove(st, err);
}

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{ "HUP", SIGHUP },     { "INT", SIGINT },	{ "QUIT", SIGQUIT },   { "ILL", SIGILL },
	{ "TRAP", SIGTRAP },   { "ABRT", SIGABRT },	{ "IOT", SIGIOT },     { "BUS", SIGBUS },
	{ "FPE", SIGFPE },     { "KILL", SIGKILL },	{ "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 },   { "PIPE", SIGPIPE },	{ "ALRM", SIGALRM },   { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD },	{ "CLD", SIGCHLD },    { "CONT", SIGCONT },
	{ "STOP", SIGSTOP },   { "TSTP", SIGTSTP },	{ "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },
	{ "URG", SIGURG },     { "XCPU", SIGXCPU },	{ "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
	{ "PROF", SIGPROF },   { "WINCH", SIGWINCH },	{ "IO", SIGIO },       { "POLL", SIGPOLL },
	{ "PWR", SIGPWR },     { "SYS", SIGSYS },
};

int cli_parse_signal(const char *s, int *sig, struct cv_err **err)
{
	const char *name = strncasecmp(s, "SIG", 3) ? s : s + 3;
	char *end;
	long n;

	if (*s >= '0' && *s <= '9') {
		n = strtol(s, &end, 10);
		if (*end || n < 1 || n > 64)
			return cv_err_set(err, 0, "invalid signal `%s`: numbers go from 1 to 64", s);
		*sig = (int)n;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++) {
		if (!strcasecmp(signal_names[i].name, name)) {
			*sig = signal_names[i].sig;
			return 0;
		}
	}
	return cv_err_set(err, 0, "unknown signal `%s`", s);
}

struct json_t *cli_state_json(const struct cv_state *st, enum cv_status status)
{
	json_t *j, *ann;

	/* runc reports pid 0 once the container has stopped */
	j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "ociVersion", CV_OCI_VERSION, "id", st->id,
		      "pid", (json_int_t)(status == CV_STATUS_STOPPED ? 0 : st->pid), "status",
		      state_status_name(status), "bundle", st->bundle, "rootfs", st->rootfs,
		      "created", st->created);
	if (!j)
		abort();
	if (st->n_annotations) {
		ann = json_object();
		for (size_t i = 0; i < st->n_annotations; i++)
			json_object_set_new(ann, st->annotation_keys[i],
					    json_string(st->annotation_values[i]));
		json_object_set_new(j, "annotations", ann);
	}
	json_object_set_new(j, "owner", json_string(st->owner));
	return j;
}
