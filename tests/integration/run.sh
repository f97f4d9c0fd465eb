#!/bin/bash
# Integration tests: every guest program and command runs natively (chrooted, as pid 1) and in
# cvisor on every platform the host offers; stdout and exit status must match.
set -u
cd "$(dirname "$0")/../.."
: "${BUILD:=build}"
export BUILD
"$(dirname "$0")/build_rootfs.sh"
. tests/integration/lib.sh
fail=0
for t in tests/integration/t_*.sh; do
	echo "# $t"
	bash "$t" || fail=1
done
exit $fail
