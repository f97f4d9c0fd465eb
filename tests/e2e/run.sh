#!/bin/bash
# End-to-end flows against real Docker and containerd daemons (issue 8): t_docker.sh,
# t_containerd.sh, and t_runtime.sh (the runtime interface driven directly).  Each script
# starts what it needs (private daemons, stopped by pid at the end) and skips (exit 77) with
# the reason printed when they cannot run here.
set -u
cd "$(dirname "$0")/../.."
: "${BUILD:=build}"
export BUILD
fail=0
ran=0
for t in tests/e2e/t_*.sh; do
	[ -e "$t" ] || continue
	ran=1
	echo "# $t"
	t0=$(date +%s)
	bash "$t"
	rc=$?
	echo "# $t: $(($(date +%s) - t0)) s"
	[ $rc = 77 ] && echo "# $t: skipped" && continue
	[ $rc = 0 ] || fail=1
done
[ $ran = 1 ] || echo "# e2e: no tests/e2e/t_*.sh: nothing to run"
exit $fail
