# Platform backends.  Architecture-specific files are picked by PLATFORM_ARCH.
PLATFORM_ARCH ?= amd64
LIB_SRCS += platform/platform.c platform/cpu_$(PLATFORM_ARCH).c
LIB_SRCS += $(wildcard platform/ptrace/*.c platform/systrap/*.c platform/kvm/*.c)
