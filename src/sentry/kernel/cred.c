/* Credentials: immutable once shared, replaced by copy on change. */
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/kernel.h"

#define CAP_LAST 40
#define ALL_CAPS ((1ull << (CAP_LAST + 1)) - 1)

struct cred *cred_new_root(void)
{
	struct cred *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->refs = 1;
	c->cap_effective = c->cap_permitted = c->cap_bounding = ALL_CAPS;
	return c;
}

struct cred *cred_copy(const struct cred *c)
{
	struct cred *n = malloc(sizeof(*n));

	if (!n)
		return NULL;
	*n = *c;
	n->refs = 1;
	n->groups = NULL;
	if (c->ngroups) {
		n->groups = malloc((size_t)c->ngroups * sizeof(uint32_t));
		if (!n->groups) {
			free(n);
			return NULL;
		}
		memcpy(n->groups, c->groups, (size_t)c->ngroups * sizeof(uint32_t));
	}
	return n;
}

void cred_get(struct cred *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void cred_put(struct cred *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	free(c->groups);
	free(c);
}

bool cred_capable(const struct cred *c, int cap)
{
	return cap >= 0 && cap <= CAP_LAST && (c->cap_effective & (1ull << cap));
}

bool cred_in_group(const struct cred *c, uint32_t gid)
{
	if (c->fsgid == gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}
