/* The `linux` object: namespaces, id mappings, cgroups path and resources, paths, sysctls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "oci_internal.h"

static const char *const ns_names[] = {
	[OCI_NS_PID]	 = "pid",
	[OCI_NS_NETWORK] = "network",
	[OCI_NS_MOUNT]	 = "mount",
	[OCI_NS_IPC]	 = "ipc",
	[OCI_NS_UTS]	 = "uts",
	[OCI_NS_USER]	 = "user",
	[OCI_NS_CGROUP]	 = "cgroup",
	[OCI_NS_TIME]	 = "time",
};

static int ns_from_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++)
		if (!strcmp(ns_names[i], name))
			return (int)i;
	return -1;
}

static int parse_namespace(const struct spec_ctx *c, json_t *e, const char *path,
			   struct oci_spec *s)
{
	char tpath[SPEC_PATH_MAX], ppath[SPEC_PATH_MAX];
	struct oci_namespace *ns = &s->namespaces[s->n_namespaces];
	char *type = NULL;
	int t;

	if (!json_is_object(e))
		return spec_fail(c, path, "expected an object");
	if (spec_get_string(c, e, path, "type", true, &type) < 0)
		return -EINVAL;
	spec_path_key(tpath, path, "type");
	t = ns_from_name(type);
	if (t < 0) {
		spec_fail(c, tpath, "unknown namespace type `%s`", type);
		free(type);
		return -EINVAL;
	}
	free(type);
	if (oci_spec_namespace(s, (enum oci_ns_type)t))
		return spec_fail(c, tpath, "duplicate namespace `%s`", ns_names[t]);
	ns->type = (enum oci_ns_type)t;
	s->n_namespaces++;
	if (spec_get_string(c, e, path, "path", false, &ns->path) < 0)
		return -EINVAL;
	spec_path_key(ppath, path, "path");
	if (ns->path && ns->path[0] != '/')
		return spec_fail(c, ppath, "`%s` must be an absolute path", ns->path);
	return 0;
}

static int parse_namespaces(const struct spec_ctx *c, json_t *lx, struct oci_spec *s)
{
	char path[SPEC_PATH_MAX];
	json_t *arr, *e;
	size_t i;

	if (spec_get_array(c, lx, "linux", "namespaces", &arr) < 0)
		return -EINVAL;
	if (!arr)
		return 0;
	s->namespaces = oci_xcalloc(json_array_size(arr), sizeof(*s->namespaces));
	json_array_foreach (arr, i, e) {
		spec_path_idx(path, "linux.namespaces", i);
		if (parse_namespace(c, e, path, s) < 0)
			return -EINVAL;
	}
	return 0;
}

static int parse_id_mappings(const struct spec_ctx *c, json_t *lx, const char *key,
			     struct oci_id_mapping **out, size_t *n)
{
	char path[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];
	json_t *arr, *e;
	size_t i;

	if (spec_get_array(c, lx, "linux", key, &arr) < 0)
		return -EINVAL;
	if (!arr)
		return 0;
	spec_path_key(path, "linux", key);
	*out = oci_xcalloc(json_array_size(arr), sizeof(**out));
	json_array_foreach (arr, i, e) {
		struct oci_id_mapping *m = &(*out)[i];

		spec_path_idx(epath, path, i);
		if (!json_is_object(e))
			return spec_fail(c, epath, "expected an object");
		if (spec_get_u32(c, e, epath, "containerID", true, &m->container_id, NULL) < 0 ||
		    spec_get_u32(c, e, epath, "hostID", true, &m->host_id, NULL) < 0 ||
		    spec_get_u32(c, e, epath, "size", true, &m->size, NULL) < 0)
			return -EINVAL;
		*n = i + 1;
	}
	return 0;
}

/* runc's rule: mappings make sense only with a user namespace, and a new one needs them. */
static int check_user_namespace(const struct spec_ctx *c, const struct oci_spec *s)
{
	const struct oci_namespace *user = oci_spec_namespace(s, OCI_NS_USER);

	if (!user && s->n_uid_mappings)
		return spec_fail(c, "linux.uidMappings", "given without a user namespace");
	if (!user && s->n_gid_mappings)
		return spec_fail(c, "linux.gidMappings", "given without a user namespace");
	if (user && !user->path && !s->n_uid_mappings)
		return spec_fail(c, "linux.uidMappings", "required with a new user namespace");
	if (user && !user->path && !s->n_gid_mappings)
		return spec_fail(c, "linux.gidMappings", "required with a new user namespace");
	return 0;
}

static int parse_memory(const struct spec_ctx *c, json_t *res, const char *path,
			struct oci_resources *r)
{
	char mpath[SPEC_PATH_MAX];
	json_t *mem;

	if (spec_get_object(c, res, path, "memory", false, &mem) < 0)
		return -EINVAL;
	if (!mem)
		return 0;
	spec_path_key(mpath, path, "memory");
	if (spec_get_i64(c, mem, mpath, "limit", false, -1, INT64_MAX, &r->memory_limit, NULL) <
		    0 ||
	    spec_get_i64(c, mem, mpath, "reservation", false, -1, INT64_MAX,
			 &r->memory_reservation, NULL) < 0 ||
	    spec_get_i64(c, mem, mpath, "swap", false, -1, INT64_MAX, &r->memory_swap, NULL) < 0)
		return -EINVAL;
	return 0;
}

static int parse_cpu(const struct spec_ctx *c, json_t *res, const char *path,
		     struct oci_resources *r)
{
	char cpath[SPEC_PATH_MAX];
	json_t *cpu;

	if (spec_get_object(c, res, path, "cpu", false, &cpu) < 0)
		return -EINVAL;
	if (!cpu)
		return 0;
	spec_path_key(cpath, path, "cpu");
	if (spec_get_u64(c, cpu, cpath, "shares", false, &r->cpu_shares, NULL) < 0 ||
	    spec_get_i64(c, cpu, cpath, "quota", false, -1, INT64_MAX, &r->cpu_quota, NULL) < 0 ||
	    spec_get_u64(c, cpu, cpath, "period", false, &r->cpu_period, NULL) < 0 ||
	    spec_get_string(c, cpu, cpath, "cpus", false, &r->cpuset_cpus) < 0 ||
	    spec_get_string(c, cpu, cpath, "mems", false, &r->cpuset_mems) < 0)
		return -EINVAL;
	return 0;
}

int spec_parse_resources(const struct spec_ctx *c, json_t *res, const char *path,
			 struct oci_resources *r)
{
	char ppath[SPEC_PATH_MAX];
	json_t *pids;

	if (parse_memory(c, res, path, r) < 0 || parse_cpu(c, res, path, r) < 0 ||
	    spec_get_object(c, res, path, "pids", false, &pids) < 0)
		return -EINVAL;
	if (!pids)
		return 0;
	spec_path_key(ppath, path, "pids");
	return spec_get_i64(c, pids, ppath, "limit", true, -1, INT64_MAX, &r->pids_limit, NULL);
}

static void resources_init(struct oci_resources *r)
{
	memset(r, 0, sizeof(*r));
	r->memory_limit = r->memory_reservation = r->memory_swap = -1;
	r->pids_limit = r->cpu_quota = -1;
}

static void resources_free(struct oci_resources *r)
{
	free(r->cpuset_cpus);
	free(r->cpuset_mems);
	r->cpuset_cpus = r->cpuset_mems = NULL;
}

int spec_parse_linux(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	json_t *lx, *res;

	resources_init(&s->resources);
	if (spec_get_object(c, root, "", "linux", false, &lx) < 0)
		return -EINVAL;
	if (!lx)
		return 0;
	if (parse_namespaces(c, lx, s) < 0 ||
	    parse_id_mappings(c, lx, "uidMappings", &s->uid_mappings, &s->n_uid_mappings) < 0 ||
	    parse_id_mappings(c, lx, "gidMappings", &s->gid_mappings, &s->n_gid_mappings) < 0 ||
	    check_user_namespace(c, s) < 0 ||
	    spec_get_string(c, lx, "linux", "cgroupsPath", false, &s->cgroups_path) < 0 ||
	    spec_get_object(c, lx, "linux", "resources", false, &res) < 0 ||
	    (res && spec_parse_resources(c, res, "linux.resources", &s->resources) < 0) ||
	    spec_get_strv(c, lx, "linux", "maskedPaths", &s->masked_paths, &s->n_masked_paths) <
		    0 ||
	    spec_get_strv(c, lx, "linux", "readonlyPaths", &s->readonly_paths,
			  &s->n_readonly_paths) < 0 ||
	    spec_get_string_map(c, lx, "linux", "sysctl", &s->sysctl_keys, &s->sysctl_values,
				&s->n_sysctl) < 0)
		return -EINVAL;
	return 0;
}

void spec_free_linux(struct oci_spec *s)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	free(s->uid_mappings);
	free(s->gid_mappings);
	free(s->cgroups_path);
	resources_free(&s->resources);
	oci_strv_free(s->masked_paths);
	oci_strv_free(s->readonly_paths);
	oci_strv_free(s->sysctl_keys);
	oci_strv_free(s->sysctl_values);
}

const struct oci_namespace *oci_spec_namespace(const struct oci_spec *s, enum oci_ns_type t)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (s->namespaces[i].type == t)
			return &s->namespaces[i];
	return NULL;
}

int oci_resources_parse(const char *text, size_t len, const char *filename,
			struct oci_resources *out, struct cv_err **err)
{
	struct spec_ctx c = { .file = filename, .err = err };
	json_t *root = NULL;
	int r;

	resources_init(out);
	if (spec_load_json(&c, text, len, &root) < 0)
		return -EINVAL;
	r = spec_parse_resources(&c, root, "", out);
	json_decref(root);
	if (r < 0)
		resources_free(out);
	return r;
}

void oci_resources_free(struct oci_resources *r)
{
	resources_free(r);
}
