/* Memory across fork: COW private pages, MAP_SHARED anonymous and file mappings shared between
 * parent and child, mprotect splitting, mremap growth, MAP_FIXED_NOREPLACE, madvise DONTNEED. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int st;
	char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	strcpy(priv, "parent");
	*shared = 1;
	if (fork() == 0) {
		strcpy(priv, "child");
		*shared = 2;
		_exit(strcmp(priv, "child"));
	}
	wait(&st);
	printf("cow: parent sees '%s', child ok %d; shared=%d\n", priv, WEXITSTATUS(st) == 0, *shared);

	/* a shared file mapping written by the child is seen by the parent */
	int fd = open("/tmp/mm_fork.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
	ftruncate(fd, 4096);
	char *fm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fork() == 0) {
		strcpy(fm, "written by child");
		_exit(0);
	}
	wait(&st);
	printf("shared file map: '%s'\n", fm);
	munmap(fm, 4096);
	close(fd);
	unlink("/tmp/mm_fork.dat");

	/* mprotect in the middle splits a mapping; writing the read-only part faults */
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 'a', 3 * 4096);
	mprotect(m + 4096, 4096, PROT_READ);
	if (fork() == 0) {
		m[4096] = 'x';
		_exit(0);
	}
	wait(&st);
	printf("mprotect: child killed by %d, middle still '%c'\n", WTERMSIG(st), m[4096]);

	/* mremap grows (possibly moving) and keeps contents */
	char *g = mremap(m, 3 * 4096, 64 * 4096, MREMAP_MAYMOVE);
	printf("mremap: ok=%d first='%c' third='%c'\n", g != MAP_FAILED, g[0], g[2 * 4096]);
	g[63 * 4096] = 'z';

	/* MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST */
	void *r = mmap(g, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	printf("fixed_noreplace: %s\n", r == MAP_FAILED ? "EEXIST" : "mapped");

	/* MADV_DONTNEED drops private anonymous contents */
	madvise(g, 4096, MADV_DONTNEED);
	printf("dontneed: first byte now %d\n", g[0]);
	return 0;
}
