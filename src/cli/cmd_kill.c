/* `cvisor kill`: sends a signal to the container's init, or to all its processes. */
#include <signal.h>

#include "cli.h"
#include "cvisor/err.h"

int cmd_kill(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	bool all = false;
	const struct cli_opt opts[] = {
		{ "all", 'a', CLI_OPT_BOOL, &all, NULL,
		  "send the signal to every process of the container" },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	int pos, r, sig = SIGTERM;

	r = cli_parse_verb(opts, argc, argv, "<container-id> [signal]",
			   "Sends a signal (default SIGTERM) to the container's init: a name with\n"
			   "or without SIG (KILL, SIGUSR1, term) or a number (9).",
			   1, 2, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (pos + 1 < argc && cli_parse_signal(argv[pos + 1], &sig, err) < 0)
		return -1;
	if (state_load(g->root, argv[pos], STATE_LOCK_SHARED, &st, err) < 0)
		return -1;
	if (state_status(st) == CV_STATUS_STOPPED)
		return cv_err_set(err, 0, "container `%s` is not running", st->id);
	return cli_signal_container(st, sig, all, err);
}
