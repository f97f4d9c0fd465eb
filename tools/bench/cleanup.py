"""Removes what an interrupted benchmark run left behind: containers in the private --root of
every OCI subject (each root records its runtime's command line in a `.cli` file), their
cgroups under /cvbench, and the native scratch directories /dev/shm/cvbench-<pid> of harness
processes that are gone.

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
    for d in glob.glob("/dev/shm/cvbench-*"):
        pid = d.rsplit("-", 1)[1]
        if pid.isdigit() and not os.path.exists("/proc/" + pid):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
