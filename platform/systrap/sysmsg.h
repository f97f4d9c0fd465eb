/*
 * What the systrap stub and the sentry share: the stub region's layout, the per-thread message
 * page, the syscall thread's request and response pages, the blob header and its configuration.
 *
 * Included by the sentry side (the .c files of platform/systrap) and by the freestanding stub blob
 * (platform/systrap/blob/), so it needs nothing but <stdint.h>; the assembly in the blob
 * includes it too (with __ASSEMBLER__), hence only macros outside the C-only part.
 *
 * Everything here that is mapped writable in a stub is also writable by application code: the
 * sentry reads each such field once, into its own memory, and trusts none of them.
 */
#ifndef CV_PLATFORM_SYSTRAP_SYSMSG_H
#define CV_PLATFORM_SYSTRAP_SYSMSG_H

/* ---- the stub region: [base, base + STUB_REGION_SIZE), at the top of every stub ---- */

#define STUB_CODE_MAX 0x10000ul     /* the blob's code, read+exec */
#define STUB_CONFIG_OFF 0x10000ul   /* struct blob_config, read-only */
#define STUB_CONFIG_SIZE 0x10000ul
#define STUB_CTL_OFF 0x20000ul      /* the syscall thread's request (R) and response (RW) pages */
#define STUB_MAPPED_END 0x22000ul   /* what a fresh stub inherits from the master */
#define STUB_SLOTS_OFF 0x100000ul   /* thread slots */
#define STUB_SLOT_SHIFT 17
#define STUB_SLOT_SIZE (1ul << STUB_SLOT_SHIFT) /* aligned: SP rounded down finds the slot */
#define STUB_MAX_SLOTS 1024ul
#define STUB_REGION_SIZE (STUB_SLOTS_OFF + STUB_MAX_SLOTS * STUB_SLOT_SIZE)

/* One slot = one stub thread: a guard page, then one shared run (stack, FPU area, message
 * page) and the exit page, read+exec, whose code addresses the message page RIP-relatively. */
#define SLOT_STACK_OFF 0x1000ul
#define SLOT_STACK_SIZE 0xf000ul
#define SLOT_FPU_OFF 0x10000ul
#define SLOT_FPU_SIZE 0x4000ul
#define SLOT_MSG_OFF 0x14000ul
#define SLOT_EXIT_OFF 0x15000ul
#define SLOT_SHARED_LEN (SLOT_EXIT_OFF - SLOT_STACK_OFF) /* stack + FPU + message */
#define SLOT_STACK_TOP (SLOT_STACK_OFF + SLOT_STACK_SIZE - 64)

/* The trampoline table for patched syscall sites: at a fixed low address whose third byte is
 * 0x06 (an invalid opcode in 64-bit mode), so `jmp *disp32` fits 7 bytes and a thread that
 * lands on the byte after the patched `mov` faults instead of running garbage. */
#define TRAMP_TABLE_VA 0x60000ul
#define TRAMP_TABLE_SIZE 0x10000ul
#define TRAMP_ENTRY_SIZE 32ul
#define TRAMP_ENTRIES (TRAMP_TABLE_SIZE / TRAMP_ENTRY_SIZE) /* entry 0 holds the common ptr */
#define TRAMP_E_NR 9   /* imm32 of `mov $nr, %eax` at +8 */
#define TRAMP_E_RET 15 /* imm64 of `movabs $ret, %rcx` at +13 */

/* fds every stub has (and nothing else). */
#define STUB_MEMFD 3  /* the memory file */
#define STUB_PRIVFD 4 /* the platform's own shared memory */
#define STUB_ACKFD 5  /* write end of the acknowledgement pipe */

/* Sequence words: a counter in steps of 2; bit 0 says the reader sleeps in FUTEX_WAIT. */
#define SEQ_SLEEP 1u

/* sysmsg.cmd */
#define SYSMSG_CMD_RUN 1
#define SYSMSG_CMD_SAVE_FPU 2
#define SYSMSG_CMD_EXIT 3
/* sysmsg.run_flags */
#define SYSMSG_RUN_RESTORE_FPU 1u
/* sysmsg.kind */
#define SYSMSG_SYSCALL 1   /* regs.orig_rax = number; fpstate says where the FPU is */
#define SYSMSG_SIGNAL 2    /* a synchronous signal: signo, code, addr, trapno, err */
#define SYSMSG_INTERRUPT 3 /* interrupt() */
#define SYSMSG_FPU_SAVED 4 /* SAVE_FPU done: the FPU area holds the state */
/* sysmsg.phase */
#define PHASE_NONE 0
#define PHASE_RETURNING 1

/* Offsets in struct sysmsg used by assembly (checked below). */
#define SM_CMD_SEQ 0
#define SM_INTERRUPT 12
#define SM_TRAP_SEQ 64
#define SM_REGS 128
#define SM_R15 (SM_REGS + 0 * 8)
#define SM_R14 (SM_REGS + 1 * 8)
#define SM_R13 (SM_REGS + 2 * 8)
#define SM_R12 (SM_REGS + 3 * 8)
#define SM_RBP (SM_REGS + 4 * 8)
#define SM_RBX (SM_REGS + 5 * 8)
#define SM_R11 (SM_REGS + 6 * 8)
#define SM_R10 (SM_REGS + 7 * 8)
#define SM_R9 (SM_REGS + 8 * 8)
#define SM_R8 (SM_REGS + 9 * 8)
#define SM_RAX (SM_REGS + 10 * 8)
#define SM_RCX (SM_REGS + 11 * 8)
#define SM_RDX (SM_REGS + 12 * 8)
#define SM_RSI (SM_REGS + 13 * 8)
#define SM_RDI (SM_REGS + 14 * 8)
#define SM_ORIG_RAX (SM_REGS + 15 * 8)
#define SM_RIP (SM_REGS + 16 * 8)
#define SM_EFLAGS (SM_REGS + 18 * 8)
#define SM_RSP (SM_REGS + 19 * 8)
#define SM_SELF 384
#define SM_MAGIC 392
#define SM_STACK_TOP 400
#define SM_PHASE 408

/* Offsets in the request page (struct stub_req) used by the stackless loop. */
#define REQ_SEQ 0
#define REQ_NR 8
#define REQ_ARGS 16
#define REQ_R14 64
#define REQ_ACK_OK 72
#define REQ_ACK_FAIL 80
#define REQ_ACK_LEN 88
#define RESP_SEQ 4096
#define RESP_SLEEPING (4096 + 4)
#define RESP_RET (4096 + 8)

/* Offsets in struct blob_config used by assembly. */
#define CFG_MAGIC 0
#define CFG_SENTRY_PID 8
#define CFG_LOOP_SPIN 16
#define CFG_FLAGS 32
#define CFG_YIELD 88
#define CFG_WOKE_SPIN 96
#define CFG_APP_PROG 48
#define CFG_THREAD_MASK 64
#define CFG_STACKS 128
#define CFG_FILTER (CFG_STACKS + 24 * STUB_MAX_SLOTS)
#define CFG_FILTER_MAX 256 /* instructions */

/* blob_config.flags */
#define CFG_F_FSGSBASE 1u
#define CFG_F_XSAVE 2u
#define CFG_F_PATCHING 4u

#define BLOB_MAGIC 0x54535643u /* "CVST" */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* General-purpose registers, the layout of struct cpu_regs (and of user_regs_struct). */
struct sysmsg_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
	uint64_t fs_base, gs_base, ds, es, fs, gs;
};

/* The message page of one stub thread (one per slot). */
struct sysmsg {
	/* Written by the sentry. */
	uint32_t cmd_seq;   /* futex word: bumped once per command */
	uint32_t cmd;	    /* SYSMSG_CMD_* */
	uint32_t run_flags; /* SYSMSG_RUN_* */
	uint32_t interrupt; /* set by interrupt(); consumed by the stub */
	uint32_t sentry_cpu; /* where the sentry waits: the stub yields at once if it is its own */
	uint8_t pad0[44];

	/* Written by the stub. */
	uint32_t trap_seq; /* futex word: bumped once per report */
	uint32_t kind;	   /* SYSMSG_* */
	int32_t signo, code;
	uint64_t addr, trapno, err;
	uint64_t fpstate; /* signal frame's FPU image (stub address), or 0: live in the thread */
	uint32_t stub_cpu; /* where the stub waits: the sentry yields at once if it is its own */
	uint8_t pad1[12];

	/* Both ways: the application's registers. */
	struct sysmsg_regs regs;
	uint8_t pad2[384 - 128 - 27 * 8];

	/* The stub's own bookkeeping. */
	uint64_t self;	    /* this page's stub address */
	uint64_t magic;	    /* blob_config.magic: the trampoline checks %gs points here */
	uint64_t stack_top; /* where the trampoline's stack starts */
	uint32_t phase;	    /* PHASE_* */
	uint32_t tid;	    /* CLONE_CHILD_SETTID / CLEARTID */
	uint64_t cur_fs;    /* fs/gs base the thread has now */
	uint64_t cur_gs;
};

/* The syscall thread's pages: request (read-only to the stub) and response. */
struct stub_req {
	uint32_t seq; /* futex word, bumped by the sentry */
	uint32_t pad;
	uint64_t nr;
	uint64_t args[6];
	uint64_t r14;	   /* clone: slot index (thread) or control offset (process) */
	uint64_t ack_ok;   /* record written to the ack pipe on success... */
	uint64_t ack_fail; /* ...or on failure */
	uint64_t ack_len;  /* 8, or 0 for no acknowledgement (the master) */
};

struct stub_resp {
	uint32_t seq;	   /* the last served request; SEQ_SLEEP when the sentry waits */
	uint32_t sleeping; /* the syscall thread sleeps on stub_req.seq (it cannot write there) */
	int64_t ret;
};

/* At offset 0 of the blob: where things are, as offsets from its start. */
struct blob_header {
	uint32_t magic;
	uint32_t code_end;    /* everything before is code that may make syscalls */
	uint32_t master;      /* master entry: unmaps the rest, runs the loop */
	uint32_t loop;	      /* the syscall loop */
	uint32_t handler;     /* signal handler */
	uint32_t restorer;    /* rt_sigreturn */
	uint32_t tramp;	      /* common code of patched sites */
	uint32_t tramp_stack; /* first instruction running on the slot's stack */
	uint32_t tramp_saved; /* first instruction after the application's state is saved */
	uint32_t tramp_fallback; /* the int3 taken when %gs is not ours */
	uint32_t ret_begin;   /* stub_return(): [ret_begin, ret_end) */
	uint32_t ret_end;
	uint32_t exit_page;   /* page-aligned: copied into every slot's exit page */
};

struct blob_stack {
	uint64_t ss_sp;
	int32_t ss_flags;
	int32_t pad;
	uint64_t ss_size;
};

/* Filled by the sentry before the stub region becomes read-only. */
struct blob_config {
	uint64_t magic;
	uint64_t sentry_pid;
	uint64_t loop_spin;   /* TSC cycles the syscall loop spins before sleeping */
	uint64_t wait_spin;   /* TSC cycles a stub thread spins for the sentry */
	uint32_t flags;	      /* CFG_F_* */
	uint32_t fpu_size;
	uint64_t xsave_mask;
	struct {
		uint16_t len;
		uint16_t pad[3];
		uint64_t filter;
	} app_prog;	      /* the application threads' seccomp filter */
	uint64_t thread_mask; /* signals blocked in application threads */
	uint64_t cs, ss;      /* the stub's selectors, reported with every trap */
	uint64_t yield;	      /* TSC cycles between sched_yield()s while spinning */
	uint64_t woke_spin;   /* TSC cycles to spin after waking the sentry */
	uint64_t pad[3];
	struct blob_stack stacks[STUB_MAX_SLOTS]; /* each slot's sigaltstack */
	uint64_t filter[CFG_FILTER_MAX];	   /* struct sock_filter[] for app_prog */
};

#define SYSMSG_CHECK(e) _Static_assert(e, #e)
SYSMSG_CHECK(sizeof(struct sysmsg) <= 4096);
SYSMSG_CHECK(STUB_SLOTS_OFF % STUB_SLOT_SIZE == 0);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, cmd_seq) == SM_CMD_SEQ);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, interrupt) == SM_INTERRUPT);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, trap_seq) == SM_TRAP_SEQ);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, regs) == SM_REGS);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, self) == SM_SELF);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, magic) == SM_MAGIC);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, stack_top) == SM_STACK_TOP);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg, phase) == SM_PHASE);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg_regs, rsp) == SM_RSP - SM_REGS);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg_regs, eflags) == SM_EFLAGS - SM_REGS);
SYSMSG_CHECK(__builtin_offsetof(struct sysmsg_regs, orig_rax) == SM_ORIG_RAX - SM_REGS);
SYSMSG_CHECK(__builtin_offsetof(struct stub_req, r14) == REQ_R14);
SYSMSG_CHECK(__builtin_offsetof(struct stub_req, ack_ok) == REQ_ACK_OK);
SYSMSG_CHECK(__builtin_offsetof(struct stub_req, ack_fail) == REQ_ACK_FAIL);
SYSMSG_CHECK(__builtin_offsetof(struct stub_req, ack_len) == REQ_ACK_LEN);
SYSMSG_CHECK(__builtin_offsetof(struct stub_resp, sleeping) == RESP_SLEEPING - RESP_SEQ);
SYSMSG_CHECK(__builtin_offsetof(struct stub_resp, ret) == RESP_RET - RESP_SEQ);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, loop_spin) == CFG_LOOP_SPIN);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, flags) == CFG_FLAGS);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, yield) == CFG_YIELD);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, woke_spin) == CFG_WOKE_SPIN);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, app_prog) == CFG_APP_PROG);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, thread_mask) == CFG_THREAD_MASK);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, stacks) == CFG_STACKS);
SYSMSG_CHECK(__builtin_offsetof(struct blob_config, filter) == CFG_FILTER);
SYSMSG_CHECK(sizeof(struct blob_config) <= STUB_CONFIG_SIZE);
#endif

#endif
