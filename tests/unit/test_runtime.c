/*
 * Unit tests of the pieces engines rely on that need no sandbox: config.json hooks
 * (src/oci/hooks.c: state on stdin, env, order, failures, timeouts), cgroup path resolution,
 * the sentry's share of a memory limit and the memory file's size (src/sandbox), and
 * repeatable options of the command line (src/cli/options.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/cli/cli.h"
#include "../../src/sandbox/sandbox_internal.h"
#include "cvisor/err.h"
#include "cvisor/oci.h"
#include "cvisor/sandbox.h"

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* A spec whose hooks of `kind` are the given shell commands. */
static struct oci_spec *spec_with_hooks(enum oci_hook_kind kind, const char *const *cmds,
					size_t n, int timeout)
{
	struct oci_spec *s = calloc(1, sizeof(*s));
	struct oci_hook *h = calloc(n, sizeof(*h));

	for (size_t i = 0; i < n; i++) {
		h[i].path = strdup("/bin/sh");
		h[i].args = calloc(4, sizeof(char *));
		h[i].args[0] = strdup("sh");
		h[i].args[1] = strdup("-c");
		h[i].args[2] = strdup(cmds[i]);
		h[i].n_args = 3;
		h[i].env = calloc(2, sizeof(char *));
		h[i].env[0] = strdup("HOOKVAR=set");
		h[i].n_env = 1;
		h[i].timeout = timeout;
	}
	s->hooks[kind].hooks = h;
	s->hooks[kind].n = n;
	return s;
}

static void hooks_get_state_env_and_run_in_order(void **unused)
{
	char tmp[] = "/tmp/cv-test-hooks-XXXXXX", cmd[2][256];
	const char *cmds[2] = {cmd[0], cmd[1]};
	struct cv_err *err = NULL;
	struct oci_spec *s;

	assert_non_null(mkdtemp(tmp));
	snprintf(cmd[0], sizeof(cmd[0]), "echo first $HOOKVAR $(cat) > %s/out", tmp);
	snprintf(cmd[1], sizeof(cmd[1]), "echo second >> %s/out", tmp);
	s = spec_with_hooks(OCI_HOOK_CREATE_RUNTIME, cmds, 2, 0);
	assert_int_equal(oci_hooks_run(s, OCI_HOOK_CREATE_RUNTIME, "{\"id\":\"x\"}", &err), 0);
	assert_null(err);
	strcat(tmp, "/out");
	assert_string_equal(slurp(tmp), "first set {\"id\":\"x\"}\nsecond\n");
	unlink(tmp);
	tmp[strlen(tmp) - 4] = 0;
	rmdir(tmp);
	oci_spec_free(s);
}

static void a_failing_hook_stops_the_list_and_says_why(void **unused)
{
	const char *cmds[2] = {"echo nope >&2; exit 3", "echo must-not-run; exit 9"};
	struct oci_spec *s = spec_with_hooks(OCI_HOOK_PRESTART, cmds, 2, 0);
	struct cv_err *err = NULL;

	assert_true(oci_hooks_run(s, OCI_HOOK_PRESTART, "{}", &err) < 0);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "prestart hook `/bin/sh` failed with exit status 3: nope"));
	cv_err_free(&err);
	oci_spec_free(s);
}

static void a_hook_past_its_timeout_is_killed(void **unused)
{
	const char *cmds[1] = {"exec sleep 10"};
	struct oci_spec *s = spec_with_hooks(OCI_HOOK_POSTSTOP, cmds, 1, 1);
	struct cv_err *err = NULL;
	time_t t0 = time(NULL);

	assert_true(oci_hooks_run(s, OCI_HOOK_POSTSTOP, "{}", &err) < 0);
	assert_true(time(NULL) - t0 < 5);
	assert_non_null(strstr(err->msg, "did not finish within 1 s"));
	cv_err_free(&err);
	oci_spec_free(s);
}

static void a_hook_leaving_a_process_behind_returns(void **unused)
{
	const char *cmds[1] = {"(sleep 10 &); echo done"};
	struct oci_spec *s = spec_with_hooks(OCI_HOOK_POSTSTART, cmds, 1, 0);
	struct cv_err *err = NULL;
	time_t t0 = time(NULL);

	assert_int_equal(oci_hooks_run(s, OCI_HOOK_POSTSTART, "{}", &err), 0);
	assert_true(time(NULL) - t0 < 5);
	oci_spec_free(s);
}

static void cgroup_paths(void **unused)
{
	char *p;

	p = cgroup_resolve("/docker/abc", "abc");
	assert_string_equal(p, "/docker/abc");
	free(p);
	p = cgroup_resolve(NULL, "c1");
	assert_string_equal(p, "/cvisor/c1");
	free(p);
	p = cgroup_resolve("pods/x", "c1");
	assert_string_equal(p, "/cvisor/pods/x");
	free(p);
}

static void memory_shares(void **unused)
{
	/* the reserve: limit/8 within [24 MiB, 128 MiB]; half of a small limit */
	assert_int_equal(sandbox_sentry_memory_limit(64ull << 20), 40ull << 20);
	assert_int_equal(sandbox_sentry_memory_limit(256ull << 20), 224ull << 20);
	assert_int_equal(sandbox_sentry_memory_limit(4ull << 30), (4ull << 30) - (128ull << 20));
	assert_int_equal(sandbox_sentry_memory_limit(32ull << 20), 16ull << 20);
	/* the memory file: 8 times the limit, at least 1 GiB, at most the default 64 GiB */
	assert_int_equal(sandbox_memfile_size(64ull << 20), 1ull << 30);
	assert_int_equal(sandbox_memfile_size(512ull << 20), 4ull << 30);
	assert_int_equal(sandbox_memfile_size(100ull << 30), 64ull << 30);
}

static void repeatable_options(void **unused)
{
	struct cli_list env = {0};
	bool tty = false;
	const struct cli_opt opts[] = {
		{"env", 'e', CLI_OPT_LIST, &env, "K=V", "env"},
		{"tty", 't', CLI_OPT_BOOL, &tty, NULL, "tty"},
		CLI_OPT_END,
	};
	char *argv[] = {"exec", "-e", "A=1", "--env=B=2", "-t", "--env", "C=3", "id", "cmd", NULL};
	struct cv_err *err = NULL;
	int pos = cli_parse_opts(opts, 9, argv, &err);

	assert_int_equal(pos, 7);
	assert_true(tty);
	assert_int_equal(env.n, 3);
	assert_string_equal(env.v[0], "A=1");
	assert_string_equal(env.v[1], "B=2");
	assert_string_equal(env.v[2], "C=3");
	assert_null(env.v[3]);
	free(env.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hooks_get_state_env_and_run_in_order),
		cmocka_unit_test(a_failing_hook_stops_the_list_and_says_why),
		cmocka_unit_test(a_hook_past_its_timeout_is_killed),
		cmocka_unit_test(a_hook_leaving_a_process_behind_returns),
		cmocka_unit_test(cgroup_paths),
		cmocka_unit_test(memory_shares),
		cmocka_unit_test(repeatable_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
