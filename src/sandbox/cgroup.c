/*
 * The sandbox process's cgroup (DESIGN.md §4): config.json's cgroupsPath and resources,
 * applied by the CLI, which is not confined, to the whole sandbox (sentry, stubs, vCPUs):
 * the sandbox is moved in before it confines itself and before it starts any thread or stub,
 * so all of them are accounted and limited.  cgroup v1 (one directory per mounted hierarchy,
 * named ones included) and v2 (the unified tree, with the controllers enabled on the way
 * down).  `update` rewrites the limits; `delete` removes the directories.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/compiler.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "cvisor/sandbox.h"

#define CGROUP2_MAGIC 0x63677270
#define CGROUP_ROOT "/sys/fs/cgroup"
#define MAX_HIER 16
#define RMDIR_WAIT_MS 2000
#define DIR_MAX 4096

/* The mount points of the hierarchies this host has: v1 ones, or the v2 root alone. */
struct hier {
	char mnt[256];
	char opts[256]; /* v1: the controllers ("cpu,cpuacct", "name=systemd") */
};

int cgroup_version(void)
{
	struct statfs sf;

	if (statfs(CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_MAGIC)
		return 2;
	return access(CGROUP_ROOT "/memory", F_OK) == 0 || access(CGROUP_ROOT "/pids", F_OK) == 0
		       ? 1
		       : 0;
}

/* Fills h with the hierarchies to use; returns how many. */
static int hierarchies(struct hier *h, int max)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int n = 0;

	if (cgroup_version() == 2) {
		snprintf(h[0].mnt, sizeof(h[0].mnt), "%s", CGROUP_ROOT);
		h[0].opts[0] = 0;
		return 1;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	while (n < max && getline(&line, &cap, f) > 0) {
		char root[256], mnt[256], type[32], sopts[256];
		const char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint opts ... - type source superopts */
		if (!sep || sscanf(line, "%*d %*d %*s %255s %255s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%31s %*s %255s", type, sopts) != 2)
			continue;
		if (strcmp(type, "cgroup") || strcmp(root, "/"))
			continue;
		snprintf(h[n].mnt, sizeof(h[n].mnt), "%s", mnt);
		snprintf(h[n].opts, sizeof(h[n].opts), "%s", sopts);
		n++;
	}
	fclose(f);
	return n;
}

static bool has_controller(const struct hier *h, const char *c)
{
	char opts[sizeof(h->opts)], *save = NULL;

	snprintf(opts, sizeof(opts), "%s", h->opts);
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (!strcmp(o, c))
			return true;
	return false;
}

char *cgroup_resolve(const char *cgroups_path, const char *id)
{
	char *p;

	if (!cgroups_path || !*cgroups_path)
		return asprintf(&p, "/cvisor/%s", id) < 0 ? NULL : p;
	/* A relative path is placed under /cvisor (the runtime spec leaves where to us). */
	if (cgroups_path[0] != '/')
		return asprintf(&p, "/cvisor/%s", cgroups_path) < 0 ? NULL : p;
	return strdup(cgroups_path);
}

/*
 * The pids limit counts the container's tasks, which the sentry enforces exactly; on the
 * host, each task is a sentry thread plus, on ptrace and systrap, a stub thread, beside the
 * sandbox's own threads: the cgroup gets room for those.
 */
static int64_t host_pids_limit(int64_t limit)
{
	return limit * 2 + 64;
}

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[DIR_MAX + 64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int read_file(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[DIR_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	return (int)n;
}

static int set_value(const char *dir, const char *name, const char *val, struct cv_err **err)
{
	int r = write_file(dir, name, val);

	if (r < 0)
		return cv_err_set(err, -r, "cgroup: writing `%s` to %s/%s", val, dir, name);
	return 0;
}

static int set_i64(const char *dir, const char *name, int64_t v, struct cv_err **err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return set_value(dir, name, buf, err);
}

/* v1 cpuset: a new cgroup starts with no CPUs or nodes; copy the parent's. */
static void cpuset_inherit(const char *dir)
{
	_cleanup_free_ char *parent = strdup(dir);
	char *slash = parent ? strrchr(parent, '/') : NULL;
	char buf[256];

	if (!slash)
		return;
	*slash = 0;
	for (int i = 0; i < 2; i++) {
		const char *f = i ? "cpuset.mems" : "cpuset.cpus";

		if (read_file(dir, f, buf, sizeof(buf)) == 0 && read_file(parent, f, buf, sizeof(buf)) > 0)
			write_file(dir, f, buf);
	}
}

/* mkdir -p of dir below mnt; v1 cpuset levels inherit their parent's sets, v2 levels get the
 * controllers enabled in the level above. */
static int make_dirs(const struct hier *h, const char *dir, bool v2, struct cv_err **err)
{
	_cleanup_free_ char *p = strdup(dir);
	size_t base = strlen(h->mnt);

	if (!p)
		return cv_err_set(err, ENOMEM, "cgroup");
	for (char *s = p + base + 1;; s++) {
		bool end = !*s;

		if (*s != '/' && !end)
			continue;
		*s = 0;
		if (v2) {
			_cleanup_free_ char *up = strdup(p);
			char *sl = up ? strrchr(up, '/') : NULL;

			if (sl) {
				*sl = 0;
				write_file(up, "cgroup.subtree_control", "+memory +pids +cpu +cpuset");
			}
		}
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return cv_err_set(err, errno, "cgroup: creating `%s`", p);
		if (has_controller(h, "cpuset"))
			cpuset_inherit(p);
		if (end)
			break;
		*s = '/';
	}
	return 0;
}

static bool has_file(const char *dir, const char *name)
{
	char path[DIR_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Memory and swap limits in an order the kernel accepts: memsw may never be below memory,
 * so raising both needs swap first and lowering memory first. */
static int apply_memory_v1(const char *dir, const struct oci_resources *r, struct cv_err **err)
{
	char mem[32], swap[32];

	if (r->memory_reservation > 0 &&
	    set_i64(dir, "memory.soft_limit_in_bytes", r->memory_reservation, err) < 0)
		return -1;
	if (r->memory_limit <= 0)
		return 0;
	snprintf(mem, sizeof(mem), "%" PRId64, r->memory_limit);
	if (r->memory_swap == 0 || r->memory_swap < -1 ||
	    !has_file(dir, "memory.memsw.limit_in_bytes"))
		return set_value(dir, "memory.limit_in_bytes", mem, err);
	snprintf(swap, sizeof(swap), "%" PRId64, r->memory_swap);
	if (write_file(dir, "memory.limit_in_bytes", mem) == 0)
		return set_value(dir, "memory.memsw.limit_in_bytes", swap, err);
	if (set_value(dir, "memory.memsw.limit_in_bytes", swap, err) < 0)
		return -1;
	return set_value(dir, "memory.limit_in_bytes", mem, err);
}

static int apply_v1(const struct hier *h, const char *dir, const struct oci_resources *r,
		    struct cv_err **err)
{
	if (has_controller(h, "memory") && apply_memory_v1(dir, r, err) < 0)
		return -1;
	if (has_controller(h, "pids") && r->pids_limit > 0 &&
	    set_i64(dir, "pids.max", host_pids_limit(r->pids_limit), err) < 0)
		return -1;
	if (has_controller(h, "cpu")) {
		if (r->cpu_shares && set_i64(dir, "cpu.shares", (int64_t)r->cpu_shares, err) < 0)
			return -1;
		if (r->cpu_period && set_i64(dir, "cpu.cfs_period_us", (int64_t)r->cpu_period, err) < 0)
			return -1;
		if (r->cpu_quota > 0 && set_i64(dir, "cpu.cfs_quota_us", r->cpu_quota, err) < 0)
			return -1;
	}
	if (has_controller(h, "cpuset")) {
		if (r->cpuset_cpus && *r->cpuset_cpus &&
		    set_value(dir, "cpuset.cpus", r->cpuset_cpus, err) < 0)
			return -1;
		if (r->cpuset_mems && *r->cpuset_mems &&
		    set_value(dir, "cpuset.mems", r->cpuset_mems, err) < 0)
			return -1;
	}
	return 0;
}

static int apply_v2(const char *dir, const struct oci_resources *r, struct cv_err **err)
{
	char v[64];

	if (r->memory_limit > 0 && set_i64(dir, "memory.max", r->memory_limit, err) < 0)
		return -1;
	if (r->memory_reservation > 0 && set_i64(dir, "memory.low", r->memory_reservation, err) < 0)
		return -1;
	if (r->memory_swap > 0 && r->memory_limit > 0 && r->memory_swap >= r->memory_limit &&
	    has_file(dir, "memory.swap.max") &&
	    set_i64(dir, "memory.swap.max", r->memory_swap - r->memory_limit, err) < 0)
		return -1;
	if (r->pids_limit > 0 && set_i64(dir, "pids.max", host_pids_limit(r->pids_limit), err) < 0)
		return -1;
	if (r->cpu_shares) {
		/* runc's conversion of v1 shares [2, 262144] to a v2 weight [1, 10000] */
		uint64_t s = MIN(MAX(r->cpu_shares, 2), 262144);

		if (set_i64(dir, "cpu.weight", (int64_t)(1 + ((s - 2) * 9999) / 262142), err) < 0)
			return -1;
	}
	if (r->cpu_quota > 0 || r->cpu_period) {
		uint64_t period = r->cpu_period ? r->cpu_period : 100000;

		if (r->cpu_quota > 0)
			snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, r->cpu_quota, period);
		else
			snprintf(v, sizeof(v), "max %" PRIu64, period);
		if (set_value(dir, "cpu.max", v, err) < 0)
			return -1;
	}
	if (r->cpuset_cpus && *r->cpuset_cpus && set_value(dir, "cpuset.cpus", r->cpuset_cpus, err) < 0)
		return -1;
	if (r->cpuset_mems && *r->cpuset_mems && set_value(dir, "cpuset.mems", r->cpuset_mems, err) < 0)
		return -1;
	return 0;
}

static void dir_of(const struct hier *h, const char *path, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s%s", h->mnt, path) >= cap)
		out[0] = 0; /* too long: no such directory */
}

int cgroup_update(const char *path, const struct oci_resources *res, struct cv_err **err)
{
	struct hier h[MAX_HIER];
	int n = hierarchies(h, MAX_HIER);
	char dir[DIR_MAX];

	if (n == 0)
		return cv_err_set(err, ENOENT, "cgroup: no cgroup hierarchy is mounted");
	for (int i = 0; i < n; i++) {
		dir_of(&h[i], path, dir, sizeof(dir));
		if (access(dir, F_OK) < 0)
			return cv_err_set(err, errno, "cgroup `%s`", dir);
		if (cgroup_version() == 2 ? apply_v2(dir, res, err) : apply_v1(&h[i], dir, res, err))
			return -1;
	}
	return 0;
}

int cgroup_enter(const char *path, const struct oci_resources *res, pid_t pid,
		 struct cv_err **err)
{
	struct hier h[MAX_HIER];
	int n = hierarchies(h, MAX_HIER);
	bool v2 = cgroup_version() == 2;
	char dir[DIR_MAX], pidstr[16];

	if (n == 0)
		return cv_err_set(err, ENOENT, "cgroup: no cgroup hierarchy is mounted");
	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	for (int i = 0; i < n; i++) {
		int r;

		dir_of(&h[i], path, dir, sizeof(dir));
		if (make_dirs(&h[i], dir, v2, err) < 0)
			goto fail;
		if (v2 ? apply_v2(dir, res, err) : apply_v1(&h[i], dir, res, err))
			goto fail;
		if ((r = write_file(dir, "cgroup.procs", pidstr)) < 0) {
			cv_err_set(err, -r, "cgroup: moving the sandbox into `%s`", dir);
			goto fail;
		}
	}
	return 0;
fail:
	cgroup_remove(path, NULL);
	return -1;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Parents under /cvisor (cgroup_resolve's own place) go once empty; an engine's (/docker)
 * stay, as runc leaves them. */
static void remove_own_parents(char *dir, size_t base)
{
	char *slash;

	if (strncmp(dir + base, "/cvisor/", 8))
		return;
	while ((slash = strrchr(dir + base, '/')) && slash > dir + base) {
		*slash = 0;
		if (rmdir(dir) < 0)
			break;
	}
}

int cgroup_remove(const char *path, struct cv_err **err)
{
	struct hier h[MAX_HIER];
	int n = hierarchies(h, MAX_HIER);
	char dir[DIR_MAX];
	int r = 0;

	for (int i = 0; i < n; i++) {
		uint64_t until = ms_now() + RMDIR_WAIT_MS;

		dir_of(&h[i], path, dir, sizeof(dir));
		/* Processes that are exiting keep a cgroup busy for a moment. */
		while (rmdir(dir) < 0 && errno == EBUSY && ms_now() < until)
			usleep(10000);
		if (access(dir, F_OK) == 0 && r == 0)
			r = cv_err_set(err, errno, "cgroup: removing `%s`", dir);
		remove_own_parents(dir, strlen(h[i].mnt));
	}
	return r;
}

static int pid_cmp(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

int cgroup_pids(const char *path, pid_t **pids)
{
	struct hier h[MAX_HIER];
	int n = hierarchies(h, MAX_HIER), count = 0, cap = 0;
	char dir[DIR_MAX], file[DIR_MAX + 16];
	FILE *f = NULL;
	long v;

	*pids = NULL;
	for (int i = 0; i < n && !f; i++) {
		if (n > 1 && !has_controller(&h[i], "memory") && !has_controller(&h[i], "pids"))
			continue;
		dir_of(&h[i], path, dir, sizeof(dir));
		snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
		f = fopen(file, "re");
	}
	if (!f)
		return -ENOENT;
	while (fscanf(f, "%ld", &v) == 1) {
		if (count == cap) {
			pid_t *p = realloc(*pids, (size_t)(cap = cap ? cap * 2 : 16) * sizeof(pid_t));

			if (!p)
				break;
			*pids = p;
		}
		(*pids)[count++] = (pid_t)v;
	}
	fclose(f);
	qsort(*pids, (size_t)count, sizeof(pid_t), pid_cmp);
	return count;
}

/* ---- statistics (`events`) ---------------------------------------------------------------- */

/* The directory of path in the hierarchy that has controller c (v2: the only one). */
static bool controller_dir(const char *path, const char *c, char *dir, size_t cap)
{
	struct hier h[MAX_HIER];
	int n = hierarchies(h, MAX_HIER);

	for (int i = 0; i < n; i++) {
		if (n > 1 && !has_controller(&h[i], c))
			continue;
		dir_of(&h[i], path, dir, cap);
		return dir[0] != 0;
	}
	return false;
}

static uint64_t read_u64(const char *dir, const char *name)
{
	char buf[64];

	if (read_file(dir, name, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10); /* "max" reads as 0: no limit, as runc reports */
}

/* A "key value" file (memory.stat, cpu.stat) as a JSON object of integers. */
static json_t *read_kv(const char *dir, const char *name)
{
	char buf[8192], *save = NULL;
	json_t *j = json_object();

	if (read_file(dir, name, buf, sizeof(buf)) <= 0)
		return j;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char key[64];
		unsigned long long v;

		if (sscanf(l, "%63s %llu", key, &v) == 2)
			json_object_set_new(j, key, json_integer((json_int_t)v));
	}
	return j;
}

static json_int_t kv(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static json_t *usage(uint64_t limit, uint64_t use, uint64_t max, uint64_t failcnt)
{
	return json_pack("{s:I,s:I,s:I,s:I}", "limit", (json_int_t)limit, "usage", (json_int_t)use,
			 "max", (json_int_t)max, "failcnt", (json_int_t)failcnt);
}

static json_t *stats_v1(const char *path)
{
	char cpu[DIR_MAX], acct[DIR_MAX], mem[DIR_MAX], pids[DIR_MAX];
	json_t *cs = NULL, *ms = NULL, *percpu = json_array(), *j;
	long hz = sysconf(_SC_CLK_TCK);
	char buf[4096], *save = NULL;

	if (!controller_dir(path, "cpuacct", acct, sizeof(acct)))
		acct[0] = 0;
	if (acct[0] && read_file(acct, "cpuacct.usage_percpu", buf, sizeof(buf)) > 0)
		for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
			json_array_append_new(percpu, json_integer((json_int_t)strtoull(t, NULL, 10)));
	cs = acct[0] ? read_kv(acct, "cpuacct.stat") : json_object();
	if (!controller_dir(path, "cpu", cpu, sizeof(cpu)))
		cpu[0] = 0;
	j = cpu[0] ? read_kv(cpu, "cpu.stat") : json_object();
	if (!controller_dir(path, "memory", mem, sizeof(mem)))
		mem[0] = 0;
	ms = mem[0] ? read_kv(mem, "memory.stat") : json_object();
	if (!controller_dir(path, "pids", pids, sizeof(pids)))
		pids[0] = 0;
	j = json_pack("{s:{s:{s:I,s:o,s:I,s:I},s:{s:I,s:I,s:I}},s:{s:I,s:o,s:o,s:o,s:o},s:{s:I,s:I}}",
		"cpu", "usage", "total", (json_int_t)read_u64(acct, "cpuacct.usage"), "percpu", percpu,
		"kernel", kv(cs, "system") * 1000000000 / (hz > 0 ? hz : 100),
		"user", kv(cs, "user") * 1000000000 / (hz > 0 ? hz : 100),
		"throttling", "periods", kv(j, "nr_periods"), "throttled_periods",
		kv(j, "nr_throttled"), "throttled_time", kv(j, "throttled_time"),
		"memory", "cache", kv(ms, "cache"),
		"usage", usage(read_u64(mem, "memory.limit_in_bytes"),
			       read_u64(mem, "memory.usage_in_bytes"),
			       read_u64(mem, "memory.max_usage_in_bytes"),
			       read_u64(mem, "memory.failcnt")),
		"swap", usage(read_u64(mem, "memory.memsw.limit_in_bytes"),
			      read_u64(mem, "memory.memsw.usage_in_bytes"),
			      read_u64(mem, "memory.memsw.max_usage_in_bytes"),
			      read_u64(mem, "memory.memsw.failcnt")),
		"kernel", usage(read_u64(mem, "memory.kmem.limit_in_bytes"),
				read_u64(mem, "memory.kmem.usage_in_bytes"),
				read_u64(mem, "memory.kmem.max_usage_in_bytes"),
				read_u64(mem, "memory.kmem.failcnt")),
		"raw", ms,
		"pids", "current", (json_int_t)read_u64(pids, "pids.current"), "limit",
		(json_int_t)read_u64(pids, "pids.max"));
	json_decref(cs);
	return j;
}

static json_t *stats_v2(const char *path)
{
	char dir[DIR_MAX];
	json_t *cs, *ms, *j;

	if (!controller_dir(path, "", dir, sizeof(dir)))
		return NULL;
	cs = read_kv(dir, "cpu.stat");
	ms = read_kv(dir, "memory.stat");
	j = json_pack("{s:{s:{s:I,s:[],s:I,s:I},s:{s:I,s:I,s:I}},s:{s:I,s:o,s:o},s:{s:I,s:I}}",
		"cpu", "usage", "total", kv(cs, "usage_usec") * 1000, "percpu", "kernel",
		kv(cs, "system_usec") * 1000, "user", kv(cs, "user_usec") * 1000, "throttling",
		"periods", kv(cs, "nr_periods"), "throttled_periods", kv(cs, "nr_throttled"),
		"throttled_time", kv(cs, "throttled_usec") * 1000,
		"memory", "cache", kv(ms, "file"),
		"usage", usage(read_u64(dir, "memory.max"), read_u64(dir, "memory.current"),
			       read_u64(dir, "memory.peak"), 0),
		"raw", ms,
		"pids", "current", (json_int_t)read_u64(dir, "pids.current"), "limit",
		(json_int_t)read_u64(dir, "pids.max"));
	json_decref(cs);
	return j;
}

json_t *cgroup_stats(const char *path)
{
	json_t *j = cgroup_version() == 2 ? stats_v2(path) : stats_v1(path);

	if (j) {
		json_object_set_new(j, "blkio", json_object());
		json_object_set_new(j, "hugetlb", json_object());
		json_object_set_new(j, "intel_rdt", json_object());
		json_object_set_new(j, "network_interfaces", json_null());
	}
	return j;
}
