/*
 * What Python's tempfile and atomic-save code do: mkdtemp, mkstemp (O_CREAT|O_EXCL 0600),
 * write and fsync, rename over the old file, read back, unlink, rmdir; O_TMPFILE with
 * linkat; sendfile and copy_file_range copies; directory listings.  On the rootfs, or on
 * argv[1] (t_mounts.sh runs it on the rootfs and on a tmpfs, with O_TMPFILE too).
 */
#include <dirent.h>
#include <sys/sendfile.h>

#include "fs_check.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the directory's names, sorted (readdir order is the filesystem's own). */
static void list(const char *dir)
{
	char *names[64];
	int n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		printf("  ls: %s\n", strerrorname_np(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	printf("  ls:");
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void atomic_save(const char *dir)
{
	char tmpl[400], final[400];
	struct stat st;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/.save-XXXXXX", dir);
	snprintf(final, sizeof(final), "%s/config.json", dir);
	write_file(final, "{\"old\": true}\n");
	fd = mkstemp(tmpl);
	CHECK("mkstemp", fd);
	fstat(fd, &st);
	printf("  mode=%o size=%ld\n", st.st_mode & 07777, (long)st.st_size);
	CHECK("write", write(fd, "{\"new\": true}\n", 14));
	CHECK("fsync", fsync(fd));
	CHECK("fdatasync", fdatasync(fd));
	CHECK("close", close(fd));
	CHECK("rename over", rename(tmpl, final));
	printf("  config.json: %s", read_file(final));
	CHECK("temp name gone", access(tmpl, F_OK));
	list(dir);
}

static void tmpfile_link(const char *dir)
{
	char final[400];
	int fd = open(dir, O_TMPFILE | O_WRONLY, 0640);

	snprintf(final, sizeof(final), "%s/from-tmpfile", dir);
	CHECK("O_TMPFILE", fd);
	if (fd < 0)
		return;
	write(fd, "made anonymously\n", 17);
	CHECK("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, final, AT_EMPTY_PATH));
	CHECK("link again", linkat(fd, "", AT_FDCWD, final, AT_EMPTY_PATH));
	close(fd);
	printf("  %s", read_file(final));
	fd = open(dir, O_TMPFILE | O_WRONLY | O_EXCL, 0640);
	snprintf(final, sizeof(final), "%s/excl", dir);
	CHECK("O_TMPFILE|O_EXCL cannot be linked", linkat(fd, "", AT_FDCWD, final, AT_EMPTY_PATH));
	close(fd);
}

static void copies(const char *dir)
{
	char src[400], dst[400], buf[64] = {0};
	int in, out;
	off_t off = 4;
	loff_t ioff = 0, ooff = 100;

	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	write_file(src, "0123456789abcdefghij\n");
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECKV("sendfile with offset", sendfile(out, in, &off, 10));
	printf("  offset now %ld, file position %ld\n", (long)off, (long)lseek(in, 0, SEEK_CUR));
	CHECKV("sendfile at position", sendfile(out, in, NULL, 3));
	printf("  dst: %s\n", read_file(dst));
	CHECKV("copy_file_range", copy_file_range(in, &ioff, out, &ooff, 5, 0));
	printf("  offsets %ld %ld\n", (long)ioff, (long)ooff);
	CHECKV("copy_file_range flags", copy_file_range(in, NULL, out, NULL, 5, 1));
	CHECKV("copy_file_range to a dir", copy_file_range(in, NULL, open(dir, O_RDONLY), NULL, 5, 0));
	pread(open(dst, O_RDONLY), buf, sizeof(buf), 100);
	printf("  dst at 100: %s\n", buf);
	CHECKV("sendfile to O_APPEND", sendfile(open(dst, O_WRONLY | O_APPEND), in, NULL, 3));
	close(in);
	close(out);
}

int main(int argc, char **argv)
{
	char base[256], dir[300];

	snprintf(base, sizeof(base), "%s", argc > 1 ? argv[1] : "/tmp");
	snprintf(dir, sizeof(dir), "%s/tmpXXXXXX", base);
	CHECK("mkdtemp", mkdtemp(dir) ? 0 : -1);
	atomic_save(dir);
	if (argc > 1)
		tmpfile_link(dir); /* flink needs CAP_DAC_READ_SEARCH: t_mounts.sh gives every cap */
	copies(dir);
	list(dir);
	CHECK("rmdir non-empty", rmdir(dir));
	rm_rf(dir);
	CHECK("gone", access(dir, F_OK));
	return 0;
}
