/* CPUID emulation for platforms that fault it (CPUID faulting): the sandbox answers. */
#include <stdint.h>

#include "kernel_internal.h"

bool cpuid_emulate(struct task *t);

bool cpuid_emulate(struct task *t)
{
	struct cpu_regs *r = &t->cpu.regs;
	uint8_t insn[2];
	uint32_t a, b, c, d;

	if (copy_in_all(t, r->rip, insn, 2) < 0 || insn[0] != 0x0f || insn[1] != 0xa2)
		return false;
	__asm__ volatile("cpuid"
			 : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			 : "a"((uint32_t)r->rax), "c"((uint32_t)r->rcx));
	r->rax = a;
	r->rbx = b;
	r->rcx = c;
	r->rdx = d;
	r->rip += 2;
	return true;
}
