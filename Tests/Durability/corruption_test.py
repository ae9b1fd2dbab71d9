#!/usr/bin/env python3
"""Damaged files: a node never answers from data it cannot trust.

1. A torn tail of the write-ahead log (the node killed mid-ingest, then bytes of a batch that was
   never acknowledged left after the last whole record): the node starts, and holds every
   acknowledged hit and nothing that was never sent.
2. A damaged table file (bytes flipped in the middle of the events family's largest SST, as a
   failing disk or a stray write leaves it): `footfall verify` reads the store clean before and
   names the damage after; the node started on it answers no read wrongly — every export it
   answers holds exactly what was acknowledged for that visitor — and stops at the first damaged
   block it meets (exit 65, a marker in its folder, the operator's advice in its log); started
   again, it refuses at once, pointing at the marker.

Run as `make test` runs it:

    python3 Tests/Durability/corruption_test.py --footfall .build/debug/footfall
"""
import argparse
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import credentials, web  # noqa: E402
from footfall_harness.damage import damage_middle, largest_table, tear_wal_tail, verify  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import BROWSER  # noqa: E402
from footfall_harness.exports import ExportFailed, stored_ids  # noqa: E402
from footfall_harness.hits import event_id  # noqa: E402
from footfall_harness.solo import SoloNode  # noqa: E402
from footfall_harness.waits import wait_for  # noqa: E402

SITE = "localhost"
CLIENTS = [f"damage{k:02d}xxxxxxxxxx" for k in range(12)]
STOPPED_BY_DAMAGE = 65


class Log:
    """What the test sent and what the node acknowledged, per consented visitor."""

    def __init__(self):
        self.sent, self.acked, self.by_client = set(), set(), {c: set() for c in CLIENTS}
        self.counter = 0

    def write(self, node, token, batches, batch=25):
        rng = random.Random(self.counter)
        for _ in range(batches):
            now, hits = int(time.time() * 1000), []
            for _ in range(batch):
                self.counter += 1
                hits.append({"site": SITE, "id": f"d-{self.counter:08d}", "ts": now, "kind": "pageview",
                             "url": f"http://{SITE}/p/{self.counter % 9}", "consent": True, "vid": rng.choice(CLIENTS)})
            ids = [event_id(SITE, hit["id"], hit["ts"]) for hit in hits]
            self.sent.update(ids)
            headers = {"Authorization": f"Bearer {token}", "User-Agent": BROWSER, "X-Forwarded-For": f"203.0.113.{rng.randint(1, 254)}"}
            status, body = web.call_json(node.base + "/api/event", "POST", hits, headers, timeout=10)
            if status != 202 or not body or body.get("accepted", 0) + body.get("duplicates", 0) != len(hits):
                raise SystemExit(f"a batch was refused: {status} {body}")
            self.acked.update(ids)
            for hit, id in zip(hits, ids):
                self.by_client[hit["vid"]].add(id)


def reads_until_stopped(node, token, log):
    """Exports every visitor through the damaged node until it stops answering; returns
    (answers checked, wrong answers)."""
    answered, wrong = 0, []
    for _ in range(5):
        for client in CLIENTS:
            try:
                ids = stored_ids(node.base, token, SITE, [client], timeout=10)
            except (ExportFailed, OSError):
                continue
            if not node.process.running:
                break
            answered += 1
            if ids != log.by_client[client]:
                wrong.append(f"{client}: {len(ids)} ids, {len(log.by_client[client])} acknowledged")
        if not node.process.running:
            break
    return answered, wrong


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"))
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="footfall-corruption-")
    node = SoloNode(options.footfall, folder)
    log = Log()
    try:
        # 1. A torn write-ahead log tail.
        node.start()
        token = credentials.bootstrap_token(node.process.log_path)
        check(token is not None, "the fresh node printed its API token")
        log.write(node, token, batches=40)
        node.process.kill()
        check(node.process.popen.returncode == -signal.SIGKILL, "the node died of SIGKILL")
        wal, added = tear_wal_tail(node.data)
        check(added == 3_000, f"half a record was left after the last whole one in {os.path.basename(wal)} ({added} bytes)")
        node.start()
        stored = stored_ids(node.base, token, SITE, CLIENTS)
        check(log.acked <= stored, f"every acknowledged hit is stored after the torn tail ({len(log.acked)} acknowledged, "
              f"{len(log.acked - stored)} missing)")
        check(stored <= log.sent, f"nothing is stored that was never sent ({len(stored - log.sent)})")

        # 2. A damaged table file.
        log.write(node, token, batches=40)
        code, busy = verify(options.footfall, node.data)
        check(code not in (0, 1) and "still running" in busy and "damaged" not in busy,
              f"footfall verify on a running node's folder says it cannot open it, not that it is damaged ({code})")
        node.process.stop()
        check(node.process.popen.returncode == 0, f"the node stopped cleanly ({node.process.popen.returncode})")
        code, listing = verify(options.footfall, node.data)
        check(code == 0 and "clean:" in listing, f"footfall verify reads the store clean ({code}: {listing.strip().splitlines()[-1:]})")
        table = largest_table(listing)
        check(table is not None, "footfall verify lists the events family's table files")
        if table is None:
            return
        before, after = damage_middle(os.path.join(node.data, "db", table))
        check(before != after, f"the bytes of {table} changed ({before[:12]} -> {after[:12]})")
        code, report = verify(options.footfall, node.data)
        check(code == 1 and "Corruption" in report, f"footfall verify names the damage ({code}: {report.strip().splitlines()[-1:]})")
        marker = os.path.join(node.data, "CORRUPTED")
        check(not os.path.exists(marker), "verify leaves no marker (it only reads)")

        log_start = os.path.getsize(node.process.log_path)
        node.start(wait=False)
        served = node.serves(60)
        answered, wrong = reads_until_stopped(node, token, log) if served else (0, [])
        check(not wrong, f"no read was answered wrongly from the damaged store ({answered} exports answered; {wrong[:2]})")
        stopped = wait_for(lambda: not node.process.running, 30)
        code = node.process.popen.returncode
        check(stopped and code == STOPPED_BY_DAMAGE,
              f"the node stopped at the damage ({'served first, ' if served else 'refused to open, '}exit {code})")
        with open(node.process.log_path, errors="replace") as handle:
            handle.seek(log_start)
            output = handle.read()
        check("stopping: RocksDB reported damaged files" in output and "footfall verify" in output,
              "its log says why and what to do")
        check(os.path.exists(marker), "it left the marker in its folder")

        node.process.stop()  # in case it went on serving: the restart below must be a start of its own
        log_start = os.path.getsize(node.process.log_path)
        node.start(wait=False)
        refused = wait_for(lambda: not node.process.running, 30)
        with open(node.process.log_path, errors="replace") as handle:
            handle.seek(log_start)
            output = handle.read()
        check(refused and node.process.popen.returncode != 0 and "RocksDB reported damaged files" in output,
              f"started again, it refuses at once ({node.process.popen.returncode})")
    finally:
        node.process.stop(timeout=10)
    finish("corruption", folder)
    print("a torn log tail loses nothing acknowledged; a damaged table stops the node before a wrong answer")


if __name__ == "__main__":
    main()
