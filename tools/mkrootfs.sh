#!/bin/sh
# mkrootfs.sh: builds a container rootfs directory out of host files.
#
# Usage: tools/mkrootfs.sh [-B] [-d DIR]... [-c SRC:DST]... ROOTFS [BINARY...]
#
#   BINARY      a host executable (a path, or a name looked up in PATH), copied to the same
#               path inside ROOTFS together with every library `ldd` names and the dynamic
#               loader. Static binaries are copied alone.
#   -B          install the host's busybox-static as /bin/busybox with a /bin symlink per
#               applet (sh, true, sleep, tar, ...) that is not already present
#   -d DIR      copy a host directory tree to the same path (e.g. /usr/lib/python3.11), and the
#               libraries of every ELF shared object in it
#   -c SRC:DST  copy a host file SRC to DST inside ROOTFS (e.g. a static test program)
#
# ROOTFS gets the directories an OCI runtime mounts over (dev proc sys tmp) and the /etc bits
# programs look up (passwd, group, hosts, hostname, nsswitch.conf, resolv.conf). Re-running on
# an existing ROOTFS only copies what is missing or older, so callers can run it every time.
# The layout is literal: /bin, /lib and /lib64 are real directories even on a merged-/usr host.
set -eu

die() { echo "mkrootfs: $*" >&2; exit 1; }

busybox=0
dirs=""
copies=""
while getopts "Bd:c:" opt; do
	case "$opt" in
	B) busybox=1 ;;
	d) dirs="$dirs $OPTARG" ;;
	c) copies="$copies $OPTARG" ;;
	*) die "usage: mkrootfs.sh [-B] [-d DIR]... [-c SRC:DST]... ROOTFS [BINARY...]" ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || die "usage: mkrootfs.sh [-B] [-d DIR]... [-c SRC:DST]... ROOTFS [BINARY...]"
root=$1
shift

# copy_file SRC DST: copies SRC (following symlinks) to ROOTFS/DST unless it is up to date.
copy_file() {
	mkdir -p "$root$(dirname "$2")"
	cp -L --preserve=mode,timestamps --update "$1" "$root$2"
}

is_elf() {
	[ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = "177ELF" ]
}

# copy_libs FILE: copies the libraries and loader `ldd FILE` names, at their host paths.
copy_libs() {
	is_elf "$1" || return 0
	ldd "$1" 2>/dev/null | while read -r a b c _; do
		case "$a" in
		/*) lib=$a ;;                         # the loader: "/lib64/ld-linux-x86-64.so.2 (0x..)"
		*) [ "$b" = "=>" ] && [ -n "$c" ] && [ "${c#/}" != "$c" ] && lib=$c || continue ;;
		esac
		copy_file "$lib" "$lib"
	done
}

mkdir -p "$root"
for d in bin dev etc proc sys tmp root; do mkdir -p "$root/$d"; done
chmod 1777 "$root/tmp"

for b in "$@"; do
	case "$b" in
	/*) path=$b ;;
	*) path=$(command -v "$b") || die "\`$b' not found in PATH" ;;
	esac
	[ -x "$path" ] || die "\`$path' is not an executable"
	copy_file "$path" "$path"
	copy_libs "$path"
done

for d in $dirs; do
	[ -d "$d" ] || die "\`$d' is not a directory"
	mkdir -p "$root$(dirname "$d")"
	cp -a --update "$d" "$root$(dirname "$d")/"
	find "$d" -type f -name '*.so*' | while read -r so; do copy_libs "$so"; done
done

for c in $copies; do
	src=${c%%:*}
	dst=${c#*:}
	[ -f "$src" ] || die "\`$src' is not a file"
	copy_file "$src" "$dst"
done

if [ "$busybox" = 1 ]; then
	bb=$(command -v busybox) || die "busybox not found (install busybox-static)"
	is_elf "$bb" && ! ldd "$bb" >/dev/null 2>&1 || die "\`$bb' is not static (install busybox-static)"
	copy_file "$bb" /bin/busybox
	for app in $("$bb" --list); do
		[ -e "$root/bin/$app" ] || [ -L "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
	done
fi

etc="$root/etc"
[ -f "$etc/passwd" ] || printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$etc/passwd"
[ -f "$etc/group" ] || printf 'root:x:0:\nnogroup:x:65534:\n' >"$etc/group"
[ -f "$etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$etc/hosts"
[ -f "$etc/hostname" ] || echo sandbox >"$etc/hostname"
[ -f "$etc/nsswitch.conf" ] || printf 'passwd: files\ngroup: files\nhosts: files\n' >"$etc/nsswitch.conf"
[ -f "$etc/resolv.conf" ] || : >"$etc/resolv.conf"
exit 0
