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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import dataset  # noqa: E402
import footfall  # noqa: E402
import peers  # noqa: E402

DAY_MS = 86_400_000
WINDOW_MS = 30 * DAY_MS


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def windows(spec, count, seed):
    """`count` random windows of 30 whole UTC days inside the data set (a dashboard asks for
    days), the same for every contender."""
    rng = random.Random(seed)
    days = (spec.end_ms - spec.start_ms) // DAY_MS - WINDOW_MS // DAY_MS
    return [(start, start + WINDOW_MS) for start in (spec.start_ms + rng.randint(0, days) * DAY_MS for _ in range(count))]


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
    parser.add_argument("--build", default=os.path.join(ROOT, ".build/release"), help="where footfall and footfall-bench are")
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

    writes = 200_000 if options.short else 2_000_000
    rate = peers.db_bench(os.path.join(options.folder, "db_bench"), num=writes, sync=True)
    report["db_bench_fillrandom_ops_s"] = rate
    report["db_bench_16_threads_ops_s"] = peers.db_bench(os.path.join(options.folder, "db_bench"), num=writes, sync=True, threads=16)
    print(f"bench: db_bench fillrandom (batches of 100, sync) {rate:,} ops/s with 1 writer, "
          f"{report['db_bench_16_threads_ops_s']:,} with 16", flush=True)

    answers_by, disagreements = run_peers(spec, options, csv_path, sites, ranges, report)
    report["peer_answers_differ"] = len(disagreements)
    run_single_node(spec, options, csv_path, sites, ranges, report, answers_by["DuckDB"], rate)
    run_three_nodes(spec, options, csv_path, report, rate)

    print_table(report, sites)
    os.makedirs(os.path.dirname(options.results), exist_ok=True)
    with open(options.results, "w") as handle:
        json.dump(report, handle, indent=1)
    print(f"\nbench: results in {options.results} ({time.monotonic() - started:.0f} s)")
    problems = []
    if disagreements:
        problems.append(f"DuckDB and PostgreSQL answered {len(disagreements)} question(s) differently, e.g. {disagreements[0]}")
    if report["contenders"]["Footfall"]["answers"]["count_mismatches"]:
        problems.append(f"Footfall's counts differ from DuckDB's: {report['contenders']['Footfall']['answers']['first_mismatch']}")
    if problems:
        sys.exit("bench: " + "; ".join(problems))


def run_peers(spec, options, csv_path, sites, ranges, report):
    """DuckDB and PostgreSQL: rows in `report`, their answers, and the questions they answered differently."""
    answers_by = {}
    for make in (peers.DuckDB, peers.PostgreSQL):
        contender = make(os.path.join(options.folder, make.name.lower()))
        try:
            load_s = contender.load(csv_path)
            timings, answers = time_questions(contender, sites.values(), ranges)
            answers_by[make.name] = answers
            report["contenders"][make.name] = contender_row(spec, contender, load_s, timings, sites)
            print(f"bench: {make.name} loaded at {spec.events / load_s:,.0f} events/s", flush=True)
        finally:
            contender.close()
    disagreements = [key for key, answer in answers_by["DuckDB"].items()
                     if [tuple(map(str, row)) for row in answer] != [tuple(map(str, row)) for row in answers_by["PostgreSQL"][key]]]
    return answers_by, disagreements


def run_single_node(spec, options, csv_path, sites, ranges, report, exact_answers, db_bench_rate):
    node = footfall.Footfall(os.path.join(options.folder, "footfall"), options.build)
    try:
        load_s = node.load(csv_path)
        print(f"bench: Footfall {node.load_line}", flush=True)
        timings, answers = time_questions(node, sites.values(), ranges)
        row = report["contenders"]["Footfall"] = contender_row(spec, node, load_s, timings, sites)
        row["answers"] = compare_answers(answers, exact_answers)
        measure_node(row, node, csv_path, spec, options, db_bench_rate)
    finally:
        node.close()


def run_three_nodes(spec, options, csv_path, report, db_bench_rate):
    single = report["contenders"]["Footfall"]
    three = footfall.ThreeNodes(os.path.join(options.folder, "three-nodes"), options.build)
    try:
        three.form(spec.site_names)
        events = 20_000 if options.short else 300_000
        rate, line = three.ingest(csv_path, events)
        print(f"bench: Footfall three nodes {line}", flush=True)
        latencies = three.realtime(spec.median_site(), 20 if options.short else 100)
        detection, erasure = three.detection_and_erasure(spec.median_site())
        single["three_nodes"] = {
            "events_ingested": events, "ingest_events_s": round(rate),
            "ingest_vs_single_node": round(rate / single["ingest_events_s"], 3), "ingest_vs_db_bench": round(rate / db_bench_rate, 3),
            "realtime_ms": {"p50": round(percentile(latencies, 50), 1), "p99": round(percentile(latencies, 99), 1), "through": "another node"},
            "detection_s": round(detection, 1), "erasure_complete_after_restart_s": round(erasure, 1)}
    finally:
        three.close()


def contender_row(spec, contender, load_s, timings, sites):
    return {
        "load_events_s": round(spec.events / load_s),
        "bytes_per_event": round(contender.bytes_on_disk() / spec.events, 1),
        "questions": {label: {q: {"p50_ms": round(percentile(t, 50), 2), "p99_ms": round(percentile(t, 99), 2)}
                              for q, t in timings[site].items()} for label, site in sites.items()},
    }


def compare_answers(mine, exact):
    """Counts must match DuckDB's exactly (pageviews per question, page, referrer, country and
    day); unique visitors are estimates: their relative error against DuckDB's exact count."""
    mismatches, errors, first = 0, [], None

    def count_error(key, what):
        nonlocal mismatches, first
        mismatches += 1
        first = first or f"{key}: {what}"

    for key, answer in mine.items():
        reference = exact[key]
        question = peers.QUESTIONS[key[1]].shape
        if question == "summary":
            (pageviews, visitors), (exact_pageviews, exact_visitors) = answer[0], reference[0]
            if pageviews != exact_pageviews:
                count_error(key, f"{pageviews} pageviews, exactly {exact_pageviews}")
            errors.append(abs(visitors - exact_visitors) / max(1, exact_visitors))
        elif question == "timeseries":
            exact_days = {day: (count, visitors) for day, count, visitors in reference}
            for day, count, visitors in answer:
                exact_count, exact_visitors = exact_days.get(day, (0, 0))
                if count != exact_count:
                    count_error(key, f"day {day}: {count} pageviews, exactly {exact_count}")
                if exact_visitors:
                    errors.append(abs(visitors - exact_visitors) / exact_visitors)
        else:
            # Referrers: the peers keep the URL, Footfall its host. Ties at the 10th place may
            # pick other values, so each value shown must carry its exact count.
            exact_counts = {footfall.referrer_host(value) if question == "referrers" else value: count for value, count in reference}
            for value, count in answer:
                if value in exact_counts and count != exact_counts[value]:
                    count_error(key, f"{value}: {count}, exactly {exact_counts[value]}")
            if sorted(c for _, c in answer) != sorted(c for _, c in reference):
                count_error(key, f"top counts {sorted(c for _, c in answer)}, exactly {sorted(c for _, c in reference)}")
    return {"count_mismatches": mismatches, "first_mismatch": first,
            "visitor_error_mean_pct": round(100 * sum(errors) / max(1, len(errors)), 2),
            "visitor_error_max_pct": round(100 * max(errors, default=0), 2)}


def measure_node(row, node, csv_path, spec, options, db_bench_rate):
    """Ingest over HTTP at full speed, then at half of it while sampling the node's memory, and
    realtime latency (on one node: the node that took the hit)."""
    events = 50_000 if options.short else 1_000_000
    rate, line = node.ingest(csv_path, events, run="full")
    print(f"bench: Footfall {line}", flush=True)
    row["ingest_events_s"] = round(rate)
    row["ingest_vs_db_bench"] = round(rate / db_bench_rate, 3)
    discard, line = node.discard_ingest(csv_path, events)
    print(f"bench: discard endpoint {line}", flush=True)
    row["discard_events_s"] = round(discard)
    row["ingest_vs_discard"] = round(rate / discard, 3)
    single, single_discard = node.single_hits(spec.median_site(), 5 if options.short else 15)
    row["single_hit"] = {"footfall_req_s": round(single), "discard_req_s": round(single_discard), "ratio": round(single / single_discard, 3)}
    print(f"bench: single-hit requests (wrk) {single:,.0f}/s to Footfall, {single_discard:,.0f}/s to the discard endpoint", flush=True)
    samples = []
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            samples.append(node.node.rss_bytes())
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        half, line = node.ingest(csv_path, min(events, int(rate / 2 * 20)), rate=rate / 2, run="half")
    finally:
        sampling.set()
        sampler.join()
    print(f"bench: Footfall at half speed: {line}", flush=True)
    row["rss_mib_at_half_ingest"] = round(max(samples) / 2**20, 1)
    row["peak_rss_mib"] = round(node.node.rss_bytes("VmHWM") / 2**20, 1)
    hot, sealed = node.node.cache_bytes()  # at the end of the half-speed run
    row["cache_mib_at_half_ingest"] = {"hot_days": round(hot / 2**20, 1), "sealed_days": round(sealed / 2**20, 1),
                                       "hot_days_budget": footfall.Node.HOT_DAYS_MIB,
                                       "sealed_days_budget": footfall.Node.SEGMENT_CACHE_MIB}
    latencies = footfall.realtime_latency(lambda body, headers: node.node.request("POST", "/api/event", body, headers),
                                          lambda path: node.node.get(path, node.token),
                                          spec.median_site(), 20 if options.short else 100, "single")
    row["realtime_ms"] = {"p50": round(percentile(latencies, 50), 1), "p99": round(percentile(latencies, 99), 1), "through": "same node"}


def print_table(report, sites):
    contenders = report["contenders"]
    names = list(contenders)
    mine = contenders["Footfall"]
    print(f"\n{'question (p50 / p99 ms)':<32}" + "".join(f"{name:>22}" for name in names) + f"{'Footfall/DuckDB':>18}{'Footfall/PG':>14}")
    for label in sites:
        for question in peers.QUESTIONS:
            figures = {name: contenders[name]["questions"][label][question] for name in names}
            cells = "".join(f"{figures[n]['p50_ms']:>11.1f} / {figures[n]['p99_ms']:<8.1f}" for n in names)
            ratios = [figures["Footfall"]["p50_ms"] / max(0.001, figures[peer]["p50_ms"]) for peer in ("DuckDB", "PostgreSQL")]
            print(f"{label + ' ' + question:<32}{cells}{ratios[0]:>18.3f}{ratios[1]:>14.4f}")
    print(f"{'load events/s':<24}" + "".join(f"{contenders[n]['load_events_s']:>22,}" for n in names))
    print(f"{'bytes per event':<24}" + "".join(f"{contenders[n]['bytes_per_event']:>22}" for n in names))
    print(f"db_bench fillrandom (sync, batches of 100): {report['db_bench_fillrandom_ops_s']:,} ops/s with 1 writer, "
          f"{report['db_bench_16_threads_ops_s']:,} with 16")
    print(f"discard endpoint (same HTTP stack, decode only): {mine['discard_events_s']:,} events/s")
    print(f"Footfall HTTP ingest (batches of 100, sync): {mine['ingest_events_s']:,} events/s = "
          f"{mine['ingest_vs_discard']} x the discard endpoint (target >= 0.5), "
          f"{round(mine['ingest_events_s'] / report['db_bench_16_threads_ops_s'], 3)} x 16-writer db_bench, "
          f"{mine['ingest_vs_db_bench']} x 1-writer db_bench")
    hits = mine["single_hit"]
    print(f"single-hit requests (wrk, 16 connections): {hits['footfall_req_s']:,}/s = {hits['ratio']} x the discard endpoint's "
          f"{hits['discard_req_s']:,}/s (target >= 0.5)")
    caches = mine["cache_mib_at_half_ingest"]
    print(f"Footfall node RSS while ingesting at half that: {mine['rss_mib_at_half_ingest']} MiB, of it "
          f"{caches['hot_days']} MiB unsealed days held (budget {caches['hot_days_budget']}) and {caches['sealed_days']} MiB "
          f"decoded sealed days (budget {caches['sealed_days_budget']}); the rest {mine['rss_mib_at_half_ingest'] - caches['hot_days'] - caches['sealed_days']:.1f} MiB "
          f"(target <= 300); peak over the run {mine['peak_rss_mib']} MiB")
    print(f"Footfall realtime, hit to visible ({mine['realtime_ms']['through']}): p50 {mine['realtime_ms']['p50']} ms, "
          f"p99 {mine['realtime_ms']['p99']} ms (target p99 <= 250)")
    three = mine["three_nodes"]
    print(f"Footfall three nodes (RF=3, QUORUM, mTLS; {three['events_ingested']:,} events through all three): ingest "
          f"{three['ingest_events_s']:,} events/s = {three['ingest_vs_single_node']} x one node (target >= 0.25), "
          f"{three['ingest_vs_db_bench']} x db_bench; realtime through another node p50 {three['realtime_ms']['p50']} ms, "
          f"p99 {three['realtime_ms']['p99']} ms; a killed node seen dead by both others after {three['detection_s']} s; "
          f"an erasure made while it was down complete {three['erasure_complete_after_restart_s']} s after its restart")
    answers = mine["answers"]
    print(f"Footfall answers vs DuckDB: {answers['count_mismatches']} count mismatches; unique visitors off by "
          f"{answers['visitor_error_mean_pct']} % on average, {answers['visitor_error_max_pct']} % at most")


if __name__ == "__main__":
    main()
