#!/bin/bash
# The OCI lifecycle as runc's callers drive it: create -> state (created, pid) -> start ->
# state (running, then stopped) -> delete, with the pid file, kill, list and exit statuses.
. "$(dirname "$0")/lib.sh"

cv() { "$CVISOR" --root "$STATE_ROOT" "$@"; }
status_of() { cv state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }
pid_of() { cv state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }

lifecycle() { # plat
	local plat=$1 id="l$$-$RANDOM" b
	b="$WORK/bundle-$id"
	make_bundle "$b" /bin/sh -c 'read line; echo "got $line"; exit 7'
	mkfifo "$WORK/$id.in"
	# The container's stdin is a FIFO we write to after start: the init waits for it.
	cv --platform="$plat" create --bundle "$b" --pid-file "$WORK/$id.pid" "$id" \
		<"$WORK/$id.in" >"$WORK/$id.out" 2>"$WORK/$id.err" &
	exec 9>"$WORK/$id.in"
	wait $!
	[ $? = 0 ] && ok "create [$plat]" || not_ok "create [$plat]: $(cat "$WORK/$id.err")"
	[ "$(status_of "$id")" = created ] && ok "state after create is created [$plat]" ||
		not_ok "state after create [$plat]: $(status_of "$id")"
	pid=$(cat "$WORK/$id.pid" 2>/dev/null)
	if [ -n "$pid" ] && [ "$pid" = "$(pid_of "$id")" ] && kill -0 "$pid" 2>/dev/null; then
		ok "pid file names the live sandbox process [$plat]"
	else
		not_ok "pid file [$plat]: file '$pid', state '$(pid_of "$id")'"
	fi
	cv start "$id" && ok "start [$plat]" || not_ok "start [$plat]"
	[ "$(status_of "$id")" = running ] && ok "state after start is running [$plat]" ||
		not_ok "state after start [$plat]: $(status_of "$id")"
	cv start "$id" 2>/dev/null && not_ok "second start fails [$plat]" || ok "second start fails [$plat]"
	echo hello >&9
	exec 9>&-
	for _ in $(seq 100); do [ "$(status_of "$id")" = stopped ] && break; sleep 0.1; done
	[ "$(status_of "$id")" = stopped ] && ok "state after exit is stopped [$plat]" ||
		not_ok "state after exit [$plat]: $(status_of "$id")"
	grep -q "got hello" "$WORK/$id.out" && ok "stdio passed through [$plat]" ||
		not_ok "stdio [$plat]: '$(cat "$WORK/$id.out")'"
	cv list | grep -q "^$id " && ok "list shows it [$plat]" || not_ok "list [$plat]: $(cv list)"
	cv list --format json | python3 -c "import json,sys; sys.exit(0 if any(c['id']=='$id' for c in json.load(sys.stdin)) else 1)" &&
		ok "list --format json [$plat]" || not_ok "list --format json [$plat]"
	cv delete "$id" && ok "delete [$plat]" || not_ok "delete [$plat]"
	[ -e "$STATE_ROOT/$id" ] && not_ok "state dir removed [$plat]" || ok "state dir removed [$plat]"
	cv delete "$id" 2>/dev/null && not_ok "delete of a missing container fails [$plat]" ||
		ok "delete of a missing container fails [$plat]"
	rm -rf "$b" "$WORK/$id".*
}

kill_and_force() { # plat
	local plat=$1 id="k$$-$RANDOM" b
	b="$WORK/bundle-$id"
	make_bundle "$b" /bin/sh -c 'trap "echo got USR1" USR1; while :; do sleep 0.1; done'
	cv --platform="$plat" create --bundle "$b" --pid-file "$WORK/$id.pid" "$id" </dev/null >"$WORK/$id.out" 2>&1
	cv start "$id"
	sleep 0.5
	cv kill "$id" USR1 && cv kill "$id" SIGUSR1 && cv kill "$id" 10 && ok "kill by name, SIG name, number [$plat]" ||
		not_ok "kill [$plat]"
	cv kill "$id" NOSUCHSIG 2>/dev/null && not_ok "kill of an unknown signal fails [$plat]" ||
		ok "kill of an unknown signal fails [$plat]"
	sleep 1 # let the trap handlers print
	cv delete "$id" 2>/dev/null && not_ok "delete of a running container fails [$plat]" ||
		ok "delete of a running container fails [$plat]"
	pid=$(cat "$WORK/$id.pid")
	cv delete --force "$id" && ok "delete --force of a running container [$plat]" || not_ok "delete --force [$plat]"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && not_ok "sandbox gone after delete --force [$plat]" ||
		ok "sandbox gone after delete --force [$plat]"
	# sh runs a trap once per batch of pending signals: at least one line.
	grep -q 'got USR1' "$WORK/$id.out" && ok "the container's handler ran [$plat]" ||
		not_ok "handler [$plat]: $(cat "$WORK/$id.out")"
	rm -rf "$b" "$WORK/$id".*
}

exit_status() { # plat
	local plat=$1 id="e$$-$RANDOM"
	make_bundle "$WORK/bundle-$id" /bin/sh -c 'kill -SEGV $$'
	cv --platform="$plat" run --bundle "$WORK/bundle-$id" "$id" </dev/null >/dev/null 2>&1
	rc=$?
	# sh is pid 1: a signal it has no handler for is ignored, as for any init; it exits 0.
	[ "$rc" = 0 ] && ok "run: init ignores a signal without handler [$plat]" || not_ok "run status [$plat]: $rc"
	make_bundle "$WORK/bundle-$id" /bin/sh -c '/bin/sh -c "kill -KILL \$\$"; echo child status $?; exit 3'
	out=$(cv --platform="$plat" run --bundle "$WORK/bundle-$id" "$id" </dev/null 2>/dev/null)
	rc=$?
	[ "$rc" = 3 ] && [ "$out" = "child status 137" ] && ok "run: exit status and a child's death by signal [$plat]" ||
		not_ok "run [$plat]: rc=$rc out=$out"
	cv delete --force "$id" >/dev/null 2>&1
	rm -rf "$WORK/bundle-$id"
}

mapfile -t plats < <(platforms)
for p in "${plats[@]}"; do
	case $p in
	*:*) skip "lifecycle [${p%%:*}]: ${p#*:}" ;;
	*) lifecycle "$p"; kill_and_force "$p"; exit_status "$p" ;;
	esac
done
tap_end
