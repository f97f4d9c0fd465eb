/* Event file syscalls: eventfd, eventfd2, timerfd_*, signalfd, signalfd4, inotify_*. */
#include "cvisor/abi/linux/inotify.h"
#include "cvisor/sentry/event_files.h"
#include "syscalls_internal.h"

#define O_CLOEXEC_ 02000000
#define O_NONBLOCK_ 04000

static long install(struct task *t, struct file *f, bool cloexec)
{
	uint64_t lim = MIN(task_rlimit(t, 7 /* RLIMIT_NOFILE */), (uint64_t)(1 << 20));
	long r;

	if (IS_ERR(f))
		return PTR_ERR(f);
	r = fd_install(t->files, f, cloexec, 0, (int)lim);
	file_put(f);
	return r;
}

static long do_eventfd2(struct task *t, uint32_t initval, int flags)
{
	if (flags & ~(int)(EVENTFD_SEMAPHORE | O_CLOEXEC_ | O_NONBLOCK_))
		return -EINVAL;
	return install(t, eventfd_file_new(t, initval, (unsigned)flags), flags & O_CLOEXEC_);
}

/* Implements Linux eventfd(2). */
SYSCALL(eventfd)
{
	return do_eventfd2(t, (uint32_t)ARG(0), 0);
}

/* Implements Linux eventfd2(2). */
SYSCALL(eventfd2)
{
	return do_eventfd2(t, (uint32_t)ARG(0), IARG(1));
}

/* Implements Linux timerfd_create(2). Deviations: the _ALARM clocks never wake a suspended
 * system (there is none); they need CAP_WAKE_ALARM as in Linux. */
SYSCALL(timerfd_create)
{
	int flags = IARG(1);

	if (flags & ~(O_CLOEXEC_ | O_NONBLOCK_))
		return -EINVAL;
	return install(t, timerfd_file_new(t, IARG(0), (unsigned)flags), flags & O_CLOEXEC_);
}

/* Implements Linux timerfd_settime(2). */
SYSCALL(timerfd_settime)
{
	struct linux_itimerspec val, old;
	struct file *f;
	long r;

	if (copy_in_all(t, ARG(2), &val, sizeof(val)) < 0)
		return -EFAULT;
	if (!(f = fd_get(t->files, IARG(0))))
		return -EBADF;
	r = timerfd_set(f, IARG(1), &val, &old);
	file_put(f);
	if (r == 0 && ARG(3) && copy_out_all(t, ARG(3), &old, sizeof(old)) < 0)
		return -EFAULT;
	return r;
}

/* Implements Linux timerfd_gettime(2). */
SYSCALL(timerfd_gettime)
{
	struct linux_itimerspec cur;
	struct file *f = fd_get(t->files, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = timerfd_get(f, &cur);
	file_put(f);
	if (r == 0 && copy_out_all(t, ARG(1), &cur, sizeof(cur)) < 0)
		return -EFAULT;
	return r;
}

static long do_signalfd4(struct task *t, int fd, uint64_t umask, uint64_t size, int flags)
{
	linux_sigset_t mask;
	struct file *f;
	long r;

	if ((flags & ~(O_CLOEXEC_ | O_NONBLOCK_)) || size != sizeof(mask))
		return -EINVAL;
	if (copy_in_all(t, umask, &mask, sizeof(mask)) < 0)
		return -EFAULT;
	if (fd == -1)
		return install(t, signalfd_file_new(t, mask, (unsigned)flags), flags & O_CLOEXEC_);
	if (!(f = fd_get(t->files, fd)))
		return -EBADF;
	r = signalfd_set_mask(f, mask);
	file_put(f);
	return r < 0 ? r : fd;
}

/* Implements Linux signalfd(2). */
SYSCALL(signalfd)
{
	return do_signalfd4(t, IARG(0), ARG(1), ARG(2), 0);
}

/* Implements Linux signalfd4(2). */
SYSCALL(signalfd4)
{
	return do_signalfd4(t, IARG(0), ARG(1), ARG(2), IARG(3));
}

static long do_inotify_init1(struct task *t, int flags)
{
	if (flags & ~(LINUX_IN_CLOEXEC | LINUX_IN_NONBLOCK))
		return -EINVAL;
	return install(t, inotify_file_new(&t->k->vfs, t->cred->euid, (unsigned)flags),
		       flags & LINUX_IN_CLOEXEC);
}

/* Implements Linux inotify_init(2). */
SYSCALL(inotify_init)
{
	return do_inotify_init1(t, 0);
}

/* Implements Linux inotify_init1(2). */
SYSCALL(inotify_init1)
{
	return do_inotify_init1(t, IARG(0));
}

/* Resolves path for a watch on f: an inotify file, then the path, then read access. */
static long watch_target(struct task *t, struct file *f, uint64_t path, uint32_t mask,
			 struct path *p)
{
	unsigned lookup = ((mask & LINUX_IN_DONT_FOLLOW) ? 0 : LOOKUP_FOLLOW) |
			  ((mask & LINUX_IN_ONLYDIR) ? LOOKUP_DIRECTORY : 0);
	long r;

	if ((mask & LINUX_IN_MASK_ADD) && (mask & LINUX_IN_MASK_CREATE))
		return -EINVAL;
	if (!file_is_inotify(f))
		return -EINVAL;
	if ((r = at_resolve(t, AT_FDCWD_LINUX, path, lookup, p)) < 0)
		return r;
	if ((r = vfs_permission(t->cred, p->dentry->inode, MAY_READ)) < 0)
		path_put(p);
	return r;
}

/* Implements Linux inotify_add_watch(2). Deviations: only changes made inside the sandbox are
 * reported (not a host process's behind its back); no IN_UNMOUNT. */
SYSCALL(inotify_add_watch)
{
	uint32_t mask = (uint32_t)ARG(2);
	struct file *f;
	struct path p;
	long r;

	if ((mask & ~LINUX_IN_ALL_BITS) || !mask)
		return -EINVAL;
	if (!(f = fd_get(t->files, IARG(0))))
		return -EBADF;
	if ((r = watch_target(t, f, ARG(1), mask, &p)) == 0) {
		r = inotify_watch_add(f, p.dentry->inode, mask);
		path_put(&p);
	}
	file_put(f);
	return r;
}

/* Implements Linux inotify_rm_watch(2). */
SYSCALL(inotify_rm_watch)
{
	struct file *f = fd_get(t->files, IARG(0));
	long r;

	if (!f)
		return -EBADF;
	r = inotify_watch_rm(f, IARG(1));
	file_put(f);
	return r;
}
