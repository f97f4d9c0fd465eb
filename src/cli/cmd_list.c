/* `cvisor list`: the containers under --root, as runc's table or JSON. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"

#define NCOLS 6

static const char *const head[NCOLS] = { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" };

/* Column c of a container's row; pid is scratch space for the number. */
static const char *cell(const struct cv_state *st, enum cv_status s, int c, char pid[16])
{
	switch (c) {
	case 0:
		return st->id;
	case 1:
		snprintf(pid, 16, "%d", s == CV_STATUS_STOPPED ? 0 : (int)st->pid);
		return pid;
	case 2:
		return state_status_name(s);
	case 3:
		return st->bundle;
	case 4:
		return st->created;
	default:
		return st->owner;
	}
}

static void print_row(const char *const cells[NCOLS], const size_t width[NCOLS])
{
	for (int c = 0; c < NCOLS - 1; c++)
		printf("%-*s", (int)width[c], cells[c]);
	printf("%s\n", cells[NCOLS - 1]);
}

/*
 * runc prints through Go's tabwriter (minimum width 12, padding 3): every column but the last
 * is as wide as its widest cell plus 3, and at least 12.
 */
static void print_table(struct cv_state **v, const enum cv_status *s, size_t n)
{
	char pids[NCOLS][16];
	const char *row[NCOLS];
	size_t width[NCOLS];

	for (int c = 0; c < NCOLS; c++) {
		width[c] = MAX((size_t)12, strlen(head[c]) + 3);
		for (size_t i = 0; i < n; i++)
			width[c] = MAX(width[c], strlen(cell(v[i], s[i], c, pids[c])) + 3);
	}
	print_row(head, width);
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < NCOLS; c++)
			row[c] = cell(v[i], s[i], c, pids[c]);
		print_row(row, width);
	}
}

static void print_json(struct cv_state **v, const enum cv_status *s, size_t n)
{
	_cleanup_json_ json_t *arr = json_array();
	_cleanup_free_ char *text = NULL;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, cli_state_json(v[i], s[i]));
	/* Go marshals an empty list as null, and runc prints just that */
	text = n ? json_dumps(arr, JSON_COMPACT) : strdup("null");
	printf("%s\n", text ? text : "null");
}

int cmd_list(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *format = "table";
	bool quiet = false;
	const struct cli_opt opts[] = {
		{ "format", 'f', CLI_OPT_STRING, &format, "FORMAT", "table (default) or json" },
		{ "quiet", 'q', CLI_OPT_BOOL, &quiet, NULL, "print the container IDs only" },
		CLI_OPT_END,
	};
	struct cv_state **v = NULL;
	_cleanup_free_ enum cv_status *s = NULL;
	size_t n = 0;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "", "Lists the containers under --root.", 0, 0, &pos,
			   err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (strcmp(format, "table") && strcmp(format, "json"))
		return cv_err_set(err, 0, "invalid --format `%s`: expected table or json", format);
	if (state_list(g->root, &v, &n, err) < 0)
		return -1;
	s = cli_xcalloc(n, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s[i] = state_status(v[i]);
	if (quiet)
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i]->id);
	else if (!strcmp(format, "json"))
		print_json(v, s, n);
	else
		print_table(v, s, n);
	state_list_free(v, n);
	return fflush(stdout) == 0 ? 0 : cv_err_set(err, errno, "writing the list");
}
