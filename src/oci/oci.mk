LIB_SRCS += $(wildcard src/oci/*.c)
