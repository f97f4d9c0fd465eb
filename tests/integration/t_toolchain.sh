#!/bin/bash
# A C toolchain in the container (issue 3's "real programs"): make -j2 drives gcc, cc1, as,
# collect2 and ld over a small threaded program (tests/integration/toolchain), checks what is
# up to date, rebuilds after a header changes and runs the result.  The host's gcc, binutils,
# make and libc headers, copied into a rootfs of their own; natively (chrooted), under runc
# and in cvisor on every platform; stdout and status must match.
. "$(dirname "$0")/lib.sh"

ROOTFS="$WORK/rootfs-toolchain"
gccdir=$(gcc -print-file-name=plugin) && gccdir=${gccdir%/plugin}
missing=""
for b in gcc make as ld "$gccdir/cc1" "$gccdir/collect2" "$gccdir/lto-wrapper"; do
	PATH=/usr/bin:/bin type -P "$b" >/dev/null || missing="$missing $b"
done
libdir=/usr/lib/x86_64-linux-gnu
for f in "$libdir/Scrt1.o" "$libdir/crti.o" "$libdir/crtn.o" "$libdir/libc.so" \
	"$libdir/libc_nonshared.a" /usr/include/stdio.h; do
	[ -e "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	skip "toolchain: not installed on this host:$missing"
	tap_end
	exit $?
fi
if [ ! -x "$ROOTFS/usr/bin/make" ] || [ ! -e "$ROOTFS$gccdir/cc1" ] || [ ! -e "$ROOTFS$libdir/libgcc_s.so.1" ]; then
	copies=""
	for f in "$gccdir"/*.o "$gccdir"/libgcc*.a "$gccdir"/libgcc_s.so "$gccdir"/liblto_plugin.so \
		"$libdir"/*crt*.o "$libdir"/libc.so "$libdir"/libc_nonshared.a "$libdir"/libm.so \
		"$libdir"/libpthread.a "$libdir"/libgcc_s.so.1 /usr/include/*.h; do
		copies="$copies -c $f:$f"
	done
	# shellcheck disable=SC2086
	tools/mkrootfs.sh -B -d "$gccdir/include" -d /usr/include/x86_64-linux-gnu \
		-d /usr/include/linux -d /usr/include/asm-generic $copies "$ROOTFS" \
		gcc make as ld "$(readlink -f /usr/bin/ld)" "$gccdir/cc1" "$gccdir/collect2" \
		"$gccdir/lto-wrapper" >/dev/null ||
		{ not_ok "building the toolchain rootfs"; tap_end; exit 1; }
	# libc.so is a linker script naming the shared libc by its /lib path.
	mkdir -p "$ROOTFS$libdir"
	ln -sf "/lib/x86_64-linux-gnu/libc.so.6" "$ROOTFS$libdir/libc.so.6"
fi
rm -rf "$ROOTFS/toolchain" && cp -r tests/integration/toolchain "$ROOTFS/toolchain"

MOUNTS='[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
 {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","mode=1777"]}]'
SETUP='mount -t proc proc @R@/proc && mount -t tmpfs -o mode=1777 tmpfs @R@/tmp'

nrc=$(NATIVE_SETUP="$SETUP" run_native "$WORK/toolchain.native" /bin/sh /toolchain/build.sh)
if [ "$nrc" != 0 ] || ! grep -q 'child exited 7' "$WORK/toolchain.native"; then
	not_ok "toolchain [native]: exit $nrc (the reference run itself fails)"
	sed 's/^/#   /' "$WORK/toolchain.native" "$WORK/toolchain.native.err" | head -20
	tap_end
	exit 1
fi
if command -v runc >/dev/null; then
	rrc=$(BUNDLE_MOUNTS="$MOUNTS" run_runc "$WORK/toolchain.runc" /bin/sh /toolchain/build.sh)
	same_output toolchain runc "$nrc" "$rrc"
else
	skip "toolchain [runc]: runc is not installed"
fi
mapfile -t plats < <(platforms)
for p in "${plats[@]}"; do
	case $p in
	*:*) skip "toolchain [${p%%:*}]: ${p#*:}"; continue ;;
	esac
	crc=$(BUNDLE_MOUNTS="$MOUNTS" run_cvisor "$p" "$WORK/toolchain.$p" /bin/sh /toolchain/build.sh)
	same_output toolchain "$p" "$nrc" "$crc"
done
tap_end
