/*
 * Tasks (threads) and thread groups (processes): src/sentry/kernel/task*.c.
 *
 * Every task runs on its own host thread (task_run.c), which owns its platform context.
 * Process-tree, signal and state fields marked [K] are protected by kernel->lock; fields
 * marked [T] are touched only by the task's own thread.
 */
#ifndef CV_SENTRY_TASK_H
#define CV_SENTRY_TASK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cvisor/abi/linux/signal.h"
#include "cvisor/abi/linux/types.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/kernel.h"

struct mm;
struct file;
struct tg_timers;
struct tty;

/* A queued signal. */
struct sigqueue_entry {
	struct sigqueue_entry *next;
	struct linux_siginfo info;
};

struct sigpending {
	linux_sigset_t set;            /* signals with at least one entry */
	struct sigqueue_entry *head;   /* FIFO, RT signals may repeat */
	int count;
};

/* Signal dispositions, shared by CLONE_SIGHAND. [K] */
struct sighand {
	int refs;
	struct linux_sigaction act[LINUX_NSIG];
};

enum task_state {
	TASK_RUNNING,  /* in its loop (running app code, in a syscall, or blocked) */
	TASK_STOPPED,  /* group stop */
	TASK_EXITING,
	TASK_ZOMBIE,   /* exited; a leader stays until reaped */
	TASK_DEAD,
};

struct thread_group {
	int tgid;                    /* [K] */
	struct task *leader;         /* [K] */
	struct task *threads;        /* [K] list through task->tg_next */
	int nr_threads;              /* [K] live threads */
	struct thread_group *parent; /* [K] NULL for init */
	struct thread_group *children, *sibling; /* [K] */
	int pgid, sid;               /* [K] */
	struct sigpending shared_pending; /* [K] */
	struct sighand *sighand;     /* [K] */
	/* exit */
	bool exiting;                /* [K] group exit in progress */
	int exit_code;               /* [K] wait status (code<<8 | signal) */
	bool zombie;                 /* [K] all threads gone, not reaped */
	int exit_signal;             /* [K] sent to parent at exit (SIGCHLD) */
	bool reaped;
	/* job control */
	bool stopping;               /* [K] group stop requested */
	int stop_signal;             /* [K] */
	int nr_stopped;              /* [K] */
	bool stop_report;            /* [K] a stop not yet reported to wait() */
	bool cont_report;            /* [K] a continue not yet reported */
	bool subreaper;              /* [K] */
	int dumpable;                /* PR_SET_DUMPABLE */
	struct waitqueue child_wq;   /* wait4/waitid sleepers */
	struct linux_rlimit64 rlimits[LINUX_RLIM_NLIMITS]; /* [K] */
	uint64_t start_ns;
	char *exe_path;              /* for /proc/pid/exe, malloc'd, [K] */
	int refs;                    /* [K] references from tasks, children lists, pid table */
	/* CPU time, ns (cputime.c): final user/system times once a zombie, what exited threads
	 * and released address spaces used while it runs [K], and of reaped children [K] */
	uint64_t utime_ns, stime_ns, cutime_ns, cstime_ns;
	uint64_t acc_user_ns, acc_sys_ns;
	struct tg_timers *timers;    /* itimers and POSIX timers, or NULL */
	/* [K] session leaders: the controlling terminal (no reference; see fs/dev/tty_jobctl.c) */
	struct tty *ctty;
};

struct task {
	struct kernel *k;
	int tid;                       /* [K] */
	struct thread_group *tg;       /* [K] */
	struct task *tg_next;          /* [K] */
	enum task_state state;         /* [K] */
	pthread_t thread;
	struct context *ctx;           /* [T] */
	struct cpu_state cpu;          /* [T] */
	struct mm *mm;                 /* [T] (and [K] for readers from other tasks) */
	struct fs_struct *fs;          /* [T] */
	struct fd_table *files;        /* [T] */
	struct cred *cred;             /* [K] replaced, never modified */
	char comm[16];                 /* [K] */

	/* signals */
	linux_sigset_t sigmask;        /* [K] */
	linux_sigset_t saved_sigmask;  /* [T] restored after sigsuspend/pselect */
	bool restore_sigmask;          /* [T] */
	struct sigpending pending;     /* [K] */
	struct linux_stack altstack;   /* [T] */
	uint64_t fault_trapno, fault_err, fault_cr2; /* [T] last hardware fault, for frames */
	uint64_t last_fault_addr, last_fault_rip;    /* [T] to tell stale faults from real ones */
	int interrupted;               /* atomic: something for the task loop to look at */
	bool killed;                   /* [K] SIGKILL or group exit: leave at once */

	/* blocking */
	uint32_t wake_seq;             /* futex word */
	int in_host_wait;              /* atomic */
	int sleeping;                  /* atomic: in task_block* (for /proc/<pid>/stat) */

	/* syscalls */
	uint64_t clear_child_tid;      /* [T] */
	uint64_t robust_list, robust_len; /* [T] */
	long syscall_ret;              /* [T] last return, for restarts */
	uint64_t restart_block[4];     /* [T] saved args for restart_syscall */
	long (*restart_fn)(struct task *t); /* [T] */
	bool in_syscall;               /* [T] */
	int exit_code;                 /* [K] */
	struct task *vfork_parent;     /* [T] parent blocked in vfork until we exec/exit */
	bool vfork_done;               /* [K] */
	int pdeath_signal;             /* [K] */
	bool no_new_privs_dummy;
	int refs;                      /* [K] */
	uint64_t start_ns;
	uint64_t nr_syscalls;
	clockid_t host_clock;          /* CPU clock of the host thread, once has_host_clock */
	bool has_host_clock;           /* [K] */
};

/* ---- lifecycle (task.c, task_clone.c, task_exit.c) ---------------------------------------- */

void task_get(struct task *t);
void task_put(struct task *t);
/* Looks up a task by tid (kernel->lock held by caller). */
struct task *kernel_find_task(struct kernel *k, int tid);
/* Looks up a thread group by tgid (kernel->lock held). */
struct thread_group *kernel_find_tg(struct kernel *k, int tgid);
/* Starts the task's host thread. */
int task_start(struct task *t);

/* clone(2)/fork/vfork/clone3: returns the child's tid or -errno. */
struct clone_args_k {
	uint64_t flags;
	uint64_t pidfd, child_tid, parent_tid;
	int exit_signal;
	uint64_t stack, stack_size, tls;
};
long task_clone(struct task *t, const struct clone_args_k *ca);

/* Ends the calling task (exit) or its whole thread group (exit_group); does not return to
 * the task loop's caller: the loop notices t->killed. */
void task_exit_thread(struct task *t, int code);
void task_exit_group(struct task *t, int wait_status);

/* ---- CPU time (cputime.c) -----------------------------------------------------------------
 * System time is what the task's host thread used (the sentry working for it); user time is
 * what application code used in the platform's stub processes.  Where application code runs
 * on the task's own thread (kvm) the two cannot be told apart and all of it is user time. */

struct cpu_times {
	uint64_t user_ns, sys_ns;
};
/* Times of a whole process, live or zombie (kernel->lock held). */
void tg_cpu_times_locked(struct thread_group *tg, struct cpu_times *ct);
/* Times of one thread (kernel->lock held).  On ptrace and systrap a thread of a
 * multi-threaded process is credited its system time only: the host gives no per-thread
 * clock of another process's threads. */
void task_cpu_times_locked(struct task *t, struct cpu_times *ct);
/* Times of every process the sandbox has run, living or gone (/proc/stat). */
void kernel_cpu_times(struct kernel *k, struct cpu_times *ct);
/* clock_gettime of CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and the clock ids of
 * clock_getcpuclockid/pthread_getcpuclockid.  -EINVAL for an unknown or invalid clock. */
int cpu_clock_read(struct task *t, int clockid, uint64_t *ns);
/* Called on the task's own thread as it starts and as it ends. */
void task_cputime_start(struct task *t);
void task_cputime_exit_locked(struct task *t);
/* execve: the old address space goes; its application time stays the process's. */
void task_cputime_exec(struct task *t, struct mm *old);

/* wait4/waitid (task_wait.c). */
#define WAIT_P_ALL 0
#define WAIT_P_PID 1
#define WAIT_P_PGID 2
struct wait_result {
	int pid;
	int status;     /* wait4 status word */
	int code;       /* CLD_* for waitid */
	int cld_status; /* exit code or signal for waitid */
	uint32_t uid;
	uint64_t utime_ns, stime_ns;
};
/* Returns the pid collected, 0 (WNOHANG, nothing ready), or -errno (-ECHILD, -ERESTARTSYS). */
long task_wait(struct task *t, int idtype, int id, int options, struct wait_result *res);

/* ---- timers (timers.c): itimers and POSIX timers of the calling task's group ------------ */

/* setitimer/getitimer: which is ITIMER_REAL, ITIMER_VIRTUAL or ITIMER_PROF (checked by the
 * caller); nv NULL only reads. */
int itimer(struct task *t, int which, const struct linux_itimerval *nv,
	   struct linux_itimerval *old);
/* Returns the new timer id or -errno.  notify: SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID. */
int ptimer_create(struct task *t, int clock, int notify, int signo, int tid, uint64_t value);
/* value: ns from now, or (abs) a time on the timer's clock; 0 disarms.  Old values when
 * pointers are given. */
int ptimer_settime(struct task *t, int id, uint64_t value, bool abs, uint64_t period,
		   uint64_t *old_rem, uint64_t *old_period);
int ptimer_gettime(struct task *t, int id, uint64_t *rem, uint64_t *period);
int ptimer_getoverrun(struct task *t, int id);
int ptimer_delete(struct task *t, int id);
/* RLIMIT_CPU of tg was set or inherited: (re)arms its enforcement (kernel->lock held). */
void timers_rlimit_cpu_locked(struct kernel *k, struct thread_group *tg);

/* ---- exec (task_exec.c) -------------------------------------------------------------------- */

/* execve of path with argv/envp (sentry copies).  On success the task runs the new image
 * (registers set) and returns 0; -errno otherwise, with the old image intact. */
int task_execve(struct task *t, int dirfd, const char *path, char *const *argv,
		char *const *envp, int at_flags);

/* ---- signals (task_signal.c, signal_frame_amd64.c) ---------------------------------------- */

/* Queues a signal to one thread / a thread group / a process group.  kernel->lock held. */
int signal_send_thread_locked(struct task *t, const struct linux_siginfo *info);
int signal_send_group_locked(struct thread_group *tg, const struct linux_siginfo *info);
/* Same, taking the lock. */
int signal_send_thread(struct task *t, const struct linux_siginfo *info);
int signal_send_group(struct thread_group *tg, const struct linux_siginfo *info);
/* A synchronous fault signal for the current task (cannot be blocked or ignored). */
void signal_force(struct task *t, int sig, int code, uint64_t addr);
/* Fills a kill()-style siginfo from sender. */
void siginfo_kill(struct linux_siginfo *info, int sig, int code, const struct task *sender);

/* Dequeues the lowest-numbered deliverable signal, thread queue first (kernel->lock held). */
bool signal_dequeue_locked(struct task *t, struct linux_siginfo *out);
/* Recomputes t->interrupted from pending signals and mask.  kernel->lock held. */
void signal_recalc(struct task *t);
/* Sets the mask (SIGKILL/SIGSTOP dropped).  kernel->lock not held. */
void signal_set_mask(struct task *t, linux_sigset_t mask);
/* True when a signal is deliverable or the task must stop or die. */
bool task_signal_pending(struct task *t);

/*
 * At the boundary back to application code: handles stops, kills and pending signals,
 * resolving syscall restarts.  Builds signal frames.  Returns false when the task must
 * leave its loop (exiting).
 */
bool task_handle_signals(struct task *t);

/* rt_sigreturn: restores the frame at rsp.  Returns 0 or -errno (forces SIGSEGV). */
int signal_sigreturn(struct task *t);
/* Builds a frame for handler `act` of signal `info` on the current stack or altstack. */
int signal_setup_frame(struct task *t, const struct linux_sigaction *act,
		       const struct linux_siginfo *info, linux_sigset_t old_mask);

/* ---- the task loop (task_run.c) and syscalls ----------------------------------------------- */

/* Returns to application code with regs already set (execve, rt_sigreturn): not rax. */
#define SYSCALL_REGS_SET (-4096L - 1)

/* Dispatches the syscall in t->cpu.regs and stores the result in rax. */
void syscall_dispatch(struct task *t);

/* The task's current root/cwd walk context for a dirfd (AT_FDCWD or an fd). */
int task_walk_ctx(struct task *t, int dirfd, struct walk_ctx *w, struct path *hold_root,
		  struct path *hold_start);
void task_walk_ctx_put(struct path *hold_root, struct path *hold_start);

/* Guest memory helpers for the current task's mm. */
static inline ssize_t copy_in(struct task *t, uint64_t src, void *dst, size_t n)
{
	return mm_copy_in(t->mm, src, dst, n);
}
static inline ssize_t copy_out(struct task *t, uint64_t dst, const void *src, size_t n)
{
	return mm_copy_out(t->mm, dst, src, n);
}
/* Whole-or-nothing variants: 0 or -EFAULT. */
int copy_in_all(struct task *t, uint64_t src, void *dst, size_t n);
int copy_out_all(struct task *t, uint64_t dst, const void *src, size_t n);

/* RLIMIT_* current soft limit of t's process. */
uint64_t task_rlimit(struct task *t, int res);

#endif
