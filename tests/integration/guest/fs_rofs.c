/*
 * A read-only root (root.readonly) with a writable tmpfs on /tmp (t_mounts.sh passes "ro"):
 * every write path gives EROFS, reads work, and /tmp stays writable but cannot take links
 * or renames from the root (EXDEV).
 */
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include "fs_check.h"

static void root_is_readonly(void)
{
	struct timespec ts[2] = {{1, 0}, {2, 0}};

	CHECK_FD("open O_RDONLY", open("/data/lines.txt", O_RDONLY));
	CHECK_FD("open O_WRONLY", open("/data/lines.txt", O_WRONLY));
	CHECK_FD("open O_RDWR", open("/data/lines.txt", O_RDWR));
	CHECK_FD("open O_RDONLY|O_TRUNC", open("/data/lines.txt", O_RDONLY | O_TRUNC));
	CHECK_FD("create", open("/data/new", O_WRONLY | O_CREAT, 0644));
	CHECK_FD("create existing", open("/data/lines.txt", O_WRONLY | O_CREAT, 0644));
	CHECK_FD("O_CREAT|O_EXCL existing", open("/data/lines.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
	CHECK_FD("O_TMPFILE", open("/data", O_TMPFILE | O_RDWR, 0600));
	CHECK("mkdir", mkdir("/newdir", 0755));
	CHECK("mkdir existing", mkdir("/data", 0755));
	CHECK("rmdir", rmdir("/data"));
	CHECK("rmdir missing", rmdir("/missing"));
	CHECK("unlink", unlink("/data/lines.txt"));
	CHECK("unlink missing", unlink("/data/missing"));
	CHECK("rename", rename("/data/lines.txt", "/data/moved"));
	CHECK("link", link("/data/lines.txt", "/data/hard"));
	CHECK("symlink", symlink("x", "/data/soft"));
	CHECK("mknod fifo", mknod("/data/fifo", S_IFIFO | 0644, 0));
	CHECK("chmod", chmod("/data/lines.txt", 0600));
	CHECK("chown", chown("/data/lines.txt", 1, 1));
	CHECK("utimensat", utimensat(AT_FDCWD, "/data/lines.txt", ts, 0));
	CHECK("utimes now", utimes("/data/lines.txt", NULL));
	CHECK("truncate", truncate("/data/lines.txt", 1));
	CHECK("setxattr", setxattr("/data/lines.txt", "user.x", "1", 1, 0));
	CHECK("access W_OK", access("/data/lines.txt", W_OK));
	CHECK("access R_OK", access("/data/lines.txt", R_OK));
	int fd = open("/data/lines.txt", O_RDONLY);

	CHECK("fchmod", fchmod(fd, 0600));
	CHECK("ftruncate", ftruncate(fd, 1));
	CHECK("mmap shared writable", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
					      MAP_FAILED ? -1 : 0);
	close(fd);
	printf("lines: %s", read_file("/data/lines.txt"));
}

static void tmp_is_writable(void)
{
	CHECK("write /tmp/f", (write_file("/tmp/f", "writable\n"), access("/tmp/f", F_OK)));
	printf("/tmp/f: %s", read_file("/tmp/f"));
	CHECK("rename in /tmp", rename("/tmp/f", "/tmp/g"));
	CHECK("rename /tmp -> /", rename("/tmp/g", "/g"));
	CHECK("rename / -> /tmp", rename("/data/lines.txt", "/tmp/lines"));
	CHECK("link /tmp -> /", link("/tmp/g", "/data/g"));
	CHECK("link / -> /tmp", link("/data/lines.txt", "/tmp/lines"));
	CHECK("mkdir /tmp/d", mkdir("/tmp/d", 0755));
	CHECK("rmdir the mount point", rmdir("/tmp"));
	CHECK("unlink /tmp/g", unlink("/tmp/g"));
	CHECK("rmdir /tmp/d", rmdir("/tmp/d"));
}

static void flags(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) == 0)
		printf("statvfs %s: rdonly=%d nosuid=%d\n", path, !!(sv.f_flag & ST_RDONLY),
		       !!(sv.f_flag & ST_NOSUID));
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		printf("needs a read-only root (t_mounts.sh)\n");
		return 0;
	}
	flags("/");
	flags("/tmp");
	root_is_readonly();
	tmp_is_writable();
	return 0;
}
