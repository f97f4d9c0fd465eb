/*
 * The page the sentry shares with its vDSO (mapped read-only, one page before the vDSO
 * image): TSC-to-nanosecond parameters under a sequence counter.  Used by guest/vdso.c and
 * src/sentry/vdso/vdso.c; not part of Linux's ABI.
 */
#ifndef CV_SENTRY_VDSO_DATA_H
#define CV_SENTRY_VDSO_DATA_H

#include <stdint.h>

struct vdso_data {
	uint32_t seq;       /* odd while the sentry rewrites the parameters */
	uint32_t enabled;   /* 0: every call falls back to the syscall */
	uint64_t tsc_base;  /* TSC value at which the bases were taken */
	uint64_t mono_base; /* CLOCK_MONOTONIC ns at tsc_base */
	uint64_t real_base; /* CLOCK_REALTIME ns at tsc_base */
	uint64_t boot_base; /* CLOCK_BOOTTIME ns at tsc_base */
	uint64_t mult;      /* ns = (tsc - tsc_base) * mult >> shift */
	uint32_t shift;
	uint32_t pad;
};

#endif
