/*
 * File descriptors across fork and exec: O_CLOEXEC, FD_CLOEXEC set and cleared with fcntl,
 * dup3(O_CLOEXEC), F_DUPFD_CLOEXEC; offsets and status flags shared by a description across
 * dup and fork (a child's write moves the parent's offset), separate descriptions apart.
 */
#include <sys/wait.h>

#include "fs_check.h"

#define F "/tmp/fs_fdexec.file"

/* After exec: which of fds 3..12 survived, and where the shared one stands. */
static int after_exec(void)
{
	for (int fd = 3; fd <= 12; fd++) {
		int fl = fcntl(fd, F_GETFD);

		printf("exec: fd %d %s\n", fd, fl < 0 ? "closed" : fl & FD_CLOEXEC ? "cloexec" : "open");
	}
	printf("exec: offset of fd 3: %ld\n", (long)lseek(3, 0, SEEK_CUR));
	write(3, "exec|", 5);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, fd2, flags;
	pid_t p;

	if (argc > 1 && !strcmp(argv[1], "exec"))
		return after_exec();
	close_range(3, ~0u, 0); /* whatever the native harness inherited */
	unlink(F);
	fd = open(F, O_RDWR | O_CREAT | O_TRUNC, 0644);          /* 3: kept */
	open(F, O_RDONLY | O_CLOEXEC);                           /* 4: closed on exec */
	fd2 = open(F, O_RDONLY);                                 /* 5: cloexec set later */
	fcntl(fd2, F_SETFD, FD_CLOEXEC);
	fcntl(open(F, O_RDONLY | O_CLOEXEC), F_SETFD, 0);        /* 6: cloexec cleared */
	dup3(fd, 7, O_CLOEXEC);                                  /* 7 */
	dup2(fd, 8);                                             /* 8: dup2 never copies it */
	fcntl(fd, F_DUPFD_CLOEXEC, 9);                           /* 9 */
	fcntl(fd, F_DUPFD, 10);                                  /* 10 */
	printf("fd 4 cloexec: %d, fd 8: %d\n", fcntl(4, F_GETFD), fcntl(8, F_GETFD));
	CHECK("dup3 same fd", dup3(fd, fd, 0));
	CHECK("dup3 bad flags", dup3(fd, 11, 1));
	CHECKV("dup2 same fd", dup2(fd, fd));

	write(fd, "parent|", 7);
	printf("offset via dup: %ld\n", (long)lseek(8, 0, SEEK_CUR));
	if ((p = fork()) == 0) {
		write(fd, "child|", 6);
		fcntl(fd, F_SETFL, O_APPEND);
		_exit(0);
	}
	waitpid(p, NULL, 0);
	printf("offset after the child wrote: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	flags = fcntl(fd, F_GETFL);
	printf("O_APPEND set by the child: %d\n", !!(flags & O_APPEND));
	fcntl(fd, F_SETFL, flags & ~O_APPEND);
	printf("separate description offset: %ld\n", (long)lseek(fd2, 0, SEEK_CUR));

	if ((p = fork()) == 0) {
		execl("/bin/fs_fdexec", "fs_fdexec", "exec", (char *)NULL);
		_exit(127);
	}
	waitpid(p, NULL, 0);
	printf("offset after exec wrote: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	printf("contents: %s\n", read_file(F));
	unlink(F);
	return 0;
}
