/*
 * A tmpfs mounted with size=256k,mode=0750 on argv[1] (t_mounts.sh mounts it): statfs, the
 * root's mode, ENOSPC when full and space coming back, sparse files, shared mappings that
 * agree with read/write (across processes too), truncation, O_TMPFILE, special files,
 * attributes and user.* extended attributes.
 */
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "fs_check.h"

static char dir[256];

static const char *P(const char *s)
{
	static char buf[4][512];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s%s", dir, s);
	return buf[n];
}

static void show_statfs(const char *when)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0) {
		perror("statfs");
		return;
	}
	printf("statfs %s: type=%lx bsize=%ld blocks=%ld bfree=%ld bavail=%ld namelen=%ld\n", when,
	       (long)sf.f_type, (long)sf.f_bsize, (long)sf.f_blocks, (long)sf.f_bfree,
	       (long)sf.f_bavail, (long)sf.f_namelen);
}

static void fill_up(void)
{
	char page[4096];
	long total = 0;
	ssize_t n;
	int fd = open(P("/big"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	memset(page, 'x', sizeof(page));
	while ((n = write(fd, page, sizeof(page))) > 0)
		total += n;
	printf("filled %ld bytes, then %s\n", total, n < 0 ? strerrorname_np(errno) : "eof");
	CHECK("one more byte", write(fd, "y", 1));
	CHECK("fallocate past the limit", fallocate(fd, 0, total, 4096));
	close(fd);
	show_statfs("full");
	fd = CHECK("create while full", open(P("/small"), O_WRONLY | O_CREAT, 0644));
	CHECK("write while full", write(fd, "a", 1));
	close(fd);
	CHECK("truncate big to 100k", truncate(P("/big"), 100 * 1024));
	show_statfs("after truncate");
	CHECK("unlink big", unlink(P("/big")));
	unlink(P("/small"));
	show_statfs("after unlink");
}

static void sparse(void)
{
	struct stat st;
	int fd = open(P("/sparse"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	char c = 0;

	CHECK("write at 10M", pwrite(fd, "z", 1, 10 << 20));
	fstat(fd, &st);
	printf("sparse: size=%ld blocks=%ld\n", (long)st.st_size, (long)st.st_blocks);
	CHECK("read a hole", pread(fd, &c, 1, 5 << 20));
	printf("  hole byte: %d\n", c);
	CHECKV("SEEK_END", lseek(fd, 0, SEEK_END));
	close(fd);
	unlink(P("/sparse"));
}

static void mappings(void)
{
	int fd = open(P("/map"), O_RDWR | O_CREAT | O_TRUNC, 0644), fd2;
	char buf[32] = {0}, *m, *m2;

	ftruncate(fd, 8192);
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return;
	}
	strcpy(m + 4096, "through the mapping");
	pread(fd, buf, 19, 4096);
	printf("read sees: %s\n", buf);
	pwrite(fd, "through write", 13, 100);
	printf("mapping sees: %.13s\n", m + 100);
	fd2 = open(P("/map"), O_RDONLY);
	m2 = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd2, 0);
	if (fork() == 0) {
		strcpy(m + 200, "from the child");
		_exit(0);
	}
	wait(NULL);
	printf("second mapping sees: %s\n", m2 + 200);
	char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	strcpy(priv + 300, "private");
	printf("private write stays private: %d\n", m[300] == 0);
	ftruncate(fd, 50);
	pread(fd, buf, sizeof(buf), 40);
	printf("after truncate to 50, read at 40: %zd\n", pread(fd, buf, sizeof(buf), 40));
	ftruncate(fd, 8192);
	pread(fd, buf, 10, 100);
	printf("after growing back, byte 100: %d\n", buf[0]);
	munmap(m, 8192);
	munmap(m2, 8192);
	munmap(priv, 4096);
	close(fd);
	close(fd2);
	unlink(P("/map"));
}

static void tmpfile_and_specials(void)
{
	char path[64];
	struct stat st;
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);

	CHECK("O_TMPFILE", fd);
	if (fd >= 0) {
		write(fd, "anonymous\n", 10);
		fstat(fd, &st);
		printf("  nlink=%ld size=%ld\n", (long)st.st_nlink, (long)st.st_size);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		CHECK("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, P("/named"), AT_EMPTY_PATH));
		printf("  named: %s", read_file(P("/named")));
		close(fd);
		unlink(P("/named"));
	}
	CHECK_FD("O_TMPFILE read-only", open(dir, O_TMPFILE | O_RDONLY, 0600));
	CHECK("mkfifo", mkfifo(P("/fifo"), 0644));
	CHECK("mknod socket", mknod(P("/sock"), S_IFSOCK | 0644, 0));
	CHECK_FD("open a socket node", open(P("/sock"), O_RDONLY));
	lstat(P("/fifo"), &st);
	printf("  fifo type ok: %d\n", S_ISFIFO(st.st_mode));
	unlink(P("/fifo"));
	unlink(P("/sock"));
}

static void attributes(void)
{
	struct timespec ts[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
	char val[64], list[128];
	struct stat st;
	ssize_t n;

	write_file(P("/attr"), "attr\n");
	CHECK("chmod 4751", chmod(P("/attr"), 04751));
	CHECK("chown 1234:5678", chown(P("/attr"), 1234, 5678));
	CHECK("utimensat", utimensat(AT_FDCWD, P("/attr"), ts, 0));
	stat(P("/attr"), &st);
	printf("  mode=%o uid=%d gid=%d atime=%ld.%09ld mtime=%ld.%09ld\n", st.st_mode & 07777,
	       st.st_uid, st.st_gid, (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	       (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	CHECK("setxattr user.a", setxattr(P("/attr"), "user.a", "alpha", 5, 0));
	CHECK("setxattr create existing", setxattr(P("/attr"), "user.a", "x", 1, XATTR_CREATE));
	CHECK("setxattr replace missing", setxattr(P("/attr"), "user.b", "x", 1, XATTR_REPLACE));
	n = getxattr(P("/attr"), "user.a", val, sizeof(val));
	printf("  getxattr: %zd %.*s\n", n, (int)(n > 0 ? n : 0), val);
	CHECKV("getxattr size", getxattr(P("/attr"), "user.a", NULL, 0));
	CHECK("getxattr small buffer", getxattr(P("/attr"), "user.a", val, 2));
	CHECK("getxattr missing", getxattr(P("/attr"), "user.zz", val, sizeof(val)));
	n = listxattr(P("/attr"), list, sizeof(list));
	printf("  listxattr: %zd %s\n", n, n > 0 ? list : "");
	CHECK("removexattr", removexattr(P("/attr"), "user.a"));
	CHECK("removexattr again", removexattr(P("/attr"), "user.a"));
	CHECK("setxattr bad namespace", setxattr(P("/attr"), "bogus.a", "x", 1, 0));
	unlink(P("/attr"));
}

int main(int argc, char **argv)
{
	struct stat st;

	if (argc < 2) {
		printf("needs a tmpfs mount (t_mounts.sh)\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	stat(dir, &st);
	printf("root: mode=%o uid=%d gid=%d\n", st.st_mode & 07777, st.st_uid, st.st_gid);
	show_statfs("empty");
	fill_up();
	sparse();
	mappings();
	tmpfile_and_specials();
	attributes();
	show_statfs("at the end");
	return 0;
}
