# python3 inotify through ctypes, as file watchers use it: the fd in /proc (anon_inode:inotify,
# fdinfo flags), a watch on a directory of /tmp, the events of an atomic save (write a temp
# file, rename it over the old one), of a move out and a deletion, parsed with struct; a
# selectors loop waiting for readiness while a thread changes the directory.
import ctypes, errno, os, selectors, struct, threading, time

libc = ctypes.CDLL(None, use_errno=True)
libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
NAMES = ["ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN", "MOVED_FROM",
         "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF", "?", "UNMOUNT",
         "Q_OVERFLOW", "IGNORED"]
IN_ISDIR, IN_ALL_EVENTS = 0x40000000, 0xfff

def events(fd):
    try:
        buf = os.read(fd, 65536)
    except BlockingIOError:
        return []
    out, off, cookies = [], 0, {}
    while off < len(buf):
        wd, mask, cookie, n = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
        flags = [NAMES[i] for i in range(16) if mask & (1 << i)] + (["ISDIR"] if mask & IN_ISDIR else [])
        c = cookies.setdefault(cookie, "C%d" % len(cookies)) if cookie else ""
        out.append(" ".join(x for x in ("wd=%d" % wd, "|".join(flags), c, name) if x))
        off += 16 + n
    return out

def show(title, fd):
    print(title)
    for e in events(fd):
        print("  " + e)

fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
print("fd link:", os.readlink("/proc/self/fd/%d" % fd))
print("fdinfo", [l for l in open("/proc/self/fdinfo/%d" % fd).read().splitlines() if l.startswith("flags")])
print("fstat mode: %o" % os.fstat(fd).st_mode)
print("bad path:", libc.inotify_add_watch(fd, b"/tmp/nope", IN_ALL_EVENTS), errno.errorcode[ctypes.get_errno()])

d = "/tmp/pywatch"
os.makedirs(d + "/sub", exist_ok=True)
with open(d + "/config.json", "w") as f:
    f.write("{}")
wd = libc.inotify_add_watch(fd, d.encode(), IN_ALL_EVENTS & ~0x1)  # not IN_ACCESS
print("wd:", wd)
with open(d + "/.config.json.tmp", "w") as f:
    f.write('{"new": 1}')
os.replace(d + "/.config.json.tmp", d + "/config.json")
show("atomic save:", fd)
os.rename(d + "/config.json", "/tmp/moved-out.json")
os.rmdir(d + "/sub")
os.chmod(d, 0o700)
show("move out, rmdir, chmod:", fd)

def writer():
    time.sleep(0.2)
    with open(d + "/late.txt", "w") as f:
        f.write("late")

sel = selectors.DefaultSelector()
sel.register(fd, selectors.EVENT_READ)
t = threading.Thread(target=writer)
t.start()
ready = sel.select(timeout=10)
print("selector ready:", [k.fd == fd for k, _ in ready])
t.join()
time.sleep(0.05)
show("late writer:", fd)
os.rename(d, "/tmp/pywatch-renamed")
import shutil
shutil.rmtree("/tmp/pywatch-renamed")
show("watched directory renamed and removed:", fd)
os.unlink("/tmp/moved-out.json")
os.close(fd)
