/* The `process` object of config.json, and process.json files for `exec --process`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "oci_internal.h"

static int parse_user(const struct spec_ctx *c, json_t *proc, const char *path,
		      struct oci_user *u)
{
	char upath[SPEC_PATH_MAX], gpath[SPEC_PATH_MAX];
	json_t *user, *gids, *e;
	size_t i;

	if (spec_get_object(c, proc, path, "user", false, &user) < 0)
		return -EINVAL;
	if (!user)
		return 0; /* runc runs as root when the spec says nothing */
	spec_path_key(upath, path, "user");
	if (spec_get_u32(c, user, upath, "uid", false, &u->uid, NULL) < 0 ||
	    spec_get_u32(c, user, upath, "gid", false, &u->gid, NULL) < 0 ||
	    spec_get_u32(c, user, upath, "umask", false, &u->umask, &u->has_umask) < 0 ||
	    spec_get_array(c, user, upath, "additionalGids", &gids) < 0)
		return -EINVAL;
	if (!gids)
		return 0;
	spec_path_key(gpath, upath, "additionalGids");
	u->additional_gids = oci_xcalloc(json_array_size(gids), sizeof(uint32_t));
	json_array_foreach (gids, i, e) {
		char epath[SPEC_PATH_MAX];
		int64_t g;

		spec_path_idx(epath, gpath, i);
		if (spec_value_i64(c, e, epath, 0, UINT32_MAX, &g) < 0)
			return -EINVAL;
		u->additional_gids[u->n_additional_gids++] = (uint32_t)g;
	}
	return 0;
}

static int parse_cap_set(const struct spec_ctx *c, json_t *caps, const char *path,
			 const char *key, uint64_t *mask)
{
	char spath[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (spec_get_strv(c, caps, path, key, &names, &n) < 0)
		return -EINVAL;
	spec_path_key(spath, path, key);
	for (size_t i = 0; i < n && r == 0; i++) {
		int cap = spec_cap_from_name(names[i]);

		spec_path_idx(epath, spath, i);
		if (cap < 0)
			r = spec_fail(c, epath, "unknown capability `%s`", names[i]);
		else
			*mask |= 1ULL << cap;
	}
	oci_strv_free(names);
	return r;
}

static int parse_caps(const struct spec_ctx *c, json_t *proc, const char *path,
		      struct oci_caps *caps)
{
	char cpath[SPEC_PATH_MAX];
	json_t *obj;

	if (spec_get_object(c, proc, path, "capabilities", false, &obj) < 0)
		return -EINVAL;
	if (!obj)
		return 0;
	spec_path_key(cpath, path, "capabilities");
	if (parse_cap_set(c, obj, cpath, "bounding", &caps->bounding) < 0 ||
	    parse_cap_set(c, obj, cpath, "effective", &caps->effective) < 0 ||
	    parse_cap_set(c, obj, cpath, "inheritable", &caps->inheritable) < 0 ||
	    parse_cap_set(c, obj, cpath, "permitted", &caps->permitted) < 0 ||
	    parse_cap_set(c, obj, cpath, "ambient", &caps->ambient) < 0)
		return -EINVAL;
	return 0;
}

static int parse_rlimit(const struct spec_ctx *c, json_t *e, const char *epath,
			const struct oci_process *p, struct oci_rlimit *rl)
{
	char tpath[SPEC_PATH_MAX];
	_cleanup_free_ char *type = NULL;

	if (!json_is_object(e))
		return spec_fail(c, epath, "expected an object");
	if (spec_get_string(c, e, epath, "type", true, &type) < 0 ||
	    spec_get_u64(c, e, epath, "soft", true, &rl->soft, NULL) < 0 ||
	    spec_get_u64(c, e, epath, "hard", true, &rl->hard, NULL) < 0)
		return -EINVAL;
	spec_path_key(tpath, epath, "type");
	rl->resource = spec_rlimit_from_name(type);
	if (rl->resource < 0)
		return spec_fail(c, tpath, "unknown rlimit `%s`", type);
	for (size_t i = 0; i < p->n_rlimits; i++)
		if (p->rlimits[i].resource == rl->resource)
			return spec_fail(c, tpath, "duplicate rlimit `%s`", type);
	if (rl->soft > rl->hard)
		return spec_fail(c, epath, "soft limit exceeds hard limit");
	return 0;
}

static int parse_rlimits(const struct spec_ctx *c, json_t *proc, const char *path,
			 struct oci_process *p)
{
	char rpath[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];
	json_t *arr, *e;
	size_t i;

	if (spec_get_array(c, proc, path, "rlimits", &arr) < 0)
		return -EINVAL;
	if (!arr)
		return 0;
	spec_path_key(rpath, path, "rlimits");
	p->rlimits = oci_xcalloc(json_array_size(arr), sizeof(*p->rlimits));
	json_array_foreach (arr, i, e) {
		spec_path_idx(epath, rpath, i);
		if (parse_rlimit(c, e, epath, p, &p->rlimits[i]) < 0)
			return -EINVAL;
		p->n_rlimits++;
	}
	return 0;
}

static int parse_args_env_cwd(const struct spec_ctx *c, json_t *proc, const char *path,
			      struct oci_process *p)
{
	char fpath[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];

	spec_path_key(fpath, path, "args");
	if (spec_get_strv(c, proc, path, "args", &p->args, &p->n_args) < 0)
		return -EINVAL;
	if (!p->args)
		return spec_fail(c, fpath, "required");
	if (p->n_args == 0)
		return spec_fail(c, fpath, "must not be empty");

	if (spec_get_strv(c, proc, path, "env", &p->env, &p->n_env) < 0)
		return -EINVAL;
	spec_path_key(fpath, path, "env");
	for (size_t i = 0; i < p->n_env; i++) {
		const char *eq = strchr(p->env[i], '=');

		spec_path_idx(epath, fpath, i);
		if (!eq || eq == p->env[i])
			return spec_fail(c, epath, "`%s` is not of the form NAME=VALUE", p->env[i]);
	}

	spec_path_key(fpath, path, "cwd");
	if (spec_get_string(c, proc, path, "cwd", true, &p->cwd) < 0)
		return -EINVAL;
	if (p->cwd[0] != '/')
		return spec_fail(c, fpath, "`%s` must be an absolute path", p->cwd);
	return 0;
}

static int parse_console(const struct spec_ctx *c, json_t *proc, const char *path,
			 struct oci_process *p)
{
	char cpath[SPEC_PATH_MAX];
	json_t *size;

	if (spec_get_bool(c, proc, path, "terminal", &p->terminal) < 0 ||
	    spec_get_object(c, proc, path, "consoleSize", false, &size) < 0)
		return -EINVAL;
	if (!size)
		return 0;
	spec_path_key(cpath, path, "consoleSize");
	if (spec_get_u32(c, size, cpath, "height", true, &p->console_height, NULL) < 0 ||
	    spec_get_u32(c, size, cpath, "width", true, &p->console_width, NULL) < 0)
		return -EINVAL;
	return 0;
}

int spec_parse_process(const struct spec_ctx *c, json_t *obj, const char *path,
		       struct oci_process *p)
{
	int64_t adj = 0;

	if (parse_args_env_cwd(c, obj, path, p) < 0 || parse_console(c, obj, path, p) < 0 ||
	    parse_user(c, obj, path, &p->user) < 0 || parse_caps(c, obj, path, &p->caps) < 0 ||
	    parse_rlimits(c, obj, path, p) < 0 ||
	    spec_get_bool(c, obj, path, "noNewPrivileges", &p->no_new_privileges) < 0 ||
	    spec_get_i64(c, obj, path, "oomScoreAdj", false, -1000, 1000, &adj,
			 &p->has_oom_score_adj) < 0)
		return -EINVAL;
	p->oom_score_adj = (int)adj;
	return 0;
}

int oci_process_parse(const char *text, size_t len, const char *filename,
		      struct oci_process *out, struct cv_err **err)
{
	struct spec_ctx c = { .file = filename, .err = err };
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (spec_load_json(&c, text, len, &root) < 0)
		return -EINVAL;
	r = spec_parse_process(&c, root, "", out);
	json_decref(root);
	if (r < 0)
		oci_process_free(out);
	return r;
}

void oci_process_free(struct oci_process *p)
{
	oci_strv_free(p->args);
	oci_strv_free(p->env);
	free(p->cwd);
	free(p->user.additional_gids);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

const char *oci_env_get(char *const *env, const char *key)
{
	size_t n = strlen(key);

	if (strchr(key, '='))
		return NULL;
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], key, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}
