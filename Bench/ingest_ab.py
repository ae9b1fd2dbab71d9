#!/usr/bin/env python3
"""`make ingest-ab`: HTTP ingest of two release builds, side by side on this machine, to tell a
change to the write path from the machine's noise (a shared two-core machine measures the same
binary 20 % apart from one hour to the next; only interleaved runs of both compare).

Each run starts from an empty folder that the build's own `footfall-bench load` fills with the
same 200,000 events (100 sites, 90 days), starts that build's node, and posts the same 500,000
events to it as the bench does (batches of 100, 16 clients, each run's ids its own) with one
client for both builds. The builds alternate, and which goes first alternates by round.

    python3 Bench/ingest_ab.py --old /path/to/old/.build/release --new .build/release [--rounds 3]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset  # noqa: E402
import footfall  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_run(build, client, folder, stored_csv, posted_csv, events, run):
    """Events/s of one fresh node of `build`, posted to by `client` (a footfall-bench)."""
    node = footfall.Footfall(folder, build)
    try:
        node.load(stored_csv)
        node.bench = client
        rate, line = node.ingest(posted_csv, events, run=run)
        print(f"ingest-ab: {run} {line}", flush=True)
        return rate
    finally:
        node.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="build folder holding footfall and footfall-bench")
    parser.add_argument("--new", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=500_000, help="events posted per run")
    parser.add_argument("--folder", default=os.path.join(ROOT, ".build/ingest-ab"))
    options = parser.parse_args()
    for build in (options.old, options.new):
        for tool in ("footfall", "footfall-bench"):
            if not os.access(os.path.join(build, tool), os.X_OK):
                sys.exit(f"ingest-ab: no {tool} in {build}")
    data = os.path.join(options.folder, "data")
    stored_csv = dataset.generate(dataset.Spec(events=200_000, sites=100, days=90, seed=1), data)
    posted_csv = dataset.generate(dataset.Spec(events=options.events, sites=100, days=90, seed=2), data)
    client = os.path.join(options.new, "footfall-bench")
    rates = {"old": [], "new": []}
    for round_ in range(options.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for name in order:
            build = options.old if name == "old" else options.new
            rates[name].append(one_run(build, client, os.path.join(options.folder, name), stored_csv, posted_csv,
                                       options.events, f"{name}{round_}"))
    old, new = statistics.median(rates["old"]), statistics.median(rates["new"])
    print(f"ingest-ab: old {', '.join(f'{r:,.0f}' for r in rates['old'])} events/s (median {old:,.0f})")
    print(f"ingest-ab: new {', '.join(f'{r:,.0f}' for r in rates['new'])} events/s (median {new:,.0f})")
    print(f"ingest-ab: new / old = {new / old:.3f} (medians of {options.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
