# The sentry: every subsystem directory, and each filesystem under fs/.
LIB_SRCS += $(wildcard src/sentry/*.c src/sentry/*/*.c src/sentry/fs/*/*.c)
