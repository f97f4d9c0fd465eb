/* Per-process file descriptor tables (shared by CLONE_FILES, copied by fork). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/filelock.h"
#include "cvisor/sentry/kernel.h"

#define FD_MAX_CAP (1 << 20)

struct fd_table *fd_table_new(void)
{
	struct fd_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->refs = 1;
	return t;
}

struct fd_table *fd_table_copy(struct fd_table *src)
{
	struct fd_table *t = fd_table_new();

	if (!t)
		return NULL;
	pthread_mutex_lock(&src->lock);
	t->fds = calloc((size_t)src->cap ? (size_t)src->cap : 1, sizeof(*t->fds));
	if (!t->fds) {
		pthread_mutex_unlock(&src->lock);
		free(t);
		return NULL;
	}
	t->cap = src->cap;
	t->lowest_free = src->lowest_free;
	for (int i = 0; i < src->cap; i++) {
		t->fds[i] = src->fds[i];
		if (t->fds[i].file)
			file_get(t->fds[i].file);
	}
	pthread_mutex_unlock(&src->lock);
	return t;
}

/* Every close drops the POSIX record locks this table (their owner) holds on the file. */
static void fd_release(struct fd_table *t, struct file *f)
{
	if (f->inode && f->inode->locks)
		file_lock_close_posix(f, t);
	file_put(f);
}

void fd_table_get(struct fd_table *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
}

void fd_table_put(struct fd_table *t)
{
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (int i = 0; i < t->cap; i++)
		if (t->fds[i].file)
			fd_release(t, t->fds[i].file);
	free(t->fds);
	free(t);
}

static int grow(struct fd_table *t, int need)
{
	int cap = t->cap ? t->cap : 64;

	while (cap <= need)
		cap *= 2;
	if (cap > FD_MAX_CAP)
		return -EMFILE;
	struct fd_entry *n = realloc(t->fds, (size_t)cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	memset(n + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*n));
	t->fds = n;
	t->cap = cap;
	return 0;
}

int fd_install(struct fd_table *t, struct file *f, bool cloexec, int minfd, int limit)
{
	int fd, r;

	pthread_mutex_lock(&t->lock);
	fd = MAX(minfd, t->lowest_free);
	while (fd < t->cap && t->fds[fd].file)
		fd++;
	if (fd >= limit) {
		r = -EMFILE;
		goto out;
	}
	if (fd >= t->cap && (r = grow(t, fd)) < 0)
		goto out;
	file_get(f);
	t->fds[fd].file = f;
	t->fds[fd].cloexec = cloexec;
	if (fd == t->lowest_free || minfd <= t->lowest_free)
		t->lowest_free = fd + 1;
	r = fd;
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

int fd_install_at(struct fd_table *t, int fd, struct file *f, bool cloexec, int limit)
{
	struct file *old = NULL;
	int r = fd;

	if (fd < 0 || fd >= limit)
		return -EBADF;
	pthread_mutex_lock(&t->lock);
	if (fd >= t->cap && (r = grow(t, fd)) < 0)
		goto out;
	old = t->fds[fd].file;
	file_get(f);
	t->fds[fd].file = f;
	t->fds[fd].cloexec = cloexec;
	r = fd;
out:
	pthread_mutex_unlock(&t->lock);
	if (old)
		fd_release(t, old);
	return r;
}

struct file *fd_get(struct fd_table *t, int fd)
{
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	pthread_mutex_lock(&t->lock);
	if (fd < t->cap && (f = t->fds[fd].file))
		file_get(f);
	pthread_mutex_unlock(&t->lock);
	return f;
}

int fd_get_cloexec(struct fd_table *t, int fd)
{
	int r = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->fds[fd].file)
		r = t->fds[fd].cloexec;
	pthread_mutex_unlock(&t->lock);
	return r;
}

int fd_set_cloexec(struct fd_table *t, int fd, bool cloexec)
{
	int r = -EBADF;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && t->fds[fd].file) {
		t->fds[fd].cloexec = cloexec;
		r = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int fd_close(struct fd_table *t, int fd)
{
	struct file *f = NULL;

	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->cap && (f = t->fds[fd].file)) {
		t->fds[fd].file = NULL;
		if (fd < t->lowest_free)
			t->lowest_free = fd;
	}
	pthread_mutex_unlock(&t->lock);
	if (!f)
		return -EBADF;
	fd_release(t, f);
	return 0;
}

void fd_close_range(struct fd_table *t, unsigned lo, unsigned hi, bool cloexec_only)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned fd = lo; fd <= hi && fd < (unsigned)t->cap; fd++) {
		struct file *f = t->fds[fd].file;

		if (!f)
			continue;
		if (cloexec_only) {
			t->fds[fd].cloexec = true;
			continue;
		}
		t->fds[fd].file = NULL;
		if ((int)fd < t->lowest_free)
			t->lowest_free = (int)fd;
		/* file_put may release a pipe end and wake others: never under our lock. */
		pthread_mutex_unlock(&t->lock);
		fd_release(t, f);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}

void fd_table_exec(struct fd_table *t)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->cap; fd++) {
		struct file *f = t->fds[fd].file;

		if (!f || !t->fds[fd].cloexec)
			continue;
		t->fds[fd].file = NULL;
		if (fd < t->lowest_free)
			t->lowest_free = fd;
		pthread_mutex_unlock(&t->lock);
		fd_release(t, f);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}

int fd_table_count(struct fd_table *t)
{
	int n = 0;

	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->cap; fd++)
		n += t->fds[fd].file != NULL;
	pthread_mutex_unlock(&t->lock);
	return n;
}
