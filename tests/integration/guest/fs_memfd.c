/*
 * memfd_create: flags and names, read/write/mmap sharing (across fork too), growing with
 * ftruncate, seals (F_ADD_SEALS / F_GET_SEALS, and what each forbids), O_PATH-free fstat.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "fs_check.h"

static void basics(void)
{
	struct stat st;
	char buf[32] = {0};
	int fd = memfd_create("basic", MFD_CLOEXEC);

	CHECK("memfd_create", fd);
	printf("  cloexec: %d flags rdwr: %d\n", fcntl(fd, F_GETFD), (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	fstat(fd, &st);
	printf("  regular: %d mode=%o size=%ld nlink=%ld\n", S_ISREG(st.st_mode), st.st_mode & 0777,
	       (long)st.st_size, (long)st.st_nlink);
	CHECK("write", write(fd, "hello memfd", 11));
	CHECK("ftruncate 8192", ftruncate(fd, 8192));
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED) {
		perror("mmap");
		return;
	}
	printf("  mapping sees: %.11s\n", m);
	if (fork() == 0) {
		memcpy(m + 4096, "child wrote", 11);
		_exit(0);
	}
	wait(NULL);
	pread(fd, buf, 11, 4096);
	printf("  read sees: %s\n", buf);
	CHECKV("F_GET_SEALS without sealing", fcntl(fd, F_GET_SEALS));
	CHECK("F_ADD_SEALS without sealing", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(m, 8192);
	close(fd);
}

static void seals(void)
{
	int fd = memfd_create("sealed", MFD_ALLOW_SEALING), ro;
	void *m;

	write(fd, "0123456789", 10);
	CHECKV("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	CHECK("seal shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	CHECK("shrink", ftruncate(fd, 5));
	CHECK("grow", ftruncate(fd, 20));
	CHECK("seal grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	CHECK("grow sealed", ftruncate(fd, 40));
	CHECK("write within", pwrite(fd, "ab", 2, 0));
	CHECKV("write past the end", pwrite(fd, "abcdef", 6, 18));
	CHECK("seal write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	CHECK("write sealed", pwrite(fd, "x", 1, 0));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("shared writable mmap sealed", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHECK("shared read-only mmap sealed", m == MAP_FAILED ? -1 : 0);
	CHECK("seal seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
	CHECKV("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	CHECK("add after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	CHECK("bad seal bits", fcntl(fd, F_ADD_SEALS, 0x1000));
	write_file("/tmp/fs_memfd.plain", "x");
	ro = open("/tmp/fs_memfd.plain", O_RDWR);
	CHECK("seals of a plain file", fcntl(ro, F_GET_SEALS));
	close(ro);
	unlink("/tmp/fs_memfd.plain");
	close(fd);
}

int main(void)
{
	char name[300];

	basics();
	seals();
	CHECK("bad flags", memfd_create("x", 0x100));
	memset(name, 'n', sizeof(name));
	name[sizeof(name) - 1] = 0;
	CHECK("name too long", memfd_create(name, 0));
	name[249] = 0;
	CHECK_FD("name of 249", memfd_create(name, 0));
	return 0;
}
