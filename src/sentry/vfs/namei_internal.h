/* Private to src/sentry/vfs: helpers shared by namei.c, rename.c and open.c. */
#ifndef CV_SENTRY_VFS_NAMEI_INTERNAL_H
#define CV_SENTRY_VFS_NAMEI_INTERNAL_H

#include "cvisor/sentry/vfs.h"

/* A resolved parent directory (held, its inode->lock taken) and the last component. */
struct nameop {
	struct path dir;
	struct inode *di;
	char last[VFS_NAME_MAX + 1];
	bool trailing;
};

/* Resolves name's parent and locks it; 0 or -errno (nothing held then). */
int namei_parent_lock(const struct walk_ctx *w, const char *name, struct nameop *op);
void namei_parent_unlock(struct nameop *op);
/* The positive child dentry for last (new reference), NULL when absent, or ERR_PTR. */
struct dentry *namei_lookup_last(struct dentry *dir, const char *last);
/* Linux's may_delete: write+search on dir, the sticky bit, types, mount points. */
int namei_may_delete(const struct cred *c, struct inode *dir, struct dentry *victim, bool isdir);
/* Linux's may_create: the directory still exists, and write+search on it. */
int namei_may_create(const struct cred *c, const struct nameop *op);
bool namei_is_dir(const struct inode *ino);
/* Is last "." or ".."? */
bool namei_dots(const char *last);

#endif
