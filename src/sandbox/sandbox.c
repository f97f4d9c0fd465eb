/*
 * Creating the sandbox process: `create` forks it into new namespaces; it builds the sentry
 * (memory file, platform, rootfs, stdio), confines itself, reports readiness over a pipe and
 * then serves the control socket until the container's init has exited.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/compiler.h"
#include "cvisor/abi/linux/termios.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/oci.h"
#include "cvisor/platform.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/vfs.h"
#include "sandbox_internal.h"

/* The sandbox's own rlimits, the base of every container process's (as runc's init and
 * exec'd processes inherit runc's). */
static void collect_rlimits(struct sandbox *sb)
{
	for (int i = 0; i < LINUX_RLIM_NLIMITS; i++) {
		struct rlimit rl;

		getrlimit(i, &rl);
		sb->host_rlimits[i].cur =
			rl.rlim_cur == RLIM_INFINITY ? LINUX_RLIM_INFINITY : rl.rlim_cur;
		sb->host_rlimits[i].max =
			rl.rlim_max == RLIM_INFINITY ? LINUX_RLIM_INFINITY : rl.rlim_max;
	}
}

void sandbox_process_rlimits(const struct sandbox *sb, const struct oci_process *p,
			     struct linux_rlimit64 *out)
{
	memcpy(out, sb->host_rlimits, sizeof(sb->host_rlimits));
	for (size_t i = 0; i < p->n_rlimits; i++) {
		int r = p->rlimits[i].resource;

		if (r >= 0 && r < LINUX_RLIM_NLIMITS) {
			out[r].cur = p->rlimits[i].soft;
			out[r].max = p->rlimits[i].hard;
		}
	}
}

struct cred *sandbox_process_cred(const struct oci_process *p)
{
	struct cred *c = cred_new_root();

	if (!c)
		return NULL;
	c->uid = c->euid = c->suid = c->fsuid = p->user.uid;
	c->gid = c->egid = c->sgid = c->fsgid = p->user.gid;
	c->ngroups = (int)p->user.n_additional_gids;
	if (c->ngroups) {
		c->groups = malloc((size_t)c->ngroups * sizeof(uint32_t));
		if (c->groups)
			memcpy(c->groups, p->user.additional_gids, (size_t)c->ngroups * 4);
		else
			c->ngroups = 0;
	}
	c->cap_effective = p->caps.effective;
	c->cap_permitted = p->caps.permitted;
	c->cap_inheritable = p->caps.inheritable;
	c->cap_bounding = p->caps.bounding;
	c->cap_ambient = p->caps.ambient;
	c->no_new_privs = p->no_new_privileges;
	return c;
}

/* The sandbox's own share of a memory limit, measured: see docs/docker.md. */
#define RESERVE_MIN (24ull << 20)
#define RESERVE_MAX (128ull << 20)

uint64_t sandbox_sentry_memory_limit(uint64_t limit)
{
	uint64_t reserve = MIN(MAX(limit / 8, RESERVE_MIN), RESERVE_MAX);

	return limit > 2 * reserve ? limit - reserve : limit / 2;
}

/*
 * Under a memory limit, the memory file need not be larger than a few times the limit (room
 * for fragmentation, and for `update` raising the limit); at least 1 GiB.
 */
#define MEMFILE_MIN (1ull << 30)
#define MEMFILE_MAX (64ull << 30)

uint64_t sandbox_memfile_size(uint64_t limit)
{
	if (limit >= MEMFILE_MAX / 8)
		return MEMFILE_MAX;
	return MAX(ALIGN_UP(limit * 8, 1ull << 20), MEMFILE_MIN);
}

static int open_rootfs(struct sandbox *sb, struct cv_err **err)
{
	const char *root = sb->cfg->spec->root_path;
	char path[4096];

	if (root[0] == '/')
		snprintf(path, sizeof(path), "%s", root);
	else
		snprintf(path, sizeof(path), "%s/%s", sb->cfg->bundle, root);
	sb->fds.root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sb->fds.root < 0)
		return cv_err_set(err, errno, "opening the rootfs `%s`", path);
	sb->fds.proc_self = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sb->fds.proc_self < 0)
		return cv_err_set(err, errno, "opening /proc/self/fd");
	return 0;
}

static int build_sentry(struct sandbox *sb, struct cv_err **err)
{
	const struct oci_spec *spec = sb->cfg->spec;
	struct kernel_config kc = {.strace = sb->cfg->strace, .debug = sb->cfg->debug};
	struct super_block *rsb;
	int r;

	if (spec->hostname)
		snprintf(kc.hostname, sizeof(kc.hostname), "%s", spec->hostname);
	else
		gethostname(kc.hostname, sizeof(kc.hostname) - 1);
	if (spec->domainname)
		snprintf(kc.domainname, sizeof(kc.domainname), "%s", spec->domainname);
	if (spec->resources.memory_limit > 0) {
		kc.mem_limit = sandbox_sentry_memory_limit((uint64_t)spec->resources.memory_limit);
		kc.mem_size = sandbox_memfile_size((uint64_t)spec->resources.memory_limit);
	}
	if (spec->resources.pids_limit > 0)
		kc.pids_limit = (uint64_t)spec->resources.pids_limit;
	sb->k = kernel_new(&sb->platform, &kc);
	if (IS_ERR(sb->k))
		return cv_err_set(err, (int)-PTR_ERR(sb->k), "creating the sentry kernel");
	rsb = hostfs_new(&sb->k->vfs, sb->fds.root, sb->fds.proc_self, spec->root_readonly);
	sb->fds.root = -1; /* owned by hostfs now */
	if (IS_ERR(rsb))
		return cv_err_set(err, (int)-PTR_ERR(rsb), "opening the rootfs");
	r = vfs_mount_root(&sb->k->vfs, rsb, spec->root_readonly ? MNT_RDONLY : 0, "rootfs");
	if (r < 0)
		return cv_err_set(err, -r, "mounting the rootfs");
	if (sandbox_mount_all(sb->k, sb->cfg, sb->fds.proc_self, err) < 0)
		return -1;
	sb->k->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sb->k->notify_fd < 0)
		return cv_err_set(err, errno, "eventfd");
	return 0;
}

/* Platforms that need a host device (kvm) get it opened now, before the root goes away. */
static int open_platform_device(struct sandbox *sb, struct cv_err **err)
{
	sb->fds.dev = -1;
	if (strcmp(sb->cfg->platform->name, "kvm") != 0)
		return 0;
	sb->fds.dev = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sb->fds.dev < 0)
		return cv_err_set(err, errno, "opening /dev/kvm");
	return 0;
}

/* After confinement: the platform's stubs and threads inherit the confined credentials. */
static int start_platform(struct sandbox *sb, struct cv_err **err)
{
	struct platform_opts po = {
		.memfd = sb->k->mf.fd,
		.mem_base = sb->k->mf.base,
		.mem_size = sb->k->mf.size,
		.dev_fd = sb->fds.dev,
		.no_syscall_patching = sb->cfg->no_syscall_patching,
		.debug = sb->cfg->debug,
	};
	int r = platform_init(&sb->platform, sb->cfg->platform, &po);

	if (r < 0)
		return cv_err_set(err, -r, "starting the %s platform", sb->cfg->platform->name);
	return 0;
}

/*
 * fds 0-2 become the container's stdio, and the sandbox's own point at /dev/null.  With a
 * terminal they are not kept at all: whoever ran `create` may wait for them to close (with a
 * console socket, containerd's shim reads `create`'s output until EOF), so log lines meant
 * for stderr go nowhere once the sandbox is set up.
 */
static int take_stdio(struct sandbox *sb, struct cv_err **err)
{
	bool keep = sb->console_host < 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return cv_err_set(err, errno, "opening /dev/null");
	if (log_output_fd() == 2) {
		int lfd = fcntl(keep ? 2 : null, F_DUPFD_CLOEXEC, 3);

		if (lfd >= 0)
			log_set_output(lfd, log_output_format());
	}
	for (int i = 0; i < 3; i++) {
		int fl = fcntl(i, F_GETFL), fd = keep ? fcntl(i, F_DUPFD_CLOEXEC, 3) : -1;

		sb->stdio[i] = NULL;
		if (fd >= 0) {
			sb->stdio[i] = hostfd_file_new(&sb->k->vfs, fd,
						       (unsigned)fl & (O_ACCMODE | O_APPEND));
			if (IS_ERR(sb->stdio[i]))
				return cv_err_set(err, (int)-PTR_ERR(sb->stdio[i]), "wrapping fd %d", i);
		}
		dup2(null, i);
	}
	close(null);
	return 0;
}

/*
 * The second wall (DESIGN.md §4, docs/security.md), in this order: every host object the
 * sentry needs is already open; the root becomes an empty read-only tmpfs; rlimits; then all
 * capabilities but the documented few and no_new_privs -- while the sandbox is still one
 * thread, so every thread and stub created later inherits them.  The seccomp allowlist comes
 * last, once the platform is up (confine_seccomp, with TSYNC).
 */
static int confine(struct sandbox *sb, struct cv_err **err)
{
	struct rlimit nofile, core = {0, 0};

	/* hostfs holds one or two host fds per cached file: as many as the hard limit allows
	 * (raising it needs CAP_SYS_RESOURCE, which the caller may not have), with an eighth of
	 * them for unused cached files, the rest for what the container holds open.  No core
	 * dumps. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return cv_err_set(err, errno, "getrlimit");
	nofile.rlim_cur = nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 || setrlimit(RLIMIT_CORE, &core) < 0)
		return cv_err_set(err, errno, "setting the sandbox's rlimits");
	dcache_set_limit(MIN(MAX(nofile.rlim_max / 8, 256), 65536));
	if (confine_mount_ns(sb->cfg->state_dir, err) < 0)
		return -1;
	return confine_caps(err);
}

/* init's parameters from the spec; ip->cred is a new reference (NULL on ENOMEM). */
static void init_params(struct sandbox *sb, struct init_params *ip)
{
	const struct oci_process *p = &sb->cfg->spec->process;

	memset(ip, 0, sizeof(*ip));
	ip->argv = p->args;
	ip->envp = p->env;
	ip->cwd = p->cwd;
	ip->umask = p->user.has_umask ? p->user.umask : 022;
	ip->cred = sandbox_process_cred(p);
	sandbox_process_rlimits(sb, p, ip->rlimits);
	for (int i = 0; i < 3; i++)
		ip->stdio[i] = sb->console_slave ? sb->console_slave : sb->stdio[i];
	ip->ctty = sb->console ? console_tty(sb->console) : NULL;
}

int sandbox_start_init(struct sandbox *sb, char *why, size_t n)
{
	struct init_params ip;
	int r;

	init_params(sb, &ip);
	if (!ip.cred) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	r = kernel_start_init(sb->k, &ip, why, n);
	cred_put(ip.cred);
	/* init holds the console's slave now: once every process has closed it, the pump sees
	 * the end of the output. */
	if (sb->console_slave) {
		file_put(sb->console_slave);
		sb->console_slave = NULL;
	}
	return r;
}

/* runc's create fails when the program cannot be found: so does ours, before `start`. */
static int check_init(struct sandbox *sb, struct cv_err **err)
{
	struct init_params ip;
	char why[512];
	int r;

	init_params(sb, &ip);
	if (!ip.cred)
		return cv_err_set(err, ENOMEM, "checking the container's program");
	r = kernel_check_init(sb->k, &ip, why, sizeof(why));
	cred_put(ip.cred);
	return r < 0 ? cv_err_set(err, 0, "%s", why) : 0;
}

/*
 * The host side of init's console (process.terminal), before confinement: a host pty whose
 * master goes to --console-socket and whose slave becomes the sandbox's controlling terminal
 * (a resize of the master then sends the sandbox SIGWINCH), or, in the foreground, the
 * terminal the caller's stdin and stdout are.
 */
static int open_console_host(struct sandbox *sb, struct cv_err **err)
{
	const struct sandbox_config *cfg = sb->cfg;
	const struct oci_process *p = &cfg->spec->process;

	sb->console_host = sb->console_host_out = -1;
	if (!p->terminal)
		return 0;
	if (cfg->console_socket_fd >= 0) {
		if (console_host_pty(cfg->console_socket_fd, p->console_height, p->console_width,
				     &sb->console_host, err) < 0)
			return -1;
		close(cfg->console_socket_fd);
		if (ioctl(sb->console_host, TIOCSCTTY, 0) < 0)
			log_debug("console: cannot make the pty the sandbox's terminal: %s",
				  strerror(errno));
		return 0;
	}
	if (!cfg->foreground)
		return 0; /* the CLI refuses this: a detached terminal needs a console socket */
	sb->console_host = fcntl(0, F_DUPFD_CLOEXEC, 3);
	sb->console_host_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (sb->console_host < 0 || sb->console_host_out < 0)
		return cv_err_set(err, errno, "duplicating the terminal");
	return 0;
}

/* The sentry's side of init's console, once its /dev/pts exists. */
static int open_console(struct sandbox *sb, struct cv_err **err)
{
	const struct oci_process *p = &sb->cfg->spec->process;
	struct linux_winsize ws = {.ws_row = (uint16_t)p->console_height,
				   .ws_col = (uint16_t)p->console_width};
	bool own = sb->console_host_out < 0;
	struct file *f;

	if (sb->console_host < 0)
		return 0;
	sb->console = console_new(sb->k, sb->console_host, own ? sb->console_host
							       : sb->console_host_out,
				  own, &ws, err);
	if (!sb->console)
		return -1;
	sb->console_host = sb->console_host_out = -1;
	f = console_open_slave(sb->console);
	if (IS_ERR(f))
		return cv_err_set(err, (int)-PTR_ERR(f), "opening the console's pty");
	sb->console_slave = f;
	return 0;
}

static void report(int sync_fd, const char *msg)
{
	size_t n = strlen(msg);

	while (n) {
		ssize_t w = write(sync_fd, msg, n);

		if (w <= 0)
			break;
		msg += w;
		n -= (size_t)w;
	}
}

void sandbox_main(const struct sandbox_config *cfg, int sync_fd)
{
	struct sandbox sb = {.cfg = cfg,
			     .fds = {.root = -1, .proc_self = -1, .control = -1, .dev = -1}};
	struct cv_err *err = NULL;
	int keep[] = {sync_fd, log_output_fd(), cfg->console_socket_fd};
	int status;

	setsid();
	umask(0);
	/* Before any thread exists, so that every thread inherits the mask. */
	control_block_signals();
	/* glibc's malloc reads /sys/devices/system/cpu/online to size its arenas, which the
	 * confined sentry can neither reach nor be allowed to try: fix the arena count. */
	mallopt(M_ARENA_MAX, 8);
	/* When it trims a thread arena's heap, malloc first opens /proc/sys/vm/overcommit_memory
	 * (forbidden once confined): a trim threshold no heap reaches keeps it from trying.  The
	 * mmap threshold is then fixed too; 1 MiB keeps I/O bounce buffers off mmap/munmap. */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	/* Likewise glibc's time zone, loaded lazily from /etc/localtime by the first gmtime_r
	 * (the first log line): load it now, while files can still be opened. */
	tzset();
	{
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		localtime_r(&now, &tm);
	}
	prctl(PR_SET_NAME, "cvisor-sandbox");
	collect_rlimits(&sb);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		cv_err_set(&err, errno, "making mounts private");
		goto fail;
	}
	if (confine_inherited_fds(keep, (int)ARRAY_SIZE(keep), &err) < 0 ||
	    sandbox_net_setup(cfg, &err) < 0 || open_console_host(&sb, &err) < 0 ||
	    open_rootfs(&sb, &err) < 0 || open_platform_device(&sb, &err) < 0 ||
	    build_sentry(&sb, &err) < 0 || take_stdio(&sb, &err) < 0 ||
	    open_console(&sb, &err) < 0 || check_init(&sb, &err) < 0)
		goto fail;
	sb.fds.control = control_listen(cfg->state_dir, &err);
	if (sb.fds.control < 0 || confine(&sb, &err) < 0 || start_platform(&sb, &err) < 0 ||
	    confine_seccomp(&sb.platform, sb.fds.proc_self, cfg->debug, &err) < 0 ||
	    kernel_start_threads(sb.k) < 0)
		goto fail;
	if (sb.console && console_start(sb.console) < 0) {
		cv_err_set(&err, 0, "starting the console");
		goto fail;
	}
	report(sync_fd, "ok\n");
	close(sync_fd);
	status = control_serve(&sb);
	console_free(sb.console);
	platform_fini(&sb.platform);
	exit(status);
fail:
	report(sync_fd, err ? err->msg : "sandbox setup failed");
	exit(1);
}

/* clone(2) with fork semantics into new namespaces. */
static pid_t fork_into_namespaces(const struct sandbox_config *cfg)
{
	unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
			      CLONE_NEWCGROUP | SIGCHLD;

	if (cfg->network != NETWORK_HOST)
		flags |= CLONE_NEWNET;
	if (cfg->rootless)
		flags |= CLONE_NEWUSER;
	return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
}

static int write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		r = -errno;
	close(fd);
	return r;
}

/* Rootless: the caller's uid and gid are root in the sandbox's user namespace. */
static int map_ids(pid_t child, struct cv_err **err)
{
	char map[64];
	int r;

	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getuid());
	if ((r = write_file(child, "uid_map", map)) < 0)
		return cv_err_set(err, -r, "writing the sandbox's uid_map");
	if ((r = write_file(child, "setgroups", "deny")) < 0 && r != -ENOENT)
		return cv_err_set(err, -r, "denying setgroups in the sandbox");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)getgid());
	if ((r = write_file(child, "gid_map", map)) < 0)
		return cv_err_set(err, -r, "writing the sandbox's gid_map");
	return 0;
}

/* The child waits until its user namespace has a mapping (one byte on `go`). */
static void wait_for_mapping(int go)
{
	char c;

	while (read(go, &c, 1) < 0 && errno == EINTR)
		;
	close(go);
}

int sandbox_create(const struct sandbox_config *cfg, pid_t *pid, struct cv_err **err)
{
	char msg[4096];
	size_t n = 0;
	int p[2], go[2];
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0)
		return cv_err_set(err, errno, "pipe");
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(p[0]);
		close(p[1]);
		return cv_err_set(err, errno, "pipe");
	}
	fflush(NULL);
	child = fork_into_namespaces(cfg);
	if (child < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		close(go[0]);
		close(go[1]);
		return cv_err_set(err, e, cfg->rootless ? "creating the sandbox process in a user namespace"
						       : "creating the sandbox process");
	}
	if (child == 0) {
		close(p[0]);
		close(go[1]);
		wait_for_mapping(go[0]);
		sandbox_main(cfg, p[1]);
	}
	close(p[1]);
	close(go[0]);
	/* Mapped, and in its cgroup before it starts a thread or a stub: all of it is limited. */
	if ((cfg->rootless && map_ids(child, err) < 0) ||
	    (cfg->cgroup && cgroup_enter(cfg->cgroup, &cfg->spec->resources, child, err) < 0)) {
		close(go[1]);
		close(p[0]);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return -1;
	}
	close(go[1]); /* the child goes on */
	for (;;) {
		ssize_t r = read(p[0], msg + n, sizeof(msg) - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (n += (size_t)r) == sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	msg[n] = 0;
	if (!strcmp(msg, "ok\n")) {
		*pid = child;
		return 0;
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = 0;
	return cv_err_set(err, 0, "%s", n ? msg : "the sandbox process died during setup");
}
