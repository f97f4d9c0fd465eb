/* Reading rootfs files: open/read/fstat/lseek/close, through symlinks too. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *path)
{
	char buf[256];
	struct stat st;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		perror(path);
		return;
	}
	fstat(fd, &st);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("%s: size=%lld mode=%o read=%zd\n%s", path, (long long)st.st_size,
	       st.st_mode & 07777, n, buf);
	printf("seek end=%lld\n", (long long)lseek(fd, 0, SEEK_END));
	lseek(fd, 5, SEEK_SET);
	n = read(fd, buf, 3);
	buf[n > 0 ? n : 0] = 0;
	printf("at 5: '%s'\n", buf);
	close(fd);
}

int main(void)
{
	struct stat st;

	show("/data/lines.txt");
	show("/data/link-to-lines");
	show("/data/abs-link");
	show("/data/missing");
	printf("lstat link: %d %o\n", lstat("/data/link-to-lines", &st), st.st_mode & 0170000);
	printf("stat dir: %d %o\n", stat("/data", &st), st.st_mode & 0170000);
	return 0;
}
