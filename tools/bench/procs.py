"""Host process helpers for the benchmark harness: running commands under a timeout, finding
every process a sandbox consists of, and measuring their memory.

The harness makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process a
runtime leaves behind (runc's container init, runsc's sandbox, gofer and stubs, cvisor's
sandbox and stubs) is re-parented to the harness when the short-lived runtime CLI exits. The
harness runs one subject at a time, so "the sandbox" is exactly the set of the harness's
descendants, whatever the runtime's own process layout is.
"""
import ctypes
import os
import signal
import subprocess
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Makes orphaned descendants re-parent to this process; returns True on success."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def _ppid_map():
    """Returns {pid: ppid} for every process on the host."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(d)] = int(fields[1])
    return out


def descendants(root=None):
    """Returns the pids of every descendant of root (default: this process), zombies
    included."""
    root = os.getpid() if root is None else root
    children = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def alive(pids):
    """The pids of pids that are neither zombies nor gone."""
    return [p for p in pids if _state(p) not in ("Z", "X", "?")]


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2]
    except (OSError, ValueError):
        return "?"


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def _is_memfd(path):
    return path.startswith("/memfd:")


def memory_of(pids):
    """Measures the memory of a set of processes (a sandbox). Returns a dict of KiB figures:

      total  PSS of every mapping that is not a memfd, plus the allocated size of every
             distinct memfd the processes map or hold open, counted once
      pss    plain PSS sum (/proc/<pid>/smaps), memfd mappings included
      rss    plain RSS sum
      memfd  the allocated size of the distinct memfds alone
      procs  number of live processes measured

    PSS splits each shared page between the processes mapping it, so a sum over a sandbox's
    processes counts a shared library or a shared mapping once. A sentry's memory file (a
    memfd: runsc-memory for gVisor) is the exception: most of its pages are mapped by no process
    at a given moment (gVisor maps application pages into a stub on demand), so PSS misses
    them; `total` counts the file's allocated pages instead. Without memfds total == pss.
    """
    pss_other = pss = rss = n = 0
    memfds = {}  # (st_dev, st_ino) -> bytes allocated
    for pid in alive(pids):
        try:
            pss_other_p, pss_p, rss_p = _smaps(pid, memfds)
            _open_memfds(pid, memfds)
        except (OSError, ValueError):
            continue
        pss_other += pss_other_p
        pss += pss_p
        rss += rss_p
        n += 1
    memfd = sum(memfds.values()) // 1024
    return {"total": pss_other + memfd, "pss": pss, "rss": rss, "memfd": memfd, "procs": n}


def _smaps(pid, memfds):
    """Parses /proc/pid/smaps: returns (PSS of non-memfd mappings, PSS, RSS) in KiB and records
    the memfds it maps in memfds."""
    pss_other = pss = rss = 0
    in_memfd = False
    seen = set()
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                kib = int(line.split()[1])
                pss += kib
                if not in_memfd:
                    pss_other += kib
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif not line[0].isupper():  # a mapping header: "start-end perms off dev ino path"
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) > 5 else ""
                in_memfd = _is_memfd(path)
                if in_memfd and (fields[3], fields[4]) not in seen:  # dev, inode
                    seen.add((fields[3], fields[4]))
                    _note_memfd("/proc/%d/map_files/%s" % (pid, fields[0]), memfds)
    return pss_other, pss, rss


def _open_memfds(pid, memfds):
    """Records the memfds pid holds open (mapped or not) in memfds."""
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if _is_memfd(os.readlink(os.path.join(fd_dir, fd))):
                _note_memfd(os.path.join(fd_dir, fd), memfds)
        except OSError:
            continue


def _note_memfd(link, memfds):
    try:
        st = os.stat(link)
    except OSError:
        return
    memfds[(st.st_dev, st.st_ino)] = st.st_blocks * 512


def proc_name(pid):
    """argv[0]'s base name (runsc re-executes itself, so its comm is "exe" but argv[0] says
    runsc-sandbox or runsc-gofer), else comm."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        if argv0:
            return os.path.basename(argv0.split()[0])
    except OSError:
        pass
    return comm(pid)


def kill_descendants():
    """SIGKILLs every descendant of this process (all were started by the harness), by pid,
    and reaps them."""
    reap()
    for _ in range(20):
        pids = alive(descendants())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
        reap()


def reap():
    """Reaps exited orphans re-parented to the harness. Call only when no subprocess.Popen of
    the harness is still running, or it could lose its exit status."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Result:
    """Outcome of one command: exit status, output, wall time, and whether it timed out."""

    def __init__(self, rc, out, err, wall, timed_out):
        self.rc, self.out, self.err, self.wall, self.timed_out = rc, out, err, wall, timed_out

    @property
    def ok(self):
        return not self.timed_out and self.rc == 0

    def why(self, timeout):
        """A one-line reason for a failure, for the report."""
        if self.timed_out:
            return "no exit within %g s (killed)" % timeout
        for line in self.out.splitlines():
            if line.startswith("BENCH-ERROR"):
                return line[len("BENCH-ERROR "):]
        last = [l.strip() for l in (self.err + "\n" + self.out).splitlines() if l.strip()]
        tail = last[-1][:160] if last else "no output"
        if self.rc < 0:
            return "killed by signal %d: %s" % (-self.rc, tail)
        return "exit status %d: %s" % (self.rc, tail)


def run(argv, timeout, env=None, cwd=None):
    """Runs argv with stdin from /dev/null and output captured. After timeout seconds, kills its
    process group and every other descendant of the harness (a sandbox the command started).
    The wall time covers fork to reaped exit."""
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    except OSError as e:
        # A binary that cannot be executed (missing, or being rewritten by a build) is a
        # failed run with its reason, not the end of the harness.
        return Result(127, "", "cannot execute %s: %s" % (argv[0], e.strerror), 0.0, False)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        # A sandbox may sit in another session and hold the output pipes open.
        kill_descendants()
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
        timed_out = True
    wall = time.monotonic() - t0
    return Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                  wall, timed_out)
