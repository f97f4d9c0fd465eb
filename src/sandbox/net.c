/*
 * The sandbox's network namespace (DESIGN.md §2 net/): guest inet sockets are host sockets
 * the sentry opens here, so a fresh namespace needs its loopback up for 127.0.0.1 and ::1 to
 * work.  Done before confinement; with --network=host the host's namespace is left alone.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvisor/err.h"
#include "sandbox_internal.h"

int sandbox_net_setup(const struct sandbox_config *cfg, struct cv_err **err)
{
	struct ifreq ifr;
	int fd, r = 0;

	if (cfg->network == NETWORK_HOST)
		return 0;
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
