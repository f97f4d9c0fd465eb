/*
 * Trying to reach the host from inside the container: `..` chains, symlinks pointing out of
 * the rootfs and out of a bind mount (absolute and relative, existing and created by us),
 * the edges of bind mounts (a directory on /mnt/bind, a file on /mnt/file.txt), /proc magic
 * links, fd tricks (openat and fchdir from a bind-mounted directory's fd).  argv[2] is the
 * host path of a canary file beside the bind source.  Every attempt must be "blocked"; the
 * canary's text is never printed (t_mounts.sh also checks it never shows up).  With
 * "cvisor" (not compared: natively root may do both), device nodes must be refused on
 * host-backed filesystems and a chroot(2) escape must stay in the container.
 */
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "fs_check.h"

#define CANARY_PREFIX "cvisor-host-canary"

static const char *canary;

/* Opens path (relative to dirfd) and reports whether it got the canary. */
static void try_at(const char *what, int dirfd, const char *path)
{
	char buf[64] = {0};
	int fd = openat(dirfd, path, O_RDONLY);

	if (fd >= 0) {
		read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	printf("%s: %s\n", what, strncmp(buf, CANARY_PREFIX, strlen(CANARY_PREFIX)) ? "blocked"
										  : "LEAKED");
	fflush(stdout);
}

static void try(const char *what, const char *path)
{
	try_at(what, AT_FDCWD, path);
}

/* The canary's host path under a prefix ("../../.." ...). */
static const char *under(const char *prefix, const char *host_path)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s%s", prefix, host_path);
	return buf;
}

static void dotdots(void)
{
	char rel[4096];

	try("host path", canary);
	try("/.. chain", under("/../../../../../../../..", canary));
	try("bind /.. chain", under("/mnt/bind/../../../../../../../..", canary));
	try("bind ../canary", "/mnt/bind/../canary/secret.txt");
	try("bind ../../canary", "/mnt/bind/../../canary/secret.txt");
	try("bind ../secret", "/mnt/bind/../secret.txt");
	try("file bind /..", "/mnt/file.txt/../canary/secret.txt");
	snprintf(rel, sizeof(rel), "../../../../../../../../..%s", canary);
	chdir("/mnt/bind/sub");
	try("cwd in bind, relative ..", rel);
	try("cwd in bind, ../../canary", "../../canary/secret.txt");
	chdir("/");
}

static void symlinks(void)
{
	try("bind abs link out", "/mnt/bind/abs-out");
	try("bind rel link out", "/mnt/bind/rel-out");
	try("bind deep rel link out", "/mnt/bind/sub/rel-out2");
	symlink(canary, "/mnt/bind/made-abs");
	symlink("../secret.txt", "/mnt/bind/made-rel");
	symlink("../../../../../../../../../../secret.txt", "/mnt/bind/made-deep");
	try("made abs link in bind", "/mnt/bind/made-abs");
	try("made rel link in bind", "/mnt/bind/made-rel");
	try("made deep link in bind", "/mnt/bind/made-deep");
	symlink(under("/../../../../../../..", canary), "/tmp/esc-link");
	try("made abs link in rootfs", "/tmp/esc-link");
	unlink("/mnt/bind/made-abs");
	unlink("/mnt/bind/made-rel");
	unlink("/mnt/bind/made-deep");
	unlink("/tmp/esc-link");
}

static void procfs(void)
{
	try("/proc/self/root", under("/proc/self/root", canary));
	try("/proc/self/root/..", under("/proc/self/root/../../../..", canary));
	try("/proc/1/root/..", under("/proc/1/root/../../..", canary));
	chdir("/mnt/bind");
	try("/proc/self/cwd/..", "/proc/self/cwd/../canary/secret.txt");
	try("/proc/1/cwd/../..", "/proc/1/cwd/../../canary/secret.txt");
	chdir("/");
}

static void fd_tricks(void)
{
	int d = open("/mnt/bind", O_RDONLY | O_DIRECTORY), p = open("/mnt/bind/sub", O_PATH);
	int f = open("/mnt/file.txt", O_PATH);

	try_at("openat(bind, ../canary)", d, "../canary/secret.txt");
	try_at("openat(bind, ../../canary)", d, "../../canary/secret.txt");
	try_at("openat(bind, ../secret)", d, "../secret.txt");
	try_at("openat(bind sub O_PATH, ../../canary)", p, "../../canary/secret.txt");
	try_at("openat(bind, abs-out)", d, "abs-out");
	try_at("openat(file, ..)", f, "../canary/secret.txt");
	fchdir(p);
	try("fchdir(bind sub), ../../secret", "../../secret.txt");
	try("fchdir(bind sub), ../../canary", "../../canary/secret.txt");
	chdir("/");
	close(d);
	close(p);
	close(f);
}

/* Files created "outside": t_mounts.sh looks for them on the host. */
static void writes(void)
{
	int fd;

	symlink("../cvisor-escape-marker-1", "/mnt/bind/dangling-out");
	fd = open("/mnt/bind/dangling-out", O_WRONLY | O_CREAT, 0644);
	printf("create through a dangling link in bind: %s\n", fd >= 0 ? "inside" : "failed");
	close(fd);
	unlink("/mnt/bind/dangling-out");
	unlink("/mnt/cvisor-escape-marker-1");
	CHECK_FD("create /mnt/bind/../../marker",
		 open("/mnt/bind/../../cvisor-escape-marker-2", O_WRONLY | O_CREAT, 0644));
	unlink("/cvisor-escape-marker-2");
	CHECK("mkdir bind/../../../../marker",
	      mkdir("/mnt/bind/../../../../cvisor-escape-marker-3", 0755));
	rmdir("/cvisor-escape-marker-3");
	CHECK("rename out of the bind", rename("/mnt/bind/inside.txt", "/cvisor-escape-marker-4"));
	CHECK("link out of the bind", link("/mnt/bind/inside.txt", "/tmp/cvisor-escape-marker-5"));
	CHECK("write the ro file bind", open("/mnt/file.txt", O_WRONLY) >= 0 ? 0 : -1);
	printf("bind inside.txt: %s", read_file("/mnt/bind/inside.txt"));
}

/* Host device nodes: never created on host-backed filesystems (natively root may). */
static void devices(void)
{
	CHECK("mknod a device in the bind", mknod("/mnt/bind/null", S_IFCHR | 0666, makedev(1, 3)));
	CHECK("mknod a device in the rootfs", mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3)));
	CHECK("mknod a block device", mknod("/tmp/sda", S_IFBLK | 0666, makedev(8, 0)));
	unlink("/mnt/bind/null");
	unlink("/tmp/null");
	unlink("/tmp/sda");
}

static void chroot_escape(void)
{
	mkdir("/tmp/jail", 0755);
	CHECK("chroot /tmp/jail", chroot("/tmp/jail"));
	for (int i = 0; i < 20; i++)
		chdir("..");
	CHECK("chroot .", chroot("."));
	try("after the chroot dance, host path", canary);
	try("after the chroot dance, relative", under(".", canary));
	printf("at the container root: %d\n", access("/bin/fs_escape", F_OK) == 0);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		printf("needs bind mounts and a canary (t_mounts.sh)\n");
		return 0;
	}
	canary = argv[2];
	if (!strcmp(argv[1], "cvisor")) {
		devices();
		chroot_escape();
		return 0;
	}
	dotdots();
	symlinks();
	procfs();
	fd_tricks();
	writes();
	return 0;
}
