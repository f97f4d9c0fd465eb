/* Unit tests of ELF header parsing (src/sentry/loader/elf.c): what is refused, and the span
 * and facts computed from program headers. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cvisor/sentry/loader.h"

static Elf64_Ehdr good_ehdr(void)
{
	Elf64_Ehdr eh;

	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	eh.e_entry = 0x401000;
	return eh;
}

static void accepts_x86_64_exec_and_dyn(void **state)
{
	struct elf_image img;
	Elf64_Ehdr eh = good_ehdr();

	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), 0);
	assert_false(img.dyn);
	eh.e_type = ET_DYN;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), 0);
	assert_true(img.dyn);
}

static void refuses_what_is_not_ours(void **state)
{
	struct elf_image img;
	Elf64_Ehdr eh;

	eh = good_ehdr();
	eh.e_ident[EI_MAG1] = 'X';
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	eh.e_machine = EM_AARCH64;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	eh.e_type = ET_REL;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	eh.e_phentsize = 10;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	eh.e_phnum = ELF_MAX_PHDRS + 1;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), -ENOEXEC);
	eh = good_ehdr();
	assert_int_equal(elf_parse_header(&eh, 20, &img), -ENOEXEC); /* truncated */
}

static void span_interp_and_stack(void **state)
{
	struct elf_image img;
	Elf64_Ehdr eh = good_ehdr();

	eh.e_phnum = 4;
	assert_int_equal(elf_parse_header(&eh, sizeof(eh), &img), 0);
	img.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
				 .p_vaddr = 0x400000, .p_filesz = 0x1234, .p_memsz = 0x1234};
	img.ph[1] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x2010,
				 .p_vaddr = 0x402010, .p_filesz = 0x100, .p_memsz = 0x5000};
	img.ph[2] = (Elf64_Phdr){.p_type = PT_INTERP, .p_offset = 0x300, .p_filesz = 28};
	img.ph[3] = (Elf64_Phdr){.p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W};
	assert_int_equal(elf_parse_phdrs(&img), 0);
	assert_int_equal(img.lo, 0x400000);
	assert_int_equal(img.hi, 0x408000); /* 0x402010 + 0x5000 rounded up */
	assert_true(img.has_interp);
	assert_int_equal(img.interp_len, 28);
	assert_false(img.exec_stack);
	assert_int_equal(img.phdr_vaddr, 0x400040); /* headers inside the first segment */
}

static void refuses_inconsistent_segments(void **state)
{
	struct elf_image img;
	Elf64_Ehdr eh = good_ehdr();

	eh.e_phnum = 1;
	elf_parse_header(&eh, sizeof(eh), &img);
	/* file size larger than memory size */
	img.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_vaddr = 0x400000, .p_filesz = 0x2000,
				 .p_memsz = 0x1000};
	assert_int_equal(elf_parse_phdrs(&img), -ENOEXEC);
	/* misaligned offset against vaddr */
	img.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_vaddr = 0x400010, .p_offset = 0x20,
				 .p_filesz = 0x10, .p_memsz = 0x10};
	assert_int_equal(elf_parse_phdrs(&img), -ENOEXEC);
	/* wrapping address */
	img.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_vaddr = ~0ull - 0x10, .p_filesz = 0,
				 .p_memsz = 0x100};
	assert_int_equal(elf_parse_phdrs(&img), -ENOEXEC);
	/* no loadable segment at all */
	img.ph[0] = (Elf64_Phdr){.p_type = PT_NOTE};
	assert_int_equal(elf_parse_phdrs(&img), -ENOEXEC);
	/* an absurd interpreter length */
	img.ph[0] = (Elf64_Phdr){.p_type = PT_INTERP, .p_filesz = 1 << 20};
	assert_int_equal(elf_parse_phdrs(&img), -ENOEXEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_x86_64_exec_and_dyn),
		cmocka_unit_test(refuses_what_is_not_ours),
		cmocka_unit_test(span_interp_and_stack),
		cmocka_unit_test(refuses_inconsistent_segments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
