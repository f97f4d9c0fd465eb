#!/bin/bash
# Language runtimes in the container: Node.js (V8's JIT, libuv, worker threads) and Java
# (HotSpot's JIT and GC threads, the JVM's exit with blocked threads), from the host's
# installs, each in a rootfs of its own.  Natively (chrooted), under runc and in cvisor on
# every platform; stdout and status must match.  A runtime the host lacks is skipped, saying so.
. "$(dirname "$0")/lib.sh"

MOUNTS='[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
 {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","mode=1777"]}]'
SETUP='mount -t proc proc @R@/proc && mount -t tmpfs -o mode=1777 tmpfs @R@/tmp'

run_case() { # name args...: native first (the reference), then runc and every platform
	local name=$1 nrc rc p
	shift
	nrc=$(NATIVE_SETUP="$SETUP" run_native "$WORK/$name.native" "$@")
	if ! [ -s "$WORK/$name.native" ]; then
		not_ok "$name [native]: exit $nrc with no output (the reference run itself fails)"
		sed 's/^/#   /' "$WORK/$name.native.err" | head -10
		return
	fi
	if command -v runc >/dev/null; then
		rc=$(BUNDLE_MOUNTS="$MOUNTS" run_runc "$WORK/$name.runc" "$@")
		same_output "$name" runc "$nrc" "$rc"
	else
		skip "$name [runc]: runc is not installed"
	fi
	for p in "${plats[@]}"; do
		case $p in
		*:*) skip "$name [${p%%:*}]: ${p#*:}"; continue ;;
		esac
		rc=$(BUNDLE_MOUNTS="$MOUNTS" run_cvisor "$p" "$WORK/$name.$p" "$@")
		same_output "$name" "$p" "$nrc" "$rc"
	done
}

mapfile -t plats < <(platforms)

# Node.js
if node=$(PATH=/usr/local/bin:/usr/bin:/bin type -P node); then
	ROOTFS="$WORK/rootfs-node"
	[ -x "$ROOTFS$node" ] && [ "$ROOTFS$node" -nt "$node" ] ||
		tools/mkrootfs.sh -B "$ROOTFS" "$node" >/dev/null ||
		{ not_ok "building the node rootfs"; tap_end; exit 1; }
	cp tests/integration/runtimes/node_suite.js "$ROOTFS/"
	run_case node "$node" /node_suite.js
else
	skip "node: not installed on this host"
fi

# Java (the JDK compiles the program on the host; the runtime's whole tree goes in).
if javac=$(PATH=/usr/bin:/bin type -P javac) && java=$(PATH=/usr/bin:/bin type -P java); then
	java=$(readlink -f "$java")
	home=${java%/bin/java}
	ROOTFS="$WORK/rootfs-java"
	[ -x "$ROOTFS$java" ] ||
		tools/mkrootfs.sh -B -d "$home" "$ROOTFS" "$java" >/dev/null ||
		{ not_ok "building the java rootfs"; tap_end; exit 1; }
	mkdir -p "$ROOTFS/app"
	if "$javac" -d "$ROOTFS/app" tests/integration/runtimes/JavaSuite.java; then
		run_case java "$java" -Xmx256m -cp /app JavaSuite
	else
		not_ok "java: javac failed on JavaSuite.java"
	fi
else
	skip "java: no JDK (java and javac) on this host"
fi
tap_end
