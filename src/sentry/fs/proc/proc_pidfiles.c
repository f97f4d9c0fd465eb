/*
 * Per-process files read from the process's memory and limits: cmdline, environ, auxv, comm,
 * limits, maps and smaps_rollup.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc_internal.h"

#define ARG_REGION_MAX (2u << 20) /* bigger than any argv/envp execve accepts */

/* Reads [start, end) of mm (at most ARG_REGION_MAX bytes) into *out; returns the length. */
static ssize_t read_region(struct mm *mm, uint64_t start, uint64_t end, char **out)
{
	size_t len = end > start ? (size_t)MIN(end - start, (uint64_t)ARG_REGION_MAX) : 0;
	ssize_t r;

	*out = NULL;
	if (!len)
		return 0;
	if (!(*out = malloc(len)))
		return -ENOMEM;
	r = mm_copy_in(mm, start, *out, len);
	return r < 0 ? 0 : r; /* unmapped by the process: nothing to show */
}

static int cmdline_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct mm *mm = proc_task_mm(n);
	char *buf;
	ssize_t r;

	if (!mm)
		return 0;
	r = read_region(mm, mm->arg_start, mm->arg_end, &buf);
	if (r > 0 && buf[r - 1] != 0 && mm->env_end > mm->arg_end) {
		/* The final NUL was overwritten (setproctitle(3)): one string, up to the first
		 * NUL, which may run on into the environment. */
		free(buf);
		r = read_region(mm, mm->arg_start, mm->env_end, &buf);
		r = r > 0 ? (ssize_t)strnlen(buf, (size_t)r) : r;
	}
	mm_put(mm);
	if (r > 0)
		sbuf_put(s, buf, (size_t)r);
	free(buf);
	return r < 0 ? (int)r : 0;
}

static int environ_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct mm *mm = proc_task_mm(n);
	char *buf;
	ssize_t r;

	if (!mm)
		return 0;
	r = read_region(mm, mm->env_start, mm->env_end, &buf);
	mm_put(mm);
	if (r > 0)
		sbuf_put(s, buf, (size_t)r);
	free(buf);
	return r < 0 ? (int)r : 0;
}

static int auxv_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct mm *mm = proc_task_mm(n);

	if (!mm)
		return 0;
	sbuf_put(s, mm->auxv, MIN(mm->auxv_len, ARRAY_SIZE(mm->auxv)) * sizeof(mm->auxv[0]));
	mm_put(mm);
	return 0;
}

static int comm_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct kernel *k = proc_kernel(n);
	struct task *p;
	char comm[17] = {0};

	pthread_mutex_lock(&k->lock);
	if ((p = proc_task_locked(k, n)))
		memcpy(comm, p->comm, sizeof(p->comm));
	pthread_mutex_unlock(&k->lock);
	if (!p)
		return -ESRCH;
	sbuf_printf(s, "%s\n", comm);
	return 0;
}

/* Implements writing /proc/<pid>/comm: names a thread of the writer's own process. */
static ssize_t comm_store(struct kfs_node *n, struct task *t, const char *buf, size_t len)
{
	struct kernel *k = proc_kernel(n);
	ssize_t r = (ssize_t)len;
	struct task *p;

	pthread_mutex_lock(&k->lock);
	p = proc_task_locked(k, n);
	if (!p)
		r = -ESRCH;
	else if (p->tg != t->tg)
		r = -EINVAL;
	else {
		memset(p->comm, 0, sizeof(p->comm));
		memcpy(p->comm, buf, MIN(len, sizeof(p->comm) - 1));
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

static const struct {
	const char *name, *unit;
} limit_names[LINUX_RLIM_NLIMITS] = {
	{"Max cpu time", "seconds"},	{"Max file size", "bytes"},
	{"Max data size", "bytes"},	{"Max stack size", "bytes"},
	{"Max core file size", "bytes"}, {"Max resident set", "bytes"},
	{"Max processes", "processes"}, {"Max open files", "files"},
	{"Max locked memory", "bytes"}, {"Max address space", "bytes"},
	{"Max file locks", "locks"},	{"Max pending signals", "signals"},
	{"Max msgqueue size", "bytes"}, {"Max nice priority", NULL},
	{"Max realtime priority", NULL}, {"Max realtime timeout", "us"},
};

static void limit_value(struct sbuf *s, uint64_t v)
{
	if (v == LINUX_RLIM_INFINITY)
		sbuf_printf(s, "%-20s ", "unlimited");
	else
		sbuf_printf(s, "%-20llu ", (unsigned long long)v);
}

static int limits_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct kernel *k = proc_kernel(n);
	struct linux_rlimit64 rl[LINUX_RLIM_NLIMITS];
	struct task *p;

	pthread_mutex_lock(&k->lock);
	if ((p = proc_task_locked(k, n)))
		memcpy(rl, p->tg->rlimits, sizeof(rl));
	pthread_mutex_unlock(&k->lock);
	if (!p)
		return -ESRCH;
	sbuf_printf(s, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units");
	for (int i = 0; i < LINUX_RLIM_NLIMITS; i++) {
		sbuf_printf(s, "%-25s ", limit_names[i].name);
		limit_value(s, rl[i].cur);
		limit_value(s, rl[i].max);
		if (limit_names[i].unit)
			sbuf_printf(s, "%-10s\n", limit_names[i].unit);
		else
			sbuf_puts(s, "\n");
	}
	return 0;
}

static int maps_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct mm *mm = proc_task_mm(n);
	char *text = NULL;
	ssize_t len;

	if (!mm)
		return 0;
	len = mm_format_maps(mm, &text);
	mm_put(mm);
	if (len < 0)
		return (int)len;
	sbuf_put(s, text, (size_t)len);
	free(text);
	return 0;
}

static void kb_line(struct sbuf *s, const char *name, uint64_t bytes)
{
	sbuf_printf(s, "%-16s%8llu kB\n", name, (unsigned long long)(bytes >> 10));
}

/* Deviations: every resident page counts as private and dirty, and as referenced. */
static int smaps_rollup_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct mm *mm = proc_task_mm(n);
	struct mm_usage u;
	int len;

	if (!mm)
		return 0;
	mm_usage(mm, &u);
	mm_put(mm);
	len = (int)s->len;
	sbuf_printf(s, "%08llx-%08llx ---p 00000000 00:00 0", (unsigned long long)u.lowest,
		    (unsigned long long)u.highest);
	sbuf_printf(s, "%*s [rollup]\n", MAX(72 - ((int)s->len - len), 0), "");
	kb_line(s, "Rss:", u.vm_rss);
	kb_line(s, "Pss:", u.vm_rss);
	kb_line(s, "Pss_Anon:", u.rss_anon);
	kb_line(s, "Pss_File:", u.rss_file);
	kb_line(s, "Pss_Shmem:", u.rss_shmem);
	kb_line(s, "Shared_Clean:", 0);
	kb_line(s, "Shared_Dirty:", 0);
	kb_line(s, "Private_Clean:", 0);
	kb_line(s, "Private_Dirty:", u.vm_rss);
	kb_line(s, "Referenced:", u.vm_rss);
	kb_line(s, "Anonymous:", u.rss_anon);
	kb_line(s, "LazyFree:", 0);
	kb_line(s, "AnonHugePages:", 0);
	kb_line(s, "ShmemPmdMapped:", 0);
	kb_line(s, "FilePmdMapped:", 0);
	kb_line(s, "Shared_Hugetlb:", 0);
	kb_line(s, "Private_Hugetlb:", 0);
	kb_line(s, "Swap:", 0);
	kb_line(s, "SwapPss:", 0);
	kb_line(s, "Locked:", u.vm_lck);
	return 0;
}

const struct kfs_ops proc_cmdline_ops = {.show = cmdline_show};
const struct kfs_ops proc_environ_ops = {.show = environ_show};
const struct kfs_ops proc_auxv_ops = {.show = auxv_show};
const struct kfs_ops proc_comm_ops = {.show = comm_show, .store = comm_store};
const struct kfs_ops proc_limits_ops = {.show = limits_show};
const struct kfs_ops proc_maps_ops = {.show = maps_show};
const struct kfs_ops proc_smaps_rollup_ops = {.show = smaps_rollup_show};
