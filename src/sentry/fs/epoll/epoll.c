/*
 * epoll instances: the interest list, EPOLL_CTL_ADD/MOD/DEL, the wake-up callbacks that feed
 * the ready list, and the removal of items when their file goes (Linux semantics: an item
 * belongs to a file description, not to a descriptor number).  Waiting and scanning live in
 * epoll_wait.c; loop checks for nested epolls in epoll_nest.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "epoll_internal.h"

#define EXCLUSIVE_OK (LINUX_POLLIN | LINUX_POLLOUT | LINUX_POLLERR | LINUX_POLLHUP | \
		      LINUX_EPOLLWAKEUP | LINUX_EPOLLET | LINUX_EPOLLEXCLUSIVE)

static void ep_file_release(struct file *f);

static const struct file_ops epoll_file_ops = {
	.poll = ep_file_poll,
	.release = ep_file_release,
};

bool file_is_epoll(const struct file *f)
{
	return f->ops == &epoll_file_ops;
}

struct epoll *file_epoll(const struct file *f)
{
	return file_is_epoll(f) ? f->priv : NULL;
}

void ep_get(struct epoll *ep)
{
	__atomic_add_fetch(&ep->refs, 1, __ATOMIC_RELAXED);
}

void ep_put(struct epoll *ep)
{
	if (__atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL))
		return;
	free(ep->hash);
	pthread_mutex_destroy(&ep->mtx);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

struct file *epoll_file_new(struct task *t)
{
	struct epoll *ep = calloc(1, sizeof(*ep));
	struct file *f;

	if (!ep)
		return ERR_PTR(-ENOMEM);
	ep->refs = 1;
	pthread_mutex_init(&ep->mtx, NULL);
	pthread_mutex_init(&ep->lock, NULL);
	ep->rd.rd_next = ep->rd.rd_prev = &ep->rd;
	waitqueue_init(&ep->wq);
	waitqueue_init(&ep->poll_wq);
	f = anon_file_new(&t->k->vfs, 0600, &epoll_file_ops, O_RDWR, "anon_inode:[eventpoll]", ep);
	if (IS_ERR(f)) {
		ep_put(ep);
		return f;
	}
	ep->file = f;
	return f;
}

/* ---- the ready list ------------------------------------------------------------------- */

void ep_rd_add(struct epoll *ep, struct epitem *epi, bool head)
{
	struct epitem *prev = head ? &ep->rd : ep->rd.rd_prev;

	if (epi->ready)
		return;
	epi->rd_prev = prev;
	epi->rd_next = prev->rd_next;
	prev->rd_next->rd_prev = epi;
	prev->rd_next = epi;
	epi->ready = true;
}

void ep_rd_del(struct epoll *ep, struct epitem *epi)
{
	if (!epi->ready)
		return;
	epi->rd_prev->rd_next = epi->rd_next;
	epi->rd_next->rd_prev = epi->rd_prev;
	epi->rd_next = epi->rd_prev = NULL;
	epi->ready = false;
}

void ep_wake(struct epoll *ep)
{
	waitqueue_wake(&ep->wq, ~0ull);
	waitqueue_wake(&ep->poll_wq, POLL_READABLE);
}

/* Runs under the watched wait queue's lock: marks the item ready and wakes the waiters. */
static void ep_hook_wake(struct waiter *w, uint64_t events)
{
	struct ep_hook *hook = w->priv;
	struct epitem *epi = hook->epi;
	struct epoll *ep = epi->ep;
	uint32_t mask;

	pthread_mutex_lock(&ep->lock);
	mask = epi->events & ~EP_FLAG_BITS;
	if (!mask || !(events & mask)) { /* a disabled one-shot item, or nothing it wants */
		pthread_mutex_unlock(&ep->lock);
		return;
	}
	if (epi->in_tx)
		epi->ovf = true;
	else
		ep_rd_add(ep, epi, false);
	pthread_mutex_unlock(&ep->lock);
	ep_wake(ep);
}

/* ---- the interest list (ep->mtx held) ------------------------------------------------- */

static size_t hslot(const struct epoll *ep, const struct file *f, int fd)
{
	uint64_t h = ((uintptr_t)f >> 4) ^ ((uint64_t)(uint32_t)fd * 0x9e3779b97f4a7c15ull);

	return (size_t)(h ^ (h >> 29)) & (ep->hcap - 1);
}

static struct epitem *ep_find(struct epoll *ep, struct file *f, int fd)
{
	if (!ep->hcap)
		return NULL;
	for (struct epitem *e = ep->hash[hslot(ep, f, fd)]; e; e = e->hash_next)
		if (e->file == f && e->fd == fd)
			return e;
	return NULL;
}

static int ep_hash_insert(struct epoll *ep, struct epitem *epi)
{
	if (ep->nitems >= ep->hcap) {
		size_t ncap = ep->hcap ? ep->hcap * 2 : 16, ocap = ep->hcap;
		struct epitem **old = ep->hash, **nh = calloc(ncap, sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		ep->hash = nh;
		ep->hcap = ncap;
		for (size_t i = 0; i < ocap; i++) {
			for (struct epitem *e = old[i], *next; e; e = next) {
				size_t s = hslot(ep, e->file, e->fd);

				next = e->hash_next;
				e->hash_next = nh[s];
				nh[s] = e;
			}
		}
		free(old);
	}
	size_t s = hslot(ep, epi->file, epi->fd);

	epi->hash_next = ep->hash[s];
	ep->hash[s] = epi;
	ep->nitems++;
	return 0;
}

static void ep_hash_remove(struct epoll *ep, struct epitem *epi)
{
	for (struct epitem **pp = &ep->hash[hslot(ep, epi->file, epi->fd)]; *pp;
	     pp = &(*pp)->hash_next) {
		if (*pp == epi) {
			*pp = epi->hash_next;
			ep->nitems--;
			return;
		}
	}
}

/* The list of items watching f, created on first use. */
static struct epoll_links *links_of(struct file *f)
{
	struct epoll_links *lk = __atomic_load_n(&f->epoll_links, __ATOMIC_ACQUIRE), *none = NULL;

	if (lk)
		return lk;
	if (!(lk = calloc(1, sizeof(*lk))))
		return NULL;
	pthread_mutex_init(&lk->lock, NULL);
	if (!__atomic_compare_exchange_n(&f->epoll_links, &none, lk, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(lk);
		return none;
	}
	return lk;
}

static void links_add(struct epoll_links *lk, struct epitem *epi)
{
	pthread_mutex_lock(&lk->lock);
	epi->fprev = NULL;
	epi->fnext = lk->head;
	if (lk->head)
		lk->head->fprev = epi;
	lk->head = epi;
	pthread_mutex_unlock(&lk->lock);
}

static void links_del(struct epoll_links *lk, struct epitem *epi)
{
	pthread_mutex_lock(&lk->lock);
	if (epi->fprev)
		epi->fprev->fnext = epi->fnext;
	else
		lk->head = epi->fnext;
	if (epi->fnext)
		epi->fnext->fprev = epi->fprev;
	pthread_mutex_unlock(&lk->lock);
}

static void ep_remove(struct epoll *ep, struct epitem *epi)
{
	for (struct ep_hook *h = epi->hooks, *next; h; h = next) {
		next = h->next;
		waitqueue_remove(h->wq, &h->w); /* after this its callback cannot run */
		free(h);
	}
	pthread_mutex_lock(&ep->lock);
	ep_rd_del(ep, epi);
	pthread_mutex_unlock(&ep->lock);
	ep_hash_remove(ep, epi);
	links_del(epi->file->epoll_links, epi);
	free(epi);
}

/* The poll table of an EPOLL_CTL_ADD: hangs a hook on every wait queue the file names. */
struct ep_pqueue {
	struct poll_table pt;
	struct epitem *epi;
	int error;
};

static void ep_ptable_queue(struct poll_table *pt, struct waitqueue *wq)
{
	struct ep_pqueue *pq = container_of(pt, struct ep_pqueue, pt);
	struct ep_hook *h = calloc(1, sizeof(*h));

	if (!h) {
		pq->error = -ENOMEM;
		return;
	}
	h->wq = wq;
	h->epi = pq->epi;
	h->w.callback = ep_hook_wake;
	h->w.priv = h;
	h->next = pq->epi->hooks;
	pq->epi->hooks = h;
	waitqueue_add(wq, &h->w, NULL, ~0ull);
}

static int ep_insert(struct task *t, struct epoll *ep, struct file *f, int fd, uint32_t events,
		     uint64_t data)
{
	struct epoll_links *lk = links_of(f);
	struct epitem *epi = calloc(1, sizeof(*epi));
	struct ep_pqueue pq = {.pt = {.queue = ep_ptable_queue, .events = events, .task = t}};
	unsigned revents;

	if (!lk || !epi) {
		free(epi);
		return -ENOMEM;
	}
	epi->ep = ep;
	epi->file = f;
	epi->fd = fd;
	epi->events = events;
	epi->data = data;
	if (ep_hash_insert(ep, epi) < 0) {
		free(epi);
		return -ENOMEM;
	}
	links_add(lk, epi);
	pq.epi = epi;
	revents = vfs_poll(f, &pq.pt) & events & ~EP_FLAG_BITS;
	if (pq.error) {
		ep_remove(ep, epi);
		return pq.error;
	}
	if (revents) {
		pthread_mutex_lock(&ep->lock);
		ep_rd_add(ep, epi, false);
		pthread_mutex_unlock(&ep->lock);
		ep_wake(ep);
	}
	return 0;
}

static void ep_modify(struct task *t, struct epoll *ep, struct epitem *epi, uint32_t events,
		      uint64_t data)
{
	pthread_mutex_lock(&ep->lock);
	epi->events = events;
	epi->data = data;
	pthread_mutex_unlock(&ep->lock);
	if (ep_item_poll(epi, t, 0)) {
		pthread_mutex_lock(&ep->lock);
		if (!epi->in_tx)
			ep_rd_add(ep, epi, false);
		else
			epi->ovf = true;
		pthread_mutex_unlock(&ep->lock);
		ep_wake(ep);
	}
}

/* Linux's order of checks after the descriptors resolved. */
static int ctl_check(struct file *epf, int op, struct file *target, uint32_t events)
{
	if (!target->ops || !target->ops->poll)
		return -EPERM;
	if (epf == target || !file_is_epoll(epf))
		return -EINVAL;
	if (op != LINUX_EPOLL_CTL_DEL && (events & LINUX_EPOLLEXCLUSIVE)) {
		if (op == LINUX_EPOLL_CTL_MOD)
			return -EINVAL;
		if (file_is_epoll(target) || (events & ~EXCLUSIVE_OK))
			return -EINVAL;
	}
	return 0;
}

int epoll_ctl_file(struct task *t, struct file *epf, int op, int fd, struct file *target,
		   const struct linux_epoll_event *ev)
{
	uint32_t events = op == LINUX_EPOLL_CTL_DEL ? 0 : ev->events;
	struct epoll *ep = file_epoll(epf);
	bool nested = op == LINUX_EPOLL_CTL_ADD && file_is_epoll(target);
	pthread_mutex_t *nest = NULL;
	struct epitem *epi;
	int r;

	if ((r = ctl_check(epf, op, target, events)) < 0)
		return r;
	/* Errors and hang-ups are always reported; wake-up sources do not exist here. */
	events = (events | LINUX_POLLERR | LINUX_POLLHUP) & ~(uint32_t)LINUX_EPOLLWAKEUP;
	if (nested) {
		struct poll_ctx *pc = poll_ctx_of(t->k);

		if (!pc)
			return -ENOMEM;
		nest = poll_ctx_epoll_lock(pc);
		pthread_mutex_lock(nest);
		if ((r = ep_check_nesting(t, ep, file_epoll(target))) < 0) {
			pthread_mutex_unlock(nest);
			return r;
		}
	}
	pthread_mutex_lock(&ep->mtx);
	epi = ep_find(ep, target, fd);
	switch (op) {
	case LINUX_EPOLL_CTL_ADD:
		r = epi ? -EEXIST : ep_insert(t, ep, target, fd, events, ev->data);
		break;
	case LINUX_EPOLL_CTL_MOD:
		if (!epi)
			r = -ENOENT;
		else if (epi->events & LINUX_EPOLLEXCLUSIVE)
			r = -EINVAL;
		else
			ep_modify(t, ep, epi, events, ev->data);
		break;
	case LINUX_EPOLL_CTL_DEL:
		if (!epi)
			r = -ENOENT;
		else
			ep_remove(ep, epi);
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&ep->mtx);
	if (nest)
		pthread_mutex_unlock(nest);
	return r;
}

void epoll_file_release(struct file *f)
{
	struct epoll_links *lk = f->epoll_links;
	struct epoll *own = file_epoll(f);

	for (;;) {
		struct epitem *e;
		struct epoll *ep;

		pthread_mutex_lock(&lk->lock);
		ep = lk->head ? lk->head->ep : NULL;
		if (ep)
			ep_get(ep);
		pthread_mutex_unlock(&lk->lock);
		if (!ep)
			break;
		pthread_mutex_lock(&ep->mtx);
		pthread_mutex_lock(&lk->lock);
		for (e = lk->head; e && e->ep != ep; e = e->fnext)
			;
		pthread_mutex_unlock(&lk->lock);
		if (e)
			ep_remove(ep, e); /* ep->mtx keeps e alive between the two locks */
		pthread_mutex_unlock(&ep->mtx);
		ep_put(ep);
	}
	/* An epoll's own links are read by loop checks under its mtx. */
	if (own)
		pthread_mutex_lock(&own->mtx);
	f->epoll_links = NULL;
	if (own)
		pthread_mutex_unlock(&own->mtx);
	pthread_mutex_destroy(&lk->lock);
	free(lk);
}

static void ep_file_release(struct file *f)
{
	struct epoll *ep = f->priv;

	pthread_mutex_lock(&ep->mtx);
	for (size_t i = 0; i < ep->hcap; i++)
		while (ep->hash[i])
			ep_remove(ep, ep->hash[i]);
	ep->file = NULL;
	pthread_mutex_unlock(&ep->mtx);
	ep_put(ep);
}
