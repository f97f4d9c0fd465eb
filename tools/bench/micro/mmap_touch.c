/* mmap of SIZE anonymous bytes, a write to every 4 KiB page, munmap: the page-fault path and
 * address-space updates (for a sandbox: its own fault handling and host map/unmap).
 * usage: mmap_touch [bench opts] SIZE   (named mmap_4k, mmap_64m, ...) */
#include "bench.h"
#include <sys/mman.h>

static int mmap_loop(void *arg, long n)
{
	size_t size = *(size_t *)arg;

	for (long i = 0; i < n; i++) {
		volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -errno;
		for (size_t off = 0; off < size; off += 4096)
			p[off] = 1;
		if (munmap((void *)p, size) < 0)
			return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char name[64];
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);
	size_t size;

	bench_name = "mmap_touch";
	if (i >= argc)
		bench_fail("usage", EINVAL);
	size = strtoul(argv[i], NULL, 0);
	if (size % (1 << 20) == 0)
		snprintf(name, sizeof(name), "mmap_%zum", size >> 20);
	else
		snprintf(name, sizeof(name), "mmap_%zuk", size >> 10);
	bench_run(name, &o, mmap_loop, &size);
	return 0;
}
