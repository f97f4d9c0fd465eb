"""cvisor's benchmark driver: runs the micro, macro and memory benchmarks on every subject
(native, runc, runsc, cvisor per platform) in one run, writes build/bench/results.json, then
docs/performance.md and docs/performance.png through report.py.

Run it through tools/bench/run.sh (which builds the programs and the rootfs first).
"""
import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import procs
import report
from subjects import Native, Oci, base_spec, read_line

# name, column label, argv ({R}: rootfs prefix, {T}: tmpfs scratch dir)
MICRO = [
    ("getpid", "getpid", ["{R}/bench/getpid"]),
    ("getpid_asm", "getpid asm", ["{R}/bench/getpid", "asm"]),
    ("clock_gettime", "clock_gettime", ["{R}/bench/clock_gettime"]),
    ("pipe_pingpong", "pipe rt", ["{R}/bench/pipe_pingpong"]),
    ("open_close", "open+close", ["{R}/bench/open_close", "{R}/bench/data-1m"]),
    ("stat", "stat", ["{R}/bench/stat", "{R}/bench/data-1m"]),
    ("read_4k", "read 4K", ["{R}/bench/read", "4096", "{R}/bench/data-1m"]),
    ("read_1m", "read 1M", ["{R}/bench/read", "1048576", "{R}/bench/data-1m"]),
    ("mmap_4k", "mmap 4K", ["{R}/bench/mmap_touch", "4096"]),
    ("mmap_64m", "mmap 64M", ["{R}/bench/mmap_touch", "67108864"]),
    ("fork_wait", "fork", ["{R}/bench/fork_wait"]),
    ("fork_exec", "fork+exec", ["{R}/bench/fork_exec", "{R}/bench/true"]),
    ("pthread_create", "thread", ["{R}/bench/pthread_create"]),
    ("futex_pingpong", "futex rt", ["{R}/bench/futex_pingpong"]),
]

FORK_LOOP = "i=0; while [ $i -lt 500 ]; do {R}/bench/true; i=$((i+1)); done"
PY_HOLD = ("import time; b = b'x' * (100 << 20); print('ready', flush=True); "
           "time.sleep(600)")

# name, column label, argv, timeout (s), a string stdout must contain
MACRO = [
    ("true", "run /bin/true", ["{R}/bin/true"], 30, None),
    ("fork_loop", "sh 500 forks", ["{R}/bin/sh", "-c", FORK_LOOP], 180, None),
    ("python", "python3 start", ["{R}/usr/bin/python3", "-c", "pass"], 60, None),
    ("tar_gzip", "tar+gzip 50M", ["{R}/bin/tar", "-czf", "{T}/data.tgz", "-C", "{R}/data", "."],
     300, None),
    ("sqlite", "sqlite 10k rows", ["{R}/usr/bin/sqlite3", "{T}/bench.db",
                                   ".read {R}/bench/insert.sql"], 120, "10000"),
]

# name, column label, argv, line printed when the workload is in place (None: at once)
MEMORY = [
    ("idle", "idle sleep", ["{R}/bin/sleep", "600"], None),
    ("python_100m", "python3 100 MB", ["{R}/usr/bin/python3", "-c", PY_HOLD], "ready"),
]

MAX_TIMEOUTS = 2  # per phase: after this many timed-out runs a subject's other runs are skipped


def log(msg):
    print("bench: " + msg, flush=True)


class Phase:
    """The time limits of one phase (micro, macro, memory): a budget for the whole phase, and a
    count of timed-out runs per subject. A subject that hangs or a phase that overruns loses
    its remaining runs (shown as "not run" with the reason) instead of stalling the harness."""

    def __init__(self, name, budget_s):
        self.name, self.budget_s = name, budget_s
        self.deadline = time.monotonic() + budget_s
        self.timeouts = {}

    def skip(self, s):
        """Why s must not run now, or None."""
        if s.reason:
            return s.reason
        n = self.timeouts.get(s.name, 0)
        if n >= MAX_TIMEOUTS:
            return "not run: %d earlier %s runs on this subject timed out" % (n, self.name)
        if time.monotonic() > self.deadline:
            return "not run: the %s phase used up its %d s time budget" % (self.name,
                                                                          self.budget_s)
        return None

    def failed(self, s, timed_out):
        if timed_out:
            self.timeouts[s.name] = self.timeouts.get(s.name, 0) + 1
            s.timeouts += 1


# ---- micro ------------------------------------------------------------------------------

def parse_bench_line(out, name):
    for line in out.splitlines():
        if line.startswith("BENCH name=" + name + " "):
            kv = dict(f.split("=", 1) for f in line.split()[1:])
            v = {"ns": float(kv["ns"]), "min": float(kv["min"]), "max": float(kv["max"]),
                 "iters": int(kv["iters"]), "reps": int(kv["reps"])}
            if "pinned" in kv:  # the ping-pongs asked for CPU 0: did sched_setaffinity succeed?
                v["pinned"] = kv["pinned"] == "1"
            return v
    return None


def run_micro(subjects, cfg):
    """Runs every micro benchmark on every subject, cfg.rounds times, round-major (all
    benchmarks of round 1, then of round 2, ...) so that a burst of load from elsewhere on the
    machine hits one round of everything rather than every round of one benchmark. A figure
    is the median of the rounds' medians, with the min and max over all repetitions. A failure
    in any round makes the benchmark's cell a skip with that reason."""
    phase = Phase("micro", cfg.micro_budget_s)
    rounds = {name: {s.name: [] for s in subjects} for name, _, _ in MICRO}
    fails = {name: {} for name, _, _ in MICRO}
    notrun = {name: {} for name, _, _ in MICRO}
    for rnd in range(cfg.rounds):
        for name, _, argv in MICRO:
            for s in subjects:
                if s.name in fails[name]:
                    continue
                why = phase.skip(s)
                if why:
                    notrun[name][s.name] = why
                    continue
                full = argv[:1] + ["-t", str(cfg.rep_ms), "-r", str(cfg.reps)] + argv[1:]
                r = s.run(full, cfg.micro_timeout)
                v = parse_bench_line(r.out, name) if r.ok else None
                if v is None:
                    phase.failed(s, r.timed_out)
                    fails[name][s.name] = r.why(cfg.micro_timeout) if not r.ok else \
                        "no BENCH line in the output: " + (r.out.strip()[-80:] or "(none)")
                    log("micro %-15s %-14s skipped: %s" % (name, s.name, fails[name][s.name]))
                    continue
                v["wall_s"] = round(r.wall, 3)
                rounds[name][s.name].append(v)
                log("micro %-15s %-14s %12.1f ns  (round %d, %.1f s)" %
                    (name, s.name, v["ns"], rnd + 1, r.wall))
    res = {}
    for name, _, _ in MICRO:
        res[name] = {}
        for s in subjects:
            vs = rounds[name][s.name]
            if s.name in fails[name] or not vs:
                why = fails[name].get(s.name) or notrun[name].get(s.name, "not run")
                res[name][s.name] = {"skip": why}
                continue
            res[name][s.name] = {"ns": statistics.median(v["ns"] for v in vs),
                                 "min": min(v["min"] for v in vs),
                                 "max": max(v["max"] for v in vs),
                                 "iters": vs[0]["iters"], "reps": sum(v["reps"] for v in vs),
                                 "rounds": vs}
            if "pinned" in vs[0]:
                res[name][s.name]["pinned"] = all(v.get("pinned") for v in vs)
    return res


# ---- macro ------------------------------------------------------------------------------

def macro_timeout(cfg, static, native_walls):
    """A run's timeout: the benchmark's own limit, cut down to a multiple of the native time
    once that is known, so a hung sandbox costs seconds rather than minutes."""
    if not native_walls:
        return static
    return min(static, math.ceil(cfg.macro_timeout_add + cfg.macro_timeout_mul * max(native_walls)))


def run_macro(subjects, cfg):
    """Times every macro benchmark on every subject: one untimed warm-up each (full mode), then
    cfg.runs rounds interleaved A B C A B C. A subject that has used cfg.macro_budget_s on one
    benchmark stops after cfg.min_runs runs, so a slow sandbox cannot stretch the whole run."""
    phase = Phase("macro", cfg.macro_phase_s)
    res = {}
    for name, _, argv, static_timeout, expect in MACRO:
        runs = {s.name: [] for s in subjects}
        spent = {s.name: 0.0 for s in subjects}
        native = []
        fails, notrun = {}, {}

        def once(s, timed):
            if s.name in fails:
                return
            why = phase.skip(s)
            if why:
                notrun[s.name] = why
                return
            if len(runs[s.name]) >= cfg.min_runs and spent[s.name] > cfg.macro_budget_s:
                return
            timeout = static_timeout if s.name == "native" else \
                macro_timeout(cfg, static_timeout, native)
            r = s.run(argv, timeout)
            spent[s.name] += r.wall
            if not r.ok or (expect and expect not in r.out):
                phase.failed(s, r.timed_out)
                fails[s.name] = r.why(timeout) if not r.ok else \
                    "output lacks `%s`: %s" % (expect, r.out.strip()[-80:])
                log("macro %-10s %-14s skipped: %s" % (name, s.name, fails[s.name]))
                return
            if s.name == "native":
                native.append(r.wall)
            if timed:
                runs[s.name].append(r.wall)

        if cfg.warmup:
            for s in subjects:  # page cache, first start of a binary: not timed
                once(s, False)
        for _ in range(cfg.runs):
            for s in subjects:
                once(s, True)
        res[name] = {}
        for s in subjects:
            w = runs[s.name]
            if s.name in fails or not w:
                res[name][s.name] = {"skip": fails.get(s.name) or notrun.get(s.name, "not run")}
                continue
            res[name][s.name] = {"s": statistics.median(w), "min": min(w), "max": max(w),
                                 "runs": [round(x, 4) for x in w]}
            log("macro %-10s %-14s median %8.3f s  (min %.3f, max %.3f, %d runs)" %
                (name, s.name, statistics.median(w), min(w), max(w), len(w)))
    return res


# ---- memory -----------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Samples (time, procs.memory_of(...)) of the harness's descendants every interval."""

    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval, self.samples, self.stop_flag = interval, [], threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            self.samples.append((time.monotonic(), procs.memory_of(procs.descendants())))
            self.stop_flag.wait(self.interval)

    def finish(self):
        self.stop_flag.set()
        self.join()
        return self.samples


def measure_memory(s, argv, ready, cfg):
    """Starts argv detached on s and samples the sandbox's memory from the moment the runtime's
    CLI has returned (so the CLI's own memory is not counted): the peak over the whole run, the
    steady state over cfg.sample_s after the workload is ready and cfg.settle_s passed."""
    t0 = time.monotonic()
    handle, fd = s.start(argv, cfg.start_timeout)
    sampler = Sampler(0.05)
    sampler.start()
    try:
        if ready and not read_line(fd, ready, cfg.start_timeout):
            raise RuntimeError("the workload did not print `%s` within %g s" %
                               (ready, cfg.start_timeout))
        time.sleep(cfg.settle_s)
        steady_from = time.monotonic()
        time.sleep(cfg.sample_s)
        names = sorted(procs.proc_name(p) for p in procs.alive(procs.descendants()))
    finally:
        samples = sampler.finish()
        s.stop(handle)
    steady = [m for t, m in samples if t >= steady_from]
    if not steady or max(m["total"] for m in steady) == 0:
        raise RuntimeError("found no processes to measure")
    total = [m["total"] for m in steady]
    med = lambda k: statistics.median(m[k] for m in steady)
    return {"steady_kib": statistics.median(total), "min": min(total), "max": max(total),
            "peak_kib": max(m["total"] for _, m in samples),
            "pss_kib": med("pss"), "rss_kib": med("rss"), "memfd_kib": med("memfd"),
            "procs": names, "samples": len(samples), "wall_s": round(time.monotonic() - t0, 2)}


def run_memory(subjects, cfg):
    phase = Phase("memory", cfg.memory_phase_s)
    res = {}
    for name, _, argv, ready in MEMORY:
        res[name] = {}
        for s in subjects:
            why = phase.skip(s)
            if why:
                res[name][s.name] = {"skip": why}
                continue
            try:
                v = measure_memory(s, argv, ready, cfg)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                phase.failed(s, "within" in str(e))
                res[name][s.name] = {"skip": str(e)[:200]}
                log("memory %-12s %-14s skipped: %s" % (name, s.name, e))
                continue
            res[name][s.name] = v
            log("memory %-12s %-14s steady %8.0f KiB (PSS %.0f, memfd %.0f), peak %8.0f KiB, "
                "%d procs: %s" % (name, s.name, v["steady_kib"], v["pss_kib"], v["memfd_kib"],
                                  v["peak_kib"], len(v["procs"]), " ".join(v["procs"])))
    return res


# ---- setup ------------------------------------------------------------------------------

def first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode(errors="replace").strip()
        return out.splitlines()[0] if out else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def make_subjects(cfg, rootfs, workdir, tmp):
    spec = base_spec(rootfs, workdir)
    subjects = [Native(rootfs, tmp)]

    runc = shutil.which("runc") or "/usr/sbin/runc"
    s = Oci("runc", "runc", [runc], workdir, spec, rootfs)
    if not os.access(runc, os.X_OK):
        s.reason = "runc is not installed (apt-get install runc)"
    s.version = first_line([runc, "--version"])
    subjects.append(s)

    runsc = shutil.which("runsc") or "/usr/bin/runsc"
    for plat in ("ptrace", "kvm"):
        s = Oci("runsc-" + plat, "runsc --platform=" + plat,
                [runsc, "--platform=" + plat, "--network=none"], workdir, spec, rootfs)
        if not os.access(runsc, os.X_OK):
            s.reason = "runsc is not installed (apt-get install runsc)"
        elif plat == "kvm" and not os.path.exists("/dev/kvm"):
            s.reason = "no /dev/kvm"
        s.version = first_line([runsc, "--version"])
        subjects.append(s)

    cvisor = os.path.abspath(cfg.cvisor or os.path.join(cfg.build, "cvisor"))
    for plat in ("ptrace", "systrap", "kvm"):
        s = Oci("cvisor-" + plat, "cvisor --platform=" + plat,
                [cvisor, "--platform=" + plat, "--network=none"], workdir, spec, rootfs)
        if cfg.cvisor_unbuilt and not cfg.cvisor:
            s.reason = "build/cvisor not built: " + cfg.cvisor_unbuilt
        elif not os.access(cvisor, os.X_OK):
            s.reason = "build/cvisor not built: %s does not exist" % cvisor
        elif plat == "kvm" and not os.path.exists("/dev/kvm"):
            s.reason = "no /dev/kvm"
        s.version = cfg.git_rev + (" (%s)" % cvisor if cfg.cvisor else "")
        subjects.append(s)
    return subjects


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    virt = "no vmx/svm"
    with open("/proc/cpuinfo") as f:
        flags = f.read()
        if " vmx" in flags or " svm" in flags:
            virt = "vmx/svm"
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "virt_flags": virt,
            "kvm_module": _kvm_module(),
            "os": _os_release(), "gcc": first_line(["gcc", "--version"])}


def _kvm_module():
    """kvm_intel, kvm_amd or e.g. kvm_pvm (the nested, software-run KVM of our VMs)."""
    try:
        mods = sorted(m for m in os.listdir("/sys/module") if m.startswith("kvm_"))
        return ", ".join(mods) or ("kvm" if os.path.isdir("/sys/module/kvm") else "none")
    except OSError:
        return "?"


def _os_release():
    try:
        with open("/etc/os-release") as f:
            kv = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        return kv.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        return "?"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def set_mode(cfg):
    """Repetitions, timeouts and time budgets of a full run, or of a QUICK=1 smoke test."""
    if cfg.quick:
        cfg.rounds, cfg.rep_ms, cfg.reps, cfg.micro_timeout = 1, 30, 3, 10
        cfg.runs, cfg.warmup, cfg.min_runs, cfg.macro_budget_s = 3, False, 1, 20
        cfg.macro_timeout_add, cfg.macro_timeout_mul = 10, 30
        cfg.probe_timeout, cfg.start_timeout, cfg.settle_s, cfg.sample_s = 10, 15, 0.5, 1.0
        cfg.micro_budget_s, cfg.macro_phase_s, cfg.memory_phase_s = 45, 90, 40
    else:
        cfg.rounds, cfg.rep_ms, cfg.reps, cfg.micro_timeout = 5, 100, 3, 30
        cfg.runs, cfg.warmup, cfg.min_runs, cfg.macro_budget_s = 5, True, 3, 120
        cfg.macro_timeout_add, cfg.macro_timeout_mul = 20, 50
        cfg.probe_timeout, cfg.start_timeout, cfg.settle_s, cfg.sample_s = 20, 30, 1.0, 3.0
        cfg.micro_budget_s, cfg.macro_phase_s, cfg.memory_phase_s = 720, 720, 240


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out-md", help="default: docs/performance.md, with --quick "
                    "BUILD/bench/performance.md (a smoke test must not overwrite the docs)")
    ap.add_argument("--out-png", help="default: next to --out-md")
    ap.add_argument("--cvisor-unbuilt", default="", help="why build/cvisor is not usable")
    ap.add_argument("--cvisor", default="", help="another cvisor binary than BUILD/cvisor")
    ap.add_argument("--git-rev", default="unknown")
    ap.add_argument("--only", default="", help="comma-separated subjects to run (debugging)")
    ap.add_argument("--phases", default="micro,macro,memory")
    cfg = ap.parse_args()
    set_mode(cfg)
    # run.sh forwards ^C as TERM: exit through the finally below, which deletes containers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = os.path.abspath(os.path.join(cfg.build, "bench"))
    if not cfg.out_md:
        cfg.out_md = os.path.join(workdir, "performance.md") if cfg.quick else \
            "docs/performance.md"
        if cfg.quick and os.path.exists("docs/performance.md"):
            shutil.copy("docs/performance.md", cfg.out_md)  # the prose around the results
    if not cfg.out_png:
        cfg.out_png = os.path.splitext(cfg.out_md)[0] + ".png"
    rootfs = os.path.join(workdir, "rootfs")
    tmp = "/dev/shm/cvbench-%d" % os.getpid()
    os.makedirs(tmp)
    if not procs.become_subreaper():
        log("warning: PR_SET_CHILD_SUBREAPER failed; sandbox memory may miss processes")

    t_start = time.time()
    subjects = make_subjects(cfg, rootfs, workdir, tmp)
    if cfg.only:
        keep = cfg.only.split(",")
        subjects = [s for s in subjects if s.name in keep]
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(t_start)),
            "quick": cfg.quick, "machine": machine(), "load_start": loadavg(),
            "invocation": os.environ.get("BENCH_INVOCATION", "tools/bench/bench.py"),
            "git_rev": cfg.git_rev,
            "settings": {"micro_rounds": cfg.rounds, "micro_rep_ms": cfg.rep_ms,
                         "micro_reps": cfg.reps, "micro_timeout_s": cfg.micro_timeout,
                         "macro_runs": cfg.runs, "macro_warmup": cfg.warmup,
                         "macro_budget_s": cfg.macro_budget_s,
                         "memory_settle_s": cfg.settle_s, "memory_sample_s": cfg.sample_s,
                         "phase_budgets_s": [cfg.micro_budget_s, cfg.macro_phase_s,
                                             cfg.memory_phase_s]}}
    results = {"meta": meta}
    try:
        for s in subjects:
            t = time.monotonic()
            s.probe(cfg.probe_timeout)
            log("subject %-14s %s (%.1f s)" % (s.name, "ok" if not s.reason else
                                               "SKIPPED: " + s.reason, time.monotonic() - t))
        meta["phase_s"] = {}
        for phase, fn in (("micro", run_micro), ("macro", run_macro), ("memory", run_memory)):
            if phase in cfg.phases.split(","):
                t = time.monotonic()
                results[phase] = fn(subjects, cfg)
                meta["phase_s"][phase] = round(time.monotonic() - t, 1)
                log("%s phase: %.0f s" % (phase, meta["phase_s"][phase]))
    finally:
        procs.kill_descendants()
        for s in subjects:
            s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    meta["load_end"] = loadavg()
    meta["duration_s"] = round(time.time() - t_start, 1)
    results["subjects"] = [{"name": s.name, "title": s.title, "command": s.command,
                            "version": s.version, "reason": s.reason,
                            "timeouts": s.timeouts} for s in subjects]
    results["labels"] = {
        "micro": [(n, l) for n, l, _ in MICRO],
        "macro": [(n, l) for n, l, *_ in MACRO],
        "memory": [(n, l) for n, l, *_ in MEMORY],
    }
    out = os.path.join(workdir, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    log("raw results: " + out)
    report.write(results, cfg.out_md, cfg.out_png, workdir)
    log("wrote %s and %s (%.0f s)" % (cfg.out_md, cfg.out_png, time.time() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
