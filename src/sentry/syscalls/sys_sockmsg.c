/*
 * The socket data path syscalls: sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg.
 * Payloads move between the guest's iovecs and the socket directly (struct msg_iter);
 * addresses and control data are bounced through sentry buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "cvisor/abi/linux/socket.h"
#include "cvisor/sentry/net.h"
#include "sockcall.h"
#include "syscalls_internal.h"

#define CONTROL_MAX (64u << 10) /* larger control buffers are ENOBUFS, like optmem_max */
#define MAX_RW_COUNT 0x7ffff000ull

/* A guest msghdr decoded into sentry memory. */
struct msg_in {
	struct linux_iovec *iov;
	uint8_t addr[LINUX_SOCKADDR_MAX];
	struct sock_msg m;
};

static void msg_in_free(struct msg_in *mi)
{
	free(mi->iov);
	free(mi->m.control);
}

/* Copies the iovecs; the cursor reads and writes the guest's memory. */
static long import_iov(struct task *t, struct msg_in *mi, uint64_t uiov, uint64_t cnt)
{
	uint64_t total = 0;

	if (cnt > LINUX_UIO_MAXIOV)
		return -EMSGSIZE;
	mi->iov = calloc(cnt ? cnt : 1, sizeof(*mi->iov));
	if (!mi->iov)
		return -ENOMEM;
	if (cnt && copy_in_all(t, uiov, mi->iov, cnt * sizeof(*mi->iov)) < 0)
		return -EFAULT;
	for (uint64_t i = 0; i < cnt; i++) {
		if (mi->iov[i].len > (uint64_t)INT64_MAX)
			return -EINVAL;
		mi->iov[i].len = MIN(mi->iov[i].len, MAX_RW_COUNT - total);
		total += mi->iov[i].len;
	}
	msg_iter_init(&mi->m.data, t, mi->iov, cnt);
	return 0;
}

static long import_send(struct task *t, struct msg_in *mi, const struct linux_msghdr *h)
{
	long r = import_iov(t, mi, h->iov, h->iovlen);

	if (r < 0)
		return r;
	if (h->name && h->namelen) {
		if ((r = sockcall_copy_addr_in(t, h->name, h->namelen, mi->addr)) < 0)
			return r;
		mi->m.name = mi->addr;
		mi->m.namelen = h->namelen;
	}
	if (h->controllen > CONTROL_MAX)
		return -ENOBUFS;
	if (h->controllen) {
		if (!(mi->m.control = malloc(h->controllen)))
			return -ENOMEM;
		if (copy_in_all(t, h->control, mi->m.control, h->controllen) < 0)
			return -EFAULT;
		mi->m.controllen = h->controllen;
	}
	return 0;
}

static long do_sendmsg(struct task *t, int fd, const struct linux_msghdr *h, int flags)
{
	struct msg_in mi = {0};
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, fd, &f, &r);

	if (!s)
		return r;
	if (sockcall_nonblock(f))
		flags |= LINUX_MSG_DONTWAIT;
	if ((r = import_send(t, &mi, h)) == 0)
		r = socket_sendmsg(s, t, &mi.m, flags);
	msg_in_free(&mi);
	file_put(f);
	return r;
}

/* Receives into h's buffers and updates h's namelen, controllen and flags. */
static long do_recvmsg(struct task *t, int fd, struct linux_msghdr *h, int flags)
{
	struct msg_in mi = {0};
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, fd, &f, &r);

	if (!s)
		return r;
	if (sockcall_nonblock(f))
		flags |= LINUX_MSG_DONTWAIT;
	if ((r = import_iov(t, &mi, h->iov, h->iovlen)) < 0)
		goto out;
	mi.m.name = h->name ? mi.addr : NULL;
	if (h->control && h->controllen) {
		mi.m.controllen = MIN(h->controllen, (uint64_t)CONTROL_MAX);
		if (!(mi.m.control = calloc(1, mi.m.controllen))) {
			r = -ENOMEM;
			goto out;
		}
	}
	if ((r = socket_recvmsg(s, t, &mi.m, flags)) < 0)
		goto out;
	if (h->name) {
		uint32_t n = MIN(h->namelen, mi.m.namelen);

		if (n && copy_out_all(t, h->name, mi.addr, n) < 0)
			r = -EFAULT;
		h->namelen = mi.m.namelen;
	}
	if (mi.m.controllen && copy_out_all(t, h->control, mi.m.control, mi.m.controllen) < 0)
		r = -EFAULT;
	h->controllen = mi.m.controllen;
	h->flags = mi.m.flags;
out:
	msg_in_free(&mi);
	file_put(f);
	return r;
}

/* Implements Linux sendto(2). */
SYSCALL(sendto)
{
	struct linux_iovec iov = {.base = ARG(1), .len = MIN(ARG(2), MAX_RW_COUNT)};
	struct msg_in mi = {0};
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);
	int flags = IARG(3);

	if (!s)
		return r;
	r = 0;
	msg_iter_init(&mi.m.data, t, &iov, 1);
	if (ARG(4) && (uint32_t)ARG(5)) {
		r = sockcall_copy_addr_in(t, ARG(4), (uint32_t)ARG(5), mi.addr);
		mi.m.name = mi.addr;
		mi.m.namelen = (uint32_t)ARG(5);
	}
	if (sockcall_nonblock(f))
		flags |= LINUX_MSG_DONTWAIT;
	if (r == 0)
		r = socket_sendmsg(s, t, &mi.m, flags);
	file_put(f);
	return r;
}

/* Implements Linux recvfrom(2). */
SYSCALL(recvfrom)
{
	struct linux_iovec iov = {.base = ARG(1), .len = MIN(ARG(2), MAX_RW_COUNT)};
	struct msg_in mi = {0};
	struct file *f;
	long r;
	struct socket *s = sockcall_get(t, IARG(0), &f, &r);
	int flags = IARG(3);

	if (!s)
		return r;
	msg_iter_init(&mi.m.data, t, &iov, 1);
	mi.m.name = ARG(4) ? mi.addr : NULL;
	if (sockcall_nonblock(f))
		flags |= LINUX_MSG_DONTWAIT;
	r = socket_recvmsg(s, t, &mi.m, flags);
	file_put(f);
	if (r >= 0 && ARG(4)) {
		long e = sockcall_copy_addr_out(t, ARG(4), ARG(5), mi.addr, mi.m.namelen);

		if (e < 0)
			return e;
	}
	return r;
}

/* Implements Linux sendmsg(2). */
SYSCALL(sendmsg)
{
	struct linux_msghdr h;

	if (copy_in_all(t, ARG(1), &h, sizeof(h)) < 0)
		return -EFAULT;
	return do_sendmsg(t, IARG(0), &h, IARG(2));
}

/* Writes back what recvmsg changes in the guest's msghdr. */
static long put_msghdr(struct task *t, uint64_t uh, const struct linux_msghdr *h)
{
	if (copy_out_all(t, uh + offsetof(struct linux_msghdr, namelen), &h->namelen, 4) < 0 ||
	    copy_out_all(t, uh + offsetof(struct linux_msghdr, controllen), &h->controllen, 8) < 0 ||
	    copy_out_all(t, uh + offsetof(struct linux_msghdr, flags), &h->flags, 4) < 0)
		return -EFAULT;
	return 0;
}

/* Implements Linux recvmsg(2). */
SYSCALL(recvmsg)
{
	struct linux_msghdr h;
	long r, e;

	if (copy_in_all(t, ARG(1), &h, sizeof(h)) < 0)
		return -EFAULT;
	r = do_recvmsg(t, IARG(0), &h, IARG(2));
	if (r >= 0 && (e = put_msghdr(t, ARG(1), &h)) < 0)
		return e;
	return r;
}

/* Implements Linux sendmmsg(2). */
SYSCALL(sendmmsg)
{
	unsigned vlen = MIN((unsigned)ARG(2), (unsigned)LINUX_UIO_MAXIOV), n = 0;
	long r = 0;

	for (; n < vlen; n++) {
		uint64_t uh = ARG(1) + n * sizeof(struct linux_mmsghdr);
		struct linux_mmsghdr mh;
		uint32_t len;

		if (copy_in_all(t, uh, &mh, sizeof(mh)) < 0) {
			r = -EFAULT;
			break;
		}
		if ((r = do_sendmsg(t, IARG(0), &mh.hdr, IARG(3))) < 0)
			break;
		len = (uint32_t)r;
		if (copy_out_all(t, uh + offsetof(struct linux_mmsghdr, len), &len, 4) < 0) {
			r = -EFAULT;
			break;
		}
	}
	return n ? (long)n : r;
}

/* recvmmsg's timeout, checked between datagrams as Linux does. */
static long mmsg_deadline(struct task *t, uint64_t uts, uint64_t *deadline)
{
	struct linux_timespec ts;

	*deadline = 0;
	if (!uts)
		return 0;
	if (copy_in_all(t, uts, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	*deadline = clock_mono_ns() + (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

static bool mmsg_expired(uint64_t deadline, struct linux_timespec *left)
{
	uint64_t now = clock_mono_ns(), d = deadline > now ? deadline - now : 0;

	left->tv_sec = (int64_t)(d / 1000000000ull);
	left->tv_nsec = (int64_t)(d % 1000000000ull);
	return d == 0;
}

/* Implements Linux recvmmsg(2). Deviations: as on Linux, the timeout is only checked
 * between datagrams. */
SYSCALL(recvmmsg)
{
	unsigned vlen = MIN((unsigned)ARG(2), (unsigned)LINUX_UIO_MAXIOV), n = 0;
	int flags = IARG(3);
	struct linux_timespec left = {0};
	uint64_t deadline;
	long r = mmsg_deadline(t, ARG(4), &deadline);

	for (; r == 0 && n < vlen; n++) {
		uint64_t uh = ARG(1) + n * sizeof(struct linux_mmsghdr);
		struct linux_mmsghdr mh;
		uint32_t len;

		if (copy_in_all(t, uh, &mh, sizeof(mh)) < 0) {
			r = -EFAULT;
			break;
		}
		if ((r = do_recvmsg(t, IARG(0), &mh.hdr, flags & ~LINUX_MSG_WAITFORONE)) < 0)
			break;
		len = (uint32_t)r;
		r = put_msghdr(t, uh, &mh.hdr) ?: copy_out_all(t, uh + offsetof(struct linux_mmsghdr, len), &len, 4);
		if (r < 0)
			break;
		if (flags & LINUX_MSG_WAITFORONE)
			flags |= LINUX_MSG_DONTWAIT;
		if (deadline && mmsg_expired(deadline, &left)) {
			n++;
			break;
		}
	}
	if (deadline && n && copy_out_all(t, ARG(4), &left, sizeof(left)) < 0)
		return -EFAULT;
	return n ? (long)n : r;
}
