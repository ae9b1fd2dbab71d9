#!/usr/bin/env python3
"""Cluster measurements (`make cluster-measure`, release build): not a test, numbers for notes.

  1. ingest: events/s acknowledged by one node alone (RF=1), then by three nodes (RF=3, QUORUM,
     mutual TLS), same client, same batches (100 hits), same seconds — and their ratio;
  2. query latency through a node that owns none of the site vs through one that does (four
     nodes, RF=3): p50/p99 of the default summary;
  3. convergence: a node killed while writes go on, restarted; seconds until its own data holds
     every acknowledged event.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness import credentials, web  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster  # noqa: E402
from footfall_harness.hits import pageview as hit  # noqa: E402


def ingest(api, names, seconds, threads=8, batch=100):
    acked = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def load(worker):
        number = 0
        while time.monotonic() < stop:
            hits = [hit(f"measure-{worker:02d}-{number:07d}-{k:03d}") for k in range(batch)]
            number += 1
            # A different visitor address per batch, as many visitors behind a load balancer.
            client = f"10.{worker}.{number // 250 % 250}.{number % 250 + 1}"
            status, _ = api.hits(names[number % len(names)], hits, client=client)
            if status == 202:
                with lock:
                    acked[0] += batch

    workers = [threading.Thread(target=load, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return acked[0] / seconds


def start(binary, folder, base):
    """Three nodes, RF=3, settled (everyone normal); node-4 has a certificate for later."""
    cluster = LocalCluster(binary, folder, 1000, base, base + 100, env={"FOOTFALL_TRUSTED_PROXIES": "127.0.0.1"})
    cluster.form(spare=["node-4"])
    if not cluster.wait(cluster.settled, 60):
        raise SystemExit("the cluster did not settle")
    return cluster, ClusterAPI(cluster, cluster.bootstrap_token())


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/release/footfall"))
    parser.add_argument("--seconds", type=int, default=20)
    options = parser.parse_args()

    # 1a. One node alone.
    folder = tempfile.mkdtemp(prefix="footfall-measure-")
    single = LocalCluster(options.footfall, folder, 1000, 21940, 22040,
                          env={"FOOTFALL_REPLICATION_FACTOR": "1", "FOOTFALL_TRUSTED_PROXIES": "127.0.0.1"})
    single.issue_certificates(["node-1"])
    single.start("node-1")
    time.sleep(3)
    one = ingest(ClusterAPI(single, single.bootstrap_token()), ["node-1"], options.seconds)
    single.stop()
    shutil.rmtree(folder, ignore_errors=True)

    # 1b. Three nodes, RF=3, QUORUM, through all three.
    folder = tempfile.mkdtemp(prefix="footfall-measure-")
    cluster, api = start(options.footfall, folder, 22940)
    three = ingest(api, NAMES, options.seconds)
    print(f"ingest, batches of 100 over HTTP, 8 client threads, {options.seconds} s each:")
    print(f"  one node (RF=1):                 {one:10.0f} events/s")
    print(f"  three nodes (RF=3, QUORUM, mTLS): {three:10.0f} events/s  ({three / one:.2f} x one node)", flush=True)

    # 3. Convergence: node-2 killed under writes, restarted.
    cluster.processes["node-2"].kill()
    cluster.wait(lambda: cluster.status("node-1")["node-2"][0] == "MEMBER_STATUS_DEAD", 30)
    ingest(api, ["node-1", "node-3"], 10, threads=2)
    expected = api.own_pageviews("node-1")
    returned = time.monotonic()
    cluster.start("node-2")
    whole = cluster.wait(lambda: (api.own_pageviews("node-2") or 0) >= expected, 120)
    print(f"convergence: node-2 down 10 s under writes, back: its own data whole after "
          f"{time.monotonic() - returned:.1f} s (restart included){'' if whole else ' — NOT within 120 s'}", flush=True)

    # 2. Query latency through a non-owner: a fourth node, sites it does not hold.
    cluster.start("node-4")
    cluster.wait(lambda: cluster.ring_states("node-1").get("node-4") == "normal", 120)
    headers = credentials.session_headers(cluster.login_as_bootstrap_admin())
    owners, outsider, site = None, None, None
    for i in range(40):
        candidate = f"latency{i}.example"
        web.call(api.url("node-1", "/api/sites"), "POST", {"domain": candidate}, headers)
        placement = json.loads(cluster.cli("cluster", "ring", "--json", "--node", cluster.internal("node-1"), "--certs", cluster.certs,
                                           "--site", candidate))["placements"][0]["replicas"]
        if "node-4" not in placement:
            owners, outsider, site = placement, "node-4", candidate
            break
    cluster.wait(lambda: api.request(outsider, f"/api/sites/{site}")[0] == 200, 20)
    api.hits(owners[0], [hit(f"latency-{k:05d}", site=site) for k in range(500)])
    for label, name in [("an owner", owners[0]), ("a non-owner", outsider)]:
        times = []
        for _ in range(200):
            began = time.monotonic()
            status, _ = api.request(name, f"/api/sites/{site}/summary")
            if status == 200:
                times.append((time.monotonic() - began) * 1000)
        print(f"summary through {label} ({name}): p50 {percentile(times, 0.5):.1f} ms, p99 {percentile(times, 0.99):.1f} ms "
              f"({len(times)} requests, answered by {api.replica})", flush=True)
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
