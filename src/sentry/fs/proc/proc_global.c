/*
 * System-wide /proc files: meminfo (from the memory file and the memory limit), stat,
 * uptime, loadavg and filesystems.  The sentry keeps no CPU accounting yet: CPU time is
 * reported as idle.
 */
#include <stdio.h>
#include <string.h>

#include "proc_internal.h"

#define DEFAULT_RAM (4ull << 30) /* what sysinfo(2) reports without a memory limit */

/* Total and used bytes of the sandbox's memory. */
static void mem_totals(struct kernel *k, uint64_t *total, uint64_t *used)
{
	struct memfile *mf = &k->mf;
	uint64_t in_use = __atomic_load_n(&mf->in_use, __ATOMIC_RELAXED) * PAGE_SIZE;

	*total = mf->limit ? mf->limit * PAGE_SIZE : DEFAULT_RAM;
	*used = MIN(in_use, *total);
}

static void kb(struct sbuf *s, const char *name, uint64_t bytes)
{
	sbuf_printf(s, "%-16s%8llu kB\n", name, (unsigned long long)(bytes >> 10));
}

enum mem_value { M_ZERO, M_TOTAL, M_FREE, M_USED, M_VMALLOC };

static const struct {
	const char *name;
	enum mem_value v;
} meminfo_lines[] = {
	{"MemTotal:", M_TOTAL},     {"MemFree:", M_FREE},        {"MemAvailable:", M_FREE},
	{"Buffers:", M_ZERO},       {"Cached:", M_ZERO},         {"SwapCached:", M_ZERO},
	{"Active:", M_USED},        {"Inactive:", M_ZERO},       {"Active(anon):", M_USED},
	{"Inactive(anon):", M_ZERO}, {"Active(file):", M_ZERO},  {"Inactive(file):", M_ZERO},
	{"Unevictable:", M_ZERO},   {"Mlocked:", M_ZERO},        {"SwapTotal:", M_ZERO},
	{"SwapFree:", M_ZERO},      {"Dirty:", M_ZERO},          {"Writeback:", M_ZERO},
	{"AnonPages:", M_USED},     {"Mapped:", M_ZERO},         {"Shmem:", M_ZERO},
	{"KReclaimable:", M_ZERO},  {"Slab:", M_ZERO},           {"SReclaimable:", M_ZERO},
	{"SUnreclaim:", M_ZERO},    {"KernelStack:", M_ZERO},    {"PageTables:", M_ZERO},
	{"NFS_Unstable:", M_ZERO},  {"Bounce:", M_ZERO},         {"WritebackTmp:", M_ZERO},
	{"CommitLimit:", M_TOTAL},  {"Committed_AS:", M_USED},   {"VmallocTotal:", M_VMALLOC},
	{"VmallocUsed:", M_ZERO},   {"VmallocChunk:", M_ZERO},   {"AnonHugePages:", M_ZERO},
	{"ShmemHugePages:", M_ZERO}, {"ShmemPmdMapped:", M_ZERO},
};

static int meminfo_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	uint64_t total, used, v;

	mem_totals(proc_kernel(n), &total, &used);
	for (size_t i = 0; i < ARRAY_SIZE(meminfo_lines); i++) {
		switch (meminfo_lines[i].v) {
		case M_TOTAL:
			v = total;
			break;
		case M_FREE:
			v = total - used;
			break;
		case M_USED:
			v = used;
			break;
		case M_VMALLOC:
			v = 34359738367ull << 10;
			break;
		default:
			v = 0;
			break;
		}
		kb(s, meminfo_lines[i].name, v);
	}
	sbuf_puts(s, "HugePages_Total:       0\nHugePages_Free:        0\n"
		     "HugePages_Rsvd:        0\nHugePages_Surp:        0\n");
	kb(s, "Hugepagesize:", 2048 << 10);
	kb(s, "Hugetlb:", 0);
	return 0;
}

/* /proc/vmstat: page counts from the memory file; event counters the sentry does not keep
 * are zero. */
static int vmstat_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	static const char *const zero[] = {
		"nr_inactive_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable",
		"nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_mapped", "nr_file_pages",
		"nr_dirty", "nr_writeback", "nr_shmem", "nr_page_table_pages", "nr_kernel_stack",
		"pgpgin", "pgpgout", "pswpin", "pswpout", "pgfree", "pgactivate", "pgdeactivate",
		"pgfault", "pgmajfault", "pgrefill", "pgsteal_kswapd", "pgsteal_direct",
		"pgscan_kswapd", "pgscan_direct", "oom_kill",
	};
	uint64_t total, used;

	mem_totals(proc_kernel(n), &total, &used);
	sbuf_printf(s, "nr_free_pages %llu\nnr_active_anon %llu\nnr_anon_pages %llu\n",
		    (unsigned long long)((total - used) / PAGE_SIZE),
		    (unsigned long long)(used / PAGE_SIZE), (unsigned long long)(used / PAGE_SIZE));
	for (size_t i = 0; i < ARRAY_SIZE(zero); i++)
		sbuf_printf(s, "%s 0\n", zero[i]);
	return 0;
}

static uint64_t uptime_ns(struct kernel *k)
{
	return clock_mono_ns() - k->boot_mono_ns;
}

static int nr_threads(struct kernel *k, int *last_pid)
{
	int n;

	pthread_mutex_lock(&k->lock);
	n = k->live_threads;
	*last_pid = k->last_pid;
	pthread_mutex_unlock(&k->lock);
	return n;
}

static int stat_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct kernel *k = proc_kernel(n);
	int ncpu = kfs_ncpus(), last;
	uint64_t tick = 1000000000ull / USER_HZ, total = uptime_ns(k) / tick * (uint64_t)ncpu;
	int threads = nr_threads(k, &last);
	uint64_t user, sys, idle;
	struct cpu_times ct;

	/* The sandbox's own processes are all that ran on its CPUs; the rest is idle. */
	kernel_cpu_times(k, &ct);
	user = MIN(ct.user_ns / tick, total);
	sys = MIN(ct.sys_ns / tick, total - user);
	idle = total - user - sys;
	sbuf_printf(s, "cpu  %llu 0 %llu %llu 0 0 0 0 0 0\n", (unsigned long long)user,
		    (unsigned long long)sys, (unsigned long long)idle);
	for (int i = 0; i < ncpu; i++)
		sbuf_printf(s, "cpu%d %llu 0 %llu %llu 0 0 0 0 0 0\n", i,
			    (unsigned long long)(user / (uint64_t)ncpu),
			    (unsigned long long)(sys / (uint64_t)ncpu),
			    (unsigned long long)(idle / (uint64_t)ncpu));
	sbuf_printf(s, "intr 0\nctxt 0\nbtime %llu\nprocesses %d\nprocs_running %d\n"
		       "procs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
		    (unsigned long long)(k->boot_real_ns / 1000000000ull), last, MAX(threads, 1));
	return 0;
}

static int uptime_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	uint64_t up = uptime_ns(proc_kernel(n)) / 10000000ull; /* centiseconds */
	uint64_t idle = up * (uint64_t)kfs_ncpus();

	sbuf_printf(s, "%llu.%02llu %llu.%02llu\n", (unsigned long long)(up / 100),
		    (unsigned long long)(up % 100), (unsigned long long)(idle / 100),
		    (unsigned long long)(idle % 100));
	return 0;
}

static int loadavg_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	int last, threads = nr_threads(proc_kernel(n), &last);

	sbuf_printf(s, "0.00 0.00 0.00 1/%d %d\n", MAX(threads, 1), last);
	return 0;
}

static int filesystems_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	static const char *const names[] = {"sysfs", "tmpfs", "proc", "devpts", "mqueue"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (vfs_find_fs_type(names[i]))
			sbuf_printf(s, "nodev\t%s\n", names[i]);
	return 0;
}

const struct kfs_ops proc_meminfo_ops = {.show = meminfo_show};
const struct kfs_ops proc_vmstat_ops = {.show = vmstat_show};
const struct kfs_ops proc_stat_global_ops = {.show = stat_show};
const struct kfs_ops proc_uptime_ops = {.show = uptime_show};
const struct kfs_ops proc_loadavg_ops = {.show = loadavg_show};
const struct kfs_ops proc_filesystems_ops = {.show = filesystems_show};
const struct kfs_ops proc_cpuinfo_ops = {.show = proc_cpuinfo_show};
