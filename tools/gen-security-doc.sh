#!/bin/sh
# Replaces the generated section of docs/security.md (between the markers) with gen-docs'.
set -eu
gen=$1 doc=$2
begin='<!-- BEGIN GENERATED ALLOWLIST -->'
end='<!-- END GENERATED ALLOWLIST -->'
tmp=$(mktemp)
"$gen" security >"$tmp.gen"
awk -v b="$begin" -v e="$end" -v g="$tmp.gen" '
	$0 == b { print; while ((getline l < g) > 0) print l; skip = 1; next }
	$0 == e { skip = 0 }
	!skip { print }' "$doc" >"$tmp"
mv "$tmp" "$doc"
rm -f "$tmp.gen"
