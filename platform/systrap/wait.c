/*
 * The sentry's side of the sequence-word handoff (the stub's is in blob/handler.c): a counter
 * in steps of 2 whose bit 0 (SEQ_SLEEP) says the reader sleeps in FUTEX_WAIT.  Waits spin for
 * a bounded time first: a cross-CPU wakeup costs 25-50 us on our machines, a spinning handoff
 * half a microsecond.  Every word here is in memory the application can write, so a wait may
 * end early or late, never wrongly: callers validate what they read next.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "systrap_internal.h"

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

bool systrap_seq_post(uint32_t *w)
{
	uint32_t old = __atomic_load_n(w, __ATOMIC_RELAXED);

	if (!(__atomic_exchange_n(w, (old & ~SEQ_SLEEP) + 2, __ATOMIC_SEQ_CST) & SEQ_SLEEP))
		return false;
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
	return true;
}

/* The CPU we run on (Linux keeps it in TSC_AUX). */
uint32_t systrap_cpu_now(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return aux & 0xfff;
}

int64_t systrap_seq_wait(struct systrap_platform *sp, uint32_t *w, uint32_t seen, uint64_t spin,
			 const uint32_t *peer_cpu, uint32_t me, int64_t timeout_ns)
{
	uint64_t t0 = rdtsc();
	struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
	uint32_t v, exp;

	uint64_t now, yielded = t0;

	for (;;) {
		v = __atomic_load_n(w, __ATOMIC_ACQUIRE) & ~SEQ_SLEEP;
		if (v != seen)
			return v;
		now = rdtsc();
		if (now - t0 >= spin)
			break;
		if (now - yielded >= sp->yield_cycles ||
		    (peer_cpu && __atomic_load_n(peer_cpu, __ATOMIC_RELAXED) == me)) {
			/* The peer may be waiting for this very CPU: let it run. */
			syscall(SYS_sched_yield);
			yielded = rdtsc();
		} else {
			cpu_relax();
		}
	}
	exp = seen;
	if (__atomic_compare_exchange_n(w, &exp, seen | SEQ_SLEEP, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST) ||
	    exp == (seen | SEQ_SLEEP)) {
		if (syscall(SYS_futex, w, FUTEX_WAIT, seen | SEQ_SLEEP, &ts, NULL, 0) < 0 &&
		    errno == ETIMEDOUT)
			return -ETIMEDOUT;
		v = __atomic_load_n(w, __ATOMIC_ACQUIRE) & ~SEQ_SLEEP;
		return v != seen ? (int64_t)v : -EAGAIN;
	}
	return exp & ~SEQ_SLEEP;
}

bool systrap_stub_alive(pid_t pid)
{
	siginfo_t si;

	si.si_pid = 0;
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return errno == EINTR;
	return si.si_pid != pid;
}
