/* Pipe syscalls: pipe, pipe2. */
#include "cvisor/sentry/pipe.h"
#include "syscalls_internal.h"

#define O_CLOEXEC_ 02000000
#define O_NONBLOCK_ 04000
#define O_DIRECT_ 040000

static int nofile(struct task *t)
{
	return (int)MIN(task_rlimit(t, 7 /* RLIMIT_NOFILE */), (uint64_t)(1 << 20));
}

static long do_pipe2(struct task *t, uint64_t ufds, int flags)
{
	struct file *rd, *wr;
	int32_t fds[2];
	long r;

	if (flags & ~(O_CLOEXEC_ | O_NONBLOCK_ | O_DIRECT_))
		return -EINVAL;
	if ((r = pipe_files_new(t, (unsigned)flags, &rd, &wr)) < 0)
		return r;
	r = fds[0] = fd_install(t->files, rd, flags & O_CLOEXEC_, 0, nofile(t));
	if (r >= 0) {
		r = fds[1] = fd_install(t->files, wr, flags & O_CLOEXEC_, 0, nofile(t));
		if (r < 0)
			fd_close(t->files, fds[0]);
	}
	file_put(rd);
	file_put(wr);
	if (r < 0)
		return r;
	if (copy_out_all(t, ufds, fds, sizeof(fds)) < 0) {
		fd_close(t->files, fds[0]);
		fd_close(t->files, fds[1]);
		return -EFAULT;
	}
	return 0;
}

/* Implements Linux pipe(2). */
SYSCALL(pipe)
{
	return do_pipe2(t, ARG(0), 0);
}

/* Implements Linux pipe2(2). Deviations: O_NOTIFICATION_PIPE is refused (EINVAL). */
SYSCALL(pipe2)
{
	return do_pipe2(t, ARG(0), IARG(1));
}
