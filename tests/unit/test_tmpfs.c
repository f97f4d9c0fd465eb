/*
 * Unit tests of tmpfs and the vfs namespace operations over it (src/sentry/fs/tmpfs,
 * src/sentry/vfs/namei.c, rename.c, the dentry cache's eviction in dentry.c), and of the
 * advisory lock manager (filelock.c): a vfs
 * with a tmpfs root on a small memory file, driven without tasks.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cvisor/err.h"
#include "cvisor/sentry/filelock.h"
#include "cvisor/sentry/fs.h"
#include "cvisor/sentry/kernel.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/vfs.h"

#define O_RDWR_ 2
#define O_CREAT_ 0100
#define S_IFDIR_ 0040000

struct fixture {
	struct memfile mf;
	struct vfs vfs;
	struct walk_ctx w;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct super_block *sb;

	assert_non_null(f);
	assert_int_equal(memfile_init(&f->mf, 64ull << 20), 0);
	vfs_init(&f->vfs, &f->mf);
	sb = tmpfs_fs_type.mount(&f->vfs, "tmpfs", "size=64k,mode=755", 0);
	assert_false(IS_ERR(sb));
	assert_int_equal(vfs_mount_root(&f->vfs, sb, 0, "tmpfs"), 0);
	sb_put(sb);
	f->w.root.mnt = f->vfs.root;
	f->w.root.dentry = f->vfs.root->root;
	f->w.start = f->w.root;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vfs_destroy(&f->vfs);
	memfile_destroy(&f->mf);
	free(f);
	return 0;
}

static ssize_t write_at(struct fixture *f, const char *name, const char *data, size_t n)
{
	struct file *file;
	ssize_t r;
	int e = vfs_open(&f->w, name, O_RDWR_ | O_CREAT_, 0644, &file);

	if (e < 0)
		return e;
	r = vfs_write(file, NULL, data, n);
	file_put(file);
	return r;
}

static int lookup(struct fixture *f, const char *name, uint32_t *mode)
{
	struct path p;
	int r = vfs_walk(&f->w, name, 0, &p);

	if (r == 0) {
		*mode = p.dentry->inode->mode;
		path_put(&p);
	}
	return r;
}

static void test_namespace(void **state)
{
	struct fixture *f = *state;
	uint32_t mode = 0;

	assert_int_equal(vfs_mkdir(&f->w, "/a", 0755), 0);
	assert_int_equal(vfs_mkdir(&f->w, "/a", 0755), -EEXIST);
	assert_int_equal(vfs_mkdir(&f->w, "/a/b/c", 0755), -ENOENT);
	assert_int_equal(write_at(f, "/a/file", "hello", 5), 5);
	assert_int_equal(vfs_rmdir(&f->w, "/a"), -ENOTEMPTY);
	assert_int_equal(vfs_unlink(&f->w, "/a"), -EISDIR);
	assert_int_equal(vfs_rmdir(&f->w, "/a/file"), -ENOTDIR);
	assert_int_equal(vfs_symlink(&f->w, "file", "/a/link"), 0);
	assert_int_equal(lookup(f, "/a/link", &mode), 0);
	assert_int_equal(mode & 0170000, 0120000);
	assert_int_equal(vfs_rename(&f->w, "/a", &f->w, "/a/sub", 0), -EINVAL);
	assert_int_equal(vfs_rename(&f->w, "/a/file", &f->w, "/moved", 0), 0);
	assert_int_equal(lookup(f, "/a/file", &mode), -ENOENT);
	assert_int_equal(lookup(f, "/moved", &mode), 0);
	assert_int_equal(vfs_unlink(&f->w, "/a/link"), 0);
	assert_int_equal(vfs_rmdir(&f->w, "/a"), 0);
	assert_int_equal(lookup(f, "/a", &mode), -ENOENT);
}

static void test_dir_moves_with_rename(void **state)
{
	struct fixture *f = *state;
	struct path deep, root = f->w.root;
	char buf[256];

	assert_int_equal(vfs_mkdir(&f->w, "/x", 0755), 0);
	assert_int_equal(vfs_mkdir(&f->w, "/x/y", 0755), 0);
	assert_int_equal(vfs_walk(&f->w, "/x/y", 0, &deep), 0);
	assert_int_equal(vfs_rename(&f->w, "/x", &f->w, "/z", 0), 0);
	assert_true(vfs_path_name(&root, &deep, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "/z/y");
	path_put(&deep);
}

static void test_enospc(void **state)
{
	struct fixture *f = *state;
	static char page[4096];
	ssize_t total = 0, r;
	struct file *file;

	assert_int_equal(vfs_open(&f->w, "/big", O_RDWR_ | O_CREAT_, 0644, &file), 0);
	while ((r = vfs_write(file, NULL, page, sizeof(page))) > 0)
		total += r;
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(total, 64 * 1024);
	assert_int_equal(vfs_ftruncate(file, 0), 0);
	assert_int_equal(vfs_write(file, NULL, page, sizeof(page)), sizeof(page));
	file_put(file);
}

/* nr_inodes= counts the root too; a removed file gives its inode back. */
static void test_nr_inodes(void **state)
{
	struct fixture *f = *state;
	struct super_block *sb = tmpfs_fs_type.mount(&f->vfs, "tmpfs", "nr_inodes=3", 0);
	struct walk_ctx w = f->w;
	struct path at;

	assert_false(IS_ERR(sb));
	assert_int_equal(vfs_mkdir(&f->w, "/small", 0755), 0);
	assert_int_equal(vfs_walk(&f->w, "/small", 0, &at), 0);
	assert_int_equal(vfs_mount_at(&f->vfs, &at, sb, NULL, 0, "tmpfs", "nr_inodes=3"), 0);
	path_put(&at);
	sb_put(sb);
	assert_int_equal(vfs_mkdir(&w, "/small/a", 0755), 0);
	assert_int_equal(vfs_mknod(&w, "/small/b", 0100644, 0), 0);
	assert_int_equal(vfs_mknod(&w, "/small/c", 0100644, 0), -ENOSPC);
	assert_int_equal(vfs_unlink(&w, "/small/b"), 0);
	assert_int_equal(vfs_symlink(&w, "a", "/small/c"), 0);
	assert_ptr_equal(tmpfs_fs_type.mount(&f->vfs, "tmpfs", "bogus=1", 0), ERR_PTR(-EINVAL));
	assert_ptr_equal(tmpfs_fs_type.mount(&f->vfs, "tmpfs", "size=12q", 0), ERR_PTR(-EINVAL));
}

struct names {
	char seen[16][16];
	int n;
};

static bool collect(void *ctx, const char *name, uint64_t ino, int64_t off, unsigned type)
{
	struct names *c = ctx;

	if (c->n == 3)
		return false; /* a small buffer: three names per call */
	strcpy(c->seen[c->n++], name);
	return true;
}

/* Positions survive entries removed between two getdents calls. */
static void test_readdir_positions(void **state)
{
	struct fixture *f = *state;
	struct names c = {0};
	struct file *dir;
	char name[8];

	assert_int_equal(vfs_mkdir(&f->w, "/d", 0755), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "/d/%d", i);
		assert_int_equal(write_at(f, name, "", 0), 0);
	}
	assert_int_equal(vfs_open(&f->w, "/d", 0, 0, &dir), 0);
	assert_int_equal(vfs_iterate(dir, collect, &c), 0); /* ".", "..", "0" */
	assert_int_equal(vfs_unlink(&f->w, "/d/1"), 0);
	c.n = 0;
	assert_int_equal(vfs_iterate(dir, collect, &c), 0);
	assert_string_equal(c.seen[0], "2");
	assert_string_equal(c.seen[1], "3");
	file_put(dir);
}

static void test_locks(void **state)
{
	struct inode ino = {0};
	int a, b;
	struct file_lock_desc d = {.kind = FILE_LOCK_POSIX, .owner = &a, .type = FILE_LOCK_WR,
				   .start = 0, .end = 99};
	struct file_lock_desc other = d, got;

	other.owner = &b;
	assert_int_equal(file_lock_set(&ino, &d, NULL, false), 0);
	other.start = other.end = 50;
	assert_int_equal(file_lock_set(&ino, &other, NULL, false), -EAGAIN);
	/* Unlocking the middle splits the lock in two. */
	d.type = FILE_LOCK_UN;
	d.start = 40;
	d.end = 59;
	assert_int_equal(file_lock_set(&ino, &d, NULL, false), 0);
	assert_int_equal(file_lock_set(&ino, &other, NULL, false), 0);
	other.start = other.end = 60;
	assert_int_equal(file_lock_test(&ino, &other, &got), 1);
	assert_int_equal(got.start, 60);
	assert_int_equal(got.end, 99);
	/* Adjacent locks of one owner and type merge. */
	d.type = FILE_LOCK_WR;
	d.start = 100;
	d.end = FILE_LOCK_EOF;
	assert_int_equal(file_lock_set(&ino, &d, NULL, false), 0);
	other.start = other.end = 1000;
	assert_int_equal(file_lock_test(&ino, &other, &got), 1);
	assert_int_equal(got.start, 60);
	assert_int_equal(got.end, FILE_LOCK_EOF);
	file_lock_ctx_free(ino.locks);
}

/* The dentry cache keeps at most its limit of unused entries; evicted names are found again,
 * held ones are never evicted, and directories go once their children are gone. */
static void test_dcache_eviction(void **state)
{
	struct fixture *f = *state;
	char name[64];
	uint32_t mode;
	struct path held;

	dcache_set_limit(16);
	assert_int_equal(vfs_mkdir(&f->w, "/d", 0755), 0);
	assert_int_equal(write_at(f, "/d/held", "", 0), 0);
	assert_int_equal(vfs_walk(&f->w, "/d/held", 0, &held), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "/d/sub%d", i % 10);
		if (i < 10)
			assert_int_equal(vfs_mkdir(&f->w, name, 0755), 0);
		snprintf(name, sizeof(name), "/d/sub%d/f%d", i % 10, i);
		assert_int_equal(write_at(f, name, "", 0), 0);
	}
	assert_true(dcache_unused() > 0 && dcache_unused() <= 16);
	{
		struct path sub;
		int cached = 0;

		/* 30 files were created in sub0: most must have left the cache */
		assert_int_equal(vfs_walk(&f->w, "/d/sub0", 0, &sub), 0);
		for (struct dentry *c = sub.dentry->children; c; c = c->next_sibling)
			cached++;
		assert_true(cached <= 16);
		path_put(&sub);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "/d/sub%d/f%d", i % 10, i);
		assert_int_equal(lookup(f, name, &mode), 0);
		assert_true(dcache_unused() <= 16);
	}
	assert_false(held.dentry->dead);
	assert_string_equal(held.dentry->name, "held");
	assert_int_equal(lookup(f, "/d/held", &mode), 0);
	path_put(&held);
	dcache_set_limit(8192);
}

struct stress {
	struct fixture *f;
	unsigned seed;
	int errors;
};

static void *stress_main(void *arg)
{
	struct stress *st = arg;
	char name[64];
	uint32_t mode;

	for (int i = 0; i < 20000; i++) {
		int n = (int)(rand_r(&st->seed) % 200);

		snprintf(name, sizeof(name), "/s/d%d/f%d", n % 7, n);
		if (lookup(st->f, name, &mode) != 0)
			st->errors++;
	}
	return NULL;
}

/* Lookups from several threads while a tiny cache evicts all the time. */
static void test_dcache_concurrent(void **state)
{
	struct fixture *f = *state;
	struct stress st[4];
	pthread_t th[4];
	char name[64];

	assert_int_equal(vfs_mkdir(&f->w, "/s", 0755), 0);
	for (int d = 0; d < 7; d++) {
		snprintf(name, sizeof(name), "/s/d%d", d);
		assert_int_equal(vfs_mkdir(&f->w, name, 0755), 0);
	}
	for (int n = 0; n < 200; n++) {
		snprintf(name, sizeof(name), "/s/d%d/f%d", n % 7, n);
		assert_int_equal(write_at(f, name, "", 0), 0);
	}
	dcache_set_limit(4);
	for (int i = 0; i < 4; i++) {
		st[i] = (struct stress){f, (unsigned)i * 7919u + 1, 0};
		assert_int_equal(pthread_create(&th[i], NULL, stress_main, &st[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(st[i].errors, 0);
	}
	assert_true(dcache_unused() <= 4);
	dcache_set_limit(8192);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_moves_with_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nr_inodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_positions, setup, teardown),
		cmocka_unit_test(test_locks),
		cmocka_unit_test_setup_teardown(test_dcache_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dcache_concurrent, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("tmpfs", tests, NULL, NULL);
}
