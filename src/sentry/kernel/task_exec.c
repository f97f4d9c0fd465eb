/*
 * execve: loading a new image (ELF, possibly with an interpreter, or a #! script) into a
 * fresh mm, then, past the point of no return, replacing the task's image: other threads
 * killed, close-on-exec, signal handlers reset, new registers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/futex.h"
#include "cvisor/sentry/loader.h"
#include "cvisor/sentry/vdso.h"
#include "kernel_internal.h"

#define BINPRM_BUF 256
#define MAX_SCRIPT_DEPTH 4
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define S_IFDIR_ 0040000

struct exec_image {
	struct mm *mm;
	struct file *file;      /* the executable (or the script's final interpreter) */
	char *filename;         /* as given, for AT_EXECFN and comm */
	char **argv;            /* possibly rewritten by #! */
	uint64_t entry, sp;
};

/* Opens path for execution: a regular file we may execute, on an exec mount. */
static int open_exec(struct task *t, int dirfd, const char *path, int at_flags, struct file **out)
{
	struct path hr, hs;
	struct walk_ctx w;
	int r;

	if ((r = task_walk_ctx(t, dirfd, &w, &hr, &hs)) < 0)
		return r;
	r = vfs_open(&w, path, 0 /* O_RDONLY */ | ((at_flags & 0x100) ? 0400000 : 0), 0, out);
	task_walk_ctx_put(&hr, &hs);
	if (r < 0)
		return r == -ELOOP && (at_flags & 0x100) ? -ELOOP : r;
	struct file *f = *out;
	uint32_t mode = file_mode(f);

	if ((mode & S_IFMT_) != S_IFREG_ || (f->path.mnt && (f->path.mnt->flags & MNT_NOEXEC)))
		r = (mode & S_IFMT_) == S_IFDIR_ ? -EACCES : -EACCES;
	else
		r = vfs_permission(t->cred, f->inode, MAY_EXEC);
	if (r < 0) {
		file_put(f);
		*out = NULL;
	}
	return r;
}

static void free_argv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **dup_argv(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	char **d = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; d && i < n; i++) {
		if (!(d[i] = strdup(v[i]))) {
			free_argv(d);
			return NULL;
		}
	}
	return d;
}

/* "#!interp [arg]": argv becomes interp [arg] path argv[1..]. */
static int parse_script(const char *buf, size_t n, const char *path, char ***argv,
			char **interp_out)
{
	char line[BINPRM_BUF + 1], *p, *interp, *arg = NULL;
	size_t len = MIN(n, (size_t)BINPRM_BUF);
	char **old = *argv, **nv;
	size_t oldc = 0, i = 0;

	memcpy(line, buf, len);
	line[len] = 0;
	if ((p = strchr(line, '\n')))
		*p = 0;
	for (p = line + 2; *p == ' ' || *p == '\t'; p++)
		;
	if (!*p)
		return -ENOEXEC;
	interp = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p) {
		*p++ = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p) {
			arg = p;
			for (char *e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t');)
				*--e = 0;
		}
	}
	while (old && old[oldc])
		oldc++;
	nv = calloc(oldc + 4, sizeof(char *));
	if (!nv)
		return -ENOMEM;
	nv[i++] = strdup(interp);
	if (arg)
		nv[i++] = strdup(arg);
	nv[i++] = strdup(path);
	for (size_t j = 1; j < oldc; j++)
		nv[i++] = old[j];
	if (oldc)
		free(old[0]);
	free(old);
	*argv = nv;
	*interp_out = strdup(interp);
	return *interp_out ? 0 : -ENOMEM;
}

static void fill_auxv(struct task *t, struct mm *mm, struct stack_params *sp,
		      const struct elf_loaded *main_ld, const struct elf_loaded *interp_ld)
{
	uint32_t a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	auxv_push(sp, AT_HWCAP, d);
	auxv_push(sp, AT_PAGESZ, PAGE_SIZE);
	auxv_push(sp, AT_CLKTCK, 100);
	auxv_push(sp, AT_PHDR, main_ld->phdr);
	auxv_push(sp, AT_PHENT, sizeof(Elf64_Phdr));
	auxv_push(sp, AT_PHNUM, main_ld->phnum);
	auxv_push(sp, AT_BASE, interp_ld ? interp_ld->bias : 0);
	auxv_push(sp, AT_FLAGS, 0);
	auxv_push(sp, AT_ENTRY, main_ld->entry);
	auxv_push(sp, AT_UID, t->cred->uid);
	auxv_push(sp, AT_EUID, t->cred->euid);
	auxv_push(sp, AT_GID, t->cred->gid);
	auxv_push(sp, AT_EGID, t->cred->egid);
	auxv_push(sp, AT_SECURE, 0);
	auxv_push(sp, AT_RANDOM, 0);
	auxv_push(sp, AT_HWCAP2, 0x2); /* FSGSBASE: not enabled for applications; 0x2 = ring3mwait? */
	auxv_push(sp, AT_EXECFN, 0);
	auxv_push(sp, AT_PLATFORM, 0);
	auxv_push(sp, AT_MINSIGSTKSZ, ALIGN_UP(cpu_fpu_size() + 1024, 16));
	if (mm->vdso_base)
		auxv_push(sp, AT_SYSINFO_EHDR, mm->vdso_base);
}

/* Reads PT_INTERP, opens and maps the interpreter into mm. */
static int load_interp(struct task *t, struct file *exe, const struct elf_image *img,
		       struct mm *mm, struct elf_loaded *ld)
{
	char *path = calloc(1, img->interp_len + 1);
	struct elf_image iimg;
	struct file *f = NULL;
	ssize_t n;
	int r;

	if (!path)
		return -ENOMEM;
	n = vfs_pread(exe, t, path, img->interp_len, (int64_t)img->interp_off);
	if (n != (ssize_t)img->interp_len || path[img->interp_len - 1] != 0) {
		free(path);
		return -ENOEXEC;
	}
	r = open_exec(t, AT_FDCWD_LINUX, path, 0, &f);
	free(path);
	if (r < 0)
		return r == -EACCES ? -EACCES : -ENOENT;
	if ((r = elf_read(t, f, &iimg)) == 0)
		r = iimg.has_interp ? -ELIBBAD : elf_map(mm, f, &iimg, false, ld);
	file_put(f);
	return r;
}

static int load_elf(struct task *t, struct exec_image *im, char *const *envp)
{
	struct elf_image *img = malloc(sizeof(*img));
	struct elf_loaded main_ld = {0}, interp_ld = {0};
	struct stack_params sp = {.argv = im->argv, .envp = envp, .execfn = im->filename};
	int r;
	int64_t rsp;

	if (!img)
		return -ENOMEM;
	if ((r = elf_read(t, im->file, img)) < 0)
		goto out;
	im->mm = mm_new(&t->k->mf, t->k->platform);
	if (IS_ERR(im->mm)) {
		r = (int)PTR_ERR(im->mm);
		im->mm = NULL;
		goto out;
	}
	im->mm->stack_limit = MIN(task_rlimit(t, 3 /* RLIMIT_STACK */), 1ull << 32);
	im->mm->as_limit = task_rlimit(t, 9 /* RLIMIT_AS */);
	if ((rsp = stack_map(im->mm)) < 0) /* first: it fixes mmap_base */
		goto stack_err;
	if ((r = elf_map(im->mm, im->file, img, true, &main_ld)) < 0)
		goto out;
	if (img->has_interp && (r = load_interp(t, im->file, img, im->mm, &interp_ld)) < 0)
		goto out;
	im->mm->brk_start = im->mm->brk = main_ld.end;
	im->entry = img->has_interp ? interp_ld.entry : main_ld.entry;
	if ((r = vdso_map(t->k, im->mm)) < 0)
		goto out;
	fill_auxv(t, im->mm, &sp, &main_ld, img->has_interp ? &interp_ld : NULL);
	if ((rsp = stack_build(im->mm, &sp)) < 0)
		goto stack_err;
	im->sp = (uint64_t)rsp;
	r = 0;
	goto out;
stack_err:
	r = (int)rsp;
out:
	free(img);
	return r;
}

static int load_image(struct task *t, int dirfd, const char *path, char *const *envp,
		      int at_flags, struct exec_image *im)
{
	char buf[BINPRM_BUF];
	char *cur = strdup(path);
	int r = -ENOMEM;

	for (int depth = 0; cur; depth++) {
		ssize_t n;

		if (depth > MAX_SCRIPT_DEPTH) {
			r = -ELOOP;
			break;
		}
		if (im->file)
			file_put(im->file);
		im->file = NULL;
		if ((r = open_exec(t, depth ? AT_FDCWD_LINUX : dirfd, cur, depth ? 0 : at_flags,
				   &im->file)) < 0)
			break;
		if ((n = vfs_pread(im->file, t, buf, sizeof(buf), 0)) < 0) {
			r = (int)n;
			break;
		}
		if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
			char *interp = NULL;

			if ((r = parse_script(buf, (size_t)n, depth ? cur : im->filename, &im->argv,
					      &interp)) < 0)
				break;
			free(cur);
			cur = interp;
			continue;
		}
		r = load_elf(t, im, envp);
		break;
	}
	free(cur);
	return r;
}

/* Waits until t is the only thread of its group, killing the others (de_thread). */
static int kill_other_threads(struct task *t)
{
	struct kernel *k = t->k;
	struct thread_group *tg = t->tg;
	struct waiter w = {0};
	int r = 0;

	pthread_mutex_lock(&k->lock);
	if (tg->exiting) {
		pthread_mutex_unlock(&k->lock);
		return -EINTR;
	}
	thread_group_kill_locked(tg, t);
	pthread_mutex_unlock(&k->lock);
	waitqueue_add(&tg->child_wq, &w, t, ~0ull);
	for (;;) {
		uint32_t seq = task_wake_seq(t);

		pthread_mutex_lock(&k->lock);
		bool alone = tg->nr_threads == 1;

		pthread_mutex_unlock(&k->lock);
		if (alone)
			break;
		if (task_block_killable(t, seq, 0) == -EINTR) {
			r = -EINTR;
			break;
		}
	}
	waitqueue_remove(&tg->child_wq, &w);
	return r;
}

/* A non-leader exec takes over the leader's pid (kernel->lock held, t alone in tg). */
static void become_leader_locked(struct task *t)
{
	struct thread_group *tg = t->tg;
	struct task *old = tg->leader;

	if (old == t)
		return;
	for (struct task **pp = &tg->threads; *pp; pp = &(*pp)->tg_next) {
		if (*pp == old) {
			*pp = old->tg_next;
			break;
		}
	}
	pid_remove(t->k, old->tid);
	pid_remove(t->k, t->tid);
	old->state = TASK_DEAD;
	t->tid = tg->tgid;
	pid_insert(t->k, t); /* a slot was just freed: cannot fail */
	tg->leader = t;
	task_put(old);
	tg->refs--; /* t's extra group reference as a non-leader */
}

static void reset_signal_handlers(struct thread_group *tg)
{
	struct sighand *sh = tg->sighand;

	if (sh->refs > 1) {
		struct sighand *n = malloc(sizeof(*n));

		if (n) {
			*n = *sh;
			n->refs = 1;
			sh->refs--;
			tg->sighand = sh = n;
		}
	}
	for (int i = 0; i < LINUX_NSIG; i++) {
		if (sh->act[i].handler != LINUX_SIG_IGN)
			sh->act[i].handler = LINUX_SIG_DFL;
		sh->act[i].flags = 0;
		sh->act[i].restorer = 0;
		sh->act[i].mask = 0;
	}
}

/* Past the point of no return: the task now runs im. */
static void commit(struct task *t, struct exec_image *im)
{
	struct kernel *k = t->k;
	struct mm *old = t->mm;
	const char *base = strrchr(im->filename, '/');

	if (t->files->refs > 1) {
		struct fd_table *n = fd_table_copy(t->files);

		if (n) {
			fd_table_put(t->files);
			t->files = n;
		}
	}
	fd_table_exec(t->files);
	timers_exec(t);
	if (old && t->clear_child_tid && old->users > 1)
		futex_exit_robust(t);
	t->clear_child_tid = 0;
	t->robust_list = 0;
	im->mm->exe = im->file;
	im->file = NULL;
	t->mm = im->mm;
	im->mm = NULL;

	pthread_mutex_lock(&k->lock);
	become_leader_locked(t);
	reset_signal_handlers(t->tg);
	free(t->tg->exe_path);
	t->tg->exe_path = strdup(im->filename);
	snprintf(t->comm, sizeof(t->comm), "%s", base ? base + 1 : im->filename);
	if (t->vfork_parent)
		task_vfork_done_locked(t);
	pthread_mutex_unlock(&k->lock);
	if (old) {
		task_cputime_exec(t, old);
		mm_put(old);
	}

	t->altstack = (struct linux_stack){.ss_flags = LINUX_SS_DISABLE};
	memset(&t->cpu.regs, 0, sizeof(t->cpu.regs));
	t->cpu.regs.rip = im->entry;
	t->cpu.regs.rsp = im->sp;
	t->cpu.regs.eflags = 0x202;
	t->cpu.regs.orig_rax = (uint64_t)-1;
	cpu_fpu_init(t->cpu.fpu);
	t->cpu.fpu_valid = true;
	t->cpu.fpu_dirty = true;
	t->in_syscall = false;
}

int task_execve(struct task *t, int dirfd, const char *path, char *const *argv,
		char *const *envp, int at_flags)
{
	struct exec_image im = {0};
	int r;

	im.filename = strdup(path);
	im.argv = dup_argv(argv);
	if (!im.filename || !im.argv) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = load_image(t, dirfd, path, envp, at_flags, &im)) < 0)
		goto out;
	if (t->tg->nr_threads > 1 && (r = kill_other_threads(t)) < 0)
		goto out;
	commit(t, &im);
out:
	if (im.mm)
		mm_put(im.mm);
	if (im.file)
		file_put(im.file);
	free(im.filename);
	free_argv(im.argv);
	return r;
}
