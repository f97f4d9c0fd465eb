/*
 * Path resolution and namespace edge cases: symlink loops and the 40-link limit, `..` at
 * the root, O_NOFOLLOW, O_EXCL, trailing slashes, ENAMETOOLONG, mkdir/rmdir/unlink errors,
 * renames across directories (over files, directories, into themselves), renameat2 flags,
 * hard links, and a directory renamed under a process's cwd.
 */
#include <stdio.h>
#include <sys/syscall.h>

#include "fs_check.h"

/* The work directory: argv[1] (t_mounts.sh runs this on a tmpfs too), or on the rootfs. */
static char D_[256] = "/tmp/fs_paths.d";
/* D "/x" as a fresh string (a few live at once). */
static const char *P(const char *s)
{
	static char buf[8][512];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s%s", D_, s);
	return buf[n];
}
#define D P("")

static void symlinks(void)
{
	char a[512], b[64];
	struct stat st;

	CHECK("symlink loop a->b", symlink(P("/loop_b"), P("/loop_a")));
	CHECK("symlink loop b->a", symlink(P("/loop_a"), P("/loop_b")));
	CHECK_FD("open loop", open(P("/loop_a"), O_RDONLY));
	CHECK("symlink self", symlink("self", P("/self")));
	CHECK("stat self", stat(P("/self"), &st));
	CHECK("lstat self", lstat(P("/self"), &st));
	/* A chain: c0 -> c1 -> ... -> c40 -> target: 41 links from c0, 40 from c1. */
	write_file(P("/target"), "target\n");
	for (int i = 0; i <= 40; i++) {
		snprintf(a, sizeof(a), "%s/c%d", D_, i);
		snprintf(b, sizeof(b), i == 40 ? "target" : "c%d", i + 1);
		symlink(b, a);
	}
	CHECK_FD("open through 41 links", open(P("/c0"), O_RDONLY));
	CHECK_FD("open through 40 links", open(P("/c1"), O_RDONLY));
	CHECK_FD("O_NOFOLLOW on a link", open(P("/c40"), O_RDONLY | O_NOFOLLOW));
	int fd = CHECK("O_NOFOLLOW|O_PATH on a link", open(P("/c40"), O_PATH | O_NOFOLLOW));
	if (fd >= 0) {
		fstat(fd, &st);
		printf("  is a link: %d\n", S_ISLNK(st.st_mode));
		close(fd);
	}
	CHECK("symlink empty target", symlink("", P("/empty")));
	CHECK("symlink over existing", symlink("x", P("/target")));
	CHECK("dangling link", symlink("nowhere/x", P("/dangling")));
	CHECK_FD("open dangling", open(P("/dangling"), O_RDONLY));
	CHECK_FD("O_CREAT|O_EXCL on dangling", open(P("/dangling"), O_CREAT | O_EXCL | O_WRONLY, 0644));
	CHECKV("readlink", readlink(P("/dangling"), a, sizeof(a)));
}

static void dotdot(void)
{
	char cwd[256], up[600];

	CHECK("chdir /../..", chdir("/../.."));
	printf("  cwd: %s\n", getcwd(cwd, sizeof(cwd)));
	snprintf(up, sizeof(up), "/../../..%s/target", D_);
	printf("  /../../..D/target: %s", read_file(up));
	CHECK("chdir D", chdir(D));
	snprintf(up, sizeof(up), "../../../../../..%s/target", D_);
	printf("  ../../../../../..D/target: %s", read_file(up));
	CHECK("chdir /", chdir("/"));
}

static void creation(void)
{
	char longname[300];

	CHECK_FD("O_CREAT|O_EXCL new", open(P("/f"), O_CREAT | O_EXCL | O_WRONLY, 0644));
	CHECK_FD("O_CREAT|O_EXCL again", open(P("/f"), O_CREAT | O_EXCL | O_WRONLY, 0644));
	CHECK_FD("O_DIRECTORY on a file", open(P("/f"), O_RDONLY | O_DIRECTORY));
	CHECK_FD("trailing slash on a file", open(P("/f/"), O_RDONLY));
	CHECK_FD("O_CREAT with a trailing slash", open(P("/new/"), O_CREAT | O_WRONLY, 0644));
	CHECK_FD("O_WRONLY on a dir", open(D, O_WRONLY));
	CHECK_FD("file as a directory", open(P("/f/x"), O_RDONLY));
	memset(longname, 'n', sizeof(longname));
	strcpy(longname + 256, "");
	CHECK_FD("name of 256 bytes", open(longname, O_RDONLY));
	longname[255] = 0;
	CHECK("mkdir name of 255 bytes", mkdir(longname, 0755));
	CHECK("rmdir it", rmdir(longname));
	CHECK("mkdir", mkdir(P("/dir"), 0755));
	CHECK("mkdir again", mkdir(P("/dir"), 0755));
	CHECK("mkdir over a file", mkdir(P("/f"), 0755));
	CHECK("mkdir with trailing slash", mkdir(P("/dir2/"), 0755));
	CHECK("mkdir missing parent", mkdir(P("/nope/x"), 0755));
	CHECK("mkdir under a file", mkdir(P("/f/x"), 0755));
	CHECK("mkdir /", mkdir("/", 0755));
	CHECK("mkdir ..", mkdir(P("/.."), 0755));
	CHECK("mknod fifo", mknod(P("/fifo"), S_IFIFO | 0600, 0));
	CHECK("mknod regular", mknod(P("/reg"), S_IFREG | 0600, 0));
	CHECK("mknod dir", mknod(P("/d3"), S_IFDIR | 0600, 0));
	CHECK("mknod bad type", mknod(P("/bad"), 0170000 | 0600, 0));
}

static void removal(void)
{
	CHECK("rmdir a file", rmdir(P("/f")));
	CHECK("unlink a dir", unlink(P("/dir")));
	CHECK("unlink dir/", unlink(P("/dir/")));
	CHECK("unlink f/", unlink(P("/f/")));
	write_file(P("/dir/inside"), "x");
	CHECK("rmdir non-empty", rmdir(P("/dir")));
	CHECK("rmdir .", rmdir(P("/dir/.")));
	CHECK("rmdir ..", rmdir(P("/dir/..")));
	CHECK("unlink missing", unlink(P("/missing")));
	CHECK("unlink a link, not its target", unlink(P("/c40")));
	printf("  target: %s", read_file(P("/target")));
	CHECK("unlink inside", unlink(P("/dir/inside")));
	CHECK("rmdir now empty", rmdir(P("/dir")));
}

static void renames(void)
{
	struct stat st;

	mkdir(P("/a"), 0755);
	mkdir(P("/b"), 0755);
	mkdir(P("/a/sub"), 0755);
	write_file(P("/a/file"), "moved\n");
	write_file(P("/b/other"), "other\n");
	CHECK("rename across dirs", rename(P("/a/file"), P("/b/file")));
	printf("  b/file: %s", read_file(P("/b/file")));
	printf("  a/file: %s\n", read_file(P("/a/file")));
	CHECK("rename over a file", rename(P("/b/file"), P("/b/other")));
	printf("  b/other: %s", read_file(P("/b/other")));
	CHECK("rename file over dir", rename(P("/b/other"), P("/a/sub")));
	CHECK("rename dir over file", rename(P("/a/sub"), P("/b/other")));
	CHECK("rename dir into itself", rename(P("/a"), P("/a/sub/a")));
	write_file(P("/a/sub/x"), "x");
	mkdir(P("/b/empty"), 0755);
	CHECK("rename dir over non-empty dir", rename(P("/b/empty"), P("/a/sub")));
	CHECK("rename dir over empty dir", rename(P("/a/sub"), P("/b/empty")));
	printf("  b/empty/x: %s\n", read_file(P("/b/empty/x")));
	CHECK("rename to itself", rename(P("/b/other"), P("/b/other")));
	CHECK("rename missing", rename(P("/b/missing"), P("/b/x")));
	CHECK("rename onto an ancestor", rename(P("/b/empty/x"), P("/b")));
	CHECK("RENAME_NOREPLACE", syscall(SYS_renameat2, AT_FDCWD, P("/b/other"), AT_FDCWD,
					  P("/b/empty/x"), RENAME_NOREPLACE));
	CHECK("RENAME_EXCHANGE file<->dir", syscall(SYS_renameat2, AT_FDCWD, P("/b/other"),
						     AT_FDCWD, P("/b/empty"), RENAME_EXCHANGE));
	stat(P("/b/other"), &st);
	printf("  b/other is a dir: %d, b/empty/..: %s\n", S_ISDIR(st.st_mode),
	       read_file(P("/b/other/x")));
	printf("  b/empty: %s", read_file(P("/b/empty")));
	CHECK("RENAME_EXCHANGE with missing", syscall(SYS_renameat2, AT_FDCWD, P("/b/other"),
						       AT_FDCWD, P("/b/none"), RENAME_EXCHANGE));
	CHECK("RENAME_EXCHANGE|NOREPLACE", syscall(SYS_renameat2, AT_FDCWD, P("/b/other"), AT_FDCWD,
						    P("/b/empty"), RENAME_EXCHANGE | RENAME_NOREPLACE));
}

static void cwd_follows_rename(void)
{
	char cwd[256];

	mkdir(P("/p"), 0755);
	mkdir(P("/p/q"), 0755);
	write_file(P("/marker"), "marker\n");
	CHECK("chdir p/q", chdir(P("/p/q")));
	CHECK("rename p -> p2", rename(P("/p"), P("/p2")));
	printf("  cwd: %s\n", getcwd(cwd, sizeof(cwd)));
	printf("  ../../marker: %s", read_file("../../marker"));
	CHECK("create in renamed cwd", mkdir("new", 0755));
	printf("  exists at new path: %d\n", access(P("/p2/q/new"), F_OK) == 0);
	chdir("/");
}

/* A removed directory that is still the cwd: nothing can be created in it. */
static void removed_cwd(void)
{
	mkdir(P("/gone"), 0755);
	CHECK("chdir gone", chdir(P("/gone")));
	CHECK("rmdir the cwd", rmdir(P("/gone")));
	CHECK_FD("create in the removed cwd", open("f", O_WRONLY | O_CREAT, 0644));
	CHECK("mkdir in the removed cwd", mkdir("d", 0755));
	CHECK_FD("open . of the removed cwd", open(".", O_RDONLY));
	chdir("/");
}

static void links(void)
{
	struct stat st;

	write_file(P("/orig"), "orig\n");
	CHECK("link", link(P("/orig"), P("/hard")));
	stat(P("/orig"), &st);
	printf("  nlink: %ld\n", (long)st.st_nlink);
	CHECK("link exists", link(P("/orig"), P("/hard")));
	CHECK("link a dir", link(P("/a"), P("/adir")));
	CHECK("unlink orig", unlink(P("/orig")));
	printf("  hard: %s", read_file(P("/hard")));
	stat(P("/hard"), &st);
	printf("  nlink: %ld\n", (long)st.st_nlink);
	symlink("hard", P("/soft"));
	CHECK("linkat no follow", linkat(AT_FDCWD, P("/soft"), AT_FDCWD, P("/soft2"), 0));
	lstat(P("/soft2"), &st);
	printf("  soft2 is a link: %d\n", S_ISLNK(st.st_mode));
	CHECK("linkat follow", linkat(AT_FDCWD, P("/soft"), AT_FDCWD, P("/hard2"), AT_SYMLINK_FOLLOW));
	lstat(P("/hard2"), &st);
	printf("  hard2 is a file: %d nlink %ld\n", S_ISREG(st.st_mode), (long)st.st_nlink);
	CHECK("linkat bad flags", linkat(AT_FDCWD, P("/soft"), AT_FDCWD, P("/x"), 0x8));
}

int main(int argc, char **argv)
{
	if (argc > 1)
		snprintf(D_, sizeof(D_), "%s", argv[1]);
	fresh_dir(D);
	symlinks();
	dotdot();
	creation();
	removal();
	renames();
	cwd_follows_rename();
	removed_cwd();
	links();
	rm_rf(D);
	printf("done\n");
	return 0;
}
