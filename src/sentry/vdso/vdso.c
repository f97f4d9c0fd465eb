/*
 * The vDSO and its data page.  The page publishes (tsc_base, clock bases, mult, shift) from
 * the sentry's start (a rate measured over 250 µs, refined 50 ms later); a kernel timer then
 * re-samples the host clocks every second and adjusts the rate so the vDSO's
 * clocks track the host's without ever stepping backwards (the error is slewed away over the
 * next period, unless it is large: then the clock is re-based).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/ktimer.h"
#include "cvisor/sentry/vdso.h"
#include "vdso_data.h"

#define SHIFT 32
#define INITIAL_WINDOW_NS 250000ull
#define FIRST_CALIBRATION_NS 50000000ull
#define PERIOD_NS 1000000000ull
#define MAX_SLEW_NS 10000000ll /* larger errors re-base instead of slewing */

extern const uint8_t cv_vdso_image[], cv_vdso_image_end[];

/* A fixed run of memory-file pages as a mapping object (the data page, the image). */
struct fixed_obj {
	struct mem_object obj;
	struct memfile *mf;
	uint64_t off;
	size_t npages;
};

struct sample {
	uint64_t tsc, mono, real, boot;
};

struct vdso {
	struct fixed_obj data, image;
	struct vdso_data *vd; /* the sentry's view of the data page */
	struct ktimer kt;
	struct sample last;
};

static int fixed_get_page(struct mem_object *o, uint64_t pgoff, bool write, uint64_t *off)
{
	struct fixed_obj *f = container_of(o, struct fixed_obj, obj);

	if (pgoff >= f->npages)
		return -EIO;
	*off = f->off + pgoff * PAGE_SIZE;
	memfile_get(f->mf, *off, 1);
	return 0;
}

static uint64_t fixed_size(struct mem_object *o)
{
	return container_of(o, struct fixed_obj, obj)->npages * PAGE_SIZE;
}

static void fixed_ref(struct mem_object *o)
{
	/* Lives as long as the kernel. */
}

static const struct mem_object_ops fixed_ops = {
	.get_page = fixed_get_page,
	.size = fixed_size,
	.get = fixed_ref,
	.put = fixed_ref,
};

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t host_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sample take_sample(void)
{
	struct sample s;
	uint64_t t0 = rdtsc();

	s.mono = host_ns(CLOCK_MONOTONIC);
	s.tsc = t0 + (rdtsc() - t0) / 2;
	s.real = host_ns(CLOCK_REALTIME);
	s.boot = host_ns(CLOCK_BOOTTIME);
	return s;
}

static void publish(struct vdso_data *vd, const struct vdso_data *nv)
{
	__atomic_store_n(&vd->seq, vd->seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vd->tsc_base = nv->tsc_base;
	vd->mono_base = nv->mono_base;
	vd->real_base = nv->real_base;
	vd->boot_base = nv->boot_base;
	vd->mult = nv->mult;
	vd->shift = nv->shift;
	vd->enabled = nv->enabled;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&vd->seq, vd->seq + 1, __ATOMIC_RELEASE);
}

/* The next parameters from a new sample: continuous at s.tsc, slewing toward the host. */
static void next_params(struct vdso *v, const struct sample *s, struct vdso_data *nv)
{
	const struct vdso_data *cur = v->vd;
	uint64_t dtsc = s->tsc - v->last.tsc, dns = s->mono - v->last.mono;
	uint64_t rate = dtsc ? (uint64_t)(((unsigned __int128)dns << SHIFT) / dtsc) : cur->mult;
	uint64_t pred = cur->mono_base +
			(uint64_t)(((unsigned __int128)(s->tsc - cur->tsc_base) * cur->mult) >> SHIFT);
	int64_t err = (int64_t)(s->mono - pred);

	*nv = *cur;
	nv->tsc_base = s->tsc;
	nv->shift = SHIFT;
	nv->enabled = dtsc != 0;
	if (!cur->enabled || err > MAX_SLEW_NS || err < -MAX_SLEW_NS) {
		nv->mono_base = s->mono; /* first calibration, or a jump too big to slew */
		nv->mult = rate;
	} else {
		int64_t adj = (int64_t)(((__int128)err << SHIFT) / (__int128)(dtsc ? dtsc : 1));

		nv->mono_base = pred;
		nv->mult = (uint64_t)((int64_t)rate + MAX(MIN(adj, (int64_t)(rate / 1000)),
							  -(int64_t)(rate / 1000)));
	}
	nv->real_base = nv->mono_base + (s->real - s->mono);
	nv->boot_base = nv->mono_base + (s->boot - s->mono);
}

static void recalibrate(struct ktimer *kt)
{
	struct vdso *v = kt->priv;
	struct sample s = take_sample();
	struct vdso_data nv;

	next_params(v, &s, &nv);
	publish(v->vd, &nv);
	v->last = s;
}

/*
 * A first rate from two samples INITIAL_WINDOW_NS apart, published at once: a program's
 * start (the dynamic loader, an interpreter's imports) then reads the clocks without a trap.
 * The window's error (tens of ns in 250 µs, 1e-4) is slewed away at the first calibration.
 */
static void calibrate_now(struct vdso *v)
{
	struct sample s;
	struct vdso_data nv;

	v->last = take_sample();
	while (host_ns(CLOCK_MONOTONIC) - v->last.mono < INITIAL_WINDOW_NS)
		__asm__ volatile("pause");
	s = take_sample();
	next_params(v, &s, &nv);
	publish(v->vd, &nv);
	v->last = s;
}

static int alloc_fixed(struct memfile *mf, struct fixed_obj *f, size_t npages)
{
	size_t got;
	int64_t off = memfile_alloc(mf, npages, &got);

	if (off < 0)
		return (int)off;
	if (got != npages) {
		memfile_put(mf, (uint64_t)off, got);
		return -ENOMEM;
	}
	f->obj.ops = &fixed_ops;
	f->mf = mf;
	f->off = (uint64_t)off;
	f->npages = npages;
	return 0;
}

int vdso_init(struct kernel *k)
{
	size_t len = (size_t)(cv_vdso_image_end - cv_vdso_image);
	struct vdso *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	if ((r = alloc_fixed(&k->mf, &v->data, 1)) < 0 ||
	    (r = alloc_fixed(&k->mf, &v->image, ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE)) < 0) {
		free(v);
		return r;
	}
	memcpy(memfile_ptr(&k->mf, v->image.off), cv_vdso_image, len);
	v->vd = memfile_ptr(&k->mf, v->data.off);
	calibrate_now(v);
	ktimer_init(&v->kt, recalibrate, v);
	ktimer_arm(k, &v->kt, clock_mono_ns() + FIRST_CALIBRATION_NS, PERIOD_NS);
	k->vdso = v;
	return 0;
}

void vdso_fini(struct kernel *k)
{
	if (!k->vdso)
		return;
	ktimer_cancel(k, &k->vdso->kt);
	free(k->vdso);
	k->vdso = NULL;
}

int vdso_map(struct kernel *k, struct mm *mm)
{
	struct vdso *v = k->vdso;
	uint64_t total = (1 + v->image.npages) * PAGE_SIZE;
	struct mm_map_req reserve = {.len = total, .prot = PROT_NONE};
	int64_t base;

	if (!v)
		return 0;
	base = mm_map(mm, &reserve);
	if (base < 0)
		return (int)base;
	struct mm_map_req data = {
		.addr = (uint64_t)base, .len = PAGE_SIZE, .prot = PROT_READ, .max_prot = PROT_READ,
		.flags = MM_FIXED | MM_SHARED, .vma_flags = VMA_VVAR, .obj = &v->data.obj,
	};
	struct mm_map_req image = {
		.addr = (uint64_t)base + PAGE_SIZE, .len = total - PAGE_SIZE,
		.prot = PROT_READ | PROT_EXEC, .flags = MM_FIXED, .vma_flags = VMA_VDSO,
		.obj = &v->image.obj,
	};
	int64_t r = mm_map(mm, &data);

	if (r >= 0)
		r = mm_map(mm, &image);
	if (r < 0)
		return (int)r;
	mm->vdso_base = (uint64_t)base + PAGE_SIZE;
	return 0;
}
