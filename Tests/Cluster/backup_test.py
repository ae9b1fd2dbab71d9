#!/usr/bin/env python3
"""Backup and restore of a cluster node under load, run by `make test`.

Three `footfall serve` processes on loopback (RF 3, so each holds every event). While clients
write through all three:
  1. `footfall backup` snapshots node-2 into a folder (and, in a second run, as a tar stream), with
     progress; node-2 keeps serving and keeps no snapshot on its disk afterwards;
  2. writing goes on after the snapshot, and a visitor the snapshot holds is erased;
  3. node-2's disk is lost (kill -9, folder deleted); `footfall restore` rebuilds it from the backup
     folder and it rejoins: it repairs before serving reads, then holds every acknowledged hit
     (those written after the snapshot too), and none of the visitor erased after the snapshot —
     the snapshot held them, so their fences did the deleting.
Exits non-zero on any failed check.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import namedtuple

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import files, hits, waits  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster, command_line  # noqa: E402
from footfall_harness.probe import CHECKER, Probe  # noqa: E402
from footfall_harness.stubs import generate_stubs  # noqa: E402

SITE = "localhost"
# Each hit's title names its visitor, so a visitor's raw events can be found in files.
CLIENTS = [f"backup-visitor-{k:02d}" for k in range(8)]
ERASED = CLIENTS[0]
Peer = namedtuple("Peer", "name internal")


class Writers:
    """Two clients posting small batches through random nodes; the log of what was acknowledged."""

    def __init__(self, api):
        self.api = api
        self.lock = threading.Lock()
        self.sent, self.acked = {}, set()     # event id -> client id; ids acknowledged
        self.stopping = threading.Event()
        self.paused = threading.Event()      # set: no new batches (the erased visitor stops first)
        self.threads = [threading.Thread(target=self.write, args=(n,), daemon=True) for n in range(2)]

    def write(self, writer):
        rng, counter = random.Random(writer), 0
        while not self.stopping.is_set():
            batch = []
            for _ in range(5):
                counter += 1
                client = rng.choice(CLIENTS[1:] if self.paused.is_set() else CLIENTS)
                batch.append(hits.pageview(f"backup-{writer}-{counter:06d}", SITE, vid=client, title=f"title-of-{client}"))
            with self.lock:
                for hit in batch:
                    self.sent[hits.event_id(SITE, hit["id"], hit["ts"])] = hit["vid"]
            status, body = self.api.hits(rng.choice(["node-1", "node-3"]), batch, client=f"203.0.113.{rng.randint(1, 254)}")
            if status == 202 and body and body.get("accepted", 0) + body.get("duplicates", 0) == len(batch):
                with self.lock:
                    self.acked.update(hits.event_id(SITE, hit["id"], hit["ts"]) for hit in batch)
            self.stopping.wait(0.05)

    def acked_of(self, clients):
        with self.lock:
            return {i for i in self.acked if self.sent[i] in clients}


def main():
    parser = command_line(16940)
    options = parser.parse_args()
    # Uncompressed files, so a visitor's raw events can be searched for in the backup; repair every
    # 2 s, so the restored node catches up within the test.
    cluster = LocalCluster.for_test(options, "footfall-backup-", env={"FOOTFALL_REPAIR_INTERVAL_S": "2", "FOOTFALL_COMPRESSION": "none",
                                                                     "FOOTFALL_TRUSTED_PROXIES": "127.0.0.1"})
    folder = cluster.folder
    stubs_folder = os.path.join(folder, "stubs")
    os.makedirs(stubs_folder)
    probe = None
    try:
        cluster.issue_certificates(NAMES + [CHECKER])
        cluster.start_all()
        settled = cluster.wait(cluster.settled, 60)
        token = cluster.bootstrap_token()
        check(settled and token is not None, "three nodes form a cluster and node-1 printed its API token")
        if not settled or token is None:
            raise SystemExit(f"stopped early; logs and data kept in {folder}")
        api = ClusterAPI(cluster, token)
        salted = cluster.wait_salted(20)
        check(salted, "every node has the daily-salt seed")
        probe = Probe(cluster.certs, generate_stubs(stubs_folder))
        run_checks(cluster, api, probe, folder)
    finally:
        if probe:
            probe.close()
        cluster.stop()
    finish("backup", folder)


def backup(cluster, name, to):
    """Runs `footfall backup` of `name` as the operator; (exit code, standard output, standard error)."""
    command = [cluster.binary, "backup", "--node", cluster.internal(name), "--certs", cluster.certs, "--to", to]
    done = subprocess.run(command, capture_output=True, timeout=120)
    return done.returncode, done.stdout, done.stderr.decode(errors="replace")


def run_checks(cluster, api, probe, folder):
    writers = Writers(api)
    for thread in writers.threads:
        thread.start()
    try:
        cluster.wait(lambda: len(writers.acked_of(CLIENTS)) >= 200 and writers.acked_of([ERASED]), 60)

        # 1. Snapshots of node-2 while it serves.
        snapshot = os.path.join(folder, "node-2-backup")
        code, _, progress = backup(cluster, "node-2", snapshot)
        check(code == 0, f"footfall backup of node-2 succeeds while clients write ({progress.strip().splitlines()[-1:]})")
        with open(os.path.join(snapshot, "footfall-backup.json")) as handle:
            manifest = json.load(handle)
        check(manifest["node"] == "node-2" and any(f["path"].startswith("db/") for f in manifest["files"]),
              f"the backup's manifest names node-2 and its store's files ({len(manifest['files'])} files)")
        check("[1/" in progress, "the backup reports progress file by file")
        check(not os.path.exists(os.path.join(snapshot, "salt.seed")), "the backup holds no daily-salt seed")
        check(files.holding(snapshot, f"title-of-{ERASED}"),
              f"control: the backup holds {ERASED}'s hits (so the restore below has something to resurrect)")
        code, tar, _ = backup(cluster, "node-2", "-")
        listing = subprocess.run(["tar", "-t", "-f", "-"], input=tar, capture_output=True).stdout.decode().split()
        check(code == 0 and "footfall-backup.json" in listing and any(n.startswith("db/") for n in listing),
              f"footfall backup --to - writes a tar stream tar reads ({len(listing)} entries)")
        leftovers = [n for n in os.listdir(os.path.join(cluster.folder, "node-2")) if n.startswith(".backup-")]
        check(not leftovers, f"node-2 keeps no snapshot on its disk once sent ({leftovers})")

        # 2. More writes after the snapshot; then the erasure of a visitor the snapshot holds.
        writers.paused.set()
        after = len(writers.acked_of(CLIENTS))
        cluster.wait(lambda: len(writers.acked_of(CLIENTS)) >= after + 100, 60)
        status, receipt = api.request("node-1", f"/api/sites/{SITE}/erasures", {"client_id": ERASED}, method="POST")
        visitor = (receipt or {}).get("visitor")
        complete = status == 200 and cluster.wait(
            lambda: api.request("node-3", f"/api/sites/{SITE}/erasures/{visitor}")[1].get("status") == "complete", 30)
        check(complete, f"{ERASED} is erased on all three replicas after the snapshot ({status})")

        # 3. node-2's disk is lost; it is restored from the backup and rejoins.
        process = cluster.processes["node-2"]
        process.kill()
        shutil.rmtree(os.path.join(cluster.folder, "node-2"))
        restored = subprocess.run([cluster.binary, "restore", "--from", snapshot, "--data", os.path.join(cluster.folder, "node-2")],
                                  capture_output=True, text=True)
        check(restored.returncode == 0, f"footfall restore rebuilds node-2's folder ({restored.stdout.strip().splitlines()[:1]})")
        # node-2's log goes on in the same file; only what the restored process writes counts.
        start = os.path.getsize(cluster.log_path("node-2"))
        cluster.start("node-2")

        def restored_log():
            with open(cluster.log_path("node-2"), errors="replace") as log:
                log.seek(start)
                return log.read()
        repaired = cluster.wait(lambda: "repair finished; this node serves reads again" in restored_log(), 60)
        check(repaired, "the restored node-2 repairs before it serves reads of its own")
    finally:
        writers.stopping.set()
        for thread in writers.threads:
            thread.join(timeout=15)

    node2 = Peer("node-2", cluster.internal("node-2"))
    expected = writers.acked_of(CLIENTS[1:])
    day_ms = 86_400_000
    window = (int(time.time() * 1000) - day_ms, int(time.time() * 1000) + day_ms)
    # The last writes reach node-2 by hints or the next repair pass.
    held = set()

    def holds_every_acknowledged():
        held.clear()
        held.update(probe.event_ids(node2, SITE, *window))
        return expected <= held
    waits.wait_for(holds_every_acknowledged, 30, ignoring=waits.NOT_YET + (grpc.RpcError,))
    missing = expected - held
    check(not missing, f"the restored node-2 holds every acknowledged hit, those after the snapshot too ({len(expected)}; {len(missing)} missing)")
    erased = writers.acked_of([ERASED])
    check(erased and not (erased & held),
          f"the restored node-2 holds none of the {len(erased)} hits of the visitor erased after the snapshot")
    status, _ = api.request("node-2", f"/api/sites/{SITE}/visitors/{hits.visitor_hex(SITE, ERASED)}")
    check(status == 404, f"node-2 does not show the erased visitor's profile ({status})")


if __name__ == "__main__":
    main()
