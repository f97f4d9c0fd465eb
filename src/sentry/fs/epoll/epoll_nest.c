/*
 * Loop checks for epolls watching epolls.  Insertions of an epoll into another are
 * serialised by one lock per sandbox, so the graph only changes under the checker; each check
 * walks down from the target (looking for the epoll being added to) and up from that epoll
 * (through its file's watchers), memoising heights per walk so shared sub-graphs are visited
 * once.  As in Linux, a chain may hold at most EPOLL_MAX_NESTS + 1 epoll instances.
 */
#include <errno.h>
#include <stdlib.h>

#include "cvisor/sentry/task.h"
#include "epoll_internal.h"

#define CHAIN_MAX (EPOLL_MAX_NESTS + 1)

struct ep_vec {
	struct epoll **v;
	size_t n, cap;
};

static int vec_push(struct ep_vec *vec, struct epoll *ep)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 8;
		struct epoll **v = realloc(vec->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		vec->v = v;
		vec->cap = cap;
	}
	ep_get(ep);
	vec->v[vec->n++] = ep;
	return 0;
}

static void vec_put(struct ep_vec *vec)
{
	for (size_t i = 0; i < vec->n; i++)
		ep_put(vec->v[i]);
	free(vec->v);
}

/* The epolls ep watches (new references). */
static int children(struct epoll *ep, struct ep_vec *out)
{
	int r = 0;

	pthread_mutex_lock(&ep->mtx);
	for (size_t i = 0; i < ep->hcap && !r; i++) {
		for (struct epitem *e = ep->hash[i]; e && !r; e = e->hash_next) {
			struct epoll *c = file_epoll(e->file);

			if (c)
				r = vec_push(out, c);
		}
	}
	pthread_mutex_unlock(&ep->mtx);
	return r;
}

/* The epolls watching ep (new references). */
static int parents(struct epoll *ep, struct ep_vec *out)
{
	struct epoll_links *lk;
	int r = 0;

	pthread_mutex_lock(&ep->mtx);
	if (ep->file && (lk = ep->file->epoll_links)) {
		pthread_mutex_lock(&lk->lock);
		for (struct epitem *e = lk->head; e && !r; e = e->fnext)
			r = vec_push(out, e->ep);
		pthread_mutex_unlock(&lk->lock);
	}
	pthread_mutex_unlock(&ep->mtx);
	return r;
}

/* Instances in the longest chain from cur down (cur included); -ELOOP if it reaches
 * forbidden or is too long. */
static int height_down(struct epoll *cur, struct epoll *forbidden, uint64_t gen, int level)
{
	struct ep_vec kids = {0};
	int best = 1, r;

	if (cur == forbidden || level > CHAIN_MAX)
		return -ELOOP;
	if (cur->down_gen == gen)
		return cur->down ? cur->down : -ELOOP; /* 0: still being walked, a cycle */
	cur->down_gen = gen;
	cur->down = 0;
	r = children(cur, &kids);
	for (size_t i = 0; i < kids.n && r >= 0; i++) {
		r = height_down(kids.v[i], forbidden, gen, level + 1);
		best = MAX(best, r + 1);
	}
	vec_put(&kids);
	if (r < 0)
		return r;
	return cur->down = best;
}

/* Instances in the longest chain from cur up (cur included); -ELOOP when too long. */
static int height_up(struct epoll *cur, uint64_t gen, int level)
{
	struct ep_vec ups = {0};
	int best = 1, r;

	if (level > CHAIN_MAX)
		return -ELOOP;
	if (cur->up_gen == gen)
		return cur->up ? cur->up : -ELOOP;
	cur->up_gen = gen;
	cur->up = 0;
	r = parents(cur, &ups);
	for (size_t i = 0; i < ups.n && r >= 0; i++) {
		r = height_up(ups.v[i], gen, level + 1);
		best = MAX(best, r + 1);
	}
	vec_put(&ups);
	if (r < 0)
		return r;
	return cur->up = best;
}

int ep_check_nesting(struct task *t, struct epoll *ep, struct epoll *target)
{
	struct poll_ctx *pc = poll_ctx_of(t->k);
	uint64_t gen;
	int down, up;

	if (!pc)
		return -ENOMEM;
	gen = poll_ctx_epoll_walk(pc);
	if ((down = height_down(target, ep, gen, 1)) < 0)
		return down;
	if ((up = height_up(ep, gen, 1)) < 0)
		return up;
	return down + up > CHAIN_MAX ? -ELOOP : 0;
}
