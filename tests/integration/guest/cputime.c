/* CPU time: the process and thread CPU clocks, getrusage, times and wait4's rusage count
 * time spent running and not time spent asleep; clock ids of other processes and threads.
 * Bounds are loose (a shared machine may give the program a small share of a CPU). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ll

static long long ns_of(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts) < 0) {
		perror("clock_gettime");
		exit(2);
	}
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv)
{
	return tv.tv_sec * 1000000000ll + tv.tv_usec * 1000ll;
}

static volatile unsigned long sink;

/* Spins for `ms` of wall time; returns the wall time taken. */
static long long burn(int ms)
{
	long long t0 = ns_of(CLOCK_MONOTONIC), now;

	do {
		for (int i = 0; i < 100000; i++)
			sink += i;
		now = ns_of(CLOCK_MONOTONIC);
	} while (now - t0 < ms * MS);
	return now - t0;
}

static void check(const char *what, int cond)
{
	printf("%s: %s\n", what, cond ? "ok" : "FAIL");
}

static void *thread_burn(void *arg)
{
	burn(100);
	return NULL;
}

int main(int argc, char **argv)
{
	long long p0, p1, th0, th1, wall;
	struct timespec res, nap = {0, 300 * MS};
	struct rusage ru;
	struct tms tms;
	clockid_t clk;
	pthread_t th;
	int st;

	if (argc > 1)
		return 0; /* the exec'd child */
	check("clock_getres(CLOCK_PROCESS_CPUTIME_ID)",
	      clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0);

	/* asleep: almost no CPU time */
	p0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	th0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	nanosleep(&nap, NULL);
	p1 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	th1 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	check("sleeping 300ms costs under 100ms of process CPU", p1 - p0 >= 0 && p1 - p0 < 100 * MS);
	check("sleeping 300ms costs under 100ms of thread CPU", th1 - th0 >= 0 && th1 - th0 < 100 * MS);

	/* spinning: CPU time grows, never faster than the wall clock (one thread) */
	p0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	wall = burn(300);
	p1 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	check("spinning 300ms costs 30ms or more of process CPU", p1 - p0 >= 30 * MS);
	check("process CPU no faster than wall time", p1 - p0 <= wall + 50 * MS);

	check("getrusage(RUSAGE_SELF)", getrusage(RUSAGE_SELF, &ru) == 0 &&
	      tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= 30 * MS &&
	      tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) <= ns_of(CLOCK_PROCESS_CPUTIME_ID) + 20 * MS);
	check("times()", times(&tms) != (clock_t)-1 && tms.tms_utime + tms.tms_stime >= 3 &&
	      tms.tms_cutime == 0);

	/* our own clock by id */
	check("clock_getcpuclockid(getpid())", clock_getcpuclockid(getpid(), &clk) == 0 &&
	      ns_of(clk) >= p1);
	check("pthread_getcpuclockid(self)", pthread_getcpuclockid(pthread_self(), &clk) == 0 &&
	      ns_of(clk) > 0);

	/* a second thread's time is the process's too */
	p0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	pthread_create(&th, NULL, thread_burn, NULL);
	pthread_join(th, NULL);
	p1 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	check("a thread's spinning counts for the process", p1 - p0 >= 10 * MS);

	/* a child's time: wait4's rusage, then RUSAGE_CHILDREN and times()'s cutime */
	pid_t pid = fork();

	if (pid == 0) {
		burn(200);
		_exit(0);
	}
	{
		clockid_t cc;
		struct timespec ts;

		/* another process's clock: readable by pid while it lives */
		check("clock_getcpuclockid(child)", clock_getcpuclockid(pid, &cc) == 0 &&
		      clock_gettime(cc, &ts) == 0);
	}
	check("wait4", wait4(pid, &st, 0, &ru) == pid && WIFEXITED(st));
	check("wait4 rusage counts the child's spinning",
	      tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= 20 * MS);
	check("getrusage(RUSAGE_CHILDREN)", getrusage(RUSAGE_CHILDREN, &ru) == 0 &&
	      tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= 20 * MS);
	check("times() cutime", times(&tms) != (clock_t)-1 && tms.tms_cutime + tms.tms_cstime >= 2);

	/* an exec'd child keeps the time it spent before exec */
	pid = fork();
	if (pid == 0) {
		burn(150);
		execl("/bin/cputime", "cputime", "exit", (char *)NULL);
		_exit(127);
	}
	wait4(pid, &st, 0, &ru);
	check("time before exec counts", WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	      tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= 15 * MS);

	/* invalid clock ids */
	errno = 0;
	check("clock of an unknown pid is EINVAL",
	      clock_gettime((clockid_t)((~(unsigned)999999 << 3) | 2), &res) == -1 && errno == EINVAL);
	errno = 0;
	check("CPUCLOCK_MAX is EINVAL", clock_gettime((clockid_t)((~0u << 3) | 3), &res) == -1 &&
	      errno == EINVAL);
	return 0;
}
