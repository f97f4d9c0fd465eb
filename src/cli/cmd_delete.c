/* `cvisor delete`: removes a container's state and, when it must, its sandbox. */
#include <errno.h>

#include "cli.h"
#include "cvisor/err.h"

/* A sandbox that reports "stopped" but still exists is finishing: give it this long to exit by
 * itself, so its exit status (the init's) reaches its parent, before it is killed. */
#define STOPPED_GRACE_MS 1000

int cmd_delete(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	bool force = false;
	const struct cli_opt opts[] = {
		{ "force", 'f', CLI_OPT_BOOL, &force, NULL,
		  "kill the container first if it is running" },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	enum cv_status s;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Deletes a stopped or created container (with --force, any container).",
			   1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = state_load(g->root, argv[pos], STATE_LOCK_EXCLUSIVE, &st, err);
	if (r == -ENOENT && force) {
		/* runc: deleting what is not there is fine when forced (containerd cleans up so) */
		cv_err_free(err);
		return 0;
	}
	if (r < 0)
		return r;
	s = state_status(st);
	/* like runc, a created container is deleted without --force: its init never ran */
	if ((s == CV_STATUS_RUNNING || s == CV_STATUS_PAUSED) && !force)
		return cv_err_set(err, 0, "cannot delete container `%s` that is not stopped: %s",
				  st->id, state_status_name(s));
	return cli_destroy_container(st, s == CV_STATUS_STOPPED ? STOPPED_GRACE_MS : 0, err);
}
