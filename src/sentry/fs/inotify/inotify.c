/*
 * inotify: an fsnotify group (include/cvisor/sentry/fsnotify.h) whose watches queue events for
 * read(2) as struct inotify_event records, as Linux's fs/notify/inotify does: an event equal
 * to the last one queued is merged into it, a full queue ends with one IN_Q_OVERFLOW, a removed
 * watch reports IN_IGNORED, watch descriptors count up from 1 and are not reused before they
 * wrap.
 *
 * Lock order: the registry lock (fsnotify_lock) before in->lock, before in->wq's lock.  The
 * watch list, next_wd and closing are under the registry lock; the queue under in->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/abi/linux/inotify.h"
#include "cvisor/err.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/fsnotify.h"
#include "cvisor/sentry/poll.h"
#include "cvisor/sentry/task.h"

#define FIONREAD_ 0x541b

STATIC_ASSERT(FS_EVENTS == LINUX_IN_ALL_EVENTS && FS_ISDIR == LINUX_IN_ISDIR);
STATIC_ASSERT(FS_IN_IGNORED == LINUX_IN_IGNORED && FS_Q_OVERFLOW == LINUX_IN_Q_OVERFLOW);
STATIC_ASSERT(FS_DELETE_SELF == LINUX_IN_DELETE_SELF && FS_MOVE_SELF == LINUX_IN_MOVE_SELF);

struct inotify_entry {
	struct inotify_entry *next;
	int32_t wd;
	uint32_t mask, cookie;
	uint32_t name_len; /* without the NUL */
	char name[];
};

struct inotify;

struct inotify_watch {
	struct fsnotify_mark mark;
	struct inotify *in;
	int wd;
	struct inotify_watch *next; /* in in->watches */
};

struct inotify {
	struct vfs *vfs;
	uint32_t uid; /* charged with the instance and its watches */
	pthread_mutex_t lock;
	struct inotify_entry *head, *tail;
	int qlen;                       /* queued entries, the overflow one included */
	size_t bytes;                   /* what reading them all returns (FIONREAD) */
	struct inotify_entry *overflow; /* the IN_Q_OVERFLOW entry, queued at most once */
	bool overflow_queued;
	struct waitqueue wq;
	/* Under the registry lock: */
	struct inotify_watch *watches;
	int next_wd;
	bool wrapped; /* next_wd went past INT_MAX: a wd may be in use */
	bool closing;
};

static const struct file_ops inotify_ops;

/* The size of e's record: the name is NUL-padded to a multiple of the header's size. */
static size_t entry_size(const struct inotify_entry *e)
{
	size_t hdr = sizeof(struct linux_inotify_event);

	return hdr + (e->name_len ? ALIGN_UP(e->name_len + 1, hdr) : 0);
}

/* Linux's inotify_merge: the same event as the last one queued adds nothing. */
static bool same_event(const struct inotify_entry *old, const struct inotify_entry *e)
{
	if (old->mask & FS_IN_IGNORED)
		return false;
	return old->mask == e->mask && old->wd == e->wd && old->name_len == e->name_len &&
	       !memcmp(old->name, e->name, e->name_len);
}

/* Linux's fsnotify_insert_event (in->lock held): takes e, NULL when it could not be
 * allocated (reported as an overflow, as Linux does). */
static void enqueue_locked(struct inotify *in, struct inotify_entry *e)
{
	if (!e || in->qlen >= INOTIFY_MAX_QUEUED_EVENTS) {
		free(e);
		if (in->overflow_queued)
			return;
		e = in->overflow;
		in->overflow_queued = true;
	} else if (in->tail && same_event(in->tail, e)) {
		free(e);
		return;
	}
	e->next = NULL;
	if (in->tail)
		in->tail->next = e;
	else
		in->head = e;
	in->tail = e;
	in->qlen++;
	in->bytes += entry_size(e);
}

static void queue_event(struct inotify *in, int wd, uint32_t mask, const char *name,
			uint32_t cookie)
{
	size_t len = name ? strlen(name) : 0;
	struct inotify_entry *e = malloc(sizeof(*e) + len + 1);

	if (e) {
		e->wd = wd;
		e->mask = mask;
		e->cookie = cookie;
		e->name_len = (uint32_t)len;
		memcpy(e->name, name ? name : "", len + 1);
	}
	pthread_mutex_lock(&in->lock);
	enqueue_locked(in, e);
	pthread_mutex_unlock(&in->lock);
	waitqueue_wake(&in->wq, POLL_READABLE);
}

/* ---- watches (the fsnotify side) ----------------------------------------------------------- */

static void watch_event(struct fsnotify_mark *m, uint32_t mask, const char *name, uint32_t cookie)
{
	struct inotify_watch *w = container_of(m, struct inotify_watch, mark);

	/* inotify never reported IN_ISDIR with these, and Linux keeps it so. */
	if (mask & (FS_MOVE_SELF | FS_DELETE_SELF))
		mask &= ~FS_ISDIR;
	queue_event(w->in, w->wd, mask, name, cookie);
}

static void watch_detached(struct fsnotify_mark *m)
{
	struct inotify_watch *w = container_of(m, struct inotify_watch, mark);
	struct inotify *in = w->in;

	for (struct inotify_watch **pp = &in->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	if (!in->closing)
		queue_event(in, w->wd, FS_IN_IGNORED, NULL, 0);
	fsnotify_uncharge(in->vfs, in->uid, FSNOTIFY_COUNT_MARKS);
	free(w);
}

static const struct fsnotify_group_ops inotify_group_ops = {
	.event = watch_event,
	.detached = watch_detached,
};

static struct inotify_watch *find_wd(struct inotify *in, int wd)
{
	for (struct inotify_watch *w = in->watches; w; w = w->next)
		if (w->wd == wd)
			return w;
	return NULL;
}

/* The next watch descriptor, cyclically from 1 (Linux's idr_alloc_cyclic). */
static int alloc_wd(struct inotify *in)
{
	for (;;) {
		int wd = in->next_wd;

		if (wd == INT_MAX) {
			in->next_wd = 1;
			in->wrapped = true;
		} else {
			in->next_wd = wd + 1;
		}
		if (!in->wrapped || !find_wd(in, wd))
			return wd;
	}
}

static unsigned mark_flags(uint32_t arg)
{
	return ((arg & LINUX_IN_ONESHOT) ? FSNOTIFY_MARK_ONESHOT : 0) |
	       ((arg & LINUX_IN_EXCL_UNLINK) ? FSNOTIFY_MARK_EXCL_UNLINK : 0);
}

static int new_watch(struct inotify *in, struct inode *ino, uint32_t arg)
{
	struct inotify_watch *w;

	if (!fsnotify_charge(in->vfs, in->uid, FSNOTIFY_COUNT_MARKS, INOTIFY_MAX_USER_WATCHES))
		return -ENOSPC;
	if (!(w = calloc(1, sizeof(*w)))) {
		fsnotify_uncharge(in->vfs, in->uid, FSNOTIFY_COUNT_MARKS);
		return -ENOMEM;
	}
	w->in = in;
	w->wd = alloc_wd(in);
	w->mark.ops = &inotify_group_ops;
	w->mark.group = in;
	w->mark.mask = arg & FS_EVENTS;
	w->mark.flags = mark_flags(arg);
	fsnotify_add_mark(in->vfs, &w->mark, ino);
	w->next = in->watches;
	in->watches = w;
	return w->wd;
}

int inotify_watch_add(struct file *f, struct inode *ino, uint32_t arg)
{
	struct inotify *in = f->priv;
	struct fsnotify_mark *m;
	int r;

	if (f->ops != &inotify_ops)
		return -EINVAL;
	fsnotify_lock(in->vfs);
	m = fsnotify_find_mark(in->vfs, in, ino);
	if (!m) {
		r = new_watch(in, ino, arg);
	} else if (arg & LINUX_IN_MASK_CREATE) {
		r = -EEXIST;
	} else {
		if (!(arg & LINUX_IN_MASK_ADD)) {
			m->mask = 0;
			m->flags = 0;
		}
		m->mask |= arg & FS_EVENTS;
		m->flags |= mark_flags(arg);
		r = container_of(m, struct inotify_watch, mark)->wd;
	}
	fsnotify_unlock(in->vfs);
	return r;
}

bool file_is_inotify(const struct file *f)
{
	return f->ops == &inotify_ops;
}

int inotify_watch_rm(struct file *f, int wd)
{
	struct inotify *in = f->priv;
	struct inotify_watch *w;

	if (f->ops != &inotify_ops)
		return -EINVAL;
	fsnotify_lock(in->vfs);
	if ((w = find_wd(in, wd)))
		fsnotify_remove_mark(in->vfs, &w->mark);
	fsnotify_unlock(in->vfs);
	return w ? 0 : -EINVAL;
}

/* ---- the file -------------------------------------------------------------------------------- */

struct read_op {
	struct inotify *in;
	char *buf;
	size_t n;
};

/* Linux's inotify_read: whole records while they fit; -EINVAL when the first does not. */
static long try_read(void *arg)
{
	struct read_op *op = arg;
	struct inotify *in = op->in;
	struct inotify_entry *e;
	size_t done = 0;

	pthread_mutex_lock(&in->lock);
	if (!in->head) {
		pthread_mutex_unlock(&in->lock);
		return -EAGAIN;
	}
	while ((e = in->head) && entry_size(e) <= op->n - done) {
		struct linux_inotify_event ev = {
			.wd = e->wd, .mask = e->mask, .cookie = e->cookie, .len = 0};
		size_t size = entry_size(e);

		ev.len = (uint32_t)(size - sizeof(ev));
		memcpy(op->buf + done, &ev, sizeof(ev));
		memset(op->buf + done + sizeof(ev), 0, ev.len);
		memcpy(op->buf + done + sizeof(ev), e->name, e->name_len);
		done += size;
		if (!(in->head = e->next))
			in->tail = NULL;
		in->qlen--;
		in->bytes -= size;
		if (e == in->overflow)
			in->overflow_queued = false;
		else
			free(e);
	}
	pthread_mutex_unlock(&in->lock);
	return done ? (long)done : -EINVAL;
}

static ssize_t inotify_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	struct read_op op = {.in = f->priv, .buf = buf, .n = n};

	if (!t || (f->flags & O_NONBLOCK))
		return try_read(&op);
	return wait_event(t, &op.in->wq, POLL_READABLE, false, try_read, &op);
}

static unsigned inotify_poll(struct file *f, struct poll_table *pt)
{
	struct inotify *in = f->priv;
	unsigned mask;

	poll_wait(pt, &in->wq);
	pthread_mutex_lock(&in->lock);
	mask = in->head ? POLL_READABLE : 0;
	pthread_mutex_unlock(&in->lock);
	return mask;
}

static long inotify_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	struct inotify *in = f->priv;
	int n;

	if (cmd != FIONREAD_)
		return -ENOTTY;
	pthread_mutex_lock(&in->lock);
	n = (int)MIN(in->bytes, (size_t)INT_MAX);
	pthread_mutex_unlock(&in->lock);
	return copy_out_all(t, arg, &n, sizeof(n));
}

static void inotify_free(struct inotify *in)
{
	struct inotify_entry *e, *next;

	for (e = in->head; e; e = next) {
		next = e->next;
		if (e != in->overflow)
			free(e);
	}
	free(in->overflow);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

static void inotify_release(struct file *f)
{
	struct inotify *in = f->priv;

	fsnotify_lock(in->vfs);
	in->closing = true;
	while (in->watches)
		fsnotify_remove_mark(in->vfs, &in->watches->mark);
	fsnotify_uncharge(in->vfs, in->uid, FSNOTIFY_COUNT_GROUPS);
	fsnotify_unlock(in->vfs);
	inotify_free(in);
}

static const struct file_ops inotify_ops = {
	.read = inotify_read,
	.poll = inotify_poll,
	.ioctl = inotify_ioctl,
	.release = inotify_release,
};

struct file *inotify_file_new(struct vfs *vfs, uint32_t uid, unsigned flags)
{
	struct inotify *in;
	struct file *f;
	bool charged;

	if (fsnotify_init(vfs) < 0)
		return ERR_PTR(-ENOMEM);
	fsnotify_lock(vfs);
	charged = fsnotify_charge(vfs, uid, FSNOTIFY_COUNT_GROUPS, INOTIFY_MAX_USER_INSTANCES);
	fsnotify_unlock(vfs);
	if (!charged)
		return ERR_PTR(-EMFILE);
	in = calloc(1, sizeof(*in));
	if (in && !(in->overflow = calloc(1, sizeof(*in->overflow) + 1))) {
		free(in);
		in = NULL;
	}
	if (!in) {
		f = ERR_PTR(-ENOMEM);
		goto uncharge;
	}
	in->vfs = vfs;
	in->uid = uid;
	in->next_wd = 1;
	in->overflow->wd = -1;
	in->overflow->mask = FS_Q_OVERFLOW;
	pthread_mutex_init(&in->lock, NULL);
	waitqueue_init(&in->wq);
	f = anon_file_new(vfs, 0600, &inotify_ops, O_RDONLY | (flags & O_NONBLOCK),
			  "anon_inode:inotify", in);
	if (!IS_ERR(f))
		return f;
	inotify_free(in);
uncharge:
	fsnotify_lock(vfs);
	fsnotify_uncharge(vfs, uid, FSNOTIFY_COUNT_GROUPS);
	fsnotify_unlock(vfs);
	return f;
}
