/*
 * FPU/XSAVE state, lazily: after a trap it stays where the stub thread has it, and moves only
 * when the sentry reads it (pull_full_state) or replaces it (fpu_dirty).
 *  - Signal path: the kernel saved it into the signal frame on the thread's stack, in shared
 *    memory; rt_sigreturn loads it back.  The sentry reads and writes it there.
 *  - Patched path and new threads: it is live in the thread.  SAVE_FPU makes the thread
 *    XSAVE it into its FPU area; RUN with RESTORE_FPU makes it XRSTOR from there.
 * Images are the standard (non-compacted) XSAVE format the sentry uses.  Whatever comes from
 * shared memory is normalised after the copy, and whatever goes there is made valid for
 * XRSTOR first, so the application gains nothing by scribbling on it but its own state.
 */
#include <errno.h>
#include <string.h>

#include "systrap_internal.h"

#define FX_FCW 0
#define FX_MXCSR 24
#define FX_ST0 32
#define FX_XMM0 160
#define FX_SW_BYTES 464
#define FX_SIZE 512
#define XSAVE_BV 512
#define XSAVE_COMP 520
#define XSAVE_HDR_END 576

/* Init values for components the image marks as unused (XSAVE leaves their bytes stale). */
static void fpu_normalize(const struct systrap_platform *sp, uint8_t *img)
{
	uint64_t bv;

	if (sp->fpu_size <= FX_SIZE)
		return;
	memcpy(&bv, img + XSAVE_BV, sizeof(bv));
	bv &= sp->xsave_mask;
	memcpy(img + XSAVE_BV, &bv, sizeof(bv));
	memset(img + XSAVE_COMP, 0, XSAVE_HDR_END - XSAVE_COMP);
	if (!(bv & 1)) { /* x87 */
		uint16_t fcw = 0x37f;

		memset(img, 0, FX_MXCSR);
		memset(img + FX_ST0, 0, FX_XMM0 - FX_ST0);
		memcpy(img + FX_FCW, &fcw, sizeof(fcw));
	}
	if (!(bv & 2)) /* SSE */
		memset(img + FX_XMM0, 0, 16 * 16);
}

/* Makes img acceptable to XRSTOR/FXRSTOR (and to rt_sigreturn). */
static void fpu_sanitize(const struct systrap_platform *sp, uint8_t *img)
{
	uint32_t mxcsr;

	memcpy(&mxcsr, img + FX_MXCSR, sizeof(mxcsr));
	mxcsr &= sp->mxcsr_mask;
	memcpy(img + FX_MXCSR, &mxcsr, sizeof(mxcsr));
	if (sp->fpu_size > FX_SIZE) {
		uint64_t bv;

		memcpy(&bv, img + XSAVE_BV, sizeof(bv));
		bv &= sp->xsave_mask;
		memcpy(img + XSAVE_BV, &bv, sizeof(bv));
		memset(img + XSAVE_COMP, 0, XSAVE_HDR_END - XSAVE_COMP);
	}
}

uint8_t *systrap_fpu_frame_ptr(struct sthread *t, uint64_t addr)
{
	const struct systrap_platform *sp = t->as->sp;
	uint64_t lo = t->slot_va + SLOT_STACK_OFF, hi = lo + SLOT_STACK_SIZE;

	if (addr < lo || addr > hi - sp->fpu_size - 4 || !IS_ALIGNED(addr, 16) ||
	    (sp->fpu_size > FX_SIZE && !IS_ALIGNED(addr, 64)))
		return NULL;
	return shm_ptr(sp, t->shm_off + (addr - lo));
}

int systrap_fpu_pull(struct sthread *t, uint8_t *fpu)
{
	const struct systrap_platform *sp = t->as->sp;
	struct sysmsg *sm = t->sm, m;
	int r;

	if (t->frame_fpu) {
		memcpy(fpu, t->frame_fpu, sp->fpu_size);
	} else {
		__atomic_store_n(&sm->cmd, SYSMSG_CMD_SAVE_FPU, __ATOMIC_RELEASE);
		if ((r = systrap_thread_wait(NULL, t, systrap_seq_post(&sm->cmd_seq), &m)) < 0)
			return r;
		if (m.kind != SYSMSG_FPU_SAVED) {
			systrap_as_kill(t->as, "did not save its FPU state");
			return -ESRCH;
		}
		memcpy(fpu, t->fpu_area, sp->fpu_size);
	}
	fpu_normalize(sp, fpu);
	return 0;
}

uint32_t systrap_fpu_push(struct sthread *t, const uint8_t *fpu)
{
	const struct systrap_platform *sp = t->as->sp;
	uint8_t *dst = t->started && t->frame_fpu ? t->frame_fpu : t->fpu_area;
	uint8_t sw[FX_SIZE - FX_SW_BYTES];

	/* The frame's software-reserved bytes describe its layout to rt_sigreturn: keep them. */
	memcpy(sw, dst + FX_SW_BYTES, sizeof(sw));
	memcpy(dst, fpu, sp->fpu_size);
	if (dst == t->frame_fpu)
		memcpy(dst + FX_SW_BYTES, sw, sizeof(sw));
	fpu_sanitize(sp, dst);
	return dst == t->frame_fpu ? 0 : SYSMSG_RUN_RESTORE_FPU;
}
