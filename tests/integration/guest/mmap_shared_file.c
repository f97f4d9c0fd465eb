/*
 * Shared file mappings agree with read(2) and reach the file: pread while mapped, a fresh open
 * after munmap and close, msync (and its errors), a child writing through an inherited mapping,
 * mprotect adding PROT_WRITE, ftruncate shrinking and growing under a mapping, MAP_PRIVATE
 * writes that stay private, and a mapping over a file whose end is not page-aligned.  Works in
 * argv[1] (default /tmp/mmap_shared_file.d); leaves `keep` there, written only through a mapping
 * the process still has when it exits, for the host-side check in t_mounts.sh.
 */
// ARGS: /tmp/mmap_shared_file.d
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/wait.h>

#include "fs_check.h"

#define PG 4096

static char dir[256];

static const char *P(const char *s)
{
	static char buf[4][512];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", dir, s);
	return buf[n];
}

/* A file of `size` bytes (zeros), opened O_RDWR. */
static int new_file(const char *name, off_t size)
{
	int fd = open(P(name), O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, size) < 0) {
		perror(name);
		exit(1);
	}
	return fd;
}

static void *map(int fd, size_t len, int prot, int flags)
{
	void *m = mmap(NULL, len, prot, flags, fd, 0);

	if (m == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return m;
}

/* Prints what pread finds at off: the string there (up to n bytes), or its errno. */
static void show_pread(const char *what, int fd, size_t n, off_t off)
{
	char buf[256] = {0};
	ssize_t r = pread(fd, buf, n < sizeof(buf) - 1 ? n : sizeof(buf) - 1, off);

	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %zd '%s'\n", what, r, buf);
}

/* Summarises a file read with read(2): its size, and runs of equal bytes. */
static void show_runs(const char *what, const char *path)
{
	static char buf[8 * PG];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	printf("%s: %zd bytes", what, n);
	for (ssize_t i = 0; i < n;) {
		ssize_t j = i;

		while (j < n && buf[j] == buf[i])
			j++;
		printf(" %zd*%d", j - i, buf[i]);
		i = j;
	}
	printf("\n");
	if (fd >= 0)
		close(fd);
}

static void basic(void)
{
	int fd = new_file("basic", PG);
	char *m = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);

	strcpy(m, "written through mmap");
	show_pread("basic: pread while mapped", fd, 64, 0);
	strcpy(m + 8, "again");
	show_pread("basic: pread after a second write", fd, 64, 0);
	munmap(m, PG);
	close(fd);
	printf("basic: fresh open: '%s'\n", read_file(P("basic")));
}

static void msync_calls(void)
{
	int fd = new_file("msync", 2 * PG);
	/* Two pages of the file with an unmapped page right after them. */
	char *m = mmap(NULL, 3 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pipefd[2], out;
	char buf[64] = {0};

	if (m == MAP_FAILED || mmap(m, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
				    0) != m || munmap(m + 2 * PG, PG) < 0) {
		perror("msync: mmap");
		exit(1);
	}

	strcpy(m + PG, "synced");
	CHECK("msync MS_SYNC", msync(m, 2 * PG, MS_SYNC));
	CHECK("msync MS_ASYNC", msync(m + PG, PG, MS_ASYNC));
	CHECK("msync MS_INVALIDATE", msync(m, PG, MS_INVALIDATE));
	CHECK("msync length 0", msync(m, 0, MS_SYNC));
	CHECK("msync unaligned", msync(m + 1, PG, MS_SYNC));
	CHECK("msync SYNC|ASYNC", msync(m, PG, MS_SYNC | MS_ASYNC));
	CHECK("msync bad flags", msync(m, PG, 8));
	CHECK("msync partial length", msync(m, 100, MS_SYNC));
	CHECK("msync past the mapping", msync(m, 3 * PG, MS_SYNC));
	CHECK("msync unmapped", msync(m + 2 * PG, PG, MS_SYNC));
	show_pread("msync: pread", fd, 64, PG);

	/* Other read paths: sendfile into a pipe, copy_file_range into another file. */
	strcpy(m + PG, "sent");
	if (pipe(pipefd) == 0) {
		off_t off = PG;

		CHECKV("msync: sendfile", sendfile(pipefd[1], fd, &off, 4));
		CHECKV("msync: pipe read", read(pipefd[0], buf, sizeof(buf) - 1));
		printf("msync: sendfile gave '%s'\n", buf);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	out = new_file("copy", 0);
	{
		loff_t in_off = PG, out_off = 0;

		CHECKV("msync: copy_file_range", copy_file_range(fd, &in_off, out, &out_off, 6, 0));
	}
	close(out);
	printf("msync: copy holds '%s'\n", read_file(P("copy")));
	munmap(m, 2 * PG);
	close(fd);
}

static void child_writes(void)
{
	int fd = new_file("child", 2 * PG);
	char *m = map(fd, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
	char buf[64] = {0};
	int st;

	m[0] = 'p';
	if (fork() == 0) {
		strcpy(m + PG, "from the child");
		_exit(0);
	}
	wait(&st);
	lseek(fd, PG, SEEK_SET);
	CHECKV("child: read", read(fd, buf, 14));
	printf("child: parent reads '%s'\n", buf);
	if (fork() == 0) {
		strcpy(m + PG + 5, "again");
		m[0] = 'c';
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	wait(&st);
	show_pread("child: after the child's exec", fd, 1, 0);
	munmap(m, 2 * PG);
	close(fd);
	fd = open(P("child"), O_RDONLY);
	show_pread("child: fresh open", fd, 64, PG);
	close(fd);
}

static void protect(void)
{
	int fd = new_file("protect", 2 * PG);
	char *m = map(fd, 2 * PG, PROT_READ, MAP_SHARED);
	volatile char c = m[0] + m[PG]; /* both pages present, read-only */

	(void)c;
	CHECK("protect: mprotect RW", mprotect(m, 2 * PG, PROT_READ | PROT_WRITE));
	strcpy(m, "after mprotect");
	strcpy(m + PG, "second page");
	show_pread("protect: pread", fd, 64, 0);
	CHECK("protect: mprotect R", mprotect(m, PG, PROT_READ));
	munmap(m, 2 * PG);
	close(fd);
	printf("protect: fresh open: '%s'\n", read_file(P("protect")));
	fd = open(P("protect"), O_RDONLY);
	show_pread("protect: second page", fd, 64, PG);
	close(fd);
}

static void truncation(void)
{
	int fd = new_file("trunc", 3 * PG);
	char *m = map(fd, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);

	memset(m, 'A', 3 * PG);
	show_runs("trunc: written", P("trunc"));
	CHECK("trunc: shrink", ftruncate(fd, PG + 100));
	show_runs("trunc: shrunk", P("trunc"));
	printf("trunc: mapped byte past the new end: %d\n", m[PG + 100]);
	CHECK("trunc: grow", ftruncate(fd, 3 * PG));
	show_runs("trunc: grown", P("trunc"));
	printf("trunc: mapped bytes after growing: %d %d\n", m[PG + 200], m[2 * PG]);
	strcpy(m + 2 * PG, "after growing");
	m[PG + 200] = 'B';
	show_pread("trunc: pread", fd, 64, 2 * PG);
	munmap(m, 3 * PG);
	close(fd);
	show_runs("trunc: fresh open", P("trunc"));
}

static void private_map(void)
{
	int fd = open(P("private"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *shared, *priv;

	if (write(fd, "original contents", 17) != 17)
		perror("write");
	shared = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
	priv = map(fd, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memcpy(priv, "PRIVATE", 7);
	show_pread("private: pread", fd, 64, 0);
	printf("private: shared mapping sees '%.17s'\n", shared);
	memcpy(shared + 9, "CONTENTS", 8);
	printf("private: private mapping sees '%.17s'\n", priv);
	CHECK("private: msync", msync(priv, PG, MS_SYNC));
	munmap(priv, PG);
	munmap(shared, PG);
	close(fd);
	printf("private: fresh open: '%s'\n", read_file(P("private")));
}

static void unaligned_end(void)
{
	int fd = open(P("tail"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct stat st;
	char *m;

	if (write(fd, "0123456789", 10) != 10)
		perror("write");
	m = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
	memcpy(m + 5, "XYZ", 3);
	memcpy(m + 10, "beyond the end", 14);
	CHECK("tail: msync", msync(m, PG, MS_SYNC));
	fstat(fd, &st);
	printf("tail: size %lld\n", (long long)st.st_size);
	show_pread("tail: pread", fd, 64, 0);
	munmap(m, PG);
	close(fd);
	fd = open(P("tail"), O_RDONLY);
	fstat(fd, &st);
	printf("tail: fresh open: size %lld '%s'\n", (long long)st.st_size, read_file(P("tail")));
	close(fd);
}

/* Written only through a mapping still present at exit (and with no msync or close). */
static void keep(void)
{
	static const char text[] = "kept by a mapping at exit\n";
	int fd = new_file("keep", sizeof(text) - 1);
	char *m = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);

	memcpy(m, text, sizeof(text) - 1);
	fd = new_file("fsynced", 8);
	m = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
	memcpy(m, "fsynced\n", 8);
	CHECK("keep: fsync", fsync(fd));
}

int main(int argc, char **argv)
{
	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : "/tmp/mmap_shared_file.d");
	fresh_dir(dir);
	setvbuf(stdout, NULL, _IONBF, 0);
	basic();
	msync_calls();
	child_writes();
	protect();
	truncation();
	private_map();
	unaligned_end();
	keep();
	return 0;
}
