/*
 * A hostile container program (run only inside the sandbox, never natively): signals to every
 * pid, ptrace attempts, raw syscalls with random arguments from several processes, and path
 * tricks towards a host canary.  It prints only what is deterministic; the test script checks
 * the host: the canary unread, a host sentinel process alive, nothing created outside.
 * usage: hostile CANARY_PATH ROUNDS
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long raw(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static long arg(void)
{
	switch (next() % 6) {
	case 0: return 0;
	case 1: return (long)(next() % 4096);
	case 2: return -1;
	case 3: return (long)next();
	case 4: return 0x7ffffffff000l;
	default: return (long)(next() & 0xffffffffl);
	}
}

/* Random syscalls, skipping the ones that would only end this fuzzer early. */
static void fuzz(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		long nr = (long)(next() % 450);

		if (nr == SYS_exit || nr == SYS_exit_group || nr == SYS_rt_sigreturn || nr == SYS_pause ||
		    nr == SYS_vfork || nr == SYS_fork || nr == SYS_clone || nr == SYS_clone3 ||
		    nr == SYS_execve || nr == SYS_execveat || nr == SYS_munmap || nr == SYS_mremap ||
		    nr == SYS_mprotect || nr == SYS_mmap || nr == SYS_brk || nr == SYS_kill ||
		    nr == SYS_tkill || nr == SYS_tgkill || nr == SYS_rt_sigsuspend || nr == SYS_wait4 ||
		    nr == SYS_waitid || nr == SYS_nanosleep || nr == SYS_clock_nanosleep ||
		    nr == SYS_rt_sigtimedwait || nr == SYS_select || nr == SYS_pselect6 ||
		    nr == SYS_poll || nr == SYS_ppoll || nr == SYS_epoll_wait || nr == SYS_epoll_pwait ||
		    nr == SYS_epoll_pwait2 || nr == SYS_futex || nr == SYS_read || nr == SYS_readv ||
		    nr == SYS_recvfrom || nr == SYS_recvmsg || nr == SYS_recvmmsg || nr == SYS_accept ||
		    nr == SYS_accept4 || nr == SYS_msgrcv || nr == SYS_semop || nr == SYS_semtimedop ||
		    nr == SYS_rt_sigaction || nr == SYS_rt_sigprocmask || nr == SYS_sigaltstack ||
		    nr == SYS_arch_prctl || nr == SYS_set_tid_address || nr == SYS_prctl ||
		    nr == SYS_setrlimit || nr == SYS_prlimit64 || nr == SYS_close || nr == SYS_dup2 ||
		    nr == SYS_dup3 || nr == SYS_close_range || nr == SYS_io_getevents ||
		    nr == SYS_restart_syscall || nr == SYS_connect || nr == SYS_flock || nr == SYS_fcntl ||
		    nr == SYS_pidfd_getfd || nr == SYS_splice || nr == SYS_tee || nr == SYS_vmsplice ||
		    nr == SYS_sendfile || nr == SYS_copy_file_range || nr == SYS_write || nr == SYS_writev)
			continue;
		raw(nr, arg(), arg(), arg(), arg(), arg(), arg());
	}
}

int main(int argc, char **argv)
{
	const char *canary = argc > 1 ? argv[1] : "/nonexistent";
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	char buf[256];
	int st;

	/* Signals to every pid we might guess, and to all (-1), from a child. */
	pid_t p = fork();
	if (p == 0) {
		signal(SIGTERM, SIG_IGN);
		for (int pid = 2; pid < 70000; pid += 97)
			kill(pid, SIGKILL);
		kill(-1, SIGTERM);
		_exit(0);
	}
	waitpid(p, &st, 0);
	printf("signals: child exited %d\n", WIFEXITED(st));

	/* ptrace of anything: not supported inside the sandbox. */
	printf("ptrace attach 1: %s\n", ptrace(PTRACE_ATTACH, 1, 0, 0) < 0 ? "refused" : "ALLOWED");
	printf("ptrace traceme: %s\n", ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ? "refused" : "ALLOWED");

	/* The canary by every path trick. */
	const char *tricks[] = {canary, "../../../../../../..", "/proc/1/root", "/proc/self/cwd/../../.."};
	int leaked = 0;
	for (unsigned i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		char path[512];

		snprintf(path, sizeof(path), i ? "%s%s" : "%s", tricks[i], i ? canary : "");
		int fd = open(path, O_RDONLY);
		if (fd >= 0 && read(fd, buf, sizeof(buf)) > 0 && strstr(buf, "CANARY"))
			leaked++;
		if (fd >= 0)
			close(fd);
	}
	printf("canary leaked: %d\n", leaked);

	/* Raw fuzzing from four processes at once. */
	for (int k = 0; k < 4; k++) {
		if (fork() == 0) {
			rng += (uint64_t)k * 7919;
			fuzz(rounds);
			_exit(0);
		}
	}
	int done = 0;
	while (wait(&st) > 0)
		done++;
	printf("fuzzers finished: %d\n", done);
	return 0;
}
