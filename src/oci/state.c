/* The container state store: directories, locks and state.json (see include/cvisor/state.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/state.h"
#include "oci_internal.h"

#define STATE_FILE "state.json"
#define STATE_TMP ".state.json.tmp"
#define LOCK_FILE "lock"
#define STATE_SCHEMA 1

static char *xasprintf(const char *fmt, ...) __printf(1, 2);
static char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static int err_noent(const char *id, struct cv_err **err)
{
	cv_err_set(err, 0, "container `%s` does not exist", id);
	if (err && *err)
		(*err)->errnum = ENOENT;
	return -ENOENT;
}

int state_validate_id(const char *id, struct cv_err **err)
{
	size_t n = strlen(id);

	if (n == 0 || n > NAME_MAX || !strcmp(id, ".") || !strcmp(id, ".."))
		goto bad;
	for (const char *p = id; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("_+-.", *p))
			goto bad;
	return 0;
bad:
	cv_err_set(err, 0, "invalid container ID `%s`: use letters, digits and _+-. only", id);
	return -EINVAL;
}

/* Takes a whole-file record lock on fd, waiting for it. */
static int lock_fd(int fd, enum state_lock mode)
{
	struct flock fl = {
		.l_type	  = mode == STATE_LOCK_EXCLUSIVE ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET,
	};

	while (fcntl(fd, F_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static char *owner_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw ? oci_xstrdup(pw->pw_name) : xasprintf("%u", (unsigned)geteuid());
}

static struct cv_state *state_new(const char *root, const char *id)
{
	struct cv_state *st = oci_xcalloc(1, sizeof(*st));

	st->id = oci_xstrdup(id);
	st->dir = xasprintf("%s/%s", root, id);
	st->lock_fd = -1;
	return st;
}

/* Builds <root>/.<id>.XXXXXX holding a locked lock file; *lock gets its fd. */
static int make_temp_dir(const char *root, const char *id, char **tmp, int *lock,
			 struct cv_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/.%s.XXXXXX", root, id);
	_cleanup_free_ char *lpath = NULL;
	int fd;

	if (!mkdtemp(path))
		return cv_err_set(err, errno, "creating a directory in `%s`", root);
	if (chmod(path, 0711) < 0) {
		rmdir(path);
		return cv_err_set(err, errno, "chmod `%s`", path);
	}
	lpath = xasprintf("%s/" LOCK_FILE, path);
	fd = open(lpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || lock_fd(fd, STATE_LOCK_EXCLUSIVE) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(lpath);
		rmdir(path);
		return cv_err_set(err, e, "creating `%s`", lpath);
	}
	*tmp = steal_ptr(&path);
	*lock = fd;
	return 0;
}

/* rename(2) without replacing; on filesystems without RENAME_NOREPLACE, a plain rename still
 * cannot replace a live container, whose directory is never empty. */
static int move_into_place(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	return rename(from, to);
}

/* mkdir -p: missing parents 0711 (engines pass roots like <exec-root>/runtime-x/moby), the
 * root itself 0700. */
static int mkdir_parents(const char *root)
{
	_cleanup_free_ char *p = oci_xstrdup(root);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0711) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int state_create(const char *root, const char *id, struct cv_state **out, struct cv_err **err)
{
	_cleanup_free_ char *tmp = NULL;
	struct cv_state *st;
	int lock = -1;

	if (state_validate_id(id, err) < 0)
		return -EINVAL;
	if (mkdir_parents(root) < 0)
		return cv_err_set(err, errno, "creating state root `%s`", root);
	if (make_temp_dir(root, id, &tmp, &lock, err) < 0)
		return -1;
	st = state_new(root, id);
	st->lock_fd = lock;
	if (move_into_place(tmp, st->dir) < 0) {
		int e = errno;
		_cleanup_free_ char *lpath = xasprintf("%s/" LOCK_FILE, tmp);

		unlink(lpath);
		rmdir(tmp);
		state_free(st);
		if (e == EEXIST || e == ENOTEMPTY) {
			cv_err_set(err, 0, "container `%s` already exists", id);
			if (err && *err)
				(*err)->errnum = EEXIST;
			return -EEXIST;
		}
		return cv_err_set(err, e, "creating `%s/%s`", root, id);
	}
	st->created = state_timestamp_now();
	st->owner = owner_name();
	*out = st;
	return 0;
}

/* Opens and locks <dir>/lock, retrying when the directory was replaced while we waited. */
static int open_locked(const char *dir, const char *id, enum state_lock mode, int *out,
		       struct cv_err **err)
{
	_cleanup_free_ char *lpath = xasprintf("%s/" LOCK_FILE, dir);

	for (;;) {
		_cleanup_close_ int fd = open(lpath, O_RDWR | O_CLOEXEC);
		struct stat a, b;
		int r;

		if (fd < 0 && errno == ENOENT)
			return err_noent(id, err);
		if (fd < 0)
			return cv_err_set(err, errno, "opening `%s`", lpath);
		r = lock_fd(fd, mode);
		if (r < 0)
			return cv_err_set(err, -r, "locking `%s`", lpath);
		if (fstat(fd, &a) < 0)
			return cv_err_set(err, errno, "stat `%s`", lpath);
		if (stat(lpath, &b) < 0 && errno == ENOENT)
			return err_noent(id, err); /* deleted while we waited */
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*out = take_fd(&fd);
			return 0;
		}
		/* deleted and created again while we waited: lock the new one */
	}
}

static int parse_annotations(json_t *obj, struct cv_state *st)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (!obj)
		return 0;
	if (!json_is_object(obj))
		return -1;
	st->annotation_keys = oci_xcalloc(json_object_size(obj) + 1, sizeof(char *));
	st->annotation_values = oci_xcalloc(json_object_size(obj) + 1, sizeof(char *));
	json_object_foreach (obj, k, v) {
		if (!json_is_string(v))
			return -1;
		st->annotation_keys[i] = oci_xstrdup(k);
		st->annotation_values[i++] = oci_xstrdup(json_string_value(v));
		st->n_annotations = i;
	}
	return 0;
}

static int parse_state(json_t *j, struct cv_state *st)
{
	const char *bundle = NULL, *rootfs = NULL, *created = NULL, *owner = "", *platform = "";
	const char *cgroup = NULL;
	json_int_t pid = 0, start = 0;
	int started = 0;
	json_t *ann = NULL;

	if (json_unpack(j, "{s:s,s:s,s:I,s:I,s:s,s?s,s?s,s:b,s?o,s?s}", "bundle", &bundle,
			"rootfs", &rootfs, "pid", &pid, "pid_start_time", &start, "created",
			&created, "owner", &owner, "platform", &platform, "started", &started,
			"annotations", &ann, "cgroup", &cgroup) < 0)
		return -1;
	st->cgroup = cgroup ? oci_xstrdup(cgroup) : NULL;
	if (pid < 0 || start < 0)
		return -1;
	st->bundle = oci_xstrdup(bundle);
	st->rootfs = oci_xstrdup(rootfs);
	st->pid = (pid_t)pid;
	st->pid_start_time = (unsigned long long)start;
	st->created = oci_xstrdup(created);
	st->owner = oci_xstrdup(owner);
	st->platform = oci_xstrdup(platform);
	st->started = started;
	return parse_annotations(ann, st);
}

/* Reads <dir>/state.json into st; -ENOENT when it is not there. */
static int read_state(struct cv_state *st, struct cv_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, st->dir);
	_cleanup_json_ json_t *j = NULL;
	json_error_t e;

	j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!j && access(path, F_OK) < 0 && errno == ENOENT)
		return err_noent(st->id, err);
	if (!j)
		return cv_err_set(err, 0, "reading `%s`: %s", path, e.text);
	if (parse_state(j, st) < 0)
		return cv_err_set(err, 0, "reading `%s`: malformed state record", path);
	return 0;
}

static int remove_tree_at(int at, const char *name);

int state_load(const char *root, const char *id, enum state_lock mode, struct cv_state **out,
	       struct cv_err **err)
{
	struct cv_state *st;
	int r;

	if (state_validate_id(id, err) < 0)
		return -EINVAL;
	st = state_new(root, id);
	if (mode != STATE_LOCK_NONE) {
		r = open_locked(st->dir, id, mode, &st->lock_fd, err);
		if (r < 0)
			goto fail;
	}
	r = read_state(st, err);
	if (r == -ENOENT && mode == STATE_LOCK_EXCLUSIVE && access(st->dir, F_OK) == 0) {
		/* We hold the lock and no creator saved a record: left by a dead `create`. */
		log_warn("removing `%s`, left behind by an interrupted create", st->dir);
		remove_tree_at(AT_FDCWD, st->dir);
	}
	if (r < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	state_free(st);
	return r;
}

static json_t *state_to_json(const struct cv_state *st)
{
	json_t *ann = json_object();

	for (size_t i = 0; i < st->n_annotations; i++)
		json_object_set_new(ann, st->annotation_keys[i],
				    json_string(st->annotation_values[i]));
	json_t *j;

	j = json_pack("{s:i,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:b,s:o}", "version", STATE_SCHEMA,
			 "id", st->id, "bundle", st->bundle ? st->bundle : "", "rootfs",
			 st->rootfs ? st->rootfs : "", "pid", (json_int_t)st->pid,
			 "pid_start_time", (json_int_t)st->pid_start_time, "created",
			 st->created ? st->created : "", "owner", st->owner ? st->owner : "",
			 "platform", st->platform ? st->platform : "", "started", st->started,
			 "annotations", ann);
	if (j && st->cgroup)
		json_object_set_new(j, "cgroup", json_string(st->cgroup));
	return j;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

int state_save(const struct cv_state *st, struct cv_err **err)
{
	_cleanup_free_ char *tmp = xasprintf("%s/" STATE_TMP, st->dir);
	_cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, st->dir);
	_cleanup_json_ json_t *j = state_to_json(st);
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int r;

	if (!j)
		abort();
	text = json_dumps(j, JSON_COMPACT);
	if (!text)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cv_err_set(err, errno, "writing `%s`", tmp);
	r = write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cv_err_set(err, -r, "writing `%s`", path);
	}
	/* make the rename itself durable */
	dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

/* Removes name (relative to at) and, for a directory, everything below it.  Symlinks
 * are removed, never followed. */
static int remove_tree_at(int at, const char *name)
{
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(take_fd(&fd));
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int e = remove_tree_at(dirfd(d), de->d_name);

		if (e < 0 && r == 0)
			r = e;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

int state_remove(struct cv_state *st, struct cv_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, st->dir);
	int r;

	/* the record goes first: from here on, readers see no container */
	if (unlink(path) < 0 && errno != ENOENT)
		return cv_err_set(err, errno, "removing `%s`", path);
	r = remove_tree_at(AT_FDCWD, st->dir);
	if (r < 0)
		return cv_err_set(err, -r, "removing `%s`", st->dir);
	return 0;
}

void state_unlock(struct cv_state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* closing any fd of the file drops a record lock */
	st->lock_fd = -1;
}

void state_free(struct cv_state *st)
{
	if (!st)
		return;
	state_unlock(st);
	free(st->id);
	free(st->bundle);
	free(st->rootfs);
	free(st->created);
	free(st->owner);
	free(st->platform);
	free(st->cgroup);
	oci_strv_free(st->annotation_keys);
	oci_strv_free(st->annotation_values);
	free(st->dir);
	free(st);
}

static int cmp_state(const void *a, const void *b)
{
	return strcmp((*(struct cv_state *const *)a)->id, (*(struct cv_state *const *)b)->id);
}

int state_list(const char *root, struct cv_state ***out, size_t *n, struct cv_err **err)
{
	struct cv_state **v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(root);

	*out = NULL;
	*n = 0;
	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return cv_err_set(err, errno, "listing `%s`", root);
	while ((de = readdir(d))) {
		struct cv_state *st;

		if (de->d_name[0] == '.' || state_validate_id(de->d_name, NULL) < 0)
			continue;
		st = state_new(root, de->d_name);
		if (read_state(st, NULL) < 0) {
			state_free(st);
			continue;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				abort();
		}
		v[len++] = st;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof(*v), cmp_state);
	*out = v;
	*n = len;
	return 0;
}

void state_list_free(struct cv_state **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_free(v[i]);
	free(v);
}
