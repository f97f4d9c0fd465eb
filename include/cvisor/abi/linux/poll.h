/* Guest ABI of poll, select, epoll, eventfd, timerfd and signalfd (x86-64 kernel layouts). */
#ifndef CV_ABI_LINUX_POLL_H
#define CV_ABI_LINUX_POLL_H

#include <stdint.h>

#include "cvisor/compiler.h"

struct linux_pollfd {
	int32_t fd;
	int16_t events;
	int16_t revents;
};

/* x86-64 packs struct epoll_event (12 bytes). */
struct linux_epoll_event {
	uint32_t events;
	uint64_t data;
} __packed;
STATIC_ASSERT(sizeof(struct linux_epoll_event) == 12);

#define LINUX_EPOLL_CTL_ADD 1
#define LINUX_EPOLL_CTL_DEL 2
#define LINUX_EPOLL_CTL_MOD 3

#define LINUX_EPOLLEXCLUSIVE (1u << 28)
#define LINUX_EPOLLWAKEUP (1u << 29)
#define LINUX_EPOLLONESHOT (1u << 30)
#define LINUX_EPOLLET (1u << 31)

/* pselect6's sixth argument. */
struct linux_sigset_argpack {
	uint64_t ss;
	uint64_t ss_len;
};

/* What read(2) of a signalfd returns per signal (128 bytes). */
struct linux_signalfd_siginfo {
	uint32_t ssi_signo;
	int32_t ssi_errno;
	int32_t ssi_code;
	uint32_t ssi_pid;
	uint32_t ssi_uid;
	int32_t ssi_fd;
	uint32_t ssi_tid;
	uint32_t ssi_band;
	uint32_t ssi_overrun;
	uint32_t ssi_trapno;
	int32_t ssi_status;
	int32_t ssi_int;
	uint64_t ssi_ptr;
	uint64_t ssi_utime;
	uint64_t ssi_stime;
	uint64_t ssi_addr;
	uint16_t ssi_addr_lsb;
	uint16_t pad2;
	int32_t ssi_syscall;
	uint64_t ssi_call_addr;
	uint32_t ssi_arch;
	uint8_t pad[28];
};
STATIC_ASSERT(sizeof(struct linux_signalfd_siginfo) == 128);

#endif
