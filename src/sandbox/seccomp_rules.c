/*
 * The host syscalls the sentry itself makes once confined: data only, merged with the
 * platform's (struct platform_ops.host_syscalls) into the seccomp allowlist (seccomp.c) and
 * printed into docs/security.md.  Anything not listed kills the sandbox.
 */
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <termios.h>

#include "cvisor/compiler.h"
#include "cvisor/platform.h"
#include "sandbox_internal.h"

#define ANY(nr, why) {nr, 0, {{0}}, why}
#define ARG_EQ(nr, a, v, why) {nr, 1, {{a, HOST_ARG_EQ, v, 0}}, why}
#define ARG_MASK0(nr, a, m, why) {nr, 1, {{a, HOST_ARG_MASKED_EQ, 0, m}}, why}

/* glibc's pthread_create: exactly these clone flags. */
#define THREAD_CLONE_FLAGS                                                                         \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |         \
	 CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)
#ifndef CLONE_VM
#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000
#define CLONE_SETTLS 0x80000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#endif

static const struct host_syscall_rule rules[] = {
	/* memory: never executable mappings in the sentry */
	ARG_MASK0(SYS_mmap, 2, PROT_EXEC, "heap and memory-file mappings, never PROT_EXEC"),
	ARG_MASK0(SYS_mprotect, 2, PROT_EXEC, "thread stack guards, never PROT_EXEC"),
	ANY(SYS_munmap, "memory"),
	ANY(SYS_mremap, "realloc of large blocks"),
	ANY(SYS_madvise, "freeing memory"),
	ANY(SYS_brk, "malloc"),
	ANY(SYS_fallocate, "punching freed pages out of the memory file; hostfs fallocate"),
	/* threads: one host thread per task, nothing else */
	ARG_EQ(SYS_clone, 0, THREAD_CLONE_FLAGS, "pthread_create with glibc's thread flags only"),
	ANY(SYS_set_robust_list, "new threads"),
	ANY(SYS_rseq, "new threads: glibc aborts if the main thread registered rseq and they cannot"),
	ANY(SYS_signalfd4, "host signals sent to the sandbox, forwarded to the container"),
	ANY(SYS_rt_sigaction, "signal handlers of the sentry"),
	ANY(SYS_futex, "locks, condition variables, task blocking"),
	ANY(SYS_exit, "thread exit"),
	ANY(SYS_exit_group, "sandbox exit"),
	ANY(SYS_sched_yield, "sched_yield(2) for the container"),
	ANY(SYS_sched_getaffinity, "sched_getaffinity(2) answers from the sandbox's CPUs"),
	ANY(SYS_getpid, "pthread internals"),
	ANY(SYS_gettid, "pthread internals"),
	ANY(SYS_tgkill, "waking a task blocked in a host call (SIG_TASK_INTERRUPT)"),
	ANY(SYS_rt_sigprocmask, "signal masks of sentry threads"),
	ANY(SYS_rt_sigreturn, "returning from the sentry's own signal handlers"),
	ANY(SYS_restart_syscall, "restarted host calls"),
	ANY(SYS_getrandom, "getrandom(2) and AT_RANDOM for the container"),
	/* time */
	ANY(SYS_clock_gettime, "clocks (when the host vDSO falls back)"),
	ANY(SYS_clock_nanosleep, "sleeping"),
	ANY(SYS_nanosleep, "sleeping"),
	ANY(SYS_gettimeofday, "clocks"),
	/* files: hostfs through directory fds, the container's stdio */
	ANY(SYS_read, "I/O on host fds"),
	ANY(SYS_write, "I/O on host fds"),
	ANY(SYS_pread64, "hostfs reads"),
	ANY(SYS_pwrite64, "hostfs writes"),
	ANY(SYS_readv, "I/O"),
	ANY(SYS_writev, "I/O"),
	ANY(SYS_close, "closing fds"),
	ANY(SYS_openat2, "hostfs lookups: one component, RESOLVE_BENEATH | NO_MAGICLINKS | NO_SYMLINKS"),
	ANY(SYS_fstat, "hostfs attributes"),
	ANY(SYS_newfstatat, "hostfs attributes"),
	ANY(SYS_statx, "hostfs attributes"),
	ANY(SYS_fstatfs, "statfs(2) of hostfs"),
	ANY(SYS_lseek, "hostfs directories"),
	ANY(SYS_getdents64, "hostfs directories"),
	ANY(SYS_readlinkat, "hostfs symlinks"),
	ANY(SYS_mknodat, "hostfs files, FIFOs and sockets (device nodes are refused before)"),
	ANY(SYS_mkdirat, "hostfs"),
	ANY(SYS_unlinkat, "hostfs"),
	ANY(SYS_renameat2, "hostfs"),
	ANY(SYS_symlinkat, "hostfs"),
	ANY(SYS_linkat, "hostfs"),
	ANY(SYS_fchownat, "hostfs"),
	ANY(SYS_fchmodat, "hostfs"),
	ANY(SYS_utimensat, "hostfs"),
	ANY(SYS_ftruncate, "hostfs"),
	ANY(SYS_fsync, "hostfs"),
	ANY(SYS_fdatasync, "hostfs"),
	ANY(SYS_fcntl, "flags of host fds"),
	ANY(SYS_dup, "host fds handed to the container"),
	ARG_EQ(SYS_ioctl, 1, TCGETS, "terminal ioctls on the container's host stdio"),
	ARG_EQ(SYS_ioctl, 1, TCSETS, "terminal ioctls"),
	ARG_EQ(SYS_ioctl, 1, TCSETSW, "terminal ioctls"),
	ARG_EQ(SYS_ioctl, 1, TCSETSF, "terminal ioctls"),
	ARG_EQ(SYS_ioctl, 1, TIOCGWINSZ, "terminal ioctls"),
	ARG_EQ(SYS_ioctl, 1, TIOCSWINSZ, "terminal ioctls"),
	ARG_EQ(SYS_ioctl, 1, FIONREAD, "bytes ready on host fds and sockets"),
	ARG_EQ(SYS_ioctl, 1, FIONBIO, "non-blocking host sockets"),
	/* read-only socket and interface queries of guest inet sockets (net/hostinet_opts.c) */
	ARG_EQ(SYS_ioctl, 1, 0x5411, "SIOCOUTQ"),
	ARG_EQ(SYS_ioctl, 1, 0x894b, "SIOCOUTQNSD"),
	ARG_EQ(SYS_ioctl, 1, 0x8905, "SIOCATMARK"),
	ARG_EQ(SYS_ioctl, 1, 0x8906, "SIOCGSTAMP"),
	ARG_EQ(SYS_ioctl, 1, 0x8907, "SIOCGSTAMPNS"),
	ARG_EQ(SYS_ioctl, 1, 0x8910, "SIOCGIFNAME"),
	ARG_EQ(SYS_ioctl, 1, 0x8912, "SIOCGIFCONF"),
	ARG_EQ(SYS_ioctl, 1, 0x8913, "SIOCGIFFLAGS"),
	ARG_EQ(SYS_ioctl, 1, 0x8915, "SIOCGIFADDR"),
	ARG_EQ(SYS_ioctl, 1, 0x8917, "SIOCGIFDSTADDR"),
	ARG_EQ(SYS_ioctl, 1, 0x8919, "SIOCGIFBRDADDR"),
	ARG_EQ(SYS_ioctl, 1, 0x891b, "SIOCGIFNETMASK"),
	ARG_EQ(SYS_ioctl, 1, 0x891d, "SIOCGIFMETRIC"),
	ARG_EQ(SYS_ioctl, 1, 0x8921, "SIOCGIFMTU"),
	ARG_EQ(SYS_ioctl, 1, 0x8927, "SIOCGIFHWADDR"),
	ARG_EQ(SYS_ioctl, 1, 0x8933, "SIOCGIFINDEX"),
	ARG_EQ(SYS_ioctl, 1, 0x8942, "SIOCGIFTXQLEN"),
	/* readiness */
	ANY(SYS_poll, "waiting on host fds"),
	ANY(SYS_ppoll, "waiting on host fds, interruptibly"),
	ANY(SYS_epoll_create1, "host-fd readiness"),
	ANY(SYS_epoll_ctl, "host-fd readiness"),
	ANY(SYS_epoll_wait, "host-fd readiness"),
	ANY(SYS_epoll_pwait, "host-fd readiness"),
	ANY(SYS_eventfd2, "internal wake-ups"),
	ANY(SYS_timerfd_create, "timerfd(2) for the container is a host timerfd"),
	ANY(SYS_timerfd_settime, "timerfd"),
	ANY(SYS_timerfd_gettime, "timerfd"),
	ANY(SYS_pipe2, "internal wake-ups"),
	/* sockets: the control socket, and inet sockets backing the container's */
	ANY(SYS_socket, "inet sockets of the container (in the sandbox's network namespace)"),
	ANY(SYS_bind, "sockets"),
	ANY(SYS_listen, "sockets"),
	ANY(SYS_connect, "sockets"),
	ANY(SYS_accept4, "sockets and the control socket"),
	ANY(SYS_getsockname, "sockets"),
	ANY(SYS_getpeername, "sockets"),
	ANY(SYS_setsockopt, "sockets"),
	ANY(SYS_getsockopt, "sockets"),
	ANY(SYS_sendto, "sockets"),
	ANY(SYS_recvfrom, "sockets"),
	ANY(SYS_sendmsg, "sockets"),
	ANY(SYS_recvmsg, "sockets"),
	ANY(SYS_sendmmsg, "sockets"),
	ANY(SYS_recvmmsg, "sockets"),
	ANY(SYS_shutdown, "sockets"),
};
const struct host_syscall_rule *const sentry_host_syscalls = rules;
const size_t sentry_host_nsyscalls = ARRAY_SIZE(rules);
