LIB_SRCS += $(wildcard src/common/*.c)
