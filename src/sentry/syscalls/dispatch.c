/*
 * The syscall dispatcher: table lookup, ENOSYS accounting, and --strace (enter/exit hooks
 * live only here; handlers stay free of logging).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cvisor/log.h"
#include "cvisor/sentry/syscall.h"
#include "cvisor/sentry/task.h"

const struct syscall_entry *syscall_lookup(uint64_t nr)
{
	if (nr >= syscall_table_size || !syscall_table[nr].name)
		return NULL;
	return &syscall_table[nr];
}

static void format_arg(struct task *t, char *buf, size_t n, uint64_t v, unsigned fmt)
{
	char s[64];

	switch (fmt) {
	case SA_INT:
		snprintf(buf, n, "%lld", (long long)v);
		break;
	case SA_OCT:
		snprintf(buf, n, "%#llo", (unsigned long long)v);
		break;
	case SA_STR: {
		ssize_t r = v ? mm_copy_in_str(t->mm, v, s, sizeof(s)) : -EFAULT;

		if (r >= 0)
			snprintf(buf, n, "\"%s\"", s);
		else if (r == -ENAMETOOLONG)
			snprintf(buf, n, "\"%.*s\"...", (int)sizeof(s) - 1, s);
		else
			snprintf(buf, n, "%#llx", (unsigned long long)v);
		break;
	}
	default:
		snprintf(buf, n, "%#llx", (unsigned long long)v);
		break;
	}
}

static void strace_enter(struct task *t, uint64_t nr, const struct syscall_entry *e,
			 const struct syscall_args *a)
{
	char line[768], arg[96];
	size_t len;
	unsigned nargs = e ? e->nargs : 6;

	len = (size_t)snprintf(line, sizeof(line), "[%d] %s(", t->tid, e ? e->name : "?");
	if (!e)
		len = (size_t)snprintf(line, sizeof(line), "[%d] syscall_%llu(", t->tid,
				       (unsigned long long)nr);
	for (unsigned i = 0; i < nargs && len < sizeof(line); i++) {
		format_arg(t, arg, sizeof(arg), a->a[i], e ? e->argfmt[i] : SA_HEX);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? ", " : "", arg);
	}
	log_msg(LOG_INFO, "%.*s)", (int)MIN(len, sizeof(line)), line);
}

static void strace_exit(struct task *t, const struct syscall_entry *e, long ret)
{
	if (ret < 0 && ret > -4096)
		log_msg(LOG_INFO, "[%d] %s = -1 %s (%ld)", t->tid, e ? e->name : "?",
			ret <= -512 ? "ERESTART" : strerrorname_np((int)-ret), ret);
	else
		log_msg(LOG_INFO, "[%d] %s = %#lx (%ld)", t->tid, e ? e->name : "?", ret, ret);
}

/* int $0x80 (32-bit compat syscalls) is not supported: those numbers mean something else. */
static bool is_int80(struct task *t)
{
	uint8_t insn[2];

	return mm_copy_in(t->mm, t->cpu.regs.rip - 2, insn, 2) == 2 && insn[0] == 0xcd &&
	       insn[1] == 0x80;
}

void syscall_dispatch(struct task *t)
{
	struct cpu_regs *r = &t->cpu.regs;
	uint64_t nr = r->orig_rax;
	const struct syscall_entry *e = syscall_lookup(nr);
	struct syscall_args a = {{r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9}};
	bool strace = t->k->cfg.strace;
	long ret;

	t->nr_syscalls++;
	if (unlikely(is_int80(t))) {
		r->rax = (uint64_t)-ENOSYS;
		t->in_syscall = true;
		return;
	}
	if (unlikely(strace))
		strace_enter(t, nr, e, &a);
	if (likely(e && e->fn)) {
		ret = e->fn(t, &a);
	} else {
		kernel_note_unimplemented(t->k, (int)MIN(nr, (uint64_t)CV_SYSCALL_MAX - 1),
					  e ? e->name : NULL);
		ret = -(e && e->err ? e->err : ENOSYS);
	}
	if (unlikely(strace))
		strace_exit(t, e, ret);
	if (ret == SYSCALL_REGS_SET)
		return;
	r->rax = (uint64_t)ret;
	t->in_syscall = true;
}
