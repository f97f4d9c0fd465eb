/* The verb table, the main help, `help`, and the verbs that do not exist (checkpointing). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"

static const struct cli_command commands[] = {
	{ "checkpoint", "checkpoint a running container (not implemented)", cmd_unimplemented },
	{ "create", "create a container", cmd_create },
	{ "delete", "delete a container and everything it holds", cmd_delete },
	{ "events", "display container resource usage (--stats: once)", cmd_events },
	{ "exec", "execute a new process inside the container", cmd_exec },
	{ "features", "show the enabled features (runc's JSON)", cmd_features },
	{ "install", "register cvisor as a Docker runtime in daemon.json", cmd_install },
	{ "kill", "send a signal to the container's init (default: SIGTERM)", cmd_kill },
	{ "list", "list the containers under --root", cmd_list },
	{ "platforms", "list the platforms and whether this host can run them", cmd_platforms },
	{ "pause", "suspend every process of the container", cmd_pause },
	{ "ps", "list the processes of the container", cmd_ps },
	{ "restore", "restore a container from a checkpoint (not implemented)", cmd_unimplemented },
	{ "resume", "resume a paused container", cmd_resume },
	{ "run", "create and start a container", cmd_run },
	{ "spec", "write a new config.json", cmd_spec },
	{ "start", "run the user process of a created container", cmd_start },
	{ "state", "print the OCI state of a container", cmd_state },
	{ "uninstall", "remove a cvisor runtime from Docker's daemon.json", cmd_uninstall },
	{ "update", "update resource limits", cmd_update },
	{ "help", "show the commands, or the help of one", cmd_help },
	{ "h", NULL, cmd_help },
};

const struct cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

void cli_print_version(FILE *f)
{
	fprintf(f, "cvisor version %s\nspec: %s\njansson: %s\n", CV_VERSION, CV_OCI_VERSION,
		JANSSON_VERSION);
}

void cli_print_main_help(FILE *f)
{
	fprintf(f, "cvisor - an OCI container runtime that runs containers on a user-space kernel\n"
		   "\nUsage: cvisor [global options] command [command options] [arguments...]\n"
		   "\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].summary)
			fprintf(f, "   %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n");
	cli_print_global_options(f);
	fprintf(f, "   %-28s %s\n", "--help, -h", "show help");
	fprintf(f, "\nRun 'cvisor help COMMAND' for the options of a command.\n");
}

int cmd_help(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const struct cli_command *c;
	char *help_argv[] = { NULL, "--help", NULL };

	if (argc < 2) {
		cli_print_main_help(stdout);
		return 0;
	}
	c = cli_find_command(argv[1]);
	if (!c) {
		cv_err_set(err, 0, "no help topic for `%s`", argv[1]);
		if (*err)
			(*err)->status = CLI_EXIT_UNKNOWN_COMMAND;
		return -1;
	}
	help_argv[0] = (char *)c->name;
	return c->run(g, 2, help_argv, err);
}

int cmd_unimplemented(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	return cv_err_set(err, 0, "`%s` is not implemented yet", argv[0]);
}
