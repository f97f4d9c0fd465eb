/*
 * The sentry kernel (src/sentry/kernel): one struct kernel per sandbox, owning the memory
 * file, the mount namespace, the PID namespace and every task.  Also the pieces every
 * subsystem shares: credentials, wait queues and blocking, fd tables, per-process fs state.
 *
 * Lock order: kernel->lock (process tree, pids, signals, task states) before mm->lock,
 * fd_table->lock and vfs locks.  Wait-queue locks are leaves.  No lock is held while a task
 * runs application code or blocks.
 */
#ifndef CV_SENTRY_KERNEL_H
#define CV_SENTRY_KERNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/abi/linux/types.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

struct platform;
struct task;
struct thread_group;
struct file;
struct futex_table;
struct ktimer_base;
struct vdso;
struct net_ns;
struct poll_ctx;

#define CV_MAX_PID 4194304
#define CV_SYSCALL_MAX 512

/* ---- credentials (immutable once shared; changed by copy) ------------------------------ */

struct cred {
	int refs;
	uint32_t uid, euid, suid, fsuid;
	uint32_t gid, egid, sgid, fsgid;
	uint32_t *groups;
	int ngroups;
	uint64_t cap_effective, cap_permitted, cap_inheritable, cap_bounding, cap_ambient;
	bool no_new_privs;
	bool keep_caps;
};

struct cred *cred_new_root(void);
/* A private copy for modification (one reference).  NULL on ENOMEM. */
struct cred *cred_copy(const struct cred *c);
void cred_get(struct cred *c);
void cred_put(struct cred *c);
bool cred_capable(const struct cred *c, int cap);
/* Is gid the fsgid or a supplementary group of c? */
bool cred_in_group(const struct cred *c, uint32_t gid);

/*
 * Credential changes of task t (src/sentry/kernel/cred_change.c), with Linux's permission
 * rules; ids of (uint32_t)-1 mean "unchanged".  Return 0 or -EPERM/-ENOMEM.
 */
struct task;
int cred_setuid(struct task *t, uint32_t uid);
int cred_setreuid(struct task *t, uint32_t r, uint32_t e);
int cred_setresuid(struct task *t, uint32_t r, uint32_t e, uint32_t s);
int cred_setgid(struct task *t, uint32_t gid);
int cred_setregid(struct task *t, uint32_t r, uint32_t e);
int cred_setresgid(struct task *t, uint32_t r, uint32_t e, uint32_t s);
/* setfsuid(2)/setfsgid(2): returns the previous id. */
uint32_t cred_setfsid(struct task *t, uint32_t id, bool group);
int cred_setgroups(struct task *t, const uint32_t *groups, int n);
int cred_capset(struct task *t, uint64_t eff, uint64_t perm, uint64_t inh);
/* Applies fn to a copy of t's credentials and installs it. */
int cred_update(struct task *t, void (*fn)(struct cred *n, void *arg), void *arg);

/* ---- wait queues and blocking ---------------------------------------------------------- */

struct waiter {
	struct waiter *next, *prev;
	struct task *task;
	uint64_t events; /* what the waiter cares about (POLL* bits, or ~0) */
	void (*callback)(struct waiter *w, uint64_t events); /* instead of waking task */
	void *priv;
};

struct waitqueue {
	pthread_mutex_t lock;
	struct waiter head; /* circular list sentinel */
};

void waitqueue_init(struct waitqueue *wq);
void waitqueue_add(struct waitqueue *wq, struct waiter *w, struct task *t, uint64_t events);
void waitqueue_remove(struct waitqueue *wq, struct waiter *w);
/* Wakes every waiter whose events intersect `events`. */
void waitqueue_wake(struct waitqueue *wq, uint64_t events);
bool waitqueue_empty(struct waitqueue *wq);

/*
 * Blocking, race-free: snapshot the task's wake sequence with task_wake_seq() *before*
 * checking the condition, then call task_block(t, seq, deadline).  Returns 0 when woken (the
 * caller re-checks), -EINTR when a signal or kill is pending (the caller returns
 * -ERESTARTSYS or -EINTR), -ETIMEDOUT at the deadline (CLOCK_MONOTONIC ns; 0 = none).
 */
uint32_t task_wake_seq(struct task *t);
int task_block(struct task *t, uint32_t seq, uint64_t deadline_ns);
/* Same, but uninterruptible by signals (only killing ends it early). */
int task_block_killable(struct task *t, uint32_t seq, uint64_t deadline_ns);
/* Wakes t from task_block (or makes its next task_block return at once). */
void task_wake(struct task *t);
/* Waits for a host fd to become ready (POLLIN/POLLOUT), interruptibly.  -EINTR/-ETIMEDOUT. */
int task_host_wait(struct task *t, int hostfd, short events, uint64_t deadline_ns);

/* Monotonic and realtime clocks in ns. */
uint64_t clock_mono_ns(void);
uint64_t clock_real_ns(void);

/* ---- per-process filesystem state (CLONE_FS) and fd tables (CLONE_FILES) ---------------- */

struct fs_struct {
	pthread_mutex_t lock;
	int refs;
	struct path root, cwd;
	uint32_t umask;
};

struct fs_struct *fs_struct_new(const struct path *root, const struct path *cwd);
struct fs_struct *fs_struct_copy(struct fs_struct *fs);
void fs_struct_put(struct fs_struct *fs);
/* Copies root and cwd (new references) under the lock. */
void fs_struct_snapshot(struct fs_struct *fs, struct path *root, struct path *cwd);

struct fd_entry {
	struct file *file;
	bool cloexec;
};

struct fd_table {
	pthread_mutex_t lock;
	int refs;
	struct fd_entry *fds;
	int cap;
	int lowest_free;
};

struct fd_table *fd_table_new(void);
/* A copy for fork (every file gets a new reference). NULL on ENOMEM. */
struct fd_table *fd_table_copy(struct fd_table *t);
void fd_table_get(struct fd_table *t);
void fd_table_put(struct fd_table *t);
/* Installs f (takes a new reference) at the lowest free fd >= minfd below limit. */
int fd_install(struct fd_table *t, struct file *f, bool cloexec, int minfd, int limit);
/* Installs f at exactly fd, closing what was there (dup2).  Returns fd or -errno. */
int fd_install_at(struct fd_table *t, int fd, struct file *f, bool cloexec, int limit);
/* The file at fd with a new reference, or NULL. */
struct file *fd_get(struct fd_table *t, int fd);
int fd_get_cloexec(struct fd_table *t, int fd);
int fd_set_cloexec(struct fd_table *t, int fd, bool cloexec);
/* Closes fd; -EBADF if not open. */
int fd_close(struct fd_table *t, int fd);
/* Closes every fd in [lo, hi]; with cloexec_only, marks them close-on-exec instead. */
void fd_close_range(struct fd_table *t, unsigned lo, unsigned hi, bool cloexec_only);
/* Closes close-on-exec fds (execve). */
void fd_table_exec(struct fd_table *t);
/* Number of open fds. */
int fd_table_count(struct fd_table *t);

/* ---- the kernel ---------------------------------------------------------------------------- */

struct kernel_config {
	bool strace;
	bool debug;
	char hostname[65];
	char domainname[65];
	uint64_t mem_limit; /* bytes, 0 = none */
	/* The memory file's (sparse) size, 0 = the default.  A smaller one costs less where its
	 * size is paid for: the kvm platform's memory slots make the host kernel allocate
	 * metadata in proportion, charged to the sandbox's cgroup. */
	uint64_t mem_size;
	uint64_t pids_limit; /* tasks (threads and unreaped zombies), 0 = none; [K] */
};

struct kernel {
	struct platform *platform;
	struct memfile mf;
	struct vfs vfs;
	struct kernel_config cfg;
	uint64_t boot_mono_ns, boot_real_ns;

	pthread_mutex_t lock; /* the tasklist lock; see the lock order above */
	struct task **pids;   /* open-addressed: tid -> task (leader rows also serve as tgid) */
	size_t pids_cap, pids_n, pids_tombs;
	int last_pid;
	struct thread_group *init; /* the container's init, pid 1 */
	int live_threads;          /* host threads running task loops */
	pthread_cond_t idle_cond;  /* signalled when live_threads drops */
	bool shutdown;             /* init exited: everything is being killed */
	bool frozen;               /* paused from outside: tasks park before running app code */
	int exit_status;           /* the sandbox's exit status, once shutdown */
	uint64_t dead_user_ns, dead_sys_ns; /* CPU time of processes that have exited */

	pthread_mutex_t uts_lock;
	uint32_t unimpl[CV_SYSCALL_MAX]; /* ENOSYS counts per syscall number */
	pthread_mutex_t unimpl_lock;
	struct futex_table *futex;
	struct net_ns *net;    /* names of bound unix sockets (src/sentry/net) */
	struct ktimer_base *timers; /* ktimer.h */
	struct vdso *vdso;          /* vdso.h */
	int notify_fd;         /* eventfd written when the last task exits after shutdown, or -1 */
	struct poll_ctx *poll_ctx; /* host fd watcher, epoll nesting lock (kernel/host_poll.c) */
};

/* A new kernel.  It starts no thread: call kernel_start_threads() once confined. */
struct kernel *kernel_new(struct platform *p, const struct kernel_config *cfg);
/* Starts the kernel's own threads (timers).  Returns 0 or -errno. */
int kernel_start_threads(struct kernel *k);
/* Frees a kernel whose tasks have all exited. */
void kernel_destroy(struct kernel *k);

/*
 * Starts the container's init: resolves argv[0] (PATH from envp when it has no slash),
 * execs it in a new task with pid 1 and starts its thread.  Returns 0 once the exec
 * succeeded, or -errno with `why` filled (e.g. "exec: `foo': executable file not found").
 */
struct tty;
struct init_params {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	struct cred *cred;           /* borrowed */
	struct linux_rlimit64 rlimits[LINUX_RLIM_NLIMITS];
	uint32_t umask;
	struct file *stdio[3];       /* borrowed; NULL entries stay closed */
	struct tty *ctty;            /* borrowed: the process's controlling terminal, or NULL */
};
int kernel_start_init(struct kernel *k, const struct init_params *ip, char *why, size_t n);

/*
 * Checks, before `start`, that init's argv[0] resolves to an executable (as runc's create
 * does), so a missing program fails `create` with the message kernel_start_init would give.
 * Returns 0 or -errno with `why` filled.
 */
int kernel_check_init(struct kernel *k, const struct init_params *ip, char *why, size_t n);

/*
 * Starts a process from outside (`cvisor exec`): a new thread group with no parent inside
 * the container (ppid 0, like a process that joined the namespaces from the host), leading
 * its own session and process group, with ip's credentials, environment, cwd, rlimits, stdio
 * and controlling terminal.  Its exit is not reported to init: the process stays a zombie
 * until kernel_exec_reap() collects it, and kernel->notify_fd is written when it exits.
 * Returns its pid, or -errno with `why` filled.
 */
int kernel_exec_process(struct kernel *k, const struct init_params *ip, char *why, size_t n);

/* Collects a process started by kernel_exec_process: 1 with *status (exit code, or 128+N
 * when signal N killed it) once it has exited, 0 while it runs, -ESRCH when unknown. */
int kernel_exec_reap(struct kernel *k, int pid, int *status);

/* Sends sig to the process pid from outside the container.  -ESRCH when it is gone. */
int kernel_kill_pid(struct kernel *k, int pid, int sig);

/*
 * Pauses (freeze) or resumes every task, as the cgroup freezer does for runc: a frozen task
 * parks at its next boundary back to application code; blocked system calls are interrupted
 * and restarted after the thaw.  Tasks created while frozen park before their first
 * instruction.  Killing a frozen task still works.
 */
void kernel_freeze(struct kernel *k, bool frozen);

/* One process of the container, as `cvisor ps` lists them. */
struct kernel_proc {
	int pid, ppid, pgid, sid;
	uint32_t uid;
	int nr_threads;
	uint64_t start_ns;           /* CLOCK_MONOTONIC */
	char state;                  /* R, S, T, Z */
	char comm[16];
};
/* Fills up to max entries; returns how many processes there are (may exceed max). */
int kernel_list_processes(struct kernel *k, struct kernel_proc *out, int max);

/* Blocks until every task has exited; returns the sandbox exit status (init's code, or
 * 128+signal). */
int kernel_wait(struct kernel *k);

/* Sends sig to init (or with all, to every process), as `cvisor kill` asks. */
int kernel_kill(struct kernel *k, int sig, bool all);

/* Counts and (with --debug) logs an unimplemented syscall the first time it is used. */
void kernel_note_unimplemented(struct kernel *k, int nr, const char *name);

#endif
