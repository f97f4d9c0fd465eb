/* Small guest ABI structs: time, rlimits, utsname, dirents, iovecs (x86-64 kernel layouts). */
#ifndef CV_ABI_LINUX_TYPES_H
#define CV_ABI_LINUX_TYPES_H

#include <stdint.h>

#include "cvisor/compiler.h"

struct linux_timespec {
	int64_t tv_sec;
	int64_t tv_nsec;
};

struct linux_timeval {
	int64_t tv_sec;
	int64_t tv_usec;
};

struct linux_itimerval {
	struct linux_timeval interval, value;
};

struct linux_itimerspec {
	struct linux_timespec interval, value;
};

struct linux_rlimit64 {
	uint64_t cur, max;
};
#define LINUX_RLIM_INFINITY (~0ULL)
#define LINUX_RLIM_NLIMITS 16

struct linux_utsname {
	char sysname[65];
	char nodename[65];
	char release[65];
	char version[65];
	char machine[65];
	char domainname[65];
};

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	uint16_t d_reclen;
	uint8_t d_type;
	char d_name[];
};

struct linux_iovec {
	uint64_t base;
	uint64_t len;
};
#define LINUX_UIO_MAXIOV 1024

struct linux_rusage {
	struct linux_timeval utime, stime;
	int64_t maxrss, ixrss, idrss, isrss, minflt, majflt, nswap, inblock, oublock, msgsnd,
		msgrcv, nsignals, nvcsw, nivcsw;
};

struct linux_sysinfo {
	int64_t uptime;
	uint64_t loads[3];
	uint64_t totalram, freeram, sharedram, bufferram, totalswap, freeswap;
	uint16_t procs;
	uint16_t pad;
	uint64_t totalhigh, freehigh;
	uint32_t mem_unit;
	char _f[4];
};

struct linux_tms {
	int64_t utime, stime, cutime, cstime;
};

#endif
