/* prctl(2). */
#include <string.h>

#include "syscalls_internal.h"

#define PR_SET_PDEATHSIG 1
#define PR_GET_PDEATHSIG 2
#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_GET_KEEPCAPS 7
#define PR_SET_KEEPCAPS 8
#define PR_SET_NAME 15
#define PR_GET_NAME 16
#define PR_GET_SECCOMP 21
#define PR_SET_SECCOMP 22
#define PR_CAPBSET_READ 23
#define PR_CAPBSET_DROP 24
#define PR_GET_TIMERSLACK 30
#define PR_SET_TIMERSLACK 29
#define PR_SET_CHILD_SUBREAPER 36
#define PR_GET_CHILD_SUBREAPER 37
#define PR_SET_NO_NEW_PRIVS 38
#define PR_GET_NO_NEW_PRIVS 39
#define PR_GET_TID_ADDRESS 40
#define PR_SET_THP_DISABLE 41
#define PR_GET_THP_DISABLE 42
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define PR_SET_VMA 0x53564d41
#define CAP_LAST_ 40
#define CAP_SETPCAP_ 8

static void set_nnp(struct cred *n, void *arg)
{
	n->no_new_privs = true;
}

static void set_keepcaps(struct cred *n, void *arg)
{
	n->keep_caps = *(bool *)arg;
}

static void drop_bset(struct cred *n, void *arg)
{
	n->cap_bounding &= ~(1ull << *(int *)arg);
}

static void ambient(struct cred *n, void *arg)
{
	const uint64_t *op = arg; /* {op, cap} */

	if (op[0] == PR_CAP_AMBIENT_CLEAR_ALL)
		n->cap_ambient = 0;
	else if (op[0] == PR_CAP_AMBIENT_RAISE)
		n->cap_ambient |= 1ull << op[1];
	else
		n->cap_ambient &= ~(1ull << op[1]);
}

static long cap_ambient(struct task *t, uint64_t op, uint64_t cap)
{
	const struct cred *c = t->cred;
	uint64_t arg[2] = {op, cap};

	if (op == PR_CAP_AMBIENT_CLEAR_ALL)
		return cred_update(t, ambient, arg);
	if (cap > CAP_LAST_)
		return -EINVAL;
	if (op == PR_CAP_AMBIENT_IS_SET)
		return (c->cap_ambient >> cap) & 1;
	if (op == PR_CAP_AMBIENT_RAISE &&
	    (!((c->cap_permitted >> cap) & 1) || !((c->cap_inheritable >> cap) & 1)))
		return -EPERM;
	if (op != PR_CAP_AMBIENT_RAISE && op != PR_CAP_AMBIENT_LOWER)
		return -EINVAL;
	return cred_update(t, ambient, arg);
}

static long set_name(struct task *t, uint64_t uname)
{
	char name[16];
	ssize_t n = mm_copy_in_str(t->mm, uname, name, sizeof(name));

	if (n == -ENAMETOOLONG) {
		if (copy_in_all(t, uname, name, 15) < 0)
			return -EFAULT;
		name[15] = 0;
	} else if (n < 0) {
		return -EFAULT;
	}
	pthread_mutex_lock(&t->k->lock);
	memcpy(t->comm, name, sizeof(t->comm));
	pthread_mutex_unlock(&t->k->lock);
	return 0;
}

/* Implements Linux prctl(2). Deviations: options not listed here return EINVAL; seccomp
 * filters inside the sandbox are not supported (PR_SET_SECCOMP: EINVAL). */
SYSCALL(prctl)
{
	bool b;
	int cap;

	switch (IARG(0)) {
	case PR_SET_NAME:
		return set_name(t, ARG(1));
	case PR_GET_NAME:
		return copy_out_all(t, ARG(1), t->comm, sizeof(t->comm));
	case PR_SET_PDEATHSIG:
		if (ARG(1) > LINUX_NSIG)
			return -EINVAL;
		t->pdeath_signal = IARG(1);
		return 0;
	case PR_GET_PDEATHSIG:
		return copy_out_all(t, ARG(1), &t->pdeath_signal, sizeof(int));
	case PR_GET_DUMPABLE:
		return t->tg->dumpable;
	case PR_SET_DUMPABLE:
		if (ARG(1) > 1)
			return -EINVAL;
		t->tg->dumpable = IARG(1);
		return 0;
	case PR_GET_KEEPCAPS:
		return t->cred->keep_caps;
	case PR_SET_KEEPCAPS:
		if (ARG(1) > 1)
			return -EINVAL;
		b = ARG(1);
		return cred_update(t, set_keepcaps, &b);
	case PR_SET_CHILD_SUBREAPER:
		t->tg->subreaper = ARG(1) != 0;
		return 0;
	case PR_GET_CHILD_SUBREAPER: {
		int v = t->tg->subreaper;

		return copy_out_all(t, ARG(1), &v, sizeof(v));
	}
	case PR_SET_NO_NEW_PRIVS:
		if (ARG(1) != 1 || ARG(2) || ARG(3) || ARG(4))
			return -EINVAL;
		return cred_update(t, set_nnp, NULL);
	case PR_GET_NO_NEW_PRIVS:
		return t->cred->no_new_privs;
	case PR_CAPBSET_READ:
		return ARG(1) > CAP_LAST_ ? -EINVAL : (long)((t->cred->cap_bounding >> ARG(1)) & 1);
	case PR_CAPBSET_DROP:
		if (ARG(1) > CAP_LAST_)
			return -EINVAL;
		if (!cred_capable(t->cred, CAP_SETPCAP_))
			return -EPERM;
		cap = IARG(1);
		return cred_update(t, drop_bset, &cap);
	case PR_CAP_AMBIENT:
		return cap_ambient(t, ARG(1), ARG(2));
	case PR_GET_SECCOMP:
		return 0;
	case PR_GET_TIMERSLACK:
		return 50000;
	case PR_SET_TIMERSLACK:
		return 0;
	case PR_GET_TID_ADDRESS:
		return copy_out_all(t, ARG(1), &t->clear_child_tid, 8);
	case PR_GET_THP_DISABLE:
		return 0;
	default:
		return -EINVAL;
	}
}
