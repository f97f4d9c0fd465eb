/*
 * `mov $nr, %eax; syscall` sites, the shape systrap patches into a jump, used in every way
 * that could go wrong once patched: by several threads at once while the first trap patches
 * it; through a `syscall` instruction shared with another number (reached by a jump, without
 * its `mov`); with signals arriving all the time; with a syscall restarted after a signal;
 * and in a forked child.  Must give the same answers on every platform and natively.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* getpid through a patchable site. */
static long site_getpid(void)
{
	long r;

	__asm__ volatile("mov $39, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
	return r;
}

/* One `syscall` for two numbers: getpid through its own `mov`, getppid by a jump onto it. */
long shared_site(long which);
__asm__(".text\n"
	".globl shared_site\n"
	"shared_site:\n"
	"	test %rdi, %rdi\n"
	"	jnz 2f\n"
	"	mov $39, %eax\n"
	"1:	syscall\n"
	"	ret\n"
	"2:	mov $110, %eax\n"
	"	jmp 1b\n");

/* read(fd, buf, n) through a patchable site. */
static long site_read(int fd, void *buf, long n)
{
	long r;

	__asm__ volatile("mov $0, %%eax\n\tsyscall"
			 : "=a"(r)
			 : "D"(fd), "S"(buf), "d"(n)
			 : "rcx", "r11", "memory");
	return r;
}

static pid_t me, parent;
static volatile long ticks;

static void *hammer(void *arg)
{
	long bad = 0;

	for (int i = 0; i < 20000; i++)
		bad += site_getpid() != me;
	return (void *)bad;
}

static void on_tick(int sig)
{
	ticks++;
}

static int threads(void)
{
	pthread_t th[4];
	long bad = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(th[i], &r);
		bad += (long)r;
	}
	return bad == 0;
}

static int shared(void)
{
	for (int i = 0; i < 2000; i++) {
		if (shared_site(i & 1) != ((i & 1) ? parent : me))
			return 0;
	}
	return 1;
}

static int signals(void)
{
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct sigaction sa;
	long bad = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 200000 && ticks < 200; i++)
		bad += site_getpid() != me || shared_site(1) != parent;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	return bad == 0;
}

/* A read at a patched site blocks, is interrupted by SA_RESTART signals, and restarts. */
static int restart(void)
{
	int p[2];
	char buf[8] = "";
	pid_t w;
	long r;

	if (pipe(p) < 0)
		return 0;
	site_read(p[0], buf, 0); /* patch the site first */
	w = fork();
	if (w == 0) {
		for (int i = 0; i < 5; i++) {
			usleep(20000);
			kill(getppid(), SIGALRM);
		}
		write(p[1], "restart", 8);
		_exit(0);
	}
	r = site_read(p[0], buf, sizeof(buf));
	waitpid(w, NULL, 0);
	return r == 8 && strcmp(buf, "restart") == 0;
}

static int forked(void)
{
	int st = 0;
	pid_t c = fork();

	if (c == 0)
		_exit(site_getpid() == getpid() && shared_site(1) == me ? 0 : 1);
	waitpid(c, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && site_getpid() == me;
}

int main(void)
{
	me = getpid();
	parent = getppid();
	printf("threads on one site: %s\n", threads() ? "ok" : "WRONG");
	printf("shared syscall instruction: %s\n", shared() ? "ok" : "WRONG");
	printf("signals mid-sequence: %s\n", signals() ? "ok" : "WRONG");
	printf("restarted syscall: %s\n", restart() ? "ok" : "WRONG");
	printf("forked child: %s\n", forked() ? "ok" : "WRONG");
	return 0;
}
