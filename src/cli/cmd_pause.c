/* `cvisor pause` and `cvisor resume`: every task of the container frozen, or thawed. */
#include "cli.h"
#include "cvisor/err.h"

static int pause_or_resume(struct cli_global *g, int argc, char **argv, bool pause,
			   struct cv_err **err)
{
	const struct cli_opt opts[] = { CLI_OPT_END };
	_cleanup_state_ struct cv_state *st = NULL;
	enum cv_status s;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   pause ? "Suspends every process of a running container: each stops at its\n"
				   "next return to application code, blocked calls are interrupted\n"
				   "and restarted on resume."
				 : "Resumes a paused container.",
			   1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (state_load(g->root, argv[pos], STATE_LOCK_EXCLUSIVE, &st, err) < 0)
		return -1;
	s = state_status(st);
	if (pause && s != CV_STATUS_RUNNING)
		return cv_err_set(err, 0, "cannot pause container `%s`: it is %s", st->id,
				  state_status_name(s));
	if (!pause && s != CV_STATUS_PAUSED)
		return cv_err_set(err, 0, "cannot resume container `%s`: it is %s, not paused",
				  st->id, state_status_name(s));
	r = sandbox_request(st->dir, pause ? "{\"cmd\":\"pause\"}" : "{\"cmd\":\"resume\"}", NULL,
			    err);
	if (r < 0 && !*err)
		cv_err_set(err, -r, "container `%s`: the sandbox does not answer", st->id);
	return r < 0 ? -1 : 0;
}

int cmd_pause(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	return pause_or_resume(g, argc, argv, true, err);
}

int cmd_resume(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	return pause_or_resume(g, argc, argv, false, err);
}
