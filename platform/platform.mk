# Platform backends.  Architecture-specific files are picked by PLATFORM_ARCH.
PLATFORM_ARCH ?= amd64
LIB_SRCS += platform/platform.c platform/cpu_$(PLATFORM_ARCH).c
LIB_SRCS += $(wildcard platform/ptrace/*.c platform/systrap/*.c platform/kvm/*.c)

# systrap's stub blob: freestanding code linked into one flat, position-independent image
# (blob/blob.lds) and embedded with .incbin, like the sentry's vDSO.
SYSTRAP_BLOB := $(BUILD)/systrap/blob.bin
SYSTRAP_BLOB_SRCS := platform/systrap/blob/entry_amd64.S platform/systrap/blob/handler.c
SYSTRAP_BLOB_CFLAGS := -O2 -fPIC -fvisibility=hidden -ffreestanding -fno-builtin -nostdlib \
	-mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -fcf-protection=none -Wall -Wextra -Werror \
	-Wno-unused-parameter -Iinclude
$(BUILD)/systrap/blob.elf: $(SYSTRAP_BLOB_SRCS) platform/systrap/blob/blob.lds platform/systrap/sysmsg.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BLOB    $@")
	$(Q)$(CC) $(SYSTRAP_BLOB_CFLAGS) -static -Wl,-pie -Wl,--no-dynamic-linker -Wl,-z,text \
		-Wl,-T,platform/systrap/blob/blob.lds -Wl,--build-id=none -Wl,-z,noexecstack \
		-o $@ $(SYSTRAP_BLOB_SRCS)
$(SYSTRAP_BLOB): $(BUILD)/systrap/blob.elf
	$(Q)objcopy -O binary $< $@
LIB_SRCS += platform/systrap/blob_image.S
$(BUILD)/obj/platform/systrap/blob_image.o: $(SYSTRAP_BLOB)
$(BUILD)/obj/platform/systrap/blob_image.o: CPPFLAGS += -DSYSTRAP_BLOB_PATH='"$(SYSTRAP_BLOB)"'
