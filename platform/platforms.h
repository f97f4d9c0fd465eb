/*
 * The platform backends compiled into cvisor, one ops table each (platform/<name>/).
 * platform.c lists them explicitly; nothing registers itself.
 */
#ifndef CV_PLATFORM_PLATFORMS_H
#define CV_PLATFORM_PLATFORMS_H

#include "cvisor/platform.h"

extern const struct platform_ops ptrace_platform_ops;
extern const struct platform_ops systrap_platform_ops;
extern const struct platform_ops kvm_platform_ops;

/* Helpers of the backends' probes (platform.c). */

/* Writes the printf-style reason into why (when why and n are set) and returns err. */
int platform_why(char *why, size_t n, int err, const char *fmt, ...) __printf(4, 5);
/* A small decimal number read from a file such as /proc/sys/kernel/yama/ptrace_scope; -1 if
 * unreadable. */
long platform_read_long(const char *path);

#endif
