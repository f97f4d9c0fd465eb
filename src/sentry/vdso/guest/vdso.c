/*
 * cvisor's vDSO: clock_gettime, gettimeofday, time and getcpu answered in the application
 * from the sentry's published TSC parameters, falling back to a real (trapped) syscall for
 * anything else.  Freestanding: no libc, no TLS, general registers only.
 */
#include <stdint.h>

#include "../vdso_data.h"

struct ts {
	int64_t sec, nsec;
};

struct tv {
	int64_t sec, usec;
};

/* The data page sits just before the image (see vdso.lds). */
extern const volatile struct vdso_data cv_vvar __attribute__((visibility("hidden")));

static inline long sys2(long nr, long a, long b)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

static inline long sys3(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

/* Nanoseconds on clock `which` (0 mono, 1 real, 2 boot); 0 when unavailable. */
static int read_ns(int which, uint64_t *out)
{
	uint32_t seq;
	uint64_t base, tsc, tsc_base, mult;
	uint32_t shift;

	do {
		seq = cv_vvar.seq;
		__asm__ volatile("" ::: "memory");
		if (!cv_vvar.enabled)
			return 0;
		tsc_base = cv_vvar.tsc_base;
		mult = cv_vvar.mult;
		shift = cv_vvar.shift;
		base = which == 0 ? cv_vvar.mono_base : which == 1 ? cv_vvar.real_base : cv_vvar.boot_base;
		tsc = rdtsc_ordered();
		__asm__ volatile("" ::: "memory");
	} while ((seq & 1) || seq != cv_vvar.seq);
	if (tsc < tsc_base)
		tsc = tsc_base;
	*out = base + (uint64_t)(((unsigned __int128)(tsc - tsc_base) * mult) >> shift);
	return 1;
}

static int which_clock(long id)
{
	switch (id) {
	case 0: case 5: case 11: /* REALTIME, REALTIME_COARSE, TAI (no leap offset) */
		return 1;
	case 1: case 4: case 6: /* MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE */
		return 0;
	case 7: /* BOOTTIME */
		return 2;
	default:
		return -1;
	}
}

int __vdso_clock_gettime(long id, struct ts *ts)
{
	int w = which_clock(id);
	uint64_t ns;

	if (w < 0 || !read_ns(w, &ns))
		return (int)sys2(228, id, (long)ts);
	ts->sec = (int64_t)(ns / 1000000000u);
	ts->nsec = (int64_t)(ns % 1000000000u);
	return 0;
}

int __vdso_gettimeofday(struct tv *tv, void *tz)
{
	uint64_t ns;

	if (tz || !read_ns(1, &ns))
		return (int)sys2(96, (long)tv, (long)tz);
	if (tv) {
		tv->sec = (int64_t)(ns / 1000000000u);
		tv->usec = (int64_t)(ns % 1000000000u / 1000u);
	}
	return 0;
}

long __vdso_time(long *t)
{
	uint64_t ns;
	long s;

	if (!read_ns(1, &ns))
		return sys2(201, (long)t, 0);
	s = (long)(ns / 1000000000u);
	if (t)
		*t = s;
	return s;
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	return sys3(309, (long)cpu, (long)node, (long)cache);
}

int clock_gettime(long, struct ts *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct tv *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
