# perl one-liners.
set -eu
perl -e 'print "perl says ", join(",", map { $_ * $_ } 1..5), "\n"'
seq 1 10 | perl -ne 'chomp; $s += $_; END { print "sum=$s\n" }'
echo "The quick brown fox" | perl -pe 's/(\w+)/\u\L$1/g'
perl -MPOSIX -e 'printf "floor=%d ceil=%d\n", floor(2.7), ceil(2.1)'
perl -e 'my %h = (b => 2, a => 1); print join(" ", map {"$_=$h{$_}"} sort keys %h), "\n"'
perl -e '$p = fork; if ($p == 0) { exit 7 } waitpid($p, 0); print "child exit ", $? >> 8, "\n"'
