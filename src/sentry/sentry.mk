# The sentry: every subsystem directory, and each filesystem under fs/.
LIB_SRCS += $(wildcard src/sentry/*.c src/sentry/*/*.c src/sentry/fs/*/*.c)

# The vDSO: freestanding guest code linked into its own image, embedded with .incbin.
VDSO_SO := $(BUILD)/vdso/vdso.so
VDSO_CFLAGS := -O2 -fPIC -nostdlib -shared -fno-stack-protector -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -Wl,-T,src/sentry/vdso/guest/vdso.lds -Wl,--hash-style=both \
	-Wl,-soname=linux-vdso.so.1 -Wl,--no-undefined -Wl,-z,max-page-size=4096 -Wl,--build-id=none
$(VDSO_SO): src/sentry/vdso/guest/vdso.c src/sentry/vdso/guest/vdso.lds src/sentry/vdso/vdso_data.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  VDSO    $@")
	$(Q)$(CC) -Isrc/sentry/vdso $(VDSO_CFLAGS) -o $@ $<
LIB_SRCS += src/sentry/vdso/vdso_blob.S
$(BUILD)/obj/src/sentry/vdso/vdso_blob.o: $(VDSO_SO)
$(BUILD)/obj/src/sentry/vdso/vdso_blob.o: CPPFLAGS += -DVDSO_PATH='"$(VDSO_SO)"'
