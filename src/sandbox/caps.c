/*
 * Capabilities of the confined sentry: the bounding, ambient and inheritable sets are
 * emptied; permitted and effective keep only what serving the rootfs as the container's root
 * needs (docs/security.md lists them and why).
 */
#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "sandbox_internal.h"

/* What the sentry keeps, and why (printed into docs/security.md by tools/gen-security-doc). */
const struct sentry_cap sentry_caps[] = {
	{CAP_CHOWN, "CAP_CHOWN", "files the container creates on hostfs get the creator's uid/gid"},
	{CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE",
	 "hostfs files are reached as the container's root; the sentry checks permissions itself"},
	{CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "as CAP_DAC_OVERRIDE, for directories"},
	{CAP_FOWNER, "CAP_FOWNER", "chmod/utimes of hostfs files owned by other container users"},
	{CAP_FSETID, "CAP_FSETID", "keeping set-id bits on hostfs files the container changes"},
	{CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE",
	 "the container's root may bind ports below 1024 (host sockets in the sandbox netns)"},
};
const size_t sentry_ncaps = sizeof(sentry_caps) / sizeof(sentry_caps[0]);

int confine_caps(struct cv_err **err)
{
	_cleanup_cap_ cap_t caps = cap_init();
	cap_value_t keep[sizeof(sentry_caps) / sizeof(sentry_caps[0])];

	if (!caps)
		return cv_err_set(err, errno, "cap_init");
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return cv_err_set(err, errno, "dropping capability %d from the bounding set", c);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return cv_err_set(err, errno, "clearing the ambient capabilities");
	for (size_t i = 0; i < sentry_ncaps; i++)
		keep[i] = sentry_caps[i].cap;
	if (cap_set_flag(caps, CAP_PERMITTED, (int)sentry_ncaps, keep, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, (int)sentry_ncaps, keep, CAP_SET) < 0)
		return cv_err_set(err, errno, "cap_set_flag");
	if (cap_set_proc(caps) < 0)
		return cv_err_set(err, errno, "dropping capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cv_err_set(err, errno, "setting no_new_privs");
	return 0;
}
