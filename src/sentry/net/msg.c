/* Message plumbing shared by the families: iovec cursors, control messages, option values. */
#include <errno.h>
#include <string.h>

#include "cvisor/sentry/task.h"
#include "net_internal.h"

void msg_iter_init(struct msg_iter *it, struct task *t, const struct linux_iovec *iov,
		   size_t nr_segs)
{
	it->t = t;
	it->iov = iov;
	it->nr_segs = nr_segs;
	it->seg = 0;
	it->seg_off = 0;
	it->count = 0;
	for (size_t i = 0; i < nr_segs; i++)
		it->count += iov[i].len;
}

/* The next non-empty piece of the current segment (at most n bytes): its address. */
static uint64_t iter_piece(struct msg_iter *it, size_t n, size_t *plen)
{
	while (it->seg < it->nr_segs && it->seg_off == it->iov[it->seg].len) {
		it->seg++;
		it->seg_off = 0;
	}
	if (it->seg == it->nr_segs) {
		*plen = 0;
		return 0;
	}
	*plen = MIN(n, it->iov[it->seg].len - it->seg_off);
	return it->iov[it->seg].base + it->seg_off;
}

static void iter_advance(struct msg_iter *it, size_t n)
{
	it->seg_off += n;
	it->count -= n;
}

void msg_iter_skip(struct msg_iter *it, size_t n)
{
	while (n) {
		size_t len;

		iter_piece(it, n, &len);
		if (!len)
			break;
		iter_advance(it, len);
		n -= len;
	}
}

ssize_t msg_iter_copy_from(struct msg_iter *it, void *dst, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t len;
		uint64_t src = iter_piece(it, n - done, &len);
		ssize_t r;

		if (!len)
			break;
		if (it->t) {
			r = copy_in(it->t, src, (char *)dst + done, len);
		} else {
			memcpy((char *)dst + done, (const void *)(uintptr_t)src, len);
			r = (ssize_t)len;
		}
		if (r <= 0)
			return done ? (ssize_t)done : -EFAULT;
		iter_advance(it, (size_t)r);
		done += (size_t)r;
		if ((size_t)r < len)
			break;
	}
	return (ssize_t)done;
}

ssize_t msg_iter_copy_to(struct msg_iter *it, const void *src, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t len;
		uint64_t dst = iter_piece(it, n - done, &len);
		ssize_t r;

		if (!len)
			break;
		if (it->t) {
			r = copy_out(it->t, dst, (const char *)src + done, len);
		} else {
			memcpy((void *)(uintptr_t)dst, (const char *)src + done, len);
			r = (ssize_t)len;
		}
		if (r <= 0)
			return done ? (ssize_t)done : -EFAULT;
		iter_advance(it, (size_t)r);
		done += (size_t)r;
		if ((size_t)r < len)
			break;
	}
	return (ssize_t)done;
}

/* ---- control messages ----------------------------------------------------------------------- */

size_t cmsg_put(struct sock_msg *m, size_t *used, int level, int type, const void *data,
		size_t len)
{
	struct linux_cmsghdr h = {.len = LINUX_CMSG_LEN(len), .level = level, .type = type};
	size_t room = m->controllen > *used ? m->controllen - *used : 0;
	uint8_t *p = (uint8_t *)m->control + *used;
	size_t n = len;

	if (!m->control || room < sizeof(h)) {
		m->flags |= LINUX_MSG_CTRUNC;
		return 0;
	}
	if (room < LINUX_CMSG_LEN(len)) {
		m->flags |= LINUX_MSG_CTRUNC;
		n = room - sizeof(h);
		h.len = LINUX_CMSG_LEN(n);
	}
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), data, n);
	*used += MIN(room, LINUX_CMSG_SPACE(n));
	return n;
}

int cmsg_next(struct cmsg_cursor *c, const struct linux_cmsghdr **h, const void **data,
	      size_t *dlen)
{
	const struct linux_cmsghdr *hdr;

	if (c->off + sizeof(*hdr) > c->len)
		return 0;
	hdr = (const struct linux_cmsghdr *)(c->buf + c->off);
	if (hdr->len < sizeof(*hdr) || hdr->len > c->len - c->off)
		return -EINVAL;
	*h = hdr;
	*data = hdr + 1;
	*dlen = hdr->len - sizeof(*hdr);
	c->off += LINUX_CMSG_ALIGN(hdr->len);
	return 1;
}

void net_task_ucred(struct task *t, struct linux_ucred *uc)
{
	uc->pid = t->tg->tgid;
	uc->uid = t->cred->uid;
	uc->gid = t->cred->gid;
}

/* ---- options --------------------------------------------------------------------------------- */

int sockopt_get_int(const void *val, uint32_t len, int *out)
{
	if (len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

int sockopt_put(void *val, uint32_t *len, const void *v, uint32_t size)
{
	if (*len > size)
		*len = size;
	memcpy(val, v, *len);
	return 0;
}

uint64_t net_deadline(uint64_t timeo_ns)
{
	return timeo_ns ? clock_mono_ns() + timeo_ns : 0;
}
