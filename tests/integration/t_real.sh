#!/bin/bash
# Real programs (issues 3 and 4): bash, python3, perl, coreutils, grep/sed/awk/find/xargs,
# tar/gzip/xz, sqlite3 and procps from the host, with the libraries ldd names, in a rootfs of
# their own.  Each script runs natively (chrooted, as pid 1, with /proc, /tmp and /dev
# mounted like the sandbox's) and in cvisor on every platform; stdout and status must match.
. "$(dirname "$0")/lib.sh"

REAL="$WORK/rootfs-real"
bins="bash sh python3 perl sqlite3 ls cat sort uniq head tail wc tr cut seq sleep env echo printf
      grep sed awk find xargs tar gzip xz md5sum stat cp mv rm ln mkdir readlink pwd date id
      diff cmp ps kill true false top free"
missing="" paths=""
for b in $bins; do
	p=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin type -P "$b") &&
		paths="$paths $p" || missing="$missing $b"
done
if [ -n "$missing" ]; then
	skip "real programs: not installed on this host:$missing"
	tap_end
	exit $?
fi
stale=""
for p in $paths; do [ -x "$REAL$p" ] || stale=1; done
[ -d "$REAL/lib/terminfo" ] || stale=1 # for top
if [ -n "$stale" ]; then
	tools/mkrootfs.sh -d /usr/lib/python3.11 -d /usr/lib/x86_64-linux-gnu/perl-base -d /lib/terminfo \
		-d /usr/lib/x86_64-linux-gnu/perl -d /usr/share/perl "$REAL" $paths >/dev/null ||
		{ not_ok "building the real-programs rootfs"; tap_end; exit 1; }
fi
ln -sf /usr/bin/sh "$REAL/bin/sh"
ln -sf /usr/bin/bash "$REAL/bin/bash"
mkdir -p "$REAL/real" && cp tests/integration/real/* "$REAL/real/"

ROOTFS=$REAL
MOUNTS='[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
 {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","mode=1777"]},
 {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
 {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=67108864"]}]'
SETUP='mount -t proc proc @R@/proc && mount -t tmpfs -o mode=1777 tmpfs @R@/tmp &&
 mount -t tmpfs -o mode=755 tmpfs @R@/dev && for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
 IFS=: read n ma mi <<EOD
$d
EOD
 mknod -m 666 @R@/dev/$n c $ma $mi; done && ln -s /proc/self/fd @R@/dev/fd &&
 mkdir -m 1777 @R@/dev/shm'

compare_plat() { # plat name args...
	local plat=$1 name=$2
	shift 2
	case $name in ${CV_TEST_REAL:-*}) ;; *) return ;; esac # e.g. CV_TEST_REAL=python_inotify
	nrc=$(NATIVE_SETUP="$SETUP" run_native "$WORK/$name.native" "$@")
	crc=$(BUNDLE_MOUNTS="$MOUNTS" run_cvisor "$plat" "$WORK/$name.$plat" "$@")
	same_output "$name" "$plat" "$nrc" "$crc"
}

# runc agrees with the native reference (it is what the issue names as the reference).
compare_runc() { # name args...
	local name=$1
	shift
	case $name in ${CV_TEST_REAL:-*}) ;; *) return ;; esac
	nrc=$(NATIVE_SETUP="$SETUP" run_native "$WORK/$name.native" "$@")
	rrc=$(BUNDLE_MOUNTS="$MOUNTS" run_runc "$WORK/$name.runc" "$@")
	same_output "$name" runc "$nrc" "$rrc"
}

cases() { # runner...: every real-program case
	"$@" bash_script /usr/bin/bash /real/bash_script.sh
	"$@" coreutils /usr/bin/bash /real/coreutils.sh
	"$@" sqlite /usr/bin/bash /real/sqlite.sh
	"$@" python_suite /usr/bin/python3 /real/python_suite.py
	"$@" python_sockets /usr/bin/python3 /real/python_sockets.py
	"$@" python_inotify /usr/bin/python3 /real/python_inotify.py
	"$@" python_splice /usr/bin/python3 /real/python_splice.py
	"$@" tail_follow /usr/bin/bash /real/tail_follow.sh
	"$@" perl /usr/bin/bash /real/perl_oneliners.sh
	# ps writes to a file, not a pipe: a pipeline's other side may not have exec'd yet.
	"$@" ps /usr/bin/bash -c 'sleep 1 & sleep 0.2; ps -eo comm >/tmp/ps.out; sort /tmp/ps.out; wait'
}

# procps top and free read /proc/meminfo, /proc/stat, /proc/<pid>/stat...: the figures differ
# from the host's, so only their shape is checked, in the sandbox.
procps_shape() { # plat
	local out="$WORK/procps.$1"
	rc=$(BUNDLE_MOUNTS="$MOUNTS" run_cvisor "$1" "$out" /usr/bin/bash -c \
		'free; echo; top -bn1 | head -8; echo; top -bn1 -p 1 | tail -2')
	if [ "$rc" = 0 ] && grep -q '^Mem: *[1-9]' "$out" && grep -q '^Swap:' "$out" &&
		grep -q '^top - ' "$out" && grep -q '^Tasks: *[1-9]' "$out" && grep -q '^%Cpu' "$out" &&
		grep -q 'MiB Mem' "$out" && grep -qE '^ *1 root .* (bash|top)$' "$out" &&
		! grep -qi 'error\|cannot' "$out" "$out.err"; then
		ok "procps top -bn1 and free [$1]"
	else
		not_ok "procps top -bn1 and free [$1]: exit $rc"
		sed 's/^/#   /' "$out" "$out.err" | head -20
	fi
}

if command -v runc >/dev/null; then
	cases compare_runc
else
	skip "real programs [runc]: runc is not installed"
fi
mapfile -t plats < <(platforms)
for p in "${plats[@]}"; do
	case $p in
	*:*) skip "real programs [${p%%:*}]: ${p#*:}"; continue ;;
	esac
	cases compare_plat "$p"
	case procps in ${CV_TEST_REAL:-*}) procps_shape "$p" ;; esac
done
tap_end
