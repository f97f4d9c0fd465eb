/* config.json: parsed once, with jansson, into struct oci_spec (see include/cvisor/oci.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "oci_internal.h"

/* config.json files are a few KiB; refuse anything absurd rather than eat memory. */
#define SPEC_MAX_SIZE (16u << 20)

static const char *const hook_keys[OCI_HOOK_NKINDS] = {
	[OCI_HOOK_PRESTART]	    = "prestart",
	[OCI_HOOK_CREATE_RUNTIME]   = "createRuntime",
	[OCI_HOOK_CREATE_CONTAINER] = "createContainer",
	[OCI_HOOK_START_CONTAINER]  = "startContainer",
	[OCI_HOOK_POSTSTART]	    = "poststart",
	[OCI_HOOK_POSTSTOP]	    = "poststop",
};

static int parse_hook(const struct spec_ctx *c, json_t *e, const char *path, struct oci_hook *h)
{
	char fpath[SPEC_PATH_MAX];
	int64_t timeout = 0;
	bool has_timeout;

	if (!json_is_object(e))
		return spec_fail(c, path, "expected an object");
	if (spec_get_string(c, e, path, "path", true, &h->path) < 0 ||
	    spec_get_strv(c, e, path, "args", &h->args, &h->n_args) < 0 ||
	    spec_get_strv(c, e, path, "env", &h->env, &h->n_env) < 0 ||
	    spec_get_i64(c, e, path, "timeout", false, 1, INT32_MAX, &timeout, &has_timeout) < 0)
		return -EINVAL;
	spec_path_key(fpath, path, "path");
	if (h->path[0] != '/')
		return spec_fail(c, fpath, "`%s` must be an absolute path", h->path);
	h->timeout = (int)timeout;
	return 0;
}

static int parse_hooks(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	char lpath[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];
	json_t *hooks, *arr, *e;
	size_t i;

	if (spec_get_object(c, root, "", "hooks", false, &hooks) < 0)
		return -EINVAL;
	if (!hooks)
		return 0;
	for (int k = 0; k < OCI_HOOK_NKINDS; k++) {
		struct oci_hook_list *l = &s->hooks[k];

		if (spec_get_array(c, hooks, "hooks", hook_keys[k], &arr) < 0)
			return -EINVAL;
		if (!arr)
			continue;
		spec_path_key(lpath, "hooks", hook_keys[k]);
		l->hooks = oci_xcalloc(json_array_size(arr), sizeof(*l->hooks));
		json_array_foreach (arr, i, e) {
			spec_path_idx(epath, lpath, i);
			l->n++;
			if (parse_hook(c, e, epath, &l->hooks[i]) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

static void free_hooks(struct oci_spec *s)
{
	for (int k = 0; k < OCI_HOOK_NKINDS; k++) {
		for (size_t i = 0; i < s->hooks[k].n; i++) {
			free(s->hooks[k].hooks[i].path);
			oci_strv_free(s->hooks[k].hooks[i].args);
			oci_strv_free(s->hooks[k].hooks[i].env);
		}
		free(s->hooks[k].hooks);
	}
}

static int parse_version(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	if (spec_get_string(c, root, "", "ociVersion", true, &s->oci_version) < 0)
		return -EINVAL;
	/* SemVer; cvisor implements the 1.x line and refuses a future major version. */
	if (strncmp(s->oci_version, "1.", 2) != 0)
		return spec_fail(c, "ociVersion", "unsupported version `%s` (expected 1.x)",
				 s->oci_version);
	return 0;
}

static int parse_root(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	json_t *obj;

	if (spec_get_object(c, root, "", "root", true, &obj) < 0 ||
	    spec_get_string(c, obj, "root", "path", true, &s->root_path) < 0 ||
	    spec_get_bool(c, obj, "root", "readonly", &s->root_readonly) < 0)
		return -EINVAL;
	if (!*s->root_path)
		return spec_fail(c, "root.path", "must not be empty");
	return 0;
}

static int parse_top(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	json_t *proc;

	if (parse_version(c, root, s) < 0 || parse_root(c, root, s) < 0 ||
	    spec_get_object(c, root, "", "process", true, &proc) < 0 ||
	    spec_parse_process(c, proc, "process", &s->process) < 0 ||
	    spec_get_string(c, root, "", "hostname", false, &s->hostname) < 0 ||
	    spec_get_string(c, root, "", "domainname", false, &s->domainname) < 0 ||
	    spec_parse_mounts(c, root, s) < 0 || parse_hooks(c, root, s) < 0 ||
	    spec_parse_linux(c, root, s) < 0 ||
	    spec_get_string_map(c, root, "", "annotations", &s->annotation_keys,
				&s->annotation_values, &s->n_annotations) < 0)
		return -EINVAL;
	return 0;
}

int oci_spec_parse(const char *text, size_t len, const char *filename, struct oci_spec **out,
		   struct cv_err **err)
{
	struct spec_ctx c = { .file = filename, .err = err };
	struct oci_spec *s;
	json_t *root = NULL;
	int r;

	if (spec_load_json(&c, text, len, &root) < 0)
		return -EINVAL;
	s = oci_xcalloc(1, sizeof(*s));
	r = parse_top(&c, root, s);
	json_decref(root);
	if (r < 0) {
		oci_spec_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* Reads a whole regular file into a NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *len, struct cv_err **err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cv_err_set(err, errno, "reading `%s`", path);
	if (fstat(fd, &st) < 0)
		return cv_err_set(err, errno, "reading `%s`", path);
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > SPEC_MAX_SIZE)
		return cv_err_set(err, 0, "reading `%s`: not a regular file of at most 16 MiB",
				  path);
	buf = oci_xcalloc(1, (size_t)st.st_size + 1);
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cv_err_set(err, errno, "reading `%s`", path);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	*out = steal_ptr(&buf);
	return 0;
}

int oci_spec_load(const char *bundle, struct oci_spec **out, struct cv_err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (asprintf(&path, "%s/config.json", bundle) < 0)
		abort();
	if (read_file(path, &text, &len, err) < 0)
		return -1;
	return oci_spec_parse(text, len, "config.json", out, err);
}

void oci_spec_free(struct oci_spec *s)
{
	if (!s)
		return;
	free(s->oci_version);
	oci_process_free(&s->process);
	free(s->root_path);
	free(s->hostname);
	free(s->domainname);
	spec_free_mounts(s);
	free_hooks(s);
	spec_free_linux(s);
	oci_strv_free(s->annotation_keys);
	oci_strv_free(s->annotation_values);
	free(s);
}
