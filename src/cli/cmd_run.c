/* `cvisor run`: create + start; in the foreground, wait for the container and exit with its
 * init's status, forwarding the signals this process receives. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/err.h"
#include "cvisor/log.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

/* Blocks the forwarded signals and SIGCHLD, so that sigwaitinfo() receives them in order. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
	sigprocmask(SIG_BLOCK, set, NULL);
}

static void forward(const struct cv_state *st, int sig, bool terminal)
{
	struct cv_err *err = NULL;

	/* With a terminal, a resize goes to the sentry's tty, which signals the container. */
	if (sig == SIGWINCH && terminal) {
		sandbox_request(st->dir, "{\"cmd\":\"winch\"}", NULL, &err);
		cv_err_free(&err);
		return;
	}
	if (cli_signal_container(st, sig, false, &err) < 0)
		log_debug("forwarding signal %d to `%s`: %s", sig, st->id, err->msg);
	cv_err_free(&err);
}

/* Waits for the sandbox (our child) to exit; returns the init's status, as the sandbox's. */
static int wait_foreground(const struct cv_state *st, const sigset_t *set, bool terminal,
			   struct cv_err **err)
{
	int wstatus = 0;

	for (;;) {
		pid_t r = waitpid(st->pid, &wstatus, WNOHANG);
		int sig;

		if (r == st->pid)
			break;
		if (r < 0 && errno != EINTR)
			return cv_err_set(err, errno, "waiting for sandbox pid %d", (int)st->pid);
		sig = sigwaitinfo(set, NULL);
		if (sig > 0 && sig != SIGCHLD)
			forward(st, sig, terminal);
	}
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	return 128 + WTERMSIG(wstatus);
}

/* Removes the state of the finished container; errors are only logged, the status stands. */
static void remove_finished(const struct cli_global *g, const char *id)
{
	struct cv_state *st = NULL;
	struct cv_err *err = NULL;

	if (state_load(g->root, id, STATE_LOCK_EXCLUSIVE, &st, &err) == 0)
		cli_destroy_container(st, 0, &err);
	if (err)
		log_warn("removing container `%s`: %s", id, err->msg);
	cv_err_free(&err);
	state_free(st);
}

int cmd_run(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	struct create_opts o = { 0 };
	bool detach = false, keep = false;
	const struct cli_opt opts[] = {
		{ "bundle", 'b', CLI_OPT_STRING, &o.bundle, "DIR",
		  "the bundle (default: the current directory)" },
		{ "detach", 'd', CLI_OPT_BOOL, &detach, NULL, "return once the container runs" },
		{ "pid-file", 0, CLI_OPT_STRING, &o.pid_file, "FILE",
		  "write the sandbox's pid to FILE" },
		{ "console-socket", 0, CLI_OPT_STRING, &o.console_socket, "PATH",
		  "unix socket that receives the pty master (with --detach)" },
		{ "keep", 0, CLI_OPT_BOOL, &keep, NULL, "keep the container's state after it exits" },
		{ "preserve-fds", 0, CLI_OPT_INT, &o.preserve_fds, NULL, NULL },
		{ "no-subreaper", 0, CLI_OPT_BOOL, NULL, NULL, NULL },
		{ "no-pivot", 0, CLI_OPT_BOOL, NULL, NULL, NULL },
		{ "no-new-keyring", 0, CLI_OPT_BOOL, NULL, NULL, NULL },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_spec_ struct oci_spec *spec = NULL;
	struct termios saved;
	bool terminal = false, raw = false;
	sigset_t set;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Creates and starts a container.  In the foreground, waits for it,\n"
			   "forwards signals to it, exits with its status and deletes it.",
			   1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	o.id = argv[pos];
	o.detach = detach;
	if (cli_create_container(g, &o, &st, err) < 0)
		return -1;
	if (!detach)
		block_signals(&set);
	if (cli_start_container(st, err) < 0) {
		cli_destroy_container(st, 0, NULL);
		return -1;
	}
	if (detach)
		return 0;
	state_unlock(st);
	/* process.terminal in the foreground: the sentry's pty is pumped to our terminal, which
	 * passes keys through untouched (raw) while the container runs. */
	terminal = cli_load_spec(st, &spec, NULL) == 0 && spec->process.terminal;
	if (terminal && isatty(0) && tcgetattr(0, &saved) == 0) {
		struct termios t = saved;

		cfmakeraw(&t);
		raw = tcsetattr(0, TCSANOW, &t) == 0;
	}
	r = wait_foreground(st, &set, terminal, err);
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	if (!keep)
		remove_finished(g, st->id);
	return r;
}
