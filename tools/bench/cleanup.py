"""Removes what an interrupted benchmark run left behind: containers in the private --root of
every OCI subject (each root records its runtime's command line in a `.cli` file), their
cgroups under /cvbench (also those of harness processes that are gone), and the native
scratch directories /dev/shm/cvbench-<pid> of harness processes that are gone.

usage: cleanup.py WORKDIR   (WORKDIR: build/bench)
"""
import glob
import json
import os
import shutil
import sys

import procs
from subjects import leftover_ids, rmdir_cgroups


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    for cli_file in glob.glob(os.path.join(work, "state", "*", ".cli")):
        root = os.path.dirname(cli_file)
        with open(cli_file) as f:
            argv = json.load(f)
        for cid in leftover_ids(root):
            procs.run(argv[:1] + ["--root", root] + argv[1:] + ["delete", "--force", cid], 30)
            rmdir_cgroups(cid)
    for d in glob.glob("/sys/fs/cgroup/*/cvbench/cvb-*"):  # ids are cvb-<harness pid>-<n>
        pid = os.path.basename(d).split("-")[1]
        if not os.path.exists("/proc/" + pid):
            rmdir_cgroups(os.path.basename(d), wait_s=0)
    for d in glob.glob("/dev/shm/cvbench-*"):
        pid = d.rsplit("-", 1)[1]
        if pid.isdigit() and not os.path.exists("/proc/" + pid):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
