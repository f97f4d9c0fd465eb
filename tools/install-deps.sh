#!/bin/sh
# Installs the Debian packages cvisor needs to build, test and demo.
# Usage: tools/install-deps.sh [build|test|demo|bench|e2e]...  (as root; no-op when all are present)
set -eu

pkgs_build="gcc make pkg-config libseccomp-dev libcap-dev libjansson-dev"
pkgs_test="libcmocka-dev busybox-static python3 perl sqlite3 procps xz-utils iproute2 runc"
pkgs_demo="busybox-static"
pkgs_bench="gnuplot-nox runc runsc python3 sqlite3 busybox-static libc6-dev"
pkgs_e2e="docker.io containerd runc iptables busybox-static python3"

want=""
[ $# -eq 0 ] && set -- build
for what in "$@"; do
	case "$what" in
	build) want="$want $pkgs_build" ;;
	test) want="$want $pkgs_build $pkgs_test" ;;
	demo) want="$want $pkgs_build $pkgs_demo" ;;
	bench) want="$want $pkgs_build $pkgs_test $pkgs_bench" ;;
	e2e) want="$want $pkgs_e2e" ;;
	*) echo "install-deps: unknown set \`$what'" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
	{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $missing; }
