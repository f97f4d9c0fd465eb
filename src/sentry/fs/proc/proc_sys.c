/*
 * /proc/sys: the sysctls programs read.  Values are the sandbox's own (hostname, limits the
 * sentry enforces) or Linux's defaults.  Only hostname and domainname can be written (with
 * CAP_SYS_ADMIN, as sethostname(2)); other writes fail with EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "cvisor/platform.h"
#include "proc_internal.h"

#define CAP_SYS_ADMIN_ 21
#define RW (S_IFREG_ | 0644)

/* The uts field an entry shows: arg "hostname" or "domainname". */
static char *uts_field(struct kernel *k, const struct kfs_node *n)
{
	return !strcmp(n->arg, "hostname") ? k->cfg.hostname : k->cfg.domainname;
}

static int uts_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct kernel *k = proc_kernel(n);
	const char *v;

	pthread_mutex_lock(&k->uts_lock);
	v = uts_field(k, n);
	sbuf_printf(s, "%s\n", *v ? v : "(none)");
	pthread_mutex_unlock(&k->uts_lock);
	return 0;
}

static ssize_t uts_store(struct kfs_node *n, struct task *t, const char *buf, size_t len)
{
	struct kernel *k = proc_kernel(n);
	size_t l = len;

	if (!cred_capable(t->cred, CAP_SYS_ADMIN_))
		return -EPERM;
	if (l && buf[l - 1] == '\n')
		l--;
	if (l > 64)
		return -EINVAL;
	pthread_mutex_lock(&k->uts_lock);
	memcpy(uts_field(k, n), buf, l);
	uts_field(k, n)[l] = 0;
	pthread_mutex_unlock(&k->uts_lock);
	return (ssize_t)len;
}

static const struct kfs_ops uts_ops = {.show = uts_show, .store = uts_store};

static void put_uuid(struct sbuf *s, const uint8_t b[16])
{
	sbuf_printf(s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
		    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		    b[13], b[14], b[15]);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* boot_id stays the same for the sandbox's life; uuid is new at every read. */
static int uuid_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct kernel *k = proc_kernel(n);
	uint8_t b[16];

	if (n->arg) {
		uint64_t h1 = mix64(k->boot_real_ns ^ (uintptr_t)k), h2 = mix64(h1 ^ k->boot_mono_ns);

		memcpy(b, &h1, 8);
		memcpy(b + 8, &h2, 8);
	} else if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		return -EIO;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	put_uuid(s, b);
	return 0;
}

static const struct kfs_ops uuid_ops = {.show = uuid_show};

static int mmap_min_show(struct kfs_node *n, struct task *t, struct sbuf *s)
{
	struct platform *p = proc_kernel(n)->platform;

	sbuf_printf(s, "%llu\n", (unsigned long long)MAX(p->min_user_address, 0x10000ull));
	return 0;
}

static const struct kfs_ops mmap_min_ops = {.show = mmap_min_show};

static const struct kfs_entry random_entries[] = {
	{"boot_id", S_IFREG_ | 0444, &uuid_ops, "boot"},
	{"uuid", S_IFREG_ | 0444, &uuid_ops, NULL},
	PROC_CONST("entropy_avail", "256\n"),
	PROC_CONST("poolsize", "256\n"),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry kernel_entries[] = {
	{"hostname", RW, &uts_ops, "hostname"},
	{"domainname", RW, &uts_ops, "domainname"},
	PROC_CONST("ostype", "Linux\n"),
	PROC_CONST("osrelease", PROC_UTS_RELEASE "\n"),
	PROC_CONST("version", PROC_UTS_VERSION "\n"),
	PROC_CONST("pid_max", "4194304\n"),
	PROC_CONST("ngroups_max", "65536\n"),
	PROC_CONST("cap_last_cap", "40\n"),
	PROC_CONST("overflowuid", "65534\n"),
	PROC_CONST("overflowgid", "65534\n"),
	PROC_CONST("shmmax", "18446744073692774399\n"),
	PROC_CONST("shmall", "18446744073692774399\n"),
	PROC_CONST("shmmni", "4096\n"),
	PROC_CONST("msgmax", "8192\n"),
	PROC_CONST("msgmnb", "16384\n"),
	PROC_CONST("msgmni", "32000\n"),
	PROC_CONST("sem", "32000\t1024000000\t500\t32000\n"),
	PROC_CONST("core_pattern", "core\n"),
	PROC_DIR("random", random_entries),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry vm_entries[] = {
	PROC_CONST("overcommit_memory", "0\n"),
	PROC_CONST("overcommit_ratio", "50\n"),
	PROC_CONST("max_map_count", "65530\n"),
	{"mmap_min_addr", S_IFREG_ | 0444, &mmap_min_ops, NULL},
	PROC_CONST("swappiness", "60\n"),
	PROC_CONST("nr_hugepages", "0\n"),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry inotify_entries[] = {
	PROC_CONST("max_user_watches", "8192\n"),
	PROC_CONST("max_user_instances", "128\n"),
	PROC_CONST("max_queued_events", "16384\n"),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry fs_entries[] = {
	PROC_CONST("file-max", "9223372036854775807\n"),
	PROC_CONST("nr_open", "1048576\n"),
	PROC_CONST("pipe-max-size", "1048576\n"),
	PROC_CONST("aio-max-nr", "65536\n"),
	PROC_DIR("inotify", inotify_entries),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry net_core_entries[] = {
	PROC_CONST("somaxconn", "4096\n"),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry net_ipv4_entries[] = {
	PROC_CONST("ip_local_port_range", "32768\t60999\n"),
	{NULL, 0, NULL, NULL},
};

static const struct kfs_entry net_entries[] = {
	PROC_DIR("core", net_core_entries),
	PROC_DIR("ipv4", net_ipv4_entries),
	{NULL, 0, NULL, NULL},
};

const struct kfs_entry proc_sys_entries[] = {
	PROC_DIR("fs", fs_entries),
	PROC_DIR("kernel", kernel_entries),
	PROC_DIR("net", net_entries),
	PROC_DIR("vm", vm_entries),
	{NULL, 0, NULL, NULL},
};
