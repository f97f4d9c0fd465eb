/*
 * `cvisor ps`: the processes of a container.
 *
 * The table (the default) lists the container's own processes as its sentry knows them:
 * their pids inside, parents, users, states and names.
 *
 * `--format json` is what engines call (docker top, ctr task ps): runc answers with the
 * host pids of the container's processes, and docker top then shows the host's `ps` lines
 * of exactly those pids.  A cvisor container's processes are not host processes: what
 * runs on the host is the sandbox (the sentry) and, on ptrace and systrap, one stub process
 * per address space where application code executes.  So the honest answer is the host pids
 * of those: the sandbox and every process in its pid namespace, sorted.  docker top then
 * shows real host processes with their real CPU time and memory (runsc answers with pids
 * inside the sandbox instead, which docker top matches against unrelated host processes).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

/* The parent of a host process, or -1. */
static pid_t host_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return (pid_t)ppid;
}

static int pid_cmp(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

/* The sandbox and its descendants: every process in its pid namespace. */
static size_t host_pids(pid_t sandbox, pid_t **out)
{
	size_t n = 1, cap = 16, before;
	pid_t *v = cli_xcalloc(cap, sizeof(pid_t));

	v[0] = sandbox;
	do {
		DIR *d = opendir("/proc");
		struct dirent *e;

		before = n;
		while (d && (e = readdir(d))) {
			pid_t pid = (pid_t)atoi(e->d_name), pp;
			bool known = false;

			if (pid <= 0)
				continue;
			for (size_t i = 0; i < n && !known; i++)
				known = v[i] == pid;
			pp = known ? -1 : host_ppid(pid);
			for (size_t i = 0; i < n && pp > 0; i++) {
				if (v[i] != pp)
					continue;
				if (n == cap && !(v = realloc(v, (cap *= 2) * sizeof(pid_t))))
					abort();
				v[n++] = pid;
				break;
			}
		}
		if (d)
			closedir(d);
	} while (n != before); /* a child listed before its parent is found on the next pass */
	qsort(v, n, sizeof(pid_t), pid_cmp);
	*out = v;
	return n;
}

static void print_table(json_t *procs)
{
	json_t *p;
	size_t i;

	printf("%-8s %-8s %-8s %-8s %-5s %-8s %s\n", "UID", "PID", "PPID", "PGID", "STAT",
	       "STIME", "CMD");
	json_array_foreach (procs, i, p) {
		time_t t = (time_t)(json_integer_value(json_object_get(p, "start_ns")) / 1000000000);
		struct tm tm;
		char stime[16];

		localtime_r(&t, &tm);
		strftime(stime, sizeof(stime), "%H:%M:%S", &tm);
		printf("%-8lld %-8lld %-8lld %-8lld %-5s %-8s %s\n",
		       (long long)json_integer_value(json_object_get(p, "uid")),
		       (long long)json_integer_value(json_object_get(p, "pid")),
		       (long long)json_integer_value(json_object_get(p, "ppid")),
		       (long long)json_integer_value(json_object_get(p, "pgid")),
		       json_string_value(json_object_get(p, "state")), stime,
		       json_string_value(json_object_get(p, "comm")));
	}
}

int cmd_ps(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *format = "table";
	const struct cli_opt opts[] = {
		{ "format", 'f', CLI_OPT_STRING, &format, "FORMAT",
		  "table (the container's processes) or json (their host pids)" },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_json_ json_t *rep = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id> [ps options]",
			   "Lists the processes of a container: a table of its own processes, or\n"
			   "with --format json the host pids of the processes that run it (the\n"
			   "sandbox and its stubs), for engines (docker top).",
			   1, -1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (strcmp(format, "table") && strcmp(format, "json"))
		return cv_err_set(err, 0, "invalid --format `%s`: expected table or json", format);
	if (state_load(g->root, argv[pos], STATE_LOCK_SHARED, &st, err) < 0)
		return -1;
	if (state_status(st) == CV_STATUS_STOPPED || state_status(st) == CV_STATUS_CREATED) {
		if (!strcmp(format, "json"))
			return printf("[]\n") < 0 ? -1 : 0;
		return cv_err_set(err, 0, "container `%s` is not running", st->id);
	}
	if (!strcmp(format, "json")) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = host_pids(st->pid, &pids);

		putchar('[');
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int)pids[i]);
		printf("]\n");
		return 0;
	}
	r = sandbox_call(st->dir, "{\"cmd\":\"ps\"}", NULL, 0, &rep, NULL, err);
	if (r < 0)
		return *err ? -1 : cv_err_set(err, -r, "container `%s`: the sandbox does not answer",
					      st->id);
	print_table(json_object_get(rep, "processes"));
	return 0;
}
