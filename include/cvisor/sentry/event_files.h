/*
 * Event files: eventfd (src/sentry/fs/eventfd), timerfd (src/sentry/fs/timerfd) and signalfd
 * (src/sentry/fs/signalfd).  Each is an anonymous file (mode 0600, "anon_inode:[...]") whose
 * reads block as Linux's do and whose poll op wakes poll, select and epoll.
 */
#ifndef CV_SENTRY_EVENT_FILES_H
#define CV_SENTRY_EVENT_FILES_H

#include <stdint.h>

#include "cvisor/abi/linux/signal.h"
#include "cvisor/abi/linux/types.h"

struct task;
struct file;
struct kernel;

#define EVENTFD_SEMAPHORE 0x1u /* EFD_SEMAPHORE */

/* A new eventfd (one reference) counting from initval; flags: EVENTFD_SEMAPHORE and
 * O_NONBLOCK.  ERR_PTR(-ENOMEM). */
struct file *eventfd_file_new(struct task *t, uint64_t initval, unsigned flags);

/*
 * A new timerfd on clock (CLOCK_REALTIME, MONOTONIC, BOOTTIME and their _ALARM forms), flags
 * O_NONBLOCK.  Backed by a host timerfd, so expirations are counted by the host kernel on the
 * same clocks the sandbox reads.  ERR_PTR(-EINVAL, -EPERM, -EMFILE, -ENOMEM).
 */
struct file *timerfd_file_new(struct task *t, int clock, unsigned flags);
/* timerfd_settime(2) / timerfd_gettime(2) on f; -EINVAL when f is not a timerfd. */
int timerfd_set(struct file *f, int flags, const struct linux_itimerspec *val,
		struct linux_itimerspec *old);
int timerfd_get(struct file *f, struct linux_itimerspec *cur);

/* A new signalfd (one reference) for mask (SIGKILL and SIGSTOP dropped), flags O_NONBLOCK. */
struct file *signalfd_file_new(struct task *t, linux_sigset_t mask, unsigned flags);
/* Replaces the mask of an existing signalfd; -EINVAL when f is not one. */
int signalfd_set_mask(struct file *f, linux_sigset_t mask);
/* A signal was queued to some task of k: wakes every signalfd reader and poller, which look
 * at their own queues again.  Called by signal generation, kernel->lock held or not. */
void signalfd_notify(struct kernel *k);

#endif
