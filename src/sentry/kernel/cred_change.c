/*
 * Changing credentials: the setuid family with Linux's permission rules and the capability
 * side effects of uid changes (capabilities(7), "Effect of user ID changes on capabilities").
 * The task's cred is replaced by a modified copy under kernel->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_internal.h"

#define CAP_CHOWN_ 0
#define CAP_SETGID_ 6
#define CAP_SETUID_ 7
#define CAP_SETPCAP_ 8
/* Capabilities tied to the filesystem uid (cap_fs_mask). */
#define CAP_FS_MASK ((1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4) | \
		     (1ull << 9) | (1ull << 27) | (1ull << 32))
#define NOCHANGE ((uint32_t)-1)

static void install(struct task *t, struct cred *n)
{
	struct cred *old;

	pthread_mutex_lock(&t->k->lock);
	old = t->cred;
	t->cred = n;
	pthread_mutex_unlock(&t->k->lock);
	cred_put(old);
}

/* Capability effects of moving from old uids to n's (capabilities(7)). */
static void fix_caps(const struct cred *old, struct cred *n)
{
	bool was_root = old->uid == 0 || old->euid == 0 || old->suid == 0;
	bool now_root = n->uid == 0 || n->euid == 0 || n->suid == 0;

	if (was_root && !now_root && !n->keep_caps) {
		n->cap_permitted = 0;
		n->cap_effective = 0;
		n->cap_ambient = 0;
	}
	if (old->euid == 0 && n->euid != 0)
		n->cap_effective = 0;
	if (old->euid != 0 && n->euid == 0)
		n->cap_effective = n->cap_permitted;
	if (old->fsuid == 0 && n->fsuid != 0)
		n->cap_effective &= ~CAP_FS_MASK;
	if (old->fsuid != 0 && n->fsuid == 0)
		n->cap_effective |= n->cap_permitted & CAP_FS_MASK;
}

static bool one_of(uint32_t v, uint32_t a, uint32_t b, uint32_t c)
{
	return v == a || v == b || v == c;
}

int cred_setresuid(struct task *t, uint32_t r, uint32_t e, uint32_t s)
{
	const struct cred *c = t->cred;
	bool priv = cred_capable(c, CAP_SETUID_);
	struct cred *n;

	if (!priv && ((r != NOCHANGE && !one_of(r, c->uid, c->euid, c->suid)) ||
		      (e != NOCHANGE && !one_of(e, c->uid, c->euid, c->suid)) ||
		      (s != NOCHANGE && !one_of(s, c->uid, c->euid, c->suid))))
		return -EPERM;
	if (!(n = cred_copy(c)))
		return -ENOMEM;
	if (r != NOCHANGE)
		n->uid = r;
	if (e != NOCHANGE)
		n->euid = e;
	if (s != NOCHANGE)
		n->suid = s;
	n->fsuid = n->euid;
	fix_caps(c, n);
	install(t, n);
	return 0;
}

int cred_setreuid(struct task *t, uint32_t r, uint32_t e)
{
	const struct cred *c = t->cred;
	bool priv = cred_capable(c, CAP_SETUID_);
	uint32_t nr = r != NOCHANGE ? r : c->uid, ne = e != NOCHANGE ? e : c->euid, ns = c->suid;

	if (!priv && ((r != NOCHANGE && r != c->uid && r != c->euid) ||
		      (e != NOCHANGE && !one_of(e, c->uid, c->euid, c->suid))))
		return -EPERM;
	if (r != NOCHANGE || (e != NOCHANGE && e != c->uid))
		ns = ne;
	return cred_setresuid(t, nr, ne, priv ? ns : (one_of(ns, c->uid, c->euid, c->suid) ? ns : c->suid));
}

int cred_setuid(struct task *t, uint32_t uid)
{
	const struct cred *c = t->cred;

	if (cred_capable(c, CAP_SETUID_))
		return cred_setresuid(t, uid, uid, uid);
	if (uid != c->uid && uid != c->suid)
		return -EPERM;
	return cred_setresuid(t, NOCHANGE, uid, NOCHANGE);
}

int cred_setresgid(struct task *t, uint32_t r, uint32_t e, uint32_t s)
{
	const struct cred *c = t->cred;
	bool priv = cred_capable(c, CAP_SETGID_);
	struct cred *n;

	if (!priv && ((r != NOCHANGE && !one_of(r, c->gid, c->egid, c->sgid)) ||
		      (e != NOCHANGE && !one_of(e, c->gid, c->egid, c->sgid)) ||
		      (s != NOCHANGE && !one_of(s, c->gid, c->egid, c->sgid))))
		return -EPERM;
	if (!(n = cred_copy(c)))
		return -ENOMEM;
	if (r != NOCHANGE)
		n->gid = r;
	if (e != NOCHANGE)
		n->egid = e;
	if (s != NOCHANGE)
		n->sgid = s;
	n->fsgid = n->egid;
	install(t, n);
	return 0;
}

int cred_setregid(struct task *t, uint32_t r, uint32_t e)
{
	const struct cred *c = t->cred;
	bool priv = cred_capable(c, CAP_SETGID_);
	uint32_t nr = r != NOCHANGE ? r : c->gid, ne = e != NOCHANGE ? e : c->egid, ns = c->sgid;

	if (!priv && ((r != NOCHANGE && r != c->gid && r != c->egid) ||
		      (e != NOCHANGE && !one_of(e, c->gid, c->egid, c->sgid))))
		return -EPERM;
	if (r != NOCHANGE || (e != NOCHANGE && e != c->gid))
		ns = ne;
	return cred_setresgid(t, nr, ne, priv ? ns : (one_of(ns, c->gid, c->egid, c->sgid) ? ns : c->sgid));
}

int cred_setgid(struct task *t, uint32_t gid)
{
	const struct cred *c = t->cred;

	if (cred_capable(c, CAP_SETGID_))
		return cred_setresgid(t, gid, gid, gid);
	if (gid != c->gid && gid != c->sgid)
		return -EPERM;
	return cred_setresgid(t, NOCHANGE, gid, NOCHANGE);
}

/* setfsuid/setfsgid: return the old value; change only when allowed. */
uint32_t cred_setfsid(struct task *t, uint32_t id, bool group)
{
	const struct cred *c = t->cred;
	uint32_t old = group ? c->fsgid : c->fsuid;
	bool ok = group ? (cred_capable(c, CAP_SETGID_) || one_of(id, c->gid, c->egid, c->sgid) ||
			   id == c->fsgid)
			: (cred_capable(c, CAP_SETUID_) || one_of(id, c->uid, c->euid, c->suid) ||
			   id == c->fsuid);
	struct cred *n;

	if (!ok || id == NOCHANGE || !(n = cred_copy(c)))
		return old;
	if (group)
		n->fsgid = id;
	else
		n->fsuid = id;
	if (!group)
		fix_caps(c, n);
	install(t, n);
	return old;
}

int cred_setgroups(struct task *t, const uint32_t *groups, int n)
{
	struct cred *c;

	if (!cred_capable(t->cred, CAP_SETGID_))
		return -EPERM;
	if (!(c = cred_copy(t->cred)))
		return -ENOMEM;
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
	if (n) {
		c->groups = malloc((size_t)n * sizeof(uint32_t));
		if (!c->groups) {
			cred_put(c);
			return -ENOMEM;
		}
		memcpy(c->groups, groups, (size_t)n * sizeof(uint32_t));
		c->ngroups = n;
	}
	install(t, c);
	return 0;
}

int cred_capset(struct task *t, uint64_t eff, uint64_t perm, uint64_t inh)
{
	const struct cred *c = t->cred;
	struct cred *n;

	/* New inheritable within old inheritable and permitted (bounding with CAP_SETPCAP). */
	if (inh & ~(c->cap_inheritable | (cred_capable(c, CAP_SETPCAP_) ? c->cap_bounding
									 : c->cap_permitted)))
		return -EPERM;
	if (inh & ~(c->cap_inheritable | c->cap_bounding))
		return -EPERM;
	if (perm & ~c->cap_permitted)
		return -EPERM;
	if (eff & ~perm)
		return -EPERM;
	if (!(n = cred_copy(c)))
		return -ENOMEM;
	n->cap_effective = eff;
	n->cap_permitted = perm;
	n->cap_inheritable = inh;
	n->cap_ambient &= perm & inh;
	install(t, n);
	return 0;
}

int cred_update(struct task *t, void (*fn)(struct cred *n, void *arg), void *arg)
{
	struct cred *n = cred_copy(t->cred);

	if (!n)
		return -ENOMEM;
	fn(n, arg);
	install(t, n);
	return 0;
}
