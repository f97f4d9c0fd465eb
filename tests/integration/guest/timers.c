/* Timers: setitimer/getitimer, alarm, POSIX timers with SIGEV_SIGNAL and SIGEV_THREAD_ID,
 * overruns, nanosleep and clock_nanosleep TIMER_ABSTIME, and EINTR from a sleep. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int alrm, rt, rt_val;

static void on_alrm(int s)
{
	alrm++;
}

static void on_rt(int s, siginfo_t *si, void *uc)
{
	rt++;
	rt_val = si->si_value.sival_int;
}

int main(void)
{
	struct itimerval it = {.it_interval = {0, 20000}, .it_value = {0, 20000}}, cur;
	struct sigaction sa;

	signal(SIGALRM, on_alrm);
	setitimer(ITIMER_REAL, &it, NULL);
	while (alrm < 5)
		pause();
	getitimer(ITIMER_REAL, &cur);
	printf("itimer: 5 SIGALRMs, interval %ld us\n", (long)cur.it_interval.tv_usec);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);

	alrm = 0;
	alarm(1);
	printf("alarm pending: %u s left\n", alarm(1));
	pause();
	printf("alarm fired: %d\n", alrm);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN, &sa, NULL);
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	ev.sigev_value.sival_int = 42;
	timer_t tid;
	timer_create(CLOCK_MONOTONIC, &ev, &tid);
	struct itimerspec ts = {.it_value = {0, 10000000}, .it_interval = {0, 10000000}};
	timer_settime(tid, 0, &ts, NULL);
	while (rt < 3)
		pause();
	struct itimerspec left;
	timer_gettime(tid, &left);
	printf("posix timer: 3 signals, value %d, interval %ld ms\n", rt_val, left.it_interval.tv_nsec / 1000000);
	timer_delete(tid);

	/* Overrun: block the signal while several periods pass. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_create(CLOCK_MONOTONIC, &ev, &tid);
	ts.it_value.tv_nsec = ts.it_interval.tv_nsec = 5000000;
	timer_settime(tid, 0, &ts, NULL);
	usleep(60000);
	rt = 0;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("overrun after blocking: %s\n", timer_getoverrun(tid) >= 0 ? "counted" : "error");
	timer_delete(tid);

	/* Absolute sleep on CLOCK_MONOTONIC. */
	struct timespec now, until;
	clock_gettime(CLOCK_MONOTONIC, &now);
	until = now;
	until.tv_nsec += 30000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("absolute sleep reached: %d\n", now.tv_sec > until.tv_sec ||
	       (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec));

	/* A handler interrupts nanosleep: EINTR and the time left. */
	struct timespec req = {5, 0}, rem = {0, 0};
	alrm = 0;
	signal(SIGALRM, on_alrm);
	ualarm(50000, 0);
	int r = nanosleep(&req, &rem);
	printf("nanosleep interrupted: r=%d errno=%s rem>4s=%d\n", r, errno == EINTR ? "EINTR" : "?",
	       rem.tv_sec >= 4);
	return 0;
}
