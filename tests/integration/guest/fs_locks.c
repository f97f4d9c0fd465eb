/*
 * Advisory locks between processes: POSIX record locks (conflicts, F_GETLK, splitting,
 * release on closing any fd of the file, F_SETLKW waiting and being interrupted by a
 * signal), open file description locks (conflicting within one process, shared across fork)
 * and flock(2) (per open file description, independent of record locks).
 */
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "fs_check.h"

static char path[300];

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

static void getlk(const char *what, int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	if (fcntl(fd, cmd, &fl) < 0) {
		printf("%s: %s\n", what, strerrorname_np(errno));
		return;
	}
	printf("%s: type=%s start=%ld len=%ld pid=%s\n", what,
	       fl.l_type == F_UNLCK ? "unlck" : fl.l_type == F_WRLCK ? "wr" : "rd",
	       (long)fl.l_start, (long)fl.l_len,
	       fl.l_type == F_UNLCK ? "-" : fl.l_pid == getppid() ? "parent" : fl.l_pid == -1 ? "-1" : "other");
	fflush(stdout);
}

/* Runs fn in a child and waits for it. */
static void in_child(void (*fn)(void))
{
	pid_t p = fork();

	if (p == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

static void child_probe(void)
{
	int fd = open(path, O_RDWR);

	CHECK("child: F_SETLK wr [50,60)", lk(fd, F_SETLK, F_WRLCK, 50, 10));
	getlk("child: F_GETLK wr [50,60)", fd, F_GETLK, F_WRLCK, 50, 10);
	CHECK("child: F_SETLK rd [100,200)", lk(fd, F_SETLK, F_RDLCK, 100, 100));
	getlk("child: F_GETLK wr [20,30)", fd, F_GETLK, F_WRLCK, 20, 10);
	getlk("child: F_GETLK rd [0,EOF)", fd, F_GETLK, F_RDLCK, 0, 0);
	getlk("child: F_GETLK wr [1000,EOF)", fd, F_GETLK, F_WRLCK, 1000, 0);
}

static void posix_locks(void)
{
	int fd = open(path, O_RDWR), fd2;

	CHECK("F_SETLK wr [0,100)", lk(fd, F_SETLK, F_WRLCK, 0, 100));
	CHECK("F_SETLK again by the owner", lk(fd, F_SETLK, F_WRLCK, 10, 5));
	getlk("own lock does not conflict", fd, F_GETLK, F_WRLCK, 0, 10);
	in_child(child_probe);
	CHECK("unlock [20,30): a split", lk(fd, F_SETLK, F_UNLCK, 20, 10));
	in_child(child_probe);
	CHECK("F_SETLK bad type", lk(fd, F_SETLK, 7, 0, 1));
	CHECK("F_SETLK negative start", lk(fd, F_SETLK, F_WRLCK, -5, 1));
	CHECK("F_SETLK negative len", lk(fd, F_SETLK, F_WRLCK, 10, -5));
	fd2 = open(path, O_RDONLY);
	CHECK("wr lock on a read-only fd", lk(fd2, F_SETLK, F_WRLCK, 0, 1));
	close(fd2); /* drops every lock this process holds on the file */
	in_child(child_probe);
	close(fd);
}

static void child_waits(void)
{
	int fd = open(path, O_RDWR);

	printf("child: waiting\n");
	fflush(stdout);
	CHECK("child: F_SETLKW after the parent unlocks", lk(fd, F_SETLKW, F_WRLCK, 0, 1));
}

static void on_usr1(int sig)
{
}

static void child_interrupted(void)
{
	int fd = open(path, O_RDWR);
	struct sigaction sa = {.sa_handler = on_usr1};

	sigaction(SIGUSR1, &sa, NULL);
	printf("child: waiting for a signal\n");
	fflush(stdout);
	CHECK("child: F_SETLKW interrupted", lk(fd, F_SETLKW, F_WRLCK, 0, 1));
}

static void blocking(void)
{
	int fd = open(path, O_RDWR);
	pid_t p;

	lk(fd, F_SETLK, F_WRLCK, 0, 1);
	if ((p = fork()) == 0) {
		child_waits();
		_exit(0);
	}
	usleep(200000);
	printf("parent: unlocking\n");
	fflush(stdout);
	lk(fd, F_SETLK, F_UNLCK, 0, 1);
	waitpid(p, NULL, 0);
	lk(fd, F_SETLK, F_WRLCK, 0, 1);
	if ((p = fork()) == 0) {
		child_interrupted();
		_exit(0);
	}
	usleep(200000);
	kill(p, SIGUSR1);
	waitpid(p, NULL, 0);
	close(fd);
}

static int shared_fd;

static void child_ofd(void)
{
	int fd = open(path, O_RDWR);

	CHECK("child: OFD lock on the inherited description", lk(shared_fd, F_OFD_SETLK, F_WRLCK, 0, 10));
	CHECK("child: OFD lock on its own description", lk(fd, F_OFD_SETLK, F_WRLCK, 0, 10));
	CHECK("child: POSIX lock against it", lk(fd, F_SETLK, F_RDLCK, 5, 1));
}

static void ofd_locks(void)
{
	int fd1 = open(path, O_RDWR), fd2 = open(path, O_RDWR);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_pid = 1};

	CHECK("OFD wr [0,10) on fd1", lk(fd1, F_OFD_SETLK, F_WRLCK, 0, 10));
	CHECK("OFD wr [5,6) on fd2, same process", lk(fd2, F_OFD_SETLK, F_WRLCK, 5, 1));
	CHECK("POSIX lock on fd2, same process", lk(fd2, F_SETLK, F_WRLCK, 5, 1));
	getlk("F_OFD_GETLK on fd2", fd2, F_OFD_GETLK, F_RDLCK, 0, 0);
	CHECK("OFD lock with l_pid set", fcntl(fd1, F_OFD_SETLK, &fl));
	shared_fd = fd1;
	in_child(child_ofd);
	close(fd1); /* the last reference to the description: its locks go */
	CHECK("OFD wr on fd2 after fd1 closed", lk(fd2, F_OFD_SETLK, F_WRLCK, 5, 1));
	close(fd2);
}

static void child_flock(void)
{
	int fd = open(path, O_RDWR);

	CHECK("child: flock inherited description", flock(shared_fd, LOCK_EX | LOCK_NB));
	CHECK("child: flock own description", flock(fd, LOCK_SH | LOCK_NB));
	CHECK("child: POSIX lock while flocked", lk(fd, F_SETLK, F_WRLCK, 0, 1));
}

static void flocks(void)
{
	int fd1 = open(path, O_RDWR), fd2 = open(path, O_RDWR), d;

	CHECK("flock ex fd1", flock(fd1, LOCK_EX));
	CHECK("flock ex fd2 nb", flock(fd2, LOCK_EX | LOCK_NB));
	CHECK("flock sh fd2 nb", flock(fd2, LOCK_SH | LOCK_NB));
	d = dup(fd1);
	CHECK("flock ex on a dup", flock(d, LOCK_EX | LOCK_NB));
	shared_fd = fd1;
	in_child(child_flock);
	CHECK("flock bad op", flock(fd1, 3));
	close(fd1);
	CHECK("fd2 while the dup keeps it", flock(fd2, LOCK_EX | LOCK_NB));
	close(d);
	CHECK("fd2 after the last close", flock(fd2, LOCK_EX | LOCK_NB));
	CHECK("flock unlock", flock(fd2, LOCK_UN));
	CHECK("flock unlock again", flock(fd2, LOCK_UN));
	close(fd2);
}

int main(int argc, char **argv)
{
	snprintf(path, sizeof(path), "%s/fs_locks.file", argc > 1 ? argv[1] : "/tmp");
	write_file(path, "lock me\n");
	posix_locks();
	blocking();
	ofd_locks();
	flocks();
	unlink(path);
	return 0;
}
