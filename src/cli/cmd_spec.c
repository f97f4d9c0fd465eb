/* `cvisor spec`: writes the default config.json, as `runc spec` does. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cvisor/cleanup.h"
#include "cvisor/err.h"

int cmd_spec(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const char *bundle = ".";
	bool rootless = false;
	const struct cli_opt opts[] = {
		{ "bundle", 'b', CLI_OPT_STRING, &bundle, "DIR",
		  "write DIR/config.json (default: the current directory)" },
		{ "rootless", 0, CLI_OPT_BOOL, &rootless, NULL,
		  "a spec for a container run by an unprivileged user" },
		CLI_OPT_END,
	};
	_cleanup_free_ char *path = NULL;
	int pos, r;

	r = cli_parse_verb(opts, argc, argv, "",
			   "Writes a config.json for a bundle whose root filesystem is ./rootfs.\n"
			   "Edit it, then `cvisor run ID` in that directory.",
			   0, 0, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (asprintf(&path, "%s/config.json", bundle) < 0)
		abort();
	return oci_spec_write_default(path, rootless, err);
}
