# cvisor: one top-level GNU Makefile with per-directory fragments (*.mk).
# Targets: all (build/cvisor), test, check (unit), check-integration, check-e2e,
#          demo, bench, format-check, check-headers, clean.  V=1 for verbose.

.DELETE_ON_ERROR:
.SUFFIXES:

BUILD   ?= build
CC      ?= gcc
WERROR  ?= 1
OPT     ?= -O2

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS        := libseccomp libcap jansson
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARNINGS += -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wstrict-prototypes
WARNINGS += -Wold-style-definition -Wundef -Wvla -Wpointer-arith -Wno-unused-parameter
WARNINGS += -Wno-missing-field-initializers -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

CPPFLAGS += -D_GNU_SOURCE -Iinclude -MMD -MP
CFLAGS   += -std=gnu11 $(OPT) -g -fno-strict-aliasing -fstack-protector-strong $(WARNINGS) $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread

all: $(BUILD)/cvisor

# Fragments append to LIB_SRCS (everything but main.c) and may add targets.
LIB_SRCS :=
include src/common/common.mk
include src/cli/cli.mk
include src/oci/oci.mk
include src/sandbox/sandbox.mk
include src/sentry/sentry.mk
include platform/platform.mk

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(LIB_OBJS:%.S=$(BUILD)/obj/%.o)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(CFLAGS_$(subst /,_,$(basename $<))) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(CPPFLAGS) -c $< -o $@

$(BUILD)/libcv.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/cvisor: $(BUILD)/obj/src/cli/main.o $(BUILD)/libcv.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

include tests/tests.mk
include tools/tools.mk

deps:
	$(Q)tools/install-deps.sh build

test: 
	$(Q)tools/install-deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory check check-integration check-e2e

format-check:
	$(Q)clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

check-headers:
	$(Q)tools/check-headers.sh

clean:
	rm -rf $(BUILD)

.PHONY: all deps test check check-integration check-e2e demo bench format-check check-headers clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
