#!/bin/bash
# systrap with --no-syscall-patching: the guests that exercise syscall sites, threads,
# signals, fork and the stub itself, natively and in cvisor with every syscall trapped
# (t_guest.sh runs them all with patching on, the default).
. "$(dirname "$0")/lib.sh"

# run_cvisor with a global flag first.
run_cvisor_flag() { # FLAG OUT ARGS...
	local flag=$1 out=$2 id="s$$-$RANDOM" rc
	shift 2
	make_bundle "$WORK/bundle-$id" "$@"
	timeout -k 5 "$TIMEOUT" "$CVISOR" --root "$STATE_ROOT" --platform=systrap "$flag" \
		run --bundle "$WORK/bundle-$id" "$id" >"$out" 2>"$out.err" </dev/null
	rc=$?
	"$CVISOR" --root "$STATE_ROOT" delete --force "$id" >/dev/null 2>&1
	rm -rf "$WORK/bundle-$id"
	echo $rc
}

if ! platforms | grep -qx systrap; then
	skip "systrap without patching: $(platforms | grep '^systrap:' | cut -d: -f2-)"
	tap_end
	exit $?
fi
for name in syscall_sites systrap_escape threads signals mm_fork exec_script hello; do
	nrc=$(run_native "$WORK/$name.native" "/bin/$name")
	crc=$(run_cvisor_flag --no-syscall-patching "$WORK/$name.nopatch" "/bin/$name")
	same_output "$name" nopatch "$nrc" "$crc" "systrap --no-syscall-patching"
done
tap_end
