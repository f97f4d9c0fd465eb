/* Guest ABI of inotify (x86-64 kernel layouts and bits, linux/inotify.h). */
#ifndef CV_ABI_LINUX_INOTIFY_H
#define CV_ABI_LINUX_INOTIFY_H

#include <stdint.h>

#include "cvisor/compiler.h"

/* One record of read(2): the name follows, NUL-padded so len is a multiple of 16. */
struct linux_inotify_event {
	int32_t wd;
	uint32_t mask;
	uint32_t cookie;
	uint32_t len;
};
STATIC_ASSERT(sizeof(struct linux_inotify_event) == 16);

#define LINUX_IN_ACCESS 0x00000001u
#define LINUX_IN_MODIFY 0x00000002u
#define LINUX_IN_ATTRIB 0x00000004u
#define LINUX_IN_CLOSE_WRITE 0x00000008u
#define LINUX_IN_CLOSE_NOWRITE 0x00000010u
#define LINUX_IN_OPEN 0x00000020u
#define LINUX_IN_MOVED_FROM 0x00000040u
#define LINUX_IN_MOVED_TO 0x00000080u
#define LINUX_IN_CREATE 0x00000100u
#define LINUX_IN_DELETE 0x00000200u
#define LINUX_IN_DELETE_SELF 0x00000400u
#define LINUX_IN_MOVE_SELF 0x00000800u
#define LINUX_IN_ALL_EVENTS 0x00000fffu

#define LINUX_IN_UNMOUNT 0x00002000u
#define LINUX_IN_Q_OVERFLOW 0x00004000u
#define LINUX_IN_IGNORED 0x00008000u

#define LINUX_IN_ONLYDIR 0x01000000u
#define LINUX_IN_DONT_FOLLOW 0x02000000u
#define LINUX_IN_EXCL_UNLINK 0x04000000u
#define LINUX_IN_MASK_CREATE 0x10000000u
#define LINUX_IN_MASK_ADD 0x20000000u
#define LINUX_IN_ISDIR 0x40000000u
#define LINUX_IN_ONESHOT 0x80000000u

/* Every bit inotify_add_watch(2) accepts (Linux's ALL_INOTIFY_BITS, 22 of them). */
#define LINUX_IN_ALL_BITS                                                                          \
	(LINUX_IN_ALL_EVENTS | LINUX_IN_UNMOUNT | LINUX_IN_Q_OVERFLOW | LINUX_IN_IGNORED |        \
	 LINUX_IN_ONLYDIR | LINUX_IN_DONT_FOLLOW | LINUX_IN_EXCL_UNLINK | LINUX_IN_MASK_CREATE |  \
	 LINUX_IN_MASK_ADD | LINUX_IN_ISDIR | LINUX_IN_ONESHOT)
STATIC_ASSERT(__builtin_popcount(LINUX_IN_ALL_BITS) == 22);

/* inotify_init1(2) flags: O_NONBLOCK and O_CLOEXEC. */
#define LINUX_IN_NONBLOCK 04000
#define LINUX_IN_CLOEXEC 02000000

#endif
