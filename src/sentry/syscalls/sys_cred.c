/* Credentials: the setuid family, groups, capabilities. */
#include <stdlib.h>

#include "syscalls_internal.h"

#define NGROUPS_MAX_ 65536
#define CAP_V1 0x19980330u
#define CAP_V2 0x20071026u
#define CAP_V3 0x20080522u

static uint32_t id_arg(uint64_t v)
{
	return (uint32_t)v;
}

/* Implements Linux setuid(2). */
SYSCALL(setuid) { return cred_setuid(t, id_arg(ARG(0))); }
/* Implements Linux setgid(2). */
SYSCALL(setgid) { return cred_setgid(t, id_arg(ARG(0))); }
/* Implements Linux setreuid(2). */
SYSCALL(setreuid) { return cred_setreuid(t, id_arg(ARG(0)), id_arg(ARG(1))); }
/* Implements Linux setregid(2). */
SYSCALL(setregid) { return cred_setregid(t, id_arg(ARG(0)), id_arg(ARG(1))); }
/* Implements Linux setresuid(2). */
SYSCALL(setresuid) { return cred_setresuid(t, id_arg(ARG(0)), id_arg(ARG(1)), id_arg(ARG(2))); }
/* Implements Linux setresgid(2). */
SYSCALL(setresgid) { return cred_setresgid(t, id_arg(ARG(0)), id_arg(ARG(1)), id_arg(ARG(2))); }
/* Implements Linux setfsuid(2). */
SYSCALL(setfsuid) { return cred_setfsid(t, id_arg(ARG(0)), false); }
/* Implements Linux setfsgid(2). */
SYSCALL(setfsgid) { return cred_setfsid(t, id_arg(ARG(0)), true); }

/* Implements Linux setgroups(2). */
SYSCALL(setgroups)
{
	int n = IARG(0);
	uint32_t *g;
	long r;

	if (n < 0 || n > NGROUPS_MAX_)
		return -EINVAL;
	g = malloc((size_t)(n ? n : 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	r = n ? copy_in_all(t, ARG(1), g, (size_t)n * sizeof(*g)) : 0;
	if (r == 0)
		r = cred_setgroups(t, g, n);
	free(g);
	return r;
}

struct cap_header {
	uint32_t version;
	int32_t pid;
};

struct cap_data {
	uint32_t effective, permitted, inheritable;
};

/* Validates the header; writes back the preferred version on a bad one, as Linux does. */
static long cap_header(struct task *t, uint64_t uh, struct cap_header *h, int *words)
{
	if (copy_in_all(t, uh, h, sizeof(*h)) < 0)
		return -EFAULT;
	if (h->version == CAP_V1) {
		*words = 1;
	} else if (h->version == CAP_V2 || h->version == CAP_V3) {
		*words = 2;
	} else {
		h->version = CAP_V3;
		copy_out_all(t, uh, h, sizeof(*h));
		return -EINVAL;
	}
	return 0;
}

/* Implements Linux capget(2). */
SYSCALL(capget)
{
	struct cap_header h;
	struct cap_data d[2];
	const struct cred *c;
	struct task *target;
	int words;
	long r = cap_header(t, ARG(0), &h, &words);

	if (r < 0)
		return ARG(1) ? r : (r == -EINVAL ? 0 : r);
	if (!ARG(1))
		return 0;
	pthread_mutex_lock(&t->k->lock);
	target = h.pid ? kernel_find_task(t->k, h.pid) : t;
	if (!target) {
		pthread_mutex_unlock(&t->k->lock);
		return -ESRCH;
	}
	c = target->cred;
	for (int i = 0; i < 2; i++) {
		d[i].effective = (uint32_t)(c->cap_effective >> (32 * i));
		d[i].permitted = (uint32_t)(c->cap_permitted >> (32 * i));
		d[i].inheritable = (uint32_t)(c->cap_inheritable >> (32 * i));
	}
	pthread_mutex_unlock(&t->k->lock);
	return copy_out_all(t, ARG(1), d, (size_t)words * sizeof(d[0]));
}

/* Implements Linux capset(2). Deviations: only for the calling thread. */
SYSCALL(capset)
{
	struct cap_header h;
	struct cap_data d[2] = {{0}};
	int words;
	long r = cap_header(t, ARG(0), &h, &words);

	if (r < 0)
		return r;
	if (h.pid && h.pid != t->tid)
		return -EPERM;
	if (copy_in_all(t, ARG(1), d, (size_t)words * sizeof(d[0])) < 0)
		return -EFAULT;
	return cred_capset(t, d[0].effective | ((uint64_t)d[1].effective << 32),
			   d[0].permitted | ((uint64_t)d[1].permitted << 32),
			   d[0].inheritable | ((uint64_t)d[1].inheritable << 32));
}
