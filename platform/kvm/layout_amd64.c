/*
 * What the guest looks like: the ring-0 code, GDT, IDT, TSS, the kernel half of every page
 * table, the registers a vCPU starts with, and its CPUID.
 *
 * Ring 0 is emulated on kvm_pvm (~0.7 us per instruction), so it holds as little as possible:
 * one `out` per exception vector, one for `syscall`, and the page-table maintenance loop.
 * Nothing here is mapped user-accessible: the whole upper half is supervisor-only.  kvm_pvm
 * runs LSTAR in ring 3, so the fetch of the supervisor stub there faults and `syscall` arrives
 * as a #PF like any other trap; hardware KVM enters ring 0 and the stub exits at once.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_SFMASK 0xc0000084u

#define CR0_GUEST 0x80050033ull /* PG AM WP NE ET MP PE */
#define CR4_PAE 0x20ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define CR4_FSGSBASE 0x10000ull
#define CR4_OSXSAVE 0x40000ull
#define EFER_GUEST 0xd01ull /* NXE LMA LME SCE */
/* Flags `syscall` clears, as Linux: TF DF IF IOPL AC NT. */
#define SFMASK_GUEST 0x47700ull

/*
 * The ring-0 code, copied to SYS_CODE.  First the syscall stub (LSTAR), then 32 vector
 * stubs, 16 bytes apart, each a single
 * `out` naming its vector (the exception frame is on the vCPU's ring-0 stack); one stub for
 * every other vector; and the maintenance loop: for each (kva, count) pair at %rbx, copy the
 * count page-table entries at kva onto themselves.  The copy is a guest write to each entry,
 * which is what makes KVM drop its shadow of it.  `hlt` only runs if the host resumed ring 0
 * by mistake: it exits with KVM_EXIT_HLT.
 */
extern const char kvm_r0_begin[], kvm_r0_end[], kvm_r0_vectors[], kvm_r0_other[], kvm_r0_maint[];
__asm__(".pushsection .rodata\n"
	".balign 4096\n"
	"kvm_r0_begin:\n"
	"  out %al, $" KVM_STR(KVM_PORT_SYSCALL) "\n"
	"  1: hlt\n"
	"  jmp 1b\n"
	".balign 16\n"
	"kvm_r0_vectors:\n"
	"  kvm_r0_vec = 0\n"
	"  .rept 32\n"
	"  .balign 16\n"
	"  out %al, $(" KVM_STR(KVM_PORT_VEC) " + kvm_r0_vec)\n"
	"  1: hlt\n"
	"  jmp 1b\n"
	"  kvm_r0_vec = kvm_r0_vec + 1\n"
	"  .endr\n"
	".balign 16\n"
	"kvm_r0_other:\n"
	"  out %al, $" KVM_STR(KVM_PORT_OTHER) "\n"
	"  1: hlt\n"
	"  jmp 1b\n"
	".balign 16\n"
	"kvm_r0_maint:\n"
	"  1: mov (%rbx), %rsi\n"
	"  mov %rsi, %rdi\n"
	"  mov 8(%rbx), %rcx\n"
	"  rep movsq\n"
	"  add $16, %rbx\n"
	"  dec %rdx\n"
	"  jnz 1b\n"
	"  out %al, $" KVM_STR(KVM_PORT_MAINT) "\n"
	"  2: hlt\n"
	"  jmp 2b\n"
	"kvm_r0_end:\n"
	".popsection\n");

static uint64_t sys_va(uint64_t off)
{
	return KVM_KSYS_VA + off;
}

static uint64_t code_va(const char *sym)
{
	return sys_va(SYS_CODE) + (uint64_t)(sym - kvm_r0_begin);
}

uint64_t kvm_layout_maint_rip(void)
{
	return code_va(kvm_r0_maint);
}

static void gdt_build(uint64_t *gdt)
{
	gdt[KVM_KCS >> 3] = 0x00af9b000000ffffull;   /* 64-bit code, DPL 0 */
	gdt[KVM_KDS >> 3] = 0x00cf93000000ffffull;   /* data, DPL 0 */
	gdt[KVM_UCS32 >> 3] = 0x00cffb000000ffffull; /* 32-bit code, DPL 3 */
	gdt[KVM_UDS >> 3] = 0x00cff3000000ffffull;   /* data, DPL 3 */
	gdt[KVM_UCS >> 3] = 0x00affb000000ffffull;   /* 64-bit code, DPL 3 */
	/* The TSS descriptor only has to exist: each vCPU's TR points at its own TSS. */
	gdt[KVM_TSS_SEL >> 3] = 0x0000890000000067ull;
}

static void idt_gate(uint64_t *g, uint64_t off, unsigned dpl)
{
	g[0] = (off & 0xffff) | ((uint64_t)KVM_KCS << 16) | ((0x8eull | (dpl << 5)) << 40) |
	       (((off >> 16) & 0xffff) << 48);
	g[1] = off >> 32;
}

static void idt_build(uint64_t *idt)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t off = v < 32 ? code_va(kvm_r0_vectors) + 16 * v : code_va(kvm_r0_other);

		/* int3 and into are allowed from ring 3, as on Linux; any other `int n` #GPs. */
		idt_gate(idt + 2 * v, off, v == 3 || v == 4 ? 3 : 0);
	}
}

/*
 * The kernel half of every root: the sys region and the page-table region, each mapped
 * linearly with 2 MiB pages, supervisor-only.  Only emulated ring 0 ever uses them.
 */
static void kernel_tables_build(struct kvm_platform *kp)
{
	uint64_t *pdpt_sys = (uint64_t *)(kp->sys + SYS_KPDPT_SYS);
	uint64_t *pd_sys = (uint64_t *)(kp->sys + SYS_KPD_SYS);
	uint64_t *pdpt_pt = (uint64_t *)(kp->sys + SYS_KPDPT_PT);
	const uint64_t table = PTE_P | PTE_W | PTE_A, big = table | PTE_D | PTE_PS;

	pdpt_sys[0] = (KVM_SYS_GPA + SYS_KPD_SYS) | table;
	for (uint64_t i = 0; i < KVM_SYS_SIZE >> 21; i++)
		pd_sys[i] = (KVM_SYS_GPA + (i << 21)) | big;
	for (uint64_t g = 0; g < kp->pt_size >> 30; g++) {
		uint64_t *pd = (uint64_t *)(kp->sys + SYS_KPD_PT + g * KVM_PAGE);

		pdpt_pt[g] = (KVM_SYS_GPA + SYS_KPD_PT + g * KVM_PAGE) | table;
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = (KVM_PT_GPA + (((g << 9) + i) << 21)) | big | PTE_NX;
	}
	memset(kp->kernel_pml4, 0, sizeof(kp->kernel_pml4));
	kp->kernel_pml4[KVM_KSYS_SLOT - 256] = (KVM_SYS_GPA + SYS_KPDPT_SYS) | table;
	kp->kernel_pml4[KVM_KPT_SLOT - 256] = (KVM_SYS_GPA + SYS_KPDPT_PT) | table;
	memcpy(kp->sys + SYS_KROOT + 256 * 8, kp->kernel_pml4, sizeof(kp->kernel_pml4));
}

void kvm_layout_build(struct kvm_platform *kp)
{
	STATIC_ASSERT(SYS_KPD_PT + (KVM_PT_SIZE >> 30) * KVM_PAGE <= SYS_MAINT);
	STATIC_ASSERT(SYS_VCPU + KVM_MAX_VCPUS * SYS_VCPU_STRIDE <= KVM_SYS_SIZE);
	memcpy(kp->sys + SYS_CODE, kvm_r0_begin, (size_t)(kvm_r0_end - kvm_r0_begin));
	gdt_build((uint64_t *)(kp->sys + SYS_GDT));
	idt_build((uint64_t *)(kp->sys + SYS_IDT));
	kernel_tables_build(kp);
}

static void seg_set(struct kvm_segment *s, uint16_t sel, bool code, unsigned dpl)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = code ? 0xb : 0x3;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->s = 1;
	s->l = code;
	s->db = !code;
	s->g = 1;
}

static void seg_null(struct kvm_segment *s)
{
	memset(s, 0, sizeof(*s));
	s->unusable = 1;
}

/* v->user_sregs: ring 3, 64-bit, this vCPU's TSS; cr3 and fs/gs bases are set per entry. */
static void user_sregs_build(struct kvm_platform *kp, struct vcpu *v, uint64_t apic_base)
{
	struct kvm_sregs *s = &v->user_sregs;
	uint64_t tss = sys_va(SYS_VCPU + v->id * SYS_VCPU_STRIDE);

	memset(s, 0, sizeof(*s));
	seg_set(&s->cs, KVM_UCS, true, 3);
	seg_set(&s->ss, KVM_UDS, false, 3);
	seg_null(&s->ds);
	seg_null(&s->es);
	seg_null(&s->fs);
	seg_null(&s->gs);
	seg_null(&s->ldt);
	s->tr.base = tss;
	s->tr.limit = 0x67;
	s->tr.selector = KVM_TSS_SEL;
	s->tr.type = 11;
	s->tr.present = 1;
	s->gdt.base = sys_va(SYS_GDT);
	s->gdt.limit = 10 * 8 - 1;
	s->idt.base = sys_va(SYS_IDT);
	s->idt.limit = 256 * 16 - 1;
	s->cr0 = CR0_GUEST;
	s->cr4 = kp->cr4;
	s->efer = EFER_GUEST;
	s->apic_base = apic_base;
}

void kvm_layout_maint_sregs(struct kvm_platform *kp, struct vcpu *v)
{
	struct kvm_sregs *s = &v->run->s.regs.sregs;

	*s = v->user_sregs;
	seg_set(&s->cs, KVM_KCS, true, 0);
	seg_set(&s->ss, KVM_KDS, false, 0);
	s->cr3 = KVM_SYS_GPA + SYS_KROOT;
}

static int msrs_set(struct vcpu *v)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[3];
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 3;
	m.e[0].index = MSR_STAR;
	m.e[0].data = ((uint64_t)KVM_UCS32 << 48) | ((uint64_t)KVM_KCS << 32);
	m.e[1].index = MSR_LSTAR;
	m.e[1].data = KVM_LSTAR_VA;
	m.e[2].index = MSR_SFMASK;
	m.e[2].data = SFMASK_GUEST;
	if (ioctl(v->fd, KVM_SET_MSRS, &m) != 3)
		return -EINVAL;
	return 0;
}

static int xcr0_set(struct kvm_platform *kp, struct vcpu *v)
{
	struct kvm_xcrs x;

	if (!kp->xcr0)
		return 0;
	memset(&x, 0, sizeof(x));
	x.nr_xcrs = 1;
	x.xcrs[0].xcr = 0;
	x.xcrs[0].value = kp->xcr0;
	return ioctl(v->fd, KVM_SET_XCRS, &x) < 0 ? -errno : 0;
}

/* TSS: ring-0 stack at the top of the vCPU's stack page; no I/O bitmap (iomap past limit). */
static void tss_build(struct kvm_platform *kp, struct vcpu *v)
{
	uint8_t *tss = kp->sys + SYS_VCPU + v->id * SYS_VCPU_STRIDE;
	uint64_t rsp0 = v->stack_va + KVM_PAGE;
	uint16_t iomap = 0x68;

	memset(tss, 0, KVM_PAGE);
	memcpy(tss + 4, &rsp0, 8);
	memcpy(tss + 0x66, &iomap, 2);
}

int kvm_layout_vcpu_init(struct kvm_platform *kp, struct vcpu *v)
{
	struct kvm_sregs s;
	int r;

	v->stack_va = sys_va(SYS_VCPU + v->id * SYS_VCPU_STRIDE + KVM_PAGE);
	v->stack = kp->sys + SYS_VCPU + v->id * SYS_VCPU_STRIDE + KVM_PAGE;
	tss_build(kp, v);
	if (ioctl(v->fd, KVM_SET_CPUID2, kp->cpuid) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	user_sregs_build(kp, v, s.apic_base);
	s = v->user_sregs;
	s.cr3 = KVM_SYS_GPA + SYS_KROOT;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	if ((r = msrs_set(v)) < 0 || (r = xcr0_set(kp, v)) < 0)
		return r;
	/* Events too: an interrupted KVM_RUN may have an exception queued (context.c). */
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	return 0;
}

static uint64_t host_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

/* MXCSR bits this CPU implements, as FXSAVE reports them (0 there means 0xffbf). */
static uint32_t host_mxcsr_mask(void)
{
	uint8_t fx[512] __aligned(16);
	uint32_t mask;

	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsaveq %0" : "=m"(fx));
	memcpy(&mask, fx + 28, 4);
	return mask ? mask : 0xffbf;
}

/* Control register 4 and XCR0 as the application expects them: what the host enables. */
static void host_features(struct kvm_platform *kp)
{
	unsigned a, b, c, d;

	kp->mxcsr_mask = host_mxcsr_mask();
	kp->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	kp->xcr0 = 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
		kp->cr4 |= CR4_OSXSAVE;
		kp->xcr0 = host_xcr0();
	}
	/* The sentry advertises HWCAP2_FSGSBASE: wrfsbase must work as on the host. */
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & 1))
		kp->cr4 |= CR4_FSGSBASE;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

/*
 * The application's CPUID is the host's, leaf by leaf, for every leaf KVM knows: what the
 * sentry itself sees and advertises (AT_HWCAP, /proc/cpuinfo).  Its instructions run on the
 * host CPU natively, so KVM's narrower "supported" feature bits would only hide what works.
 * kvm_pvm makes ring-3 `cpuid` trap (CPUID faulting) and answers from this table.
 */
int kvm_layout_cpuid(struct kvm_platform *kp, int kvm_fd)
{
	struct kvm_cpuid2 *c = supported_cpuid(kvm_fd);

	if (!c)
		return -errno ? -errno : -ENOMEM;
	host_features(kp);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		__cpuid_count(e->function, e->index, e->eax, e->ebx, e->ecx, e->edx);
	}
	kp->cpuid = c;
	return 0;
}
