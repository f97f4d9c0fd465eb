/* pread() of SIZE bytes at offset 0 of a rootfs file (page cache warm after calibration):
 * per-call overhead at 4 KiB, copy bandwidth at 1 MiB. usage: read [bench opts] SIZE PATH
 * The benchmark is named read_<size> with the size as 4k, 1m, ... */
#include "bench.h"
#include <fcntl.h>

struct rd {
	int fd;
	size_t size;
	char *buf;
};

static int read_loop(void *arg, long n)
{
	struct rd *r = arg;

	for (long i = 0; i < n; i++) {
		ssize_t got = pread(r->fd, r->buf, r->size, 0);

		if (got < 0)
			return -errno;
		if ((size_t)got != r->size)
			return -EIO;	/* file shorter than SIZE */
	}
	return 0;
}

static void size_name(char *out, size_t n, size_t size)
{
	if (size % (1 << 20) == 0)
		snprintf(out, n, "read_%zum", size >> 20);
	else if (size % 1024 == 0)
		snprintf(out, n, "read_%zuk", size >> 10);
	else
		snprintf(out, n, "read_%zu", size);
}

int main(int argc, char **argv)
{
	static char name[64];
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);
	struct rd r;

	bench_name = "read";
	if (i + 1 >= argc)
		bench_fail("usage", EINVAL);
	r.size = strtoul(argv[i], NULL, 0);
	size_name(name, sizeof(name), r.size);
	bench_name = name;
	r.buf = malloc(r.size);
	if (!r.buf)
		bench_fail("malloc", ENOMEM);
	r.fd = open(argv[i + 1], O_RDONLY);
	if (r.fd < 0)
		bench_fail("open", errno);
	bench_run(name, &o, read_loop, &r);
	return 0;
}
