/*
 * The platform interface: where application instructions execute.
 *
 * A platform runs application code on behalf of the sentry and reports back every syscall,
 * fault and interrupt.  It never delivers signals, never forks address spaces and never
 * decides policy (DESIGN.md §3).  Implementations live in platform/<name>/ and are listed
 * explicitly in platform/platform.c.
 *
 * Threading: a context belongs to the sentry thread that created it; switch_context,
 * pull_full_state and release_context are called only from that thread.  interrupt() may be
 * called from any thread and from signal handlers.  map_file/unmap may be called from any
 * sentry thread; the platform serialises them per address space.
 *
 * Errors: every op returns 0 (or a value >= 0) or -errno.  Constructors return ERR_PTR.
 */
#ifndef CV_PLATFORM_H
#define CV_PLATFORM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvisor/compiler.h"
#include "cvisor/err.h"

struct platform;
struct address_space;
struct context;

/* General-purpose registers, in the layout of Linux's x86-64 struct user_regs_struct. */
struct cpu_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
	uint64_t fs_base, gs_base, ds, es, fs, gs;
};
STATIC_ASSERT(sizeof(struct cpu_regs) == 27 * 8);

/*
 * The full user-visible CPU state of one application thread.
 *
 * GPRs are always valid after switch_context returns.  The FPU/XSAVE image (standard, not
 * compacted, format; cpu_fpu_size() bytes, 64-byte aligned) is lazy: a platform may keep it
 * in the thread that ran the code.  The sentry calls platform_pull_full_state() before it reads
 * `fpu`, and sets fpu_dirty after it writes `fpu` (signal delivery, sigreturn, exec, clone) so
 * the next switch pushes it.
 */
struct cpu_state {
	struct cpu_regs regs;
	uint8_t *fpu;   /* owned by the sentry task */
	bool fpu_valid; /* fpu holds the thread's current FPU state */
	bool fpu_dirty; /* the sentry changed fpu; the platform must load it before running */
};

/* Size in bytes of the XSAVE image for the host's enabled features (CPUID 0xD). */
size_t cpu_fpu_size(void);
/* Writes the initial FPU state (as after execve) into fpu. */
void cpu_fpu_init(uint8_t *fpu);

enum trap_kind {
	TRAP_SYSCALL,   /* regs.orig_rax holds the number, rdi..r9 the arguments */
	TRAP_FAULT,     /* a memory fault the sentry should try to resolve */
	TRAP_SIGNAL,    /* a synchronous signal to force on the thread (SIGILL, SIGFPE, ...) */
	TRAP_INTERRUPT, /* interrupt() was called; may be spurious */
};

#define ACCESS_READ 0x1u
#define ACCESS_WRITE 0x2u
#define ACCESS_EXEC 0x4u

struct trap {
	enum trap_kind kind;
	int signo;       /* FAULT/SIGNAL: the host signal number (SIGSEGV, SIGBUS, SIGILL, ...) */
	int code;        /* FAULT/SIGNAL: si_code (SEGV_MAPERR, ILL_ILLOPN, ...) */
	uint64_t addr;   /* FAULT/SIGNAL: si_addr */
	unsigned access; /* FAULT: ACCESS_* attempted, when the platform knows; 0 = unknown */
	int trapno;      /* CPU exception vector when known, else -1 */
};

/* What a platform needs from the sandbox, fixed for the platform's life. */
struct platform_opts {
	int memfd;         /* the memory file: every mapped page comes from it */
	void *mem_base;    /* the sentry's own mapping of the whole memory file */
	uint64_t mem_size; /* size of the memory file and of that mapping */
	int dev_fd;        /* the platform's device opened before confinement (/dev/kvm), or -1 */
	bool no_syscall_patching;
	/*
	 * ptrace/systrap: enable CPUID faulting in the stubs, so the application's CPUID traps as
	 * TRAP_SIGNAL SIGSEGV/SI_KERNEL and the sentry answers it.  Off by default: the kernel
	 * rewrites an MSR on every switch between a faulting stub and the sentry, which costs
	 * ~20 us per trap on nested KVM (docs/platforms.md, "ptrace").
	 */
	bool cpuid_faulting;
	bool debug;
};

/*
 * One host syscall the sentry makes on this platform's behalf, for the sentry's seccomp
 * allowlist (src/sandbox/seccomp.c).  Up to two argument constraints; nargs == 0 allows any
 * arguments.  `why` is printed in docs/security.md.
 */
enum host_rule_op { HOST_ARG_EQ, HOST_ARG_MASKED_EQ, HOST_ARG_LE };
struct host_syscall_rule {
	int nr;
	unsigned nargs;
	struct {
		unsigned arg;
		enum host_rule_op op;
		uint64_t value, mask;
	} args[2];
	const char *why;
};

struct platform_ops {
	const char *name;
	/* Usable on this host?  0, or -errno with a sentence in why.  Called before init. */
	int (*probe)(char *why, size_t n);
	/* Sets up the platform; fills p->min_user_address/p->max_user_address. */
	int (*init)(struct platform *p, const struct platform_opts *o);
	void (*fini)(struct platform *p);
	/* Host syscalls this platform makes from sentry threads; n receives the count. */
	const struct host_syscall_rule *(*host_syscalls)(struct platform *p, size_t *n);

	/* A new, empty application address space (NewAddressSpace).  Returns ERR_PTR on error. */
	struct address_space *(*new_address_space)(struct platform *p);
	/* Destroys an address space no context is running in. */
	void (*release_address_space)(struct address_space *as);

	/* A new execution context for the calling sentry thread (NewContext). ERR_PTR on error. */
	struct context *(*new_context)(struct platform *p);
	void (*release_context)(struct context *c);

	/*
	 * Runs application code in `as` from `cpu` until it traps; updates cpu->regs and fills
	 * *out.  Returns 0, or -errno when the context is unusable (the sentry then kills the
	 * thread group).  An interrupt requested while no switch ran makes this return
	 * TRAP_INTERRUPT at once.
	 */
	int (*switch_context)(struct context *c, struct address_space *as, struct cpu_state *cpu,
			      struct trap *out);
	/* Makes cpu->fpu valid (copies the FPU state out of wherever the platform keeps it). */
	int (*pull_full_state)(struct context *c, struct address_space *as, struct cpu_state *cpu);
	/* Makes a running switch_context of c return TRAP_INTERRUPT, or the next one. */
	void (*interrupt)(struct context *c);

	/* Maps [memfile_off, +len) of the memory file at addr with prot (PROT_*), replacing
	 * whatever was there.  addr, len and memfile_off are page-aligned. */
	int (*map_file)(struct address_space *as, uint64_t addr, uint64_t len, uint64_t memfile_off,
			int prot);
	/* Removes any mapping in [addr, addr+len). */
	int (*unmap)(struct address_space *as, uint64_t addr, uint64_t len);
	/*
	 * Optional: CPU time (ns) application code has used in `as`, when it runs outside the
	 * sentry's task threads (stub processes).  NULL when it runs in the task's own thread
	 * (kvm), whose thread clock then counts it.
	 */
	int (*as_cpu_time)(struct address_space *as, uint64_t *ns);
};

struct platform {
	const struct platform_ops *ops;
	void *priv;                 /* owned by ops->init/fini */
	uint64_t min_user_address;  /* lowest address the application may map */
	uint64_t max_user_address;  /* one past the highest */
	struct platform_opts opts;
};

/* platform/platform.c: the registry. */

/* Returns the ops named `name`, or NULL. */
const struct platform_ops *platform_lookup(const char *name);
/* Returns the registry, terminated by NULL. */
const struct platform_ops *const *platform_list(void);
/*
 * Picks the default platform: the first in preference order whose probe passes.  kvm is never
 * picked implicitly.  Returns NULL (and why) when none works.
 */
const struct platform_ops *platform_default(char *why, size_t n);

/* For backends whose application code runs in a stub process: that process's CPU time, every
 * thread of it, living or gone (as_cpu_time). */
int platform_process_cpu_time(pid_t pid, uint64_t *ns);

/* Wrappers: callers never reach through p->ops. */

static inline int platform_init(struct platform *p, const struct platform_ops *ops,
				const struct platform_opts *o)
{
	p->ops = ops;
	p->opts = *o;
	return ops->init(p, o);
}

static inline void platform_fini(struct platform *p)
{
	if (p->ops && p->ops->fini)
		p->ops->fini(p);
}

static inline struct address_space *platform_new_address_space(struct platform *p)
{
	return p->ops->new_address_space(p);
}

/* Every address space and context starts with a pointer to its platform. */
struct address_space {
	struct platform *platform;
};

struct context {
	struct platform *platform;
};

static inline void platform_release_address_space(struct address_space *as)
{
	as->platform->ops->release_address_space(as);
}

static inline struct context *platform_new_context(struct platform *p)
{
	return p->ops->new_context(p);
}

static inline void platform_release_context(struct context *c)
{
	c->platform->ops->release_context(c);
}

static inline int platform_switch(struct context *c, struct address_space *as,
				  struct cpu_state *cpu, struct trap *out)
{
	return c->platform->ops->switch_context(c, as, cpu, out);
}

static inline int platform_pull_full_state(struct context *c, struct address_space *as,
					   struct cpu_state *cpu)
{
	if (cpu->fpu_valid)
		return 0;
	if (!c->platform->ops->pull_full_state)
		return -ENOSYS;
	return c->platform->ops->pull_full_state(c, as, cpu);
}

static inline void platform_interrupt(struct context *c)
{
	c->platform->ops->interrupt(c);
}

static inline int platform_map_file(struct address_space *as, uint64_t addr, uint64_t len,
				    uint64_t memfile_off, int prot)
{
	return as->platform->ops->map_file(as, addr, len, memfile_off, prot);
}

static inline int platform_unmap(struct address_space *as, uint64_t addr, uint64_t len)
{
	return as->platform->ops->unmap(as, addr, len);
}

static inline int platform_as_cpu_time(struct address_space *as, uint64_t *ns)
{
	if (!as->platform->ops->as_cpu_time)
		return -ENOSYS;
	return as->platform->ops->as_cpu_time(as, ns);
}

#endif
