/*
 * Page-table pages: allocated from the page-table region (its own memory slot), never reused
 * while KVM might still hold a shadow of them.
 *
 * Why: KVM shadows a guest page-table page by its guest-physical address and trusts the
 * shadow as long as the guest does not write the page.  Only guest writes are seen, not the
 * sentry's.  A freed page that came back as another table would be described to the CPU by
 * its old shadow.  So freed pages go to quarantine; when the region runs out, every switch is
 * stopped, the slot is deleted and re-added (which drops every shadow), and quarantined pages
 * become reusable.  With a 4 GiB region that happens once per million page-table pages.
 * Freed pages are punched out of the region's memfd, so quarantine costs no memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

#define PT_SLOT 2

static int pt_slot_set(struct kvm_platform *kp, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = PT_SLOT,
		.guest_phys_addr = KVM_PT_GPA,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)kp->pt,
	};

	return ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int kvm_pt_alloc_init(struct kvm_platform *kp)
{
	memset(&kp->pta, 0, sizeof(kp->pta));
	kp->pta.npages = kp->pt_size / KVM_PAGE;
	return pt_slot_set(kp, kp->pt_size);
}

void kvm_pt_alloc_fini(struct kvm_platform *kp)
{
	free(kp->pta.free);
	free(kp->pta.quar);
	memset(&kp->pta, 0, sizeof(kp->pta));
}

static int push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		uint64_t *a = realloc(*arr, ncap * sizeof(**arr));

		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = ncap;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

/* Drops every shadow page table KVM holds: quarantined pages become safe to reuse. */
static int recycle(struct kvm_platform *kp)
{
	struct pt_alloc *a = &kp->pta;
	int r;

	kvm_stop_world(kp);
	r = pt_slot_set(kp, 0);
	if (r == 0)
		r = pt_slot_set(kp, kp->pt_size);
	kvm_resume_world(kp);
	if (r < 0) {
		log_err("kvm: page-table slot re-add failed: %d", r);
		return r;
	}
	free(a->free);
	a->free = a->quar;
	a->nfree = a->nquar;
	a->cap_free = a->cap_quar;
	a->quar = NULL;
	a->nquar = a->cap_quar = 0;
	a->recycles++;
	log_debug("kvm: page-table region recycled (%zu pages reusable)", a->nfree);
	return 0;
}

int kvm_pt_recycle(struct kvm_platform *kp)
{
	int r;

	pthread_mutex_lock(&kp->pt_lock);
	r = recycle(kp);
	pthread_mutex_unlock(&kp->pt_lock);
	return r;
}

static int64_t take_page(struct kvm_platform *kp)
{
	struct pt_alloc *a = &kp->pta;

	if (a->nfree)
		return (int64_t)a->free[--a->nfree];
	if (a->cursor < a->npages)
		return (int64_t)a->cursor++;
	if (!a->nquar || recycle(kp) < 0 || !a->nfree)
		return -ENOMEM;
	return (int64_t)a->free[--a->nfree];
}

uint64_t kvm_pt_page_alloc(struct kvm_platform *kp)
{
	int64_t idx;

	pthread_mutex_lock(&kp->pt_lock);
	idx = take_page(kp);
	pthread_mutex_unlock(&kp->pt_lock);
	if (idx < 0)
		return 0;
	memset(kp->pt + (uint64_t)idx * KVM_PAGE, 0, KVM_PAGE);
	return KVM_PT_GPA + (uint64_t)idx * KVM_PAGE;
}

void kvm_pt_page_free(struct kvm_platform *kp, uint64_t gpa)
{
	uint64_t idx = (gpa - KVM_PT_GPA) / KVM_PAGE;
	int r;

	madvise(kp->pt + idx * KVM_PAGE, KVM_PAGE, MADV_REMOVE);
	pthread_mutex_lock(&kp->pt_lock);
	r = push(&kp->pta.quar, &kp->pta.nquar, &kp->pta.cap_quar, idx);
	pthread_mutex_unlock(&kp->pt_lock);
	if (r < 0)
		log_warn("kvm: out of memory: page-table page %#llx leaked",
			 (unsigned long long)gpa);
}
