/*
 * Unit tests of src/oci/spec*.c: config.json fixtures as Docker, containerd and `runc spec`
 * write them (tests/unit/data/oci/good), and malformed ones (data/oci/bad), each with the exact
 * message it must produce.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/oci.h"

#ifndef CV_TEST_DATA
#define CV_TEST_DATA "tests/unit/data"
#endif

static const char *data_dir(void)
{
	const char *d = getenv("CV_TEST_DATA");

	return d ? d : CV_TEST_DATA;
}

/* Reads data/oci/<rel> into a malloc'd, NUL-terminated buffer. */
static char *fixture(const char *rel, size_t *len)
{
	char path[512];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/oci/%s", data_dir(), rel);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("cannot open fixture %s: %s", path, strerror(errno));
	assert_int_equal(fstat(fd, &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static struct oci_spec *parse_good(const char *rel)
{
	struct cv_err *err = NULL;
	struct oci_spec *s = NULL;
	size_t len;
	char *text = fixture(rel, &len);

	if (oci_spec_parse(text, len, "config.json", &s, &err) < 0)
		fail_msg("%s: unexpected error: %s", rel, err->msg);
	free(text);
	assert_non_null(s);
	return s;
}

static const struct oci_mount *mount_at(const struct oci_spec *s, const char *dest)
{
	for (size_t i = 0; i < s->n_mounts; i++)
		if (!strcmp(s->mounts[i].destination, dest))
			return &s->mounts[i];
	fail_msg("no mount at %s", dest);
	return NULL;
}

#define CAP(c) (1ULL << (c))

static void test_docker_config(void **state)
{
	struct oci_spec *s = parse_good("good/docker.json");
	const struct oci_mount *m;
	const struct oci_process *p = &s->process;

	assert_string_equal(s->oci_version, "1.0.2-dev");
	assert_int_equal(p->n_args, 3);
	assert_string_equal(p->args[2], "echo started; sleep 1000");
	assert_null(p->args[3]);
	assert_string_equal(oci_env_get(p->env, "HOSTNAME"), "183b91d5c97a");
	assert_true(p->has_oom_score_adj);
	assert_int_equal(p->oom_score_adj, 0);
	assert_false(p->no_new_privileges);
	assert_false(p->terminal);
	assert_true(p->caps.bounding & CAP(CAP_CHOWN));
	assert_true(p->caps.bounding & CAP(CAP_AUDIT_WRITE));
	assert_false(p->caps.bounding & CAP(CAP_SYS_ADMIN));
	assert_int_equal(__builtin_popcountll(p->caps.bounding), 14);
	assert_int_equal(p->caps.ambient, 0);
	assert_string_equal(s->hostname, "183b91d5c97a");
	assert_string_equal(s->root_path, "/var/lib/docker/overlay2/ca11d933c1be2173d31c608091e404ff5"
					  "318f994cad7f10a3b34db154fe55038/merged");

	assert_int_equal(s->n_mounts, 10);
	m = mount_at(s, "/etc/resolv.conf");
	assert_true(m->bind);
	assert_string_equal(m->type, "bind");
	assert_int_equal(m->flags, MS_BIND | MS_REC);
	assert_int_equal(m->propagation, MS_PRIVATE | MS_REC);
	assert_null(m->data);
	m = mount_at(s, "/dev/shm");
	assert_int_equal(m->flags, MS_NOSUID | MS_NOEXEC | MS_NODEV);
	assert_string_equal(m->data, "mode=1777,size=67108864");
	m = mount_at(s, "/sys/fs/cgroup");
	assert_int_equal(m->flags, MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV);

	assert_int_equal(s->hooks[OCI_HOOK_PRESTART].n, 1);
	assert_string_equal(s->hooks[OCI_HOOK_PRESTART].hooks[0].path, "/proc/11658/exe");
	assert_string_equal(s->hooks[OCI_HOOK_PRESTART].hooks[0].args[0], "libnetwork-setkey");
	assert_int_equal(s->hooks[OCI_HOOK_POSTSTOP].n, 0);

	assert_int_equal(s->n_namespaces, 5);
	assert_non_null(oci_spec_namespace(s, OCI_NS_NETWORK));
	assert_null(oci_spec_namespace(s, OCI_NS_USER));
	assert_string_equal(s->cgroups_path, "/docker/183b91d5c97aa25bc6302d1a743aa79990df84a74d95f"
					     "b1576c068d025c3cf80");
	assert_int_equal(s->resources.memory_limit, -1);
	assert_int_equal(s->resources.cpu_shares, 0);
	assert_int_equal(s->resources.pids_limit, -1);
	assert_int_equal(s->n_sysctl, 2);
	assert_string_equal(s->sysctl_keys[1], "net.ipv4.ping_group_range");
	assert_string_equal(s->sysctl_values[1], "0 2147483647");
	assert_int_equal(s->n_masked_paths, 10);
	assert_int_equal(s->n_readonly_paths, 5);
	assert_int_equal(s->n_annotations, 0);
	oci_spec_free(s);
}

static void test_containerd_config(void **state)
{
	struct oci_spec *s = parse_good("good/containerd.json");
	const struct oci_process *p = &s->process;

	assert_string_equal(p->args[0], "sh");
	assert_int_equal(p->user.n_additional_gids, 1);
	assert_int_equal(p->user.additional_gids[0], 0);
	assert_true(p->no_new_privileges);
	assert_false(p->has_oom_score_adj);
	assert_int_equal(p->n_rlimits, 1);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(p->rlimits[0].soft, 1024);
	assert_int_equal(p->rlimits[0].hard, 1024);
	assert_string_equal(s->root_path, "rootfs");
	assert_false(s->root_readonly);
	assert_null(s->hostname);
	assert_int_equal(s->resources.cpu_shares, 1024);
	assert_string_equal(s->cgroups_path, "/default/c1");
	assert_string_equal(mount_at(s, "/run")->data, "mode=755,size=65536k");
	assert_int_equal(mount_at(s, "/run")->flags, MS_NOSUID | MS_STRICTATIME);
	oci_spec_free(s);
}

static void test_runc_spec(void **state)
{
	struct oci_spec *s = parse_good("good/runc-spec.json");
	const uint64_t three = CAP(CAP_AUDIT_WRITE) | CAP(CAP_KILL) | CAP(CAP_NET_BIND_SERVICE);

	assert_true(s->process.terminal);
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "runc");
	assert_int_equal(s->process.caps.ambient, three);
	assert_int_equal(s->process.caps.bounding, three);
	assert_int_equal(s->process.caps.inheritable, 0);
	assert_int_equal(mount_at(s, "/proc")->flags, 0);
	assert_int_equal(mount_at(s, "/sys/fs/cgroup")->flags,
			 MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY);
	assert_string_equal(mount_at(s, "/dev/pts")->data,
			    "newinstance,ptmxmode=0666,mode=0620,gid=5");
	assert_non_null(oci_spec_namespace(s, OCI_NS_NETWORK));
	oci_spec_free(s);
}

static void test_runc_spec_rootless(void **state)
{
	struct oci_spec *s = parse_good("good/runc-spec-rootless.json");
	const struct oci_mount *sys = mount_at(s, "/sys");

	assert_non_null(oci_spec_namespace(s, OCI_NS_USER));
	assert_null(oci_spec_namespace(s, OCI_NS_NETWORK));
	assert_int_equal(s->n_uid_mappings, 1);
	assert_int_equal(s->uid_mappings[0].size, 1);
	assert_int_equal(s->n_gid_mappings, 1);
	assert_string_equal(sys->type, "none");
	assert_true(sys->bind);
	assert_int_equal(sys->flags, MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	oci_spec_free(s);
}

static void test_full_config(void **state)
{
	struct oci_spec *s = parse_good("good/full.json");
	const struct oci_process *p = &s->process;
	const struct oci_mount *m;

	assert_int_equal(p->console_height, 25);
	assert_int_equal(p->console_width, 80);
	assert_int_equal(p->user.uid, 1000);
	assert_int_equal(p->user.gid, 1001);
	assert_true(p->user.has_umask);
	assert_int_equal(p->user.umask, 022);
	assert_int_equal(p->user.additional_gids[1], UINT32_MAX);
	assert_string_equal(p->args[2], "arg with spaces");
	assert_string_equal(oci_env_get(p->env, "EMPTY"), "");
	assert_string_equal(oci_env_get(p->env, "EQ"), "a=b");
	assert_null(oci_env_get(p->env, "EQ=a"));
	assert_null(oci_env_get(p->env, "PAT"));
	assert_int_equal(p->caps.bounding, CAP(CAP_SYS_ADMIN) | CAP(CAP_CHECKPOINT_RESTORE));
	assert_int_equal(p->caps.inheritable, CAP(CAP_CHOWN));
	assert_int_equal(p->caps.ambient, 0);
	/* RLIM_INFINITY written out: beyond int64, read through the integral-real path */
	assert_int_equal(p->rlimits[1].resource, RLIMIT_CORE);
	assert_true(p->rlimits[1].soft == UINT64_MAX);
	assert_true(p->rlimits[1].hard == UINT64_MAX);
	assert_int_equal(p->rlimits[0].hard, 4096);
	assert_int_equal(p->oom_score_adj, -999);
	assert_string_equal(s->domainname, "example.org");

	m = mount_at(s, "/data");
	assert_string_equal(m->type, "bind");
	assert_int_equal(m->flags, MS_BIND | MS_REC | MS_NOSUID);
	assert_int_equal(m->propagation, MS_SLAVE | MS_REC);
	assert_int_equal(m->rec_set, MS_RDONLY);
	m = mount_at(s, "/tmp");
	assert_int_equal(m->flags, 0); /* noexec then exec */
	assert_true(m->tmpcopyup);
	assert_string_equal(m->data, "size=1m,mode=1777");
	assert_int_equal(m->n_options, 5);
	m = mount_at(s, "/mnt");
	assert_int_equal(m->flags, MS_NOATIME);
	assert_int_equal(m->propagation, MS_SHARED); /* the last one wins */
	assert_int_equal(m->rec_set, 0);
	assert_int_equal(m->rec_clear, MS_NOSUID);
	assert_int_equal(mount_at(s, "/bare")->n_options, 0);

	assert_int_equal(s->hooks[OCI_HOOK_PRESTART].hooks[0].timeout, 5);
	assert_string_equal(s->hooks[OCI_HOOK_PRESTART].hooks[0].env[0], "X=1");
	assert_int_equal(s->hooks[OCI_HOOK_CREATE_RUNTIME].n, 1);
	assert_int_equal(s->hooks[OCI_HOOK_CREATE_CONTAINER].n, 2);
	assert_int_equal(s->hooks[OCI_HOOK_START_CONTAINER].n, 1);
	assert_int_equal(s->hooks[OCI_HOOK_POSTSTART].n, 1);
	assert_int_equal(s->hooks[OCI_HOOK_POSTSTOP].hooks[0].timeout, 30);
	assert_int_equal(s->hooks[OCI_HOOK_CREATE_RUNTIME].hooks[0].timeout, 0);

	assert_int_equal(s->n_namespaces, 8);
	assert_string_equal(oci_spec_namespace(s, OCI_NS_NETWORK)->path, "/proc/1234/ns/net");
	assert_null(oci_spec_namespace(s, OCI_NS_TIME)->path);
	assert_int_equal(s->uid_mappings[0].host_id, 100000);
	assert_int_equal(s->uid_mappings[0].size, 65536);
	assert_int_equal(s->n_gid_mappings, 2);
	assert_int_equal(s->gid_mappings[1].container_id, 65536);
	assert_int_equal(s->resources.memory_limit, 536870912);
	assert_int_equal(s->resources.memory_reservation, 268435456);
	assert_int_equal(s->resources.memory_swap, -1);
	assert_int_equal(s->resources.cpu_shares, 512);
	assert_int_equal(s->resources.cpu_quota, 50000);
	assert_int_equal(s->resources.cpu_period, 100000);
	assert_string_equal(s->resources.cpuset_cpus, "0-1");
	assert_string_equal(s->resources.cpuset_mems, "0");
	assert_int_equal(s->resources.pids_limit, 64);
	assert_int_equal(s->n_annotations, 2);
	assert_string_equal(s->annotation_keys[0], "org.example.one");
	assert_string_equal(s->annotation_values[1], "");
	assert_null(s->annotation_keys[2]);
	oci_spec_free(s);
}

static void test_minimal_config(void **state)
{
	struct oci_spec *s = parse_good("good/minimal.json");

	assert_int_equal(s->n_mounts, 0);
	assert_int_equal(s->n_namespaces, 0);
	assert_null(s->process.env);
	assert_int_equal(s->process.user.uid, 0);
	assert_int_equal(s->resources.memory_limit, -1);
	assert_int_equal(s->resources.cpu_quota, -1);
	assert_null(oci_env_get(s->process.env, "PATH"));
	oci_spec_free(s);
}

static void test_spec_load(void **state)
{
	char dir[] = "/tmp/cv-test-oci-XXXXXX", path[600];
	struct cv_err *err = NULL;
	struct oci_spec *s = NULL;

	assert_non_null(mkdtemp(dir));
	assert_true(oci_spec_load(dir, &s, &err) < 0);
	snprintf(path, sizeof(path), "reading `%s/config.json`: No such file or directory", dir);
	assert_string_equal(err->msg, path);
	cv_err_free(&err);

	snprintf(path, sizeof(path), "%s/config.json", dir);
	assert_int_equal(oci_spec_write_default(path, false, &err), 0);
	assert_int_equal(oci_spec_load(dir, &s, &err), 0);
	assert_string_equal(s->process.args[0], "sh");
	oci_spec_free(s);
	unlink(path);
	rmdir(dir);
}

/* Every file in data/oci/bad and the message it must give. */
static const struct {
	const char *file, *msg;
} bad_cases[] = {
	{ "additional-gids-bad", "process.user.additionalGids[1]: expected an integer" },
	{ "annotation-empty-key", "annotations: keys must not be empty" },
	{ "annotation-not-string", "annotations.org.example.n: expected a string" },
	{ "annotations-not-object", "annotations: expected an object" },
	{ "args-empty", "process.args: must not be empty" },
	{ "args-missing", "process.args: required" },
	{ "args-number", "process.args: expected an array of strings" },
	{ "args-string", "process.args: expected an array of strings" },
	{ "cap-lowercase", "process.capabilities.permitted[0]: unknown capability `cap_chown`" },
	{ "cap-set-not-array", "process.capabilities.effective: expected an array of strings" },
	{ "cap-unknown", "process.capabilities.bounding[2]: unknown capability `CAP_FOO`" },
	{ "caps-not-object", "process.capabilities: expected an object" },
	{ "cgroups-path-int", "linux.cgroupsPath: expected a string" },
	{ "console-size-no-width", "process.consoleSize.width: required" },
	{ "cpu-cpus-int", "linux.resources.cpu.cpus: expected a string" },
	{ "cpu-shares-negative", "linux.resources.cpu.shares: `-2` must not be negative" },
	{ "cwd-missing", "process.cwd: required" },
	{ "cwd-relative", "process.cwd: `tmp` must be an absolute path" },
	{ "duplicate-key",
	  "invalid JSON at line 1, column 36: duplicate object key near '\"ociVersion\"'" },
	{ "empty", "invalid JSON at line 1, column 0: '[' or '{' expected near end of file" },
	{ "env-empty-name", "process.env[0]: `=x` is not of the form NAME=VALUE" },
	{ "env-no-equals", "process.env[1]: `FOO` is not of the form NAME=VALUE" },
	{ "gid-real", "process.user.gid: expected an integer" },
	{ "hook-args-not-strings", "hooks.poststart[1].args: expected an array of strings" },
	{ "hook-no-path", "hooks.prestart[0].path: required" },
	{ "hook-relative-path", "hooks.prestart[0].path: `hook.sh` must be an absolute path" },
	{ "hook-timeout-zero", "hooks.poststop[0].timeout: `0` is out of range (1 to 2147483647)" },
	{ "hooks-kind-not-array", "hooks.createRuntime: expected an array" },
	{ "hooks-not-object", "hooks: expected an object" },
	{ "hostname-int", "hostname: expected a string" },
	{ "linux-not-object", "linux: expected an object" },
	{ "mapping-no-size", "linux.gidMappings[0].size: required" },
	{ "mappings-without-userns", "linux.uidMappings: given without a user namespace" },
	{ "masked-paths-not-strings", "linux.maskedPaths: expected an array of strings" },
	{ "memory-limit-below-minus-one",
	  "linux.resources.memory.limit: `-2` is out of range (-1 to 9223372036854775807)" },
	{ "memory-limit-string", "linux.resources.memory.limit: expected an integer" },
	{ "mount-bind-no-source", "mounts[0].source: required for a bind mount" },
	{ "mount-no-destination", "mounts[0].destination: required" },
	{ "mount-no-type", "mounts[0].type: required unless the options hold bind or rbind" },
	{ "mount-not-object", "mounts[0]: expected an object" },
	{ "mount-options-not-strings", "mounts[1].options: expected an array of strings" },
	{ "mount-relative-destination", "mounts[3].destination: must be an absolute path" },
	{ "mount-type-int", "mounts[0].type: expected a string" },
	{ "mounts-not-array", "mounts: expected an array" },
	{ "namespace-duplicate", "linux.namespaces[2].type: duplicate namespace `pid`" },
	{ "namespace-no-type", "linux.namespaces[0].type: required" },
	{ "namespace-relative-path",
	  "linux.namespaces[0].path: `proc/1/ns/net` must be an absolute path" },
	{ "namespace-unknown", "linux.namespaces[1].type: unknown namespace type `foo`" },
	{ "namespaces-not-array", "linux.namespaces: expected an array" },
	{ "nnp-string", "process.noNewPrivileges: expected a boolean" },
	{ "not-an-object", "expected a JSON object at the top level" },
	{ "oom-score-adj-range", "process.oomScoreAdj: `1001` is out of range (-1000 to 1000)" },
	{ "pids-no-limit", "linux.resources.pids.limit: required" },
	{ "process-missing", "process: required" },
	{ "resources-not-object", "linux.resources: expected an object" },
	{ "rlimit-duplicate", "process.rlimits[1].type: duplicate rlimit `RLIMIT_NOFILE`" },
	{ "rlimit-negative", "process.rlimits[0].hard: `-1` must not be negative" },
	{ "rlimit-no-soft", "process.rlimits[0].soft: required" },
	{ "rlimit-no-type", "process.rlimits[0].type: required" },
	{ "rlimit-not-object", "process.rlimits[0]: expected an object" },
	{ "rlimit-soft-above-hard", "process.rlimits[0]: soft limit exceeds hard limit" },
	{ "rlimit-unknown", "process.rlimits[0].type: unknown rlimit `RLIMIT_FOO`" },
	{ "rlimits-not-array", "process.rlimits: expected an array" },
	{ "root-missing", "root: required" },
	{ "root-not-object", "root: expected an object" },
	{ "root-path-empty", "root.path: must not be empty" },
	{ "root-path-missing", "root.path: required" },
	{ "root-readonly-string", "root.readonly: expected a boolean" },
	{ "syntax-error", "invalid JSON at line 4, column 1: string or '}' expected near '}'" },
	{ "sysctl-not-string", "linux.sysctl.net.ipv4.ip_forward: expected a string" },
	{ "terminal-string", "process.terminal: expected a boolean" },
	{ "uid-negative", "process.user.uid: `-1` is out of range (0 to 4294967295)" },
	{ "uid-string", "process.user.uid: expected an integer" },
	{ "uid-too-big", "process.user.uid: `4294967296` is out of range (0 to 4294967295)" },
	{ "umask-negative", "process.user.umask: `-18` is out of range (0 to 4294967295)" },
	{ "user-not-object", "process.user: expected an object" },
	{ "userns-without-mappings", "linux.uidMappings: required with a new user namespace" },
	{ "version-2", "ociVersion: unsupported version `2.0.0` (expected 1.x)" },
	{ "version-missing", "ociVersion: required" },
	{ "version-not-string", "ociVersion: expected a string" },
};

static void test_bad_configs(void **state)
{
	int failures = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		char rel[128], want[512];
		struct cv_err *err = NULL;
		struct oci_spec *s = NULL;
		size_t len;
		char *text;

		snprintf(rel, sizeof(rel), "bad/%s.json", bad_cases[i].file);
		snprintf(want, sizeof(want), "config.json: %s", bad_cases[i].msg);
		text = fixture(rel, &len);
		if (oci_spec_parse(text, len, "config.json", &s, &err) == 0) {
			print_error("%s: parsed, expected: %s\n", rel, want);
			oci_spec_free(s);
			failures++;
		} else if (strcmp(err->msg, want) != 0) {
			print_error("%s:\n   got: %s\n  want: %s\n", rel, err->msg, want);
			failures++;
		}
		assert_null(s);
		cv_err_free(&err);
		free(text);
	}
	assert_int_equal(failures, 0);
}

/* Keeps the table and the directory in step: a fixture nobody checks is a test nobody runs. */
static void test_bad_configs_all_listed(void **state)
{
	char path[512];
	struct dirent *de;
	size_t files = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/oci/bad", data_dir());
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		bool listed = false;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		files++;
		for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++)
			if (strlen(bad_cases[i].file) == n - 5 &&
			    !strncmp(bad_cases[i].file, de->d_name, n - 5))
				listed = true;
		if (!listed)
			fail_msg("bad/%s has no expected message in bad_cases", de->d_name);
	}
	closedir(d);
	assert_int_equal(files, ARRAY_SIZE(bad_cases));
}

static void test_exec_process(void **state)
{
	struct oci_process p;
	struct cv_err *err = NULL;
	size_t len;
	char *text = fixture("good/exec-docker.json", &len);

	assert_int_equal(oci_process_parse(text, len, "process.json", &p, &err), 0);
	assert_string_equal(p.args[1], "hi-exec");
	assert_string_equal(oci_env_get(p.env, "HOSTNAME"), "183b91d5c97a");
	assert_true(p.has_oom_score_adj);
	assert_true(p.caps.effective & CAP(CAP_KILL));
	oci_process_free(&p);
	assert_null(p.args);
	free(text);

	text = fixture("good/exec-containerd.json", &len);
	assert_int_equal(oci_process_parse(text, len, "process.json", &p, &err), 0);
	assert_true(p.no_new_privileges);
	assert_int_equal(p.rlimits[0].soft, 1024);
	oci_process_free(&p);
	free(text);

	text = strdup("{\"args\":[],\"cwd\":\"/\"}");
	assert_true(oci_process_parse(text, strlen(text), "process.json", &p, &err) < 0);
	assert_string_equal(err->msg, "process.json: args: must not be empty");
	assert_null(p.args);
	cv_err_free(&err);
	free(text);
}

static void test_resources(void **state)
{
	struct oci_resources r;
	struct cv_err *err = NULL;
	size_t len;
	char *text = fixture("good/update-resources.json", &len);

	assert_int_equal(oci_resources_parse(text, len, "resources", &r, &err), 0);
	assert_int_equal(r.memory_limit, 104857600);
	assert_int_equal(r.memory_swap, 209715200);
	assert_int_equal(r.memory_reservation, -1);
	assert_int_equal(r.cpu_shares, 512);
	assert_int_equal(r.cpu_quota, -1);
	assert_int_equal(r.pids_limit, -1);
	oci_resources_free(&r);
	free(text);

	text = strdup("{\"pids\":{\"limit\":\"x\"}}");
	assert_true(oci_resources_parse(text, strlen(text), "-", &r, &err) < 0);
	free(text);
	assert_string_equal(err->msg, "-: pids.limit: expected an integer");
	cv_err_free(&err);
}

static char *read_path(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

/* `spec` writes what `runc spec` writes, byte for byte, but for the hostname. */
static void test_write_default(void **state)
{
	char dir[] = "/tmp/cv-test-spec-XXXXXX", path[600], want[8192];
	struct cv_err *err = NULL;
	struct oci_spec *s = NULL;
	size_t len, runc_len;
	char *ours, *runc, *host;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	assert_int_equal(oci_spec_write_default(path, false, &err), 0);
	runc = fixture("good/runc-spec.json", &runc_len);
	host = strstr(runc, "\"hostname\": \"runc\"");
	assert_non_null(host);
	snprintf(want, sizeof(want), "%.*s\"hostname\": \"cvisor\"%s", (int)(host - runc), runc,
		 host + strlen("\"hostname\": \"runc\""));
	ours = read_path(path, &len);
	assert_string_equal(ours, want);
	free(ours);
	free(runc);

	assert_true(oci_spec_write_default(path, false, &err) < 0);
	snprintf(want, sizeof(want), "`%s` exists; remove it first", path);
	assert_string_equal(err->msg, want);
	cv_err_free(&err);
	unlink(path);

	snprintf(path, sizeof(path), "%s/rootless.json", dir);
	assert_int_equal(oci_spec_write_default(path, true, &err), 0);
	ours = read_path(path, &len);
	assert_int_equal(oci_spec_parse(ours, len, "rootless.json", &s, &err), 0);
	free(ours);
	assert_non_null(oci_spec_namespace(s, OCI_NS_USER));
	assert_null(oci_spec_namespace(s, OCI_NS_NETWORK));
	assert_int_equal(s->uid_mappings[0].host_id, geteuid());
	assert_int_equal(s->gid_mappings[0].host_id, getegid());
	assert_string_equal(mount_at(s, "/dev/pts")->data, "newinstance,ptmxmode=0666,mode=0620");
	assert_string_equal(mount_at(s, "/sys")->type, "none");
	oci_spec_free(s);
	unlink(path);
	rmdir(dir);
}

static void test_json_format(void **state)
{
	json_t *j = json_pack("{s:i,s:[],s:{},s:[s,{s:b}],s:s}", "a", 1, "empty", "obj", "list",
			      "x", "y", 1, "q", "say \"hi\"");
	char *text = oci_json_format(j, "  ");

	assert_string_equal(text, "{\n"
				  "  \"a\": 1,\n"
				  "  \"empty\": [],\n"
				  "  \"obj\": {},\n"
				  "  \"list\": [\n"
				  "    \"x\",\n"
				  "    {\n"
				  "      \"y\": true\n"
				  "    }\n"
				  "  ],\n"
				  "  \"q\": \"say \\\"hi\\\"\"\n"
				  "}");
	free(text);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_config),
		cmocka_unit_test(test_containerd_config),
		cmocka_unit_test(test_runc_spec),
		cmocka_unit_test(test_runc_spec_rootless),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_minimal_config),
		cmocka_unit_test(test_spec_load),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_bad_configs_all_listed),
		cmocka_unit_test(test_exec_process),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_write_default),
		cmocka_unit_test(test_json_format),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("oci", tests, NULL, NULL);
}
