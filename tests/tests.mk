# Unit tests (cmocka, one binary per module), guest programs (static), integration and e2e runs.

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
GUEST_SRCS := $(wildcard tests/integration/guest/*.c)
GUEST_BINS := $(GUEST_SRCS:tests/integration/guest/%.c=$(BUILD)/tests/guest/%)
# Programs that only ever run inside the sandbox (hostile ones): built into the same rootfs.
SANDBOX_ONLY_SRCS := $(wildcard tests/integration/sandbox_only/*.c)
GUEST_BINS += $(SANDBOX_ONLY_SRCS:tests/integration/sandbox_only/%.c=$(BUILD)/tests/guest/%)
GUEST_CFLAGS := -O1 -g0 -static -Wall -Wno-unused-result -D_GNU_SOURCE -pthread

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libcv.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libcv.a $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/guest/%: tests/integration/guest/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -o $@ $<

$(BUILD)/tests/guest/%: tests/integration/sandbox_only/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -o $@ $<

unit-tests: $(UNIT_BINS)
guest-programs: $(GUEST_BINS)

check: $(UNIT_BINS) $(BUILD)/gen-docs
	$(Q)tests/unit/run.sh $(UNIT_BINS)
	$(Q)tools/check-docs.sh $(BUILD)/gen-docs
	$(Q)BUILD=$(BUILD) tools/check-headers.sh

check-integration: $(BUILD)/cvisor $(GUEST_BINS)
	$(Q)BUILD=$(BUILD) tests/integration/run.sh

# The daemons' packages are installed when missing (as root); without them the e2e tests
# skip, saying why.
check-e2e: $(BUILD)/cvisor
	$(Q)tools/install-deps.sh e2e || echo "# e2e: packages missing, the daemon tests will skip"
	$(Q)BUILD=$(BUILD) tests/e2e/run.sh

.PHONY: unit-tests guest-programs
