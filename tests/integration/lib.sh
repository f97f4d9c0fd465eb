# Shared helpers for integration tests (sourced).  TAP output; exit 77 = skip.
: "${BUILD:=build}"
BUILD=$(cd "$BUILD" && pwd)
CVISOR="$BUILD/cvisor"
WORK="$BUILD/tests/work"
ROOTFS="$WORK/rootfs"
STATE_ROOT="$WORK/state"
TIMEOUT="${CV_TEST_TIMEOUT:-60}"
mkdir -p "$WORK" "$STATE_ROOT"

# The environment of every guest, native or sandboxed.
GUEST_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=xterm CVTEST=1"

tap_n=0
tap_fail=0
tap_skip=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_fail=$((tap_fail + 1)); echo "not ok $tap_n - $*"; }
skip() { tap_n=$((tap_n + 1)); tap_skip=$((tap_skip + 1)); echo "ok $tap_n - # SKIP $*"; }
# same_output NAME SUBJECT NATIVE_RC RC [LABEL]: ok when SUBJECT's run ($WORK/NAME.SUBJECT, its
# exit status RC) printed what the native run printed ($WORK/NAME.native, NATIVE_RC) and
# exited alike; else not ok with the diff and SUBJECT's stderr.  LABEL names SUBJECT in the
# TAP line (default SUBJECT).
same_output() {
	local name=$1 subj=$2 nrc=$3 rc=$4 label=${5:-$2}
	if [ "$nrc" = "$rc" ] && cmp -s "$WORK/$name.native" "$WORK/$name.$subj"; then
		ok "$name [$label] (exit $rc)"
	else
		not_ok "$name [$label]: native exit $nrc, $label exit $rc"
		diff "$WORK/$name.native" "$WORK/$name.$subj" | head -20 | sed 's/^/#   /'
		sed 's/^/#   stderr: /' "$WORK/$name.$subj.err" | head -10
	fi
}
tap_end() { echo "1..$tap_n"; echo "# $tap_fail failed, $tap_skip skipped"; [ "$tap_fail" = 0 ]; }

# Platforms to test, each "name" or "name:skip reason".
platforms() {
	local listed
	listed=$("$CVISOR" platforms 2>/dev/null)
	for p in ptrace systrap kvm; do
		case " ${CV_TEST_PLATFORMS:-ptrace systrap kvm} " in
		*" $p "*) ;;
		*) echo "$p:not selected (CV_TEST_PLATFORMS)"; continue ;;
		esac
		line=$(echo "$listed" | grep "^$p ")
		case $line in
		*" usable"*) echo "$p" ;;
		"") echo "$p:not compiled in yet" ;;
		*) echo "$p:${line#*unavailable: }" ;;
		esac
	done
}

# make_bundle DIR ARGS... : a bundle over $ROOTFS running ARGS.  Optional: BUNDLE_MOUNTS, a
# JSON list of OCI mounts; BUNDLE_READONLY=true for a read-only root; BUNDLE_CAPS=all for
# every capability (as the native runs have); BUNDLE_LINUX, a JSON object merged into
# config.json's "linux".
make_bundle() {
	dir=$1
	shift
	mkdir -p "$dir"
	GUEST_ENV="$GUEST_ENV" BUNDLE_MOUNTS="${BUNDLE_MOUNTS:-[]}" BUNDLE_READONLY="${BUNDLE_READONLY:-false}" \
		BUNDLE_CAPS="${BUNDLE_CAPS:-}" BUNDLE_LINUX="${BUNDLE_LINUX:-null}" python3 - "$dir" "$ROOTFS" "$@" <<'PY'
import json, os, sys
d, rootfs, args = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = {
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                "env": os.environ["GUEST_ENV"].split(),
                "cwd": "/", "noNewPrivileges": True},
    "root": {"path": rootfs, "readonly": os.environ["BUNDLE_READONLY"] == "true"},
    "hostname": "cvisor-test",
    "mounts": json.loads(os.environ["BUNDLE_MOUNTS"]),
    "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
}
cfg["linux"].update(json.loads(os.environ["BUNDLE_LINUX"]) or {})
if os.environ["BUNDLE_CAPS"] == "all":
    caps = [l.split()[1] for l in open("/usr/include/linux/capability.h") if l.startswith("#define CAP_")
            and l.split()[2].isdigit()]
    cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
json.dump(cfg, open(d + "/config.json", "w"), indent=1)
PY
}

# Native runs get a network namespace of their own with only `lo`, up, like a sandbox's: a
# test can neither disturb the host's network nor collide with its ports.  (The shell that
# brings `lo` up hands the guest exactly $GUEST_ENV again, in order.)
NATIVE_NET='ip link set lo up'

# run_native OUT ARGS...: runs ARGS chrooted in $ROOTFS as pid 1 of new pid and network
# namespaces.
# Optional: NATIVE_SETUP, shell commands run in the new mount namespace first (mounts
# matching BUNDLE_MOUNTS), with @R@ standing for $ROOTFS.
run_native() {
	out=$1
	shift
	if [ -n "${NATIVE_SETUP:-}" ]; then
		timeout -k 5 "$TIMEOUT" env -i $GUEST_ENV unshare --pid --fork --kill-child --mount --uts \
			--net /bin/sh -c "$NATIVE_NET && ${NATIVE_SETUP//@R@/$ROOTFS} && exec env -i $GUEST_ENV"' chroot "$0" "$@"' \
			"$ROOTFS" "$@" \
			>"$out" 2>"$out.err" </dev/null
		echo $?
		return
	fi
	timeout -k 5 "$TIMEOUT" env -i $GUEST_ENV unshare --pid --fork --kill-child --mount --uts --net \
		/bin/sh -c "$NATIVE_NET && exec env -i $GUEST_ENV"' chroot "$0" "$@"' "$ROOTFS" "$@" \
		>"$out" 2>"$out.err" </dev/null
	echo $?
}

# run_runc OUT ARGS...: the same under runc, the reference runtime (when it is installed).
run_runc() {
	out=$1
	shift
	id="r$$-$RANDOM"
	make_bundle "$WORK/bundle-$id" "$@"
	timeout -k 5 "$TIMEOUT" runc --root "$WORK/runc-state" run --bundle "$WORK/bundle-$id" "$id" \
		>"$out" 2>"$out.err" </dev/null
	rc=$?
	runc --root "$WORK/runc-state" delete --force "$id" >/dev/null 2>&1
	rm -rf "$WORK/bundle-$id"
	echo $rc
}

# run_cvisor PLATFORM OUT ARGS...: the same inside a cvisor sandbox.
run_cvisor() {
	plat=$1 out=$2
	shift 2
	id="t$$-$RANDOM"
	make_bundle "$WORK/bundle-$id" "$@"
	# CVISOR_FLAGS: more global flags (word-split), e.g. "--strace --debug-log FILE".
	timeout -k 5 "$TIMEOUT" "$CVISOR" --root "$STATE_ROOT" ${CVISOR_FLAGS:-} --platform="$plat" run --bundle "$WORK/bundle-$id" "$id" \
		>"$out" 2>"$out.err" </dev/null
	rc=$?
	"$CVISOR" --root "$STATE_ROOT" delete --force "$id" >/dev/null 2>&1
	rm -rf "$WORK/bundle-$id"
	echo $rc
}
