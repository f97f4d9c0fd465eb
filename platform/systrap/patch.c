/*
 * Syscall patching: a site `mov $nr, %eax; syscall` (b8 imm32 0f 05) that trapped through
 * SIGSYS becomes `jmp *entry` (ff 24 25 disp32), where entry is a slot of the trampoline table
 * holding its own code's address, then `mov $nr, %eax; movabs $ret, %rcx; jmp *common`.  The
 * common code saves the registers into the thread's message page (found through %gs) and
 * hands over to the sentry without a signal.
 *
 * Copy on write, done here: the sentry never writes the patch into the memory file, where the
 * page may be shared (page cache, a forked parent).  It copies the page into the platform's
 * shared memory, patches the copy, and maps the copy in place of the original in this address
 * space only.  The swap is one mmap(MAP_FIXED), atomic for other threads: they run either the
 * old bytes or the new ones, never a mix.  A thread that had already run the `mov` resumes on
 * the byte after it, which is the 0x06 inside disp32 (invalid in 64-bit mode): SIGILL, and the
 * sentry runs the syscall that stood there (systrap_patch_is_site_tail).  A restarted syscall lands
 * there too, the same way.  Only pages mapped executable and not writable are patched; a
 * later map_file or unmap of the page drops the copy, and the next trap patches again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "cvisor/log.h"
#include "systrap_internal.h"

#define SITE_LEN 7
#define MAX_PATCHED_PAGES 128

/* ---- executable runs ---- */

/* Index of the first run ending after va. */
static size_t run_lower(const struct systrap_as *sas, uint64_t va)
{
	size_t lo = 0, hi = sas->nruns;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (sas->runs[mid].va + sas->runs[mid].len <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int runs_reserve(struct systrap_as *sas, size_t n)
{
	struct xrun *nr;
	size_t cap;

	if (sas->nruns + n <= sas->cap_runs)
		return 0;
	cap = MAX(sas->cap_runs * 2, sas->nruns + n + 8);
	if (!(nr = realloc(sas->runs, cap * sizeof(*nr))))
		return -ENOMEM;
	sas->runs = nr;
	sas->cap_runs = cap;
	return 0;
}

/* Removes [va, va+len) from the runs, splitting one if needed.  Never fails: a split that
 * cannot get memory drops the tail instead (it only stops patching there). */
static void runs_cut(struct systrap_as *sas, uint64_t va, uint64_t len)
{
	uint64_t end = va + len;
	size_t i = run_lower(sas, va);

	while (i < sas->nruns && sas->runs[i].va < end) {
		struct xrun *x = &sas->runs[i];
		uint64_t xend = x->va + x->len;

		if (x->va < va && xend > end && runs_reserve(sas, 1) == 0) {
			x = &sas->runs[i];
			memmove(x + 1, x, (sas->nruns - i) * sizeof(*x));
			sas->nruns++;
			x[1].off += end - x->va;
			x[1].len = xend - end;
			x[1].va = end;
			x->len = va - x->va;
			return;
		}
		if (x->va < va) {
			x->len = va - x->va;
			i++;
		} else if (xend > end) {
			x->off += end - x->va;
			x->len = xend - end;
			x->va = end;
			i++;
		} else {
			memmove(x, x + 1, (sas->nruns - i - 1) * sizeof(*x));
			sas->nruns--;
		}
	}
}

int systrap_patch_note_run(struct systrap_as *sas, uint64_t va, uint64_t len, uint64_t off, int prot)
{
	size_t i;

	if (!sas->sp->patching || !(prot & PROT_EXEC) || (prot & PROT_WRITE))
		return 0;
	if (runs_reserve(sas, 1) < 0)
		return 0; /* just no patching here */
	i = run_lower(sas, va);
	memmove(&sas->runs[i + 1], &sas->runs[i], (sas->nruns - i) * sizeof(sas->runs[0]));
	sas->runs[i] = (struct xrun){ va, len, off, prot };
	sas->nruns++;
	return 0;
}

/* ---- patched pages ---- */

static struct patched_page *page_find(struct systrap_as *sas, uint64_t page)
{
	for (size_t i = 0; i < sas->npatches; i++) {
		if (sas->patches[i].va == page)
			return &sas->patches[i];
	}
	return NULL;
}

void systrap_patch_forget(struct systrap_as *sas, uint64_t va, uint64_t len)
{
	struct systrap_platform *sp = sas->sp;
	size_t j = 0;

	runs_cut(sas, va, len);
	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < sas->npatches; i++) {
		struct patched_page *pp = &sas->patches[i];

		if (pp->va >= va && pp->va - va < len)
			systrap_shm_free_locked(sp, pp->copy, 4096); /* no longer mapped: replaced */
		else
			sas->patches[j++] = *pp;
	}
	sas->npatches = j;
	pthread_mutex_unlock(&sp->lock);
}

void systrap_patch_release(struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;

	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < sas->npatches; i++)
		systrap_shm_free_locked(sp, sas->patches[i].copy, 4096);
	pthread_mutex_unlock(&sp->lock);
	free(sas->patches);
	free(sas->runs);
	sas->patches = NULL;
	sas->runs = NULL;
	sas->npatches = sas->nruns = 0;
	sas->cap_patches = sas->cap_runs = 0;
}

/* The bytes the stub runs at page (its patched copy, or the memory file); NULL if the page is
 * not executable read-only memory we mapped. */
static const uint8_t *page_bytes(struct systrap_as *sas, uint64_t page, int *prot)
{
	struct systrap_platform *sp = sas->sp;
	const struct platform_opts *o = &sp->p->opts;
	struct patched_page *pp = page_find(sas, page);
	size_t i = run_lower(sas, page);
	uint64_t off;

	if (i >= sas->nruns || sas->runs[i].va > page)
		return NULL;
	*prot = sas->runs[i].prot;
	if (pp)
		return shm_ptr(sp, pp->copy);
	off = sas->runs[i].off + (page - sas->runs[i].va);
	if (!o->mem_base || off + 4096 > o->mem_size)
		return NULL;
	return (const uint8_t *)o->mem_base + off;
}

/* The number a patched site whose tail is at rip stands for, or -1.  req_lock held. */
static int64_t site_at_tail_locked(struct systrap_as *sas, uint64_t rip)
{
	uint64_t site = rip - 5, page = site & ~4095ull;
	struct patched_page *pp;
	const uint8_t *b;
	uint32_t disp, nr;

	if (((rip + 1) & ~4095ull) != page || !(pp = page_find(sas, page)))
		return -1;
	/* Our copy, and our table: mapped read+exec only, the application cannot change them. */
	b = (const uint8_t *)shm_ptr(sas->sp, pp->copy) + (site - page);
	memcpy(&disp, b + 3, sizeof(disp));
	if (b[0] != 0xff || b[1] != 0x24 || b[2] != 0x25 || disp < TRAMP_TABLE_VA + TRAMP_ENTRY_SIZE ||
	    disp >= TRAMP_TABLE_VA + TRAMP_TABLE_SIZE || disp % TRAMP_ENTRY_SIZE)
		return -1;
	memcpy(&nr, (const uint8_t *)shm_ptr(sas->sp, SHM_TABLE_OFF + disp - TRAMP_TABLE_VA) +
			    TRAMP_E_NR,
	       sizeof(nr));
	return nr;
}

bool systrap_patch_is_site_tail(struct systrap_as *sas, uint64_t rip)
{
	bool yes;

	pthread_mutex_lock(&sas->req_lock);
	yes = site_at_tail_locked(sas, rip) >= 0;
	pthread_mutex_unlock(&sas->req_lock);
	return yes;
}

void systrap_patch_restart(struct systrap_as *sas, struct cpu_regs *regs)
{
	pthread_mutex_lock(&sas->req_lock);
	/* The jump at the site sets eax itself: only when rax already holds that number. */
	if (site_at_tail_locked(sas, regs->rip) == (int64_t)regs->rax)
		regs->rip -= 5;
	pthread_mutex_unlock(&sas->req_lock);
}

/* ---- the trampoline table ---- */

static void entry_write(uint8_t *e, uint64_t va, uint32_t nr, uint64_t ret)
{
	uint64_t code = va + 8;
	int32_t rel = (int32_t)((int64_t)TRAMP_TABLE_VA - (int64_t)(va + 29));

	memcpy(e, &code, 8);
	e[8] = 0xb8; /* mov $nr, %eax */
	memcpy(e + TRAMP_E_NR, &nr, 4);
	e[13] = 0x48; /* movabs $ret, %rcx */
	e[14] = 0xb9;
	memcpy(e + TRAMP_E_RET, &ret, 8);
	e[23] = 0xff; /* jmp *common(%rip): the table's first quadword */
	e[24] = 0x25;
	memcpy(e + 25, &rel, 4);
}

/* The table entry for (nr, ret), made if new; 0 when the table is full. */
static uint64_t table_entry(struct systrap_platform *sp, uint32_t nr, uint64_t ret)
{
	uint64_t va = 0;
	unsigned i;

	pthread_mutex_lock(&sp->lock);
	for (i = 1; i < sp->table_next; i++) {
		if (sp->table_keys[i].nr == nr && sp->table_keys[i].ret == ret)
			break;
	}
	if (i == sp->table_next && i < TRAMP_ENTRIES) {
		entry_write(shm_ptr(sp, SHM_TABLE_OFF + i * TRAMP_ENTRY_SIZE),
			    TRAMP_TABLE_VA + i * TRAMP_ENTRY_SIZE, nr, ret);
		sp->table_keys[i] = (struct tramp_key){ nr, ret };
		sp->table_next++;
	}
	if (i < sp->table_next)
		va = TRAMP_TABLE_VA + i * TRAMP_ENTRY_SIZE;
	pthread_mutex_unlock(&sp->lock);
	return va;
}

/* ---- patching ---- */

static bool is_prefix(uint8_t b)
{
	return (b & 0xf0) == 0x40 || b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 ||
	       b == 0xf3 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 ||
	       b == 0x65;
}

/* Whether the 7 bytes at b (with the byte before at b[-1]) are `mov $nr, %eax; syscall`. */
static bool site_matches(const uint8_t *b, uint32_t nr)
{
	uint32_t imm;

	memcpy(&imm, b + 1, sizeof(imm));
	/* A prefix before b8 would make it another instruction (mov to r8d, to ax...): such
	 * a site, or an unlucky byte that looks like one, is left alone. */
	return !is_prefix(b[-1]) && b[0] == 0xb8 && imm == nr && b[5] == 0x0f && b[6] == 0x05;
}

static int patched_add(struct systrap_as *sas, uint64_t page, uint64_t copy, int prot)
{
	struct patched_page *np;

	if (sas->npatches == sas->cap_patches) {
		size_t cap = sas->cap_patches ? sas->cap_patches * 2 : 8;

		if (!(np = realloc(sas->patches, cap * sizeof(*np))))
			return -ENOMEM;
		sas->patches = np;
		sas->cap_patches = cap;
	}
	sas->patches[sas->npatches++] = (struct patched_page){ page, copy, prot };
	return 0;
}

/* Maps a patched copy of page over it.  req_lock held. */
static void patch_page(struct systrap_as *sas, uint64_t page, const uint8_t *src, int prot,
		       uint64_t site, uint64_t entry)
{
	struct systrap_platform *sp = sas->sp;
	struct patched_page *old = page_find(sas, page);
	uint64_t copy = systrap_shm_alloc(sp, 4096), disp = entry;
	uint64_t args[6] = { page, 4096, (uint64_t)prot, MAP_SHARED | MAP_FIXED, STUB_PRIVFD, 0 };
	uint8_t *dst;
	long ret = -ENOMEM;

	if (!copy)
		return;
	dst = shm_ptr(sp, copy);
	memcpy(dst, src, 4096);
	dst += site - page;
	dst[0] = 0xff; /* jmp *disp32 */
	dst[1] = 0x24;
	dst[2] = 0x25;
	memcpy(dst + 3, &disp, 4);
	args[5] = copy;
	if ((old || patched_add(sas, page, copy, prot) == 0) &&
	    systrap_as_request(sas, SYS_mmap, args, 0, &ret) < 0)
		ret = -ESRCH;
	pthread_mutex_lock(&sp->lock);
	if (ret < 0) {
		if (!old && sas->npatches && sas->patches[sas->npatches - 1].copy == copy)
			sas->npatches--;
		systrap_shm_free_locked(sp, copy, 4096);
	} else if (old) {
		systrap_shm_free_locked(sp, old->copy, 4096); /* replaced in the stub just now */
		old->copy = copy;
	}
	pthread_mutex_unlock(&sp->lock);
}

void systrap_patch_site(struct systrap_as *sas, uint64_t rip, uint64_t nr)
{
	struct systrap_platform *sp = sas->sp;
	uint64_t site = rip - SITE_LEN, page = site & ~4095ull, entry;
	const uint8_t *src;
	int prot = 0;

	/* Whole site and the byte before it on one page. */
	if ((site & 4095) == 0 || ((rip - 1) & ~4095ull) != page || nr > UINT32_MAX)
		return;
	pthread_mutex_lock(&sas->req_lock);
	src = page_bytes(sas, page, &prot);
	if (src && site_matches(src + (site - page), (uint32_t)nr) &&
	    (page_find(sas, page) || sas->npatches < MAX_PATCHED_PAGES) &&
	    (entry = table_entry(sp, (uint32_t)nr, rip)))
		patch_page(sas, page, src, prot, site, entry);
	pthread_mutex_unlock(&sas->req_lock);
}
