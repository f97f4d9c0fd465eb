/* Private to the socket syscalls (sys_socket.c, sys_sockmsg.c): shared decoding helpers. */
#ifndef CV_SENTRY_SYSCALLS_SOCKCALL_H
#define CV_SENTRY_SYSCALLS_SOCKCALL_H

#include <stdbool.h>
#include <stdint.h>

struct task;
struct file;
struct socket;

/* The socket at fd (borrowed from *f, a new file reference the caller puts); NULL with
 * *err -EBADF or -ENOTSOCK. */
struct socket *sockcall_get(struct task *t, int fd, struct file **f, long *err);
/* Is the file O_NONBLOCK? */
bool sockcall_nonblock(const struct file *f);
/* Copies a guest sockaddr of ulen bytes (at most LINUX_SOCKADDR_MAX, else -EINVAL). */
long sockcall_copy_addr_in(struct task *t, uint64_t uaddr, uint64_t ulen, void *addr);
/* Copies an address out as Linux does: truncated to the guest's *ulenp, which gets the full
 * length.  Nothing when uaddr or ulenp is 0. */
long sockcall_copy_addr_out(struct task *t, uint64_t uaddr, uint64_t ulenp, const void *addr,
			    uint32_t len);

#endif
