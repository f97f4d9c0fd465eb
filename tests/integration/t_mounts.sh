#!/bin/bash
# Guest programs that need mounts from config.json (tmpfs, bind mounts, a read-only root):
# each runs natively with the same mounts made in its private mount namespace, and in cvisor
# with them in config.json; stdout and exit status must match.  The escape test also checks
# that a host file outside the rootfs is never read and nothing appears outside it.
. "$(dirname "$0")/lib.sh"

# compare NAME PLAT ARGS... with BUNDLE_MOUNTS / NATIVE_SETUP / BUNDLE_READONLY set.
compare() {
	name=$1 plat=$2
	shift 2
	nrc=$(run_native "$WORK/$name.native" "$@")
	crc=$(run_cvisor "$plat" "$WORK/$name.$plat" "$@")
	same_output "$name" "$plat" "$nrc" "$crc"
}

tmpfs_mount() { # DEST OPTIONS(comma-separated)
	python3 -c 'import json,sys; print(json.dumps({"destination": sys.argv[1], "type": "tmpfs",
		"source": "tmpfs", "options": sys.argv[2].split(",")}))' "$1" "$2"
}

bind_mount() { # SRC DEST OPTIONS
	python3 -c 'import json,sys; print(json.dumps({"destination": sys.argv[2], "type": "bind",
		"source": sys.argv[1], "options": sys.argv[3].split(",")}))' "$1" "$2" "$3"
}

# The host side of the escape test: a canary outside the rootfs, a bind-mounted directory
# beside it, and a bind-mounted file.
HOSTSIDE="$WORK/hostside"
CANARY_TEXT="cvisor-host-canary-$$"
setup_hostside() {
	rm -rf "$HOSTSIDE"
	mkdir -p "$HOSTSIDE/bindsrc/sub" "$HOSTSIDE/canary"
	echo "$CANARY_TEXT" >"$HOSTSIDE/canary/secret.txt"
	echo "$CANARY_TEXT" >"$HOSTSIDE/secret.txt"
	echo "bound file" >"$HOSTSIDE/bindsrc/inside.txt"
	echo "single file" >"$HOSTSIDE/file.txt"
	ln -s "$HOSTSIDE/canary/secret.txt" "$HOSTSIDE/bindsrc/abs-out"
	ln -s ../canary/secret.txt "$HOSTSIDE/bindsrc/rel-out"
	ln -s ../../canary/secret.txt "$HOSTSIDE/bindsrc/sub/rel-out2"
}

# Files the escape guest tries to create outside the rootfs.
escape_markers() {
	find / /tmp "$WORK" "$HOSTSIDE" -maxdepth 3 -name 'cvisor-escape-marker*' \
		-not -path "$ROOTFS/*" 2>/dev/null
}

# check_mapped_files PLAT DIR: after mmap_shared_file ran in a container on DIR (a host path),
# what its shared mappings wrote must be in the host files, and nothing a private mapping wrote.
check_mapped_files() {
	plat=$1 d=$2
	text() { tr -d '\0' <"$d/$1"; }
	got=$(printf '%s|' "$(text keep)" "$(text fsynced)" "$(text basic | head -c 13)" \
		"$(text tail)" "$(stat -c %s "$d/tail")" "$(text private)" "$(text protect)" \
		"$(text child)" "$(md5sum <"$d/trunc" | cut -d' ' -f1)" 2>&1)
	trunc=$(python3 -c 'import hashlib; b = bytearray(12288); b[:4196] = b"A" * 4196; b[4296] = 66
b[8192:8205] = b"after growing"; print(hashlib.md5(b).hexdigest())')
	want="kept by a mapping at exit|fsynced|written again|01234XYZ89|10|original CONTENTS|after mprotectsecond page|cfrom againild|$trunc|"
	if [ "$got" = "$want" ]; then
		ok "mmap_shared_file [$plat]: the host files under $d hold what the mappings wrote"
	else
		not_ok "mmap_shared_file [$plat]: host files under $d: '$got', want '$want'"
	fi
}

# Native runs are root with every capability: so are these containers.
export BUNDLE_CAPS=all
mapfile -t plats < <(platforms)
setup_hostside
for p in "${plats[@]}"; do
	case $p in
	*:*)
		skip "mounts [${p%%:*}]: ${p#*:}"
		continue
		;;
	esac

	# Namespace operations on a tmpfs, as on the rootfs.
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/t size=4m,mode=1777)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/t && mount -t tmpfs -o size=4m,mode=1777 tmpfs @R@/mnt/t' \
		compare fs_paths_tmpfs "$p" /bin/fs_paths /mnt/t/fs_paths.d

	# An AF_UNIX socket bound on a tmpfs (the rootfs case is in t_guest.sh).
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/t size=4m,mode=1777)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/t && mount -t tmpfs -o size=4m,mode=1777 tmpfs @R@/mnt/t' \
		compare unix_stream_tmpfs "$p" /bin/unix_stream /mnt/t/unix_stream.sock

	# inotify on a tmpfs (the rootfs case is in t_guest.sh).
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/t size=4m,mode=1777)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/t && mount -t tmpfs -o size=4m,mode=1777 tmpfs @R@/mnt/t' \
		compare inotify_tmpfs "$p" /bin/inotify /mnt/t/inotify.d

	# A temp-file dance on the rootfs and on a tmpfs.
	compare fs_tempfile_root "$p" /bin/fs_tempfile /tmp
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/t size=4m,mode=1777)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/t && mount -t tmpfs -o size=4m,mode=1777 tmpfs @R@/mnt/t' \
		compare fs_tempfile_tmpfs "$p" /bin/fs_tempfile /mnt/t

	# Permission checks for an unprivileged user, on the rootfs and on a tmpfs.
	compare fs_perms_root "$p" /bin/fs_perms /tmp
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/t size=4m,mode=1777)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/t && mount -t tmpfs -o size=4m,mode=1777 tmpfs @R@/mnt/t' \
		compare fs_perms_tmpfs "$p" /bin/fs_perms /mnt/t

	# size=, mode=, statfs, ENOSPC, shared mappings.
	BUNDLE_MOUNTS="[$(tmpfs_mount /mnt/small size=256k,mode=0750,uid=0,gid=0)]" \
	NATIVE_SETUP='mkdir -p @R@/mnt/small && mount -t tmpfs -o size=256k,mode=0750 tmpfs @R@/mnt/small' \
		compare fs_tmpfs "$p" /bin/fs_tmpfs /mnt/small

	# runc's tmpcopyup: a tmpfs over /data starts with /data's content; the rootfs keeps it.
	BUNDLE_MOUNTS="[$(tmpfs_mount /data size=4m,tmpcopyup)]" \
	NATIVE_SETUP='mkdir -p /tmp/cvisor-copyup-$$ && mount -t tmpfs -o size=4m tmpfs /tmp/cvisor-copyup-$$ && cp -a @R@/data/. /tmp/cvisor-copyup-$$/ && mount --bind /tmp/cvisor-copyup-$$ @R@/data' \
		compare tmpcopyup "$p" /bin/sh -c 'ls -ln /data; cat /data/link-to-lines; echo new >/data/new; ls /data'
	if [ -e "$ROOTFS/data/new" ]; then
		not_ok "tmpcopyup [$p]: a write went to the rootfs"
	else
		ok "tmpcopyup [$p]: the rootfs is untouched"
	fi

	# Shared file mappings write through to host files, on the rootfs and on a bind mount.
	compare mmap_shared_file_root "$p" /bin/mmap_shared_file /tmp/mmap_shared_file.root
	check_mapped_files "$p" "$ROOTFS/tmp/mmap_shared_file.root"
	rm -rf "$HOSTSIDE/mapped" && mkdir -p "$HOSTSIDE/mapped"
	BUNDLE_MOUNTS="[$(bind_mount "$HOSTSIDE/mapped" /mnt/mapped rbind,rw)]" \
	NATIVE_SETUP="mkdir -p @R@/mnt/mapped && mount --bind $HOSTSIDE/mapped @R@/mnt/mapped" \
		compare mmap_shared_file_bind "$p" /bin/mmap_shared_file /mnt/mapped/d
	check_mapped_files "$p" "$HOSTSIDE/mapped/d"

	# A read-only root with a writable tmpfs on it.
	BUNDLE_READONLY=true BUNDLE_MOUNTS="[$(tmpfs_mount /tmp size=1m)]" \
	NATIVE_SETUP='mount --bind @R@ @R@ && mount -o remount,bind,ro @R@ && mount -t tmpfs -o size=1m tmpfs @R@/tmp' \
		compare fs_rofs "$p" /bin/fs_rofs ro

	# linux.maskedPaths and linux.readonlyPaths, as runc applies them: /dev/null over a file,
	# an empty read-only tmpfs over a directory, a read-only bind of a path onto itself;
	# paths that do not exist are ignored.
	BUNDLE_MOUNTS='[{"destination": "/proc", "type": "proc", "source": "proc"}]' \
	BUNDLE_LINUX='{"maskedPaths": ["/data/lines.txt", "/etc", "/no/such/file"], "readonlyPaths": ["/tmp", "/proc/sys", "/no/such/dir"]}' \
	NATIVE_SETUP='mount -t proc proc @R@/proc && mount --bind /dev/null @R@/data/lines.txt && mount -t tmpfs -o ro tmpfs @R@/etc && for d in @R@/tmp @R@/proc/sys; do mount --bind $d $d && mount -o remount,bind,ro $d; done' \
		compare masked_paths "$p" /bin/sh -c 'wc -c </data/lines.txt; echo x >/data/lines.txt && echo write ok; wc -c </data/lines.txt; ls -A /etc | wc -l; touch /etc/new 2>&1 | sed "s/^.*: //"; touch /tmp/new 2>&1 | sed "s/^.*: //"; (echo x >/proc/sys/kernel/hostname) 2>&1 | sed "s/^.*: //"; wc -c </data/random.bin; cat /proc/sys/kernel/ostype'

	# The escape test: bind mounts of a directory (rw) and a file (ro) from beside the canary.
	# The escape test: bind mounts of a directory (rw) and a file (ro) from beside the canary,
	# and /proc for its magic links.
	before=$(escape_markers)
	escape_mounts="[{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},$(bind_mount "$HOSTSIDE/bindsrc" /mnt/bind rbind,rw),$(bind_mount "$HOSTSIDE/file.txt" /mnt/file.txt rbind,ro)]"
	BUNDLE_MOUNTS="$escape_mounts" \
	NATIVE_SETUP="mount -t proc proc @R@/proc && mkdir -p @R@/mnt/bind && touch @R@/mnt/file.txt && mount --bind $HOSTSIDE/bindsrc @R@/mnt/bind && mount --bind $HOSTSIDE/file.txt @R@/mnt/file.txt && mount -o remount,bind,ro @R@/mnt/file.txt" \
		compare fs_escape "$p" /bin/fs_escape mounted "$HOSTSIDE/canary/secret.txt"
	# Host device nodes and a chroot(2) escape, both possible natively for root: cvisor only.
	out="$WORK/fs_escape_cvisor.$p"
	BUNDLE_MOUNTS="$escape_mounts" run_cvisor "$p" "$out" \
		/bin/fs_escape cvisor "$HOSTSIDE/canary/secret.txt" >/dev/null
	if [ "$(grep -c 'mknod.*: EPERM' "$out")" = 3 ] && grep -q "blocked" "$out" &&
		! grep -q LEAKED "$out"; then
		ok "fs_escape [$p]: no host device nodes, chroot(2) escape blocked"
	else
		not_ok "fs_escape [$p]: device nodes or chroot(2) escape"
		sed 's/^/#   /' "$out" "$out.err" | head -10
	fi
	if grep -q "$CANARY_TEXT" "$WORK"/fs_escape*."$p" "$WORK"/fs_escape*."$p".err 2>/dev/null; then
		not_ok "fs_escape [$p]: the host canary was read"
	else
		ok "fs_escape [$p]: the host canary was never read"
	fi
	after=$(escape_markers)
	if [ "$before" = "$after" ]; then
		ok "fs_escape [$p]: nothing created outside the rootfs"
	else
		not_ok "fs_escape [$p]: files appeared outside the rootfs"
		echo "$after" | sed 's/^/#   /'
	fi
done
tap_end
