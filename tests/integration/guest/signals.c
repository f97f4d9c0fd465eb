/* Signal handlers: SA_SIGINFO, nesting, masks, sigaltstack, SA_RESETHAND, SA_NODEFER,
 * rt_sigqueueinfo values, sigsuspend, SIGSEGV handler recovery with siglongjmp. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int depth, max_depth, usr2_count, on_alt;
static char altstack[65536];
static sigjmp_buf jb;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (depth < 3)
		raise(SIGUSR2);
	depth--;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	usr2_count++;
	stack_t ss;
	sigaltstack(NULL, &ss);
	on_alt = (ss.ss_flags & SS_ONSTACK) != 0;
	if (depth < 3) {
		depth++;
		raise(SIGUSR1);
		depth--;
	}
}

static volatile int queued_val;
static void on_rt(int sig, siginfo_t *si, void *uc)
{
	queued_val += si->si_value.sival_int;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	siglongjmp(jb, si->si_addr == (void *)0x1234 ? 1 : 2);
}

static volatile int hup;
static void on_hup(int sig)
{
	hup++;
}

int main(void)
{
	struct sigaction sa;
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};

	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR1);
	printf("nested: max depth %d, usr2 %d times, on altstack %d\n", max_depth, usr2_count, on_alt);

	/* masks: a blocked signal stays pending until unblocked */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	signal(SIGHUP, on_hup);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGHUP);
	sigset_t pend;
	sigpending(&pend);
	printf("pending while blocked: %d, handled: %d\n", sigismember(&pend, SIGHUP), hup);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after unblock handled: %d\n", hup);

	/* queued real-time signals keep every value */
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sigprocmask(SIG_BLOCK, &(sigset_t){{1ul << (SIGRTMIN + 1 - 1)}}, &old);
	for (int i = 1; i <= 5; i++)
		sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = i});
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("rt queued sum: %d\n", queued_val);

	/* SA_RESETHAND: the second delivery takes the default action (ignored for SIGCHLD) */
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGWINCH, &sa, NULL);
	hup = 0;
	raise(SIGWINCH);
	raise(SIGWINCH);
	printf("resethand: %d\n", hup);

	/* SIGSEGV recovery */
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	int r = sigsetjmp(jb, 1);
	if (r == 0)
		*(volatile int *)0x1234 = 1;
	printf("segv recovered: %d\n", r);

	/* sigsuspend wakes for an alarm */
	signal(SIGALRM, on_hup);
	hup = 0;
	sigprocmask(SIG_BLOCK, &(sigset_t){{1ul << (SIGALRM - 1)}}, &old);
	alarm(1);
	sigset_t none;
	sigemptyset(&none);
	sigsuspend(&none);
	printf("sigsuspend woke by alarm: %d\n", hup);
	return 0;
}
