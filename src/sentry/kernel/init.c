/*
 * Processes started from outside the container: its init (pid 1) from the OCI process, and
 * the processes of `cvisor exec`.  PATH lookup, credentials, cwd, rlimits, stdio and the
 * controlling terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/log.h"
#include "cvisor/sentry/tty.h"
#include "kernel_internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000

/* 0 when path is an executable regular file for cred, else -errno (as execve would say). */
static int exec_check(const struct walk_ctx *w, const char *path)
{
	struct path p;
	int r;

	if ((r = vfs_walk(w, path, LOOKUP_FOLLOW, &p)) < 0)
		return r;
	if (!p.dentry->inode || (p.dentry->inode->mode & S_IFMT_) != S_IFREG_)
		r = -EACCES;
	else
		r = vfs_permission(w->cred, p.dentry->inode, MAY_EXEC);
	path_put(&p);
	return r;
}

static bool executable(const struct walk_ctx *w, const char *path)
{
	return exec_check(w, path) == 0;
}

/* argv[0] as execve should see it: as given when it has a '/', else found in $PATH. */
static char *resolve_argv0(const struct walk_ctx *w, const char *arg0, char *const *envp)
{
	const char *pathvar = NULL;
	char *copy, *save = NULL;

	if (strchr(arg0, '/'))
		return strdup(arg0);
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			pathvar = envp[i] + 5;
	copy = strdup(pathvar ? pathvar : DEFAULT_PATH);
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *cand = NULL;

		if (asprintf(&cand, "%s/%s", *dir ? dir : ".", arg0) < 0)
			break;
		if (executable(w, cand)) {
			free(copy);
			return cand;
		}
		free(cand);
	}
	free(copy);
	return NULL;
}

/* pid 1's task, thread group and process state (not yet running). */
static struct task *make_init_task(struct kernel *k, const struct init_params *ip)
{
	struct task *t = task_alloc(k);
	struct thread_group *tg;

	if (!t)
		return NULL;
	pthread_mutex_lock(&k->lock);
	t->tid = 1;
	k->last_pid = 1;
	tg = thread_group_new(t);
	if (tg)
		tg->sighand = calloc(1, sizeof(*tg->sighand));
	if (!tg || !tg->sighand || pid_insert(k, t) < 0) {
		pthread_mutex_unlock(&k->lock);
		return NULL;
	}
	tg->sighand->refs = 1;
	tg->pgid = tg->sid = 1;
	memcpy(tg->rlimits, ip->rlimits, sizeof(tg->rlimits));
	timers_rlimit_cpu_locked(k, tg);
	k->init = tg;
	t->cred = ip->cred;
	cred_get(t->cred);
	pthread_mutex_unlock(&k->lock);
	t->altstack.ss_flags = LINUX_SS_DISABLE;
	return t;
}

static int setup_fs_and_files(struct kernel *k, struct task *t, const struct init_params *ip)
{
	struct path root = {.mnt = k->vfs.root, .dentry = k->vfs.root->root}, cwd;
	struct walk_ctx w = {.root = root, .start = root, .cred = ip->cred};
	int r;

	if ((r = vfs_walk(&w, ip->cwd ? ip->cwd : "/", LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &cwd)) < 0)
		return r;
	t->fs = fs_struct_new(&root, &cwd);
	path_put(&cwd);
	t->files = fd_table_new();
	if (!t->fs || !t->files)
		return -ENOMEM;
	t->fs->umask = ip->umask;
	for (int i = 0; i < 3; i++)
		if (ip->stdio[i] && (r = fd_install_at(t->files, i, ip->stdio[i], false, 1 << 20)) < 0)
			return r;
	return 0;
}

/* Resolves argv[0] from the task's cwd and execs it; `why` says what failed. */
static int exec_argv(struct task *t, const struct init_params *ip, char *why, size_t n)
{
	struct path root = {.mnt = t->k->vfs.root, .dentry = t->k->vfs.root->root};
	struct walk_ctx w = {.root = root, .start = t->fs->cwd, .cred = ip->cred};
	char *path;
	int r;

	path = resolve_argv0(&w, ip->argv[0], ip->envp);
	if (!path) {
		snprintf(why, n, "exec: \"%s\": executable file not found in $PATH", ip->argv[0]);
		return -ENOENT;
	}
	r = task_execve(t, AT_FDCWD_LINUX, path, ip->argv, ip->envp, 0);
	if (r < 0)
		snprintf(why, n, "exec: \"%s\": %s", path, strerror(-r));
	free(path);
	return r;
}

int kernel_start_init(struct kernel *k, const struct init_params *ip, char *why, size_t n)
{
	struct task *t = make_init_task(k, ip);
	int r;

	if (!t) {
		snprintf(why, n, "cannot create the init task: out of memory");
		return -ENOMEM;
	}
	if ((r = setup_fs_and_files(k, t, ip)) < 0) {
		snprintf(why, n, "chdir to cwd (`%s`): %s", ip->cwd ? ip->cwd : "/", strerror(-r));
		return r;
	}
	if ((r = exec_argv(t, ip, why, n)) < 0)
		return r;
	if (ip->ctty) {
		pthread_mutex_lock(&k->lock);
		tty_set_ctty_locked(ip->ctty, t->tg);
		pthread_mutex_unlock(&k->lock);
	}
	if ((r = task_start(t)) < 0) {
		snprintf(why, n, "cannot start the init thread: %s", strerror(-r));
		return r;
	}
	return 0; /* t's first reference now belongs to the pid table */
}

int kernel_check_init(struct kernel *k, const struct init_params *ip, char *why, size_t n)
{
	struct path root = {.mnt = k->vfs.root, .dentry = k->vfs.root->root}, cwd;
	struct walk_ctx w = {.root = root, .start = root, .cred = ip->cred};
	char *path;
	int r;

	r = vfs_walk(&w, ip->cwd ? ip->cwd : "/", LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &cwd);
	if (r < 0) {
		snprintf(why, n, "chdir to cwd (`%s`): %s", ip->cwd ? ip->cwd : "/", strerror(-r));
		return r;
	}
	w.start = cwd;
	path = resolve_argv0(&w, ip->argv[0], ip->envp);
	r = path ? exec_check(&w, path) : -ENOENT;
	path_put(&cwd);
	if (!path)
		snprintf(why, n, "exec: \"%s\": executable file not found in $PATH", ip->argv[0]);
	else if (r < 0)
		snprintf(why, n, "exec: \"%s\": %s", path, strerror(-r));
	free(path);
	return r;
}

/* ---- processes of `cvisor exec` -------------------------------------------------------- */

/* A task and thread group for an exec'd process, outside the pid table until it runs. */
static struct task *make_exec_task(struct kernel *k, const struct init_params *ip)
{
	struct task *t = task_alloc(k);
	struct thread_group *tg;

	if (!t)
		return NULL;
	tg = thread_group_new(t);
	if (!tg || !(tg->sighand = calloc(1, sizeof(*tg->sighand)))) {
		free(tg);
		task_free(t);
		return NULL;
	}
	tg->sighand->refs = 1;
	memcpy(tg->rlimits, ip->rlimits, sizeof(tg->rlimits));
	t->cred = ip->cred;
	cred_get(t->cred);
	t->altstack.ss_flags = LINUX_SS_DISABLE;
	return t;
}

/* Undoes make_exec_task and whatever setup followed, for a task that never ran. */
static void discard_exec_task(struct task *t)
{
	struct kernel *k = t->k;

	if (t->mm)
		mm_put(t->mm);
	if (t->fs)
		fs_struct_put(t->fs);
	if (t->files)
		fd_table_put(t->files);
	cred_put(t->cred);
	pthread_mutex_lock(&k->lock);
	thread_group_put_locked(t->tg);
	pthread_mutex_unlock(&k->lock);
	task_put(t);
}

/* Gives the built task its pid, session and terminal, and makes it visible (kernel->lock). */
static int publish_exec_task_locked(struct kernel *k, struct task *t, const struct init_params *ip)
{
	struct thread_group *tg = t->tg;
	int pid, r;

	if (k->shutdown || !k->init)
		return -ESRCH;
	if (k->cfg.pids_limit && k->pids_n >= k->cfg.pids_limit)
		return -EAGAIN;
	if ((pid = pid_alloc(k)) < 0)
		return pid;
	t->tid = tg->tgid = tg->pgid = tg->sid = pid;
	if ((r = pid_insert(k, t)) < 0)
		return r;
	timers_rlimit_cpu_locked(k, tg);
	if (ip->ctty)
		tty_set_ctty_locked(ip->ctty, tg);
	return pid;
}

int kernel_exec_process(struct kernel *k, const struct init_params *ip, char *why, size_t n)
{
	struct task *t = make_exec_task(k, ip);
	int r, pid;

	if (!t) {
		snprintf(why, n, "cannot create the process: out of memory");
		return -ENOMEM;
	}
	if ((r = setup_fs_and_files(k, t, ip)) < 0) {
		snprintf(why, n, "chdir to cwd (`%s`): %s", ip->cwd ? ip->cwd : "/", strerror(-r));
		discard_exec_task(t);
		return r;
	}
	if ((r = exec_argv(t, ip, why, n)) < 0) {
		discard_exec_task(t);
		return r;
	}
	pthread_mutex_lock(&k->lock);
	pid = publish_exec_task_locked(k, t, ip);
	pthread_mutex_unlock(&k->lock);
	if (pid < 0) {
		if (pid == -ESRCH)
			snprintf(why, n, "the container is not running");
		else if (pid == -EAGAIN)
			snprintf(why, n, "the container's pids limit is reached");
		else
			snprintf(why, n, "cannot allocate a pid: %s", strerror(-pid));
		discard_exec_task(t);
		return pid;
	}
	if ((r = task_start(t)) < 0) {
		snprintf(why, n, "cannot start the process's thread: %s", strerror(-r));
		int st;

		__atomic_store_n(&t->killed, true, __ATOMIC_SEQ_CST);
		task_finish(t); /* it never ran: it exits from here */
		kernel_exec_reap(k, pid, &st);
		return r;
	}
	return pid; /* t's first reference now belongs to the pid table */
}

int kernel_exec_reap(struct kernel *k, int pid, int *status)
{
	struct thread_group *tg;
	int r = 0;

	pthread_mutex_lock(&k->lock);
	tg = kernel_find_tg(k, pid);
	if (!tg || tg->parent || tg == k->init) {
		r = -ESRCH;
	} else if (tg->zombie) {
		int st = tg->exit_code;

		*status = (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
		release_zombie_locked(tg);
		r = 1;
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}
