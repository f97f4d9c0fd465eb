/* `cvisor create`: sets a container up, its sandbox waiting for `start`. */
#include "cli.h"
#include "cvisor/err.h"

int cmd_create(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	struct create_opts o = { .detach = true };
	const struct cli_opt opts[] = {
		{ "bundle", 'b', CLI_OPT_STRING, &o.bundle, "DIR",
		  "the bundle (default: the current directory)" },
		{ "pid-file", 0, CLI_OPT_STRING, &o.pid_file, "FILE",
		  "write the sandbox's pid to FILE" },
		{ "console-socket", 0, CLI_OPT_STRING, &o.console_socket, "PATH",
		  "unix socket that receives the pty master (process.terminal)" },
		{ "preserve-fds", 0, CLI_OPT_INT, &o.preserve_fds, NULL, NULL },
		{ "no-pivot", 0, CLI_OPT_BOOL, NULL, NULL, NULL },
		{ "no-new-keyring", 0, CLI_OPT_BOOL, NULL, NULL, NULL },
		CLI_OPT_END,
	};
	struct cv_state *st = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Creates the container: its sandbox is set up and waits for `start`.\n"
			   "The sandbox is the process the pid file names; it exits with the\n"
			   "status of the container's init.",
			   1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	o.id = argv[pos];
	if (cli_create_container(g, &o, &st, err) < 0)
		return -1;
	state_free(st);
	return 0;
}
