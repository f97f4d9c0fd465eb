/*
 * The syscall table (src/sentry/syscalls/table_amd64.c, data only) and handler conventions.
 * Handlers are `long sys_<name>(struct task *t, const struct syscall_args *a)`: they decode
 * arguments, call into a subsystem and return a value or -errno (or SYSCALL_REGS_SET).
 */
#ifndef CV_SENTRY_SYSCALL_H
#define CV_SENTRY_SYSCALL_H

#include <stdint.h>

struct task;

struct syscall_args {
	uint64_t a[6];
};

typedef long (*syscall_fn)(struct task *t, const struct syscall_args *a);

enum syscall_support {
	SYS_SUPPORTED, /* behaves as Linux */
	SYS_PARTIAL,   /* works for common uses; the note says what differs */
	SYS_UNIMPL,    /* returns ENOSYS (or the errno in `err`) */
};

/* How --strace prints an argument. */
enum strace_arg { SA_HEX = 0, SA_INT, SA_STR, SA_PATH = SA_STR, SA_BUF, SA_OCT };

struct syscall_entry {
	const char *name;
	syscall_fn fn;            /* NULL when unimplemented */
	enum syscall_support support;
	int err;                  /* errno returned when unimplemented (ENOSYS unless set) */
	const char *note;
	unsigned char nargs;
	unsigned char argfmt[6];  /* enum strace_arg */
};

extern const struct syscall_entry syscall_table[];
extern const unsigned syscall_table_size;

/* The table entry for nr, or NULL outside the table. */
const struct syscall_entry *syscall_lookup(uint64_t nr);

#endif
