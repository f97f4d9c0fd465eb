/*
 * `cvisor install` and `cvisor uninstall`: add, update or remove a runtime entry in Docker's
 * daemon.json (as `runsc install` does), keeping everything else in the file.  dockerd reads
 * runtimes again on SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

#define DEFAULT_CONFIG "/etc/docker/daemon.json"

/* The file's JSON object, or a new empty one when the file does not exist. */
static int load_config(const char *file, json_t **out, struct cv_err **err)
{
	json_error_t je;

	if (access(file, F_OK) < 0 && errno == ENOENT) {
		*out = json_object();
		return 0;
	}
	*out = json_load_file(file, 0, &je);
	if (!*out)
		return cv_err_set(err, 0, "`%s`: %s (line %d)", file, je.text, je.line);
	if (!json_is_object(*out)) {
		json_decref(*out);
		return cv_err_set(err, 0, "`%s`: expected a JSON object", file);
	}
	return 0;
}

/* Replaces the file atomically (a temporary file beside it, renamed over it). */
static int save_config(const char *file, json_t *j, struct cv_err **err)
{
	_cleanup_free_ char *dir = cli_xstrdup(file), *tmp = NULL, *text = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len;

	text = json_dumps(j, JSON_INDENT(4));
	if (!text)
		return cv_err_set(err, ENOMEM, "formatting `%s`", file);
	len = strlen(text);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)
		return cv_err_set(err, errno, "creating the directory of `%s`", file);
	if (asprintf(&tmp, "%s.cvisor-%d.tmp", file, (int)getpid()) < 0)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  stat(file, &st) == 0 ? st.st_mode & 07777 : 0644);
	if (fd < 0)
		return cv_err_set(err, errno, "writing `%s`", tmp);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0 ||
	    rename(tmp, file) < 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return cv_err_set(err, e, "writing `%s`", file);
	}
	return 0;
}

int cmd_install(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *file = DEFAULT_CONFIG, *name = "cvisor", *path = NULL;
	const struct cli_opt opts[] = {
		{ "config-file", 0, CLI_OPT_STRING, &file, "FILE",
		  "Docker's daemon configuration (default " DEFAULT_CONFIG ")" },
		{ "runtime", 0, CLI_OPT_STRING, &name, "NAME", "the runtime's name (default cvisor)" },
		{ "path", 0, CLI_OPT_STRING, &path, "PATH",
		  "the cvisor binary Docker runs (default: this one)" },
		CLI_OPT_END,
	};
	_cleanup_json_ json_t *cfg = NULL;
	_cleanup_free_ char *self = NULL;
	json_t *runtimes, *entry, *args;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "[-- runtime flags...]",
			   "Adds (or updates) a runtime entry for cvisor in Docker's daemon.json;\n"
			   "flags after -- are given to every cvisor invocation (runtimeArgs),\n"
			   "e.g. `cvisor install --runtime cvisor-kvm -- --platform=kvm`.",
			   0, -1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!path && !(path = self = realpath("/proc/self/exe", NULL)))
		return cv_err_set(err, errno, "finding the cvisor binary");
	if (load_config(file, &cfg, err) < 0)
		return -1;
	runtimes = json_object_get(cfg, "runtimes");
	if (!runtimes) {
		runtimes = json_object();
		json_object_set_new(cfg, "runtimes", runtimes);
	} else if (!json_is_object(runtimes)) {
		return cv_err_set(err, 0, "`%s`: \"runtimes\" is not an object", file);
	}
	entry = json_pack("{s:s}", "path", path);
	if (pos < argc) {
		args = json_array();
		for (int i = pos; i < argc; i++)
			json_array_append_new(args, json_string(argv[i]));
		json_object_set_new(entry, "runtimeArgs", args);
	}
	json_object_set_new(runtimes, name, entry);
	if (save_config(file, cfg, err) < 0)
		return -1;
	printf("runtime `%s` (%s) written to %s; reload dockerd to use it (kill -HUP its pid)\n",
	       name, path, file);
	return 0;
}

int cmd_uninstall(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *file = DEFAULT_CONFIG, *name = "cvisor";
	const struct cli_opt opts[] = {
		{ "config-file", 0, CLI_OPT_STRING, &file, "FILE",
		  "Docker's daemon configuration (default " DEFAULT_CONFIG ")" },
		{ "runtime", 0, CLI_OPT_STRING, &name, "NAME", "the runtime's name (default cvisor)" },
		CLI_OPT_END,
	};
	_cleanup_json_ json_t *cfg = NULL;
	json_t *runtimes;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "",
			   "Removes a runtime entry from Docker's daemon.json.", 0, 0, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (load_config(file, &cfg, err) < 0)
		return -1;
	runtimes = json_object_get(cfg, "runtimes");
	if (!json_is_object(runtimes) || !json_object_get(runtimes, name))
		return cv_err_set(err, 0, "runtime `%s` is not in `%s`", name, file);
	json_object_del(runtimes, name);
	if (json_object_size(runtimes) == 0)
		json_object_del(cfg, "runtimes");
	if (save_config(file, cfg, err) < 0)
		return -1;
	printf("runtime `%s` removed from %s; reload dockerd (kill -HUP its pid)\n", name, file);
	return 0;
}
