/*
 * A raw `syscall` instruction opening host-only paths must get ENOENT from the sentry: the
 * host's files are not reachable from the container.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>

static long raw_openat(const char *path)
{
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(SYS_openat), "D"(AT_FDCWD), "S"(path), "d"(O_RDONLY)
			 : "rcx", "r11", "memory");
	return r;
}

int main(void)
{
	static const char *paths[] = {
		"/etc/shadow", "/usr/bin/gcc", "/proc/1/root/etc/shadow", "../../../../../usr/bin/gcc",
		"/data/../../../usr/bin/gcc", "/bin/../../../../usr/lib/os-release",
	};

	for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		printf("%s: %ld\n", paths[i], raw_openat(paths[i]));
	return 0;
}
