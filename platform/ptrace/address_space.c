/*
 * Address spaces: the master stub, one stub process per address space, and the mmap/munmap
 * injections that fill them from the memory file.  See thread.c for who traces what.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "ptrace_internal.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* The kernel's XSAVE regset must be exactly what the sentry allocates (cpu_fpu_size()). */
static int check_fpu_size(struct ptrace_platform *pp, pid_t tid)
{
	size_t cap = pp->fpu_size + 4096;
	uint8_t *buf = malloc(cap);
	struct iovec iov = { buf, cap };
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)pp->fpu_note, &iov) < 0)
		r = -errno;
	else if (iov.iov_len != pp->fpu_size)
		r = -EINVAL;
	if (r < 0)
		log_err("ptrace: FPU regset: %zu bytes, CPUID says %zu (%d)", iov.iov_len,
			pp->fpu_size, r);
	free(buf);
	return r;
}

static int master_setup(struct ptrace_platform *pp, pid_t pid, int gate)
{
	struct cpu_regs regs;
	int status, r;

	if (ptrace(PTRACE_SEIZE, pid, NULL, PTRACE_O_EXITKILL) < 0)
		return -errno;
	if (write(gate, "g", 1) != 1)
		return -EIO;
	r = tracee_wait_trap(pid, stub_addr(pp, ptrace_stub_init_trap), &regs, &status);
	if (r < 0) {
		/* An exit status 101-110 names the failed step of stub_master_child(). */
		log_err("ptrace: master stub setup failed: %d (wait status %#x)", r, status);
		return r;
	}
	if ((r = check_fpu_size(pp, pid)) < 0)
		return r;
	pp->stub_seg = regs;
	return tracee_detach(pid);
}

int ptrace_master_create(struct ptrace_platform *pp)
{
	struct master_args a = { .memfd = pp->memfd,
				 .sentry_pid = pp->sentry_pid,
				 .base = pp->stub_base,
				 .cpuid_faulting = pp->cpuid_faulting };
	int gate[2], r;
	long pid;

	if (pipe2(gate, O_CLOEXEC) < 0)
		return -errno;
	a.gate = gate[0];
	/* A raw fork: exit signal 0, so only __WALL waits see it and nothing auto-reaps it. */
	pid = syscall(SYS_clone, 0ul, NULL, NULL, NULL, 0ul);
	if (pid == 0)
		stub_master_child(&a);
	r = pid < 0 ? -errno : master_setup(pp, (pid_t)pid, gate[1]);
	close(gate[0]);
	close(gate[1]);
	if (r < 0 && r != -ECHILD && pid > 0) {
		kill((pid_t)pid, SIGKILL);
		tracee_reap((pid_t)pid);
	}
	if (r == 0)
		pp->master = (pid_t)pid;
	return r;
}

/* Injects the fork into the master: returns the child's pid, traced by the caller. */
static long master_fork(struct ptrace_platform *pp)
{
	struct cpu_regs regs;
	long pid;
	int r;

	pthread_mutex_lock(&pp->master_lock);
	r = pp->master > 0 ? tracee_seize(pp->master, 0) : -ESRCH;
	if (r < 0)
		goto out;
	if ((r = tracee_getregs(pp->master, &regs)) == 0) {
		regs.rax = SYS_clone;
		regs.rdi = STUB_FORK_CLONE_FLAGS;
		regs.rsi = regs.rdx = regs.r10 = regs.r8 = 0;
		regs.r15 = (uint64_t)pp->sentry_pid; /* checked by the child against getppid() */
		r = tracee_syscall(pp, pp->master, &regs, stub_addr(pp, ptrace_stub_fork),
				   stub_addr(pp, ptrace_stub_fork_trap), &pid);
	}
	if (r != -ECHILD)
		tracee_release(pp->master);
out:
	if (r == -ECHILD || r == -ESRCH) {
		/* Gone (and reaped): never touch that pid again, it may be reused. */
		log_err("ptrace: the master stub died; no new address spaces");
		pp->master = -1;
	}
	pthread_mutex_unlock(&pp->master_lock);
	return r < 0 ? r : pid;
}

/* Brings a new stub from its birth (traced by us) to parked, with a parked spawner. */
static long child_setup(struct ptrace_platform *pp, pid_t pid)
{
	struct cpu_regs regs;
	int status, r;
	long spawner;

	r = tracee_wait_trap(pid, stub_addr(pp, ptrace_stub_child_trap), &regs, &status);
	if (r < 0) {
		log_warn("ptrace: new stub %d failed to start (%d, status %#x)", pid, r, status);
		return r;
	}
	spawner = stub_clone_thread(pp, pid);
	if (spawner < 0)
		return spawner;
	r = tracee_detach(pid);
	return r < 0 ? r : spawner;
}

static struct ptrace_as *as_alloc(struct ptrace_platform *pp)
{
	struct ptrace_as *pas = calloc(1, sizeof(*pas));

	if (!pas)
		return NULL;
	pas->base.platform = pp->p;
	pas->pp = pp;
	pthread_mutex_init(&pas->lock, NULL);
	pthread_mutex_init(&pas->map_lock, NULL);
	plist_init(&pas->threads);
	plist_init(&pas->link);
	return pas;
}

static void as_free(struct ptrace_as *pas)
{
	pthread_mutex_destroy(&pas->lock);
	pthread_mutex_destroy(&pas->map_lock);
	free(pas);
}

struct address_space *ptrace_new_address_space(struct platform *p)
{
	struct ptrace_platform *pp = p->priv;
	struct ptrace_as *pas = as_alloc(pp);
	long pid, spawner;

	if (!pas)
		return ERR_PTR(-ENOMEM);
	pid = master_fork(pp);
	if (pid < 0) {
		as_free(pas);
		return ERR_PTR(pid == -ECHILD ? -ESRCH : pid);
	}
	spawner = child_setup(pp, (pid_t)pid);
	if (spawner < 0) {
		if (spawner != -ECHILD) { /* else it is reaped already: its pid is not ours */
			kill((pid_t)pid, SIGKILL);
			tracee_reap((pid_t)pid);
		}
		as_free(pas);
		return ERR_PTR(spawner == -ECHILD ? -ESRCH : spawner);
	}
	pas->pid = (pid_t)pid;
	pas->spawner = (pid_t)spawner;
	pthread_mutex_lock(&pp->lock);
	pas->gen = ++pp->next_gen;
	plist_add(&pp->as_list, &pas->link);
	pthread_mutex_unlock(&pp->lock);
	return &pas->base;
}

void ptrace_release_address_space(struct address_space *as)
{
	struct ptrace_as *pas = to_pas(as);
	struct ptrace_platform *pp = pas->pp;
	struct ptrace_tls *me = pthread_getspecific(pp->tls_key);
	struct plist *pos, *tmp;

	pthread_mutex_lock(&pp->lock);
	plist_del(&pas->link);
	pthread_mutex_unlock(&pp->lock);

	pthread_mutex_lock(&pas->lock);
	kill(pas->pid, SIGKILL);
	/* Traced threads first: the leader is not reported before its group is empty.  Another
	 * sentry thread's tracee may lose its tracer meanwhile (that thread exiting): polled. */
	plist_for_each_safe (pos, tmp, &pas->threads) {
		struct stub_thread *t = container_of(pos, struct stub_thread, link);

		if (t->reaped)
			;
		else if (me && t->owner == me)
			tracee_reap(t->tid);
		else
			tracee_reap_foreign(t->tid);
		plist_del(&t->link);
		free(t);
	}
	/* The spawner and any untraced thread reap themselves; the leader is ours to reap. */
	tracee_reap(pas->pid);
	pthread_mutex_unlock(&pas->lock);
	as_free(pas);
}

static bool range_ok(struct ptrace_platform *pp, uint64_t addr, uint64_t len)
{
	struct platform *p = pp->p;

	return len && IS_ALIGNED(addr, 4096) && IS_ALIGNED(len, 4096) &&
	       addr >= p->min_user_address && addr < p->max_user_address &&
	       len <= p->max_user_address - addr;
}

/* Runs nr(args) in the calling thread's stub thread in pas. */
static long as_syscall(struct ptrace_as *pas, long nr, const uint64_t args[6])
{
	struct ptrace_platform *pp = pas->pp;
	struct ptrace_tls *tls = ptrace_tls_get(pp);
	struct stub_thread *t;
	struct cpu_regs regs;
	long ret;
	int r;

	if (!tls)
		return -ENOMEM;
	t = stub_thread_get(pas, tls);
	if (IS_ERR(t))
		return PTR_ERR(t);
	if (!t->kregs_valid && (r = tracee_getregs(t->tid, &t->kregs)) < 0)
		goto fail;
	regs = t->kregs;
	regs.rax = (uint64_t)nr;
	regs.rdi = args[0], regs.rsi = args[1], regs.rdx = args[2];
	regs.r10 = args[3], regs.r8 = args[4], regs.r9 = args[5];
	t->kregs_valid = false; /* the next switch pushes every register back */
	pthread_mutex_lock(&pas->map_lock);
	r = tracee_syscall(pp, t->tid, &regs, stub_addr(pp, ptrace_stub_syscall),
			   stub_addr(pp, ptrace_stub_syscall_trap), &ret);
	pthread_mutex_unlock(&pas->map_lock);
	if (r == 0)
		return ret;
fail:
	if (r == -ESRCH)
		tracee_reap(t->tid);
	if (r == -ESRCH || r == -ECHILD)
		stub_thread_mark_dead(pas, t);
	return r == -ECHILD ? -ESRCH : r;
}

int ptrace_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot)
{
	struct ptrace_as *pas = to_pas(as);
	uint64_t args[6] = { addr, len, (uint64_t)prot, MAP_SHARED | MAP_FIXED, STUB_MEMFD, off };
	long r;

	if (!range_ok(pas->pp, addr, len) || !IS_ALIGNED(off, 4096) ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	r = as_syscall(pas, SYS_mmap, args);
	if (r >= 0 && (uint64_t)r != addr)
		return -EFAULT; /* MAP_FIXED cannot move it; refuse to pretend */
	return r < 0 ? (int)r : 0;
}

int ptrace_unmap(struct address_space *as, uint64_t addr, uint64_t len)
{
	struct ptrace_as *pas = to_pas(as);
	uint64_t args[6] = { addr, len, 0, 0, 0, 0 };
	long r;

	if (!range_ok(pas->pp, addr, len))
		return -EINVAL;
	r = as_syscall(pas, SYS_munmap, args);
	return r < 0 ? (int)r : 0;
}

/* The stub process's CPU clock: every application thread of this address space. */
int ptrace_as_cpu_time(struct address_space *as, uint64_t *ns)
{
	return platform_process_cpu_time(to_pas(as)->pid, ns);
}
