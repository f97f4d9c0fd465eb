/* open(O_RDONLY)+close of a file in the rootfs: a path walk through the sandbox's file system
 * (and for gVisor-like designs, possibly a gofer round trip). usage: open_close [bench opts] PATH */
#include "bench.h"
#include <fcntl.h>

static int open_close(void *arg, long n)
{
	const char *path = arg;

	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			return -errno;
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);

	bench_name = "open_close";
	if (i >= argc)
		bench_fail("usage", EINVAL);
	bench_run("open_close", &o, open_close, argv[i]);
	return 0;
}
