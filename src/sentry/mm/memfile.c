/*
 * The memory file: one memfd holding every application page, with a page allocator and
 * per-page reference counts.
 *
 * Allocation prefers pages that were never handed out (above the high-water mark: they read
 * as zero without work), then reuses freed pages (zeroed on reuse).  Long freed runs are
 * punched out of the file so an exited process's memory goes back to the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "cvisor/sentry/mm.h"

#define PUNCH_MIN_PAGES 16

static void *map_anon_noreserve(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int memfile_init(struct memfile *mf, uint64_t size)
{
	uint64_t npages = size / PAGE_SIZE;

	memset(mf, 0, sizeof(*mf));
	mf->size = size;
	pthread_mutex_init(&mf->lock, NULL);
	mf->fd = memfd_create("cvisor-memory", MFD_CLOEXEC);
	if (mf->fd < 0)
		return -errno;
	if (ftruncate(mf->fd, (off_t)size) < 0)
		goto err;
	mf->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mf->fd, 0);
	if (mf->base == MAP_FAILED)
		goto err;
	mf->refs = map_anon_noreserve(npages * sizeof(uint32_t));
	mf->free_bits = map_anon_noreserve(ALIGN_UP(npages, 64) / 8);
	if (!mf->refs || !mf->free_bits)
		goto err;
	return 0;
err:
	{
		int e = errno ? errno : ENOMEM;

		memfile_destroy(mf);
		return -e;
	}
}

void memfile_destroy(struct memfile *mf)
{
	uint64_t npages = mf->size / PAGE_SIZE;

	if (mf->base && mf->base != MAP_FAILED)
		munmap(mf->base, mf->size);
	if (mf->refs)
		munmap(mf->refs, npages * sizeof(uint32_t));
	if (mf->free_bits)
		munmap(mf->free_bits, ALIGN_UP(npages, 64) / 8);
	if (mf->fd >= 0)
		close(mf->fd);
	mf->base = NULL;
	mf->refs = NULL;
	mf->free_bits = NULL;
	mf->fd = -1;
}

static bool page_free(const struct memfile *mf, uint64_t pg)
{
	return mf->free_bits[pg / 64] & (1ull << (pg % 64));
}

/* Finds a free page below hwm and returns the run of free pages starting there (<= want). */
static bool find_free_run(struct memfile *mf, size_t want, uint64_t *first, size_t *len)
{
	uint64_t words = ALIGN_UP(mf->hwm, 64) / 64;

	for (uint64_t w = mf->scan_hint; w < words; w++) {
		uint64_t bits = mf->free_bits[w];

		if (!bits) {
			mf->scan_hint = w + 1;
			continue;
		}
		uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
		size_t n = 0;

		while (n < want && pg + n < mf->hwm && page_free(mf, pg + n))
			n++;
		*first = pg;
		*len = n;
		return true;
	}
	return false;
}

int64_t memfile_alloc(struct memfile *mf, size_t want, size_t *got)
{
	uint64_t total = mf->size / PAGE_SIZE, pg;
	size_t n;
	bool reused = false;

	if (want == 0)
		want = 1;
	pthread_mutex_lock(&mf->lock);
	if (mf->limit && mf->in_use + 1 > mf->limit)
		goto nomem;
	if (mf->limit && mf->in_use + want > mf->limit)
		want = (size_t)(mf->limit - mf->in_use);
	if (mf->hwm + want <= total && mf->nfree < 4096) {
		/* Plenty of untouched file: take fresh zero pages, keep reuse for later. */
		pg = mf->hwm;
		n = want;
		mf->hwm += n;
	} else if (mf->nfree && find_free_run(mf, want, &pg, &n)) {
		reused = true;
		for (size_t i = 0; i < n; i++)
			mf->free_bits[(pg + i) / 64] &= ~(1ull << ((pg + i) % 64));
		mf->nfree -= n;
	} else if (mf->hwm < total) {
		pg = mf->hwm;
		n = MIN(want, (size_t)(total - mf->hwm));
		mf->hwm += n;
	} else {
		goto nomem;
	}
	for (size_t i = 0; i < n; i++)
		mf->refs[pg + i] = 1;
	mf->in_use += n;
	pthread_mutex_unlock(&mf->lock);
	if (reused)
		memset(mf->base + pg * PAGE_SIZE, 0, n * PAGE_SIZE);
	*got = n;
	return (int64_t)(pg * PAGE_SIZE);
nomem:
	pthread_mutex_unlock(&mf->lock);
	return -ENOMEM;
}

void memfile_get(struct memfile *mf, uint64_t off, size_t n)
{
	uint64_t pg = off / PAGE_SIZE;

	for (size_t i = 0; i < n; i++)
		__atomic_add_fetch(&mf->refs[pg + i], 1, __ATOMIC_RELAXED);
}

/* Marks [pg, pg+n) free; called with mf->lock held. */
static void free_run(struct memfile *mf, uint64_t pg, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mf->free_bits[(pg + i) / 64] |= 1ull << ((pg + i) % 64);
	mf->nfree += n;
	mf->in_use -= n;
	if (pg / 64 < mf->scan_hint)
		mf->scan_hint = pg / 64;
	if (n >= PUNCH_MIN_PAGES)
		fallocate(mf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(pg * PAGE_SIZE),
			  (off_t)(n * PAGE_SIZE));
}

/* Drops `unit` (1 for a reference, MEMFILE_PIN_REF for a pin) from each of n pages, freeing
 * those left with nothing. */
static void drop(struct memfile *mf, uint64_t off, size_t n, uint32_t unit)
{
	uint64_t pg = off / PAGE_SIZE, run_start = 0;
	size_t run = 0;
	bool locked = false;

	for (size_t i = 0; i < n; i++) {
		uint32_t old = __atomic_fetch_sub(&mf->refs[pg + i], unit, __ATOMIC_ACQ_REL);

		if ((unit == 1 && old % MEMFILE_PIN_REF == 0) || old < unit) {
			log_err("memfile: page %#llx released twice",
				(unsigned long long)((pg + i) * PAGE_SIZE));
			__atomic_add_fetch(&mf->refs[pg + i], unit, __ATOMIC_RELAXED);
			continue;
		}
		if (old != unit)
			continue;
		if (!locked) {
			pthread_mutex_lock(&mf->lock);
			locked = true;
		}
		if (run && run_start + run == pg + i) {
			run++;
			continue;
		}
		if (run)
			free_run(mf, run_start, run);
		run_start = pg + i;
		run = 1;
	}
	if (run)
		free_run(mf, run_start, run);
	if (locked)
		pthread_mutex_unlock(&mf->lock);
}

void memfile_put(struct memfile *mf, uint64_t off, size_t n)
{
	drop(mf, off, n, 1);
}

void memfile_pin(struct memfile *mf, uint64_t off)
{
	__atomic_add_fetch(&mf->refs[off / PAGE_SIZE], MEMFILE_PIN_REF, __ATOMIC_RELAXED);
}

void memfile_unpin(struct memfile *mf, uint64_t off)
{
	drop(mf, off, 1, MEMFILE_PIN_REF);
}

uint32_t memfile_refs(struct memfile *mf, uint64_t off)
{
	return __atomic_load_n(&mf->refs[off / PAGE_SIZE], __ATOMIC_RELAXED) % MEMFILE_PIN_REF;
}
