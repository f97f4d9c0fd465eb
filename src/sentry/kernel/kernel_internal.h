/* Private to src/sentry/kernel. */
#ifndef CV_SENTRY_KERNEL_INTERNAL_H
#define CV_SENTRY_KERNEL_INTERNAL_H

#include <signal.h>

#include "cvisor/sentry/task.h"

/* Host signal that kicks a sentry thread out of a host blocking call (task_host_wait). */
#define SIG_TASK_INTERRUPT SIGUSR2
/* Installs the (empty) handler of SIG_TASK_INTERRUPT; kernel_new calls it. */
void task_host_wait_setup(void);

/* Timers of a group that exits: stop firing (kernel->lock held), then free (no lock held). */
void timers_mark_dead_locked(struct thread_group *tg);
void timers_release(struct kernel *k, struct tg_timers *tt);
/* execve deletes POSIX timers (itimers survive). */
void timers_exec(struct task *t);

/* Wakes whoever watches kernel->notify_fd (kernel->lock held). */
void kernel_notify_locked(struct kernel *k);

/* pid table (kernel->lock held) */
int pid_alloc(struct kernel *k);
int pid_insert(struct kernel *k, struct task *t);
void pid_remove(struct kernel *k, int tid);

/* A new task sharing nothing yet (refs 1, not in the pid table). */
struct task *task_alloc(struct kernel *k);
void task_free(struct task *t);
/* A new thread group led by t (tgid = t->tid). */
struct thread_group *thread_group_new(struct task *leader);
void thread_group_put_locked(struct thread_group *tg);

/* The host thread body. */
void *task_main(void *arg);

/* Exit path, on the task's own thread, at the end of its loop. */
void task_finish(struct task *t);

/* Marks every thread of tg killed and interrupts it (kernel->lock held). */
void thread_group_kill_locked(struct thread_group *tg, struct task *except);
/* Interrupts t wherever it is: blocked, in a host call, or running app code. */
void task_interrupt(struct task *t);

/* vfork: wakes the parent waiting for t's exec or exit (kernel->lock held). */
void task_vfork_done_locked(struct task *t);

/* Default action classes. */
enum sig_default { SIGDFL_TERM, SIGDFL_CORE, SIGDFL_STOP, SIGDFL_CONT, SIGDFL_IGN };
enum sig_default signal_default_action(int sig);


/* Tells tg's parent about a stop or continue (SIGCHLD unless SA_NOCLDSTOP, wakes wait). */
void notify_parent_stop_locked(struct thread_group *tg, int why, int sig);
/* Frees a reaped zombie: its pid and references (kernel->lock held). */
void release_zombie_locked(struct thread_group *tg);
/* Tells tg's parent that tg exited; may reap it at once (SIGCHLD ignored). */
void notify_parent_exit_locked(struct thread_group *tg);

#endif
