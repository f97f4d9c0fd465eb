/* Starting the container's init (pid 1) from the OCI process: PATH lookup, creds, stdio. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/log.h"
#include "kernel_internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000

/* Is path an executable regular file for cred? */
static bool executable(const struct walk_ctx *w, const char *path)
{
	struct path p;
	bool ok;

	if (vfs_walk(w, path, LOOKUP_FOLLOW, &p) < 0)
		return false;
	ok = p.dentry->inode && (p.dentry->inode->mode & S_IFMT_) == S_IFREG_ &&
	     vfs_permission(w->cred, p.dentry->inode, MAY_EXEC) == 0;
	path_put(&p);
	return ok;
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

int kernel_start_init(struct kernel *k, const struct init_params *ip, char *why, size_t n)
{
	struct task *t = make_init_task(k, ip);
	struct path root = {.mnt = k->vfs.root, .dentry = k->vfs.root->root};
	struct walk_ctx w = {.root = root, .start = root, .cred = ip->cred};
	char *path;
	int r;

	if (!t) {
		snprintf(why, n, "cannot create the init task: out of memory");
		return -ENOMEM;
	}
	if ((r = setup_fs_and_files(k, t, ip)) < 0) {
		snprintf(why, n, "chdir to cwd (`%s`): %s", ip->cwd ? ip->cwd : "/", strerror(-r));
		return r;
	}
	w.start = t->fs->cwd;
	path = resolve_argv0(&w, ip->argv[0], ip->envp);
	if (!path) {
		snprintf(why, n, "exec: \"%s\": executable file not found in $PATH", ip->argv[0]);
		return -ENOENT;
	}
	r = task_execve(t, AT_FDCWD_LINUX, path, ip->argv, ip->envp, 0);
	if (r < 0) {
		snprintf(why, n, "exec: \"%s\": %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(path);
	if ((r = task_start(t)) < 0) {
		snprintf(why, n, "cannot start the init thread: %s", strerror(-r));
		return r;
	}
	return 0; /* t's first reference now belongs to the pid table */
}
