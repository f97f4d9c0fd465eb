/* Name tables of the OCI spec: capabilities and rlimits (data only). */
#include <linux/capability.h>
#include <string.h>
#include <sys/resource.h>

#include "oci_internal.h"

static const char *const cap_names[] = {
	[CAP_CHOWN]		 = "CAP_CHOWN",
	[CAP_DAC_OVERRIDE]	 = "CAP_DAC_OVERRIDE",
	[CAP_DAC_READ_SEARCH]	 = "CAP_DAC_READ_SEARCH",
	[CAP_FOWNER]		 = "CAP_FOWNER",
	[CAP_FSETID]		 = "CAP_FSETID",
	[CAP_KILL]		 = "CAP_KILL",
	[CAP_SETGID]		 = "CAP_SETGID",
	[CAP_SETUID]		 = "CAP_SETUID",
	[CAP_SETPCAP]		 = "CAP_SETPCAP",
	[CAP_LINUX_IMMUTABLE]	 = "CAP_LINUX_IMMUTABLE",
	[CAP_NET_BIND_SERVICE]	 = "CAP_NET_BIND_SERVICE",
	[CAP_NET_BROADCAST]	 = "CAP_NET_BROADCAST",
	[CAP_NET_ADMIN]		 = "CAP_NET_ADMIN",
	[CAP_NET_RAW]		 = "CAP_NET_RAW",
	[CAP_IPC_LOCK]		 = "CAP_IPC_LOCK",
	[CAP_IPC_OWNER]		 = "CAP_IPC_OWNER",
	[CAP_SYS_MODULE]	 = "CAP_SYS_MODULE",
	[CAP_SYS_RAWIO]		 = "CAP_SYS_RAWIO",
	[CAP_SYS_CHROOT]	 = "CAP_SYS_CHROOT",
	[CAP_SYS_PTRACE]	 = "CAP_SYS_PTRACE",
	[CAP_SYS_PACCT]		 = "CAP_SYS_PACCT",
	[CAP_SYS_ADMIN]		 = "CAP_SYS_ADMIN",
	[CAP_SYS_BOOT]		 = "CAP_SYS_BOOT",
	[CAP_SYS_NICE]		 = "CAP_SYS_NICE",
	[CAP_SYS_RESOURCE]	 = "CAP_SYS_RESOURCE",
	[CAP_SYS_TIME]		 = "CAP_SYS_TIME",
	[CAP_SYS_TTY_CONFIG]	 = "CAP_SYS_TTY_CONFIG",
	[CAP_MKNOD]		 = "CAP_MKNOD",
	[CAP_LEASE]		 = "CAP_LEASE",
	[CAP_AUDIT_WRITE]	 = "CAP_AUDIT_WRITE",
	[CAP_AUDIT_CONTROL]	 = "CAP_AUDIT_CONTROL",
	[CAP_SETFCAP]		 = "CAP_SETFCAP",
	[CAP_MAC_OVERRIDE]	 = "CAP_MAC_OVERRIDE",
	[CAP_MAC_ADMIN]		 = "CAP_MAC_ADMIN",
	[CAP_SYSLOG]		 = "CAP_SYSLOG",
	[CAP_WAKE_ALARM]	 = "CAP_WAKE_ALARM",
	[CAP_BLOCK_SUSPEND]	 = "CAP_BLOCK_SUSPEND",
	[CAP_AUDIT_READ]	 = "CAP_AUDIT_READ",
	[CAP_PERFMON]		 = "CAP_PERFMON",
	[CAP_BPF]		 = "CAP_BPF",
	[CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

static const char *const rlimit_names[] = {
	[RLIMIT_CPU]	    = "RLIMIT_CPU",
	[RLIMIT_FSIZE]	    = "RLIMIT_FSIZE",
	[RLIMIT_DATA]	    = "RLIMIT_DATA",
	[RLIMIT_STACK]	    = "RLIMIT_STACK",
	[RLIMIT_CORE]	    = "RLIMIT_CORE",
	[RLIMIT_RSS]	    = "RLIMIT_RSS",
	[RLIMIT_NPROC]	    = "RLIMIT_NPROC",
	[RLIMIT_NOFILE]	    = "RLIMIT_NOFILE",
	[RLIMIT_MEMLOCK]    = "RLIMIT_MEMLOCK",
	[RLIMIT_AS]	    = "RLIMIT_AS",
	[RLIMIT_LOCKS]	    = "RLIMIT_LOCKS",
	[RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
	[RLIMIT_MSGQUEUE]   = "RLIMIT_MSGQUEUE",
	[RLIMIT_NICE]	    = "RLIMIT_NICE",
	[RLIMIT_RTPRIO]	    = "RLIMIT_RTPRIO",
	[RLIMIT_RTTIME]	    = "RLIMIT_RTTIME",
};

static int lookup(const char *const *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (table[i] && !strcmp(table[i], name))
			return (int)i;
	return -1;
}

int spec_cap_from_name(const char *name)
{
	return lookup(cap_names, ARRAY_SIZE(cap_names), name);
}

const char *oci_cap_name(int cap)
{
	return cap >= 0 && (size_t)cap < ARRAY_SIZE(cap_names) ? cap_names[cap] : NULL;
}

int spec_rlimit_from_name(const char *name)
{
	return lookup(rlimit_names, ARRAY_SIZE(rlimit_names), name);
}
