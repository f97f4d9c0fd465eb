# Shared helpers of the end-to-end tests (sourced): TAP output, a private containerd and
# dockerd started by hand (their own sockets, state and data directories, so nothing on the
# host is touched or relied upon), stopped by pid on exit, and a busybox image built from the
# host's busybox-static.  Exit 77 = skipped, with the reason printed.
set -u
: "${BUILD:=build}"
BUILD=$(cd "$BUILD" && pwd)
CVISOR="$BUILD/cvisor"
# Short: dockerd and containerd put unix sockets under it (108 bytes at most).
E2E_DIR=${E2E_DIR:-/tmp/cve2e}
CTRD_SOCK="$E2E_DIR/containerd.sock"
DOCKER_SOCK="$E2E_DIR/docker.sock"
DOCKER="/usr/bin/docker -H unix://$DOCKER_SOCK"
CTR="ctr --address $CTRD_SOCK"
E2E_T0=$(date +%s)

tap_n=0
tap_fail=0
tap_skip=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_fail=$((tap_fail + 1)); echo "not ok $tap_n - $*"; }
skip() { tap_n=$((tap_n + 1)); tap_skip=$((tap_skip + 1)); echo "ok $tap_n - # SKIP $*"; }
check() { # DESCRIPTION CMD...: ok when CMD succeeds
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
tap_end() {
	echo "1..$tap_n"
	echo "# $tap_fail failed, $tap_skip skipped, $(($(date +%s) - E2E_T0)) s"
	[ "$tap_fail" = 0 ]
}
skip_all() { echo "1..0 # SKIP $*"; echo "# skipped: $*"; exit 77; }

e2e_log() { echo "# $*"; }

# Root, the packages (installed when missing: tools/install-deps.sh e2e) and the binary.
e2e_require() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (daemons, cgroups, namespaces)"
	[ -x "$CVISOR" ] || skip_all "no $CVISOR (build first)"
	if ! "$(dirname "${BASH_SOURCE[0]}")/../../tools/install-deps.sh" e2e >"$E2E_DIR.deps.log" 2>&1; then
		skip_all "docker.io/containerd missing and not installable: $(tail -1 "$E2E_DIR.deps.log")"
	fi
	[ -x /bin/busybox ] || skip_all "no /bin/busybox (busybox-static) to build the test image"
	mkdir -p "$E2E_DIR"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

wait_for() { # SECONDS CMD...
	local t=$1
	shift
	for _ in $(seq 1 $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

# start_daemon NAME LOG CMD...: in its own session, every inherited fd above 2 closed (they
# would leak into the shims and the runtime), pid in $E2E_DIR/NAME.pid.
start_daemon() {
	local name=$1 logf=$2 pid
	shift 2
	(
		for f in /proc/$BASHPID/fd/*; do
			fd=${f##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid "$@"
	) >>"$logf" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$E2E_DIR/$name.pid"
	E2E_PIDS="${E2E_PIDS:-} $pid"
}

# Stops every daemon we started, newest first, by pid: TERM, then KILL after a while.
stop_daemons() {
	local pids="" p
	for p in ${E2E_PIDS:-}; do pids="$p $pids"; done
	for p in $pids; do
		alive "$p" || continue
		kill -TERM "$p"
		wait_for 20 sh -c "! kill -0 $p" || kill -KILL "$p" 2>/dev/null
	done
	E2E_PIDS=""
}

e2e_cleanup() {
	local rc=$?
	[ -n "${E2E_CLEANUP_HOOK:-}" ] && $E2E_CLEANUP_HOOK
	stop_daemons
	exit $rc
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# A daemon of ours left by an interrupted run (its pid file names a live process running the
# same program): stopped by pid before a new one starts on the same directories.
stop_stale() { # NAME EXE
	local pid
	pid=$(cat "$E2E_DIR/$1.pid" 2>/dev/null)
	alive "$pid" && [ "$(readlink "/proc/$pid/exe")" = "$2" ] || return 0
	e2e_log "stopping $1 (pid $pid) left by an earlier run"
	kill -TERM "$pid"
	wait_for 20 sh -c "! kill -0 $pid" || kill -KILL "$pid"
}

start_containerd() {
	stop_stale dockerd /usr/sbin/dockerd
	stop_stale containerd /usr/bin/containerd
	rm -f "$CTRD_SOCK"
	cat >"$E2E_DIR/containerd.toml" <<EOF
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
root = "$E2E_DIR/containerd-root"
state = "$E2E_DIR/containerd-state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
EOF
	start_daemon containerd "$E2E_DIR/containerd.log" /usr/bin/containerd \
		--config "$E2E_DIR/containerd.toml"
	wait_for 30 $CTR version || skip_all "containerd did not start: $(tail -3 "$E2E_DIR/containerd.log")"
}

# dockerd with our daemon.json, where `cvisor install` registers the runtimes.  The default
# bridge network (iptables NAT) is what Docker users get: it must work.
start_dockerd() {
	rm -f "$DOCKER_SOCK"
	start_daemon dockerd "$E2E_DIR/dockerd.log" /usr/sbin/dockerd \
		--config-file "$E2E_DIR/daemon.json" --containerd "$CTRD_SOCK" \
		-H "unix://$DOCKER_SOCK" --data-root "$E2E_DIR/docker-root" \
		--exec-root "$E2E_DIR/docker-exec" --pidfile "$E2E_DIR/docker-daemon.pid" "$@"
	wait_for 40 $DOCKER info || skip_all "dockerd did not start: $(tail -3 "$E2E_DIR/dockerd.log")"
}

# A busybox root filesystem (the host's static busybox), as a directory and a tarball.
build_busybox_rootfs() {
	local r="$E2E_DIR/rootfs"
	[ -e "$E2E_DIR/busybox.tar" ] && [ "$E2E_DIR/busybox.tar" -nt /bin/busybox ] && return 0
	rm -rf "$r"
	mkdir -p "$r"/bin "$r"/etc "$r"/proc "$r"/sys "$r"/dev "$r"/tmp "$r"/root "$r"/var
	cp /bin/busybox "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
	echo 'root:x:0:' >"$r/etc/group"
	chmod 1777 "$r/tmp"
	tar -C "$r" -cf "$E2E_DIR/busybox.tar" .
}

# Host processes whose command line mentions $1 (this shell's helpers excluded).
procs_with() {
	local p c
	for p in /proc/[0-9]*; do
		{ c=$(tr '\0' ' ' <"$p/cmdline"); } 2>/dev/null || continue
		case $c in *"$1"*) echo "${p#/proc/}: $c" ;; esac
	done
}

# cvisor's log lines for a container (--debug-log directory), for failure messages.
cvisor_logs() { tail -n 20 "$E2E_DIR"/cvisor-logs/* 2>/dev/null | tail -n 40; }
