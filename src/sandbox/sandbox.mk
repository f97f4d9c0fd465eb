LIB_SRCS += $(wildcard src/sandbox/*.c)
