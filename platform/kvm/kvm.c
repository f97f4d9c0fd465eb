/*
 * The kvm platform: application code in guest ring 3 of a KVM virtual machine.  This file
 * holds the ops table, probe, init/fini and the host syscalls; address_space.c has the page
 * tables, context.c the switch, trap_amd64.c the exits, layout_amd64.c the guest's shape.
 * Design and measurements: docs/platforms.md, section "kvm".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "../platforms.h"
#include "kvm_internal.h"

#define KVM_DEV "/dev/kvm"
#define MEM_SLOT 0
#define SYS_SLOT 1

static int kvm_open(char *why, size_t n)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		return platform_why(why, n, -ENODEV, "no " KVM_DEV " (no KVM on this host, or not "
				"passed into this container)");
	if (errno == EACCES || errno == EPERM)
		return platform_why(why, n, -EACCES, "no permission to open " KVM_DEV
				" (root or the kvm group needed)");
	return platform_why(why, n, -errno, "opening " KVM_DEV ": %m");
}

static const struct {
	unsigned cap;
	int min;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, 1, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_EXT_CPUID, 1, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_SYNC_REGS, KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS,
	  "KVM_CAP_SYNC_REGS" },
	{ KVM_CAP_NR_MEMSLOTS, 3, "KVM_CAP_NR_MEMSLOTS" },
	{ KVM_CAP_MAX_VCPUS, 2, "KVM_CAP_MAX_VCPUS" },
	{ KVM_CAP_XSAVE, 1, "KVM_CAP_XSAVE" },
	{ KVM_CAP_XCRS, 1, "KVM_CAP_XCRS" },
	{ KVM_CAP_DEBUGREGS, 1, "KVM_CAP_DEBUGREGS" },
};

static int caps_check(int fd, char *why, size_t n)
{
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);

	if (api != KVM_API_VERSION)
		return platform_why(why, n, -ENOSYS, "KVM API version %d, need %d", api,
				KVM_API_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		int v = ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap);

		bool bits = required_caps[i].cap == KVM_CAP_SYNC_REGS;

		if (v < required_caps[i].min ||
		    (bits && (v & required_caps[i].min) != required_caps[i].min))
			return platform_why(why, n, -ENOSYS, "KVM lacks %s (have %d, need %d)",
					required_caps[i].name, v, required_caps[i].min);
	}
	return 0;
}

/* Checks an open /dev/kvm: API version, capabilities, and that a VM can be made. */
static int probe_fd(int fd, char *why, size_t n)
{
	int vm, r = caps_check(fd, why, n);

	if (r < 0)
		return r;
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0)
		return platform_why(why, n, -errno, "KVM_CREATE_VM: %m");
	close(vm);
	return 0;
}

static int kvm_probe(char *why, size_t n)
{
	int fd = kvm_open(why, n), r;

	if (fd < 0)
		return fd;
	r = probe_fd(fd, why, n);
	close(fd);
	return r;
}

static int slot_set(struct kvm_platform *kp, unsigned slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* A sparse shared memfd mapping of `size` bytes for the platform's own guest memory. */
static uint8_t *region_new(const char *name, uint64_t size, int *fd)
{
	void *m;

	*fd = memfd_create(name, MFD_CLOEXEC);
	if (*fd < 0)
		return ERR_PTR(-errno);
	if (ftruncate(*fd, (off_t)size) < 0)
		return ERR_PTR(-errno);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, *fd, 0);
	return m == MAP_FAILED ? ERR_PTR(-errno) : m;
}

static int regions_setup(struct kvm_platform *kp, const struct platform_opts *o)
{
	int r;

	kp->sys = region_new("cvisor-kvm-sys", KVM_SYS_SIZE, &kp->sys_fd);
	if (IS_ERR(kp->sys))
		return (int)PTR_ERR(kp->sys);
	kp->pt_size = KVM_PT_SIZE;
	kp->pt = region_new("cvisor-kvm-pt", kp->pt_size, &kp->pt_fd);
	if (IS_ERR(kp->pt))
		return (int)PTR_ERR(kp->pt);
	if ((r = slot_set(kp, MEM_SLOT, 0, kp->mem_size, o->mem_base)) < 0 ||
	    (r = slot_set(kp, SYS_SLOT, KVM_SYS_GPA, KVM_SYS_SIZE, kp->sys)) < 0)
		return r;
	kvm_layout_build(kp);
	return kvm_pt_alloc_init(kp);
}

static int vm_setup(struct kvm_platform *kp)
{
	/* The sandbox opens /dev/kvm before it pivots into an empty root (opts.dev_fd). */
	int dev = kp->p->opts.dev_fd;
	int fd = dev >= 0 ? fcntl(dev, F_DUPFD_CLOEXEC, 0) : kvm_open(NULL, 0), xsave2, size, r = 0;

	if (fd < 0)
		return fd;
	kp->vm_fd = ioctl(fd, KVM_CREATE_VM, 0);
	size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	kp->run_size = size > 0 ? (size_t)size : 0;
	if (kp->vm_fd < 0)
		r = -errno;
	else if (kp->run_size < sizeof(struct kvm_run))
		r = -EINVAL;
	else
		r = kvm_layout_cpuid(kp, fd);
	xsave2 = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	kp->xsave2 = xsave2 > (int)sizeof(struct kvm_xsave);
	kp->xsave_size = kp->xsave2 ? (size_t)xsave2 : sizeof(struct kvm_xsave);
	close(fd);
	return r;
}

static void host_rules_build(struct kvm_platform *kp);

static void kp_free(struct kvm_platform *kp)
{
	kvm_vcpu_destroy_all(kp);
	if (kp->vm_fd >= 0)
		close(kp->vm_fd);
	if (kp->sys && !IS_ERR(kp->sys))
		munmap(kp->sys, KVM_SYS_SIZE);
	if (kp->pt && !IS_ERR(kp->pt))
		munmap(kp->pt, kp->pt_size);
	if (kp->sys_fd >= 0)
		close(kp->sys_fd);
	if (kp->pt_fd >= 0)
		close(kp->pt_fd);
	kvm_pt_alloc_fini(kp);
	free(kp->cpuid);
	pthread_mutex_destroy(&kp->pt_lock);
	pthread_mutex_destroy(&kp->vcpu_lock);
	pthread_mutex_destroy(&kp->maint_lock);
	pthread_rwlock_destroy(&kp->run_lock);
	free(kp);
}

static struct kvm_platform *kp_alloc(struct platform *p, const struct platform_opts *o)
{
	struct kvm_platform *kp = calloc(1, sizeof(*kp));
	pthread_rwlockattr_t ra;

	if (!kp)
		return NULL;
	kp->p = p;
	kp->vm_fd = kp->sys_fd = kp->pt_fd = -1;
	kp->mem_size = ALIGN_UP(o->mem_size, KVM_PAGE);
	kp->pid = getpid();
	pthread_mutex_init(&kp->pt_lock, NULL);
	pthread_mutex_init(&kp->vcpu_lock, NULL);
	pthread_mutex_init(&kp->maint_lock, NULL);
	/* A recycle must not wait behind an endless stream of switches. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&kp->run_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	atomic_init(&kp->stopping, false);
	atomic_init(&kp->next_ctx_id, 0);
	return kp;
}

static int kvm_init(struct platform *p, const struct platform_opts *o)
{
	struct kvm_platform *kp;
	char why[256];
	int r;

	/* Asked for by name on a host without usable KVM: say why, not just an errno. */
	r = o->dev_fd >= 0 ? probe_fd(o->dev_fd, why, sizeof(why)) : kvm_probe(why, sizeof(why));
	if (r < 0) {
		log_err("kvm: %s", why);
		return r;
	}
	if (!o->mem_base || ((uintptr_t)o->mem_base & (KVM_PAGE - 1)) || !o->mem_size ||
	    o->mem_size > KVM_SYS_GPA)
		return -EINVAL;
	kp = kp_alloc(p, o);
	if (!kp)
		return -ENOMEM;
	if ((r = vm_setup(kp)) < 0 || (r = regions_setup(kp, o)) < 0 ||
	    (r = kvm_kick_setup(kp)) < 0) {
		log_err("kvm: platform init failed: %s", strerror(-r));
		kp_free(kp);
		return r;
	}
	host_rules_build(kp);
	p->priv = kp;
	p->min_user_address =
		(uint64_t)MAX(platform_read_long("/proc/sys/vm/mmap_min_addr"), (long)KVM_USER_MIN);
	p->max_user_address = KVM_USER_TOP;
	return 0;
}

static void kvm_fini(struct platform *p)
{
	if (!p->priv)
		return;
	kp_free(p->priv);
	p->priv = NULL;
}

static void rule(struct kvm_platform *kp, int nr, int arg, uint64_t value, const char *why)
{
	struct host_syscall_rule *r = &kp->rules[kp->nrules++];

	memset(r, 0, sizeof(*r));
	r->nr = nr;
	r->why = why;
	if (arg >= 0) {
		r->nargs = 1;
		r->args[0].arg = (unsigned)arg;
		r->args[0].op = HOST_ARG_EQ;
		r->args[0].value = value;
	}
}

static void host_rules_build(struct kvm_platform *kp)
{
	static const struct {
		unsigned long req;
		const char *why;
	} ioctls[] = {
		{ KVM_RUN, "run a vCPU: every application trap" },
		{ KVM_SET_USER_MEMORY_REGION, "re-add the page-table slot (recycle)" },
		{ KVM_CREATE_VCPU, "new vCPU for a new task thread" },
		{ KVM_SET_CPUID2, "new vCPU: the application's CPUID" },
		{ KVM_GET_SREGS, "new vCPU: initial state" },
		{ KVM_SET_SREGS, "new vCPU: long mode" },
		{ KVM_SET_MSRS, "new vCPU: syscall MSRs" },
		{ KVM_SET_XCRS, "new vCPU: XCR0" },
		{ KVM_SET_SIGNAL_MASK, "new vCPU: the kick signal interrupts KVM_RUN" },
		{ KVM_GET_XSAVE, "pull_full_state: FPU state" },
		{ KVM_GET_XSAVE2, "pull_full_state: FPU state (large XSAVE)" },
		{ KVM_SET_XSAVE, "fpu_dirty: load FPU state" },
		{ KVM_GET_DEBUGREGS, "#DB: DR6 for the SIGTRAP si_code" },
	};

	kp->nrules = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ioctls); i++)
		rule(kp, SYS_ioctl, 1, ioctls[i].req, ioctls[i].why);
	rule(kp, SYS_mmap, 3, MAP_SHARED, "new vCPU: map its kvm_run");
	rule(kp, SYS_madvise, 2, MADV_REMOVE, "free page-table pages");
	rule(kp, SYS_tgkill, 2, (uint64_t)kp->kick_signal, "interrupt a running vCPU");
	rule(kp, SYS_rt_sigtimedwait, -1, 0, "consume the kick signal");
	rule(kp, SYS_rt_sigprocmask, -1, 0, "new context: block the kick signal");
	rule(kp, SYS_gettid, -1, 0, "identify the thread running a vCPU (cached)");
	rule(kp, SYS_futex, -1, 0, "platform locks");
	rule(kp, SYS_munmap, -1, 0, "fini: unmap kvm_run and the platform regions");
	rule(kp, SYS_close, -1, 0, "fini: close the VM and vCPUs");
}

static const struct host_syscall_rule *kvm_host_syscalls(struct platform *p, size_t *n)
{
	struct kvm_platform *kp = p->priv;

	*n = kp ? kp->nrules : 0;
	return kp ? kp->rules : NULL;
}

const struct platform_ops kvm_platform_ops = {
	.name			= "kvm",
	.probe			= kvm_probe,
	.init			= kvm_init,
	.fini			= kvm_fini,
	.host_syscalls		= kvm_host_syscalls,
	.new_address_space	= kvm_new_address_space,
	.release_address_space	= kvm_release_address_space,
	.new_context		= kvm_new_context,
	.release_context	= kvm_release_context,
	.switch_context		= kvm_switch,
	.pull_full_state	= kvm_pull_full_state,
	.interrupt		= kvm_interrupt,
	.map_file		= kvm_map_file,
	.unmap			= kvm_unmap,
};
