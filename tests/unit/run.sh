#!/bin/sh
# Runs cmocka unit-test binaries; fails if any fails.
fail=0
for t in "$@"; do
	echo "# unit: $(basename "$t")"
	"$t" || fail=1
done
[ $fail = 0 ] && echo "# unit tests: all passed" || echo "# unit tests: FAILED"
exit $fail
