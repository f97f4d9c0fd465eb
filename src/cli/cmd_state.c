/* `cvisor state`: the OCI state of one container, laid out as runc prints it. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

int cmd_state(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const struct cli_opt opts[] = { CLI_OPT_END };
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Prints the OCI state of a container as JSON.", 1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (state_load(g->root, argv[pos], STATE_LOCK_SHARED, &st, err) < 0)
		return -1;
	j = cli_state_json(st, state_status(st));
	text = oci_json_format(j, "  ");
	/* no final newline: runc prints none, and scripts compare the output */
	fputs(text, stdout);
	return fflush(stdout) == 0 ? 0 : cv_err_set(err, errno, "writing the state");
}
