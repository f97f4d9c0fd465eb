#!/bin/bash
# The runtime interface engines rely on, driven directly (no daemon): config.json hooks (all
# six kinds, their state, env, failures and timeouts), cgroups (created, limited, updated,
# reported by `events`, removed), the sentry's pids limit, `features`, `ps`.
. "$(dirname "$0")/lib.sh"

e2e_require
ROOT="$E2E_DIR/runtime-root"
CV="$CVISOR --root $ROOT"
build_busybox_rootfs
HOOKLOG="$E2E_DIR/hooks.log"

# bundle DIR ARGS...: config.json over the busybox rootfs.  Optional: HOOKS (JSON),
# LINUX_EXTRA (JSON merged into "linux").
bundle() {
	local d=$1
	shift
	mkdir -p "$d"
	HOOKS="${HOOKS:-{\}}" LINUX_EXTRA="${LINUX_EXTRA:-{\}}" python3 - "$d" "$E2E_DIR/rootfs" "$@" <<'PY'
import json, os, sys
d, rootfs, args = sys.argv[1], sys.argv[2], sys.argv[3:]
linux = {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}
linux.update(json.loads(os.environ["LINUX_EXTRA"]))
json.dump({"ociVersion": "1.0.2-dev",
           "process": {"user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/",
                       "env": ["PATH=/bin"]},
           "root": {"path": rootfs}, "hostname": "rt",
           "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
           "hooks": json.loads(os.environ["HOOKS"]), "linux": linux},
          open(d + "/config.json", "w"))
PY
}

runtime_cleanup() {
	for c in $(ls "$ROOT" 2>/dev/null); do $CV delete --force "$c" >/dev/null 2>&1; done
}
E2E_CLEANUP_HOOK=runtime_cleanup

# ---- features ----
$CV features | python3 -c '
import json, sys
f = json.load(sys.stdin)
assert f["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
assert f["linux"]["cgroup"]["v1"] and "CAP_SYS_ADMIN" in f["linux"]["capabilities"] and "rbind" in f["mountOptions"]
' && ok "features: runc's JSON layout" || not_ok "features: $($CV features 2>&1 | head -5)"

# ---- hooks ----
rm -f "$HOOKLOG"
hook() { # KIND: a hook appending "KIND <env> <state JSON>" to the log
	printf '{"path": "/bin/sh", "args": ["sh", "-c", "echo %s $HOOKVAR $(cat) >>%s"], "env": ["HOOKVAR=v-%s"]}' "$1" "$HOOKLOG" "$1"
}
HOOKS="{\"prestart\": [$(hook prestart)], \"createRuntime\": [$(hook createRuntime)],
 \"createContainer\": [$(hook createContainer)], \"startContainer\": [$(hook startContainer)],
 \"poststart\": [$(hook poststart)], \"poststop\": [$(hook poststop)]}" \
	bundle "$E2E_DIR/b-hooks" sh -c 'sleep 0.3'
$CV create --bundle "$E2E_DIR/b-hooks" --pid-file "$E2E_DIR/hooks.pid" h1 </dev/null >/dev/null 2>&1
created=$(cut -d' ' -f1 "$HOOKLOG" 2>/dev/null | tr '\n' ' ')
$CV start h1
wait_for 5 sh -c "$CV state h1 | grep -q stopped"
$CV delete h1
kinds=$(cut -d' ' -f1 "$HOOKLOG" 2>/dev/null | tr '\n' ' ')
python3 - "$HOOKLOG" "$(cat "$E2E_DIR/hooks.pid" 2>/dev/null)" <<'PY' && [ "$created" = "prestart createRuntime createContainer " ] &&
import json, sys
want = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
        "startContainer": "created", "poststart": "running", "poststop": "stopped"}
for line in open(sys.argv[1]):
    kind, var, state = line.split(" ", 2)
    s = json.loads(state)
    assert var == "v-" + kind and s["id"] == "h1" and s["status"] == want[kind], line
    assert kind == "poststop" or s["pid"] == int(sys.argv[2]), line
PY
	[ "$kinds" = "prestart createRuntime createContainer startContainer poststart poststop " ] &&
	ok "hooks: all six, in order, with their env and the state on stdin" || not_ok "hooks: $(cat "$HOOKLOG" 2>&1)"

HOOKS='{"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no; exit 3"]}]}' \
	bundle "$E2E_DIR/b-hookfail" true
out=$($CV create --bundle "$E2E_DIR/b-hookfail" h2 </dev/null 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'createRuntime hook.*exit status 3: hook-said-no' && [ ! -e "$ROOT/h2" ] &&
	[ -z "$(procs_with "$ROOT/h2")" ] && ok "a failing hook fails create, names itself, leaves nothing" ||
	not_ok "failing hook: rc=$rc $out"
HOOKS='{"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]}' bundle "$E2E_DIR/b-hooktmo" true
t0=$(date +%s)
out=$($CV create --bundle "$E2E_DIR/b-hooktmo" h3 </dev/null 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'did not finish within 1 s' && [ $(($(date +%s) - t0)) -lt 5 ] &&
	[ ! -e "$ROOT/h3" ] && ok "a hook past its timeout is killed and fails create" || not_ok "hook timeout: rc=$rc $out"

# ---- cgroups ----
if [ "$(cat /proc/self/cgroup | head -1)" ] && [ -d /sys/fs/cgroup ]; then
	LINUX_EXTRA='{"cgroupsPath": "/cvisor-e2e/r1", "resources": {"memory": {"limit": 104857600},
	  "pids": {"limit": 20}, "cpu": {"shares": 512}}}' bundle "$E2E_DIR/b-cg" sh -c 'while :; do sleep 1; done'
	$CV create --bundle "$E2E_DIR/b-cg" --pid-file "$E2E_DIR/cg.pid" r1 </dev/null >/dev/null 2>&1
	$CV start r1
	spid=$(cat "$E2E_DIR/cg.pid")
	v1() { cat "/sys/fs/cgroup/$1/cvisor-e2e/r1/$2" 2>/dev/null; }
	v2() { cat "/sys/fs/cgroup/cvisor-e2e/r1/$1" 2>/dev/null; }
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		got="$(v2 memory.max) $(v2 pids.max) $(grep -qx "$spid" /sys/fs/cgroup/cvisor-e2e/r1/cgroup.procs && echo in)"
		want="104857600 104 in"
	else
		got="$(v1 memory memory.limit_in_bytes) $(v1 pids pids.max) $(v1 cpu cpu.shares) $(grep -qx "$spid" /sys/fs/cgroup/memory/cvisor-e2e/r1/cgroup.procs && echo in)"
		want="104857600 104 512 in"
	fi
	[ "$got" = "$want" ] && ok "cgroupsPath and resources applied to the sandbox ($got)" || not_ok "cgroup: got '$got' want '$want'"
	$CV update --memory 200m --pids-limit 30 r1
	ev=$($CV events --stats r1)
	echo "$ev" | python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
assert e["type"] == "stats" and e["id"] == "r1", e
assert e["data"]["memory"]["usage"]["limit"] == 200 << 20 and e["data"]["memory"]["usage"]["usage"] > 0, e
assert e["data"]["pids"]["current"] > 0, e
' && ok "update --memory --pids-limit, events --stats" || not_ok "update/events: $ev"
	$CV ps r1 | grep -q ' sh$' && ok "ps: the container's processes" || not_ok "ps: $($CV ps r1 2>&1)"
	$CV delete --force r1
	[ ! -e /sys/fs/cgroup/memory/cvisor-e2e/r1 ] && [ ! -e /sys/fs/cgroup/cvisor-e2e/r1 ] &&
		ok "delete removes the cgroup" || not_ok "cgroup left after delete"
	rmdir /sys/fs/cgroup/*/cvisor-e2e /sys/fs/cgroup/cvisor-e2e 2>/dev/null
else
	skip "cgroups: no cgroup filesystem"
fi

# ---- the sentry's pids limit ----
LINUX_EXTRA='{"resources": {"pids": {"limit": 8}}}' bundle "$E2E_DIR/b-pids" sh -c \
	'sh -c "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done" 2>/dev/null; echo inner=$?; set -- /proc/[0-9]*; echo procs $#'
out=$(timeout 20 $CV run --bundle "$E2E_DIR/b-pids" p1 </dev/null 2>&1)
n=$(echo "$out" | awk '/procs/ { print $2 }')
echo "$out" | grep -q 'inner=2' && [ -n "$n" ] && [ "$n" -le 8 ] && [ "$n" -gt 2 ] &&
	ok "pids limit: fork fails past it ($n processes of 13 wanted)" || not_ok "pids limit: $out"

tap_end
