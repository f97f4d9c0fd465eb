/*
 * The sentry's seccomp allowlist (libseccomp): sentry_host_syscalls (seccomp_rules.c) plus
 * the platform's, argument-restricted where practical; the default action kills the whole
 * sandbox.  With --debug the default traps instead, and a SIGSYS handler logs the forbidden
 * syscall with its arguments before exiting, so a missing entry is easy to find.  Installed
 * with TSYNC, so every thread of the sentry gets it.
 */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "sandbox_internal.h"

#define MAX_NR 512
#define NAME_LEN 24

/* Filled before the filter is loaded: the SIGSYS handler may not allocate. */
static char syscall_names[MAX_NR][NAME_LEN];
static int sigsys_log_fd = 2;

static void fill_names(void)
{
	for (int nr = 0; nr < MAX_NR; nr++) {
		char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		snprintf(syscall_names[nr], NAME_LEN, "%s", n ? n : "?");
		free(n);
	}
}

/* Async-signal-safe formatting into buf. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_hex(char *buf, size_t at, size_t cap, unsigned long v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	at = put_str(buf, at, cap, "0x");
	while (n && at < cap)
		buf[at++] = tmp[--n];
	return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	const ucontext_t *uc = ucv;
	const greg_t *g = uc->uc_mcontext.gregs;
	unsigned long args[6] = {(unsigned long)g[REG_RDI], (unsigned long)g[REG_RSI],
				 (unsigned long)g[REG_RDX], (unsigned long)g[REG_R10],
				 (unsigned long)g[REG_R8], (unsigned long)g[REG_R9]};
	int nr = si->si_syscall;
	char buf[512];
	size_t n = 0;

	n = put_str(buf, n, sizeof(buf), "cvisor: seccomp: the sentry made a forbidden host syscall ");
	n = put_str(buf, n, sizeof(buf), nr >= 0 && nr < MAX_NR ? syscall_names[nr] : "?");
	n = put_str(buf, n, sizeof(buf), " (");
	n = put_hex(buf, n, sizeof(buf), (unsigned long)nr);
	n = put_str(buf, n, sizeof(buf), ")(");
	for (int i = 0; i < 6; i++) {
		n = put_hex(buf, n, sizeof(buf), args[i]);
		n = put_str(buf, n, sizeof(buf), i < 5 ? ", " : ") at ");
	}
	n = put_hex(buf, n, sizeof(buf), (unsigned long)si->si_call_addr);
	n = put_str(buf, n, sizeof(buf), "; the sandbox exits\n");
	if (write(sigsys_log_fd, buf, n) < 0) {
		/* nowhere to report */
	}
	syscall(SYS_exit_group, 128 + SIGSYS);
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const struct host_syscall_rule *r)
{
	struct scmp_arg_cmp cmp[2];

	for (unsigned i = 0; i < r->nargs && i < 2; i++) {
		enum scmp_compare op = r->args[i].op == HOST_ARG_EQ	   ? SCMP_CMP_EQ
				       : r->args[i].op == HOST_ARG_MASKED_EQ ? SCMP_CMP_MASKED_EQ
									     : SCMP_CMP_LE;

		cmp[i] = (struct scmp_arg_cmp){r->args[i].arg, op,
					       op == SCMP_CMP_MASKED_EQ ? r->args[i].mask : r->args[i].value,
					       op == SCMP_CMP_MASKED_EQ ? r->args[i].value : 0};
	}
	return seccomp_rule_add_array(ctx, action, r->nr, r->nargs, cmp);
}

static int add_rules(scmp_filter_ctx ctx, const struct host_syscall_rule *rules, size_t n,
		     struct cv_err **err)
{
	for (size_t i = 0; i < n; i++) {
		int r = add_rule(ctx, SCMP_ACT_ALLOW, &rules[i]);

		if (r < 0)
			return cv_err_set(err, -r, "seccomp rule for syscall %d", rules[i].nr);
	}
	return 0;
}

static int install_sigsys(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL);
}

int confine_seccomp(struct platform *p, int proc_fd, bool debug, struct cv_err **err)
{
	bool audit = getenv("CVISOR_SECCOMP_AUDIT") != NULL;
	uint32_t def = audit ? SCMP_ACT_LOG : debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
	_cleanup_seccomp_ scmp_filter_ctx ctx = seccomp_init(def);
	const struct host_syscall_rule *prules = NULL;
	struct host_syscall_rule reopen = {SYS_openat, 1, {{0, HOST_ARG_EQ, (uint64_t)proc_fd, 0}},
					   "hostfs reopening its O_PATH fds via /proc/self/fd"};
	size_t np = 0;
	int r;

	if (!ctx)
		return cv_err_set(err, ENOMEM, "seccomp_init");
	if (p->ops->host_syscalls)
		prules = p->ops->host_syscalls(p, &np);
	if (add_rules(ctx, sentry_host_syscalls, sentry_host_nsyscalls, err) < 0 ||
	    add_rules(ctx, prules, np, err) < 0 || add_rules(ctx, &reopen, 1, err) < 0)
		return -1;
	/* glibc falls back to clone(2) when clone3 is ENOSYS; clone3's flags are in memory,
	 * where a filter cannot check them. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
		return cv_err_set(err, -r, "seccomp ENOSYS rules");
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		return cv_err_set(err, -r, "seccomp TSYNC");
	if (debug) {
		fill_names();
		sigsys_log_fd = log_output_fd();
		if (install_sigsys() < 0)
			return cv_err_set(err, errno, "installing the SIGSYS reporter");
	}
	if ((r = seccomp_load(ctx)) < 0)
		return cv_err_set(err, -r, "loading the sentry's seccomp filter");
	return 0;
}
