#!/bin/sh
# tools/bench/run.sh: cvisor's benchmarks against native, runc and runsc, in one run.
#
# Usage: [BUILD=build] [QUICK=1] tools/bench/run.sh [bench.py options, e.g. --only native,runc]
#   (normally through `make bench [QUICK=1]`, which installs the packages and builds cvisor)
#
# 1. compiles the static micro programs (tools/bench/micro/*.c) into $BUILD/bench/micro/
# 2. builds the rootfs $BUILD/bench/rootfs with tools/mkrootfs.sh: busybox, the micro
#    programs, python3 + its stdlib, sqlite3, and the data of tools/bench/mkdata.py
# 3. runs tools/bench/bench.py: every subject, every benchmark, with timeouts; writes
#    $BUILD/bench/results.json, docs/performance.md and docs/performance.png
#
# CVISOR_BUILD_LOG/CVISOR_BUILD_RC (set by `make bench`) say whether build/cvisor is current;
# when its build failed, the cvisor subjects are skipped with the log's first error.
set -eu

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
QUICK=${QUICK:-}
PY="/usr/bin/python3 -B"   # Debian's python3 (stdlib only), whatever PATH says; no __pycache__
work=$BUILD/bench
rootfs=$work/rootfs

[ "$(id -u)" = 0 ] || { echo "bench: must run as root (containers, cgroups)" >&2; exit 1; }
[ -x /usr/bin/python3 ] || { echo "bench: $PY missing (tools/install-deps.sh bench)" >&2; exit 1; }
mkdir -p "$work/micro"

echo "bench: compiling micro benchmarks"
bins=""
for src in tools/bench/micro/*.c; do
	name=$(basename "$src" .c)
	out=$work/micro/$name
	if [ ! -x "$out" ] || [ "$src" -nt "$out" ] || [ tools/bench/micro/bench.h -nt "$out" ]; then
		gcc -static -O2 -pthread -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
			-o "$out" "$src"
	fi
	bins="$bins -c $out:/bench/$name"
done

echo "bench: building $rootfs"
py_stdlib=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
py_etc=/etc/$(basename "$py_stdlib")
extra=""
[ -d "$py_etc" ] && extra="-d $py_etc"
# shellcheck disable=SC2086 # word splitting of $bins/$extra is intended
tools/mkrootfs.sh -B $bins -d "$py_stdlib" $extra "$rootfs" /usr/bin/python3 /usr/bin/sqlite3
$PY tools/bench/mkdata.py "$rootfs" 50

cvisor_unbuilt=""
if [ "${CVISOR_BUILD_RC:-0}" != 0 ]; then
	err=$(grep -m1 -E 'error|undefined reference|\*\*\*' "${CVISOR_BUILD_LOG:-/dev/null}" \
		2>/dev/null | sed "s|$(pwd)/||" | cut -c1-160 || true)
	cvisor_unbuilt="make all failed (${err:-see ${CVISOR_BUILD_LOG:-the build log}})"
fi
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "none (no commits)")
[ -n "$(git status --porcelain -- src platform include 2>/dev/null)" ] && rev="$rev+dirty"

quick=""
[ -n "$QUICK" ] && [ "$QUICK" != 0 ] && quick=--quick
start=$(date +%s)
# bench.py cleans up its containers itself; this catches a harness killed mid-run.
# On ^C or TERM, bench.py gets TERM and deletes its containers; cleanup.py catches the rest.
cleanup() { $PY tools/bench/cleanup.py "$work" >/dev/null 2>&1 || true; }
# How this run was started, for the report's header.
if [ -n "${MAKELEVEL:-}" ]; then how="make bench"; else how=tools/bench/run.sh; fi
export BENCH_INVOCATION="$how${quick:+ QUICK=1}${*:+ $*}"
$PY tools/bench/bench.py --build "$BUILD" $quick --git-rev "$rev" \
	--cvisor-unbuilt "$cvisor_unbuilt" "$@" &
bench=$!
trap 'kill -TERM $bench 2>/dev/null; wait $bench; cleanup; exit 130' INT TERM
rc=0
wait $bench || rc=$?
trap - INT TERM
cleanup
[ $rc = 0 ] || { echo "bench: bench.py failed (exit $rc)" >&2; exit $rc; }
echo "bench: done in $(($(date +%s) - start)) s (+ setup)"
