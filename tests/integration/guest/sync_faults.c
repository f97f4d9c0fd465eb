/* Synchronous faults arrive with the siginfo Linux gives: SIGSEGV (MAPERR, ACCERR with the
 * address), SIGBUS past the end of a file mapping, SIGFPE (FPE_INTDIV), SIGILL (ud2), SIGTRAP
 * (int3), each handled and recovered with siglongjmp. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static siginfo_t got;

static void handler(int s, siginfo_t *si, void *uc)
{
	got = *si;
	siglongjmp(jb, 1);
}

#define TRY(what, expr)                                                                            \
	do {                                                                                       \
		memset(&got, 0, sizeof(got));                                                      \
		if (sigsetjmp(jb, 1) == 0) {                                                       \
			expr;                                                                      \
			printf("%s: no signal\n", what);                                           \
		} else {                                                                           \
			report(what);                                                              \
		}                                                                                  \
	} while (0)

static char *expect_addr;

static void report(const char *what)
{
	printf("%s: signo=%d code=%d addr=%s\n", what, got.si_signo, got.si_code,
	       expect_addr ? ((char *)got.si_addr == expect_addr ? "exact" : "WRONG") : "-");
}

int main(void)
{
	struct sigaction sa;
	volatile int zero = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	for (int s = 1; s < 32; s++)
		sigaction(s, &sa, NULL);

	expect_addr = (char *)0x1000;
	TRY("unmapped write", *(volatile int *)expect_addr = 1);

	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_addr = ro + 8;
	TRY("read-only write", *(volatile char *)expect_addr = 1);

	int fd = open("/tmp/sync_faults.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
	write(fd, "x", 1);
	char *fm = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	expect_addr = fm + 4096;
	TRY("past the end of a file", (void)*(volatile char *)expect_addr);
	close(fd);
	unlink("/tmp/sync_faults.dat");

	expect_addr = NULL;
	TRY("divide by zero", printf("%d\n", 10 / zero));
	TRY("ud2", __asm__ volatile("ud2"));
	TRY("int3", __asm__ volatile("int3"));
	TRY("abort", abort());
	return 0;
}
