/*
 * `cvisor events`: the container's resource usage as runc prints it, one JSON object per line
 * ({"type":"stats","id":...,"data":{cpu, memory, pids, ...}}), from the sandbox's cgroup:
 * once with --stats, else every --interval until the container stops.  Without a cgroup
 * (a container created with no cgroupsPath and no limits), only the number of processes is
 * known, from the sentry.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

static json_t *sentry_stats(const struct cv_state *st)
{
	_cleanup_json_ json_t *rep = NULL;
	size_t n = 0;

	if (sandbox_call(st->dir, "{\"cmd\":\"ps\"}", NULL, 0, &rep, NULL, NULL) == 0)
		n = json_array_size(json_object_get(rep, "processes"));
	return json_pack("{s:{},s:{},s:{s:I,s:I}}", "cpu", "memory", "pids", "current",
			 (json_int_t)n, "limit", (json_int_t)0);
}

static int print_stats(const struct cv_state *st)
{
	json_t *data = st->cgroup ? cgroup_stats(st->cgroup) : sentry_stats(st);
	_cleanup_json_ json_t *ev = NULL;
	_cleanup_free_ char *text = NULL;

	if (!data)
		return -1;
	ev = json_pack("{s:s,s:s,s:o}", "type", "stats", "id", st->id, "data", data);
	text = json_dumps(ev, JSON_COMPACT);
	if (!text)
		return -1;
	printf("%s\n", text);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* "5s", "500ms", "1m", or seconds. */
static int parse_interval(const char *s, unsigned *ms, struct cv_err **err)
{
	char *end;
	double v = strtod(s, &end);

	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (!strcmp(end, "m"))
		v *= 60;
	else if (*end && strcmp(end, "s"))
		end = (char *)s;
	if (end == s || v <= 0)
		return cv_err_set(err, 0, "invalid --interval `%s` (e.g. 5s, 500ms)", s);
	*ms = (unsigned)(v * 1000);
	return 0;
}

int cmd_events(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *interval = "5s";
	bool once = false;
	const struct cli_opt opts[] = {
		{ "stats", 0, CLI_OPT_BOOL, &once, NULL, "print the statistics once and exit" },
		{ "interval", 0, CLI_OPT_STRING, &interval, "DURATION",
		  "time between statistics (default 5s)" },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	unsigned ms = 5000;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Prints the container's resource usage as JSON, every --interval or\n"
			   "once (--stats).", 1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (parse_interval(interval, &ms, err) < 0 ||
	    state_load(g->root, argv[pos], STATE_LOCK_SHARED, &st, err) < 0)
		return -1;
	state_unlock(st);
	if (state_status(st) == CV_STATUS_STOPPED)
		return cv_err_set(err, 0, "container `%s` is not running", st->id);
	do {
		if (print_stats(st) < 0)
			return cv_err_set(err, errno, "container `%s`: reading its statistics", st->id);
		if (once)
			break;
		usleep(ms * 1000);
	} while (state_status(st) != CV_STATUS_STOPPED);
	return 0;
}
