"""Damaging a stopped node's files as disks and crashes do, and `footfall verify`'s view of them:
used by the single-node corruption test and the chaos lab's damage scenarios."""

import glob
import hashlib
import os
import random
import subprocess


def verify(binary, data):
    """`footfall verify --data <data>`: (exit status, its output)."""
    run = subprocess.run([binary, "verify", "--data", data], capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def tear_wal_tail(data, seed=7, length=3_000):
    """Leaves part of a record after the newest write-ahead log's last whole one, as a crash
    mid-append does; returns (file, bytes added)."""
    wal = max(glob.glob(os.path.join(data, "db", "*.log")), key=lambda p: int(os.path.basename(p).split(".")[0]))
    before = os.path.getsize(wal)
    with open(wal, "ab") as handle:
        handle.write(random.Random(seed).randbytes(length))
    return wal, os.path.getsize(wal) - before


def damage_middle(path, length=256):
    """Flips `length` bytes in the middle of a file; returns its SHA-256 before and after."""
    with open(path, "r+b") as handle:
        data = handle.read()
        middle = len(data) // 2
        handle.seek(middle)
        handle.write(bytes(b ^ 0x5A for b in data[middle:middle + length]))
    with open(path, "rb") as handle:
        after = handle.read()
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(after).hexdigest()


def largest_table(listing, family="events"):
    """The family's largest table file (its path under the node's `db` folder) from `footfall
    verify`'s listing (family, name, level, size), or None."""
    tables = []
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0] == family:
            tables.append((int(fields[3].split()[0]), fields[1]))
    return max(tables)[1].lstrip("/") if tables else None
