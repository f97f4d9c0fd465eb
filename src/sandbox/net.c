/*
 * The sandbox's network namespace (DESIGN.md §2 net/): guest inet sockets are host sockets
 * the sentry opens here.  --network=sandbox joins the namespace config.json names (the
 * engine's, e.g. Docker's bridge), or keeps the fresh one the sandbox was cloned into;
 * --network=none always keeps the fresh one; --network=host leaves the host's alone.  A
 * fresh namespace needs its loopback up for 127.0.0.1 and ::1 to work.  Done before
 * confinement.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "sandbox_internal.h"

static int join_netns(const char *path, struct cv_err **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return cv_err_set(err, errno, "opening the network namespace `%s`", path);
	if (setns(fd, CLONE_NEWNET) < 0)
		r = cv_err_set(err, errno, "joining the network namespace `%s`", path);
	close(fd);
	return r;
}

static int loopback_up(struct cv_err **err)
{
	struct ifreq ifr;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cv_err_set(err, errno, "creating a socket to configure `lo`");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		r = cv_err_set(err, errno, "reading the flags of `lo`");
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			r = cv_err_set(err, errno, "bringing `lo` up");
	}
	close(fd);
	return r;
}

/*
 * linux.namespaces entries with a path other than the network's (Kubernetes pods share ipc
 * and uts namespaces that way): the sentry implements those namespaces itself, one per
 * sandbox, so there is nothing on the host to join that the container would see.
 */
static void note_other_paths(const struct oci_spec *spec)
{
	static const char *const names[] = {"pid", "network", "mount", "ipc", "uts", "user",
					    "cgroup", "time"};

	for (size_t i = 0; i < spec->n_namespaces; i++) {
		const struct oci_namespace *ns = &spec->namespaces[i];

		if (ns->path && ns->type != OCI_NS_NETWORK && (size_t)ns->type < ARRAY_SIZE(names))
			log_warn("linux.namespaces: the %s namespace `%s` is not joined: the sentry "
				 "has its own", names[ns->type], ns->path);
	}
}

int sandbox_net_setup(const struct sandbox_config *cfg, struct cv_err **err)
{
	const struct oci_namespace *ns = oci_spec_namespace(cfg->spec, OCI_NS_NETWORK);

	note_other_paths(cfg->spec);

	if (cfg->network == NETWORK_HOST)
		return 0;
	if (cfg->network == NETWORK_SANDBOX && ns && ns->path && join_netns(ns->path, err) < 0)
		return -1;
	return loopback_up(err);
}
