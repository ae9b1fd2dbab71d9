#!/usr/bin/env python3
"""Footfall's benchmarks, side by side with the peers a self-hoster would reach for, on the same
events (Bench/dataset.py) and the same dashboard questions (Bench/peers.py).

    python3 Bench/bench.py [--short] [--seed N]

Every figure comes with the peer measured in the same run: this machine is shared, so only the
ratios mean anything. Prints one table and writes it as JSON (--results).
"""
import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import dataset  # noqa: E402
import peers  # noqa: E402

WINDOW_MS = 30 * 86_400_000


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def windows(spec, count, seed):
    """`count` random 30-day windows inside the data set, the same for every contender."""
    rng = random.Random(seed)
    latest = spec.end_ms - WINDOW_MS
    return [(start, start + WINDOW_MS) for start in (rng.randint(spec.start_ms, latest) for _ in range(count))]


def time_questions(contender, sites, ranges):
    """{site: {question: [ms, …]}} and the answers, for comparing contenders."""
    timings, answers = {}, {}
    for site in sites:
        for question in peers.QUESTIONS:
            contender.ask(question, site, *ranges[0])  # warm-up, not counted
            samples = []
            for from_ms, to_ms in ranges:
                started = time.perf_counter()
                answer = contender.ask(question, site, from_ms, to_ms)
                samples.append((time.perf_counter() - started) * 1000)
                answers[(site, question, from_ms)] = answer
            timings.setdefault(site, {})[question] = samples
    return timings, answers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="CI-size data: checks the harness works, not the speed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--folder", default=os.path.join(ROOT, ".build/bench"))
    parser.add_argument("--results", default=os.path.join(ROOT, ".build/bench/results.json"))
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (it runs PostgreSQL as its own user); run it as root, e.g. sudo make bench")

    spec = dataset.Spec(events=200_000 if options.short else 10_000_000, sites=100, days=90, seed=options.seed)
    repetitions = 5 if options.short else 20
    started = time.monotonic()
    csv_path = dataset.generate(spec, os.path.join(options.folder, "data"))
    print(f"bench: {spec.events:,} events ({csv_path}), ready after {time.monotonic() - started:.0f} s", flush=True)
    sites = {"biggest": spec.biggest_site(), "median": spec.median_site()}
    ranges = windows(spec, repetitions, options.seed)
    report = {"seed": options.seed, "events": spec.events, "short": options.short, "contenders": {}}

    rate = peers.db_bench(os.path.join(options.folder, "db_bench"), num=200_000 if options.short else 2_000_000, sync=True)
    report["db_bench_fillrandom_ops_s"] = rate
    print(f"bench: db_bench fillrandom (batches of 100, sync) {rate:,} ops/s", flush=True)

    answers_by = {}
    for make in (peers.DuckDB, peers.PostgreSQL):
        contender = make(os.path.join(options.folder, make.name.lower()))
        try:
            load_s = contender.load(csv_path)
            timings, answers = time_questions(contender, sites.values(), ranges)
            answers_by[make.name] = answers
            report["contenders"][make.name] = {
                "load_events_s": round(spec.events / load_s),
                "bytes_per_event": round(contender.bytes_on_disk() / spec.events, 1),
                "questions": {label: {q: {"p50_ms": round(percentile(t, 50), 2), "p99_ms": round(percentile(t, 99), 2)}
                                      for q, t in timings[site].items()} for label, site in sites.items()},
            }
            print(f"bench: {make.name} loaded at {spec.events / load_s:,.0f} events/s", flush=True)
        finally:
            contender.close()
    disagreements = [key for key, answer in answers_by["DuckDB"].items()
                     if [tuple(map(str, row)) for row in answer] != [tuple(map(str, row)) for row in answers_by["PostgreSQL"][key]]]
    report["peer_answers_differ"] = len(disagreements)

    print_table(report, sites)
    os.makedirs(os.path.dirname(options.results), exist_ok=True)
    with open(options.results, "w") as handle:
        json.dump(report, handle, indent=1)
    print(f"\nbench: results in {options.results} ({time.monotonic() - started:.0f} s)")
    if disagreements:
        sys.exit(f"bench: DuckDB and PostgreSQL answered {len(disagreements)} question(s) differently, e.g. {disagreements[0]}")


def print_table(report, sites):
    names = list(report["contenders"])
    print(f"\n{'question':<24}" + "".join(f"{name + ' p50/p99 ms':>28}" for name in names))
    for label in sites:
        for question in peers.QUESTIONS:
            cells = []
            for name in names:
                figures = report["contenders"][name]["questions"][label][question]
                cells.append(f"{figures['p50_ms']:>12.1f} / {figures['p99_ms']:<10.1f}")
            print(f"{label + ' ' + question:<24}" + "".join(f"{cell:>28}" for cell in cells))
    print(f"{'load events/s':<24}" + "".join(f"{report['contenders'][n]['load_events_s']:>28,}" for n in names))
    print(f"{'bytes per event':<24}" + "".join(f"{report['contenders'][n]['bytes_per_event']:>28}" for n in names))
    print(f"db_bench fillrandom (sync, batches of 100): {report['db_bench_fillrandom_ops_s']:,} ops/s")


if __name__ == "__main__":
    main()
