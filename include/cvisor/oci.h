/*
 * The OCI runtime spec (config.json), parsed once with jansson into struct oci_spec
 * (src/oci/spec.c).  Nothing else in cvisor reads config.json.  Errors name the file and the
 * field: "config.json: process.args: expected an array of strings".
 *
 * Ownership: an oci_spec owns every string and array reachable from it; oci_spec_free()
 * releases all of it.  String arrays are NULL-terminated and also carry their length.
 */
#ifndef CV_OCI_H
#define CV_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cv_err;
struct json_t;

/* The runtime-spec version cvisor implements, reported by `state` and written by `spec`
 * (runc 1.1 reports the same). */
#define CV_OCI_VERSION "1.0.2-dev"

struct oci_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct oci_user {
	uint32_t uid, gid;
	uint32_t *additional_gids;
	size_t n_additional_gids;
	bool has_umask;
	uint32_t umask;
};

/* Capability sets as bitmasks of CAP_* numbers. */
struct oci_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct oci_process {
	char **args;
	size_t n_args;
	char **env;
	size_t n_env;
	char *cwd;
	struct oci_user user;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	struct oci_caps caps;
	bool no_new_privileges;
	bool terminal;
	unsigned console_height, console_width; /* 0 when absent */
	bool has_oom_score_adj;
	int oom_score_adj;
};

/* A mount, with its options split into MS_* flags and the remaining fs data ("size=64m"). */
struct oci_mount {
	char *destination;
	char *type; /* "bind" when options hold bind/rbind and type is absent */
	char *source;
	char **options;
	size_t n_options;
	unsigned long flags; /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, ... */
	char *data;          /* comma-joined options that are not flags, or NULL */
	bool bind;           /* bind or rbind */
	/* MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE (| MS_REC for the r* forms), or 0.  Linux
	 * applies propagation in a mount call of its own, hence a field of its own. */
	unsigned long propagation;
	/* MS_* attributes to set or clear on the whole subtree (rro, rnosuid, ...): what
	 * mount_setattr(AT_RECURSIVE) does, which a plain remount cannot. */
	unsigned long rec_set, rec_clear;
	bool tmpcopyup; /* runc's extension: copy the directory's content up into the tmpfs */
};

enum oci_ns_type {
	OCI_NS_PID,
	OCI_NS_NETWORK,
	OCI_NS_MOUNT,
	OCI_NS_IPC,
	OCI_NS_UTS,
	OCI_NS_USER,
	OCI_NS_CGROUP,
	OCI_NS_TIME,
};

struct oci_namespace {
	enum oci_ns_type type;
	char *path; /* join this one instead of creating, or NULL */
};

struct oci_id_mapping {
	uint32_t container_id, host_id, size;
};

struct oci_hook {
	char *path;
	char **args;
	size_t n_args;
	char **env;
	size_t n_env;
	int timeout; /* seconds, 0 = none */
};

enum oci_hook_kind {
	OCI_HOOK_PRESTART,
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
	OCI_HOOK_NKINDS,
};

struct oci_hook_list {
	struct oci_hook *hooks;
	size_t n;
};

/* linux.resources, the parts cvisor applies.  Absent values are -1 (0 for the unsigned
 * shares and period, NULL for the strings). */
struct oci_resources {
	int64_t memory_limit;       /* bytes */
	int64_t memory_reservation; /* bytes */
	int64_t memory_swap;        /* bytes */
	int64_t pids_limit;
	uint64_t cpu_shares;
	int64_t cpu_quota;
	uint64_t cpu_period;
	char *cpuset_cpus;
	char *cpuset_mems;
};

struct oci_spec {
	char *oci_version;
	struct oci_process process;
	char *root_path; /* as written; relative paths are relative to the bundle */
	bool root_readonly;
	char *hostname;
	char *domainname;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_hook_list hooks[OCI_HOOK_NKINDS];

	/* linux.* */
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	struct oci_id_mapping *uid_mappings;
	size_t n_uid_mappings;
	struct oci_id_mapping *gid_mappings;
	size_t n_gid_mappings;
	char *cgroups_path;
	struct oci_resources resources;
	char **masked_paths;
	size_t n_masked_paths;
	char **readonly_paths;
	size_t n_readonly_paths;
	char **sysctl_keys; /* parallel arrays */
	char **sysctl_values;
	size_t n_sysctl;

	/* annotations, as parallel arrays */
	char **annotation_keys;
	char **annotation_values;
	size_t n_annotations;
};

/*
 * Parses JSON text.  `filename` is only used in messages.  On success *out owns a new spec.
 * Returns 0, or a negative value with *err set.
 */
int oci_spec_parse(const char *text, size_t len, const char *filename, struct oci_spec **out,
		   struct cv_err **err);

/* Reads and parses <bundle>/config.json. */
int oci_spec_load(const char *bundle, struct oci_spec **out, struct cv_err **err);

/* Parses a process.json (runc exec --process) into *out, which the caller frees with
 * oci_process_free(). */
int oci_process_parse(const char *text, size_t len, const char *filename,
		      struct oci_process *out, struct cv_err **err);

void oci_process_free(struct oci_process *p);

/* Parses a LinuxResources object (`update --resources FILE`) into *out; free it with
 * oci_resources_free(). */
int oci_resources_parse(const char *text, size_t len, const char *filename,
			struct oci_resources *out, struct cv_err **err);
void oci_resources_free(struct oci_resources *r);
void oci_spec_free(struct oci_spec *s);

/* Returns the namespace entry of that type, or NULL when the spec does not ask for one. */
const struct oci_namespace *oci_spec_namespace(const struct oci_spec *s, enum oci_ns_type t);

/* Writes the default config.json `runc spec` writes (rootless variant when asked) to path;
 * fails with EEXIST if it exists. */
int oci_spec_write_default(const char *path, bool rootless, struct cv_err **err);

/*
 * Lays out a JSON value as Go's json.MarshalIndent does with prefix "" and `indent` ("\t" for
 * config.json, "  " for `state`), without a final newline.  Returns a malloc'd string.
 */
char *oci_json_format(const struct json_t *j, const char *indent);

/*
 * Runs the hooks of one kind in order (src/oci/hooks.c), each with state_json (the OCI state
 * of the container) on stdin, its own args and env, and its timeout.  Stops at the first
 * failure.  Returns 0, or a negative value with *err set naming the hook and quoting what
 * it printed.
 */
int oci_hooks_run(const struct oci_spec *s, enum oci_hook_kind kind, const char *state_json,
		  struct cv_err **err);
/* "prestart", "createRuntime", ... */
const char *oci_hook_kind_name(enum oci_hook_kind kind);

/* The i-th mount option cvisor knows (`features`), or NULL past the last. */
const char *oci_mount_option_name(size_t i);
/* "CAP_CHOWN" for 0, ...; NULL for an unknown number. */
const char *oci_cap_name(int cap);

/* Looks up an environment value in a NULL-terminated KEY=VALUE array, or NULL. */
const char *oci_env_get(char *const *env, const char *key);

#endif
