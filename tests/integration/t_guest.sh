#!/bin/bash
# Static guest programs (tests/integration/guest/*.c): native vs. cvisor, per platform.
# A program may declare its arguments on a line "// ARGS: ..." and mark itself "// PLATFORMS: ...";
# CV_TEST_GUEST=pattern runs only the matching programs.
. "$(dirname "$0")/lib.sh"

compare() { # name plat args...
	name=$1 plat=$2
	shift 2
	nrc=$(run_native "$WORK/$name.native" "$@")
	crc=$(run_cvisor "$plat" "$WORK/$name.$plat" "$@")
	same_output "$name" "$plat" "$nrc" "$crc"
}

mapfile -t plats < <(platforms)
for src in tests/integration/guest/*.c; do
	name=$(basename "$src" .c)
	case $name in ${CV_TEST_GUEST:-*}) ;; *) continue ;; esac # e.g. CV_TEST_GUEST=cputime
	args=$(sed -n 's|^// ARGS: ||p' "$src" | head -1)
	for p in "${plats[@]}"; do
		case $p in
		*:*) skip "$name [${p%%:*}]: ${p#*:}" ;;
		*) compare "$name" "$p" "/bin/$name" $args ;;
		esac
	done
done
tap_end
