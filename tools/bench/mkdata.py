"""Writes the deterministic data the macro benchmarks read into a rootfs.

usage: mkdata.py ROOTFS [TREE_MB]
  ROOTFS/data/        a TREE_MB (default 50) MiB tree of 100 KiB files in 20 directories,
                      three quarters word-like text and one quarter random bytes, so gzip
                      has real work (it compresses to about 60%)
  ROOTFS/bench/data-1m  1 MiB of random bytes (micro benchmarks read and stat it)
  ROOTFS/bench/insert.sql  one transaction inserting 10,000 rows (sqlite3 benchmark)
Files already present with the right size are kept, so re-running is cheap.
"""
import os
import random
import sys

FILE_SIZE = 100 * 1024
DIRS = 20
SQL_ROWS = 10000


def write_if_changed(path, data):
    if os.path.exists(path) and os.path.getsize(path) == len(data):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def text_pool(rng, size):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    out, n = [], 0
    while n < size:
        w = rng.choice(words)
        out.append(w)
        n += len(w) + 1
    return (" ".join(out)).encode()[:size]


def make_tree(root, mb):
    rng = random.Random(20261121)
    pool = text_pool(rng, 4 << 20)
    nfiles = (mb << 20) // FILE_SIZE
    text_len = FILE_SIZE * 3 // 4
    for i in range(nfiles):
        off = rng.randrange(len(pool) - text_len)
        body = pool[off:off + text_len] + rng.randbytes(FILE_SIZE - text_len)
        write_if_changed(os.path.join(root, "data", "d%02d" % (i % DIRS), "f%04d" % i), body)


def make_sql(path):
    rng = random.Random(10000)
    lines = ["PRAGMA journal_mode=DELETE;", "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);",
             "BEGIN;"]
    for i in range(SQL_ROWS):
        lines.append("INSERT INTO t(name, v) VALUES('row-%d-%08x', %.6f);" % (i, rng.getrandbits(32), rng.random()))
    lines += ["COMMIT;", "SELECT count(*) FROM t;", ""]
    write_if_changed(path, "\n".join(lines).encode())


def main():
    root = sys.argv[1]
    mb = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    make_tree(root, mb)
    write_if_changed(os.path.join(root, "bench", "data-1m"), random.Random(1).randbytes(1 << 20))
    make_sql(os.path.join(root, "bench", "insert.sql"))


if __name__ == "__main__":
    main()
