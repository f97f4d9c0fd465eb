/*
 * fsnotify: changes of files reported to watchers (src/sentry/vfs/fsnotify.c), the backend of
 * inotify (src/sentry/fs/inotify), after Linux's include/linux/fsnotify.h.
 *
 * The vfs calls the fsnotify_* hooks below once an operation has succeeded.  While no mark
 * exists in the sandbox each costs a single atomic load (vfs->fsnotify_marks).
 *
 * A mark (one inotify watch) is keyed by (super_block, inode number), never by inode object:
 * hostfs builds a new inode object per lookup and the dentry cache evicts unused dentries, so
 * one file is many objects over time; an event raised through any of them reaches its marks.
 * Marks hold no inode.  Only operations made through the sentry are seen: a host process
 * changing a host-backed filesystem behind the sandbox's back raises nothing.
 *
 * Events on a file reach its own marks (no name) and, when the parent directory is watched,
 * the parent's marks with the file's name.  Directory-entry events (create, delete, moves) reach
 * the directory's marks with the entry's name.  An object whose last link went (nlink 0)
 * reports FS_DELETE_SELF when its last dentry reference goes (at once when nobody holds it),
 * and its marks are then removed.
 *
 * Lock order: vfs locks (rename_lock, directory inode->lock, dentry locks) before the registry
 * lock (fsnotify_lock), before a group's own locks (an inotify queue) and wait-queue locks.
 * Group callbacks run with the registry lock held and take only their own locks; no hook is
 * called with the registry lock held.
 */
#ifndef CV_SENTRY_FSNOTIFY_H
#define CV_SENTRY_FSNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "cvisor/sentry/vfs.h"

/* Event bits: Linux's FS_* values, the same as inotify's IN_*. */
#define FS_ACCESS 0x00000001u
#define FS_MODIFY 0x00000002u
#define FS_ATTRIB 0x00000004u
#define FS_CLOSE_WRITE 0x00000008u
#define FS_CLOSE_NOWRITE 0x00000010u
#define FS_OPEN 0x00000020u
#define FS_MOVED_FROM 0x00000040u
#define FS_MOVED_TO 0x00000080u
#define FS_CREATE 0x00000100u
#define FS_DELETE 0x00000200u
#define FS_DELETE_SELF 0x00000400u
#define FS_MOVE_SELF 0x00000800u
#define FS_EVENTS 0x00000fffu /* every event a mark may ask for */
#define FS_Q_OVERFLOW 0x00004000u
#define FS_IN_IGNORED 0x00008000u
#define FS_ISDIR 0x40000000u /* the subject is a directory */

#define FSNOTIFY_MARK_ONESHOT 0x1u     /* removed after its first event */
#define FSNOTIFY_MARK_EXCL_UNLINK 0x2u /* no file events through names already unlinked */

struct fsnotify_mark;

struct fsnotify_group_ops {
	/*
	 * An event for m: mask is FS_* (FS_ISDIR when the subject is a directory), name the
	 * child's name for events a directory reports about an entry (NULL otherwise), cookie
	 * ties FS_MOVED_FROM to FS_MOVED_TO.  Registry lock held.
	 */
	void (*event)(struct fsnotify_mark *m, uint32_t mask, const char *name, uint32_t cookie);
	/* m is off its object (removed by its group, oneshot, or the object's deletion): the
	 * group forgets and frees it.  Registry lock held. */
	void (*detached)(struct fsnotify_mark *m);
};

/* One watch on one object, embedded in the group's own structure. */
struct fsnotify_mark {
	const struct fsnotify_group_ops *ops;
	void *group;            /* whose mark (fsnotify_find_mark) */
	uint32_t mask;          /* FS_* events wanted (registry lock) */
	unsigned flags;         /* FSNOTIFY_MARK_* (registry lock) */
	/* Set by fsnotify_add_mark: */
	struct super_block *sb; /* a reference while attached */
	uint64_t ino;
	bool dir;               /* on a directory: its entries' events too */
	struct fsnotify_mark *hash_next;
};

/* ---- the registry of marks (one per vfs) ----------------------------------------------- */

/* Creates vfs's registry if needed; 0 or -ENOMEM.  Groups call it before anything below. */
int fsnotify_init(struct vfs *vfs);
/* Frees the registry (vfs_destroy; every group is gone by then). */
void fsnotify_destroy(struct vfs *vfs);
/* The registry lock (after fsnotify_init succeeded once): marks and their fields. */
void fsnotify_lock(struct vfs *vfs);
void fsnotify_unlock(struct vfs *vfs);
/* group's mark on ino's object, or NULL (locked). */
struct fsnotify_mark *fsnotify_find_mark(struct vfs *vfs, const void *group,
					 const struct inode *ino);
/* Attaches m (ops, group, mask, flags set) to ino's object; takes a superblock reference
 * (locked). */
void fsnotify_add_mark(struct vfs *vfs, struct fsnotify_mark *m, const struct inode *ino);
/* Takes m off its object and calls its ops->detached (locked). */
void fsnotify_remove_mark(struct vfs *vfs, struct fsnotify_mark *m);

/*
 * Per-user counts of groups and marks for the limits of inotify (Linux counts per user too):
 * charge adds one of kind for uid unless that reaches limit (returns false then); uncharge
 * gives it back (locked).
 */
enum fsnotify_count { FSNOTIFY_COUNT_GROUPS, FSNOTIFY_COUNT_MARKS };
bool fsnotify_charge(struct vfs *vfs, uint32_t uid, enum fsnotify_count kind, int limit);
void fsnotify_uncharge(struct vfs *vfs, uint32_t uid, enum fsnotify_count kind);

/* ---- hooks of the vfs ---------------------------------------------------------------------- */

/* Does anything in ino's sandbox watch anything?  The one cost of every hook otherwise. */
static inline bool fsnotify_active(const struct inode *ino)
{
	return ino && __atomic_load_n(&ino->sb->vfs->fsnotify_marks, __ATOMIC_RELAXED) != 0;
}

void __fsnotify_file(struct file *f, uint32_t mask);
void __fsnotify_dentry(struct dentry *d, struct inode *ino, uint32_t mask);
void __fsnotify_inode(struct inode *ino, uint32_t mask);
void __fsnotify_create(struct inode *dir, const char *name, struct inode *ino);
void __fsnotify_link(struct inode *dir, const char *name, struct inode *ino);
void __fsnotify_remove(struct inode *dir, const char *name, struct dentry *victim);
void __fsnotify_rename(struct inode *odir, const char *oname, struct inode *ndir,
		       const char *nname, struct dentry *moved, struct dentry *victim,
		       bool exchange);
void __fsnotify_dentry_dead(struct dentry *d);

/* Data was read from f (read, pread, readv, getdents): FS_ACCESS.  Borrows f. */
static inline void fsnotify_access(struct file *f)
{
	if (fsnotify_active(f->inode))
		__fsnotify_file(f, FS_ACCESS);
}

/* f's data changed (write, fallocate, ftruncate): FS_MODIFY. */
static inline void fsnotify_modify(struct file *f)
{
	if (fsnotify_active(f->inode))
		__fsnotify_file(f, FS_MODIFY);
}

/* f was opened (not O_PATH): FS_OPEN. */
static inline void fsnotify_open(struct file *f)
{
	if (fsnotify_active(f->inode))
		__fsnotify_file(f, FS_OPEN);
}

/* The last reference to f goes: FS_CLOSE_WRITE when it was open for writing, else
 * FS_CLOSE_NOWRITE. */
static inline void fsnotify_close(struct file *f)
{
	unsigned acc = f->flags & 3;

	if (fsnotify_active(f->inode))
		__fsnotify_file(f, acc == 1 || acc == 2 ? FS_CLOSE_WRITE : FS_CLOSE_NOWRITE);
}

/*
 * Attributes of ino (reached through d, NULL for anonymous files) changed; valid is the
 * ATTR_* set applied, mapped as Linux's fsnotify_change: owners and modes FS_ATTRIB, size
 * FS_MODIFY, both times FS_ATTRIB, the access time alone FS_ACCESS, the modification time
 * alone FS_MODIFY.
 */
static inline void fsnotify_change(struct dentry *d, struct inode *ino, unsigned valid)
{
	uint32_t mask = 0;
	bool at = valid & (ATTR_ATIME | ATTR_ATIME_NOW), mt = valid & (ATTR_MTIME | ATTR_MTIME_NOW);

	if (!fsnotify_active(ino))
		return;
	if (valid & (ATTR_UID | ATTR_GID | ATTR_MODE))
		mask |= FS_ATTRIB;
	if (valid & ATTR_SIZE)
		mask |= FS_MODIFY;
	mask |= at && mt ? FS_ATTRIB : at ? FS_ACCESS : mt ? FS_MODIFY : 0;
	if (mask)
		__fsnotify_dentry(d, ino, mask);
}

/* An extended attribute of ino (through d) was set or removed: FS_ATTRIB. */
static inline void fsnotify_xattr(struct dentry *d, struct inode *ino)
{
	if (fsnotify_active(ino))
		__fsnotify_dentry(d, ino, FS_ATTRIB);
}

/* ino was created as name in dir (files, directories, symlinks, nodes, sockets): FS_CREATE
 * to dir's marks. */
static inline void fsnotify_create(struct inode *dir, const char *name, struct inode *ino)
{
	if (fsnotify_active(dir))
		__fsnotify_create(dir, name, ino);
}

/* A new link name in dir to ino: FS_ATTRIB to ino's marks (link count), then FS_CREATE. */
static inline void fsnotify_link(struct inode *dir, const char *name, struct inode *ino)
{
	if (fsnotify_active(dir))
		__fsnotify_link(dir, name, ino);
}

/*
 * name (victim, already dropped from the cache) was unlinked or rmdir'd from dir: FS_ATTRIB
 * to the victim (files), FS_DELETE_SELF and the end of its marks when it is gone and nobody
 * else holds victim, then FS_DELETE to dir.  dir's inode->lock held.
 */
static inline void fsnotify_remove(struct inode *dir, const char *name, struct dentry *victim)
{
	if (fsnotify_active(dir))
		__fsnotify_remove(dir, name, victim);
}

/*
 * A rename of oname in odir to nname in ndir (moved is the moved dentry, victim the one it
 * replaced or exchanged with, or NULL): FS_MOVED_FROM and FS_MOVED_TO with one cookie,
 * FS_ATTRIB to a replaced file, FS_MOVE_SELF to the moved one; an exchange reports both
 * moves.  The directories' locks held.
 */
static inline void fsnotify_rename(struct inode *odir, const char *oname, struct inode *ndir,
				   const char *nname, struct dentry *moved, struct dentry *victim,
				   bool exchange)
{
	if (fsnotify_active(odir))
		__fsnotify_rename(odir, oname, ndir, nname, moved, victim, exchange);
}

/* The last reference to an unlinked dentry goes (dentry.c): FS_DELETE_SELF when its object's
 * last link is gone. */
static inline void fsnotify_dentry_dead(struct dentry *d)
{
	if (fsnotify_active(d->inode))
		__fsnotify_dentry_dead(d);
}

#endif
