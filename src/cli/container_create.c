/* Creating a container (`create`, and the first half of `run`). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"

/* runc's rules: a detached container with a terminal needs somewhere to send the pty master,
 * and a console socket is only used by a detached container with a terminal. */
static int check_terminal(const struct oci_spec *s, const struct create_opts *o,
			  struct cv_err **err)
{
	if (o->detach && s->process.terminal && !o->console_socket)
		return cv_err_set(err, 0, "process.terminal is true: a detached container needs "
					  "--console-socket to hand the terminal to");
	if ((!o->detach || !s->process.terminal) && o->console_socket)
		return cv_err_set(err, 0, "--console-socket needs a detached container with "
					  "process.terminal set to true");
	if (o->preserve_fds > 0)
		return cv_err_set(err, 0, "--preserve-fds is not supported yet");
	return 0;
}

static int resolve_rootfs(const char *bundle, const struct oci_spec *spec, char **rootfs,
			  struct cv_err **err)
{
	_cleanup_free_ char *root = NULL;
	struct stat st;

	if (spec->root_path[0] == '/')
		root = cli_xstrdup(spec->root_path);
	else if (asprintf(&root, "%s/%s", bundle, spec->root_path) < 0)
		abort();
	*rootfs = realpath(root, NULL);
	if (!*rootfs)
		return cv_err_set(err, errno, "rootfs `%s` (root.path in config.json)", root);
	if (stat(*rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return cv_err_set(err, ENOTDIR, "rootfs `%s` (root.path in config.json)", root);
	return 0;
}

static int connect_console(const char *path, struct cv_err **err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(addr.sun_path))
		return cv_err_set(err, ENAMETOOLONG, "console socket `%s`", path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "console socket `%s`", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return cv_err_set(err, errno, "connecting to console socket `%s`", path);
	return take_fd(&fd);
}

int cli_write_pid_file(const char *path, pid_t pid, struct cv_err **err)
{
	_cleanup_free_ char *dir = cli_xstrdup(path), *base = cli_xstrdup(path), *tmp = NULL;
	_cleanup_close_ int fd = -1;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

	/* a temporary file beside it, renamed over it: readers never see a partial pid */
	if (asprintf(&tmp, "%s/.%s.%d.tmp", dirname(dir), basename(base), (int)getpid()) < 0)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cv_err_set(err, errno, "writing pid file `%s`", tmp);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return cv_err_set(err, e, "writing pid file `%s`", path);
	}
	return 0;
}

/* Kills and reaps a sandbox this process forked, after a failure later in create. */
static void abort_sandbox(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void copy_annotations(struct cv_state *st, const struct oci_spec *spec)
{
	st->annotation_keys = cli_xcalloc(spec->n_annotations + 1, sizeof(char *));
	st->annotation_values = cli_xcalloc(spec->n_annotations + 1, sizeof(char *));
	for (size_t i = 0; i < spec->n_annotations; i++) {
		st->annotation_keys[i] = cli_xstrdup(spec->annotation_keys[i]);
		st->annotation_values[i] = cli_xstrdup(spec->annotation_values[i]);
	}
	st->n_annotations = spec->n_annotations;
}

/* Forks the sandbox and records it; on failure the sandbox is gone again. */
static int spawn(const struct cli_global *g, const struct create_opts *o,
		 const struct oci_spec *spec, const struct platform_ops *platform, int console,
		 struct cv_state *st, struct cv_err **err)
{
	struct sandbox_config cfg = {
		.id		   = st->id,
		.bundle		   = st->bundle,
		.state_dir	   = st->dir,
		.spec		   = spec,
		.platform	   = platform,
		.network	   = g->network,
		.strace		   = g->strace,
		.no_syscall_patching = g->no_syscall_patching,
		.debug		   = g->debug,
		.foreground	   = !o->detach,
		.console_socket_fd = console,
		.rootless	   = !strcmp(g->rootless, "true") ||
			   (!strcmp(g->rootless, "auto") && geteuid() != 0),
		.cgroup		   = st->cgroup,
	};
	pid_t pid = -1;
	int r;

	r = sandbox_create(&cfg, &pid, err);
	if (r < 0 && !*err)
		return cv_err_set(err, r < -1 ? -r : 0, "creating sandbox for `%s`", st->id);
	if (r < 0)
		return cv_err_wrap(err, "creating sandbox for `%s`", st->id);
	if (pid <= 0)
		return cv_err_set(err, 0, "creating sandbox for `%s`: no pid returned", st->id);
	log_debug("container `%s`: sandbox pid %d", st->id, (int)pid);
	st->pid = pid;
	r = state_proc_stat(pid, NULL, &st->pid_start_time);
	if (r < 0)
		cv_err_set(err, -r, "reading /proc/%d/stat of the new sandbox", (int)pid);
	if (r == 0)
		r = state_save(st, err);
	if (r == 0 && o->pid_file)
		r = cli_write_pid_file(o->pid_file, pid, err);
	if (r < 0)
		abort_sandbox(pid);
	return r;
}

/* Does the spec ask for a cgroup (a path or a limit)?  Without either, the sandbox stays in
 * the caller's cgroups, so that running cvisor by hand changes nothing there. */
static bool wants_cgroup(const struct oci_spec *spec)
{
	const struct oci_resources *r = &spec->resources;

	return (spec->cgroups_path && *spec->cgroups_path) || r->memory_limit > 0 ||
	       r->memory_reservation > 0 || r->pids_limit > 0 || r->cpu_shares || r->cpu_quota > 0 ||
	       r->cpu_period || (r->cpuset_cpus && *r->cpuset_cpus) ||
	       (r->cpuset_mems && *r->cpuset_mems);
}

/* The sandbox process's cgroup, or none: an unprivileged caller without limits to apply
 * cannot have one and does not need one. */
static void choose_cgroup(const struct oci_spec *spec, struct cv_state *st)
{
	if (!wants_cgroup(spec) || !cgroup_version())
		return;
	if (geteuid() != 0 && !spec->resources.memory_limit && !spec->resources.pids_limit) {
		log_debug("container `%s`: not root: no cgroup", st->id);
		return;
	}
	st->cgroup = cgroup_resolve(spec->cgroups_path, st->id);
	if (!st->cgroup)
		abort();
}

/* The state given to hooks: the runtime spec's State (runc's fields and order). */
char *cli_hook_state(const struct cv_state *st, const char *status)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:s}", "ociVersion", CV_OCI_VERSION, "id", st->id,
			      "status", status, "pid", (json_int_t)st->pid, "bundle", st->bundle);
	char *text;

	if (!j)
		abort();
	if (st->n_annotations) {
		json_t *ann = json_object();

		for (size_t i = 0; i < st->n_annotations; i++)
			json_object_set_new(ann, st->annotation_keys[i],
					    json_string(st->annotation_values[i]));
		json_object_set_new(j, "annotations", ann);
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		abort();
	return text;
}

/* createRuntime hooks (and the legacy prestart, which runc runs at the same point), then
 * createContainer: the sandbox exists, its namespaces (Docker's network) are set up. */
static int create_hooks(const struct oci_spec *spec, const struct cv_state *st,
			struct cv_err **err)
{
	static const enum oci_hook_kind kinds[] = {OCI_HOOK_PRESTART, OCI_HOOK_CREATE_RUNTIME,
						   OCI_HOOK_CREATE_CONTAINER};
	_cleanup_free_ char *state = cli_hook_state(st, "creating");

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (oci_hooks_run(spec, kinds[i], state, err) < 0)
			return -1;
	return 0;
}

/* A copy of config.json in the state directory: start, exec and delete read it there (the
 * bundle may change or go before the container does). */
static int save_config(const char *bundle, const char *dir, struct cv_err **err)
{
	_cleanup_free_ char *src = NULL, *dst = NULL;
	_cleanup_close_ int in = -1, out = -1;
	char buf[65536];
	ssize_t n;

	if (asprintf(&src, "%s/config.json", bundle) < 0 ||
	    asprintf(&dst, "%s/config.json", dir) < 0)
		abort();
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cv_err_set(err, errno, "reading `%s`", src);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return cv_err_set(err, errno, "writing `%s`", dst);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return cv_err_set(err, errno ? errno : EIO, "writing `%s`", dst);
	return n < 0 ? cv_err_set(err, errno, "reading `%s`", src) : 0;
}

int cli_create_container(const struct cli_global *g, const struct create_opts *o,
			 struct cv_state **out, struct cv_err **err)
{
	_cleanup_spec_ struct oci_spec *spec = NULL;
	_cleanup_free_ char *bundle = NULL, *rootfs = NULL;
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_close_ int console = -1;
	const struct platform_ops *platform;

	if (state_validate_id(o->id, err) < 0 || cli_check_systemd_cgroup(g, err) < 0 ||
	    cli_resolve_platform(g, &platform, err) < 0)
		return -1;
	bundle = realpath(o->bundle ? o->bundle : ".", NULL);
	if (!bundle)
		return cv_err_set(err, errno, "bundle `%s`", o->bundle ? o->bundle : ".");
	if (oci_spec_load(bundle, &spec, err) < 0 || check_terminal(spec, o, err) < 0 ||
	    resolve_rootfs(bundle, spec, &rootfs, err) < 0)
		return -1;
	if (state_create(g->root, o->id, &st, err) < 0)
		return -1;
	st->bundle = steal_ptr(&bundle);
	st->rootfs = steal_ptr(&rootfs);
	st->platform = cli_xstrdup(platform->name);
	copy_annotations(st, spec);
	choose_cgroup(spec, st);
	if (save_config(st->bundle, st->dir, err) < 0)
		goto fail;
	if (o->console_socket)
		console = connect_console(o->console_socket, err);
	if (console < 0 && o->console_socket)
		goto fail;
	if (spawn(g, o, spec, platform, console, st, err) < 0)
		goto fail;
	if (create_hooks(spec, st, err) < 0) {
		abort_sandbox(st->pid);
		goto fail;
	}
	*out = steal_ptr(&st);
	return 0;
fail:
	if (st->cgroup)
		cgroup_remove(st->cgroup, NULL);
	state_remove(st, NULL);
	return -1;
}
