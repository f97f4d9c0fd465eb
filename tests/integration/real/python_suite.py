# python3: threading, subprocess, multiprocessing, mmap, signal, tempfile, select, socketpair.
import mmap, multiprocessing, os, select, signal, socket, subprocess, sys, tempfile, threading

def threads():
    total, lock = [0], threading.Lock()
    def work(n):
        for _ in range(n):
            with lock:
                total[0] += 1
    ts = [threading.Thread(target=work, args=(2000,)) for _ in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print("threading:", total[0])

def subprocesses():
    out = subprocess.run(["/bin/sh", "-c", "echo from a child; exit 3"], capture_output=True, text=True)
    print("subprocess:", out.stdout.strip(), out.returncode)
    p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    print("pipe through cat:", p.communicate(b"round trip")[0].decode())

def square(x):
    return x * x

def processes():
    with multiprocessing.Pool(3) as pool:
        print("multiprocessing pool:", sum(pool.map(square, range(100))))
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=q.put, args=("via a queue",))
    p.start(); print("multiprocessing queue:", q.get()); p.join(); print("exitcode", p.exitcode)

def mapping():
    with tempfile.TemporaryFile() as f:
        f.write(b"x" * 8192); f.flush()
        m = mmap.mmap(f.fileno(), 8192)
        m[0:5] = b"hello"; m.flush()
        f.seek(0); print("mmap:", f.read(5).decode(), len(m)); m.close()
    shared = mmap.mmap(-1, 4096)
    if os.fork() == 0:
        shared[0:6] = b"forked"; os._exit(0)
    os.wait(); print("shared anonymous mmap:", shared[0:6].decode())

def signals():
    got = []
    signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
    signal.setitimer(signal.ITIMER_REAL, 0.05); signal.pause()
    print("signals:", got)

def files():
    d = tempfile.mkdtemp()
    with tempfile.NamedTemporaryFile("w", dir=d, delete=False) as f:
        f.write("temp"); name = f.name
    os.rename(name, os.path.join(d, "final"))
    print("tempfile dance:", sorted(os.listdir(d)), open(os.path.join(d, "final")).read())
    os.unlink(os.path.join(d, "final")); os.rmdir(d)

def sockets():
    a, b = socket.socketpair()
    a.sendall(b"ping")
    r, _, _ = select.select([b], [], [], 5)
    print("socketpair + select:", b.recv(4).decode(), len(r))
    r, w = os.pipe()
    poller = select.poll(); poller.register(r, select.POLLIN)
    os.write(w, b"!")
    print("poll:", len(poller.poll(1000)))

for fn in (threads, subprocesses, processes, mapping, signals, files, sockets):
    fn(); sys.stdout.flush()
