# make demo: a busybox bundle from the host's busybox-static, run inside the sandbox.
demo:
	$(Q)tools/install-deps.sh demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tools/demo.sh

# make bench [QUICK=1]: cvisor against native, runc and runsc; writes docs/performance.{md,png}
# (QUICK=1: a smoke test, into build/bench/performance.{md,png}).
# A failed cvisor build does not stop it: the cvisor rows are skipped with the build's error.
BENCH_BUILD_LOG = $(BUILD)/bench/cvisor-build.log
bench:
	$(Q)tools/install-deps.sh bench
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)rc=0; $(MAKE) --no-print-directory all >$(BENCH_BUILD_LOG) 2>&1 || rc=$$?; \
	if [ $$rc != 0 ]; then tail -5 $(BENCH_BUILD_LOG); \
		echo "bench: make all failed (log: $(BENCH_BUILD_LOG)): cvisor rows will be skipped"; fi; \
	BUILD=$(BUILD) QUICK=$(QUICK) CVISOR_BUILD_RC=$$rc CVISOR_BUILD_LOG=$(BENCH_BUILD_LOG) \
		tools/bench/run.sh

# Generated documentation: the syscall table and the sentry's allowlist, from the code.
$(BUILD)/gen-docs: tools/gen-docs.c $(BUILD)/libcv.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libcv.a $(LDLIBS)

docs: $(BUILD)/gen-docs
	$(Q)$(BUILD)/gen-docs compat >docs/compatibility.md
	$(Q)tools/gen-security-doc.sh $(BUILD)/gen-docs docs/security.md

.PHONY: docs
