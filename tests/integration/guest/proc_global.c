/*
 * System-wide /proc and /sys files (t_procdev.sh mounts them): the formats programs parse
 * (meminfo, uptime, loadavg, stat, cpuinfo, mounts), CPU counts that agree with each other,
 * sysctls, and the filesystem magics.  Values that depend on the host are not printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	static char bufs[2][1 << 17];
	static int which;
	char *buf = bufs[which ^= 1];
	int fd = open(path, O_RDONLY);
	ssize_t n, got = 0;

	if (fd < 0) {
		printf("open %s: %s\n", path, strerrorname_np(errno));
		buf[0] = 0;
		return buf;
	}
	while ((n = read(fd, buf + got, sizeof(bufs[0]) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return buf;
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, strlen(prefix)))
			n++;
	return n;
}

static void meminfo(void)
{
	char *s = slurp("/proc/meminfo"), name[32];
	unsigned long v, total = 0, free = 0;
	int n = 0, off;

	printf("meminfo keys:");
	while (n < 16 && sscanf(s, "%31s %lu kB\n%n", name, &v, &off) == 2) {
		printf(" %s", name);
		if (!strcmp(name, "MemTotal:"))
			total = v;
		if (!strcmp(name, "MemFree:"))
			free = v;
		s += off;
		n++;
	}
	printf("\nmeminfo free <= total: %d, total > 0: %d\n", free <= total, total > 0);
}

static void small_files(void)
{
	double up, idle, l1, l2, l3;
	int run, tot, last;
	char *s;

	printf("uptime parses: %d\n", sscanf(slurp("/proc/uptime"), "%lf %lf", &up, &idle) == 2);
	printf("loadavg parses: %d\n", sscanf(slurp("/proc/loadavg"), "%lf %lf %lf %d/%d %d", &l1,
					      &l2, &l3, &run, &tot, &last) == 6);
	s = slurp("/proc/version");
	printf("version: %.14s\n", s);
	s = slurp("/proc/filesystems");
	printf("filesystems: proc %d, tmpfs %d, devpts %d, sysfs %d\n",
	       strstr(s, "nodev\tproc\n") != NULL, strstr(s, "nodev\ttmpfs\n") != NULL,
	       strstr(s, "nodev\tdevpts\n") != NULL, strstr(s, "nodev\tsysfs\n") != NULL);
	s = slurp("/proc/self/mounts");
	printf("mounts: proc %d, devpts %d, sysfs ro %d\n", strstr(s, "proc /proc proc rw,") != NULL,
	       strstr(s, "devpts /dev/pts devpts rw,") != NULL,
	       strstr(s, "sysfs /sys sysfs ro,") != NULL);
	s = slurp("/proc/self/mountinfo");
	printf("mountinfo: proc %d\n", strstr(s, " /proc rw,nosuid,nodev,noexec") != NULL &&
					       strstr(s, " - proc proc rw") != NULL);
}

static void cpus(void)
{
	char *pstat = slurp("/proc/stat"), *cpuinfo = slurp("/proc/cpuinfo"), *online;
	int ncpu = get_nprocs(), lo, hi, fields;
	unsigned long v[10];

	fields = sscanf(pstat, "cpu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2],
			&v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	printf("stat: cpu fields %d, per-cpu lines match %d, btime %d, processes %d\n", fields,
	       count_lines(pstat, "cpu") - 1 == ncpu, count_lines(pstat, "btime ") == 1,
	       count_lines(pstat, "processes ") == 1);
	printf("cpuinfo: processors match %d, flags lines %d\n",
	       count_lines(cpuinfo, "processor\t: ") == ncpu, count_lines(cpuinfo, "flags\t\t: ") == ncpu);
	for (const char *key = "vendor_id"; key; key = strcmp(key, "vendor_id") ? NULL : "model name") {
		char *l = strstr(cpuinfo, key);

		printf("cpuinfo: %.*s\n", l ? (int)strcspn(l, "\n") : 0, l ? l : "");
	}
	online = slurp("/sys/devices/system/cpu/online");
	if (sscanf(online, "%d-%d", &lo, &hi) == 1)
		hi = lo;
	printf("sys cpu online matches: %d\n", hi - lo + 1 == ncpu);
	printf("sys cpu%d is a directory: %d\n", ncpu - 1, ({
		       char p[64];
		       struct stat st;
		       snprintf(p, sizeof(p), "/sys/devices/system/cpu/cpu%d", ncpu - 1);
		       stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	       }));
	printf("sysconf matches: %d\n", sysconf(_SC_NPROCESSORS_ONLN) == ncpu);
}

static void sysctls(void)
{
	char boot1[64], boot2[64], uuid1[64], uuid2[64];
	int fd;

	printf("ostype: %s", slurp("/proc/sys/kernel/ostype"));
	printf("ngroups_max: %s", slurp("/proc/sys/kernel/ngroups_max"));
	printf("overflowuid: %s", slurp("/proc/sys/kernel/overflowuid"));
	printf("pid_max parses: %d\n", atoi(slurp("/proc/sys/kernel/pid_max")) > 0);
	printf("somaxconn parses: %d\n", atoi(slurp("/proc/sys/net/core/somaxconn")) > 0);
	snprintf(boot1, sizeof(boot1), "%s", slurp("/proc/sys/kernel/random/boot_id"));
	snprintf(boot2, sizeof(boot2), "%s", slurp("/proc/sys/kernel/random/boot_id"));
	snprintf(uuid1, sizeof(uuid1), "%s", slurp("/proc/sys/kernel/random/uuid"));
	snprintf(uuid2, sizeof(uuid2), "%s", slurp("/proc/sys/kernel/random/uuid"));
	printf("boot_id: length %zu, stable %d; uuid: length %zu, fresh %d\n", strlen(boot1),
	       !strcmp(boot1, boot2), strlen(uuid1), strcmp(uuid1, uuid2) != 0);
	fd = open("/proc/sys/kernel/hostname", O_WRONLY);
	printf("hostname write: %zd\n", write(fd, "procfs-host\n", 12));
	close(fd);
	printf("hostname: %s", slurp("/proc/sys/kernel/hostname"));
	printf("thp enabled bracketed: %d\n",
	       strchr(slurp("/sys/kernel/mm/transparent_hugepage/enabled"), '[') != NULL);
}

static void magics(void)
{
	static const struct {
		const char *path;
		long magic;
	} fs[] = {{"/proc", 0x9fa0}, {"/sys", 0x62656572}, {"/dev/pts", 0x1cd1}};
	struct statfs st;

	for (unsigned i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		printf("statfs %s: magic ok %d\n", fs[i].path,
		       statfs(fs[i].path, &st) == 0 && st.f_type == fs[i].magic);
}

/* user+system ticks of the "cpu " line of /proc/stat */
static unsigned long long busy_ticks(void)
{
	char *pstat = slurp("/proc/stat");
	unsigned long long user = 0, nice = 0, sys = 0;

	sscanf(pstat, "cpu %llu %llu %llu", &user, &nice, &sys);
	return user + nice + sys;
}

/* Spinning for 300 ms shows up as busy time in /proc/stat (here the host's, there the
 * sandbox's own processes). */
static void cpu_busy(void)
{
	unsigned long long before = busy_ticks();
	struct timespec t0, now;
	volatile unsigned long sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			sink += i;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000000000ll + now.tv_nsec - t0.tv_nsec < 300000000ll);
	printf("stat: busy time grows while spinning %d\n", busy_ticks() >= before + 5);
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "mounted")) {
		printf("needs /proc and /sys: run by t_procdev.sh\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	meminfo();
	small_files();
	cpus();
	cpu_busy();
	sysctls();
	magics();
	return 0;
}
