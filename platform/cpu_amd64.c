/* x86-64 CPU state helpers shared by every platform: the size and initial value of the
 * FPU/XSAVE image kept in struct cpu_state. */
#include <cpuid.h>
#include <string.h>

#include "cvisor/platform.h"

/* Offsets in the standard (non-compacted) XSAVE layout. */
#define FX_FCW 0
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_SIZE 512
#define XSAVE_HDR_BV 512
#define XFEATURE_FP_SSE 0x3ull

static size_t fpu_size_cache;
static uint32_t mxcsr_mask_cache;

size_t cpu_fpu_size(void)
{
	unsigned a, b, c, d;
	size_t size = __atomic_load_n(&fpu_size_cache, __ATOMIC_RELAXED);

	if (size)
		return size;
	size = FX_SIZE;
	/* OSXSAVE: the kernel enabled XSAVE; leaf 0xD.0 EBX then sizes what XCR0 enables. */
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) &&
	    __get_cpuid_count(0xd, 0, &a, &b, &c, &d) && b > FX_SIZE)
		size = b;
	__atomic_store_n(&fpu_size_cache, size, __ATOMIC_RELAXED);
	return size;
}

/* MXCSR_MASK as FXSAVE reports it on this CPU (0xffbf when FXSAVE leaves it 0). */
static uint32_t host_mxcsr_mask(void)
{
	uint8_t fx[FX_SIZE] __aligned(16);
	uint32_t mask = __atomic_load_n(&mxcsr_mask_cache, __ATOMIC_RELAXED);

	if (mask)
		return mask;
	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsaveq %0" : "=m"(fx));
	memcpy(&mask, fx + FX_MXCSR_MASK, sizeof(mask));
	if (!mask)
		mask = 0xffbf;
	__atomic_store_n(&mxcsr_mask_cache, mask, __ATOMIC_RELAXED);
	return mask;
}

void cpu_fpu_init(uint8_t *fpu)
{
	const uint16_t fcw = 0x37f;
	const uint32_t mxcsr = 0x1f80, mask = host_mxcsr_mask();
	const uint64_t bv = XFEATURE_FP_SSE;

	memset(fpu, 0, cpu_fpu_size());
	memcpy(fpu + FX_FCW, &fcw, sizeof(fcw));
	memcpy(fpu + FX_MXCSR, &mxcsr, sizeof(mxcsr));
	memcpy(fpu + FX_MXCSR_MASK, &mask, sizeof(mask));
	/* x87 and SSE marked present with their reset values, so restoring this image sets
	 * FCW and MXCSR explicitly; every other component is in its init state. */
	if (cpu_fpu_size() > FX_SIZE)
		memcpy(fpu + XSAVE_HDR_BV, &bv, sizeof(bv));
}
