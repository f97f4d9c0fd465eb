#!/bin/sh
# Builds the integration-test rootfs: static guest programs, busybox, a few fixture files.
set -eu
BUILD=${BUILD:-build}
R="$BUILD/tests/work/rootfs"
rm -rf "$R"
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/data" "$R/root" "$R/proc" "$R/dev" "$R/sys"
cp "$BUILD"/tests/guest/* "$R/bin/" 2>/dev/null || true
cp /bin/busybox "$R/bin/busybox"
for a in sh echo cat ls wc head tail sort uniq grep sed awk tr cut seq sleep true false env \
	 mkdir rm cp mv ln touch stat date id printf test expr find xargs tar gzip basename dirname \
	 yes od md5sum sha256sum dd kill ps hostname uname; do
	ln -sf busybox "$R/bin/$a"
done
chmod 1777 "$R/tmp"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
printf 'line one\nline two\nline three\n' >"$R/data/lines.txt"
head -c 1048576 /dev/urandom >"$R/data/random.bin"
ln -s lines.txt "$R/data/link-to-lines"
ln -s /data/lines.txt "$R/data/abs-link"
