/* ELF64 parsing and mapping (x86-64 Linux executables and shared objects). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "cvisor/err.h"
#include "cvisor/sentry/loader.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/task.h"
#include "cvisor/sentry/vfs.h"

#define PIE_BASE 0x555555554000ull

int elf_parse_header(const void *buf, size_t n, struct elf_image *img)
{
	const Elf64_Ehdr *eh = buf;

	memset(img, 0, sizeof(*img));
	if (n < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
		return -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_MAX_PHDRS)
		return -ENOEXEC;
	img->eh = *eh;
	img->nph = eh->e_phnum;
	img->dyn = eh->e_type == ET_DYN;
	img->exec_stack = true;
	return 0;
}

int elf_parse_phdrs(struct elf_image *img)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (unsigned i = 0; i < img->nph; i++) {
		const Elf64_Phdr *p = &img->ph[i];

		switch (p->p_type) {
		case PT_LOAD:
			if (p->p_filesz > p->p_memsz || p->p_vaddr + p->p_memsz < p->p_vaddr ||
			    p->p_offset + p->p_filesz < p->p_offset ||
			    (p->p_vaddr & ~PAGE_MASK) != (p->p_offset & ~PAGE_MASK))
				return -ENOEXEC;
			if (p->p_memsz == 0)
				break;
			lo = MIN(lo, p->p_vaddr & PAGE_MASK);
			hi = MAX(hi, ALIGN_UP(p->p_vaddr + p->p_memsz, PAGE_SIZE));
			if (!img->phdr_vaddr && p->p_offset <= img->eh.e_phoff &&
			    img->eh.e_phoff < p->p_offset + p->p_filesz)
				img->phdr_vaddr = p->p_vaddr + (img->eh.e_phoff - p->p_offset);
			break;
		case PT_INTERP:
			if (p->p_filesz < 2 || p->p_filesz > ELF_INTERP_MAX)
				return -ENOEXEC;
			img->has_interp = true;
			img->interp_off = p->p_offset;
			img->interp_len = p->p_filesz;
			break;
		case PT_GNU_STACK:
			img->exec_stack = (p->p_flags & PF_X) != 0;
			break;
		case PT_PHDR:
			img->phdr_vaddr = p->p_vaddr;
			break;
		default:
			break;
		}
	}
	if (lo >= hi)
		return -ENOEXEC;
	img->lo = lo;
	img->hi = hi;
	return 0;
}

int elf_read(struct task *t, struct file *f, struct elf_image *img)
{
	uint8_t hdr[sizeof(Elf64_Ehdr)];
	ssize_t n = vfs_pread(f, t, hdr, sizeof(hdr), 0);
	size_t phsz;
	int r;

	if (n < 0)
		return (int)n;
	if ((r = elf_parse_header(hdr, (size_t)n, img)) < 0)
		return r;
	phsz = img->nph * sizeof(Elf64_Phdr);
	n = vfs_pread(f, t, img->ph, phsz, (int64_t)img->eh.e_phoff);
	if (n < 0)
		return (int)n;
	if ((size_t)n != phsz)
		return -ENOEXEC;
	return elf_parse_phdrs(img);
}

static int seg_prot(uint32_t flags)
{
	return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
	       ((flags & PF_X) ? PROT_EXEC : 0);
}

/* Picks the load bias: fixed for ET_EXEC, the PIE base for a main ET_DYN, any gap else. */
static int64_t choose_bias(struct mm *mm, const struct elf_image *img, bool main)
{
	uint64_t span = img->hi - img->lo, rnd = 0;

	if (!img->dyn)
		return 0;
	if (main) {
		uint64_t base = MIN(PIE_BASE, (mm->max_addr / 3 * 2) & PAGE_MASK);

		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = 0;
		base += (rnd % (1ull << 20)) * PAGE_SIZE;
		return (int64_t)(base - img->lo);
	}
	struct mm_map_req r = {.len = span, .prot = PROT_NONE};
	int64_t addr = mm_map(mm, &r); /* reserve the span; segments replace it */

	if (addr < 0)
		return addr;
	return addr - (int64_t)img->lo;
}

static int map_segment(struct mm *mm, struct file *f, struct mem_object *obj, const Elf64_Phdr *p,
		       uint64_t bias)
{
	uint64_t start = (p->p_vaddr & PAGE_MASK) + bias;
	uint64_t file_end = ALIGN_UP(p->p_vaddr + p->p_filesz, PAGE_SIZE) + bias;
	uint64_t mem_end = ALIGN_UP(p->p_vaddr + p->p_memsz, PAGE_SIZE) + bias;
	int prot = seg_prot(p->p_flags);
	int64_t r;

	if (p->p_filesz) {
		struct mm_map_req fr = {
			.addr = start, .len = file_end - start, .prot = prot, .flags = MM_FIXED,
			.obj = obj, .obj_off = p->p_offset & PAGE_MASK, .file = f,
		};

		if ((r = mm_map(mm, &fr)) < 0)
			return (int)r;
		/* The rest of the last file page is bss: zero it (a private copy). */
		uint64_t bss = p->p_vaddr + p->p_filesz + bias;

		if (p->p_memsz > p->p_filesz && (bss & ~PAGE_MASK) && (prot & PROT_WRITE) &&
		    mm_zero_out(mm, bss, ALIGN_UP(bss, PAGE_SIZE) - bss) < 0)
			return -EFAULT;
	} else {
		file_end = start;
	}
	if (mem_end > file_end) {
		struct mm_map_req ar = {
			.addr = file_end, .len = mem_end - file_end, .prot = prot, .flags = MM_FIXED,
		};

		if ((r = mm_map(mm, &ar)) < 0)
			return (int)r;
	}
	return 0;
}

int elf_map(struct mm *mm, struct file *f, const struct elf_image *img, bool main,
	    struct elf_loaded *out)
{
	struct mem_object *obj = vfs_mmap(f, false, false);
	int64_t bias;
	int r = 0;

	if (IS_ERR(obj))
		return (int)PTR_ERR(obj);
	bias = choose_bias(mm, img, main);
	if (bias < 0 && -bias < 4096) {
		obj->ops->put(obj);
		return (int)bias;
	}
	if (img->lo + (uint64_t)bias < mm->min_addr || img->hi + (uint64_t)bias > mm->max_addr) {
		obj->ops->put(obj);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < img->nph && r == 0; i++)
		if (img->ph[i].p_type == PT_LOAD && img->ph[i].p_memsz)
			r = map_segment(mm, f, obj, &img->ph[i], (uint64_t)bias);
	obj->ops->put(obj);
	if (r < 0)
		return r;
	out->bias = (uint64_t)bias;
	out->entry = img->eh.e_entry + (uint64_t)bias;
	out->phdr = img->phdr_vaddr ? img->phdr_vaddr + (uint64_t)bias : 0;
	out->phnum = img->nph;
	out->end = img->hi + (uint64_t)bias;
	return 0;
}
