/*
 * fsnotify: the registry of marks and the delivery of the vfs's events to them, in Linux's
 * order (fs/notify/fsnotify.c, include/linux/fsnotify.h).  Marks hang in a hash table keyed by
 * (superblock, inode number); each bucket's mark count is read without the lock first, so
 * events on files nobody watches cost no lock while other files are watched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/sentry/fsnotify.h"

#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define O_PATH_ 010000000
#define NBUCKETS 1024

struct fsnotify_user {
	uint32_t uid;
	int count[2]; /* enum fsnotify_count */
};

struct fsnotify_state {
	pthread_mutex_t lock;
	struct fsnotify_mark *buckets[NBUCKETS];
	int bucket_marks[NBUCKETS]; /* atomic hints, written under the lock */
	int dir_marks;              /* atomic: marks on directories */
	uint32_t cookie;            /* the last rename cookie */
	struct fsnotify_user *users;
	size_t nusers;
};

/* Whose event a delivery is: the object's own, or its parent's about it (directory marks
 * only); directory-entry events are the directory's own. */
enum target { TO_SELF, TO_PARENT };

static struct fsnotify_state *state_of(struct vfs *vfs)
{
	return __atomic_load_n(&vfs->fsnotify, __ATOMIC_ACQUIRE);
}

int fsnotify_init(struct vfs *vfs)
{
	struct fsnotify_state *s, *none = NULL;

	if (state_of(vfs))
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	if (!__atomic_compare_exchange_n(&vfs->fsnotify, &none, s, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return 0;
}

void fsnotify_destroy(struct vfs *vfs)
{
	struct fsnotify_state *s = state_of(vfs);

	if (!s)
		return;
	for (size_t i = 0; i < s->nusers; i++)
		if (s->users[i].count[FSNOTIFY_COUNT_GROUPS] || s->users[i].count[FSNOTIFY_COUNT_MARKS])
			return; /* a group outlived its sandbox: it may still lock this */
	pthread_mutex_destroy(&s->lock);
	free(s->users);
	free(s);
	vfs->fsnotify = NULL;
}

void fsnotify_lock(struct vfs *vfs)
{
	pthread_mutex_lock(&state_of(vfs)->lock);
}

void fsnotify_unlock(struct vfs *vfs)
{
	pthread_mutex_unlock(&state_of(vfs)->lock);
}

static size_t bucket_of(const struct super_block *sb, uint64_t ino)
{
	uint64_t h = ((uint64_t)(uintptr_t)sb ^ ino) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 40) % NBUCKETS;
}

/* May (sb, ino) have marks?  Without the lock: a mark added concurrently may be missed, as an
 * event racing inotify_add_watch may be on Linux. */
static bool maybe_marked(struct fsnotify_state *s, const struct super_block *sb, uint64_t ino)
{
	return __atomic_load_n(&s->bucket_marks[bucket_of(sb, ino)], __ATOMIC_RELAXED) != 0;
}

struct fsnotify_mark *fsnotify_find_mark(struct vfs *vfs, const void *group,
					 const struct inode *ino)
{
	struct fsnotify_state *s = state_of(vfs);

	for (struct fsnotify_mark *m = s->buckets[bucket_of(ino->sb, ino->ino)]; m; m = m->hash_next)
		if (m->group == group && m->sb == ino->sb && m->ino == ino->ino)
			return m;
	return NULL;
}

void fsnotify_add_mark(struct vfs *vfs, struct fsnotify_mark *m, const struct inode *ino)
{
	struct fsnotify_state *s = state_of(vfs);
	size_t b = bucket_of(ino->sb, ino->ino);

	m->sb = ino->sb;
	sb_get(m->sb);
	m->ino = ino->ino;
	m->dir = (ino->mode & S_IFMT_) == S_IFDIR_;
	m->hash_next = s->buckets[b];
	s->buckets[b] = m;
	__atomic_add_fetch(&s->bucket_marks[b], 1, __ATOMIC_RELAXED);
	if (m->dir)
		__atomic_add_fetch(&s->dir_marks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vfs->fsnotify_marks, 1, __ATOMIC_RELEASE);
}

void fsnotify_remove_mark(struct vfs *vfs, struct fsnotify_mark *m)
{
	struct fsnotify_state *s = state_of(vfs);
	size_t b = bucket_of(m->sb, m->ino);

	for (struct fsnotify_mark **pp = &s->buckets[b]; *pp; pp = &(*pp)->hash_next) {
		if (*pp == m) {
			*pp = m->hash_next;
			break;
		}
	}
	__atomic_sub_fetch(&s->bucket_marks[b], 1, __ATOMIC_RELAXED);
	if (m->dir)
		__atomic_sub_fetch(&s->dir_marks, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&vfs->fsnotify_marks, 1, __ATOMIC_RELEASE);
	sb_put(m->sb);
	m->sb = NULL;
	m->ops->detached(m);
}

static struct fsnotify_user *user_of(struct fsnotify_state *s, uint32_t uid, bool add)
{
	struct fsnotify_user *u;

	for (size_t i = 0; i < s->nusers; i++)
		if (s->users[i].uid == uid)
			return &s->users[i];
	if (!add || !(u = realloc(s->users, (s->nusers + 1) * sizeof(*u))))
		return NULL;
	s->users = u;
	u = &s->users[s->nusers++];
	memset(u, 0, sizeof(*u));
	u->uid = uid;
	return u;
}

bool fsnotify_charge(struct vfs *vfs, uint32_t uid, enum fsnotify_count kind, int limit)
{
	struct fsnotify_user *u = user_of(state_of(vfs), uid, true);

	if (!u || u->count[kind] >= limit)
		return false;
	u->count[kind]++;
	return true;
}

void fsnotify_uncharge(struct vfs *vfs, uint32_t uid, enum fsnotify_count kind)
{
	struct fsnotify_user *u = user_of(state_of(vfs), uid, false);

	if (u && u->count[kind] > 0)
		u->count[kind]--;
}

/* ---- delivery ------------------------------------------------------------------------------ */

static bool is_dir(const struct inode *ino)
{
	return (ino->mode & S_IFMT_) == S_IFDIR_;
}

/*
 * Delivers an event to the marks on (sb, ino) that want it (lock held), as Linux's
 * send_to_group and inotify: a oneshot mark goes after its event.  unlinked: a file event
 * through an unlinked name, which IN_EXCL_UNLINK marks do not want.
 */
static void send(struct vfs *vfs, struct super_block *sb, uint64_t ino, uint32_t mask,
		 const char *name, uint32_t cookie, enum target to, bool unlinked)
{
	struct fsnotify_state *s = state_of(vfs);
	struct fsnotify_mark *m, *next;

	for (m = s->buckets[bucket_of(sb, ino)]; m; m = next) {
		next = m->hash_next;
		if (m->sb != sb || m->ino != ino || (to == TO_PARENT && !m->dir))
			continue;
		if ((unlinked && (m->flags & FSNOTIFY_MARK_EXCL_UNLINK)) || !(mask & m->mask & FS_EVENTS))
			continue;
		m->ops->event(m, mask, name, cookie);
		if (m->flags & FSNOTIFY_MARK_ONESHOT)
			fsnotify_remove_mark(vfs, m);
	}
}

/* The key of d's parent directory when marks may be on it, and d's name, both read under
 * d->lock (renames move d); false for roots and parents without marks. */
static bool watched_parent(struct fsnotify_state *s, struct dentry *d, struct super_block **sb,
			   uint64_t *ino, char *name)
{
	struct inode *p;
	bool r;

	pthread_mutex_lock(&d->lock);
	p = d->parent != d ? d->parent->inode : NULL;
	r = p && maybe_marked(s, p->sb, p->ino);
	if (r) {
		*sb = p->sb;
		*ino = p->ino;
		strncpy(name, d->name, VFS_NAME_MAX);
		name[VFS_NAME_MAX] = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* An event on ino reached through d (NULL: no parent to tell), Linux's fsnotify_parent: the
 * parent's directory marks first, with d's name, then ino's own. */
static void object_event(struct dentry *d, struct inode *ino, uint32_t mask, bool unlinked)
{
	struct vfs *vfs = ino->sb->vfs;
	struct fsnotify_state *s = state_of(vfs);
	struct super_block *psb = NULL;
	uint64_t pino = 0;
	char name[VFS_NAME_MAX + 1];
	bool parent, self;

	if (!s)
		return;
	if (is_dir(ino))
		mask |= FS_ISDIR;
	parent = d && __atomic_load_n(&s->dir_marks, __ATOMIC_RELAXED) &&
		 watched_parent(s, d, &psb, &pino, name);
	self = maybe_marked(s, ino->sb, ino->ino);
	if (!parent && !self)
		return;
	pthread_mutex_lock(&s->lock);
	if (parent)
		send(vfs, psb, pino, mask, name, 0, TO_PARENT, unlinked);
	if (self)
		send(vfs, ino->sb, ino->ino, mask, NULL, 0, TO_SELF, unlinked);
	pthread_mutex_unlock(&s->lock);
}

void __fsnotify_file(struct file *f, uint32_t mask)
{
	struct dentry *d = f->path.dentry;

	/* Anonymous files (pipes, sockets, event files) and O_PATH handles report nothing. */
	if (!d || (f->flags & O_PATH_))
		return;
	object_event(d, f->inode, mask,
		     __atomic_load_n(&d->dead, __ATOMIC_ACQUIRE) &&
			     __atomic_load_n(&d->parent, __ATOMIC_RELAXED) != d);
}

void __fsnotify_dentry(struct dentry *d, struct inode *ino, uint32_t mask)
{
	object_event(d, ino, mask, false);
}

/* An event for ino's own marks only (link counts, moves, deletion). */
static void inode_event_locked(struct inode *ino, uint32_t mask)
{
	send(ino->sb->vfs, ino->sb, ino->ino, mask | (is_dir(ino) ? FS_ISDIR : 0), NULL, 0, TO_SELF,
	     false);
}

void __fsnotify_inode(struct inode *ino, uint32_t mask)
{
	struct fsnotify_state *s = state_of(ino->sb->vfs);

	if (!s || !maybe_marked(s, ino->sb, ino->ino))
		return;
	pthread_mutex_lock(&s->lock);
	inode_event_locked(ino, mask);
	pthread_mutex_unlock(&s->lock);
}

/* A directory-entry event: dir's marks, with the entry's name. */
static void dirent_event(struct inode *dir, uint32_t mask, const char *name, uint32_t cookie)
{
	struct fsnotify_state *s = state_of(dir->sb->vfs);

	if (!s || !maybe_marked(s, dir->sb, dir->ino))
		return;
	pthread_mutex_lock(&s->lock);
	send(dir->sb->vfs, dir->sb, dir->ino, mask, name, cookie, TO_SELF, false);
	pthread_mutex_unlock(&s->lock);
}

void __fsnotify_create(struct inode *dir, const char *name, struct inode *ino)
{
	dirent_event(dir, FS_CREATE | (is_dir(ino) ? FS_ISDIR : 0), name, 0);
}

void __fsnotify_link(struct inode *dir, const char *name, struct inode *ino)
{
	__fsnotify_inode(ino, FS_ATTRIB);
	dirent_event(dir, FS_CREATE, name, 0);
}

/* ino's last link is gone: FS_DELETE_SELF, then every mark on it goes (Linux's
 * fsnotify_inoderemove). */
static void inode_removed(struct inode *ino)
{
	struct vfs *vfs = ino->sb->vfs;
	struct fsnotify_state *s = state_of(vfs);
	struct linux_statx st;
	struct fsnotify_mark *m, *next;

	if (!s || !maybe_marked(s, ino->sb, ino->ino))
		return;
	/* The inode object may be stale (hostfs): ask the filesystem. */
	if (vfs_getattr(ino, &st) < 0 || st.stx_nlink)
		return;
	pthread_mutex_lock(&s->lock);
	inode_event_locked(ino, FS_DELETE_SELF);
	for (m = s->buckets[bucket_of(ino->sb, ino->ino)]; m; m = next) {
		next = m->hash_next;
		if (m->sb == ino->sb && m->ino == ino->ino)
			fsnotify_remove_mark(vfs, m);
	}
	pthread_mutex_unlock(&s->lock);
}

void __fsnotify_remove(struct inode *dir, const char *name, struct dentry *victim)
{
	struct inode *vi = victim->inode;
	bool isdir = is_dir(vi);

	if (!isdir)
		__fsnotify_inode(vi, FS_ATTRIB); /* its link count */
	/* Linux's d_delete: the inode goes now when the caller holds the only reference. */
	if (__atomic_load_n(&victim->refs, __ATOMIC_ACQUIRE) == 1)
		inode_removed(vi);
	dirent_event(dir, FS_DELETE | (isdir ? FS_ISDIR : 0), name, 0);
}

/* One move (Linux's fsnotify_move); target is the inode replaced, or NULL. */
static void move(struct inode *odir, const char *oname, struct inode *ndir, const char *nname,
		 struct inode *source, struct inode *target)
{
	struct fsnotify_state *s = state_of(odir->sb->vfs);
	uint32_t isdir = is_dir(source) ? FS_ISDIR : 0;
	uint32_t cookie;

	if (!s)
		return;
	cookie = __atomic_add_fetch(&s->cookie, 1, __ATOMIC_RELAXED);
	dirent_event(odir, FS_MOVED_FROM | isdir, oname, cookie);
	dirent_event(ndir, FS_MOVED_TO | isdir, nname, cookie);
	if (target)
		__fsnotify_inode(target, FS_ATTRIB);
	__fsnotify_inode(source, FS_MOVE_SELF);
}

void __fsnotify_rename(struct inode *odir, const char *oname, struct inode *ndir,
		       const char *nname, struct dentry *moved, struct dentry *victim,
		       bool exchange)
{
	if (exchange) {
		move(odir, oname, ndir, nname, moved->inode, NULL);
		move(ndir, nname, odir, oname, victim->inode, NULL);
	} else {
		move(odir, oname, ndir, nname, moved->inode, victim ? victim->inode : NULL);
	}
}

void __fsnotify_dentry_dead(struct dentry *d)
{
	inode_removed(d->inode);
}
