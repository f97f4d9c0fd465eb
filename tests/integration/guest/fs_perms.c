/*
 * Permission checks against the caller's credentials: root prepares files and directories,
 * then a child drops to uid/gid 1000 and tries what an unprivileged user may not (and may)
 * do: reads and writes by mode bits, creating and removing in directories it cannot write,
 * the sticky bit, chmod/chown/utimes by a non-owner, set-group-id directories and bits,
 * protected hard links.  Under argv[1] (t_mounts.sh: on the rootfs and on a tmpfs).
 */
#include <sys/wait.h>

#include "fs_check.h"

static char D_[256] = "/tmp/fs_perms.d";

static const char *P(const char *s)
{
	static char buf[8][512];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s%s", D_, s);
	return buf[n];
}

/* mkdir and chmod (the umask does not get a say). */
static void mkdir_mode(const char *path, mode_t mode)
{
	mkdir(path, 0700);
	chmod(path, mode);
}

static void prepare(void)
{
	fresh_dir(P(""));
	chmod(P(""), 0755);
	write_file(P("/secret"), "secret\n");
	chmod(P("/secret"), 0600);
	write_file(P("/public"), "public\n");
	chmod(P("/public"), 0666);
	mkdir_mode(P("/closed"), 0755);
	mkdir_mode(P("/sticky"), 01777);
	write_file(P("/sticky/roots"), "root's\n");
	chmod(P("/sticky/roots"), 0666);
	mkdir_mode(P("/open"), 0777);
	write_file(P("/open/roots"), "root's\n");
	mkdir_mode(P("/sgid"), 02777);
	chown(P("/sgid"), 0, 4242);
	chmod(P("/sgid"), 02777); /* chown dropped nothing on a directory, but be sure */
	mkdir_mode(P("/noexec"), 0766);
	write_file(P("/noexec/f"), "x\n");
}

static void as_user(void)
{
	struct stat st;
	struct timespec ts[2] = {{5, 0}, {6, 0}};

	CHECK("setgid 1000", setgid(1000));
	CHECK("setuid 1000", setuid(1000));
	CHECK_FD("read a 0600 root file", open(P("/secret"), O_RDONLY));
	CHECK_FD("read a 0666 file", open(P("/public"), O_RDONLY));
	CHECK_FD("write a 0666 file", open(P("/public"), O_WRONLY));
	CHECK("access W_OK 0600", access(P("/secret"), W_OK));
	CHECK_FD("create in a 0755 root dir", open(P("/closed/f"), O_WRONLY | O_CREAT, 0644));
	CHECK("mkdir in a 0755 root dir", mkdir(P("/closed/d"), 0755));
	CHECK("unlink in a 0755 root dir", unlink(P("/secret")));
	CHECK("rename in a 0755 root dir", rename(P("/public"), P("/public2")));
	CHECK_FD("O_TMPFILE in a 0755 root dir", open(P("/closed"), O_TMPFILE | O_RDWR, 0600));
	CHECK("symlink in a 0755 root dir", symlink("x", P("/closed/l")));
	CHECK("unlink root's file in a sticky dir", unlink(P("/sticky/roots")));
	CHECK("rename root's file in a sticky dir", rename(P("/sticky/roots"), P("/sticky/mine")));
	write_file(P("/sticky/own"), "own\n");
	CHECK("unlink own file in a sticky dir", unlink(P("/sticky/own")));
	CHECK("unlink root's file in a 0777 dir", unlink(P("/open/roots")));
	CHECK("chmod root's file", chmod(P("/public"), 0600));
	CHECK("chown root's file to me", chown(P("/public"), 1000, 1000));
	CHECK("utimes now on a 0666 file", utimensat(AT_FDCWD, P("/public"), NULL, 0));
	CHECK("utimes explicit on root's file", utimensat(AT_FDCWD, P("/public"), ts, 0));
	CHECK("truncate a 0600 root file", truncate(P("/secret"), 0));
	CHECK("truncate a 0666 file", truncate(P("/public"), 3));
	CHECK("link to root's 0600 file", link(P("/secret"), P("/open/hard")));
	CHECK("link to root's 0666 file", link(P("/public"), P("/open/hard2")));
	CHECK_FD("search a dir without x", open(P("/noexec/f"), O_RDONLY));
	CHECK("chdir into a dir without x", chdir(P("/noexec")));
	write_file(P("/open/mine"), "mine\n");
	CHECK("chown own file to another gid", chown(P("/open/mine"), -1, 4242));
	CHECK("chown own file to own gid", chown(P("/open/mine"), -1, 1000));
	CHECK("chmod own file g+s", chmod(P("/open/mine"), 02755));
	stat(P("/open/mine"), &st);
	printf("  mode after chmod: %o\n", st.st_mode & 07777);
	write_file(P("/sgid/f"), "f\n");
	mkdir(P("/sgid/d"), 0755);
	stat(P("/sgid/f"), &st);
	printf("  file in a setgid dir: gid=%d mode=%o\n", st.st_gid, st.st_mode & 07777);
	stat(P("/sgid/d"), &st);
	printf("  dir in a setgid dir: gid=%d mode=%o\n", st.st_gid, st.st_mode & 07777);
}

int main(int argc, char **argv)
{
	pid_t p;

	if (argc < 2) {
		printf("needs CAP_SETUID/CAP_SETGID (t_mounts.sh gives every capability)\n");
		return 0;
	}
	snprintf(D_, sizeof(D_), "%s/fs_perms.d", argv[1]);
	umask(022);
	prepare();
	if ((p = fork()) == 0) {
		as_user();
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
	rm_rf(P(""));
	return 0;
}
