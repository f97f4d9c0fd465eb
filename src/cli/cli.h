/*
 * Private interfaces of the command line (src/cli): global options, the option parser, the
 * command table, and the container operations several verbs share.
 *
 * Every cmd_* function takes argv with argv[0] = the verb, returns the process exit status
 * (>= 0) on success, or a negative value with *err set; main() reports the error once, to
 * stderr and to the --log file.
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "cvisor/sandbox.h"
#include "cvisor/state.h"

struct cv_err;
struct platform_ops;

#ifndef CV_VERSION
#define CV_VERSION "0.1.0"
#endif

/* Exit status of an unknown command, as runc's (urfave/cli) */
#define CLI_EXIT_UNKNOWN_COMMAND 3

struct cli_global {
	const char *root; /* absolute: points into root_buf */
	char root_buf[PATH_MAX];
	const char *log_path;
	enum log_format log_format;
	int log_fd; /* --log file, or -1 */
	const char *debug_log;
	bool debug;
	const struct platform_ops *platform; /* --platform, or NULL for the default */
	enum network_mode network;
	bool strace;
	bool no_syscall_patching; /* systrap: trap every syscall, never rewrite the site */
	bool systemd_cgroup;
	const char *rootless; /* "true", "false" or "auto": accepted, not used yet */
	bool help, version;
};

/* ---- options (options.c) ---- */

enum cli_opt_type {
	CLI_OPT_BOOL,   /* --x, --x=true|false */
	CLI_OPT_STRING, /* --x VALUE, --x=VALUE */
	CLI_OPT_INT,    /* --x N */
	CLI_OPT_LIST,   /* --x V, repeatable: appended to a struct cli_list */
};

/* The values of a repeatable option, in order. */
struct cli_list {
	const char **v;
	size_t n;
};

struct cli_opt {
	const char *name;  /* long name, without dashes */
	char short_name;   /* or 0 */
	enum cli_opt_type type;
	void *value;       /* bool *, const char **, int * or struct cli_list *; NULL: ignored */
	const char *arg;   /* value placeholder in help ("DIR"), or NULL */
	const char *help;  /* NULL: accepted but not listed (compatibility) */
};
#define CLI_OPT_END { NULL, 0, CLI_OPT_BOOL, NULL, NULL, NULL }

/* Returned by cli_parse_opts() when -h/--help was given. */
#define CLI_HELP (-1000)

/*
 * Parses the options that follow argv[0], Go `flag` style: `-x` and `--x` are the same, and
 * parsing stops at the first argument that is not an option, or after `--`.  Returns the
 * index of the first positional argument, CLI_HELP, or a negative value with *err set.
 */
int cli_parse_opts(const struct cli_opt *opts, int argc, char **argv, struct cv_err **err);

/* Prints one line per listed option. */
void cli_print_opts(FILE *f, const struct cli_opt *opts);

/* Rewrites *err, a usage error, into "<verb>: <msg> (see `cvisor <verb> --help`)"; verb NULL
 * for the global options.  Returns -EINVAL. */
int cli_usage_error(struct cv_err **err, const char *verb);

/* Prints a verb's help: usage line, description, options. */
void cli_print_usage(FILE *f, const char *verb, const char *synopsis, const char *description,
		     const struct cli_opt *opts);

/*
 * Parses a verb's options and checks the positional count is in [min, max] (max < 0: no
 * limit).  *pos gets the index of the first positional.  Returns 1 after printing help, 0, or a
 * negative value with *err set.
 */
int cli_parse_verb(const struct cli_opt *opts, int argc, char **argv, const char *synopsis,
		   const char *description, int min, int max, int *pos, struct cv_err **err);

/* ---- commands (commands.c, cmd_*.c) ---- */

typedef int cli_cmd_fn(struct cli_global *g, int argc, char **argv, struct cv_err **err);

struct cli_command {
	const char *name;
	const char *summary;
	cli_cmd_fn *run;
};

const struct cli_command *cli_find_command(const char *name);
void cli_print_main_help(FILE *f);
void cli_print_version(FILE *f);

cli_cmd_fn cmd_platforms;
cli_cmd_fn cmd_create, cmd_delete, cmd_events, cmd_exec, cmd_features, cmd_help, cmd_install,
	cmd_kill, cmd_list, cmd_pause, cmd_ps, cmd_resume, cmd_run, cmd_spec, cmd_start, cmd_state,
	cmd_uninstall, cmd_unimplemented, cmd_update;

/* ---- global options and error reporting (global.c) ---- */

/* Parses the global options before the verb; returns the verb's index (argc when none). */
int cli_parse_global(struct cli_global *g, int argc, char **argv, struct cv_err **err);
/* Prints the global options, for the main help. */
void cli_print_global_options(FILE *f);
/* Opens --log/--debug-log and points the logger at them.  A --debug-log ending in '/' is a
 * directory (runsc's convention) that gets one file per invocation, named after verb. */
int cli_setup_logging(struct cli_global *g, const char *verb, struct cv_err **err);
/* Prints "cvisor: msg" to stderr and logs it as an error to the log file(s). */
void cli_report_error(const struct cli_global *g, const char *msg);
/* --platform, else the host's default. */
int cli_resolve_platform(const struct cli_global *g, const struct platform_ops **out,
			 struct cv_err **err);
/* Fails clearly when --systemd-cgroup was given (see global.c for why). */
int cli_check_systemd_cgroup(const struct cli_global *g, struct cv_err **err);

/* ---- container operations (container_create.c, container.c) ---- */

struct create_opts {
	const char *id;
	const char *bundle;         /* NULL: the current directory */
	const char *pid_file;       /* or NULL */
	const char *console_socket; /* or NULL */
	bool detach;                /* false only for `run` in the foreground */
	int preserve_fds;
};

/*
 * Creates a container: loads the bundle, records the state, forks the sandbox (it waits for
 * `start`), writes the pid file.  On success *out is the saved state, still locked
 * exclusively; on failure nothing is left behind (no state directory, no process).
 */
int cli_create_container(const struct cli_global *g, const struct create_opts *o,
			 struct cv_state **out, struct cv_err **err);

/* Starts a created container (st locked exclusively).  A failed start kills the sandbox, so
 * the container ends stopped, as a runc container whose init failed to exec. */
int cli_start_container(struct cv_state *st, struct cv_err **err);

/* Sends sig to the container's init (or every process with all).  When the sandbox does not
 * answer but lives, SIGKILL is delivered to the sandbox process itself. */
int cli_signal_container(const struct cv_state *st, int sig, bool all, struct cv_err **err);

/*
 * Makes sure the sandbox process is gone: waits up to grace_ms for it to exit by itself, then
 * sends SIGKILL and waits for it to die.  Never touches a process whose start time differs
 * from the record's (a reused pid).
 */
int cli_stop_sandbox(const struct cv_state *st, int grace_ms, struct cv_err **err);

/* Stops the sandbox (if needed) and removes the state directory; st locked exclusively. */
int cli_destroy_container(struct cv_state *st, int grace_ms, struct cv_err **err);

/* The container's config.json as `create` saw it (the copy in its state directory, else the
 * bundle's). */
int cli_load_spec(const struct cv_state *st, struct oci_spec **out, struct cv_err **err);

/* The runtime spec's State of st with `status`, as hooks get it on stdin (malloc'd). */
char *cli_hook_state(const struct cv_state *st, const char *status);

/* Writes "<pid>" (no newline, like runc) to path atomically. */
int cli_write_pid_file(const char *path, pid_t pid, struct cv_err **err);

/* Parses a signal name with or without SIG, in any case ("KILL", "SIGKILL", "term"), or a
 * number in 1..64. */
int cli_parse_signal(const char *s, int *sig, struct cv_err **err);

/* The OCI state of st as `state` and `list` print it, runc's fields in runc's order (pid 0 once
 * stopped, annotations only when there are some).  Returns a new reference. */
struct json_t *cli_state_json(const struct cv_state *st, enum cv_status status);

/* Allocation that aborts on failure: allowed in cli/oci only (STYLE.md 2.5). */
static inline void *cli_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}
static inline char *cli_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static inline void cli_spec_freep(struct oci_spec **s)
{
	oci_spec_free(*s);
}
static inline void cli_state_freep(struct cv_state **s)
{
	state_free(*s);
}
#define _cleanup_spec_ __attribute__((cleanup(cli_spec_freep)))
#define _cleanup_state_ __attribute__((cleanup(cli_state_freep)))

#endif
