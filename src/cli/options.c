/* The option parser shared by the global options and every verb (Go `flag` conventions, as
 * runc's command line: -x and --x alike, --x=v or --x v, options before positionals). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cvisor/err.h"

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name, size_t len)
{
	for (const struct cli_opt *o = opts; o->name; o++) {
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
		if (len == 1 && o->short_name == name[0])
			return o;
	}
	return NULL;
}

static int set_bool(const struct cli_opt *o, const char *v, struct cv_err **err)
{
	bool b;

	if (!v || !strcmp(v, "true") || !strcmp(v, "1"))
		b = true;
	else if (!strcmp(v, "false") || !strcmp(v, "0"))
		b = false;
	else
		return cv_err_set(err, 0, "invalid value `%s` for flag `--%s`: expected true or false",
				  v, o->name);
	if (o->value)
		*(bool *)o->value = b;
	return 0;
}

static int set_int(const struct cli_opt *o, const char *v, struct cv_err **err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < INT_MIN || n > INT_MAX)
		return cv_err_set(err, 0, "invalid value `%s` for flag `--%s`: expected a number", v,
				  o->name);
	if (o->value)
		*(int *)o->value = (int)n;
	return 0;
}

/* Handles argv[*i], an option; advances *i past a separate value. */
static int parse_one(const struct cli_opt *opts, int argc, char **argv, int *i,
		     struct cv_err **err)
{
	const char *arg = argv[*i], *name = arg + (arg[1] == '-' ? 2 : 1);
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const char *value = eq ? eq + 1 : NULL;
	const struct cli_opt *o = find_opt(opts, name, len);

	if (len == 0 || !o)
		return cv_err_set(err, 0, "unknown flag `%s`", arg);
	if (o->type == CLI_OPT_BOOL)
		return set_bool(o, value, err);
	if (!value) {
		if (*i + 1 >= argc)
			return cv_err_set(err, 0, "flag `%s` needs a value", arg);
		value = argv[++*i];
	}
	if (o->type == CLI_OPT_INT)
		return set_int(o, value, err);
	if (o->type == CLI_OPT_LIST) {
		struct cli_list *l = o->value;

		if (!l)
			return 0;
		l->v = realloc(l->v, (l->n + 2) * sizeof(*l->v));
		if (!l->v)
			abort();
		l->v[l->n++] = value;
		l->v[l->n] = NULL;
		return 0;
	}
	if (o->value)
		*(const char **)o->value = value;
	return 0;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "-help");
}

int cli_parse_opts(const struct cli_opt *opts, int argc, char **argv, struct cv_err **err)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--"))
			return i + 1;
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (is_help(arg))
			return CLI_HELP;
		if (parse_one(opts, argc, argv, &i, err) < 0)
			return -EINVAL;
	}
	return i;
}

void cli_print_usage(FILE *f, const char *verb, const char *synopsis, const char *description,
		     const struct cli_opt *opts)
{
	bool has_opts = false;

	for (const struct cli_opt *o = opts; o && o->name; o++)
		has_opts |= o->help != NULL;
	fprintf(f, "Usage: cvisor %s%s%s%s\n\n%s\n", verb, has_opts ? " [options]" : "",
		synopsis && *synopsis ? " " : "", synopsis ? synopsis : "", description);
	if (!has_opts)
		return;
	fprintf(f, "\nOptions:\n");
	cli_print_opts(f, opts);
}

void cli_print_opts(FILE *f, const struct cli_opt *opts)
{
	for (const struct cli_opt *o = opts; o->name; o++) {
		char left[64];

		if (!o->help)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "", o->short_name ? ", -" : "",
			 o->short_name ? (char[]){ o->short_name, '\0' } : "");
		fprintf(f, "   %-28s %s\n", left, o->help);
	}
}

int cli_usage_error(struct cv_err **err, const char *verb)
{
	char *msg = *err ? (*err)->msg : NULL;

	if (!msg)
		return -EINVAL;
	(*err)->msg = NULL;
	cv_err_free(err);
	if (verb)
		cv_err_set(err, 0, "%s: %s (see `cvisor %s --help`)", verb, msg, verb);
	else
		cv_err_set(err, 0, "%s (see `cvisor --help`)", msg);
	free(msg);
	return -EINVAL;
}

int cli_parse_verb(const struct cli_opt *opts, int argc, char **argv, const char *synopsis,
		   const char *description, int min, int max, int *pos, struct cv_err **err)
{
	int first = cli_parse_opts(opts, argc, argv, err), n;

	if (first == CLI_HELP) {
		cli_print_usage(stdout, argv[0], synopsis, description, opts);
		return 1;
	}
	if (first < 0)
		return cli_usage_error(err, argv[0]);
	n = argc - first;
	if (n < min || (max >= 0 && n > max))
		return cv_err_set(err, 0, "%s: expected %s (see `cvisor %s --help`)", argv[0],
				  synopsis && *synopsis ? synopsis : "no arguments", argv[0]);
	*pos = first;
	return 0;
}
