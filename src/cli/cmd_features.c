/* `cvisor features`: what this runtime supports, in runc's `features` JSON layout. */
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

static json_t *string_list(const char *const *v)
{
	json_t *a = json_array();

	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *linux_features(void)
{
	static const char *const ns[] = { "cgroup", "ipc", "mount", "network", "pid", "user",
					  "uts", NULL };
	json_t *caps = json_array();
	const char *name;

	for (int i = 0; (name = oci_cap_name(i)) || i < 64; i++)
		if (name)
			json_array_append_new(caps, json_string(name));
	/* The container's seccomp profile is not applied: the sentry serves every syscall
	 * itself and the sandbox has its own allowlist (docs/security.md). */
	return json_pack("{s:o,s:o,s:{s:b,s:b,s:b,s:b},s:{s:b},s:{s:b},s:{s:b}}", "namespaces",
			 string_list(ns), "capabilities", caps, "cgroup", "v1", 1, "v2", 1,
			 "systemd", 0, "systemdUser", 0, "seccomp", "enabled", 0, "apparmor",
			 "enabled", 0, "selinux", "enabled", 0);
}

int cmd_features(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	static const char *const hooks[] = { "prestart",  "createRuntime", "createContainer",
					     "startContainer", "poststart", "poststop", NULL };
	const struct cli_opt opts[] = { CLI_OPT_END };
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *mopts = json_array();
	const char *o;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "", "Shows the features of this runtime as JSON.", 0,
			   0, &pos, err);
	if (r != 0) {
		json_decref(mopts);
		return r < 0 ? r : 0;
	}
	for (size_t i = 0; (o = oci_mount_option_name(i)); i++)
		json_array_append_new(mopts, json_string(o));
	j = json_pack("{s:s,s:s,s:o,s:o,s:o,s:{s:s,s:s}}", "ociVersionMin", "1.0.0",
		      "ociVersionMax", CV_OCI_VERSION, "hooks", string_list(hooks), "mountOptions",
		      mopts, "linux", linux_features(), "annotations", "io.github.cvisor.version",
		      CV_VERSION, "io.github.cvisor.platforms", "ptrace,systrap,kvm");
	text = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	if (!text)
		return cv_err_set(err, ENOMEM, "features");
	printf("%s\n", text);
	return 0;
}
