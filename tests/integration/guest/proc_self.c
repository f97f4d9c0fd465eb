/*
 * /proc/<pid> as a process sees itself and its child (t_procdev.sh mounts /proc): stat and
 * status fields, cmdline, environ, auxv, comm, the exe/cwd/root/fd magic links, fd and
 * fdinfo listings, maps, task/, a zombie's state, and /proc/self/root walks that stay in
 * the container.  Only what is the same natively and in the sandbox is printed.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n, got = 0;

	if (fd < 0) {
		printf("open %s: %s\n", path, strerrorname_np(errno));
		return NULL;
	}
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	if (len)
		*len = (size_t)got;
	return buf;
}

/* Prints the status lines whose names are listed. */
static void status_fields(const char *path, const char *const *names)
{
	char *s = slurp(path, NULL), *save = NULL;

	for (char *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		for (const char *const *n = names; *n; n++)
			if (!strncmp(l, *n, strlen(*n)) && l[strlen(*n)] == ':')
				printf("  %s\n", l);
}

/* Fields 1-5 of a stat file: the pid and group are checked against getpid and getpgid,
 * since native runs get other numbers (the mount setup forks first). */
static void stat_fields(const char *path, pid_t pid)
{
	char *s = slurp(path, NULL), comm[64], state;
	int p, ppid, pgrp;

	if (s && sscanf(s, "%d (%63[^)]) %c %d %d", &p, comm, &state, &ppid, &pgrp) == 5)
		printf("  stat: pid ok %d (%s) %c %d, pgrp ok %d\n", p == (pid ? pid : getpid()),
		       comm, state, ppid, pgrp == getpgid(pid));
}

static void show_link(const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0) {
		printf("  %s: %s\n", path, strerrorname_np(errno));
		return;
	}
	buf[n] = 0;
	if (!strncmp(buf, "pipe:[", 6))
		strcpy(buf + 5, "[...]");
	printf("  %s -> %s\n", path, buf);
}

static pid_t child_pid;

/* The names in path (numeric ones only when digits). */
static void list_dir_(const char *path, bool digits)
{
	char names[64][256];
	int n = 0;
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		printf("  ls %s: %s\n", path, strerrorname_np(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (e->d_name[0] != '.' && (!digits || (e->d_name[0] >= '0' && e->d_name[0] <= '9')))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	if (digits) {
		/* Pids differ natively: say whether ours and the child's are listed. */
		char self[16], kid[16];
		int found = 0;

		snprintf(self, sizeof(self), "%d", getpid());
		snprintf(kid, sizeof(kid), "%d", child_pid);
		for (int i = 0; i < n; i++)
			found += !strcmp(names[i], self) + !strcmp(names[i], kid);
		closedir(d);
		printf("  ls %s: %d entries, self and child listed: %d\n", path, n, found == 2);
		return;
	}
	closedir(d);
	if (!strcmp(path, "/proc/self/fd")) {
		/* Native runs inherit the harness's fds (10, 251...): show 3-9 only. */
		int m = 0;

		for (int i = 0; i < n; i++)
			if (strlen(names[i]) == 1 && names[i][0] >= '3')
				memcpy(names[m++], names[i], sizeof(names[0]));
		n = m;
	}
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	printf("  ls %s:", path);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

#define list_dir(path) list_dir_(path, false)

static void self_files(void)
{
	static const char *const names[] = {"Name", "State", "PPid", "Uid", "Gid", "Threads",
					    NULL};
	size_t len;
	char *s;

	printf("self:\n");
	printf("  /proc/self is getpid: %d\n", ({
		       char b[32] = {0}, want[32];
		       snprintf(want, sizeof(want), "%d", getpid());
		       readlink("/proc/self", b, sizeof(b) - 1) > 0 && !strcmp(b, want);
	       }));
	stat_fields("/proc/self/stat", 0);
	status_fields("/proc/self/status", names);
	printf("  status Pid is getpid: %d\n", ({
		       char *st = slurp("/proc/self/status", NULL), *l = strstr(st, "\nPid:\t");
		       l && atoi(l + 6) == getpid();
	       }));
	s = slurp("/proc/self/cmdline", &len);
	for (size_t i = 0; s && i < len; i++)
		if (!s[i])
			s[i] = '|';
	printf("  cmdline: %s\n", s);
	s = slurp("/proc/self/environ", &len);
	for (size_t i = 0; s && i < len; i++)
		if (!s[i])
			s[i] = '\n';
	printf("  environ has CVTEST=1: %d\n", s && strstr(s, "\nCVTEST=1\n") != NULL);
	s = slurp("/proc/self/auxv", &len);
	for (size_t i = 0; s && i + 16 <= len; i += 16)
		if (*(uint64_t *)(s + i) == AT_PAGESZ)
			printf("  auxv AT_PAGESZ: %lu\n", (unsigned long)*(uint64_t *)(s + i + 8));
	printf("  comm: %s", slurp("/proc/self/comm", NULL));
	int fd = open("/proc/self/comm", O_WRONLY);
	write(fd, "renamed", 7);
	close(fd);
	printf("  comm after write: %s", slurp("/proc/self/comm", NULL));
	s = slurp("/proc/self/maps", NULL);
	printf("  maps: binary %d, stack %d, heap %d\n", strstr(s, " /bin/proc_self\n") != NULL,
	       strstr(s, " [stack]\n") != NULL, strstr(s, " [heap]\n") != NULL);
	s = slurp("/proc/self/limits", NULL);
	printf("  limits: %.*s\n", (int)strcspn(s, "\n"), s);
}

static void links_and_fds(void)
{
	int pfd[2], fd = open("/data/lines.txt", O_RDONLY), dfd;
	char buf[8];

	printf("links:\n");
	chdir("/data");
	show_link("/proc/self/exe");
	show_link("/proc/self/cwd");
	show_link("/proc/self/root");
	pipe(pfd);
	dfd = open("/tmp/proc_self_deleted", O_CREAT | O_RDWR, 0600);
	unlink("/tmp/proc_self_deleted");
	list_dir("/proc/self/fd");
	show_link("/proc/self/fd/3");
	show_link("/proc/self/fd/4");
	show_link("/proc/self/fd/6");
	printf("  fdinfo/3 starts with pos: %d\n", !strncmp(slurp("/proc/self/fdinfo/3", NULL),
							    "pos:\t0\n", 7));
	/* A magic link opens the object itself, a pipe included. */
	write(pfd[1], "via fd", 6);
	int rfd = open("/proc/self/fd/4", O_RDONLY);
	printf("  reopened pipe reads: %.*s\n", (int)read(rfd, buf, 6), buf);
	close(rfd);
	printf("  cwd/lines.txt via /proc: %d\n", access("/proc/self/cwd/lines.txt", R_OK) == 0);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	close(dfd);
}

/* /proc/self/root is "/", and ".." never leaves the container's root: what opens is the
 * container's own /etc/passwd, and host-only files stay out of reach. */
static void escapes(void)
{
	static const char *const paths[] = {
		"/proc/self/root/etc/passwd", "/proc/self/root/../../../../etc/passwd",
		"/proc/1/root/../etc/passwd", "/proc/self/cwd/../../../../../etc/passwd",
		"/proc/self/root/proc/self/root/etc/passwd", "/proc/self/root/../../usr/bin/gcc",
		"/proc/1/cwd/../../../usr/lib/os-release", "/proc/self/fd/3/../../../usr/bin/gcc",
	};
	int keep = open("/data", O_RDONLY | O_DIRECTORY);

	printf("escapes (fd %d is /data):\n", keep);
	for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char line[128] = "";
		int fd = open(paths[i], O_RDONLY);

		if (fd >= 0) {
			ssize_t n = read(fd, line, sizeof(line) - 1);

			line[n > 0 ? n : 0] = 0;
			line[strcspn(line, "\n")] = 0;
			close(fd);
		}
		printf("  %s: %s\n", paths[i], fd >= 0 ? line : strerrorname_np(errno));
	}
	close(keep);
}

static void *thread_main(void *arg)
{
	pause();
	return arg;
}

static void threads(void)
{
	static const char *const names[] = {"Threads", NULL};
	pthread_t th;
	DIR *d;
	int n = 0;

	pthread_create(&th, NULL, thread_main, NULL);
	usleep(50000);
	printf("threads:\n");
	status_fields("/proc/self/status", names);
	if ((d = opendir("/proc/self/task"))) {
		while (readdir(d))
			n++;
		closedir(d);
	}
	printf("  task entries: %d\n", n - 2);
}

static void child(void)
{
	static const char *const names[] = {"Name", "State", "PPid", NULL};
	char path[64];
	int p[2];
	siginfo_t si;
	pid_t pid;

	pipe(p);
	pid = child_pid = fork();
	if (pid == 0) {
		char c;

		close(p[1]);
		read(p[0], &c, 1);
		_exit(3);
	}
	close(p[0]);
	usleep(100000);
	printf("child:\n");
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	stat_fields(path, pid);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	status_fields(path, names);
	list_dir_("/proc", true);
	close(p[1]);
	waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	stat_fields(path, pid);
	waitpid(pid, NULL, 0);
	printf("  after reaping: %s\n", access(path, F_OK) ? strerrorname_np(errno) : "still there");
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "mounted")) {
		printf("needs /proc: run by t_procdev.sh\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	self_files();
	links_and_fds();
	escapes();
	child();
	threads();
	return 0;
}
