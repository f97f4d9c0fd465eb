/*
 * The program loader (src/sentry/loader): ELF64 executables (static, dynamic with PT_INTERP,
 * PIE) and the initial stack (argv, envp, auxv) of a new image.
 */
#ifndef CV_SENTRY_LOADER_H
#define CV_SENTRY_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <elf.h>

struct mm;
struct file;
struct task;

#define ELF_MAX_PHDRS 128
#define ELF_INTERP_MAX 4096

/* What the headers say, before anything is mapped. */
struct elf_image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_MAX_PHDRS];
	unsigned nph;
	uint64_t lo, hi;   /* page-aligned span of the PT_LOAD segments */
	bool dyn;          /* ET_DYN: position independent */
	bool exec_stack;   /* PT_GNU_STACK with PF_X (or absent) */
	uint64_t phdr_vaddr; /* PT_PHDR, or the load address of the headers, 0 if unknown */
	bool has_interp;
	uint64_t interp_off, interp_len; /* PT_INTERP, in the file */
};

/*
 * Validates an ELF header (buf holds at least the first n bytes of the file) for x86-64
 * Linux and fills eh.  Returns 0, -ENOEXEC (not ELF / wrong arch or type), or -EINVAL.
 */
int elf_parse_header(const void *buf, size_t n, struct elf_image *img);
/* Validates the program headers (img->ph filled from the file) and computes the span. */
int elf_parse_phdrs(struct elf_image *img);

/* Where an image ended up. */
struct elf_loaded {
	uint64_t bias;  /* added to every vaddr */
	uint64_t entry; /* bias + e_entry */
	uint64_t phdr;  /* address of the program headers in memory */
	unsigned phnum;
	uint64_t end;   /* page-aligned end of the highest segment (brk start) */
};

/* Maps img's segments from f into mm.  main selects the PIE base (else any free range). */
int elf_map(struct mm *mm, struct file *f, const struct elf_image *img, bool main,
	    struct elf_loaded *out);

/* Reads img's headers from f (header, program headers). */
int elf_read(struct task *t, struct file *f, struct elf_image *img);

struct stack_params {
	char *const *argv;
	char *const *envp;
	const char *execfn;
	uint64_t auxv[64]; /* (type, value) pairs, AT_NULL-terminated */
	size_t auxc;       /* pairs */
};

/* Creates the stack VMA below a randomised top of the address space; sets mm->stack_top and
 * mm->mmap_base (so it comes before mapping the image).  Returns the top or -errno. */
int64_t stack_map(struct mm *mm);

/* Builds the initial stack below mm->stack_top; returns the initial rsp or -errno. */
int64_t stack_build(struct mm *mm, const struct stack_params *sp);

/* Adds an auxv pair. */
static inline void auxv_push(struct stack_params *sp, uint64_t type, uint64_t val)
{
	if (sp->auxc < 31) {
		sp->auxv[sp->auxc * 2] = type;
		sp->auxv[sp->auxc * 2 + 1] = val;
		sp->auxc++;
	}
}

#endif
