# bash: loops, functions, arrays, subshells, command substitution, pipelines, traps, here-docs.
set -u
fib() { local n=$1; if (( n < 2 )); then echo "$n"; else echo $(( $(fib $((n-1))) + $(fib $((n-2))) )); fi; }
echo "fib 12 = $(fib 12)"
declare -A color=([apple]=red [banana]=yellow)
for k in $(printf '%s\n' "${!color[@]}" | sort); do echo "$k is ${color[$k]}"; done
total=0; for i in {1..100}; do total=$((total + i)); done; echo "sum 1..100 = $total"
( cd /tmp && echo "subshell in $(pwd)" ); echo "parent still in $(pwd)"
trap 'echo "trap: caught USR1"' USR1
kill -USR1 $$
trap 'echo "trap: EXIT runs last"' EXIT
words=$(cat <<'EOT' | tr ' ' '\n' | sort | uniq -c | sort -rn | head -3
the cat and the dog and the bird
EOT
)
echo "$words"
seq 1 2000 | grep -c 7 | xargs echo "numbers with a 7:"
x=$( { echo out; echo err >&2; } 2>&1 | wc -l ); echo "lines through a redirect: $x"
if [[ "abc123" =~ ^([a-z]+)([0-9]+)$ ]]; then echo "regex: ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"; fi
wait_child() { sleep 0.1 & local p=$!; wait $p; echo "child $p? exit $?"; } ; wait_child | sed 's/child [0-9]*/child N/'
exit 0
