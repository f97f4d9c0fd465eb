LIB_SRCS += $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
