/* Guest signal ABI, in the x86-64 kernel's layout (not glibc's). */
#ifndef CV_ABI_LINUX_SIGNAL_H
#define CV_ABI_LINUX_SIGNAL_H

#include <stdint.h>

#include "cvisor/compiler.h"

#define LINUX_NSIG 64
#define LINUX_SIGRTMIN 32

typedef uint64_t linux_sigset_t;

/* Bit for signal sig (1..64). */
static inline linux_sigset_t sigset_bit(int sig)
{
	return 1ULL << (sig - 1);
}

/* Signals that can never be blocked, caught or ignored. */
#define SIGSET_UNBLOCKABLE (sigset_bit(9) | sigset_bit(19))

#define LINUX_SIG_DFL 0ULL
#define LINUX_SIG_IGN 1ULL

#define LINUX_SA_NOCLDSTOP 0x00000001u
#define LINUX_SA_NOCLDWAIT 0x00000002u
#define LINUX_SA_SIGINFO 0x00000004u
#define LINUX_SA_UNSUPPORTED 0x00000400u
#define LINUX_SA_EXPOSE_TAGBITS 0x00000800u
#define LINUX_SA_RESTORER 0x04000000u
#define LINUX_SA_ONSTACK 0x08000000u
#define LINUX_SA_RESTART 0x10000000u
#define LINUX_SA_NODEFER 0x40000000u
#define LINUX_SA_RESETHAND 0x80000000u

/* struct sigaction as rt_sigaction(2) sees it on x86-64. */
struct linux_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	linux_sigset_t mask;
};

#define LINUX_SS_ONSTACK 1
#define LINUX_SS_DISABLE 2
#define LINUX_SS_AUTODISARM (1u << 31)
#define LINUX_MINSIGSTKSZ 2048

struct linux_stack {
	uint64_t ss_sp;
	int32_t ss_flags;
	int32_t pad;
	uint64_t ss_size;
};

/* siginfo_t: 128 bytes; the union is described by the fields cvisor fills. */
struct linux_siginfo {
	int32_t signo;
	int32_t errno_;
	int32_t code;
	int32_t pad0;
	union {
		struct { /* kill, tkill, sigqueue */
			int32_t pid;
			uint32_t uid;
			uint64_t value;
		} kill;
		struct { /* POSIX timers */
			int32_t tid;
			int32_t overrun;
			uint64_t value;
		} timer;
		struct { /* SIGCHLD */
			int32_t pid;
			uint32_t uid;
			int32_t status;
			int32_t pad;
			int64_t utime, stime;
		} chld;
		struct { /* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP */
			uint64_t addr;
			int16_t addr_lsb;
		} fault;
		struct { /* SIGPOLL */
			int64_t band;
			int32_t fd;
		} poll;
		struct { /* SIGSYS */
			uint64_t call_addr;
			int32_t syscall;
			uint32_t arch;
		} sys;
		uint8_t raw[112];
	} u;
};
STATIC_ASSERT(sizeof(struct linux_siginfo) == 128);

#define LINUX_SI_USER 0
#define LINUX_SI_KERNEL 0x80
#define LINUX_SI_QUEUE (-1)
#define LINUX_SI_TIMER (-2)
#define LINUX_SI_MESGQ (-3)
#define LINUX_SI_ASYNCIO (-4)
#define LINUX_SI_SIGIO (-5)
#define LINUX_SI_TKILL (-6)

#define LINUX_CLD_EXITED 1
#define LINUX_CLD_KILLED 2
#define LINUX_CLD_DUMPED 3
#define LINUX_CLD_TRAPPED 4
#define LINUX_CLD_STOPPED 5
#define LINUX_CLD_CONTINUED 6

/* The x86-64 signal frame (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h). */
struct linux_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate; /* pointer to the XSAVE/FXSAVE image, or 0 */
	uint64_t reserved1[8];
};
STATIC_ASSERT(sizeof(struct linux_sigcontext) == 256);

struct linux_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	struct linux_stack uc_stack;
	struct linux_sigcontext uc_mcontext;
	linux_sigset_t uc_sigmask;
};

#define LINUX_UC_FP_XSTATE 0x1
#define LINUX_UC_SIGCONTEXT_SS 0x2
#define LINUX_UC_STRICT_RESTORE_SS 0x4

/* The frame rt_sigreturn expects at rsp-8 after the handler's ret pops the restorer. */
struct linux_rt_sigframe {
	uint64_t pretcode;
	struct linux_ucontext uc;
	struct linux_siginfo info;
	/* fpstate follows, 64-byte aligned */
};

/* fxsave sw_reserved area (bytes 464..511 of the FXSAVE image) describing the XSAVE extension. */
#define LINUX_FP_XSTATE_MAGIC1 0x46505853u
#define LINUX_FP_XSTATE_MAGIC2 0x46505845u
struct linux_fpx_sw_bytes {
	uint32_t magic1;
	uint32_t extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size;
	uint32_t padding[7];
};

#endif
