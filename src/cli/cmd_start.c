/* `cvisor start`: runs the user process of a created container. */
#include "cli.h"
#include "cvisor/err.h"

int cmd_start(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const struct cli_opt opts[] = { CLI_OPT_END };
	_cleanup_state_ struct cv_state *st = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Runs the user process of a created container.", 1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (state_load(g->root, argv[pos], STATE_LOCK_EXCLUSIVE, &st, err) < 0)
		return -1;
	return cli_start_container(st, err);
}
