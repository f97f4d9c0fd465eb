/*
 * The memory devices of major 1: null, zero, full, random and urandom.  Randomness comes
 * from the host's getrandom(2); /dev/random never blocks, as on Linux 5.6 and later.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "cvisor/err.h"
#include "cvisor/sentry/mm.h"
#include "cvisor/sentry/task.h"
#include "cvisor/sentry/vfs.h"
#include "dev_internal.h"

#define RNDGETENTCNT 0x80045200u
#define SHM_ZERO_SIZE (1ull << 46) /* /dev/zero shared mappings: bounded by the mapping */

static ssize_t null_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	return 0;
}

static ssize_t null_write(struct file *f, struct task *t, const void *buf, size_t n,
			  int64_t *pos)
{
	return (ssize_t)n;
}

/* Seeking these devices always lands at 0, as Linux's null_lseek does. */
static int64_t zero_llseek(struct file *f, int64_t off, int whence)
{
	return f->pos = 0;
}

static ssize_t zero_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	memset(buf, 0, n);
	return (ssize_t)n;
}

static ssize_t full_write(struct file *f, struct task *t, const void *buf, size_t n,
			  int64_t *pos)
{
	return -ENOSPC;
}

/*
 * mmap of /dev/zero: shared mappings get fresh shared memory; private ones are plain
 * anonymous memory (no object).
 */
static struct mem_object *zero_mmap(struct file *f, bool shared, bool write)
{
	struct mem_object *o;

	if (!shared)
		return NULL;
	o = shm_object_new(f->inode->sb->vfs->mf, SHM_ZERO_SIZE);
	return o ? o : ERR_PTR(-ENOMEM);
}

static ssize_t random_read(struct file *f, struct task *t, void *buf, size_t n, int64_t *pos)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static long random_ioctl(struct file *f, struct task *t, unsigned cmd, uint64_t arg)
{
	int bits = 256;

	if (cmd != RNDGETENTCNT)
		return -EINVAL;
	return copy_out_all(t, arg, &bits, sizeof(bits));
}

static const struct file_ops null_fops = {
	.read = null_read,
	.write = null_write,
	.llseek = zero_llseek,
};

static const struct file_ops zero_fops = {
	.read = zero_read,
	.write = null_write,
	.llseek = zero_llseek,
	.mmap = zero_mmap,
};

static const struct file_ops full_fops = {
	.read = zero_read,
	.write = full_write,
	.llseek = zero_llseek,
};

static const struct file_ops random_fops = {
	.read = random_read,
	.write = null_write,
	.llseek = zero_llseek,
	.ioctl = random_ioctl,
};

int mem_dev_open(struct inode *ino, struct file *f, int flags, struct task *t, uint32_t minor)
{
	switch (minor) {
	case 3:
		f->ops = &null_fops;
		return 0;
	case 5:
		f->ops = &zero_fops;
		return 0;
	case 7:
		f->ops = &full_fops;
		return 0;
	case 8:
	case 9:
		f->ops = &random_fops;
		return 0;
	default:
		return -ENXIO;
	}
}
