# python3 sockets: socketserver over TCP and AF_UNIX, multiprocessing fd passing and an
# authenticated Listener, asyncio streams, selectors, getaddrinfo(localhost), if_nameindex.
import asyncio, multiprocessing, multiprocessing.connection, os, selectors, socket, socketserver, sys, threading
from multiprocessing import reduction

class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())

def servers():
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        with socket.create_connection(srv.server_address) as c:
            f = c.makefile("rwb")
            for w in (b"alpha\n", b"beta\n"):
                f.write(w); f.flush(); print("tcp echo:", f.readline().decode().strip())
            f.close()
        srv.shutdown()
    path = "/tmp/py_unix.sock"
    if os.path.exists(path): os.unlink(path)
    with socketserver.ThreadingUnixStreamServer(path, Echo) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(path); c.sendall(b"unix\n"); print("unix echo:", c.recv(100).decode().strip())
        srv.shutdown()
    os.unlink(path)

def child(conn):
    fd = reduction.recv_handle(conn)
    with os.fdopen(fd, "rb") as f:
        conn.send(("child read", f.read().decode()))

def mp():
    parent, ch = multiprocessing.Pipe()
    p = multiprocessing.Process(target=child, args=(ch,))
    p.start()
    r, w = os.pipe()
    os.write(w, b"through a passed fd"); os.close(w)
    reduction.send_handle(parent, r, p.pid); os.close(r)
    print("multiprocessing:", parent.recv()); p.join(); print("exitcode", p.exitcode)
    with multiprocessing.connection.Listener(family="AF_UNIX", authkey=b"k") as l:
        q = multiprocessing.Process(target=lambda a: multiprocessing.connection.Client(a, authkey=b"k").send("authenticated"), args=(l.address,))
        q.start()
        with l.accept() as c: print("listener:", c.recv())
        q.join()

async def aio():
    async def handle(r, w):
        w.write((await r.readline())[::-1]); await w.drain(); w.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"olleh\n"); await w.drain()
    print("asyncio:", (await r.readline()).decode().strip()); w.close()
    srv.close(); await srv.wait_closed()

def sel():
    a, b = socket.socketpair()
    s = selectors.DefaultSelector(); s.register(b, selectors.EVENT_READ)
    threading.Timer(0.05, lambda: a.send(b"x")).start()
    ev = s.select(5); print("selector:", len(ev), b.recv(1))

def names():
    print("getaddrinfo:", sorted({ai[4][0] for ai in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}))
    print("if_nameindex has lo:", any(n == "lo" for _, n in socket.if_nameindex()))
    print("gethostname ok:", bool(socket.gethostname()))

servers(); mp(); asyncio.run(aio()); sel(); names()
