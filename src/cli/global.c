/* Global options (before the verb), the log files, and how a failure is reported. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/platform.h"

static int parse_platform(struct cli_global *g, const char *name, struct cv_err **err)
{
	const struct platform_ops *const *all = platform_list();
	char known[128] = "";
	size_t n = 0;

	g->platform = platform_lookup(name);
	if (g->platform)
		return 0;
	for (size_t i = 0; all && all[i] && n < sizeof(known); i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
				      all[i]->name);
	return cv_err_set(err, 0, "unknown platform `%s` (known: %s)", name, known);
}

static int parse_choices(struct cli_global *g, const char *log_format, const char *network,
			 const char *platform, struct cv_err **err)
{
	if (!strcmp(log_format, "text"))
		g->log_format = LOG_FORMAT_TEXT;
	else if (!strcmp(log_format, "json"))
		g->log_format = LOG_FORMAT_JSON;
	else
		return cv_err_set(err, 0, "invalid --log-format `%s`: expected text or json",
				  log_format);
	if (!strcmp(network, "sandbox"))
		g->network = NETWORK_SANDBOX;
	else if (!strcmp(network, "none"))
		g->network = NETWORK_NONE;
	else if (!strcmp(network, "host"))
		g->network = NETWORK_HOST;
	else
		return cv_err_set(err, 0, "invalid --network `%s`: expected none, host or sandbox",
				  network);
	if (strcmp(g->rootless, "true") && strcmp(g->rootless, "false") &&
	    strcmp(g->rootless, "auto"))
		return cv_err_set(err, 0, "invalid --rootless `%s`: expected true, false or auto",
				  g->rootless);
	return platform ? parse_platform(g, platform, err) : 0;
}

struct global_values {
	const char *root, *log_format, *network, *platform;
};

#define GLOBAL_NOPTS 16

/* The global option table, bound to g and v. */
static void global_opts(struct cli_global *g, struct global_values *v,
			struct cli_opt out[GLOBAL_NOPTS])
{
	const struct cli_opt opts[] = {
		{ "root", 0, CLI_OPT_STRING, &v->root, "DIR",
		  "where container state is kept (default " CV_DEFAULT_ROOT ")" },
		{ "log", 0, CLI_OPT_STRING, &g->log_path, "FILE", "also log to FILE" },
		{ "log-format", 0, CLI_OPT_STRING, &v->log_format, "FORMAT",
		  "text (default) or json" },
		{ "debug", 0, CLI_OPT_BOOL, &g->debug, NULL, "log debug messages" },
		{ "debug-log", 0, CLI_OPT_STRING, &g->debug_log, "FILE",
		  "log to FILE (a directory if it ends in /) instead of --log or stderr" },
		{ "platform", 0, CLI_OPT_STRING, &v->platform, "NAME",
		  "ptrace, systrap or kvm (default: the first that works here, never kvm)" },
		{ "network", 0, CLI_OPT_STRING, &v->network, "MODE",
		  "sandbox (default: the container's namespace), host or none" },
		{ "strace", 0, CLI_OPT_BOOL, &g->strace, NULL, "print every guest system call" },
		{ "no-syscall-patching", 0, CLI_OPT_BOOL, &g->no_syscall_patching, NULL,
		  "systrap: never rewrite `mov $nr,%eax; syscall` sites into direct jumps" },
		{ "systemd-cgroup", 0, CLI_OPT_BOOL, &g->systemd_cgroup, NULL,
		  "use systemd for cgroups (not supported yet)" },
		{ "rootless", 0, CLI_OPT_STRING, &g->rootless, "MODE",
		  "true, false or auto (accepted for runc compatibility)" },
		{ "criu", 0, CLI_OPT_STRING, NULL, NULL, NULL }, /* runc's; no checkpointing here */
		{ "version", 'v', CLI_OPT_BOOL, &g->version, NULL, "print the version" },
		CLI_OPT_END,
	};

	STATIC_ASSERT(ARRAY_SIZE(opts) <= GLOBAL_NOPTS);
	memcpy(out, opts, sizeof(opts));
}

void cli_print_global_options(FILE *f)
{
	struct cli_global g = { 0 };
	struct global_values v = { 0 };
	struct cli_opt opts[GLOBAL_NOPTS];

	global_opts(&g, &v, opts);
	cli_print_opts(f, opts);
}

/* --root made absolute (the sandbox is handed paths under it); by default /run/cvisor, or for
 * an unprivileged user $XDG_RUNTIME_DIR/cvisor, as runc does. */
static int resolve_root(struct cli_global *g, const char *given, struct cv_err **err)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	size_t size = sizeof(g->root_buf);
	char cwd[PATH_MAX];
	int n;

	if (!given && geteuid() != 0 && xdg && *xdg)
		n = snprintf(g->root_buf, size, "%s/cvisor", xdg);
	else if (!given)
		n = snprintf(g->root_buf, size, "%s", CV_DEFAULT_ROOT);
	else if (given[0] == '/')
		n = snprintf(g->root_buf, size, "%s", given);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(g->root_buf, size, "%s/%s", cwd, given);
	else
		return cv_err_set(err, errno, "--root `%s`: cannot make it absolute", given);
	if (n < 0 || (size_t)n >= size)
		return cv_err_set(err, ENAMETOOLONG, "--root `%s`", given);
	g->root = g->root_buf;
	return 0;
}

int cli_parse_global(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	struct global_values v = { .log_format = "text", .network = "sandbox" };
	struct cli_opt opts[GLOBAL_NOPTS];
	int first;

	global_opts(g, &v, opts);
	first = cli_parse_opts(opts, argc, argv, err);
	if (first == CLI_HELP) {
		g->help = true;
		return argc;
	}
	if (first < 0)
		return cli_usage_error(err, NULL);
	if (parse_choices(g, v.log_format, v.network, v.platform, err) < 0 ||
	    resolve_root(g, v.root, err) < 0)
		return -EINVAL;
	if (g->debug)
		cv_log_level = LOG_DEBUG;
	return first;
}

static int open_log(const char *path, struct cv_err **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return cv_err_set(err, errno, "opening log file `%s`", path);
	return fd;
}

static int open_debug_log(const char *path, const char *verb, struct cv_err **err)
{
	char file[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || path[n - 1] != '/')
		return open_log(path, err);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return cv_err_set(err, errno, "creating debug log directory `%s`", path);
	if ((size_t)snprintf(file, sizeof(file), "%scvisor.%d.%s.log", path, (int)getpid(),
			     verb) >= sizeof(file))
		return cv_err_set(err, ENAMETOOLONG, "--debug-log `%s`", path);
	return open_log(file, err);
}

int cli_setup_logging(struct cli_global *g, const char *verb, struct cv_err **err)
{
	int fd;

	if (g->log_path) {
		g->log_fd = open_log(g->log_path, err);
		if (g->log_fd < 0)
			return -1;
		log_set_output(g->log_fd, g->log_format);
	}
	if (g->debug_log) {
		fd = open_debug_log(g->debug_log, verb, err);
		if (fd < 0)
			return -1;
		log_set_output(fd, LOG_FORMAT_TEXT);
	}
	return 0;
}

void cli_report_error(const struct cli_global *g, const char *msg)
{
	int out = log_output_fd();
	enum log_format fmt = log_output_format();

	fprintf(stderr, "cvisor: %s\n", msg);
	if (out != STDERR_FILENO)
		log_err("%s", msg);
	/* containerd shows the last error line of --log: it gets the error even when messages
	 * go to --debug-log */
	if (g->log_fd >= 0 && g->log_fd != out) {
		log_set_output(g->log_fd, g->log_format);
		log_err("%s", msg);
		log_set_output(out, fmt);
	}
}

int cli_resolve_platform(const struct cli_global *g, const struct platform_ops **out,
			 struct cv_err **err)
{
	char why[256] = "";

	if (g->platform) {
		/* An explicit choice the host cannot run fails here, with the probe's reason. */
		if (g->platform->probe && g->platform->probe(why, sizeof(why)) < 0)
			return cv_err_set(err, 0, "platform `%s` is unusable here: %s", g->platform->name,
					  why[0] ? why : "its probe failed");
		*out = g->platform;
		return 0;
	}
	*out = platform_default(why, sizeof(why));
	if (!*out)
		return cv_err_set(err, 0, "no usable platform on this host: %s", why);
	return 0;
}

/*
 * containerd passes --systemd-cgroup when configured for systemd.  cvisor has no systemd
 * cgroup driver yet, and cgroupsPath then reads "slice:prefix:name", which would be misread as
 * a cgroupfs path: refuse, and say which of the two problems this host has.
 */
int cli_check_systemd_cgroup(const struct cli_global *g, struct cv_err **err)
{
	if (!g->systemd_cgroup)
		return 0;
	if (access("/run/systemd/system", F_OK) < 0)
		return cv_err_set(err, 0, "--systemd-cgroup: systemd is not running on this host "
					  "(no /run/systemd/system); configure the engine for "
					  "cgroupfs");
	return cv_err_set(err, 0, "--systemd-cgroup: the systemd cgroup driver is not supported "
				  "yet; configure the engine for cgroupfs");
}
