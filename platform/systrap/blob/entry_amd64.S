/*
 * The systrap stub's assembly: the blob header, the stackless syscall loop run by the master
 * and by every stub's syscall thread, the first steps of new processes and threads, the common
 * code of patched syscall sites, and the path back to application code.
 *
 * The syscall loop uses no memory but the request page (read-only in the stub: only the sentry
 * writes it) and the response page, and keeps its state in registers, so application threads
 * sharing the address space cannot steer it: they can only scribble on the response page,
 * which the sentry never trusts (acknowledgements go through a pipe they cannot write).
 *
 *   r12 = request page (response page at r12 + 4096), r13 = last served sequence,
 *   r15 = number of the call being run, r14 = the request's r14 (clone: slot or offset),
 *   rbx = until when to spin for the next request.
 */
#include "../sysmsg.h"

#define SYS_write 1
#define SYS_mmap 9
#define SYS_munmap 11
#define SYS_rt_sigprocmask 14
#define SYS_rt_sigreturn 15
#define SYS_clone 56
#define SYS_getppid 110
#define SYS_sigaltstack 131
#define SYS_prctl 157
#define SYS_arch_prctl 158
#define SYS_futex 202
#define SYS_seccomp 317
#define PR_SET_PDEATHSIG 1
#define ARCH_SET_GS 0x1001
#define CLONE_THREAD 0x10000
#define MAP_SHARED_FIXED 0x11
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

	.section .text.header, "ax", @progbits
	.globl stub_blob_start
	.hidden stub_blob_start
stub_blob_start:
	.long BLOB_MAGIC
	.long stub_code_end - stub_blob_start
	.long stub_master - stub_blob_start
	.long stub_loop - stub_blob_start
	.long stub_handler - stub_blob_start
	.long stub_restorer - stub_blob_start
	.long stub_tramp - stub_blob_start
	.long stub_tramp_stack - stub_blob_start
	.long stub_tramp_saved - stub_blob_start
	.long stub_tramp_fallback - stub_blob_start
	.long stub_ret_begin - stub_blob_start
	.long stub_ret_end - stub_blob_start
	.long stub_exit_page - stub_blob_start

	.text

/* Reads the TSC into %rax (clobbers %rdx). */
.macro TSC
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
.endm

/*
 * The master's entry, from stub_master_child() once confined: rdi = stub region, rsi = top of
 * the address space.  Drops everything but the region's first pages and the trampoline table,
 * the stack included, and serves the sentry's requests.
 */
	.globl stub_master
	.hidden stub_master
stub_master:
	movq %rdi, %r12
	movq %rsi, %r13
	movl $SYS_munmap, %eax
	xorl %edi, %edi
	movl $TRAMP_TABLE_VA, %esi
	syscall
	testq %rax, %rax
	jnz stub_die
	movl $SYS_munmap, %eax
	movl $(TRAMP_TABLE_VA + TRAMP_TABLE_SIZE), %edi
	movq %r12, %rsi
	subq %rdi, %rsi
	syscall
	testq %rax, %rax
	jnz stub_die
	movl $SYS_munmap, %eax
	leaq STUB_MAPPED_END(%r12), %rdi
	movq %r13, %rsi
	subq %rdi, %rsi
	syscall
	testq %rax, %rax
	jnz stub_die
	leaq STUB_CTL_OFF(%r12), %r12
	xorl %r13d, %r13d
	/* fall through */

	.globl stub_loop
	.hidden stub_loop
stub_loop:
1:	movl REQ_SEQ(%r12), %eax
	cmpl %r13d, %eax
	jne 5f
	TSC
	movq %rax, %rbx
	addq blob_config+CFG_LOOP_SPIN(%rip), %rbx
2:	pause
	movl REQ_SEQ(%r12), %eax
	cmpl %r13d, %eax
	jne 5f
	TSC
	cmpq %rbx, %rax
	jb 2b
	/* Sleep.  The sentry stores the sequence, then reads `sleeping`; we do the reverse. */
	movl $1, RESP_SLEEPING(%r12)
	mfence
	movl REQ_SEQ(%r12), %eax
	cmpl %r13d, %eax
	jne 4f
	movl $SYS_futex, %eax
	movq %r12, %rdi
	movl $FUTEX_WAIT, %esi
	movl %r13d, %edx
	xorl %r10d, %r10d
	syscall
4:	movl $0, RESP_SLEEPING(%r12)
	jmp 1b

5:	movl %eax, %r13d
	movq REQ_NR(%r12), %r15
	movq REQ_ARGS+0(%r12), %rdi
	movq REQ_ARGS+8(%r12), %rsi
	movq REQ_ARGS+16(%r12), %rdx
	movq REQ_ARGS+24(%r12), %r10
	movq REQ_ARGS+32(%r12), %r8
	movq REQ_ARGS+40(%r12), %r9
	movq REQ_R14(%r12), %r14
	movq %r15, %rax
	syscall
	cmpq $SYS_clone, %r15
	jne 6f
	testq %rax, %rax
	jnz 6f
	testl $CLONE_THREAD, %edi
	jnz stub_thread_child
	jmp stub_proc_child

6:	movq %rax, RESP_RET(%r12)
	movq REQ_ACK_LEN(%r12), %rdx
	testq %rdx, %rdx
	jz 8f
	/* Success is rax >= 0, and for mmap the very address asked for. */
	leaq REQ_ACK_FAIL(%r12), %rsi
	testq %rax, %rax
	js 7f
	cmpq $SYS_mmap, %r15
	jne 61f
	cmpq %rax, %rdi
	jne 7f
61:	leaq REQ_ACK_OK(%r12), %rsi
7:	movl $SYS_write, %eax
	movl $STUB_ACKFD, %edi
	syscall
8:	movl %r13d, %eax
	xchgl %eax, RESP_SEQ(%r12)
	testl $SEQ_SLEEP, %eax
	jz 1b
	movl $SYS_futex, %eax
	leaq RESP_SEQ(%r12), %rdi
	movl $FUTEX_WAKE, %esi
	movl $1, %edx
	syscall
	jmp 1b

/*
 * A new stub process, forked by the master: r14 = memory offset of its request and response
 * pages.  Dies with the sentry, checks its parent is the sentry, and replaces the master's
 * control pages by its own at the same place.
 */
stub_proc_child:
	movl $SYS_prctl, %eax
	movl $PR_SET_PDEATHSIG, %edi
	movl $9, %esi
	syscall
	testq %rax, %rax
	jnz stub_die
	movl $SYS_getppid, %eax
	syscall
	cmpq blob_config+CFG_SENTRY_PID(%rip), %rax
	jne stub_die
	movl $SYS_mmap, %eax
	movq %r12, %rdi
	movl $4096, %esi
	movl $1, %edx			/* PROT_READ */
	movl $MAP_SHARED_FIXED, %r10d
	movl $STUB_PRIVFD, %r8d
	movq %r14, %r9
	syscall
	cmpq %rax, %r12
	jne stub_die
	movl $SYS_mmap, %eax
	leaq 4096(%r12), %rdi
	movl $4096, %esi
	movl $3, %edx			/* PROT_READ | PROT_WRITE */
	movl $MAP_SHARED_FIXED, %r10d
	movl $STUB_PRIVFD, %r8d
	leaq 4096(%r14), %r9
	syscall
	cmpq %rax, %rdi
	jne stub_die
	xorl %r13d, %r13d
	jmp stub_loop

/*
 * A new application thread, cloned by the syscall thread: r14 = its slot.  Everything it needs
 * comes from registers and the read-only configuration; the application filter goes last, and
 * no application code runs before it is in place.
 */
stub_thread_child:
	leaq stub_blob_start(%rip), %rbx
	movq %r14, %rax
	shlq $STUB_SLOT_SHIFT, %rax
	leaq STUB_SLOTS_OFF(%rbx,%rax), %rbp
	imulq $24, %r14, %rdi
	leaq blob_config+CFG_STACKS(%rip), %rax
	addq %rax, %rdi
	xorl %esi, %esi
	movl $SYS_sigaltstack, %eax
	syscall
	testq %rax, %rax
	jnz stub_die
	testl $CFG_F_PATCHING, blob_config+CFG_FLAGS(%rip)
	jz 1f
	movl $SYS_arch_prctl, %eax
	movl $ARCH_SET_GS, %edi
	leaq SLOT_MSG_OFF(%rbp), %rsi
	syscall
	testq %rax, %rax
	jnz stub_die
1:	movl $SYS_rt_sigprocmask, %eax
	movl $2, %edi			/* SIG_SETMASK */
	leaq blob_config+CFG_THREAD_MASK(%rip), %rsi
	xorl %edx, %edx
	movl $8, %r10d
	syscall
	testq %rax, %rax
	jnz stub_die
	movl $SYS_seccomp, %eax
	movl $1, %edi			/* SECCOMP_SET_MODE_FILTER */
	xorl %esi, %esi
	leaq blob_config+CFG_APP_PROG(%rip), %rdx
	syscall
	testq %rax, %rax
	jnz stub_die
	leaq SLOT_STACK_TOP(%rbp), %rsp
	leaq SLOT_MSG_OFF(%rbp), %rdi
	call stub_thread_main

/* Every signal is blocked (or we are in a handler): the kernel kills the whole stub. */
	.globl stub_die
	.hidden stub_die
stub_die:
	ud2
	jmp stub_die

/*
 * Patched syscall sites come here from their trampoline entry with eax = number and rcx =
 * return address, exactly as `syscall` leaves rcx; r11 is ours too.  If %gs is not this
 * thread's message page (the application set its own gs base), fall back to a trap.
 */
	.globl stub_tramp
	.hidden stub_tramp
stub_tramp:
	movq %gs:SM_MAGIC, %r11
	cmpq blob_config+CFG_MAGIC(%rip), %r11
	jne stub_tramp_fallback
	movq %rsp, %gs:SM_RSP
	movq %gs:SM_STACK_TOP, %rsp
	.globl stub_tramp_stack
	.hidden stub_tramp_stack
stub_tramp_stack:
	pushfq
	popq %r11
	movq %r11, %gs:SM_EFLAGS
	pushq $2
	popfq				/* TF, DF, AC off for the C code */
	.globl stub_tramp_saved
	.hidden stub_tramp_saved
stub_tramp_saved:
	movq %r11, %gs:SM_R11
	movq %rax, %gs:SM_RAX
	movq %rax, %gs:SM_ORIG_RAX
	movq %rcx, %gs:SM_RCX
	movq %rcx, %gs:SM_RIP
	movq %rdx, %gs:SM_RDX
	movq %rbx, %gs:SM_RBX
	movq %rbp, %gs:SM_RBP
	movq %rsi, %gs:SM_RSI
	movq %rdi, %gs:SM_RDI
	movq %r8, %gs:SM_R8
	movq %r9, %gs:SM_R9
	movq %r10, %gs:SM_R10
	movq %r12, %gs:SM_R12
	movq %r13, %gs:SM_R13
	movq %r14, %gs:SM_R14
	movq %r15, %gs:SM_R15
	movq %gs:SM_SELF, %rdi
	call stub_tramp_c
	jmp stub_die
	.globl stub_tramp_fallback
	.hidden stub_tramp_fallback
stub_tramp_fallback:
	int3				/* the handler turns this into the syscall */
	jmp stub_die

/*
 * int stub_return(struct sysmsg *sm): back to the application with sm->regs, unless an
 * interrupt is pending, in which case it returns 1.  A SIGCHLD taken between the phase store
 * and the jump is seen by the handler (phase RETURNING, rip in here or in the exit page).
 */
	.globl stub_return
	.hidden stub_return
stub_return:
	.globl stub_ret_begin
	.hidden stub_ret_begin
stub_ret_begin:
	movl $PHASE_RETURNING, SM_PHASE(%rdi)
	xorl %eax, %eax
	xchgl %eax, SM_INTERRUPT(%rdi)
	testl %eax, %eax
	jnz 1f
	leaq (SLOT_EXIT_OFF - SLOT_MSG_OFF)(%rdi), %rax
	jmpq *%rax
1:	movl $PHASE_NONE, SM_PHASE(%rdi)
	.globl stub_ret_end
	.hidden stub_ret_end
stub_ret_end:
	movl $1, %eax
	ret

	.globl stub_restorer
	.hidden stub_restorer
stub_restorer:
	movl $SYS_rt_sigreturn, %eax
	syscall
	jmp stub_die

/*
 * The exit page, mapped read+exec at every slot's SLOT_EXIT_OFF, right after the slot's
 * message page: it loads every register from sm->regs RIP-relatively (no %gs, which may be the
 * application's by now) and jumps to the application.  It makes no syscall.
 */
#define M(off) (stub_exit_page - (SLOT_EXIT_OFF - SLOT_MSG_OFF) + (off))(%rip)
	.section .exitpage, "ax", @progbits
	.balign 4096
	.globl stub_exit_page
	.hidden stub_exit_page
stub_exit_page:
	pushq M(SM_EFLAGS)
	popfq
	movq M(SM_RAX), %rax
	movq M(SM_RBX), %rbx
	movq M(SM_RCX), %rcx
	movq M(SM_RDX), %rdx
	movq M(SM_RSI), %rsi
	movq M(SM_RDI), %rdi
	movq M(SM_RBP), %rbp
	movq M(SM_R8), %r8
	movq M(SM_R9), %r9
	movq M(SM_R10), %r10
	movq M(SM_R11), %r11
	movq M(SM_R12), %r12
	movq M(SM_R13), %r13
	movq M(SM_R14), %r14
	movq M(SM_R15), %r15
	movq M(SM_RSP), %rsp
	jmpq *M(SM_RIP)
	.balign 4096, 0xcc

	.section .note.GNU-stack, "", @progbits
