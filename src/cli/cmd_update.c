/*
 * `cvisor update`: new resource limits for a running container, from --resources (a
 * LinuxResources JSON, `-` for stdin: what Docker and containerd send) or from runc's flags.
 * The cgroup of the sandbox gets them, and a memory limit also becomes the sentry's (the
 * application's share of it: see sandbox_sentry_memory_limit).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

#define RESOURCES_MAX (1u << 20)

static int read_all(const char *file, char **text, size_t *len, struct cv_err **err)
{
	_cleanup_close_ int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
	size_t cap = 4096;
	ssize_t r;

	if (fd < 0)
		return cv_err_set(err, errno, "--resources `%s`", file);
	*text = cli_xcalloc(cap + 1, 1);
	*len = 0;
	while ((r = read(fd, *text + *len, cap - *len)) > 0) {
		*len += (size_t)r;
		if (*len == cap) {
			if (cap >= RESOURCES_MAX)
				return cv_err_set(err, EFBIG, "--resources `%s`: too large", file);
			*text = realloc(*text, (cap *= 2) + 1);
			if (!*text)
				abort();
		}
	}
	if (r < 0)
		return cv_err_set(err, errno, "reading --resources `%s`", file);
	(*text)[*len] = 0;
	return 0;
}

/* 100, 64k, 100m, 1g (binary units, as runc's). */
static int parse_bytes(const char *flag, const char *s, int64_t *out, struct cv_err **err)
{
	char *end;
	double v = strtod(s, &end);
	int64_t mul = 1;

	switch (*end | 0x20) {
	case 'k': mul = 1 << 10; end++; break;
	case 'm': mul = 1 << 20; end++; break;
	case 'g': mul = 1 << 30; end++; break;
	default: break;
	}
	if ((*end | 0x20) == 'b')
		end++;
	if (end == s || *end)
		return cv_err_set(err, 0, "--%s `%s`: expected a size (100, 64k, 100m, 1g)", flag, s);
	*out = strcmp(s, "-1") ? (int64_t)(v * (double)mul) : -1;
	return 0;
}

struct update_flags {
	const char *memory, *swap, *reservation, *pids, *shares, *quota, *period, *cpus, *mems;
};

static int apply_flags(const struct update_flags *f, struct oci_resources *r,
		       struct cv_err **err)
{
	if ((f->memory && parse_bytes("memory", f->memory, &r->memory_limit, err) < 0) ||
	    (f->swap && parse_bytes("memory-swap", f->swap, &r->memory_swap, err) < 0) ||
	    (f->reservation &&
	     parse_bytes("memory-reservation", f->reservation, &r->memory_reservation, err) < 0))
		return -1;
	if (f->pids)
		r->pids_limit = strtoll(f->pids, NULL, 10);
	if (f->shares)
		r->cpu_shares = strtoull(f->shares, NULL, 10);
	if (f->quota)
		r->cpu_quota = strtoll(f->quota, NULL, 10);
	if (f->period)
		r->cpu_period = strtoull(f->period, NULL, 10);
	if (f->cpus)
		r->cpuset_cpus = cli_xstrdup(f->cpus);
	if (f->mems)
		r->cpuset_mems = cli_xstrdup(f->mems);
	return 0;
}

static int update(const struct cv_state *st, const struct oci_resources *res, struct cv_err **err)
{
	_cleanup_json_ json_t *req = json_pack("{s:s}", "cmd", "update");
	_cleanup_free_ char *text = NULL;
	int r;

	if (st->cgroup && cgroup_update(st->cgroup, res, err) < 0)
		return -1;
	if (!st->cgroup)
		log_warn("container `%s` has no cgroup (no cgroupsPath and no limits at create): "
			 "only the sentry's memory and pids limits apply", st->id);
	/* Engines send every field; 0 and -1 leave a limit as it is (as for the cgroup). */
	if (res->memory_limit <= 0 && res->pids_limit <= 0)
		return 0;
	if (res->memory_limit > 0)
		json_object_set_new(req, "memory_limit", json_integer(res->memory_limit));
	if (res->pids_limit > 0)
		json_object_set_new(req, "pids_limit", json_integer(res->pids_limit));
	text = json_dumps(req, JSON_COMPACT);
	r = sandbox_request(st->dir, text, NULL, err);
	if (r < 0 && !*err)
		cv_err_set(err, -r, "container `%s`: the sandbox does not answer", st->id);
	return r < 0 ? -1 : 0;
}

int cmd_update(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *resources = NULL;
	struct update_flags f = { 0 };
	const struct cli_opt opts[] = {
		{ "resources", 'r', CLI_OPT_STRING, &resources, "FILE",
		  "LinuxResources JSON (`-`: stdin)" },
		{ "memory", 'm', CLI_OPT_STRING, &f.memory, "SIZE", "memory limit" },
		{ "memory-swap", 0, CLI_OPT_STRING, &f.swap, "SIZE", "memory + swap limit" },
		{ "memory-reservation", 0, CLI_OPT_STRING, &f.reservation, "SIZE", "soft limit" },
		{ "pids-limit", 0, CLI_OPT_STRING, &f.pids, "N", "maximum number of processes" },
		{ "cpu-shares", 0, CLI_OPT_STRING, &f.shares, "N", "CPU shares (relative weight)" },
		{ "cpu-quota", 0, CLI_OPT_STRING, &f.quota, "US", "CPU time per period" },
		{ "cpu-period", 0, CLI_OPT_STRING, &f.period, "US", "CPU period" },
		{ "cpuset-cpus", 0, CLI_OPT_STRING, &f.cpus, "LIST", "CPUs to run on" },
		{ "cpuset-mems", 0, CLI_OPT_STRING, &f.mems, "LIST", "memory nodes" },
		{ "kernel-memory", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "kernel-memory-tcp", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "blkio-weight", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "cpu-rt-period", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "cpu-rt-runtime", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "l3-cache-schema", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		{ "mem-bw-schema", 0, CLI_OPT_STRING, NULL, NULL, NULL },
		CLI_OPT_END,
	};
	_cleanup_state_ struct cv_state *st = NULL;
	_cleanup_free_ char *text = NULL;
	struct oci_resources res;
	enum cv_status s;
	size_t len = 0;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "<container-id>",
			   "Updates the resource limits of a container.", 1, 1, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (resources && read_all(resources, &text, &len, err) < 0)
		return -1;
	if (oci_resources_parse(text ? text : "{}", text ? len : 2, "resources", &res, err) < 0)
		return -1;
	r = apply_flags(&f, &res, err);
	if (r == 0)
		r = state_load(g->root, argv[pos], STATE_LOCK_EXCLUSIVE, &st, err);
	if (r == 0 && (s = state_status(st)) == CV_STATUS_STOPPED)
		r = cv_err_set(err, 0, "cannot update container `%s`: it has stopped", st->id);
	if (r == 0)
		r = update(st, &res, err);
	oci_resources_free(&res);
	return r < 0 ? -1 : 0;
}
