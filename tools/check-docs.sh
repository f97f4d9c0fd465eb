#!/bin/sh
# Fails when the generated docs no longer match the code (run `make docs` to update them).
set -eu
gen=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" compat >"$tmp/compatibility.md"
cp docs/security.md "$tmp/security.md"
tools/gen-security-doc.sh "$gen" "$tmp/security.md"
fail=0
for f in compatibility.md security.md; do
	if ! cmp -s "$tmp/$f" "docs/$f"; then
		echo "not ok - docs/$f is out of date with the code: run \`make docs\`"
		diff -u "docs/$f" "$tmp/$f" | head -20 | sed 's/^/#   /'
		fail=1
	else
		echo "ok - docs/$f matches the code"
	fi
done
exit $fail
