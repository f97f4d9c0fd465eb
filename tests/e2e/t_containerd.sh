#!/bin/bash
# containerd's runc shim drives cvisor as it drives runc (issue 8): `ctr run --runc-binary`
# with a private containerd, an image built here from the host's busybox-static, then
# run/exec/ps/pause/resume/metrics/kill/rm, a terminal, kvm, the systemd cgroup refusal and a
# failed start that leaves nothing behind.
. "$(dirname "$0")/lib.sh"
TTY_PY="$(dirname "$0")/ttyrun.py"
IMG=docker.io/local/busybox:latest

e2e_require
RROOT="$E2E_DIR/runc-root"
ctr_cleanup() {
	alive "$(cat "$E2E_DIR/containerd.pid" 2>/dev/null)" || return 0
	for t in $(timeout 10 $CTR task ls -q 2>/dev/null); do
		timeout 20 $CTR task kill -a -s KILL "$t" >/dev/null 2>&1
		sleep 0.3
		timeout 20 $CTR task rm -f "$t" >/dev/null 2>&1
	done
	for c in $(timeout 10 $CTR containers ls -q 2>/dev/null); do
		timeout 20 $CTR containers rm "$c" >/dev/null 2>&1
	done
}
E2E_CLEANUP_HOOK=ctr_cleanup

# The shim runs the binary it is given with runc's arguments; ours adds cvisor's flags.
wrapper() { # NAME FLAGS...
	local w="$E2E_DIR/$1"
	shift
	printf '#!/bin/sh\nexec %s --debug-log %s %s "$@"\n' "$CVISOR" "$E2E_DIR/cvisor-logs/" "$*" >"$w"
	chmod +x "$w"
	echo "$w"
}
CV=$(wrapper cvisor-runc ${E2E_FLAGS:-})
CVKVM=$(wrapper cvisor-runc-kvm --platform=kvm)
RUN="$CTR run --runc-binary $CV --runc-root $RROOT"

start_containerd
build_busybox_rootfs
python3 "$(dirname "$0")/mkimage.py" "$E2E_DIR/busybox.tar" "$E2E_DIR/busybox-image.tar" "$IMG" &&
	$CTR images import "$E2E_DIR/busybox-image.tar" >/dev/null || skip_all "ctr images import failed"
e2e_log "containerd up, image imported after $(($(date +%s) - E2E_T0)) s"

# ---- ctr run --rm ----
out=$($RUN --rm "$IMG" c1 sh -c 'echo hi-ctr; exit 7' 2>&1)
rc=$?
[ "$out" = hi-ctr ] && [ $rc = 7 ] && ok "ctr run --rm: output and exit status" || not_ok "ctr run: rc=$rc $out $(cvisor_logs)"

# ---- a detached task ----
$RUN -d "$IMG" c2 sh -c 'trap "echo usr1 >/tmp/usr1" USR1; trap "exit 42" TERM; while :; do sleep 0.1; done' >/dev/null
tpid=$($CTR task ls 2>/dev/null | awk '$1 == "c2" { print $2 }')
[ -n "$tpid" ] && ok "ctr run -d (task pid $tpid)" || not_ok "ctr run -d: $($CTR task ls 2>&1)"
out=$($CTR task exec --exec-id e1 c2 sh -c 'echo in-exec; exit 4' 2>&1)
rc=$?
[ "$out" = in-exec ] && [ $rc = 4 ] && ok "ctr task exec: output and exit status" || not_ok "ctr task exec: rc=$rc $out"
out=$(python3 "$TTY_PY" run 15 '' $CTR task exec -t --exec-id e2 c2 sh -c 'tty; sleep 1; stty size')
echo "$out" | grep -q '^/dev/pts/[0-9]' && echo "$out" | grep -q '^40 100' && echo "$out" | grep -q 'status 0' &&
	ok "ctr task exec -t: a terminal of the right size" || not_ok "ctr task exec -t: $(echo "$out" | tr '\n' '|')"
ps=$($CTR task ps c2 2>&1)
echo "$ps" | awk 'NR > 1 { print $1 }' | grep -qx "$tpid" && ok "ctr task ps: host pids ($(echo "$ps" | awk 'NR > 1' | wc -l))" ||
	not_ok "ctr task ps: $ps"
$CTR task pause c2 && st=$($CTR task ls | awk '$1 == "c2" { print $3 }')
$CTR task resume c2 && st2=$($CTR task ls | awk '$1 == "c2" { print $3 }')
[ "$st" = PAUSED ] && [ "$st2" = RUNNING ] && ok "ctr task pause/resume" || not_ok "pause/resume: $st $st2"
$CTR task metrics c2 2>&1 | grep -q 'memory.usage' && ok "ctr task metrics (the sandbox's cgroup)" ||
	not_ok "ctr task metrics: $($CTR task metrics c2 2>&1 | head -5)"
$CTR task kill -s USR1 c2
wait_for 5 sh -c "$CTR task exec --exec-id e3 c2 cat /tmp/usr1 | grep -q usr1" && ok "ctr task kill -s USR1: handler ran" ||
	not_ok "kill USR1"
cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -path '*/default/c2' 2>/dev/null | head -1)
$CTR task kill -s TERM c2
wait_for 10 sh -c "$CTR task ls | grep -q '^c2 .*STOPPED'"
out=$($CTR task rm c2 2>&1)
echo "$out" | grep -q 'exit code 42' && ok "ctr task kill TERM: exit status 42" || not_ok "task rm: $out"
$CTR containers rm c2
left=$(ls "$RROOT/default" 2>/dev/null | grep -x c2; [ -n "$cg" ] && [ -d "$cg" ] && echo "$cg"; procs_with "$RROOT/default/c2")
[ -n "$cg" ] && [ -z "$left" ] && ok "ctr task rm: no state, cgroup ($cg) or process left" || not_ok "left: cg=$cg $left"

# ---- a terminal ----
out=$(python3 "$TTY_PY" run 20 'tty\nexit 5' $RUN -t --rm "$IMG" c3 sh)
echo "$out" | grep -q '^/dev/pts/[0-9]' && echo "$out" | grep -q '\[status 5\]' && ok "ctr run -t: tty and exit status" ||
	not_ok "ctr run -t: $(echo "$out" | tail -8 | tr '\n' '|')"

# ---- kvm ----
why=$("$CVISOR" platforms 2>/dev/null | awk '$1 == "kvm"')
case $why in
*" usable"*)
	out=$($CTR run --runc-binary "$CVKVM" --runc-root "$RROOT" --rm "$IMG" c5 sh -c 'echo on-kvm' 2>&1)
	[ "$out" = on-kvm ] && ok "ctr run on kvm" || not_ok "ctr run on kvm: $out" ;;
*) skip "ctr run on kvm: ${why:-kvm platform not listed}" ;;
esac

# ---- the systemd cgroup driver: a clear refusal ----
out=$($RUN --runc-systemd-cgroup --rm "$IMG" c6 true 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'systemd' && [ -z "$(ls "$RROOT/default" 2>/dev/null | grep -x c6)" ] &&
	ok "--systemd-cgroup: refused clearly" || not_ok "--systemd-cgroup: rc=$rc $out"
$CTR containers rm c6 >/dev/null 2>&1

# ---- a failed start ----
out=$($RUN --rm "$IMG" c4 /nonexistent 2>&1)
rc=$?
left=$(ls "$RROOT/default" 2>/dev/null | grep -x c4; find /sys/fs/cgroup -maxdepth 3 -path '*/default/c4' 2>/dev/null
	procs_with "$RROOT/default/c4")
[ $rc != 0 ] && echo "$out" | grep -q '"/nonexistent": No such file or directory' && [ -z "$left" ] &&
	ok "failed start: the error is shown, nothing left" || not_ok "failed start: rc=$rc out=$out left=$left"
$CTR containers rm c4 >/dev/null 2>&1

tap_end
