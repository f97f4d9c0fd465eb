#!/bin/bash
# Docker drives cvisor as it drives runc (issue 8): a private containerd and dockerd, the
# runtimes registered with `cvisor install`, a busybox image imported from the host's
# busybox-static, then run/exec/logs/top/pause/update/kill/stop/rm, a terminal, the bridge
# network, a memory limit, kvm, and a failed start that leaves nothing behind.
. "$(dirname "$0")/lib.sh"
TTY_PY="$(dirname "$0")/ttyrun.py"
RT=${E2E_RUNTIME:-cvisor}
IMG=local/busybox:latest

e2e_require
docker_cleanup() {
	alive "$(cat "$E2E_DIR/dockerd.pid" 2>/dev/null)" || return 0
	local ids
	ids=$(timeout 20 $DOCKER ps -aq 2>/dev/null)
	[ -n "$ids" ] && timeout 60 $DOCKER rm -f $ids >/dev/null 2>&1
}
E2E_CLEANUP_HOOK=docker_cleanup

# ---- daemons, runtimes, image ----
start_containerd
echo '{"debug": false, "runtimes": {"other": {"path": "/usr/sbin/runc"}}}' >"$E2E_DIR/daemon.json"
"$CVISOR" install --config-file "$E2E_DIR/daemon.json" -- --debug-log "$E2E_DIR/cvisor-logs/" >/dev/null &&
	"$CVISOR" install --config-file "$E2E_DIR/daemon.json" --runtime cvisor-kvm -- --platform=kvm \
		--debug-log "$E2E_DIR/cvisor-logs/" >/dev/null &&
	"$CVISOR" install --config-file "$E2E_DIR/daemon.json" --runtime scratch >/dev/null &&
	"$CVISOR" uninstall --config-file "$E2E_DIR/daemon.json" --runtime scratch >/dev/null
python3 - "$E2E_DIR/daemon.json" "$CVISOR" <<'PY' && ok "cvisor install/uninstall edit daemon.json, keeping the rest" || not_ok "daemon.json: $(cat "$E2E_DIR/daemon.json")"
import json, sys
c = json.load(open(sys.argv[1])); r = c["runtimes"]
assert c["debug"] is False and r["other"] == {"path": "/usr/sbin/runc"} and "scratch" not in r
assert r["cvisor"]["path"] == sys.argv[2] and r["cvisor-kvm"]["runtimeArgs"][0] == "--platform=kvm"
PY
start_dockerd
build_busybox_rootfs
$DOCKER import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	"$E2E_DIR/busybox.tar" "$IMG" >/dev/null || skip_all "docker import failed"
e2e_log "daemons up, image imported after $(($(date +%s) - E2E_T0)) s; runtime $RT"

# ---- docker run --rm ----
out=$($DOCKER run --rm --runtime="$RT" "$IMG" sh -c 'echo hello from $(uname -s); exit 3' 2>&1)
rc=$?
[ "$out" = "hello from Linux" ] && [ $rc = 3 ] && ok "docker run --rm: output and exit status" ||
	not_ok "docker run --rm: rc=$rc out=$out $(cvisor_logs)"
out=$(echo piped-in | $DOCKER run --rm -i --runtime="$RT" "$IMG" cat 2>&1)
[ "$out" = piped-in ] && ok "docker run -i: stdin reaches the container" || not_ok "docker run -i: $out"

# ---- a long-running container ----
$DOCKER run -d --name t1 --runtime="$RT" "$IMG" sh -c \
	'trap "echo got-usr1" USR1; trap "echo bye; exit 42" TERM; echo started; while :; do echo tick >>/tmp/ticks; sleep 0.1; done' >/dev/null
wait_for 10 sh -c "$DOCKER logs t1 2>&1 | grep -q started" && ok "docker run -d, logs" || not_ok "run -d/logs: $($DOCKER logs t1 2>&1)"
id=$($DOCKER inspect -f '{{.Id}}' t1)
spid=$($DOCKER inspect -f '{{.State.Pid}}' t1)

out=$($DOCKER exec t1 sh -c 'echo in-exec $(cut -d" " -f4 /proc/$$/stat)' 2>&1)
[ "$out" = "in-exec 0" ] && ok "docker exec: output, no parent inside the container" || not_ok "docker exec: $out"
$DOCKER exec t1 sh -c 'exit 7'
rc=$?
[ $rc = 7 ] && ok "docker exec: exit status" || not_ok "docker exec status: $rc"
out=$(echo via-stdin | $DOCKER exec -i t1 cat 2>&1)
[ "$out" = via-stdin ] && ok "docker exec -i: stdin" || not_ok "docker exec -i: $out"
out=$($DOCKER exec -t t1 tty 2>&1 | tr -d '\r')
case $out in /dev/pts/[0-9]*) ok "docker exec -t: a terminal ($out)" ;; *) not_ok "docker exec -t: $out" ;; esac
out=$($DOCKER exec t1 nosuchprogram 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'nosuchprogram.*not found' && ok "docker exec of a missing program: error shown" ||
	not_ok "docker exec missing program: rc=$rc $out"

top=$($DOCKER top t1 2>&1)
echo "$top" | awk 'NR > 1 { print $2 }' | grep -qx "$spid" && echo "$top" | grep -q 'cvisor-stub\|cvisor' &&
	ok "docker top: the sandbox's host processes (pid $spid)" || not_ok "docker top: $top"

# The container's /tmp/ticks is a file of its rootfs: count its lines from the host.
ticks=$($DOCKER inspect -f '{{.GraphDriver.Data.MergedDir}}' t1)/tmp/ticks
$DOCKER pause t1 >/dev/null
st=$($DOCKER inspect -f '{{.State.Status}}' t1)
task=$($CTR -n moby task ls 2>/dev/null | awk -v id="$id" '$1 == id { print $3 }')
sleep 0.3
t1=$(wc -l <"$ticks")
sleep 0.7
t2=$(wc -l <"$ticks")
$DOCKER unpause t1 >/dev/null
sleep 0.7
t3=$(wc -l <"$ticks")
[ "$st" = paused ] && [ "$task" = PAUSED ] && [ "$t1" = "$t2" ] && [ "$t3" -gt "$t2" ] &&
	ok "docker pause/unpause: frozen ($t1 = $t2 ticks), then running ($t3)" ||
	not_ok "pause/unpause: state=$st task=$task ticks $t1 $t2 $t3"

cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$id" 2>/dev/null | head -1)
$DOCKER update --memory 96m --memory-swap 192m t1 >/dev/null 2>&1
lim=$(cat /sys/fs/cgroup/memory/docker/$id/memory.limit_in_bytes /sys/fs/cgroup/docker/$id/memory.max 2>/dev/null | head -1)
[ -n "$cg" ] && [ "$lim" = $((96 << 20)) ] && ok "docker update --memory: the sandbox's cgroup ($cg)" ||
	not_ok "docker update --memory: cgroup '$cg' limit '$lim'"

$DOCKER kill -s USR1 t1 >/dev/null
wait_for 5 sh -c "$DOCKER logs t1 2>&1 | grep -q got-usr1" && ok "docker kill -s USR1: the container's handler ran" ||
	not_ok "kill USR1: $($DOCKER logs t1 2>&1 | tail -3)"
$DOCKER stop -t 10 t1 >/dev/null
code=$($DOCKER inspect -f '{{.State.ExitCode}}' t1)
[ "$code" = 42 ] && $DOCKER logs t1 2>&1 | grep -q bye && ok "docker stop: SIGTERM handled, exit status 42" ||
	not_ok "docker stop: exit code $code"
$DOCKER rm t1 >/dev/null
left=$(find "$E2E_DIR/docker-exec" -maxdepth 4 -name "$id*" 2>/dev/null; [ -n "$cg" ] && [ -d "$cg" ] && echo "$cg"; kill -0 "$spid" 2>/dev/null && echo "pid $spid")
[ -z "$left" ] && ok "docker rm: no state, cgroup or process left" || not_ok "docker rm left: $left"

# ---- a terminal ----
# ^Z stops the foreground job (the sentry's line discipline and job control), jobs lists it
out=$(python3 "$TTY_PY" run 20 'tty\nstty size\nsleep 30\n'$'\x1a''\njobs\nkill -9 %1\nexit 5\nexit 5' \
	$DOCKER run -it --rm --runtime="$RT" "$IMG" sh)
echo "$out" | grep -q '^/dev/pts/[0-9]' && echo "$out" | grep -q '^40 100' && echo "$out" | grep -q '\[status 5\]' &&
	echo "$out" | grep -q 'Stopped.*sleep 30' && ok "docker run -it: tty, window size, ^Z and jobs, exit status" ||
	not_ok "docker run -it: $(echo "$out" | tail -12 | tr '\n' '|')"

# ---- networking: the default bridge, two sandboxes, and loopback ----
$DOCKER run -d --name srv --runtime="$RT" "$IMG" sh -c 'echo from-server | nc -l -p 8080; sleep 5' >/dev/null
sip=$($DOCKER inspect -f '{{.NetworkSettings.IPAddress}}' srv)
sleep 0.5
out=$($DOCKER run --rm --runtime="$RT" "$IMG" sh -c "nc $sip 8080 </dev/null; ip addr show eth0 | grep -c 'inet 172'" 2>&1)
[ -n "$sip" ] && echo "$out" | grep -q from-server && ok "bridge network: one sandbox reaches another at $sip" ||
	not_ok "bridge network ($sip): $out"
out=$($DOCKER run --rm --runtime="$RT" "$IMG" sh -c '(echo over-lo | nc -l -p 7777 &); sleep 0.3; nc 127.0.0.1 7777 </dev/null' 2>&1)
[ "$out" = over-lo ] && ok "loopback inside the sandbox" || not_ok "loopback: $out"
$DOCKER rm -f srv >/dev/null 2>&1

# ---- a memory limit: the application gets killed, not the sandbox ----
out=$($DOCKER run --rm -m 64m --runtime="$RT" "$IMG" sh -c \
	'sh -c "a=\$(head -c 150000000 /dev/zero | tr \"\\0\" x)"; echo child=$?; echo sandbox-alive' 2>&1)
echo "$out" | grep -q 'child=137' && echo "$out" | grep -q sandbox-alive &&
	ok "memory limit: the application is killed, the sandbox lives on" || not_ok "memory limit: $out"

# ---- kvm ----
why=$("$CVISOR" platforms 2>/dev/null | awk '$1 == "kvm"')
case $why in
*" usable"*)
	out=$($DOCKER run --rm --runtime=cvisor-kvm "$IMG" sh -c 'echo on-kvm; exit 4' 2>&1)
	rc=$?
	[ "$out" = on-kvm ] && [ $rc = 4 ] && ok "docker run --runtime=cvisor-kvm" || not_ok "cvisor-kvm: rc=$rc $out" ;;
*) skip "docker run --runtime=cvisor-kvm: ${why:-kvm platform not listed}" ;;
esac

# ---- a failed start: the error reaches the user, nothing is left ----
out=$($DOCKER run --name bad --runtime="$RT" "$IMG" /nonexistent 2>&1)
rc=$?
bid=$($DOCKER inspect -f '{{.Id}}' bad 2>/dev/null)
left=$([ -n "$bid" ] && { find "$E2E_DIR/docker-exec" "$E2E_DIR/containerd-state" -maxdepth 4 -name "$bid*" 2>/dev/null
	find /sys/fs/cgroup -maxdepth 3 -name "$bid" 2>/dev/null; procs_with "$bid"; })
[ $rc != 0 ] && echo "$out" | grep -q '"/nonexistent": No such file or directory' && [ -n "$bid" ] && [ -z "$left" ] &&
	ok "failed start: '$(echo "$out" | head -1 | cut -c1-60)...', nothing left" ||
	not_ok "failed start: rc=$rc out=$out left=$left"
$DOCKER rm bad >/dev/null 2>&1

tap_end
