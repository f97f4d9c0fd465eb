/*
 * The devices in /dev (t_procdev.sh creates them as runc does): null, zero, full, random,
 * urandom, shared mappings of /dev/zero, /dev/tty without a controlling terminal, and the
 * /dev/fd and /dev/std* links into /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void nodes(void)
{
	static const char *const names[] = {"null", "zero", "full", "random", "urandom", "tty"};
	char path[32];
	struct stat st;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", names[i]);
		if (stat(path, &st) < 0)
			printf("%s: %s\n", path, strerrorname_np(errno));
		else
			printf("%s: chr %d, %u:%u, mode %o\n", path, S_ISCHR(st.st_mode),
			       major(st.st_rdev), minor(st.st_rdev), st.st_mode & 0777);
	}
}

static void null_zero_full(void)
{
	char buf[4096];
	int fd, zeros = 1;

	fd = open("/dev/null", O_RDWR);
	result("null write", write(fd, "abc", 3));
	result("null read", read(fd, buf, sizeof(buf)));
	result("null lseek", lseek(fd, 100, SEEK_SET));
	close(fd);
	fd = open("/dev/zero", O_RDWR);
	memset(buf, 'x', sizeof(buf));
	result("zero read", read(fd, buf, sizeof(buf)));
	for (size_t i = 0; i < sizeof(buf); i++)
		zeros &= buf[i] == 0;
	printf("zero all zeros: %d\n", zeros);
	result("zero write", write(fd, buf, 10));
	close(fd);
	fd = open("/dev/full", O_RDWR);
	result("full write", write(fd, "abc", 3));
	result("full read", read(fd, buf, 16));
	close(fd);
}

static void randomness(void)
{
	unsigned char a[64], b[64];
	int fd = open("/dev/urandom", O_RDONLY), fd2 = open("/dev/random", O_RDONLY);

	result("urandom read", read(fd, a, sizeof(a)));
	result("random read", read(fd2, b, sizeof(b)));
	printf("random differs: %d\n", memcmp(a, b, sizeof(a)) != 0);
	result("urandom read 64KiB", ({
		       static char big[1 << 16];
		       read(fd, big, sizeof(big));
	       }));
	result("urandom write", write(open("/dev/urandom", O_WRONLY), "seed", 4));
	close(fd);
	close(fd2);
}

/* A shared mapping of /dev/zero is shared memory across fork; a private one is not. */
static void zero_mappings(void)
{
	int fd = open("/dev/zero", O_RDWR);
	char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *private = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);

	close(fd);
	if (shared == MAP_FAILED || private == MAP_FAILED) {
		printf("mmap /dev/zero: %s\n", strerrorname_np(errno));
		return;
	}
	printf("mapped zero: %d %d\n", shared[4096], private[4096]);
	if (fork() == 0) {
		strcpy(shared + 4096, "from child");
		strcpy(private + 4096, "lost");
		_exit(0);
	}
	wait(NULL);
	printf("shared after child: %s, private after child: '%s'\n", shared + 4096,
	       private + 4096);
}

static void tty_and_links(void)
{
	char buf[64];
	int st;

	/* A new session has no controlling terminal. */
	if (fork() == 0) {
		setsid();
		int fd = open("/dev/tty", O_RDWR);

		printf("/dev/tty in a new session: %s\n", fd < 0 ? strerrorname_np(errno) : "opened");
		fflush(stdout);
		_exit(0);
	}
	wait(&st);
	int p[2], fd;

	pipe(p);
	dup2(p[1], 5);
	fd = open("/dev/fd/5", O_WRONLY);
	result("write via /dev/fd/5", write(fd, "through a pipe", 14));
	close(fd);
	close(5);
	close(p[1]);
	result("pipe read", read(p[0], buf, sizeof(buf)));
	close(p[0]);
	fd = open("/data/lines.txt", O_RDONLY);
	dup2(fd, 0);
	close(fd);
	fd = open("/dev/stdin", O_RDONLY);
	result("read via /dev/stdin", read(fd, buf, 8));
	printf("read: %.8s\n", buf);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "mounted")) {
		printf("needs /dev: run by t_procdev.sh\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	nodes();
	null_zero_full();
	randomness();
	zero_mappings();
	tty_and_links();
	return 0;
}
