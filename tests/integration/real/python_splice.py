# python3's os.splice as zero-copy tools use it: a file copied through a pipe in a loop, at
# explicit offsets too; a child process's stdout pipe spliced into a file; a socket fed by a
# thread spliced through a pipe into a file and back out into another socket; the errors
# (EINVAL between two files, EAGAIN with SPLICE_F_NONBLOCK, ESPIPE for a pipe offset).
import errno, hashlib, os, socket, subprocess, threading

D = "/tmp/pysplice"
os.makedirs(D, exist_ok=True)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def copy_through_pipe(src, dst, offsets=False):
    r, w = os.pipe()
    total, off = 0, 0
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while True:
            if offsets:
                n = os.splice(fi.fileno(), w, 1 << 20, offset_src=off)
                off += n
            else:
                n = os.splice(fi.fileno(), w, 1 << 20)
            if n == 0:
                break
            left = n
            while left:
                if offsets:
                    m = os.splice(r, fo.fileno(), left, offset_dst=total)
                else:
                    m = os.splice(r, fo.fileno(), left)
                left -= m
                total += m
        pos = fi.tell()
    os.close(r)
    os.close(w)
    return total, pos


data = bytes((i * 131 + (i >> 9)) & 0xFF for i in range(3 * 1024 * 1024 + 4321))
with open(D + "/src", "wb") as f:
    f.write(data)
n, pos = copy_through_pipe(D + "/src", D + "/dst")
print("copy:", n, "bytes, input position", pos, "same", digest(D + "/src") == digest(D + "/dst"))
n, pos = copy_through_pipe(D + "/src", D + "/dst2", offsets=True)
print("copy at offsets:", n, "bytes, input position", pos, "same",
      digest(D + "/src") == digest(D + "/dst2"))

# A child's stdout.
p = subprocess.Popen(["/usr/bin/seq", "1", "200000"], stdout=subprocess.PIPE)
with open(D + "/seq", "wb") as fo:
    total = 0
    while True:
        n = os.splice(p.stdout.fileno(), fo.fileno(), 65536)
        if n == 0:
            break
        total += n
print("child exit", p.wait(), "spliced", total, "digest", digest(D + "/seq"))

# A socket fed by a thread -> pipe -> file, then the file -> pipe -> another socket.
a, b = socket.socketpair()
blob = data[: 2 * 1024 * 1024 + 99]


def feed():
    b.sendall(blob)
    b.close()


t = threading.Thread(target=feed)
t.start()
r, w = os.pipe()
with open(D + "/sock", "wb") as fo:
    while True:
        n = os.splice(a.fileno(), w, 200000)
        if n == 0:
            break
        while n:
            n -= os.splice(r, fo.fileno(), n)
t.join()
a.close()
print("socket in:", os.path.getsize(D + "/sock"), "same",
      hashlib.sha256(blob).hexdigest() == hashlib.sha256(open(D + "/sock", "rb").read()).hexdigest())

c, d = socket.socketpair()
got = bytearray()


def drain():
    while True:
        chunk = d.recv(65536)
        if not chunk:
            break
        got.extend(chunk)


t = threading.Thread(target=drain)
t.start()
with open(D + "/sock", "rb") as fi:
    while True:
        n = os.splice(fi.fileno(), w, 1 << 20)
        if n == 0:
            break
        while n:
            n -= os.splice(r, c.fileno(), n)
c.close()
t.join()
print("socket out:", len(got), "same", bytes(got) == blob)


def err(what, f):
    try:
        print(what, "->", f())
    except OSError as e:
        print(what, "->", errno.errorcode[e.errno])


fi, fo = os.open(D + "/src", os.O_RDONLY), os.open(D + "/dst", os.O_WRONLY)
err("file to file", lambda: os.splice(fi, fo, 10))
err("empty pipe, nonblocking", lambda: os.splice(r, fo, 10, flags=os.SPLICE_F_NONBLOCK))
err("pipe with an offset", lambda: os.splice(r, fo, 10, offset_src=0))
os.write(w, b"tail")
os.close(w)
err("pipe to file", lambda: os.splice(r, fo, 10))
err("at EOF", lambda: os.splice(r, fo, 10))
for name in ("src", "dst", "dst2", "seq", "sock"):
    os.unlink(D + "/" + name)
