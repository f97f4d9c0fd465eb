/* `cvisor platforms`: which platforms this host can run, and why not the others. */
#include <stdio.h>

#include "cli.h"
#include "cvisor/err.h"
#include "cvisor/platform.h"

int cmd_platforms(struct cli_global *g, int argc, char **argv, struct cv_err **err)
{
	const struct platform_ops *const *all = platform_list();
	const struct platform_ops *def;
	const struct cli_opt opts[] = {CLI_OPT_END};
	char why[256];
	int pos, r, usable = 0;

	r = cli_parse_verb(opts, argc, argv, "",
			   "Lists every platform compiled in, whether this host can run it (and why\n"
			   "not), and marks the default.  Exits 1 when none is usable.",
			   0, 0, &pos, err);
	if (r != 0)
		return r < 0 ? r : 0;
	def = platform_default(why, sizeof(why));
	for (size_t i = 0; all[i]; i++) {
		why[0] = 0;
		if (all[i]->probe(why, sizeof(why)) == 0) {
			printf("%-8s usable%s\n", all[i]->name, all[i] == def ? " (default)" : "");
			usable++;
		} else {
			printf("%-8s unavailable: %s\n", all[i]->name, why[0] ? why : "probe failed");
		}
	}
	if (!usable)
		return cv_err_set(err, 0, "no usable platform on this host");
	return 0;
}
