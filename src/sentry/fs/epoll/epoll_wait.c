/*
 * epoll_wait: take the ready list, poll each item's file again (its events may be gone),
 * report what is ready, and put level-triggered items back for the next call.  Edge-triggered
 * items come back only through a new wake-up; one-shot items are disabled once reported.
 * An item that gets a wake-up while a scan holds it is put back by that scan (in_tx/ovf),
 * so no edge is lost.  The epoll file's own poll op (for poll, select and nested epolls) says
 * whether some item on the ready list is really ready.
 */
#include <errno.h>
#include <stdlib.h>

#include "cvisor/sentry/task.h"
#include "epoll_internal.h"

unsigned ep_item_poll(struct epitem *epi, struct task *t, int depth)
{
	struct poll_table pt = {.task = t, .depth = depth};
	uint32_t events = __atomic_load_n(&epi->events, __ATOMIC_RELAXED);

	return vfs_poll(epi->file, &pt) & events & ~EP_FLAG_BITS;
}

/* Moves the ready list to tx (ep->lock held). */
static void take_ready(struct epoll *ep, struct epitem *tx)
{
	tx->rd_next = tx->rd_prev = tx;
	while (ep->rd.rd_next != &ep->rd) {
		struct epitem *epi = ep->rd.rd_next;

		ep_rd_del(ep, epi);
		epi->in_tx = true;
		epi->rd_prev = tx->rd_prev;
		epi->rd_next = tx;
		tx->rd_prev->rd_next = epi;
		tx->rd_prev = epi;
	}
}

static struct epitem *tx_pop(struct epitem *tx)
{
	struct epitem *epi = tx->rd_next;

	if (epi == tx)
		return NULL;
	tx->rd_next = epi->rd_next;
	epi->rd_next->rd_prev = tx;
	epi->rd_next = epi->rd_prev = NULL;
	return epi;
}

/* Reports up to max ready items into out (ep->mtx held). */
static int send_events(struct epoll *ep, struct task *t, struct linux_epoll_event *out, int max)
{
	struct epitem tx, *epi;
	int n = 0;

	pthread_mutex_lock(&ep->lock);
	take_ready(ep, &tx);
	pthread_mutex_unlock(&ep->lock);
	while (n < max && (epi = tx_pop(&tx))) {
		unsigned revents = ep_item_poll(epi, t, 0);
		bool again;

		pthread_mutex_lock(&ep->lock);
		again = epi->ovf;
		if (revents) {
			out[n].events = revents;
			out[n].data = epi->data;
			n++;
			if (epi->events & LINUX_EPOLLONESHOT)
				epi->events &= EP_FLAG_BITS;
			else if (!(epi->events & LINUX_EPOLLET))
				again = true;
		}
		epi->in_tx = epi->ovf = false;
		if (again)
			ep_rd_add(ep, epi, false);
		pthread_mutex_unlock(&ep->lock);
	}
	/* What the caller had no room for stays first in line. */
	pthread_mutex_lock(&ep->lock);
	while ((epi = tx.rd_prev) != &tx) {
		tx.rd_prev = epi->rd_prev;
		epi->rd_prev->rd_next = &tx;
		epi->in_tx = epi->ovf = false;
		ep_rd_add(ep, epi, true);
	}
	pthread_mutex_unlock(&ep->lock);
	return n;
}

long epoll_wait_file(struct task *t, struct file *epf, struct linux_epoll_event *out, int max,
		     uint64_t deadline, bool nowait)
{
	struct epoll *ep = file_epoll(epf);
	struct waiter w = {0};
	bool timed_out = false;
	long n;

	if (!ep)
		return -EINVAL;
	waitqueue_add(&ep->wq, &w, t, ~0ull);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_lock(&ep->mtx);
		n = send_events(ep, t, out, max);
		pthread_mutex_unlock(&ep->mtx);
		if (n || nowait || timed_out)
			break;
		switch (task_block(t, seq, deadline)) {
		case -EINTR:
			n = -EINTR;
			goto out;
		case -ETIMEDOUT:
			timed_out = true; /* one last look */
			break;
		}
	}
out:
	waitqueue_remove(&ep->wq, &w);
	return n;
}

unsigned ep_file_poll(struct file *f, struct poll_table *pt)
{
	struct epoll *ep = f->priv;
	int depth = pt ? pt->depth : 0;
	struct epitem *stack[32], **items = stack;
	size_t n = 0, cap = ARRAY_SIZE(stack);
	unsigned mask = 0;

	poll_wait(pt, &ep->poll_wq);
	if (depth > EPOLL_MAX_NESTS)
		return 0; /* never reached with the nesting checks; a guard against recursion */
	pthread_mutex_lock(&ep->mtx);
	pthread_mutex_lock(&ep->lock);
	for (struct epitem *e = ep->rd.rd_next; e != &ep->rd; e = e->rd_next) {
		if (n == cap) {
			struct epitem **more = malloc(2 * cap * sizeof(*more));

			if (!more)
				break;
			for (size_t i = 0; i < n; i++)
				more[i] = items[i];
			if (items != stack)
				free(items);
			items = more;
			cap *= 2;
		}
		items[n++] = e;
	}
	pthread_mutex_unlock(&ep->lock);
	/* Items cannot go away while ep->mtx is held. */
	for (size_t i = 0; i < n && !mask; i++)
		if (ep_item_poll(items[i], poll_task(pt), depth + 1))
			mask = POLL_READABLE;
	pthread_mutex_unlock(&ep->mtx);
	if (items != stack)
		free(items);
	return mask;
}
