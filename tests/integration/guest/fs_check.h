/* Helpers for the filesystem guest programs: print a call's outcome as "ok" or its errno. */
#ifndef FS_CHECK_H
#define FS_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Prints `what: ok` (or the value when show_val) or `what: ENAME`; returns the result. */
static inline long check_(const char *what, long r, int err, int show_val)
{
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(err));
	else if (show_val)
		printf("%s: %ld\n", what, r);
	else
		printf("%s: ok\n", what);
	fflush(stdout);
	return r;
}

#define CHECK(what, call) ({ errno = 0; long r_ = (long)(call); check_(what, r_, errno, 0); })
#define CHECKV(what, call) ({ errno = 0; long r_ = (long)(call); check_(what, r_, errno, 1); })
/* For calls returning an fd: closed again when it succeeded. */
#define CHECK_FD(what, call)                                                                       \
	({                                                                                         \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		check_(what, r_, errno, 0);                                                        \
		if (r_ >= 0)                                                                       \
			close((int)r_);                                                            \
		r_;                                                                                \
	})

/* rm -rf of path (no symlinks followed). */
static inline void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[4096];

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	chmod(path, 0700);
	if ((d = opendir(path))) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < sizeof(sub))
				rm_rf(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

/* A fresh empty work directory. */
static inline void fresh_dir(const char *path)
{
	rm_rf(path);
	if (mkdir(path, 0755) < 0) {
		perror(path);
		exit(1);
	}
}

static inline void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			perror("write");
		close(fd);
	}
}

/* The file's contents (static buffer), or "<errno name>". */
static inline const char *read_file(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		snprintf(buf, sizeof(buf), "<%s>", strerrorname_np(errno));
		return buf;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

#endif
