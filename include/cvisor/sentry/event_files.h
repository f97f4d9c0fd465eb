/*
 * Event files: eventfd (src/sentry/fs/eventfd), timerfd (src/sentry/fs/timerfd), signalfd
 * (src/sentry/fs/signalfd) and inotify (src/sentry/fs/inotify).  Each is an anonymous file
 * (mode 0600, "anon_inode:[...]", inotify's "anon_inode:inotify") whose reads block as Linux's
 * do and whose poll op wakes poll, select and epoll.
 */
#ifndef CV_SENTRY_EVENT_FILES_H
#define CV_SENTRY_EVENT_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "cvisor/abi/linux/signal.h"
#include "cvisor/abi/linux/types.h"

struct task;
struct file;
struct kernel;
struct vfs;
struct inode;

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

/* inotify's limits: Linux's defaults (/proc/sys/fs/inotify), fixed here. */
#define INOTIFY_MAX_QUEUED_EVENTS 16384
#define INOTIFY_MAX_USER_INSTANCES 128
#define INOTIFY_MAX_USER_WATCHES 8192

/*
 * A new inotify instance (one reference) of vfs, charged to uid; flags O_NONBLOCK.
 * ERR_PTR(-EMFILE) past INOTIFY_MAX_USER_INSTANCES of uid, ERR_PTR(-ENOMEM).
 */
struct file *inotify_file_new(struct vfs *vfs, uint32_t uid, unsigned flags);
/*
 * inotify_add_watch(2) of ino's object (resolved, its read permission checked by the caller)
 * on f with IN_* mask (validated by the caller): returns the watch descriptor, the same one
 * for the same object, or -EINVAL (f is not an inotify file), -EEXIST (IN_MASK_CREATE on a
 * watched object), -ENOSPC (INOTIFY_MAX_USER_WATCHES), -ENOMEM.
 */
int inotify_watch_add(struct file *f, struct inode *ino, uint32_t mask);
/* inotify_rm_watch(2): 0, or -EINVAL when f is no inotify file or wd no watch of it. */
int inotify_watch_rm(struct file *f, int wd);
bool file_is_inotify(const struct file *f);

#endif
