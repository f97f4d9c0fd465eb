/* Private to src/sentry/syscalls: every handler's prototype and shared decoding helpers. */
#ifndef CV_SENTRY_SYSCALLS_INTERNAL_H
#define CV_SENTRY_SYSCALLS_INTERNAL_H

#include <errno.h>

#include "cvisor/err.h"
#include "cvisor/sentry/syscall.h"
#include "cvisor/sentry/task.h"

#define SYSCALL(name) long sys_##name(struct task *t, const struct syscall_args *a)
#define ARG(i) (a->a[i])
#define IARG(i) ((int)a->a[i])

#include "syscalls_list.h"

/* Copies a path argument (PATH_MAX) into a malloc'd buffer; ERR_PTR on error. */
char *copy_in_path(struct task *t, uint64_t addr);
/* Copies a NULL-terminated array of strings (argv/envp); ERR_PTR on error. */
char **copy_in_strv(struct task *t, uint64_t addr, size_t max_total);
void free_strv(char **v);

/* A path argument with the walk context of its dirfd (sys_fs.c). */
struct at_path {
	struct walk_ctx w;
	struct path hold_root, hold_start;
	char *name;
};
/* Copies the path and snapshots root and dirfd/cwd; 0 or -errno (nothing held then). */
long at_path_get(struct task *t, int dirfd, uint64_t upath, struct at_path *ap);
void at_path_put(struct at_path *ap);
/* Resolves (dirfd, upath) to *p (new references) with LOOKUP_* flags. */
long at_resolve(struct task *t, int dirfd, uint64_t upath, unsigned lookup, struct path *p);
/* The umask of t's process. */
uint32_t task_umask(struct task *t);
/* fcntl(2) commands implemented elsewhere: record locks (sys_lock.c), seals (sys_memfd.c). */
long fcntl_lock(struct task *t, struct file *f, int cmd, uint64_t arg);
long fcntl_seals(struct file *f, int cmd, uint64_t arg);

#endif
