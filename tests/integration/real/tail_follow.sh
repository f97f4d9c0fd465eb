# coreutils tail -F follows a log through inotify, on a tmpfs and on the rootfs: appends and a
# rotation (rename away, new file under the old name).  The polling fallback is set to 30 s, so
# only inotify events can deliver the lines within the test's pauses.
for d in /tmp /real; do
	f=$d/tailf.log
	: >"$f"
	tail -s 30 -n0 -F "$f" >"$d/tailf.out" 2>&1 &
	sleep 1
	echo one >>"$f"
	sleep 0.5
	mv "$f" "$f.1"
	sleep 1 # tail notices the name gone before it comes back (else "has been replaced")
	echo two >"$f"
	sleep 0.5
	echo three >>"$f"
	sleep 0.5
	kill $!
	wait
	echo "$d:"
	cat "$d/tailf.out"
	rm -f "$f" "$f.1" "$d/tailf.out"
done
