/* futex(2). */
#include "cvisor/sentry/futex.h"
#include "syscalls_internal.h"

#define FUTEX_WAIT_ 0
#define FUTEX_WAKE_ 1
#define FUTEX_REQUEUE_ 3
#define FUTEX_CMP_REQUEUE_ 4
#define FUTEX_WAKE_OP_ 5
#define FUTEX_WAIT_BITSET_ 9
#define FUTEX_WAKE_BITSET_ 10
#define FUTEX_PRIVATE_FLAG_ 128
#define FUTEX_CLOCK_REALTIME_ 256

/* A futex timeout as a CLOCK_MONOTONIC deadline (0 = none). */
static long deadline_of(struct task *t, uint64_t uts, bool absolute, bool realtime, uint64_t *out)
{
	struct linux_timespec ts;
	uint64_t ns;

	*out = 0;
	if (!uts)
		return 0;
	if (copy_in_all(t, uts, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (!absolute)
		*out = clock_mono_ns() + ns;
	else if (realtime)
		*out = clock_mono_ns() + (ns > clock_real_ns() ? ns - clock_real_ns() : 0);
	else
		*out = ns;
	if (!*out)
		*out = 1;
	return 0;
}

/* Implements Linux futex(2). Deviations: PI futexes and FUTEX_WAIT_REQUEUE_PI are ENOSYS. */
SYSCALL(futex)
{
	int op = IARG(1) & ~(FUTEX_PRIVATE_FLAG_ | FUTEX_CLOCK_REALTIME_);
	bool shared = !(IARG(1) & FUTEX_PRIVATE_FLAG_), rt = IARG(1) & FUTEX_CLOCK_REALTIME_;
	uint32_t val = (uint32_t)ARG(2), cmp;
	uint64_t deadline;
	long r;

	switch (op) {
	case FUTEX_WAIT_:
	case FUTEX_WAIT_BITSET_:
		r = deadline_of(t, ARG(3), op == FUTEX_WAIT_BITSET_, rt, &deadline);
		if (r < 0)
			return r;
		return futex_wait(t, ARG(0), shared, val,
				  op == FUTEX_WAIT_ ? FUTEX_BITSET_ANY : (uint32_t)ARG(5), deadline);
	case FUTEX_WAKE_:
	case FUTEX_WAKE_BITSET_:
		return futex_wake(t, ARG(0), shared, (int)MIN(val, 0x7fffffffu),
				  op == FUTEX_WAKE_ ? FUTEX_BITSET_ANY : (uint32_t)ARG(5));
	case FUTEX_REQUEUE_:
		return futex_requeue(t, ARG(0), ARG(4), shared, (int)val, (int)ARG(3), NULL);
	case FUTEX_CMP_REQUEUE_:
		cmp = (uint32_t)ARG(5);
		return futex_requeue(t, ARG(0), ARG(4), shared, (int)val, (int)ARG(3), &cmp);
	case FUTEX_WAKE_OP_:
		return futex_wake_op(t, ARG(0), ARG(4), shared, (int)val, (int)ARG(3),
				     (uint32_t)ARG(5));
	default:
		return -ENOSYS;
	}
}
