/* getpid round trip: the cheapest syscall, so the cost of interception itself.
 * usage: getpid [bench opts] [libc|asm]
 *   libc: syscall(SYS_getpid) through glibc
 *   asm:  an inline `mov $39,%eax; syscall`, the site shape a systrap-style platform patches */
#include "bench.h"
#include <sys/syscall.h>

static int getpid_libc(void *arg, long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	return 0;
}

static int getpid_asm(void *arg, long n)
{
	for (long i = 0; i < n; i++) {
		long ret;

		__asm__ volatile("mov $39, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int i = bench_parse(argc, argv, &o);

	if (i < argc && strcmp(argv[i], "asm") == 0)
		bench_run("getpid_asm", &o, getpid_asm, NULL);
	else
		bench_run("getpid", &o, getpid_libc, NULL);
	return 0;
}
