/* stat() of a file in the rootfs: path walk and attribute read. usage: stat [bench opts] PATH */
#include "bench.h"
#include <sys/stat.h>

static int stat_loop(void *arg, long n)
{
	struct stat st;

	for (long i = 0; i < n; i++)
		if (stat(arg, &st) < 0)
			return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);

	bench_name = "stat";
	if (i >= argc)
		bench_fail("usage", EINVAL);
	bench_run("stat", &o, stat_loop, argv[i]);
	return 0;
}
