#!/bin/bash
# /proc, /dev, /dev/pts and /sys as Docker's config.json mounts them: guest programs that
# read /proc fields, use the devices and drive a pty, natively (the same mounts made in the
# run's own mount namespace) and in cvisor; stdout and exit status must match.
. "$(dirname "$0")/lib.sh"

compare() { # NAME PLAT ARGS...
	name=$1 plat=$2
	shift 2
	nrc=$(run_native "$WORK/$name.native" "$@")
	crc=$(run_cvisor "$plat" "$WORK/$name.$plat" "$@")
	same_output "$name" "$plat" "$nrc" "$crc"
}

# Docker's default mounts (reference/docker/bundles-seen/docker-config.json), minus mqueue.
export BUNDLE_MOUNTS='[
 {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
 {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
 {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
 {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
  "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
 {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}]'
# The same natively, with the device nodes and links runc creates.
export NATIVE_SETUP='mount -t proc -o nosuid,noexec,nodev proc @R@/proc &&
 mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs @R@/dev &&
 mkdir @R@/dev/pts @R@/dev/shm &&
 mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5 devpts @R@/dev/pts &&
 mount -t tmpfs -o nosuid,noexec,nodev,mode=1777,size=65536k shm @R@/dev/shm &&
 mknod -m 666 @R@/dev/null c 1 3 && mknod -m 666 @R@/dev/zero c 1 5 &&
 mknod -m 666 @R@/dev/full c 1 7 && mknod -m 666 @R@/dev/random c 1 8 &&
 mknod -m 666 @R@/dev/urandom c 1 9 && mknod -m 666 @R@/dev/tty c 5 0 &&
 ln -s pts/ptmx @R@/dev/ptmx && ln -s /proc/self/fd @R@/dev/fd &&
 ln -s /proc/self/fd/0 @R@/dev/stdin && ln -s /proc/self/fd/1 @R@/dev/stdout &&
 ln -s /proc/self/fd/2 @R@/dev/stderr &&
 mount -t sysfs -o ro,nosuid,noexec,nodev sysfs @R@/sys'
# Native runs are root with every capability: so are these containers.
export BUNDLE_CAPS=all

mapfile -t plats < <(platforms)
for p in "${plats[@]}"; do
	case $p in
	*:*)
		skip "procdev [${p%%:*}]: ${p#*:}"
		continue
		;;
	esac
	compare proc_self "$p" /bin/proc_self mounted alpha "beta gamma"
	compare proc_global "$p" /bin/proc_global mounted
	compare devices "$p" /bin/devices mounted
	compare pty "$p" /bin/pty mounted
	# The shell's own state is racy (it may not be in wait4 yet when ps reads it): the states
	# shown are the sleeper's; the listing goes to a file (no pipeline members to race).
	compare busybox_ps "$p" /bin/sh -c 'sleep 5 & sleep 0.3; ps -o args >/tmp/ps1; ps -o stat,args >/tmp/ps2; cat /tmp/ps1; grep "sleep 5$" /tmp/ps2; kill $!'

	# The vDSO serves the clocks from the program's first instruction: no clock syscall in the
	# sentry's trace but the guest's own raw ones (one clock_gettime per clock, gettimeofday,
	# time), while its output matches the native run's.
	log="$WORK/vdso_clock.$p.strace"
	rm -f "$log"
	CVISOR_FLAGS="--strace --debug-log $log" compare vdso_clock "$p" /bin/vdso_clock
	n=$(grep -cE '\] (clock_gettime|gettimeofday|time)\(' "$log" 2>/dev/null)
	if grep -q 'exit_group' "$log" 2>/dev/null && [ "$n" = 5 ]; then
		ok "vdso_clock [$p]: only the 5 raw clock syscalls trapped"
	else
		not_ok "vdso_clock [$p]: ${n:-no} clock syscalls in the trace, 5 expected (raw ones only)"
		grep -E '\] (clock_gettime|gettimeofday|time)\(' "$log" 2>/dev/null | head -5 | sed 's/^/#   /'
	fi
done
tap_end
