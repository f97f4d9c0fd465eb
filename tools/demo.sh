#!/bin/sh
# make demo: builds a busybox bundle from the host's busybox-static and runs it inside a cvisor
# sandbox, printing what only the inside can see (its hostname, its pid 1, its kernel).
set -eu
BUILD=${BUILD:-build}
CVISOR=$(cd "$BUILD" && pwd)/cvisor
B="$BUILD/demo"
rm -rf "$B"
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/tmp" "$B/rootfs/etc"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh echo cat ls ps hostname uname id head sleep; do ln -sf busybox "$B/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$B/rootfs/etc/passwd"
cd "$B"
"$CVISOR" spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["hostname"] = "cvisor-demo"
c["process"]["args"] = ["/bin/sh", "-c",
    "echo \"hostname: $(hostname)\"; echo \"my pid: $$\"; "
    "echo \"kernel: $(uname -sr) (the sentry's, not the host's)\"; "
    "sleep 1 & echo 'processes, from inside:'; ps -o pid,ppid,comm; wait"]
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "== running a busybox container in cvisor ($("$CVISOR" platforms | awk '/default/ {print $1}') platform)"
"$CVISOR" --root "$PWD/state" run demo-$$
echo "== and on the host: hostname $(hostname), kernel $(uname -sr)"
