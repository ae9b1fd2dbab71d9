#!/usr/bin/env python3
"""`make scale`: many small sites on three release nodes (RF 3, mutual TLS). Creates them, sends
each a few hits, then runs `footfall cluster repair` on node-1 twice — once with every replica
alike, once after node-3 missed hits on a few sites while it was down past its hint window —
and checks the bounds the README states:

- a repair pass compares a site with a peer by its summary (`RepairSummaries`, a page of 500
  sites per call) and exchanges digests only for the sites that differ: with every replica alike
  no site is exchanged; after the outage the sites node-3 missed are exchanged (by its own repair
  or node-1's) and no others, and node-3 then holds every hit it missed;
- the decoded-site cache holds at most 100,000 sites and 10,000 names that are no site, however
  many made-up site names hits carry;
- memory: each node's resident set stays under 1.5 GiB.

Prints the pass times and writes .build/scale.json.

    python3 Bench/scale.py [--sites 100000] [--footfall .build/release/footfall]
"""
import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness import metrics, web  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster  # noqa: E402

THREADS = 16
HITS_PER_SITE = 2
BATCH = 100
MISSED_SITES = 200
MEMORY_MAX_MIB = 1536
MADE_UP_SITES = 15_000
HINT_WINDOW_S = 20


def site_name(n):
    return f"s{n:06d}.scale.example"


def in_parallel(work, items):
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def create_sites(api, count):
    def create(n):
        for _ in range(20):
            status, _ = api.request(NAMES[n % len(NAMES)], "/api/sites", {"domain": site_name(n), "retention_days": 30}, timeout=30)
            if status in (201, 409):
                return True
            time.sleep(0.5)
        return False
    return sum(in_parallel(create, range(count)))


def post_hits(api, sites, tag, nodes=NAMES):
    """HITS_PER_SITE hits to each of `sites`, in batches of BATCH through `nodes`; how many were
    acknowledged."""
    now = int(time.time() * 1000)
    hits = [{"site": site_name(n), "id": f"{tag}-{n}-{k}", "ts": now, "url": f"https://{site_name(n)}/p/{k}"}
            for n in sites for k in range(HITS_PER_SITE)]
    batches = [hits[i:i + BATCH] for i in range(0, len(hits), BATCH)]

    def post(index):
        for attempt in range(20):
            address = f"100.{64 + index % 64}.{(index >> 6) & 255}.{attempt}"
            status, body = api.hits(nodes[(index + attempt) % len(nodes)], batches[index], client=address)
            if status == 202:
                return len(batches[index])
            time.sleep(0.5)
        return 0
    return sum(in_parallel(post, range(len(batches))))


def metric(api, name, metric_name, labels=None):
    """The metric's value on `name` (`metrics.value`; 0 when it has no sample yet), asked until the
    node answers (a node busy repairing may take a while)."""
    for _ in range(30):
        status, _, raw = web.exchange(api.url(name, "/metrics"), "GET", None, {}, 30)
        if status == 200:
            return metrics.value(raw.decode(errors="replace"), metric_name, labels) or 0
        time.sleep(1)
    raise RuntimeError(f"{name} did not answer /metrics")


def rss_mib(cluster, name):
    with open(f"/proc/{cluster.processes[name].pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("VmRSS")).split()[1]) / 1024


def repair_pass(cluster, api):
    """`footfall cluster repair` on node-1: (seconds, exit status, sites done, sites in all, site-peer pairs
    settled by summary, by exchange)."""
    for _ in range(600):
        before = {by: metric(api, "node-1", "footfall_repair_site_comparisons_total", f'by="{by}"') for by in ("summary", "exchange")}
        started = time.monotonic()
        run = subprocess.run([cluster.binary, "cluster", "repair", "--node", cluster.internal("node-1"), "--certs", cluster.certs],
                             capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - started
        if "already running" not in run.stderr:  # node-1's own pass (after a gap) goes first
            break
        time.sleep(1)
    done = re.findall(r"\[(\d+)/(\d+)\]", run.stdout + run.stderr)
    after = {by: metric(api, "node-1", "footfall_repair_site_comparisons_total", f'by="{by}"') for by in ("summary", "exchange")}
    return (seconds, run.returncode, int(done[-1][0]) if done else 0, int(done[-1][1]) if done else 0,
            int(after["summary"] - before["summary"]), int(after["exchange"] - before["exchange"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build", "release", "footfall"))
    parser.add_argument("--folder", default=os.path.join(ROOT, ".build", "scale"))
    parser.add_argument("--sites", type=int, default=100_000)
    options = parser.parse_args()
    shutil.rmtree(options.folder, ignore_errors=True)
    os.makedirs(options.folder)
    # Background passes wait an hour (but for a node that needs repair); a hint expires after
    # HINT_WINDOW_S, so node-3, down longer, misses what was written meanwhile.
    cluster = LocalCluster(options.footfall, os.path.join(options.folder, "nodes"), 1000, 25340, 25440,
                           env={"FOOTFALL_TRUSTED_PROXIES": "127.0.0.1", "FOOTFALL_REPAIR_INTERVAL_S": "3600",
                                "FOOTFALL_HINT_WINDOW_S": str(HINT_WINDOW_S)})
    results = {"sites": options.sites}
    try:
        scale(cluster, options.sites, results)
    finally:
        cluster.stop()
        with open(os.path.join(ROOT, ".build", "scale.json"), "w") as handle:
            json.dump(results, handle, indent=1)
    finish("scale", options.folder)


def scale(cluster, count, results):
    cluster.form()
    if not check(cluster.wait(cluster.settled, 60), "three nodes formed and settled"):
        return
    api = ClusterAPI(cluster, cluster.bootstrap_token())
    started = time.monotonic()
    created = create_sites(api, count)
    results["create_sites_per_s"] = round(created / (time.monotonic() - started))
    check(created == count, f"{created:,} of {count:,} sites created ({results['create_sites_per_s']:,}/s)")
    last = site_name(count - 1)
    check(api.wait_known(last, 120), "every node knows the last site")

    started = time.monotonic()
    acked = post_hits(api, range(count), "first")
    results["hits_per_s"] = round(acked / (time.monotonic() - started))
    check(acked == count * HITS_PER_SITE, f"{acked:,} hits acknowledged ({results['hits_per_s']:,}/s)")

    seconds, code, done, total, by_summary, by_exchange = repair_pass(cluster, api)
    results["alike_pass"] = {"seconds": round(seconds, 1), "sites_done": done, "by_summary": by_summary, "by_exchange": by_exchange}
    print(f"repair pass, replicas alike: {seconds:.1f} s, {done:,} sites, {by_summary:,} site-peer pairs alike by summary, "
          f"{by_exchange:,} exchanged", flush=True)
    # Every site the cluster has: those made here and the one the founder starts with.
    check(code == 0 and done == total > count, f"the pass compared every site ({done:,} of {total:,}, exit {code})")
    check(by_summary == 2 * total and by_exchange == 0, "with replicas alike, every site is settled by its summary with both peers "
          f"({by_summary:,} by summary, {by_exchange:,} exchanged)")

    # node-3 misses hits on a few sites for good (down past its hint window).
    missed = sorted(random.Random(3).sample(range(count), MISSED_SITES))
    cluster.processes["node-3"].kill()
    acked = post_hits(api, missed, "missed", nodes=["node-1", "node-2"])
    check(acked == MISSED_SITES * HITS_PER_SITE, f"{acked} hits acknowledged while node-3 was down")
    time.sleep(HINT_WINDOW_S + 5)
    cluster.start("node-3")
    check(cluster.wait(lambda: cluster.all_alive("node-1"), 60), "node-3 is back")
    # node-3, back past its hint window, may repair itself first; node-1's pass follows.
    holds = lambda: all(api.own_pageviews("node-3", site_name(n)) == 2 * HITS_PER_SITE for n in missed[:50])  # noqa: E731
    cluster.wait(holds, 60)
    seconds, code, done, total, by_summary, by_exchange = repair_pass(cluster, api)
    exchanged_by_node_3 = int(metric(api, "node-3", "footfall_repair_site_comparisons_total", 'by="exchange"'))
    results["after_outage_pass"] = {"seconds": round(seconds, 1), "sites_done": done, "by_summary": by_summary, "by_exchange": by_exchange,
                                    "exchanged_by_node_3": exchanged_by_node_3}
    print(f"after node-3 missed {MISSED_SITES} sites: node-3's own repair exchanged {exchanged_by_node_3} site-peer pairs; "
          f"node-1's pass {seconds:.1f} s, {by_summary:,} alike by summary, {by_exchange:,} exchanged", flush=True)
    check(code == 0 and done == total > count and by_summary + by_exchange == 2 * total,
          f"node-1's pass compared every site with both peers ({done:,} of {total:,}, exit {code})")
    check(cluster.wait(holds, 60), "node-3 holds the hits it missed (50 of the sites checked)")
    # Each missed site is exchanged with node-3 by node-1's pass, or by node-3's own with each of
    # its two peers at most (both summarised before the first pulled); no other site is.
    exchanged = exchanged_by_node_3 + by_exchange
    check(MISSED_SITES <= exchanged <= 2 * MISSED_SITES,
          f"only the sites node-3 missed were exchanged ({exchanged}: {exchanged_by_node_3} by node-3, {by_exchange} by node-1; {MISSED_SITES} missed)")

    # Hits for made-up sites: refused, and held in the cache only up to its bound.
    # A batch is refused at its first unknown site, so each goes alone.
    now = int(time.time() * 1000)
    in_parallel(lambda n: api.hits("node-1", [{"site": f"x{n:07d}.made-up.example", "id": f"x-{n}", "ts": now, "url": "https://x/"}],
                                   client=f"100.{96 + n // 65536}.{n // 256 % 256}.{n % 256}"), range(MADE_UP_SITES))
    sites_held = metric(api, "node-1", "footfall_site_cache_entries", 'kind="site"')
    unknown_held = metric(api, "node-1", "footfall_site_cache_entries", 'kind="no site"')
    results["site_cache"] = {"sites": sites_held, "no_site": unknown_held}
    check(sites_held <= 100_000 and unknown_held <= 10_000,
          f"the site cache stays within its bounds ({sites_held:,.0f} sites ≤ 100,000, {unknown_held:,.0f} names that are no site ≤ 10,000)")
    memory = {name: round(rss_mib(cluster, name)) for name in NAMES}
    results["rss_mib"] = memory
    check(all(m <= MEMORY_MAX_MIB for m in memory.values()), f"each node's memory stays under {MEMORY_MAX_MIB} MiB: {memory}")


if __name__ == "__main__":
    main()
