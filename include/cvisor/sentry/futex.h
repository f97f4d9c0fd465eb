/*
 * Futexes (src/sentry/kernel/futex.c).  Private futexes are keyed by (mm, address), shared
 * ones by the memory-file offset of the word, so they work across processes.
 */
#ifndef CV_SENTRY_FUTEX_H
#define CV_SENTRY_FUTEX_H

#include <stdbool.h>
#include <stdint.h>

struct task;
struct futex_table;

struct futex_table *futex_table_new(void);
void futex_table_free(struct futex_table *ft);

#define FUTEX_BITSET_ANY 0xffffffffu

/* Sleeps if *addr == val until woken (0), interrupted (-ERESTARTSYS / -EINTR for
 * timeouts), timed out (-ETIMEDOUT, deadline in CLOCK_MONOTONIC ns, 0 = none), or -EAGAIN
 * when the value differs. */
int futex_wait(struct task *t, uint64_t addr, bool shared, uint32_t val, uint32_t bitset,
	       uint64_t deadline_ns);
/* Wakes up to n waiters matching bitset; returns how many. */
int futex_wake(struct task *t, uint64_t addr, bool shared, int n, uint32_t bitset);
/* FUTEX_CMP_REQUEUE (check val unless cmp is NULL) / FUTEX_REQUEUE. */
int futex_requeue(struct task *t, uint64_t addr, uint64_t addr2, bool shared, int nwake,
		  int nrequeue, const uint32_t *cmp);
/* FUTEX_WAKE_OP. */
int futex_wake_op(struct task *t, uint64_t addr, uint64_t addr2, bool shared, int n, int n2,
		  uint32_t op);
/* Exit-time robust list processing and CLONE_CHILD_CLEARTID. */
void futex_exit_robust(struct task *t);

#endif
