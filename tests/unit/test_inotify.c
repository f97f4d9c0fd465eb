/*
 * Unit tests of inotify (src/sentry/fs/inotify) over the vfs's fsnotify hooks
 * (src/sentry/vfs/fsnotify.c), driven without tasks on a tmpfs root and on a hostfs over a
 * host temporary directory: records and their padding, short buffers, merging, the overflow
 * event, watch descriptors and masks, the per-user limits, deletion while open, watches that
 * outlive the inode objects of a hostfs file, and concurrent writers and watch changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvisor/abi/linux/inotify.h"
#include "cvisor/err.h"
#include "cvisor/sentry/event_files.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

#define O_WRONLY_ 1
#define O_RDWR_ 2
#define O_CREAT_ 0100
#define O_NONBLOCK_ 04000

struct fixture {
	struct memfile mf;
	struct vfs vfs;
	struct walk_ctx w;
	char hostdir[64]; /* the hostfs fixture's host directory, or "" */
};

static int mount_root(struct fixture *f, struct super_block *sb)
{
	assert_false(IS_ERR(sb));
	assert_int_equal(vfs_mount_root(&f->vfs, sb, 0, "root"), 0);
	sb_put(sb);
	f->w.root.mnt = f->vfs.root;
	f->w.root.dentry = f->vfs.root->root;
	f->w.start = f->w.root;
	return 0;
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(memfile_init(&f->mf, 64ull << 20), 0);
	vfs_init(&f->vfs, &f->mf);
	return f;
}

static int setup(void **state)
{
	struct fixture *f = fixture_new();

	*state = f;
	return mount_root(f, tmpfs_fs_type.mount(&f->vfs, "tmpfs", "size=4m,nr_inodes=20000", 0));
}

static int setup_host(void **state)
{
	struct fixture *f = fixture_new();
	int root, proc;

	strcpy(f->hostdir, "/tmp/cvisor-inotify-XXXXXX");
	assert_non_null(mkdtemp(f->hostdir));
	root = open(f->hostdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	proc = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(root >= 0 && proc >= 0);
	*state = f;
	return mount_root(f, hostfs_new(&f->vfs, root, proc, false));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	/* The dentry cache is global: nothing of this vfs may stay in it. */
	dcache_set_limit(0);
	assert_int_equal(vfs_mknod(&f->w, "/.flush", 0100644, 0), 0);
	assert_int_equal(vfs_unlink(&f->w, "/.flush"), 0);
	dcache_set_limit(8192);
	vfs_destroy(&f->vfs);
	memfile_destroy(&f->mf);
	if (*f->hostdir) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->hostdir);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

struct ev {
	int wd;
	uint32_t mask, cookie, len;
	char name[64];
};

/* Parses the records of buf[0..n) into out; returns how many. */
static int parse(const char *buf, ssize_t n, struct ev *out, int max)
{
	int k = 0;

	for (ssize_t off = 0; off < n && k < max; k++) {
		struct linux_inotify_event e;

		memcpy(&e, buf + off, sizeof(e));
		out[k].wd = e.wd;
		out[k].mask = e.mask;
		out[k].cookie = e.cookie;
		out[k].len = e.len;
		snprintf(out[k].name, sizeof(out[k].name), "%.*s", (int)e.len, buf + off + sizeof(e));
		off += (ssize_t)(sizeof(e) + e.len);
	}
	return k;
}

/* Reads what is queued (nonblocking) into out; returns the count. */
static int events(struct file *in, struct ev *out, int max)
{
	static char buf[1 << 16];
	ssize_t n = vfs_read(in, NULL, buf, sizeof(buf));

	if (n == -EAGAIN)
		return 0;
	assert_true(n > 0);
	return parse(buf, n, out, max);
}

static void expect(const struct ev *e, int wd, uint32_t mask, const char *name)
{
	assert_int_equal(e->wd, wd);
	assert_int_equal(e->mask, mask);
	assert_string_equal(e->name, name);
}

static int watch(struct fixture *f, struct file *in, const char *path, uint32_t mask)
{
	struct path p;
	int r = vfs_walk(&f->w, path, LOOKUP_FOLLOW, &p);

	if (r < 0)
		return r;
	r = inotify_watch_add(in, p.dentry->inode, mask);
	path_put(&p);
	return r;
}

static ssize_t write_at(struct fixture *f, const char *name, const char *data)
{
	struct file *file;
	ssize_t r;
	int e = vfs_open(&f->w, name, O_WRONLY_ | O_CREAT_, 0644, &file);

	if (e < 0)
		return e;
	r = vfs_write(file, NULL, data, strlen(data));
	file_put(file);
	return r;
}

static int chmod_at(struct fixture *f, const char *name, uint32_t mode)
{
	struct path p;
	int r = vfs_walk(&f->w, name, 0, &p);

	if (r == 0) {
		r = vfs_chmod(&p, p.dentry->inode, NULL, mode);
		path_put(&p);
	}
	return r;
}

static struct file *instance(struct fixture *f)
{
	struct file *in = inotify_file_new(&f->vfs, 0, O_NONBLOCK_);

	assert_false(IS_ERR(in));
	return in;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Records: a name NUL-padded to 16 bytes; a buffer too small for the next one is EINVAL, a
 * bigger one gets whole records only. */
static void test_records(void **state)
{
	struct fixture *f = *state;
	struct file *in = instance(f);
	struct ev ev[16];
	char buf[256];

	assert_int_equal(watch(f, in, "/", LINUX_IN_ALL_EVENTS), 1);
	assert_int_equal(vfs_read(in, NULL, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(vfs_mkdir(&f->w, "/sixteen_chars_xx", 0755), 0);
	assert_int_equal(vfs_mknod(&f->w, "/n", 0100644, 0), 0);
	assert_int_equal(vfs_read(in, NULL, buf, 16), -EINVAL);
	assert_int_equal(vfs_read(in, NULL, buf, 47), -EINVAL);
	assert_int_equal(vfs_read(in, NULL, buf, 79), 48);
	assert_int_equal(parse(buf, 48, ev, 16), 1);
	expect(&ev[0], 1, LINUX_IN_CREATE | LINUX_IN_ISDIR, "sixteen_chars_xx");
	assert_int_equal(ev[0].len, 32);
	assert_int_equal(buf[16 + 16], 0);
	assert_int_equal(vfs_read(in, NULL, buf, sizeof(buf)), 32);
	assert_int_equal(parse(buf, 32, ev, 16), 1);
	expect(&ev[0], 1, LINUX_IN_CREATE, "n");
	assert_int_equal(ev[0].len, 16);

	/* A write through a new name: create, open, modify (two writes merged), close. */
	assert_int_equal(write_at(f, "/w", "ab"), 2);
	assert_int_equal(events(in, ev, 16), 4);
	expect(&ev[0], 1, LINUX_IN_CREATE, "w");
	expect(&ev[1], 1, LINUX_IN_OPEN, "w");
	expect(&ev[2], 1, LINUX_IN_MODIFY, "w");
	expect(&ev[3], 1, LINUX_IN_CLOSE_WRITE, "w");
	file_put(in);
}

/* Identical consecutive events merge; a full queue ends with one overflow event. */
static void test_merge_and_overflow(void **state)
{
	struct fixture *f = *state;
	struct file *in = instance(f);
	static char buf[1 << 20];
	struct ev ev[4];
	ssize_t n, total = 0;
	int count = 0;

	assert_int_equal(write_at(f, "/o", ""), 0);
	assert_int_equal(watch(f, in, "/o", LINUX_IN_ATTRIB | LINUX_IN_OPEN), 1);
	assert_int_equal(chmod_at(f, "/o", 0600), 0);
	assert_int_equal(chmod_at(f, "/o", 0644), 0);
	assert_int_equal(events(in, ev, 4), 1);
	expect(&ev[0], 1, LINUX_IN_ATTRIB, "");
	for (int i = 0; i < INOTIFY_MAX_QUEUED_EVENTS; i++) {
		assert_int_equal(chmod_at(f, "/o", 0600), 0);
		assert_int_equal(write_at(f, "/o", ""), 0);
	}
	while ((n = vfs_read(in, NULL, buf, sizeof(buf))) > 0) {
		struct ev last;

		total += n;
		count += n / 16;
		parse(buf + n - 16, 16, &last, 1);
		if (n < (ssize_t)sizeof(buf))
			expect(&last, -1, LINUX_IN_Q_OVERFLOW, "");
	}
	assert_int_equal(count, INOTIFY_MAX_QUEUED_EVENTS + 1);
	assert_int_equal(total, 16 * (INOTIFY_MAX_QUEUED_EVENTS + 1));
	/* Room again. */
	assert_int_equal(chmod_at(f, "/o", 0600), 0);
	assert_int_equal(events(in, ev, 4), 1);
	expect(&ev[0], 1, LINUX_IN_ATTRIB, "");
	file_put(in);
}

/* Watch descriptors: one per object, never reused at once; masks replaced, added, or refused
 * (IN_MASK_CREATE); oneshot watches go after one event. */
static void test_watches(void **state)
{
	struct fixture *f = *state;
	struct file *in = instance(f), *other = instance(f);
	struct ev ev[8];

	assert_int_equal(write_at(f, "/a", ""), 0);
	assert_int_equal(watch(f, in, "/a", LINUX_IN_OPEN), 1);
	assert_int_equal(watch(f, in, "/a", LINUX_IN_MODIFY), 1);
	assert_int_equal(watch(f, other, "/a", LINUX_IN_MODIFY), 1);
	assert_int_equal(watch(f, in, "/a", LINUX_IN_OPEN | LINUX_IN_MASK_CREATE), -EEXIST);
	assert_int_equal(inotify_watch_rm(in, 1), 0);
	assert_int_equal(inotify_watch_rm(in, 1), -EINVAL);
	assert_int_equal(events(in, ev, 8), 1);
	expect(&ev[0], 1, LINUX_IN_IGNORED, "");
	assert_int_equal(watch(f, in, "/a", LINUX_IN_OPEN), 2);
	assert_int_equal(watch(f, in, "/a", LINUX_IN_CLOSE_WRITE | LINUX_IN_MASK_ADD), 2);
	assert_int_equal(watch(f, in, "/", LINUX_IN_CREATE | LINUX_IN_ONESHOT), 3);
	assert_int_equal(write_at(f, "/a", "x"), 1);
	assert_int_equal(write_at(f, "/b", "x"), 1);
	assert_int_equal(write_at(f, "/c", "x"), 1);
	assert_int_equal(events(in, ev, 8), 4);
	expect(&ev[0], 2, LINUX_IN_OPEN, "");
	expect(&ev[1], 2, LINUX_IN_CLOSE_WRITE, "");
	expect(&ev[2], 3, LINUX_IN_CREATE, "b");
	expect(&ev[3], 3, LINUX_IN_IGNORED, "");
	assert_int_equal(events(other, ev, 8), 1);
	expect(&ev[0], 1, LINUX_IN_MODIFY, "");
	assert_int_equal(inotify_watch_rm(other, 2), -EINVAL);
	file_put(other);
	file_put(in);
}

/* 128 instances and 8192 watches per user. */
static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct file *ins[INOTIFY_MAX_USER_INSTANCES], *extra, *in2;
	char name[32];
	int r = 0;

	for (int i = 0; i < INOTIFY_MAX_USER_INSTANCES; i++)
		ins[i] = instance(f);
	assert_ptr_equal(inotify_file_new(&f->vfs, 0, 0), ERR_PTR(-EMFILE));
	extra = inotify_file_new(&f->vfs, 1000, 0);
	assert_false(IS_ERR(extra));
	file_put(ins[0]);
	ins[0] = instance(f);

	assert_int_equal(vfs_mkdir(&f->w, "/lim", 0755), 0);
	for (int i = 0; i <= INOTIFY_MAX_USER_WATCHES && r >= 0; i++) {
		snprintf(name, sizeof(name), "/lim/%d", i);
		assert_int_equal(vfs_mknod(&f->w, name, 0100644, 0), 0);
		r = watch(f, ins[i % 2], name, LINUX_IN_MODIFY);
		if (i < INOTIFY_MAX_USER_WATCHES)
			assert_true(r > 0);
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(watch(f, extra, "/lim/0", LINUX_IN_MODIFY), 1); /* another user */
	in2 = ins[1];
	ins[1] = NULL;
	file_put(in2); /* its 4096 watches go */
	assert_true(watch(f, ins[0], "/lim/8192", LINUX_IN_MODIFY) > 0);
	for (int i = 0; i < INOTIFY_MAX_USER_INSTANCES; i++)
		if (ins[i])
			file_put(ins[i]);
	file_put(extra);
	assert_int_equal(f->vfs.fsnotify_marks, 0);
}

/* A file unlinked while open reports its link count at once and its deletion at the close;
 * a watched directory removed reports delete_self then ignored, before its parent's delete. */
static void test_delete_self(void **state)
{
	struct fixture *f = *state;
	struct file *in = instance(f), *file;
	struct ev ev[16];

	assert_int_equal(vfs_mkdir(&f->w, "/d", 0755), 0);
	assert_int_equal(write_at(f, "/d/h", ""), 0);
	assert_int_equal(watch(f, in, "/d", LINUX_IN_DELETE | LINUX_IN_DELETE_SELF), 1);
	assert_int_equal(watch(f, in, "/d/h", LINUX_IN_ALL_EVENTS), 2);
	assert_int_equal(vfs_open(&f->w, "/d/h", O_RDWR_, 0, &file), 0);
	assert_int_equal(vfs_unlink(&f->w, "/d/h"), 0);
	assert_int_equal(events(in, ev, 16), 3);
	expect(&ev[0], 2, LINUX_IN_OPEN, "");
	expect(&ev[1], 2, LINUX_IN_ATTRIB, "");
	expect(&ev[2], 1, LINUX_IN_DELETE, "h");
	file_put(file);
	assert_int_equal(events(in, ev, 16), 3);
	expect(&ev[0], 2, LINUX_IN_CLOSE_WRITE, "");
	expect(&ev[1], 2, LINUX_IN_DELETE_SELF, "");
	expect(&ev[2], 2, LINUX_IN_IGNORED, "");
	assert_int_equal(watch(f, in, "/", LINUX_IN_DELETE), 3);
	assert_int_equal(vfs_rmdir(&f->w, "/d"), 0);
	assert_int_equal(events(in, ev, 16), 3);
	expect(&ev[0], 1, LINUX_IN_DELETE_SELF, "");
	expect(&ev[1], 1, LINUX_IN_IGNORED, "");
	expect(&ev[2], 3, LINUX_IN_DELETE | LINUX_IN_ISDIR, "d");
	file_put(in);
}

/* hostfs builds a new inode object per lookup and the cache evicts: watches still follow
 * the files, moves and deletion included. */
static void test_hostfs_objects(void **state)
{
	struct fixture *f = *state;
	struct file *in = instance(f);
	struct ev ev[16];
	char name[32];

	dcache_set_limit(8);
	assert_int_equal(vfs_mkdir(&f->w, "/w", 0755), 0);
	assert_int_equal(vfs_mkdir(&f->w, "/other", 0755), 0);
	assert_int_equal(write_at(f, "/w/file", ""), 0);
	assert_int_equal(watch(f, in, "/w", LINUX_IN_MODIFY | LINUX_IN_MOVED_FROM | LINUX_IN_MOVED_TO), 1);
	assert_int_equal(watch(f, in, "/w/file", LINUX_IN_ATTRIB | LINUX_IN_DELETE_SELF), 2);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "/other/%d", i);
		assert_int_equal(write_at(f, name, ""), 0);
	}
	assert_true(dcache_unused() <= 8);
	assert_int_equal(write_at(f, "/w/file", "x"), 1);
	assert_int_equal(chmod_at(f, "/w/file", 0600), 0);
	assert_int_equal(vfs_rename(&f->w, "/w/file", &f->w, "/w/moved", 0), 0);
	assert_int_equal(vfs_unlink(&f->w, "/w/moved"), 0);
	assert_int_equal(events(in, ev, 16), 7);
	expect(&ev[0], 1, LINUX_IN_MODIFY, "file");
	expect(&ev[1], 2, LINUX_IN_ATTRIB, "");
	expect(&ev[2], 1, LINUX_IN_MOVED_FROM, "file");
	expect(&ev[3], 1, LINUX_IN_MOVED_TO, "moved");
	assert_true(ev[2].cookie != 0 && ev[2].cookie == ev[3].cookie);
	expect(&ev[4], 2, LINUX_IN_ATTRIB, "");
	expect(&ev[5], 2, LINUX_IN_DELETE_SELF, "");
	expect(&ev[6], 2, LINUX_IN_IGNORED, "");
	file_put(in);
	dcache_set_limit(8192);
}

struct stress {
	struct fixture *f;
	struct file *in;
	int stop;
};

static void *writer_main(void *arg)
{
	struct stress *st = arg;

	while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED))
		assert_int_equal(write_at(st->f, "/s/file", "x"), 1);
	return NULL;
}

/* Writers raise events while watches come and go and the queue is read. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct stress st = {.f = f, .in = instance(f)};
	pthread_t th[3];
	struct ev ev[64];

	assert_int_equal(vfs_mkdir(&f->w, "/s", 0755), 0);
	assert_int_equal(write_at(f, "/s/file", ""), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &st), 0);
	for (int i = 0; i < 2000; i++) {
		int wd = watch(f, st.in, i % 2 ? "/s" : "/s/file", LINUX_IN_ALL_EVENTS);

		assert_true(wd > 0);
		events(st.in, ev, 64);
		assert_int_equal(inotify_watch_rm(st.in, wd), 0);
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	file_put(st.in);
	assert_int_equal(f->vfs.fsnotify_marks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_and_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfs_objects, setup_host, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
