/*
 * The container state store (src/oci/state.c, state_status.c): one directory per container
 * under the CLI's --root (default /run/cvisor).
 *
 *   <root>/<id>/lock          empty; holds the container's lock
 *   <root>/<id>/state.json    the record below, replaced atomically (temp + fsync + rename)
 *   <root>/<id>/control.sock  the sandbox's control socket (CV_CONTROL_SOCKET, sandbox.h)
 *   <root>/<id>/config.json   the bundle's config.json as `create` read it (hooks, exec)
 *
 * Locking: a POSIX record lock (fcntl F_SETLKW) over the whole lock file; shared to read,
 * exclusive to change state.json or remove the directory.  Record locks rather than flock(2)
 * because they are not inherited across fork(): `create` holds the lock while it forks the
 * sandbox, and a flock would stay held for as long as the sandbox kept that fd open.
 * Readers do not strictly need the lock (state.json is always whole); holding it orders them
 * after a create or delete in progress.
 *
 * A container directory appears atomically: state_create() builds it under a hidden temporary
 * name with its lock already held and renames it into place with RENAME_NOREPLACE.  A
 * directory whose lock can be taken but that has no state.json was left by a `create` that
 * died before its first save; state_load(..., STATE_LOCK_EXCLUSIVE) removes it.
 *
 * Lock order: one container at a time; nothing else is locked while a container lock is held.
 */
#ifndef CV_STATE_H
#define CV_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cv_err;

#define CV_DEFAULT_ROOT "/run/cvisor"

enum cv_status {
	CV_STATUS_CREATED,
	CV_STATUS_RUNNING,
	CV_STATUS_PAUSED,
	CV_STATUS_STOPPED,
};

enum state_lock {
	STATE_LOCK_NONE,
	STATE_LOCK_SHARED,
	STATE_LOCK_EXCLUSIVE,
};

/* One container.  The fields above `dir` are what state.json holds; all strings are owned. */
struct cv_state {
	char *id;
	char *bundle;                      /* absolute */
	char *rootfs;                      /* absolute */
	pid_t pid;                         /* the sandbox process; 0 until it exists */
	unsigned long long pid_start_time; /* its start time, /proc/<pid>/stat field 22 */
	char *created;                     /* RFC 3339 with nanoseconds, UTC */
	char *owner;                       /* user name (or uid) of whoever created it */
	char *platform;                    /* platform name the sandbox runs on */
	bool started;                      /* `start` was accepted by the sandbox */
	char *cgroup;                      /* the sandbox's cgroup (cgroup_resolve()), or NULL */
	char **annotation_keys;            /* from config.json, parallel, NULL-terminated */
	char **annotation_values;
	size_t n_annotations;

	char *dir;   /* <root>/<id> */
	int lock_fd; /* held lock, or -1 */
};

/* runc's rule: [A-Za-z0-9_+.-]+, neither "." nor "..".  0, or -EINVAL with *err set. */
int state_validate_id(const char *id, struct cv_err **err);

/*
 * Creates <root>/<id> (and root itself, 0700, when missing) with the lock held exclusively.
 * *out gets a new state with id, dir, created and owner filled in; state.json is not written
 * until state_save().  Fails with -EEXIST ("container `id` already exists") when the ID is
 * taken.  Caller frees with state_free().
 */
int state_create(const char *root, const char *id, struct cv_state **out, struct cv_err **err);

/*
 * Reads <root>/<id>/state.json, taking the lock in `mode` first.  Fails with -ENOENT and the
 * message "container `id` does not exist" when there is no such container.  Caller frees.
 */
int state_load(const char *root, const char *id, enum state_lock mode, struct cv_state **out,
	       struct cv_err **err);

/* Replaces state.json atomically.  The caller holds the lock exclusively. */
int state_save(const struct cv_state *st, struct cv_err **err);

/* Removes the container directory and everything in it.  The caller holds the lock
 * exclusively; it stays held (on the unlinked file) until state_free(). */
int state_remove(struct cv_state *st, struct cv_err **err);

/* Releases the lock, keeping the record in memory (`run` waits for its container unlocked). */
void state_unlock(struct cv_state *st);

/* Releases the lock (if held) and frees st.  NULL is fine. */
void state_free(struct cv_state *st);

/*
 * Loads every container under root without locking, sorted by ID, skipping directories
 * without a readable state.json (creations in progress).  A missing root gives an empty list.
 * *out is an array of n owned states; free it with state_list_free().
 */
int state_list(const char *root, struct cv_state ***out, size_t *n, struct cv_err **err);
void state_list_free(struct cv_state **v, size_t n);

/*
 * Reads the state letter and start time (field 22, clock ticks after boot) of a host process.
 * Returns 0, or -errno (-ENOENT when there is no such process).  Either output may be NULL.
 */
int state_proc_stat(pid_t pid, char *state, unsigned long long *start_time);

/* True when the sandbox process of st still exists, is the same process (its start time is
 * unchanged, so a reused pid does not count) and has not exited (is not a zombie). */
bool state_sandbox_alive(const struct cv_state *st);

/*
 * The container's live status:
 *  - no sandbox process (gone, pid reused, or a zombie waiting for its parent): stopped;
 *  - otherwise what the sandbox answers to {"cmd":"state"};
 *  - a live sandbox that does not answer (socket gone, connection refused, or an error
 *    reply): running if `start` was accepted, else created.  Such a sandbox is broken or
 *    exiting; reporting it alive keeps `delete` from dropping the record of a process that
 *    still exists, and `kill ... KILL` / `delete --force` then reach it by pid.
 * Never fails; it does not need the lock.
 */
enum cv_status state_status(const struct cv_state *st);

/* "created", "running", "paused", "stopped". */
const char *state_status_name(enum cv_status s);

/* The current time as RFC 3339 with nanoseconds (trailing zeros trimmed, as Go prints it).
 * Returns a malloc'd string. */
char *state_timestamp_now(void);

#endif
