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

#endif
