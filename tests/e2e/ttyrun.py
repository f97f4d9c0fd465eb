#!/usr/bin/env python3
"""Terminal helpers for the end-to-end tests (CI has no terminal).

  ttyrun.py run TIMEOUT INPUT CMD...
      Runs CMD on a new pty (40 rows, 100 columns), types INPUT (lines separated by the two
      characters \\n, one line each time the output has been quiet for 0.5 s), prints what
      CMD wrote (carriage returns dropped) and then "[status N]" (N: exit code, "timeout").
  ttyrun.py recv SOCKET TIMEOUT INPUT
      Listens on the unix socket SOCKET as a --console-socket, receives the pty master
      (SCM_RIGHTS), sets its size to 40x100, types INPUT as above into it and prints what
      comes out until EOF or TIMEOUT, then "[name NAME]" (the data sent with the fd).
"""
import array
import fcntl
import os
import pty
import select
import socket
import struct
import sys
import termios
import time


def set_size(fd):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 100, 0, 0))


def converse(fd, timeout, lines, done=lambda: False):
    out, start, last = b'', time.time(), time.time()
    while time.time() - start < timeout and not done():
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out, last = out + data, time.time()
        elif lines and time.time() - last > 0.5:
            os.write(fd, (lines.pop(0) + '\r').encode())
            last = time.time()
    return out.decode(errors='replace').replace('\r', '')


def run(timeout, text, cmd):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    set_size(fd)
    state = {}

    def exited():
        p, st = os.waitpid(pid, os.WNOHANG)
        if p:
            state['st'] = st
        return bool(p)
    start = time.time()
    out = converse(fd, timeout, text.split('\\n') if text else [], exited)
    # the terminal may close just before the process exits: give it the time left
    while 'st' not in state and time.time() - start < timeout:
        if not exited():
            time.sleep(0.05)
    if 'st' not in state:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    else:
        out += converse(fd, 0.3, [])
    sys.stdout.write(out)
    code = os.waitstatus_to_exitcode(state['st']) if 'st' in state else 'timeout'
    print('\n[status %s]' % code)


def recv(path, timeout, text):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(timeout)
    conn, _ = srv.accept()
    fds = array.array('i')
    name, anc, _, _ = conn.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:fds.itemsize])
    if not fds:
        print('[no fd received]')
        return
    set_size(fds[0])
    sys.stdout.write(converse(fds[0], timeout, text.split('\\n') if text else []))
    print('\n[name %s]' % name.decode(errors='replace'))


if __name__ == '__main__':
    if sys.argv[1] == 'run':
        run(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == 'recv':
        recv(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else '')
    else:
        sys.exit(__doc__)
