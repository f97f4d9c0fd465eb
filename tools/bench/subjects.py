"""The subjects a benchmark runs on: the host itself, and OCI runtimes (runc, runsc, cvisor).

Every subject runs the same programs from the same rootfs (build/bench/rootfs). Commands are
written with two placeholders: {R} is the rootfs as the command sees it ("" inside a container,
the rootfs directory for native runs) and {T} a scratch directory on tmpfs ("/tmp", a tmpfs
mount in every container; a directory under /dev/shm for native runs).
"""
import itertools
import json
import os
import select
import shutil
import subprocess
import time

import procs

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROBE_MARK = "cvbench-probe-ok"
_ids = itertools.count(1)


class Subject:
    """A place to run commands. reason is None while the subject is usable, else why not."""

    def __init__(self, name, title):
        self.name, self.title = name, title
        self.reason = None
        self.version = ""
        self.command = ""
        self.timeouts = 0

    def fmt(self, argv):
        return [a.replace("{R}", self.prefix).replace("{T}", self.tmp) for a in argv]

    def probe(self, timeout):
        """Runs /bin/echo once; on failure sets reason. "hangs" when it timed out."""
        if self.reason:
            return
        r = self.run(["{R}/bin/echo", PROBE_MARK], timeout)
        if r.timed_out:
            self.reason = "hangs: a container running /bin/echo did not exit within %g s (killed)" % timeout
        elif not r.ok or PROBE_MARK not in r.out:
            self.reason = "cannot run a container: " + r.why(timeout)

    def run(self, argv, timeout):
        raise NotImplementedError

    def start(self, argv, timeout):
        """Starts argv in the background; returns (handle, stdout fd)."""
        raise NotImplementedError

    def stop(self, handle):
        raise NotImplementedError

    def cleanup(self):
        pass


class Native(Subject):
    """The host: the rootfs's programs run directly, with the rootfs's dirs in PATH. The
    working directory is the rootfs and {R} is ".", so a path like ./bench/data-1m costs the
    same path walk as /bench/data-1m in a container."""

    def __init__(self, rootfs, tmp):
        super().__init__("native", "native (host)")
        self.rootfs, self.prefix, self.tmp = rootfs, ".", tmp
        path = ":".join(rootfs + d for d in CONTAINER_PATH.split(":"))
        self.env = {"PATH": path, "HOME": tmp, "LANG": "C"}
        self.version = os.uname().release
        self.command = "programs run directly on the host"

    def _clear_tmp(self):
        for name in os.listdir(self.tmp):
            p = os.path.join(self.tmp, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)

    def run(self, argv, timeout):
        self._clear_tmp()
        r = procs.run(self.fmt(argv), timeout, env=self.env, cwd=self.rootfs)
        procs.kill_descendants()
        return r

    def start(self, argv, timeout):
        self._clear_tmp()
        p = subprocess.Popen(self.fmt(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=self.env, cwd=self.rootfs,
                             start_new_session=True)
        return p, p.stdout.fileno()

    def stop(self, handle):
        try:
            os.killpg(handle.pid, 9)
        except OSError:
            pass
        handle.wait()
        handle.stdout.close()
        procs.kill_descendants()


class Oci(Subject):
    """An OCI runtime CLI (runc, runsc, cvisor) with a private --root under build/bench."""

    def __init__(self, name, title, argv, workdir, base_spec, rootfs):
        super().__init__(name, title)
        self.argv = argv
        self.prefix, self.tmp = "", "/tmp"
        self.root = os.path.join(workdir, "state", name)
        self.bundle = os.path.join(workdir, "bundles", name)
        self.logs = os.path.join(workdir, "logs")
        self.base_spec, self.rootfs = base_spec, rootfs
        self.command = " ".join([os.path.basename(argv[0])] + argv[1:])
        for d in (self.root, self.bundle, self.logs):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.root, ".cli"), "w") as f:
            json.dump(argv, f)  # for cleanup.py after an interrupted run

    def _cli(self, *args):
        return self.argv[:1] + ["--root", self.root] + self.argv[1:] + list(args)

    def _new_container(self, argv):
        """Writes the bundle's config.json for argv; returns a fresh container id."""
        cid = "cvb-%d-%d" % (os.getpid(), next(_ids))
        spec = json.loads(json.dumps(self.base_spec))
        spec["process"]["args"] = self.fmt(argv)
        spec["linux"]["cgroupsPath"] = "/cvbench/" + cid
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(spec, f, indent=1)
        return cid

    def _remove(self, cid):
        """Deletes cid if the runtime still knows it, then kills whatever it left behind."""
        if cid in leftover_ids(self.root):
            procs.run(self._cli("kill", cid, "KILL"), 10)
            procs.run(self._cli("delete", "--force", cid), 30)
        procs.kill_descendants()
        rmdir_cgroups(cid)
        for n in os.listdir(self.root):  # runsc keeps <id>_sandbox:<id>.lock after delete
            if n.startswith(cid + "_") and n.endswith(".lock"):
                os.unlink(os.path.join(self.root, n))

    def run(self, argv, timeout):
        cid = self._new_container(argv)
        r = procs.run(self._cli("run", "--bundle", self.bundle, cid), timeout)
        self._remove(cid)
        return r

    def start(self, argv, timeout):
        cid = self._new_container(argv)
        rfd, wfd = os.pipe()
        errlog = os.path.join(self.logs, cid + ".stderr")
        try:
            with open(errlog, "w") as err:
                p = subprocess.Popen(self._cli("create", "--bundle", self.bundle, "--pid-file",
                                               os.path.join(self.logs, cid + ".pid"), cid),
                                     stdin=subprocess.DEVNULL, stdout=wfd, stderr=err,
                                     start_new_session=True)
                try:
                    rc = p.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, 9)
                    p.wait()
                    rc = "timeout"
            os.close(wfd)
            wfd = -1
            if rc != 0:
                raise RuntimeError("create: %s" % _tail(errlog, rc))
            r = procs.run(self._cli("start", cid), timeout)
            if not r.ok:
                raise RuntimeError("start: " + r.why(timeout))
        except Exception:
            if wfd >= 0:
                os.close(wfd)
            os.close(rfd)
            self._remove(cid)
            raise
        return (cid, rfd), rfd

    def stop(self, handle):
        cid, rfd = handle
        self._remove(cid)
        os.close(rfd)

    def cleanup(self):
        """Deletes every container left in the private root (runsc keeps <id>_sandbox:<id>.*
        files, runc an <id> directory)."""
        for cid in leftover_ids(self.root):
            procs.run(self._cli("delete", "--force", cid), 30)
            rmdir_cgroups(cid)


def leftover_ids(root):
    """The ids of the harness's containers a runtime still keeps state for in root: runc keeps
    an <id> directory, runsc <id>_sandbox:<id>.state (and a .lock that outlives delete)."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted({n.split("_")[0] for n in names
                   if n.startswith("cvb-") and not n.endswith(".lock")})


def _tail(path, rc):
    try:
        with open(path) as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        lines = []
    return "exit %s: %s" % (rc, lines[-1][:160] if lines else "no output")


def rmdir_cgroups(cid, wait_s=5.0):
    """Removes the (empty) cgroups a runtime left for cid under /cvbench, in every hierarchy,
    and /cvbench itself when empty. A killed sandbox can take a moment to leave its cgroup
    (a VM's memory is torn down first), so busy ones are retried for up to wait_s."""
    base = "/sys/fs/cgroup"
    if not os.path.isdir(base):
        return
    hiers = [base] + [os.path.join(base, h) for h in os.listdir(base)]
    todo = [os.path.join(h, "cvbench", cid) for h in hiers]
    end = time.monotonic() + wait_s
    while todo:
        busy = []
        for d in todo:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(d)
        todo = busy
        if not todo or time.monotonic() > end:
            break
        time.sleep(0.1)
    for h in hiers:
        try:
            os.rmdir(os.path.join(h, "cvbench"))
        except OSError:
            pass


def read_line(fd, want, timeout):
    """Waits until a line equal to want arrives on fd; returns True, or False on EOF/timeout."""
    buf, end = b"", time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        if want.encode() in buf.split(b"\n"):
            return True
    return False


def base_spec(rootfs, workdir):
    """A config.json from `runc spec`, edited for benchmarks: no terminal, read-only rootfs,
    a tmpfs on /tmp, a fixed environment. Returns the parsed dict."""
    d = os.path.join(workdir, "spec")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "config.json")
    if os.path.exists(path):
        os.unlink(path)
    runc = shutil.which("runc") or "/usr/sbin/runc"
    subprocess.run([runc, "spec"], cwd=d, check=True)
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["env"] = ["PATH=" + CONTAINER_PATH, "HOME=/root", "LANG=C"]
    spec["root"] = {"path": os.path.abspath(rootfs), "readonly": True}
    spec["hostname"] = "cvbench"
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "mode=1777", "size=1g"]})
    return spec
