/*
 * Private interfaces of the kvm platform (platform/kvm/).  The design and the measurements
 * behind it are in docs/platforms.md, section "kvm"; the short version:
 *
 *  - One VM.  Guest-physical == memory-file offset below KVM_SYS_GPA (slot 0, the sentry's
 *    own mapping of the memory file).  The platform's own memory lives in two more slots:
 *    the "sys" region (GDT, IDT, ring-0 code, kernel page tables, per-vCPU TSS and stack,
 *    the maintenance list) and the page-table region (every address space's tables).
 *  - Application code runs natively in guest ring 3.  Every trap, syscalls included, arrives
 *    through the IDT at a one-instruction ring-0 stub, `out %al, $KVM_PORT_VEC + vector`,
 *    which is the only exit the platform takes.  On kvm_pvm `syscall` jumps to LSTAR without
 *    leaving ring 3, and LSTAR is a supervisor page, so it becomes a #PF there with rcx/r11
 *    set as the CPU sets them; where `syscall` does enter ring 0 (hardware KVM) the stub at
 *    LSTAR exits directly.
 *  - Ring 0 is emulated instruction by instruction on kvm_pvm, so the stubs are one
 *    instruction and the return to ring 3 is done by the host through the sync sregs.
 *  - The host writes guest page tables directly.  Shadow paging only picks up entries that
 *    were absent (or more restrictive) when it last looked, so every entry that loses a
 *    mapping or permission is "touched": re-stored by a ring-0 `rep movsq` on a maintenance
 *    vCPU, which makes KVM drop its shadow of it on every vCPU before map_file/unmap return.
 *  - Page-table pages are never reused until every shadow is dropped (a slot re-add), so a
 *    stale shadow can never describe a recycled page (pt_alloc.c).
 *
 * Lock order: kvm_as.lock -> maint_lock -> run_lock (shared: a maintenance run);
 *             kvm_as.lock -> pt_lock -> vcpu_lock, released, then run_lock (exclusive: a
 *             recycle stops every switch).  maint_lock and pt_lock are never held together;
 *             a switch holds run_lock shared around KVM_RUN only, and decodes the exit
 *             (which may take kvm_as.lock) after releasing it.
 */
#ifndef CV_PLATFORM_KVM_INTERNAL_H
#define CV_PLATFORM_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/platform.h"

#define KVM_PAGE 4096ull

#define KVM_XSTR(x) #x
#define KVM_STR(x) KVM_XSTR(x)

/* Guest-physical layout. */
#define KVM_SYS_GPA (128ull << 30) /* memory file below; so it may be up to 128 GiB */
#define KVM_SYS_SIZE (16ull << 20)
#define KVM_PT_GPA (256ull << 30)
#define KVM_PT_SIZE (4ull << 30) /* sparse; 1 M page-table pages between recycles */

/* Offsets in the sys region. */
#define SYS_GDT 0x0000ull
#define SYS_IDT 0x1000ull
#define SYS_CODE 0x2000ull
#define SYS_KPDPT_SYS 0x3000ull /* PDPT under PML4[KVM_KSYS_SLOT] */
#define SYS_KPD_SYS 0x4000ull   /* 2 MiB pages covering the sys region */
#define SYS_KPDPT_PT 0x5000ull  /* PDPT under PML4[KVM_KPT_SLOT] */
#define SYS_KROOT 0x6000ull     /* a PML4 with only the kernel half (maintenance vCPU) */
#define SYS_KPD_PT 0x10000ull   /* 2 MiB pages covering the PT region, one PD per GiB */
#define SYS_MAINT 0x80000ull    /* maintenance list: (kva, count) pairs */
#define SYS_MAINT_SIZE 0x10000ull
#define SYS_VCPU 0x100000ull    /* per vCPU: TSS page, then ring-0 stack page */
#define SYS_VCPU_STRIDE 0x2000ull
#define KVM_MAX_VCPUS 1024u

/* Guest-virtual layout: the user half is the application's, the top is supervisor-only. */
#define KVM_USER_TOP 0x7ffffffff000ull
#define KVM_USER_MIN 0x10000ull
#define KVM_KSYS_SLOT 511 /* PML4 index of the sys region alias */
#define KVM_KPT_SLOT 510  /* PML4 index of the PT region alias */
#define KVM_KSYS_VA 0xffffff8000000000ull
#define KVM_KPT_VA 0xffffff0000000000ull
#define KVM_LSTAR_VA (KVM_KSYS_VA + SYS_CODE) /* the syscall stub, first in the code page */

/* Selectors: Linux's GDT layout, so the application sees the values it would on Linux. */
#define KVM_KCS 0x10
#define KVM_KDS 0x18
#define KVM_UCS32 0x23
#define KVM_UDS 0x2b
#define KVM_UCS 0x33
#define KVM_TSS_SEL 0x40

/* Ports the ring-0 code writes to. */
#define KVM_PORT_VEC 0xc0 /* + vector, for vectors 0..31 */
#define KVM_PORT_OTHER 0xe0
#define KVM_PORT_MAINT 0xe1
#define KVM_PORT_SYSCALL 0xe2 /* only reached where `syscall` enters ring 0 (hardware KVM) */

/* Page-table entry bits. */
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

/* One vCPU: a KVM vCPU fd, its kvm_run, and its TSS and ring-0 stack in the sys region. */
struct vcpu {
	struct vcpu *next; /* in the free pool */
	unsigned id;
	int fd;
	struct kvm_run *run;
	uint64_t stack_va;	     /* bottom of its ring-0 stack page */
	uint8_t *stack;		     /* the same page in the sentry */
	struct kvm_sregs user_sregs; /* ring 3, everything but cr3 and fs/gs bases */
	uint64_t ctx_id;	     /* context whose FPU state it holds, 0 if none */
	_Atomic pid_t running;	     /* tid inside a switch on this vCPU, else 0 */
};

/* Page-table page allocator (pt_alloc.c). */
struct pt_alloc {
	uint64_t cursor;   /* next never-used page index */
	uint64_t npages;   /* size of the region in pages */
	uint64_t *free;	   /* pages safe to reuse (no shadow can exist) */
	size_t nfree, cap_free;
	uint64_t *quar;	   /* freed pages that may still be shadowed */
	size_t nquar, cap_quar;
	uint64_t recycles; /* slot re-adds so far */
};

/* Per-platform state (platform.priv). */
struct kvm_platform {
	struct platform *p;
	int vm_fd;
	size_t run_size;
	struct kvm_cpuid2 *cpuid; /* every vCPU's CPUID table */
	uint64_t xcr0;
	uint32_t mxcsr_mask;
	size_t xsave_size;	  /* bytes KVM_GET_XSAVE(2) fills */
	bool xsave2;
	uint64_t cr4;
	uint64_t mem_size;
	int kick_signal;
	pid_t pid;

	int sys_fd;
	uint8_t *sys;
	int pt_fd;
	uint8_t *pt;
	uint64_t pt_size;
	pthread_mutex_t pt_lock;
	struct pt_alloc pta;
	uint64_t kernel_pml4[256]; /* upper half of every root */

	pthread_mutex_t vcpu_lock;
	struct vcpu *vcpu_pool;
	struct vcpu *vcpus[KVM_MAX_VCPUS];
	unsigned nvcpus;

	pthread_mutex_t maint_lock;
	struct vcpu *maint; /* runs the ring-0 page-table maintenance */

	/* Switches hold run_lock shared; a page-table recycle holds it exclusive. */
	pthread_rwlock_t run_lock;
	atomic_bool stopping;

	_Atomic uint64_t next_ctx_id;
	struct host_syscall_rule rules[24];
	size_t nrules;
};

/* One application address space: a PML4 in the PT region. */
struct kvm_as {
	struct address_space base;
	struct kvm_platform *kp;
	pthread_mutex_t lock; /* serialises map_file/unmap */
	uint64_t root;	      /* guest-physical address of the PML4 */
};

/* Per-task execution context: owns one vCPU for its whole life. */
struct kvm_ctx {
	struct context base;
	struct kvm_platform *kp;
	struct vcpu *v;
	struct kvm_as *as; /* the address space of the running or last switch */
	uint64_t id;
	atomic_bool pending;	  /* interrupt latched */
	bool fpu_loaded;	  /* the vCPU holds this context's FPU state */
};

/* Entries of a touch list: page-table entries whose shadow must be dropped. */
struct touch_list {
	uint64_t *gpa; /* guest-physical address of each entry, in the PT region */
	size_t n, cap;
	bool oom;
};

static inline struct kvm_as *to_kas(struct address_space *as)
{
	return container_of(as, struct kvm_as, base);
}

static inline struct kvm_ctx *to_kctx(struct context *c)
{
	return container_of(c, struct kvm_ctx, base);
}

/* The sentry's pointer to a page-table page or entry at guest-physical gpa. */
static inline uint64_t *pt_ptr(const struct kvm_platform *kp, uint64_t gpa)
{
	return (uint64_t *)(kp->pt + (gpa - KVM_PT_GPA));
}

/* layout_amd64.c: the sys region, the ring-0 code and the CPU state every vCPU starts with. */

/* Fills the sys region (GDT, IDT, code, kernel tables) and kp->kernel_pml4. */
void kvm_layout_build(struct kvm_platform *kp);
/* Sets a new vCPU up: CPUID, MSRs, XCR0, its TSS, and v->user_sregs.  Returns 0 or -errno. */
int kvm_layout_vcpu_init(struct kvm_platform *kp, struct vcpu *v);
/* Builds kp->cpuid (the host's CPUID for every leaf KVM knows) and kp->xcr0/cr4. */
int kvm_layout_cpuid(struct kvm_platform *kp, int kvm_fd);
/* Guest-virtual address of the ring-0 maintenance routine. */
uint64_t kvm_layout_maint_rip(void);
/* Writes the ring-0 register state of the maintenance vCPU into v's sync regs. */
void kvm_layout_maint_sregs(struct kvm_platform *kp, struct vcpu *v);

/* vcpu.c */
/* A vCPU from the pool, or a new one.  ERR_PTR on failure. */
struct vcpu *kvm_vcpu_get(struct kvm_platform *kp);
void kvm_vcpu_put(struct kvm_platform *kp, struct vcpu *v);
/* Frees every vCPU (fini). */
void kvm_vcpu_destroy_all(struct kvm_platform *kp);
/* Installs the kick signal's handler; blocks it in the calling thread. */
int kvm_kick_setup(struct kvm_platform *kp);
void kvm_kick_block(struct kvm_platform *kp);
/* Consumes a pending kick signal of the calling thread, if any. */
void kvm_kick_consume(struct kvm_platform *kp);
/* Runs the maintenance routine over the touch list (re-stores every entry in ring 0). */
int kvm_maint_touch(struct kvm_platform *kp, const struct touch_list *tl);

/* pt_alloc.c */
/* A zeroed page-table page: its guest-physical address, or 0 when the region is exhausted. */
uint64_t kvm_pt_page_alloc(struct kvm_platform *kp);
/* Gives a page-table page back; it is reused only after the next recycle. */
void kvm_pt_page_free(struct kvm_platform *kp, uint64_t gpa);
/* Drops every shadow KVM holds (stops all switches meanwhile); quarantine becomes free. */
int kvm_pt_recycle(struct kvm_platform *kp);
int kvm_pt_alloc_init(struct kvm_platform *kp);
void kvm_pt_alloc_fini(struct kvm_platform *kp);

/* address_space.c */
struct address_space *kvm_new_address_space(struct platform *p);
void kvm_release_address_space(struct address_space *as);
int kvm_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off,
		 int prot);
int kvm_unmap(struct address_space *as, uint64_t addr, uint64_t len);
/* Reads n bytes of application memory at va through kas's page tables (user pages only). */
int kvm_as_read(struct kvm_as *kas, uint64_t va, void *buf, size_t n);

/* context.c */
struct context *kvm_new_context(struct platform *p);
void kvm_release_context(struct context *c);
int kvm_switch(struct context *c, struct address_space *as, struct cpu_state *cpu,
	       struct trap *out);
int kvm_pull_full_state(struct context *c, struct address_space *as, struct cpu_state *cpu);
void kvm_interrupt(struct context *c);
/* Copies the vCPU's FPU state into cpu->fpu. */
int kvm_fpu_pull(struct kvm_ctx *kc, struct cpu_state *cpu);
/* Makes every switch leave KVM_RUN and wait; returns with run_lock held exclusive. */
void kvm_stop_world(struct kvm_platform *kp);
void kvm_resume_world(struct kvm_platform *kp);

/* trap_amd64.c */
/* What a vector exit means.  Fills cpu->regs and *out; returns 0 or -errno. */
int kvm_trap_syscall(struct kvm_ctx *kc, struct cpu_state *cpu, struct trap *out);
int kvm_trap_decode(struct kvm_ctx *kc, unsigned vector, struct cpu_state *cpu, struct trap *out);
/* Copies the ring-3 state of an interrupted vCPU (sync regs and sregs) into cpu->regs. */
void kvm_trap_user_regs(struct kvm_ctx *kc, struct cpu_state *cpu);
/* Reports a trap that is not the CPU's (an interrupt, a bad rip). */
void kvm_trap_fill(struct trap *out, enum trap_kind kind, int signo, int code, uint64_t addr,
	       int trapno);

#endif
