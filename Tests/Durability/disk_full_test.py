#!/usr/bin/env python3
"""A full data disk: refused writes, never a lost acknowledged hit, never a dead node.

One node whose data folder is on a tmpfs of its own (so the disk can be filled; root only, as
the chaos suite). Run as `make test` runs it:

    python3 Tests/Durability/disk_full_test.py --footfall .build/debug/footfall

  1. Below its reserve (FOOTFALL_DISK_RESERVE_MB): the disk is filled to leave less free than the
     reserve. New hits are refused with 503 (not acknowledged), an erasure still goes through (it
     only deletes), reads answer, and once space is freed hits are taken again without a restart.
  2. Past it (the disk filled by something else): with no reserve, hits are posted into a
     completely full disk by four clients until they are refused. Debian's RocksDB 7.8 may abort
     the node there (when its switch to a new log fails for space); either way, once the disk is
     freed and the node restarted, it holds every acknowledged hit and nothing never sent.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import credentials, web  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import BROWSER  # noqa: E402
from footfall_harness.hits import event_id, visitor_hex  # noqa: E402
from footfall_harness.solo import SoloNode  # noqa: E402

SITE = "localhost"
DISK_MB = 320
RESERVE_MB = 96
# A visitor's hits a day are capped at 10,000: the full-disk part spreads its hits over these.
VISITORS = [f"diskfull{k:02d}xxxxxxxx" for k in range(40)]
BATCH = 100
# Enough to fill RocksDB's preallocated write-ahead log and the first memtable (32 MiB) past it.
BATCHES_MAX = 3_000
WRITERS = 4


def free_mb(path):
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize / (1 << 20)


def fill(disk, leave_mb):
    """A filler file taking all but `leave_mb` of the disk's free space."""
    size = max(0, int((free_mb(disk) - leave_mb) * (1 << 20)))
    subprocess.run(["fallocate", "-l", str(size), os.path.join(disk, "filler")], check=True)


class Client:
    def __init__(self, node, token):
        self.node, self.token = node, token
        self.lock = threading.Lock()
        self.counter = 0
        self.sent, self.acked = set(), set()
        self.visitor_of = {}

    def post(self, visitors):
        """One batch of hits of `visitors` (consented); (status, body)."""
        now, batch = int(time.time() * 1000), []
        with self.lock:
            for n in range(BATCH):
                self.counter += 1
                batch.append({"site": SITE, "id": f"hit{self.counter:09d}", "ts": now, "kind": "pageview",
                              "url": f"http://{SITE}/p/{self.counter % 50}", "title": "t" * 250,
                              "consent": True, "vid": visitors[n % len(visitors)]})
            ids = {event_id(SITE, hit["id"], hit["ts"]) for hit in batch}
            self.visitor_of.update({event_id(SITE, hit["id"], hit["ts"]): hit["vid"] for hit in batch})
            self.sent |= ids
            # An address per batch (loopback is the trusted proxy): the per-address limit is not what is tested.
            # (Addresses are limited by /24.)
            batch_number = self.counter // BATCH
            address = f"100.{64 + (batch_number >> 8 & 63)}.{batch_number & 255}.1"
        status, body = web.call_json(self.node.base + "/api/event", "POST", batch, dict(self.headers(), **{"X-Forwarded-For": address}),
                                     timeout=30)
        if status == 202 and body and body.get("accepted", 0) + body.get("duplicates", 0) == len(batch):
            with self.lock:
                self.acked |= ids
        return status, body

    def headers(self):
        return {"Authorization": f"Bearer {self.token}", "User-Agent": BROWSER}

    def stored(self, visitors):
        """Every event id the node holds of these visitors (their exports), or None if a read failed."""
        ids = set()
        for client in visitors:
            status, body = web.call_json(f"{self.node.base}/api/sites/{SITE}/visitors/{visitor_hex(SITE, client)}/export",
                                         headers=self.headers(), timeout=60)
            if status == 200:
                ids.update(bytes.fromhex(event["id"]) for event in body["events"])
            elif status != 404:
                return None
        return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"))
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="footfall-disk-full-")
    disk = os.path.join(folder, "disk")
    os.makedirs(disk)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", disk], check=True)
    node = SoloNode(options.footfall, folder, data=os.path.join(disk, "data"))
    try:
        node.start(env={"FOOTFALL_DISK_RESERVE_MB": str(RESERVE_MB)})
        token = credentials.bootstrap_token(node.process.log_path)
        check(token is not None, "the fresh node printed its API token")
        client = Client(node, token)
        below_the_reserve(node, client, disk)
        past_the_reserve(node, client, disk)
    finally:
        node.process.stop()
        subprocess.run(["umount", disk])
    finish("disk-full", folder)


def log_since(node, offset):
    with open(node.process.log_path, errors="replace") as log:
        log.seek(offset)
        return log.read()


def below_the_reserve(node, client, disk):
    visitors = VISITORS[:4]
    statuses = [client.post(visitors)[0] for _ in range(5)]
    check(statuses == [202] * 5, f"control: hits are taken while the disk has room ({statuses})")
    fill(disk, leave_mb=RESERVE_MB / 2)
    check(free_mb(disk) < RESERVE_MB, f"the disk is filled below the node's reserve ({free_mb(disk):.0f} MiB free, reserve {RESERVE_MB})")
    log_start = os.path.getsize(node.process.log_path)
    status, body = client.post(visitors)
    check(status == 503 and "MiB free, under the" in log_since(node, log_start),
          f"a hit below the reserve is refused with 503, and the log says why ({status} {body})")
    stored = client.stored(visitors)
    check(stored == client.acked, f"reads answer, with every acknowledged hit and no refused one ({len(client.acked)} acknowledged, "
                                  f"{len(stored or ())} stored)")
    erased = visitors[0]
    status, receipt = web.call_json(f"{node.base}/api/sites/{SITE}/erasures", "POST", {"client_id": erased}, client.headers())
    check(status == 200 and receipt.get("status") == "complete",
          f"an erasure goes through below the reserve: it only deletes ({status} {receipt})")
    gone = client.stored([erased])
    check(gone == set(), f"the erased visitor's hits are gone ({len(gone or ())} left)")
    client.acked = {i for i in client.acked if client.visitor_of[i] != erased}
    os.remove(os.path.join(disk, "filler"))
    pid = node.process.pid
    status, _ = client.post(visitors[1:])
    check(status == 202 and node.process.pid == pid, f"once space is freed, hits are taken again without a restart ({status})")


def past_the_reserve(node, client, disk):
    node.process.stop()
    node.start(env={"FOOTFALL_DISK_RESERVE_MB": "0"})
    # A first write makes RocksDB preallocate its new log while there is room: the disk then fills
    # up under it and the failure comes where it came on a real disk, at the switch to the next log.
    check(client.post(VISITORS)[0] == 202, "control: the restarted node takes hits")
    fill(disk, leave_mb=0)
    check(free_mb(disk) < 1, f"with no reserve, the disk is filled completely ({free_mb(disk):.1f} MiB free)")
    # Four clients at once, as a node meets them.
    refusals = []

    def write(visitors):
        for _ in range(BATCHES_MAX // WRITERS):
            status, body = client.post(visitors)
            if status != 202:
                refusals.append((status, body))
                return
    threads = [threading.Thread(target=write, args=(VISITORS[k::WRITERS],)) for k in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refusal = refusals[0] if refusals else None
    check(refusal is not None, f"the full disk stops the writes ({len(client.acked)} acknowledged; then {refusal})")
    print(f"     the node {'is still up' if node.process.running else 'stopped'} after the disk filled")
    os.remove(os.path.join(disk, "filler"))
    node.process.stop()
    node.start(env={"FOOTFALL_DISK_RESERVE_MB": str(RESERVE_MB)})
    stored = client.stored(VISITORS)
    lost = client.acked - (stored or set())
    check(stored is not None and not lost,
          f"after the disk is freed and the node restarted, every acknowledged hit is there ({len(client.acked)} acknowledged, {len(lost)} missing)")
    check(stored is not None and stored <= client.sent, "and nothing that was never sent")


if __name__ == "__main__":
    main()
