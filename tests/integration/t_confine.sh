#!/bin/bash
# The second wall (issue 9): the sandbox process's own confinement, a forbidden host syscall
# killing it with a clear log line, and a hostile container reaching nothing on the host.
. "$(dirname "$0")/lib.sh"

# Documented minimum (src/sandbox/caps.c): CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID
# NET_BIND_SERVICE.
CAPS_MIN=000000000000041f

# start_detached PLAT ID ARGS...: created+started container; prints the sandbox pid.
start_detached() {
	plat=$1 id=$2
	shift 2
	make_bundle "$WORK/bundle-$id" "$@"
	"$CVISOR" --root "$STATE_ROOT" --platform="$plat" ${CVFLAGS:-} create --bundle "$WORK/bundle-$id" \
		--pid-file "$WORK/$id.pid" "$id" </dev/null >/dev/null 2>"$WORK/$id.create.err" &&
		"$CVISOR" --root "$STATE_ROOT" start "$id" && cat "$WORK/$id.pid"
}

cleanup() {
	"$CVISOR" --root "$STATE_ROOT" delete --force "$1" >/dev/null 2>&1
	rm -rf "$WORK/bundle-$1"
}

field() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }

check_status() { # plat pid
	local bad=""
	for st in /proc/$2/task/*/status; do
		[ "$(field Seccomp "$st")" = 2 ] || bad="$bad $st:Seccomp=$(field Seccomp "$st")"
		[ "$(field NoNewPrivs "$st")" = 1 ] || bad="$bad $st:NoNewPrivs"
		[ "$(field CapEff "$st")" = "$CAPS_MIN" ] || bad="$bad $st:CapEff=$(field CapEff "$st")"
		[ "$(field CapPrm "$st")" = "$CAPS_MIN" ] || bad="$bad $st:CapPrm"
		[ "$(field CapBnd "$st")" = 0000000000000000 ] || bad="$bad $st:CapBnd=$(field CapBnd "$st")"
		[ "$(field CapInh "$st")" = 0000000000000000 ] || bad="$bad $st:CapInh"
		[ "$(field CapAmb "$st")" = 0000000000000000 ] || bad="$bad $st:CapAmb"
	done
	if [ -z "$bad" ]; then
		ok "confined [$1]: every sentry thread has Seccomp 2, NoNewPrivs 1, caps $CAPS_MIN, no bounding set"
	else
		not_ok "confined [$1]:$bad"
	fi
}

check_root() { # plat pid
	local entries
	entries=$(ls -A "/proc/$2/root/" 2>&1)
	if [ -z "$entries" ]; then
		ok "empty root [$1]: /proc/<sandbox>/root has nothing in it"
	else
		not_ok "empty root [$1]: /proc/<sandbox>/root lists: $(echo $entries | head -c 200)"
	fi
}

forbidden() { # plat which expected-name
	local id="f$$-$RANDOM" pid log="$WORK/forbidden.log"
	rm -f "$log"
	pid=$(CVISOR_TEST_HOOKS=1 CVFLAGS="--debug --log $log" start_detached "$1" "$id" /bin/sleep 30)
	if [ -z "$pid" ]; then
		not_ok "forbidden $2 [$1]: container did not start: $(cat "$WORK/$id.create.err")"
		cleanup "$id"
		return
	fi
	python3 - "$STATE_ROOT/$id/control.sock" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((json.dumps({"cmd": "test-forbidden-syscall", "which": sys.argv[2]}) + "\n").encode())
s.recv(4096)
PY
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		not_ok "forbidden $2 [$1]: the sandbox survived a forbidden host syscall"
	elif grep -q "forbidden host syscall $3 " "$log"; then
		ok "forbidden $2 [$1]: sandbox died, log names \`$3\`"
	else
		not_ok "forbidden $2 [$1]: no log line naming $3: $(tail -2 "$log")"
	fi
	st=$("$CVISOR" --root "$STATE_ROOT" state "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
	leftover=$(pgrep -s "$pid" 2>/dev/null)
	if [ "$st" = stopped ] && [ -z "$leftover" ]; then
		ok "forbidden $2 [$1]: state stopped, no process left"
	else
		not_ok "forbidden $2 [$1]: state=$st leftover pids: $leftover"
	fi
	cleanup "$id"
}

# The host's /tmp, less what this test suite's own runs may create meanwhile (unit tests and
# tools run concurrently on a shared machine: cvisor-*, cv-test-*, mktemp's tmp.XXXXXXXXXX).
tmp_names() {
	ls -A /tmp | grep -vE '^(cvisor-|cv-test-|tmp\.[A-Za-z0-9]{10}$)'
}

hostile() { # plat
	local id="h$$-$RANDOM" canary sentinel out
	canary=$(mktemp /tmp/cvisor-canary.XXXXXX)
	echo "CANARY-$RANDOM$RANDOM" >"$canary"
	touch -d '2000-01-01' "$canary"
	tmp_names >"$WORK/tmp-before.$1"
	sleep 600 &
	sentinel=$!
	out="$WORK/hostile.$1"
	rc=$(run_cvisor "$1" "$out" /bin/hostile "$canary" 3000)
	if [ "$rc" = 0 ] && grep -q "canary leaked: 0" "$out" && grep -q "fuzzers finished: 4" "$out" &&
		grep -q "ptrace attach 1: refused" "$out"; then
		ok "hostile [$1]: the sentry survived signals, ptrace, path tricks and raw fuzzing"
	else
		not_ok "hostile [$1]: exit $rc: $(tr '\n' ' ' <"$out") $(tail -3 "$out.err")"
	fi
	if kill -0 "$sentinel" 2>/dev/null; then
		ok "hostile [$1]: a host process is still alive (nothing signalled outside)"
	else
		not_ok "hostile [$1]: the host sentinel process was killed"
	fi
	if [ "$(stat -c %X "$canary")" = "$(date -d 2000-01-01 +%s)" ] || ! grep -q CANARY "$out"; then
		ok "hostile [$1]: the host canary was never read"
	else
		not_ok "hostile [$1]: the host canary was read"
	fi
	# Names that appeared (others on a shared machine may remove theirs meanwhile).
	tmp_names >"$WORK/tmp-after.$1"
	added=$(diff "$WORK/tmp-before.$1" "$WORK/tmp-after.$1" | sed -n 's/^> //p' | head -5 | tr '\n' ' ')
	if [ -z "$added" ]; then
		ok "hostile [$1]: nothing appeared in the host's /tmp"
	else
		not_ok "hostile [$1]: new in the host's /tmp: $added"
	fi
	kill "$sentinel" 2>/dev/null
	rm -f "$canary"
}

# rootless PLAT: an ordinary user runs a container with --rootless; same layers.
rootless() {
	local user=cvisor-test dir id pid out
	if ! id "$user" >/dev/null 2>&1 && ! useradd -M -s /bin/sh "$user" 2>/dev/null; then
		skip "rootless [$1]: cannot create an unprivileged user to test with"
		return
	fi
	if [ "$1" = kvm ] && ! su "$user" -s /bin/sh -c 'test -r /dev/kvm -a -w /dev/kvm'; then
		skip "rootless [kvm]: an ordinary user cannot open /dev/kvm on this host ($(stat -c '%A %U:%G' /dev/kvm))"
		skip "rootless [kvm]: confinement check needs the above"
		return
	fi
	dir=$(mktemp -d /tmp/cvisor-rootless.XXXXXX)
	cp -a "$ROOTFS" "$dir/rootfs" && cp "$CVISOR" "$dir/cvisor" && chown -R "$user:" "$dir" && chmod 755 "$dir"
	su "$user" -s /bin/sh -c "cd $dir && ./cvisor spec --rootless"
	python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
cfg["process"]["terminal"] = False
cfg["process"]["args"] = ["/bin/sh", "-c", "id -u; echo hi >/tmp/rootless && cat /tmp/rootless"]
cfg["root"] = {"path": "rootfs", "readonly": False}
cfg["mounts"] = []
json.dump(cfg, open(d + "/config.json", "w"))
PY
	chown "$user:" "$dir/config.json"
	out=$(su "$user" -s /bin/sh -c "cd $dir && ./cvisor --root $dir/state --platform=$1 --rootless=true run r1" 2>&1)
	if [ "$out" = "$(printf '0\nhi')" ]; then
		ok "rootless [$1]: an ordinary user runs a container, root inside"
	else
		not_ok "rootless [$1]: $(echo "$out" | tr '\n' ' ' | head -c 300)"
	fi
	python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
cfg["process"]["args"] = ["/bin/sleep", "20"]
json.dump(cfg, open(d + "/config.json", "w"))
PY
	su "$user" -s /bin/sh -c "cd $dir && ./cvisor --root $dir/state --platform=$1 --rootless=true create --pid-file $dir/pid r2 </dev/null >/dev/null 2>&1 && ./cvisor --root $dir/state start r2"
	pid=$(cat "$dir/pid" 2>/dev/null)
	if [ -n "$pid" ] && [ "$(field Seccomp /proc/$pid/status)" = 2 ] &&
		[ "$(field NoNewPrivs /proc/$pid/status)" = 1 ] && [ "$(field CapBnd /proc/$pid/status)" = 0000000000000000 ] &&
		[ -z "$(ls -A /proc/$pid/root/ 2>/dev/null)" ]; then
		ok "rootless [$1]: the sandbox is confined the same way"
	else
		not_ok "rootless [$1]: sandbox pid '$pid' not confined as expected"
	fi
	su "$user" -s /bin/sh -c "cd $dir && ./cvisor --root $dir/state delete --force r2" >/dev/null 2>&1
	rm -rf "$dir"
}

mapfile -t plats < <(platforms)
for p in "${plats[@]}"; do
	case $p in
	*:*)
		skip "confinement [${p%%:*}]: ${p#*:}"
		continue
		;;
	esac
	id="c$$-$RANDOM"
	pid=$(start_detached "$p" "$id" /bin/sleep 30)
	if [ -z "$pid" ]; then
		not_ok "confinement [$p]: container did not start: $(cat "$WORK/$id.create.err")"
	else
		check_status "$p" "$pid"
		check_root "$p" "$pid"
	fi
	cleanup "$id"
	forbidden "$p" openat openat
	forbidden "$p" execve execve
	forbidden "$p" ptrace ptrace
	hostile "$p"
	rootless "$p"
done
tap_end
