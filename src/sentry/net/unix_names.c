/*
 * Names of AF_UNIX sockets, per sandbox (struct net_ns): the abstract namespace, and the
 * sockets bound to filesystem paths, found by their socket inode (superblock and inode
 * number).  Binding a path creates that inode through the vfs (mknod S_IFSOCK), on whatever
 * filesystem holds it; only sockets of this sandbox are ever reachable this way, never a
 * host unix socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "cvisor/sentry/task.h"
#include "unix_internal.h"

#define S_IFMT_ 0170000
#define S_IFSOCK_ 0140000
#define AUTOBIND_SPACE 0x100000u /* five hex digits */

struct unix_name {
	struct unix_name *next;
	struct unix_sock *u; /* no reference: unix_unbind() removes the entry first */
	bool abstract;
	int type;                     /* abstract names: one namespace per socket type */
	const struct super_block *sb; /* path names: the socket inode */
	uint64_t ino;
	size_t len; /* abstract names */
	uint8_t key[LINUX_UNIX_PATH_MAX];
};

struct net_ns {
	pthread_mutex_t lock;
	struct unix_name *names;
	uint32_t next_autobind;
};

struct net_ns *net_ns_new(void)
{
	struct net_ns *ns = calloc(1, sizeof(*ns));

	if (ns)
		pthread_mutex_init(&ns->lock, NULL);
	return ns;
}

void net_ns_free(struct net_ns *ns)
{
	if (!ns)
		return;
	while (ns->names) {
		struct unix_name *n = ns->names;

		ns->names = n->next;
		free(n);
	}
	free(ns);
}

static bool name_matches(const struct unix_name *n, const struct unix_name *want)
{
	if (n->abstract != want->abstract)
		return false;
	if (n->abstract)
		return n->type == want->type && n->len == want->len &&
		       !memcmp(n->key, want->key, n->len);
	return n->sb == want->sb && n->ino == want->ino;
}

/* ns->lock held. */
static struct unix_name **name_slot(struct net_ns *ns, const struct unix_name *want)
{
	struct unix_name **pp;

	for (pp = &ns->names; *pp; pp = &(*pp)->next)
		if (name_matches(*pp, want))
			return pp;
	return NULL;
}

/*
 * Registers u under want (copied).  An abstract name in use is -EADDRINUSE; an inode entry
 * left by a socket whose file was since unlinked (the inode number was reused) is replaced.
 */
static int name_add(struct net_ns *ns, struct unix_sock *u, const struct unix_name *want)
{
	struct unix_name *n = malloc(sizeof(*n)), **old;

	if (!n)
		return -ENOMEM;
	*n = *want;
	n->u = u;
	pthread_mutex_lock(&ns->lock);
	if ((old = name_slot(ns, want))) {
		if (want->abstract) {
			pthread_mutex_unlock(&ns->lock);
			free(n);
			return -EADDRINUSE;
		}
		(*old)->u = u;
		free(n);
	} else {
		n->next = ns->names;
		ns->names = n;
	}
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

static struct unix_sock *name_find(struct net_ns *ns, const struct unix_name *want)
{
	struct unix_name **pp;
	struct unix_sock *u = NULL;

	pthread_mutex_lock(&ns->lock);
	if ((pp = name_slot(ns, want))) {
		u = (*pp)->u;
		unix_get(u);
	}
	pthread_mutex_unlock(&ns->lock);
	return u;
}

void unix_unbind(struct unix_sock *u)
{
	struct net_ns *ns = u->sock.k->net;
	struct unix_name **pp, *dead = NULL;

	pthread_mutex_lock(&ns->lock);
	for (pp = &ns->names; *pp;) {
		struct unix_name *n = *pp;

		if (n->u == u) {
			*pp = n->next;
			n->next = dead;
			dead = n;
		} else {
			pp = &n->next;
		}
	}
	pthread_mutex_unlock(&ns->lock);
	while (dead) {
		struct unix_name *n = dead;

		dead = n->next;
		free(n);
	}
}

/* ---- addresses ----------------------------------------------------------------------------- */

int unix_parse_addr(const void *addr, uint32_t len, struct unix_name_key *key,
		    union unix_sockaddr *sa, uint32_t *alen)
{
	const struct linux_sockaddr_un *in = addr;

	if (len < sizeof(uint16_t) || len > sizeof(*in) || in->family != LINUX_AF_UNIX)
		return -EINVAL;
	if (len == sizeof(uint16_t))
		return 1;
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, in, len);
	memset(key, 0, sizeof(*key));
	if (in->path[0] == 0) {
		key->abstract = true;
		key->len = len - sizeof(uint16_t) - 1;
		memcpy(key->name, in->path + 1, key->len);
		*alen = len;
		return 0;
	}
	/* Linux ends a path at the address's end or its first NUL. */
	memcpy(key->name, in->path, len - sizeof(uint16_t));
	key->len = strlen(key->name);
	*alen = (uint32_t)(key->len + sizeof(uint16_t) + 1);
	return 0;
}

static struct unix_addr *addr_new(const union unix_sockaddr *sa, uint32_t alen)
{
	struct unix_addr *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->refs = 1;
	a->len = alen;
	memcpy(&a->sa, sa, alen);
	return a;
}

/* Sets u's name once bound; the bind lock is held, so nobody else set it. */
static void set_addr(struct unix_sock *u, struct unix_addr *a, struct path *bound)
{
	pthread_mutex_lock(&u->lock);
	u->addr = a;
	if (bound)
		u->bound = *bound;
	pthread_mutex_unlock(&u->lock);
}

static bool is_bound(struct unix_sock *u)
{
	bool b;

	pthread_mutex_lock(&u->lock);
	b = u->addr != NULL;
	pthread_mutex_unlock(&u->lock);
	return b;
}

/* Creates the socket inode at key's path and returns its path (new references). */
static int make_socket_inode(struct task *t, const struct unix_name_key *key, struct path *out)
{
	struct path hr, hs;
	struct walk_ctx w;
	uint32_t umask;
	int r;

	if ((r = task_walk_ctx(t, AT_FDCWD_LINUX, &w, &hr, &hs)) < 0)
		return r;
	pthread_mutex_lock(&t->fs->lock);
	umask = t->fs->umask;
	pthread_mutex_unlock(&t->fs->lock);
	r = vfs_mknod(&w, key->name, S_IFSOCK_ | (0777 & ~umask), 0);
	if (r == -EEXIST)
		r = -EADDRINUSE;
	if (r == 0)
		r = vfs_walk(&w, key->name, 0, out);
	if (r == 0 && (out->dentry->inode->mode & S_IFMT_) != S_IFSOCK_) {
		path_put(out); /* replaced behind our back */
		r = -EADDRINUSE;
	}
	task_walk_ctx_put(&hr, &hs);
	return r;
}

int unix_bind_name(struct unix_sock *u, struct task *t, const union unix_sockaddr *sa,
		   uint32_t alen, const struct unix_name_key *key)
{
	struct unix_name want = {.abstract = key->abstract, .len = key->len, .type = u->sock.type};
	struct unix_addr *a = addr_new(sa, alen);
	struct path bound = {0};
	int r;

	if (!a)
		return -ENOMEM;
	pthread_mutex_lock(&u->bind_lock);
	if (is_bound(u)) {
		r = -EINVAL;
	} else if (key->abstract) {
		memcpy(want.key, key->name, key->len);
		r = name_add(u->sock.k->net, u, &want);
	} else if ((r = make_socket_inode(t, key, &bound)) == 0) {
		want.sb = bound.dentry->inode->sb;
		want.ino = bound.dentry->inode->ino;
		if ((r = name_add(u->sock.k->net, u, &want)) < 0)
			path_put(&bound);
	}
	if (r == 0)
		set_addr(u, a, key->abstract ? NULL : &bound);
	pthread_mutex_unlock(&u->bind_lock);
	if (r < 0)
		unix_addr_put(a);
	return r;
}

int unix_autobind(struct unix_sock *u)
{
	struct net_ns *ns = u->sock.k->net;
	union unix_sockaddr sa = {.sun = {.family = LINUX_AF_UNIX}};
	struct unix_name want = {.abstract = true, .len = 5, .type = u->sock.type};
	struct unix_addr *a;
	int r = -ENOSPC;

	pthread_mutex_lock(&u->bind_lock);
	if (is_bound(u)) {
		pthread_mutex_unlock(&u->bind_lock);
		return 0;
	}
	for (uint32_t i = 0; i < AUTOBIND_SPACE && r == -ENOSPC; i++) {
		uint32_t n = __atomic_fetch_add(&ns->next_autobind, 1, __ATOMIC_RELAXED);
		char name[8];

		snprintf(name, sizeof(name), "%05x", n % AUTOBIND_SPACE);
		memcpy(want.key, name, 5);
		r = name_add(ns, u, &want);
		if (r == -EADDRINUSE)
			r = -ENOSPC;
	}
	if (r == 0) {
		memcpy(sa.sun.path + 1, want.key, 5);
		if ((a = addr_new(&sa, sizeof(uint16_t) + 1 + 5)))
			set_addr(u, a, NULL);
		else
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&u->bind_lock);
	return r;
}

/* The socket bound to a path: the inode must be a socket the caller may write to. */
static int find_path(struct task *t, const struct unix_name_key *key, struct unix_sock **out)
{
	struct unix_name want = {.abstract = false};
	struct path hr, hs, p;
	struct walk_ctx w;
	struct inode *ino;
	int r;

	if ((r = task_walk_ctx(t, AT_FDCWD_LINUX, &w, &hr, &hs)) < 0)
		return r;
	r = vfs_walk(&w, key->name, LOOKUP_FOLLOW, &p);
	task_walk_ctx_put(&hr, &hs);
	if (r < 0)
		return r;
	ino = p.dentry->inode;
	if ((ino->mode & S_IFMT_) != S_IFSOCK_)
		r = -ECONNREFUSED;
	else
		r = vfs_permission(t->cred, ino, MAY_WRITE);
	want.sb = ino->sb;
	want.ino = ino->ino;
	if (r == 0 && !(*out = name_find(t->k->net, &want)))
		r = -ECONNREFUSED;
	path_put(&p);
	return r;
}

int unix_find(struct task *t, const struct unix_name_key *key, int type, struct unix_sock **out)
{
	struct unix_name want = {.abstract = true, .len = key->len, .type = type};

	if (!key->abstract)
		return find_path(t, key, out);
	memcpy(want.key, key->name, key->len);
	*out = name_find(t->k->net, &want);
	return *out ? 0 : -ECONNREFUSED;
}
