#!/usr/bin/env python3
"""Node CPU per acknowledged event at several offered ingest rates: three release nodes as the soak
forms them, the soak's own generator (sixteen clients, batches of 100), no reports and no faults.
First the maximum (flat out), then each share of it, 30 s each; CPU is what the three node
processes used meanwhile (utime + stime from /proc). Whether a share of the maximum leaves the
nodes that share of their CPU free is what the soak's 80 % assumes.

    python3 Bench/rate_curve.py [--shares 0.25,0.5,0.8] [--seconds 30] [--footfall .build/release/footfall]
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
sys.path.insert(0, os.path.join(ROOT, "Bench"))
import soak  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI  # noqa: E402


def node_cpu_seconds(cluster):
    total = 0.0
    for name in NAMES:
        fields = open(f"/proc/{cluster.processes[name].pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build", "release", "footfall"))
    parser.add_argument("--folder", default=os.path.join(ROOT, ".build", "rate-curve"))
    parser.add_argument("--shares", default="0.25,0.5,0.8")
    parser.add_argument("--seconds", type=float, default=30)
    options = parser.parse_args()
    cluster = soak.three_nodes(options.footfall, options.folder, base_port=26140, http_base=26240)
    try:
        cluster.form()
        if not cluster.wait(cluster.settled, 60):
            raise SystemExit("the three nodes did not settle")
        api = ClusterAPI(cluster, cluster.bootstrap_token())
        for site in soak.SITES:
            api.request("node-1", "/api/sites", {"domain": site}, method="POST")
        # As the soak does: a node that does not know a site yet refuses its hits, and a maximum
        # measured meanwhile would scale every step down.
        if not api.wait_known(soak.SITES[-1], 30):
            raise SystemExit("the sites did not reach every node")
        if not cluster.wait_salted(30):
            raise SystemExit("a node has no daily-salt seed")
        ledger, maximum = soak.Ledger(), None
        for step, share in enumerate([None] + [float(s) for s in options.shares.split(",")]):
            rate = 0 if share is None else share * maximum
            before, started = node_cpu_seconds(cluster), time.monotonic()
            held = soak.Generator(api, ledger, rate, f"rate{step}").run_for(options.seconds)
            cores = (node_cpu_seconds(cluster) - before) / (time.monotonic() - started)
            if share is None:
                if not held:
                    raise SystemExit("nothing was acknowledged flat out")
                maximum = held
            label = "flat out" if share is None else f"{share:.0%} of it"
            print(f"{label:>10}: offered {rate:9,.0f}, held {held:9,.0f} events/s, nodes used {cores:.2f} cores, "
                  f"{cores * 1e6 / held if held else float('nan'):.0f} µs an event", flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
