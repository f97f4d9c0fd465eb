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

#endif
