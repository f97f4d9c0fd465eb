/*
 * vCPUs: a pool (KVM cannot destroy a vCPU before its VM), the kick signal that makes a
 * running KVM_RUN return, and the maintenance vCPU that re-stores page-table entries in
 * ring 0 so KVM drops its shadows of them.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "kvm_internal.h"

/* KVM_RUN's signal mask: everything blocked but `allow` (0: everything blocked). */
static int vcpu_sigmask(int fd, int allow)
{
	union {
		struct kvm_signal_mask h;
		uint8_t b[sizeof(struct kvm_signal_mask) + 8];
	} m;
	uint64_t set = ~0ull;

	if (allow)
		set &= ~(1ull << (allow - 1));
	m.h.len = 8; /* the kernel's sigset_t; the set follows len directly */
	memcpy(m.b + sizeof(m.h), &set, 8);
	return ioctl(fd, KVM_SET_SIGNAL_MASK, &m) < 0 ? -errno : 0;
}

static void vcpu_free(struct kvm_platform *kp, struct vcpu *v)
{
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, kp->run_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

static struct vcpu *vcpu_create(struct kvm_platform *kp, unsigned id, int allow_signal)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return ERR_PTR(-ENOMEM);
	v->id = id;
	v->fd = ioctl(kp->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		r = -errno;
		goto err;
	}
	v->run = mmap(NULL, kp->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		r = -errno;
		goto err;
	}
	if ((r = kvm_layout_vcpu_init(kp, v)) < 0 || (r = vcpu_sigmask(v->fd, allow_signal)) < 0)
		goto err;
	return v;
err:
	log_err("kvm: creating vCPU %u: %s", id, strerror(-r));
	vcpu_free(kp, v);
	return ERR_PTR(r);
}

/* Creates vCPU number kp->nvcpus; call with vcpu_lock held. */
static struct vcpu *vcpu_new_locked(struct kvm_platform *kp, int allow_signal)
{
	struct vcpu *v;

	if (kp->nvcpus >= KVM_MAX_VCPUS)
		return ERR_PTR(-EAGAIN);
	v = vcpu_create(kp, kp->nvcpus, allow_signal);
	if (!IS_ERR(v))
		kp->vcpus[kp->nvcpus++] = v;
	return v;
}

struct vcpu *kvm_vcpu_get(struct kvm_platform *kp)
{
	struct vcpu *v;

	pthread_mutex_lock(&kp->vcpu_lock);
	v = kp->vcpu_pool;
	if (v)
		kp->vcpu_pool = v->next;
	else
		v = vcpu_new_locked(kp, kp->kick_signal);
	pthread_mutex_unlock(&kp->vcpu_lock);
	return v;
}

void kvm_vcpu_put(struct kvm_platform *kp, struct vcpu *v)
{
	pthread_mutex_lock(&kp->vcpu_lock);
	v->next = kp->vcpu_pool;
	kp->vcpu_pool = v;
	pthread_mutex_unlock(&kp->vcpu_lock);
}

void kvm_vcpu_destroy_all(struct kvm_platform *kp)
{
	for (unsigned i = 0; i < kp->nvcpus; i++)
		vcpu_free(kp, kp->vcpus[i]);
	kp->nvcpus = 0;
	kp->vcpu_pool = NULL;
	kp->maint = NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* only ever pending while blocked; a stray delivery must not kill us */
}

int kvm_kick_setup(struct kvm_platform *kp)
{
	struct sigaction sa;
	struct vcpu *v;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	kp->kick_signal = SIGRTMAX - 2;
	if (sigaction(kp->kick_signal, &sa, NULL) < 0)
		return -errno;
	pthread_mutex_lock(&kp->vcpu_lock);
	v = vcpu_new_locked(kp, 0);
	pthread_mutex_unlock(&kp->vcpu_lock);
	if (IS_ERR(v))
		return (int)PTR_ERR(v);
	kp->maint = v;
	return 0;
}

void kvm_kick_block(struct kvm_platform *kp)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, kp->kick_signal);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void kvm_kick_consume(struct kvm_platform *kp)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, kp->kick_signal);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

/* Writes the (kva, count) runs of tl from index *next on; returns the number of runs. */
static uint64_t maint_fill(struct kvm_platform *kp, const struct touch_list *tl, size_t *next)
{
	uint64_t *pairs = (uint64_t *)(kp->sys + SYS_MAINT);
	const uint64_t max = SYS_MAINT_SIZE / 16;
	uint64_t n = 0;

	while (*next < tl->n && n < max) {
		uint64_t gpa = tl->gpa[*next], count = 1;

		while (*next + count < tl->n && tl->gpa[*next + count] == gpa + 8 * count &&
		       ((gpa + 8 * count) & (KVM_PAGE - 1)))
			count++;
		pairs[2 * n] = KVM_KPT_VA + (gpa - KVM_PT_GPA);
		pairs[2 * n + 1] = count;
		n++;
		*next += count;
	}
	return n;
}

static int maint_run(struct kvm_platform *kp, uint64_t npairs)
{
	struct vcpu *v = kp->maint;
	struct kvm_regs *r = &v->run->s.regs.regs;

	memset(r, 0, sizeof(*r));
	r->rip = kvm_layout_maint_rip();
	r->rsp = v->stack_va + KVM_PAGE;
	r->rflags = 0x2;
	r->rbx = KVM_KSYS_VA + SYS_MAINT;
	r->rdx = npairs;
	kvm_layout_maint_sregs(kp, v);
	v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	while (ioctl(v->fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (v->run->exit_reason != KVM_EXIT_IO || v->run->io.port != KVM_PORT_MAINT) {
		log_err("kvm: maintenance vCPU stopped unexpectedly (exit %u, port %#x, rip %#llx, "
			"cr2 %#llx, rsi %#llx)",
			v->run->exit_reason, v->run->io.port, v->run->s.regs.regs.rip,
			v->run->s.regs.sregs.cr2, v->run->s.regs.regs.rsi);
		return -EIO;
	}
	return 0;
}

int kvm_maint_touch(struct kvm_platform *kp, const struct touch_list *tl)
{
	size_t next = 0;
	int r = 0;

	if (!tl->n)
		return 0;
	pthread_mutex_lock(&kp->maint_lock);
	pthread_rwlock_rdlock(&kp->run_lock);
	while (r == 0 && next < tl->n)
		r = maint_run(kp, maint_fill(kp, tl, &next));
	pthread_rwlock_unlock(&kp->run_lock);
	pthread_mutex_unlock(&kp->maint_lock);
	return r;
}
