#!/usr/bin/env python3
"""Local durability: a node answers 202 to a hit only once the hit is on its disk.

Several clients post batches of consented visitors' hits to one node; while their requests are in
flight the node is killed with SIGKILL, then restarted on the same data folder. Afterwards every
acknowledged hit is in its store (read back through each visitor's export, which lists event ids),
and nothing is there that was never sent. Run as `make test` runs it:

    python3 Tests/Durability/kill_test.py --footfall .build/debug/footfall
"""
import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import credentials, web  # noqa: E402
from footfall_harness.exports import stored_ids  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import BROWSER  # noqa: E402
from footfall_harness.hits import event_id  # noqa: E402
from footfall_harness.solo import SoloNode  # noqa: E402
from footfall_harness.waits import wait_for  # noqa: E402

SITE = "localhost"
WRITERS = 8
VISITORS_PER_WRITER = 6
BATCH = 25
# Acknowledged hits before the kill: enough group commits that a lost one would show.
ACKED_BEFORE_KILL = 2_000


class Writers:
    """Clients posting batches until told to stop; the log of what each sent and what was acknowledged."""

    def __init__(self, base, token):
        self.base, self.token = base, token
        self.lock = threading.Lock()
        self.sent, self.acked = set(), set()
        self.in_flight = 0              # requests sent and not yet answered
        self.cut_short = 0              # requests the kill left without an answer
        self.refused = []               # answers other than 202 (none are expected)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(n,), daemon=True) for n in range(WRITERS)]

    def clients(self, writer):
        return [f"dur{writer:02d}v{k:02d}xxxxxxxx" for k in range(VISITORS_PER_WRITER)]

    def all_clients(self):
        return [client for writer in range(WRITERS) for client in self.clients(writer)]

    def write(self, writer):
        rng, counter = random.Random(writer), 0
        while not self.stopping.is_set():
            now, batch = int(time.time() * 1000), []
            for _ in range(BATCH):
                counter += 1
                client = rng.choice(self.clients(writer))
                batch.append({"site": SITE, "id": f"w{writer}-{counter:08d}", "ts": now, "kind": "pageview",
                              "url": f"http://{SITE}/p/{counter % 7}", "consent": True, "vid": client})
            ids = [event_id(SITE, hit["id"], hit["ts"]) for hit in batch]
            headers = {"Authorization": f"Bearer {self.token}", "User-Agent": BROWSER,
                       "X-Forwarded-For": f"203.0.113.{rng.randint(1, 254)}"}
            with self.lock:
                self.sent.update(ids)
                self.in_flight += 1
            status, body = web.call_json(self.base + "/api/event", "POST", batch, headers, timeout=10)
            with self.lock:
                self.in_flight -= 1
                if status == 202 and body and body.get("accepted", 0) + body.get("duplicates", 0) == len(batch):
                    self.acked.update(ids)
                elif status == 0:
                    self.cut_short += 1
                    return  # the node is gone: this client stops
                else:
                    self.refused.append(f"{status} {body}")
                    return

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"))
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="footfall-durability-")
    node = SoloNode(options.footfall, folder)
    try:
        node.start()
        token = credentials.bootstrap_token(node.process.log_path)
        check(token is not None, "the fresh node printed its API token")
        writers = Writers(node.base, token)
        writers.start()
        reached = wait_for(lambda: len(writers.acked) >= ACKED_BEFORE_KILL, 120, interval=0.05)
        check(reached and not writers.refused,
              f"{ACKED_BEFORE_KILL} hits acknowledged before the kill, none refused ({len(writers.acked)}; {writers.refused[:1]})")
        with writers.lock:
            in_flight = writers.in_flight
        node.process.signal(signal.SIGKILL)
        node.process.wait(timeout=30)
        check(node.process.popen.returncode == -signal.SIGKILL, "the node died of SIGKILL")
        writers.stop()
        check(in_flight > 0 and writers.cut_short > 0,
              f"the kill came while batches were in flight ({in_flight} in flight, {writers.cut_short} left unanswered)")

        node.start()
        stored = stored_ids(node.base, token, SITE, writers.all_clients())
        lost = writers.acked - stored
        check(writers.acked and not lost, f"every acknowledged hit is stored after the restart ({len(writers.acked)} acknowledged, {len(lost)} missing)")
        check(stored <= writers.sent, f"nothing is stored that was never sent ({len(stored - writers.sent)})")
        unanswered = writers.sent - writers.acked
        print(f"     {len(unanswered)} hits sent without an answer; {len(unanswered & stored)} of them were stored")
    finally:
        node.process.stop(timeout=10)
    finish("durability", folder)
    print("every acknowledged hit survived kill -9")


if __name__ == "__main__":
    main()
