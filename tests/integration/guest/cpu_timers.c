/* Timers on CPU-time clocks: ITIMER_VIRTUAL, ITIMER_PROF, POSIX timers on the process and
 * thread CPU clocks, and RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the hard one).
 * A timer must fire after CPU time is spent and stay quiet while the process sleeps. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ll

static volatile sig_atomic_t vt, prof, rt, xcpu;
static volatile unsigned long sink;

static void on_sig(int s)
{
	if (s == SIGVTALRM)
		vt++;
	else if (s == SIGPROF)
		prof++;
	else if (s == SIGRTMIN)
		rt++;
}

static long long ns_of(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Spins until *flag reaches want or `cap_ms` of wall time passed; returns the CPU time spent. */
static long long spin_until(volatile sig_atomic_t *flag, int want, int cap_ms)
{
	long long w0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);

	while (*flag < want && ns_of(CLOCK_MONOTONIC) - w0 < cap_ms * MS)
		for (int i = 0; i < 10000; i++)
			sink += i;
	return ns_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

static void check(const char *what, int cond)
{
	printf("%s: %s\n", what, cond ? "ok" : "FAIL");
}

static void on_xcpu(int s)
{
	_exit(42);
}

/* A child that spins under RLIMIT_CPU {soft, hard}; returns its wait status. */
static int limited_child(rlim_t soft, rlim_t hard)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct rlimit rl = {soft, hard};

		signal(SIGXCPU, on_xcpu);
		if (setrlimit(RLIMIT_CPU, &rl) < 0)
			_exit(3);
		for (long long w0 = ns_of(CLOCK_MONOTONIC); ns_of(CLOCK_MONOTONIC) - w0 < 60000 * MS;)
			sink++;
		_exit(4);
	}
	waitpid(pid, &st, 0);
	return st;
}

int main(void)
{
	struct itimerval it = {{0, 0}, {0, 50000}}, cur;
	struct timespec nap = {0, 200 * MS};
	struct sigevent sev;
	struct itimerspec its;
	long long used;
	timer_t tid;
	int st;

	signal(SIGVTALRM, on_sig);
	signal(SIGPROF, on_sig);
	signal(SIGRTMIN, on_sig);

	/* ITIMER_VIRTUAL: quiet while asleep, fires after 50ms of user time */
	check("setitimer(ITIMER_VIRTUAL)", setitimer(ITIMER_VIRTUAL, &it, NULL) == 0);
	/* (Linux adds a tick to the value it was given) */
	check("getitimer(ITIMER_VIRTUAL) while armed", getitimer(ITIMER_VIRTUAL, &cur) == 0 &&
	      cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 60000);
	nanosleep(&nap, NULL);
	check("ITIMER_VIRTUAL quiet while asleep", vt == 0);
	used = spin_until(&vt, 1, 10000);
	/* (Linux charges user time by the tick, so it may fire a little early) */
	check("ITIMER_VIRTUAL fires once 50ms of CPU are used", vt == 1 && used >= 20 * MS);
	if (vt != 1 || used < 20 * MS)
		printf("  (%d signals after %lld ms of CPU)\n", (int)vt, used / MS);
	check("a one-shot itimer disarms", getitimer(ITIMER_VIRTUAL, &cur) == 0 &&
	      cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);

	/* ITIMER_PROF, periodic */
	it.it_interval.tv_usec = 20000;
	it.it_value.tv_usec = 20000;
	setitimer(ITIMER_PROF, &it, NULL);
	used = spin_until(&prof, 3, 10000);
	check("periodic ITIMER_PROF fires repeatedly", prof >= 3 && used >= 30 * MS);
	if (prof < 3 || used < 30 * MS)
		printf("  (%d signals after %lld ms of CPU)\n", (int)prof, used / MS);
	memset(&it, 0, sizeof(it));
	check("setitimer returns the old value", setitimer(ITIMER_PROF, &it, &cur) == 0 &&
	      cur.it_interval.tv_usec == 20000);
	check("an unknown itimer is EINVAL", setitimer(3, &it, NULL) == -1 && errno == EINVAL);

	/* POSIX timer on the process CPU clock */
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	check("timer_create(CLOCK_PROCESS_CPUTIME_ID)",
	      timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &tid) == 0);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = 40 * MS;
	timer_settime(tid, 0, &its, NULL);
	nanosleep(&nap, NULL);
	check("CPU-clock timer quiet while asleep", rt == 0);
	check("timer_gettime on a CPU clock", timer_gettime(tid, &its) == 0 && its.it_value.tv_sec == 0 &&
	      its.it_value.tv_nsec > 0 && its.it_value.tv_nsec <= 40 * MS);
	used = spin_until(&rt, 1, 10000);
	check("CPU-clock timer fires", rt == 1 && used >= 20 * MS);
	/* absolute: a time already passed fires at once */
	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 1;
	timer_settime(tid, TIMER_ABSTIME, &its, NULL);
	spin_until(&rt, 2, 10000);
	check("absolute CPU time in the past fires", rt == 2);
	timer_delete(tid);

	/* thread CPU clock */
	check("timer_create(CLOCK_THREAD_CPUTIME_ID)",
	      timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &tid) == 0);
	its.it_value.tv_nsec = 30 * MS;
	timer_settime(tid, 0, &its, NULL);
	spin_until(&rt, 3, 10000);
	check("thread CPU-clock timer fires", rt == 3);
	timer_delete(tid);

	/* RLIMIT_CPU */
	st = limited_child(1, RLIM_INFINITY);
	check("RLIMIT_CPU soft limit sends SIGXCPU", WIFEXITED(st) && WEXITSTATUS(st) == 42);
	st = limited_child(1, 1);
	check("RLIMIT_CPU hard limit kills", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return 0;
}
