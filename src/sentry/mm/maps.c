/* What /proc/<pid>/maps, status and statm show of an mm: VMAs as text, and usage totals. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"
#include "mm_internal.h"

#define PROT_READ_ 1
#define PROT_WRITE_ 2
#define PROT_EXEC_ 4
#define MAPS_NAME_COL 72 /* Linux pads the fields to 25 + 6 * sizeof(void *) - 1 columns */
#define LINE_MAX_ 4200

/* The path of f as the namespace root sees it, " (deleted)" when unlinked. */
static void file_name(struct file *f, char *buf, size_t n)
{
	struct mount *root = f->path.mnt ? f->path.mnt->sb->vfs->root : NULL;
	ssize_t len = -1;

	buf[0] = 0;
	if (root && f->path.dentry) {
		struct path rp = {root, root->root};

		len = vfs_path_name(&rp, &f->path, buf, n - 16);
		if (len >= 0 && f->path.dentry->dead)
			strcat(buf, " (deleted)");
	}
	if (len < 0 && f->anon_name)
		snprintf(buf, n, "/%s (deleted)", f->anon_name);
}

static const char *special_name(const struct mm *mm, const struct vma *v)
{
	if (v->flags & VMA_VDSO)
		return "[vdso]";
	if (v->flags & VMA_VVAR)
		return "[vvar]";
	if (v->file)
		return NULL;
	if ((v->flags & VMA_HEAP) || (v->start <= mm->brk && v->end >= mm->brk_start &&
				       mm->brk > mm->brk_start))
		return "[heap]";
	if (v->flags & VMA_STACK)
		return "[stack]";
	if (v->obj && (v->flags & VMA_SHARED))
		return "/dev/zero (deleted)";
	return NULL;
}

static int format_vma(const struct mm *mm, const struct vma *v, char *line, size_t n)
{
	struct linux_statx st = {0};
	char name[4096];
	const char *special = special_name(mm, v);
	int len;

	name[0] = 0;
	if (v->file && v->file->inode)
		vfs_getattr(v->file->inode, &st);
	if (v->file)
		file_name(v->file, name, sizeof(name));
	len = snprintf(line, n, "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64 " %02x:%02x %" PRIu64 " ",
		       v->start, v->end, (v->prot & PROT_READ_) ? 'r' : '-',
		       (v->prot & PROT_WRITE_) ? 'w' : '-', (v->prot & PROT_EXEC_) ? 'x' : '-',
		       (v->flags & VMA_SHARED) ? 's' : 'p', v->file ? v->obj_off : 0,
		       st.stx_dev_major, st.stx_dev_minor, (uint64_t)st.stx_ino);
	if (special || name[0]) {
		if (len < MAPS_NAME_COL)
			len += snprintf(line + len, n - (size_t)len, "%*s", MAPS_NAME_COL - len, "");
		len += snprintf(line + len, n - (size_t)len, " %s", special ? special : name);
	}
	len += snprintf(line + len, n - (size_t)len, "\n");
	return MIN(len, (int)n - 1);
}

ssize_t mm_format_maps(struct mm *mm, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), line[LINE_MAX_];

	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&mm->lock);
	for (size_t i = 0; i < mm->vmas.n; i++) {
		int l = format_vma(mm, &mm->vmas.v[i], line, sizeof(line));

		if (len + (size_t)l + 1 > cap) {
			char *nb = realloc(buf, cap * 2 + (size_t)l);

			if (!nb) {
				pthread_mutex_unlock(&mm->lock);
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = cap * 2 + (size_t)l;
		}
		memcpy(buf + len, line, (size_t)l);
		len += (size_t)l;
	}
	pthread_mutex_unlock(&mm->lock);
	buf[len] = 0;
	*out = buf;
	return (ssize_t)len;
}

struct rss_ctx {
	uint64_t pages;
};

static void count_present(void *arg, uint64_t va, uint64_t *pte)
{
	if (*pte & PTE_PRESENT)
		((struct rss_ctx *)arg)->pages++;
}

/* Adds v's size and resident pages to the totals it belongs to. */
static void account_vma(struct mm *mm, const struct vma *v, struct mm_usage *u)
{
	struct rss_ctx rc = {0};
	uint64_t size = v->end - v->start, rss;

	pt_walk(&mm->pt, v->start, v->end, count_present, &rc);
	rss = rc.pages * PAGE_SIZE;
	u->vm_size += size;
	u->vm_rss += rss;
	if (v->flags & VMA_LOCKED)
		u->vm_lck += size;
	if (v->flags & (VMA_STACK | VMA_GROWSDOWN))
		u->vm_stk += size;
	else if ((v->prot & PROT_WRITE_) && !(v->flags & VMA_SHARED))
		u->vm_data += size;
	if (v->file && (v->prot & PROT_EXEC_)) {
		if (mm->exe && v->file->inode == mm->exe->inode) {
			u->vm_exe += size;
			if (!u->start_code || v->start < u->start_code)
				u->start_code = v->start;
			u->end_code = MAX(u->end_code, v->end);
		} else {
			u->vm_lib += size;
		}
	}
	if ((v->flags & VMA_SHARED) && !v->file)
		u->rss_shmem += rss;
	else if ((v->flags & VMA_SHARED) || (v->file && !(v->prot & PROT_WRITE_)))
		u->rss_file += rss;
	else
		u->rss_anon += rss;
}

void mm_usage(struct mm *mm, struct mm_usage *u)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_lock(&mm->lock);
	for (size_t i = 0; i < mm->vmas.n; i++)
		account_vma(mm, &mm->vmas.v[i], u);
	u->start_brk = mm->brk_start;
	u->brk = mm->brk;
	u->start_stack = mm->stack_top;
	u->arg_start = mm->arg_start;
	u->arg_end = mm->arg_end;
	u->env_start = mm->env_start;
	u->env_end = mm->env_end;
	u->faults = mm->faults;
	if (mm->vmas.n) {
		u->lowest = mm->vmas.v[0].start;
		u->highest = mm->vmas.v[mm->vmas.n - 1].end;
	}
	pthread_mutex_unlock(&mm->lock);
}
