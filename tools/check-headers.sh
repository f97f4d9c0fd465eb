#!/bin/bash
# Every header compiles on its own (includes what it uses) and has an include guard:
# `make check-headers`.  Run from the top of the tree; BUILD (default build) holds the
# generated syscall prototypes.
set -u
build=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -f "$build/gen/syscalls_list.h" ] || make --no-print-directory "$build/gen/syscalls_list.h" >/dev/null
flags="-std=gnu11 -D_GNU_SOURCE -Iinclude -I$build/gen -Wall -Wextra -Wno-unused-parameter -Werror -fsyntax-only"
flags="$flags $(pkg-config --cflags libseccomp libcap jansson 2>/dev/null)"
fails=0 n=0
for h in $(git ls-files 'include/*.h' 'src/*.h' 'platform/*.h'); do
	n=$((n + 1))
	printf '#include "%s"\n#include "%s"\n' "$PWD/$h" "$PWD/$h" >"$tmp/t.c"
	if ! gcc $flags -I"$(dirname "$h")" "$tmp/t.c" 2>"$tmp/err"; then
		echo "not ok - $h does not compile on its own (or twice):"
		sed 's/^/#   /' "$tmp/err" | head -5
		fails=$((fails + 1))
	fi
done
echo "# headers: $n checked, $fails failed"
[ "$fails" = 0 ]
