/* cvisor: the runc-compatible command line.  Parses the global options, runs one verb, and
 * reports its error once. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cvisor/err.h"

static int fail(const struct cli_global *g, struct cv_err *err)
{
	int status = err ? err->status : 1;

	cli_report_error(g, err && err->msg ? err->msg : "unknown error");
	cv_err_free(&err);
	return status ? status : 1;
}

int main(int argc, char **argv)
{
	struct cli_global g = { .rootless = "auto", .log_fd = -1 };
	const struct cli_command *cmd;
	struct cv_err *err = NULL;
	int first, r;

	first = cli_parse_global(&g, argc, argv, &err);
	if (first < 0)
		return fail(&g, err);
	if (g.version) {
		cli_print_version(stdout);
		return 0;
	}
	if (g.help || first >= argc) {
		cli_print_main_help(stdout);
		return 0;
	}
	cmd = cli_find_command(argv[first]);
	if (cli_setup_logging(&g, cmd ? cmd->name : "cvisor", &err) < 0)
		return fail(&g, err);
	if (!cmd) {
		cv_err_set(&err, 0, "unknown command `%s` (see `cvisor --help`)", argv[first]);
		if (err)
			err->status = CLI_EXIT_UNKNOWN_COMMAND;
		return fail(&g, err);
	}
	r = cmd->run(&g, argc - first, argv + first, &err);
	if (r < 0)
		return fail(&g, err);
	return r;
}
