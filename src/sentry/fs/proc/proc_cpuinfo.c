/*
 * /proc/cpuinfo from the CPUID the application sees (the host's, which the sentry executes
 * itself), one block per CPU the sandbox shows.  Flag names follow Linux for the CPUID bits
 * applications probe; flags Linux synthesises (constant_tsc, nopl...) are not listed.
 */
#include <stdint.h>
#include <string.h>

#include "proc_internal.h"

struct cpuid_regs {
	uint32_t a, b, c, d;
};

static struct cpuid_regs cpuid(uint32_t leaf, uint32_t sub)
{
	struct cpuid_regs r;

	__asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}

/* Names of the bits of one CPUID register, indexed by bit (NULL: not shown). */
typedef const char *const flag_names[32];

static flag_names leaf1_edx = {
	"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", NULL, "sep",
	"mtrr", "pge", "mca", "cmov", "pat", "pse36", "pn", "clflush", NULL, "dts", "acpi",
	"mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe",
};

static flag_names ext1_edx = {
	[11] = "syscall", [19] = "mp",       [20] = "nx",        [22] = "mmxext",
	[25] = "fxsr_opt", [26] = "pdpe1gb", [27] = "rdtscp",    [29] = "lm",
	[30] = "3dnowext", [31] = "3dnow",
};

static flag_names leaf1_ecx = {
	"pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3",
	"cid", "sdbg", "fma", "cx16", "xtpr", "pdcm", NULL, "pcid", "dca", "sse4_1", "sse4_2",
	"x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", NULL, "avx", "f16c",
	"rdrand", "hypervisor",
};

static flag_names ext1_ecx = {
	"lahf_lm", "cmp_legacy", "svm", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse",
	"3dnowprefetch", "osvw", "ibs", "xop", "skinit", "wdt", NULL, "lwp", "fma4", "tce", NULL,
	"nodeid_msr", NULL, "tbm", "topoext", "perfctr_core", "perfctr_nb", NULL, "bpext", "ptsc",
	"perfctr_llc", "mwaitx",
};

static flag_names leaf7_ebx = {
	"fsgsbase", "tsc_adjust", "sgx", "bmi1", "hle", "avx2", NULL, "smep", "bmi2", "erms",
	"invpcid", "rtm", "cqm", NULL, "mpx", "rdt_a", "avx512f", "avx512dq", "rdseed", "adx",
	"smap", "avx512ifma", NULL, "clflushopt", "clwb", "intel_pt", "avx512pf", "avx512er",
	"avx512cd", "sha_ni", "avx512bw", "avx512vl",
};

static flag_names leaf7_ecx = {
	[1] = "avx512vbmi",     [2] = "umip",           [3] = "pku",
	[4] = "ospke",          [5] = "waitpkg",        [6] = "avx512_vbmi2",
	[8] = "gfni",           [9] = "vaes",           [10] = "vpclmulqdq",
	[11] = "avx512_vnni",   [12] = "avx512_bitalg", [13] = "tme",
	[14] = "avx512_vpopcntdq", [16] = "la57",       [22] = "rdpid",
	[25] = "cldemote",      [27] = "movdiri",       [28] = "movdir64b",
};

static flag_names leaf7_edx = {
	[2] = "avx512_4vnniw", [3] = "avx512_4fmaps", [4] = "fsrm",
	[8] = "avx512_vp2intersect", [10] = "md_clear", [14] = "serialize",
	[16] = "tsxldtrk", [22] = "amx_bf16", [23] = "avx512_fp16",
	[24] = "amx_tile", [25] = "amx_int8", [28] = "flush_l1d",
	[29] = "arch_capabilities",
};

static flag_names xsave_eax = {"xsaveopt", "xsavec", "xgetbv1", "xsaves"};

static void add_flags(struct sbuf *s, flag_names names, uint32_t bits)
{
	for (int i = 0; i < 32; i++)
		if ((bits & (1u << i)) && names[i])
			sbuf_printf(s, " %s", names[i]);
}

struct cpu_desc {
	char vendor[13], model_name[49];
	uint32_t family, model, stepping, level, mhz, phys_bits, virt_bits;
	struct sbuf flags;
};

static void describe(struct cpu_desc *d)
{
	struct cpuid_regs r0 = cpuid(0, 0), r1 = cpuid(1, 0), e0 = cpuid(0x80000000u, 0);
	uint32_t base_family = (r1.a >> 8) & 0xf;
	char *name = d->model_name;

	d->level = r0.a;
	memcpy(d->vendor, &r0.b, 4);
	memcpy(d->vendor + 4, &r0.d, 4);
	memcpy(d->vendor + 8, &r0.c, 4);
	d->vendor[12] = 0;
	d->family = base_family + (base_family == 0xf ? (r1.a >> 20) & 0xff : 0);
	d->model = ((r1.a >> 4) & 0xf) |
		   (base_family == 6 || base_family == 0xf ? (r1.a >> 12) & 0xf0 : 0);
	d->stepping = r1.a & 0xf;
	memset(d->model_name, 0, sizeof(d->model_name));
	for (uint32_t i = 0; e0.a >= 0x80000004u && i < 3; i++) {
		struct cpuid_regs r = cpuid(0x80000002u + i, 0);

		memcpy(d->model_name + 16 * i, &r, 16);
	}
	while (*name == ' ')
		name++;
	memmove(d->model_name, name, strlen(name) + 1);
	d->mhz = d->level >= 0x16 ? cpuid(0x16, 0).a & 0xffff : 0;
	d->phys_bits = e0.a >= 0x80000008u ? cpuid(0x80000008u, 0).a & 0xff : 36;
	d->virt_bits = e0.a >= 0x80000008u ? (cpuid(0x80000008u, 0).a >> 8) & 0xff : 48;
	add_flags(&d->flags, leaf1_edx, r1.d);
	if (e0.a >= 0x80000001u)
		add_flags(&d->flags, ext1_edx, cpuid(0x80000001u, 0).d);
	add_flags(&d->flags, leaf1_ecx, r1.c);
	if (e0.a >= 0x80000001u)
		add_flags(&d->flags, ext1_ecx, cpuid(0x80000001u, 0).c);
	if (d->level >= 7) {
		struct cpuid_regs r7 = cpuid(7, 0);

		add_flags(&d->flags, leaf7_ebx, r7.b);
		add_flags(&d->flags, leaf7_ecx, r7.c);
		add_flags(&d->flags, leaf7_edx, r7.d);
	}
	if (d->level >= 0xd)
		add_flags(&d->flags, xsave_eax, cpuid(0xd, 1).a);
}

int proc_cpuinfo_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct cpu_desc d = {0};
	int ncpu = kfs_ncpus();

	describe(&d);
	for (int i = 0; i < ncpu; i++) {
		sbuf_printf(s, "processor\t: %d\nvendor_id\t: %s\ncpu family\t: %u\nmodel\t\t: %u\n"
			       "model name\t: %s\nstepping\t: %u\ncpu MHz\t\t: %u.000\n",
			    i, d.vendor, d.family, d.model, d.model_name, d.stepping, d.mhz);
		sbuf_printf(s, "physical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\n"
			       "apicid\t\t: %d\ninitial apicid\t: %d\nfpu\t\t: yes\n"
			       "fpu_exception\t: yes\ncpuid level\t: %u\nwp\t\t: yes\n",
			    ncpu, i, ncpu, i, i, d.level);
		sbuf_printf(s, "flags\t\t:%s\nbogomips\t: %u.00\nclflush size\t: 64\n"
			       "cache_alignment\t: 64\naddress sizes\t: %u bits physical, %u bits "
			       "virtual\npower management:\n\n",
			    d.flags.buf ? d.flags.buf : "", d.mhz * 2, d.phys_bits, d.virt_bits);
	}
	sbuf_free(&d.flags);
	return 0;
}
