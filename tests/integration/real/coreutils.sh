# coreutils, grep, sed, awk, find, xargs, tar, gzip and xz over a directory tree.
set -eu
d=/tmp/tree; rm -rf $d; mkdir -p $d
for i in $(seq 1 40); do mkdir -p $d/dir$((i % 5))/sub$((i % 3)); seq $i $((i * 50)) >$d/dir$((i % 5))/sub$((i % 3))/f$i.txt; done
echo "files: $(find $d -type f | wc -l) dirs: $(find $d -type d | wc -l)"
echo "bytes: $(find $d -type f -exec cat {} + | wc -c)"
echo "grep: $(grep -rl '^1234$' $d | sort | head -3 | sed "s|$d/||" | tr '\n' ' ')"
echo "sed: $(sed -n '3p;5p' $d/dir1/sub1/f1.txt 2>/dev/null | tr '\n' ' ')x"
echo "awk: $(find $d -name '*.txt' | xargs cat | awk '{s += $1} END {print s, NR}')"
echo "sort -n | tail: $(find $d -name '*.txt' | xargs cat | sort -n | tail -1)"
cd /tmp && tar cf tree.tar tree && gzip -9 -k tree.tar && xz -k tree.tar
echo "tar entries: $(tar tf tree.tar | wc -l)"
echo "gzip roundtrip: $(gzip -dc tree.tar.gz | cmp - tree.tar && echo same)"
echo "xz roundtrip: $(xz -dc tree.tar.xz | cmp - tree.tar && echo same)"
mkdir -p /tmp/untar && tar xzf tree.tar.gz -C /tmp/untar && diff -r /tmp/tree /tmp/untar/tree && echo "untar: identical"
echo "md5: $(find $d -type f | sort | xargs md5sum | md5sum | cut -c1-8)"
stat -c '%s %F' $d/dir0/sub0/f15.txt
cp -r $d /tmp/copy && mv /tmp/copy /tmp/moved && rm -rf /tmp/moved && echo "cp mv rm: ok"
ln -s $d/dir0 /tmp/link && ls /tmp/link | sort | tr '\n' ' ' && echo && readlink /tmp/link
rm -rf $d /tmp/tree.tar* /tmp/untar /tmp/link
