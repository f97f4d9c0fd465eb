/*
 * The platform registry: an explicit table, so a static link can never drop a backend and
 * `grep` shows every one (STYLE.md 2.3).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cvisor/platform.h"
#include "platforms.h"

/*
 * In preference order for platform_default(): systrap first (faster than ptrace, and needs
 * no ptrace permission), then ptrace, and kvm last; kvm is only ever used when asked for by
 * name.
 */
static const struct platform_ops *const platform_table[] = {
	&systrap_platform_ops,
	&ptrace_platform_ops,
	&kvm_platform_ops,
	NULL,
};

/* Backends platform_default() never picks on its own. */
static bool explicit_only(const struct platform_ops *ops)
{
	return strcmp(ops->name, "kvm") == 0;
}

const struct platform_ops *platform_lookup(const char *name)
{
	for (const struct platform_ops *const *o = platform_table; *o; o++) {
		if (strcmp((*o)->name, name) == 0)
			return *o;
	}
	return NULL;
}

const struct platform_ops *const *platform_list(void)
{
	return platform_table;
}

const struct platform_ops *platform_default(char *why, size_t n)
{
	size_t used = 0;

	if (why && n)
		why[0] = '\0';
	for (const struct platform_ops *const *o = platform_table; *o; o++) {
		char reason[256] = "";

		if (explicit_only(*o))
			continue;
		if (!(*o)->probe || (*o)->probe(reason, sizeof(reason)) == 0)
			return *o;
		if (why && used < n) {
			int w = snprintf(why + used, n - used, "%s%s: %s", used ? "; " : "",
					 (*o)->name, reason[0] ? reason : "unavailable");
			used += w > 0 ? (size_t)w : 0;
		}
	}
	return NULL;
}

int platform_process_cpu_time(pid_t pid, uint64_t *ns)
{
	/* Linux's clock id of a process's CPU clock: ~pid << 3 | CPUCLOCK_SCHED (2). */
	clockid_t clk = (clockid_t)((~(unsigned)pid << 3) | 2);
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

int platform_why(char *why, size_t n, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && n) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return err;
}

long platform_read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void *parent_main(void *arg)
{
	struct platform_parent *pp = arg;

	pp->err = pp->create(pp->arg);
	sem_post(&pp->ready);
	/* Live until stop: our exit SIGKILLs every stub through PR_SET_PDEATHSIG.  No fd is
	 * involved, so the sandbox may close every fd it does not know. */
	while (sem_wait(&pp->stop) < 0 && errno == EINTR)
		;
	return NULL;
}

int platform_parent_start(struct platform_parent *pp, int (*create)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	pp->create = create;
	pp->arg = arg;
	sem_init(&pp->ready, 0, 0);
	sem_init(&pp->stop, 0, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* no sentry signal handler runs there */
	r = pthread_create(&pp->thread, NULL, parent_main, pp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		sem_destroy(&pp->ready);
		sem_destroy(&pp->stop);
		return -r;
	}
	pp->started = true;
	while (sem_wait(&pp->ready) < 0 && errno == EINTR)
		;
	return pp->err;
}

void platform_parent_stop(struct platform_parent *pp)
{
	if (!pp->started)
		return;
	sem_post(&pp->stop);
	pthread_join(pp->thread, NULL);
	sem_destroy(&pp->ready);
	sem_destroy(&pp->stop);
	pp->started = false;
}
