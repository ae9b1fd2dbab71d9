#!/usr/bin/env python3
"""Runs the fuzz targets (`make fuzz`): each under libFuzzer for --runs executions, --jobs at once.

Each target starts from its committed seeds (Fuzz/Corpus/<target>) and regressions
(Fuzz/Regressions/<target>) and grows a working corpus in .build-fuzz/fuzz/corpus/<target>, kept
between runs. A crash, trap, broken invariant, sanitizer or leak report stops that target; its
input is saved as .build-fuzz/fuzz/findings/<target>-crash-… and named in the table. Copy it to
Fuzz/Regressions/<target>/ once fixed, so `make test` replays it for good.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".build-fuzz", "fuzz")
TARGETS = ["collect-json", "collect-pixel", "report-query", "http-routes", "replicate", "gossip", "system-records",
           "repair-requests", "public-requests", "stored-values"]


def run_target(fuzzer, target, runs, max_total_time, workers=1):
    """Runs `target` for `runs` executions in all, split over `workers` processes that share its
    corpus (libFuzzer reloads the corpus folder every second, so each takes up what the others
    found); figures are summed over them."""
    corpus = os.path.join(WORK, "corpus", target)
    findings = os.path.join(WORK, "findings")
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(findings, exist_ok=True)
    os.makedirs(os.path.join(WORK, "logs"), exist_ok=True)
    logs = [os.path.join(WORK, "logs", f"{target}.log" if worker == 0 else f"{target}.{worker}.log") for worker in range(workers)]
    seeds = [os.path.join(ROOT, "Fuzz", folder, target) for folder in ("Corpus", "Regressions")]
    # Leaks are checked once, when the run ends, over everything it allocated: after each input
    # they would not be (the targets' node keeps what it stores, and the check would scan the whole
    # heap every time).
    share = -(-runs // workers)
    command = [fuzzer, f"-runs={share}", "-detect_leaks=0", "-print_final_stats=1", "-rss_limit_mb=4096", "-max_len=8192", "-timeout=30",
               f"-artifact_prefix={findings}/{target}-", corpus] + [s for s in seeds if os.path.isdir(s)]
    if max_total_time:
        command.insert(1, f"-max_total_time={max_total_time}")
    # No allocation stacks (malloc_context_size=0): recording one per allocation was a quarter of
    # the gossip target's time (1,150 against 1,460 executions/s). A finding's input still
    # reproduces it; replay it with the default ASAN_OPTIONS for the stacks.
    environment = dict(os.environ, FOOTFALL_FUZZ_TARGET=target,
                       ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:malloc_context_size=0",
                       LSAN_OPTIONS="suppressions=" + os.path.join(ROOT, "Fuzz", "lsan.supp"))
    started = time.monotonic()
    handles = [open(path, "w") for path in logs]
    processes = [subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment) for log in handles]
    codes = [process.wait() for process in processes]
    for handle in handles:
        handle.close()
    seconds = time.monotonic() - started
    texts = [open(path, errors="replace").read() for path in logs]

    def stat(name, combine=sum):
        found = [re.findall(rf"stat::{name}:\s+(\d+)", text) for text in texts]
        return combine(int(values[-1]) for values in found) if all(found) else None

    return {
        "target": target, "exit": next((code for code in codes if code != 0), 0), "seconds": round(seconds), "workers": workers,
        "executions": stat("number_of_executed_units"), "per_second": stat("average_exec_per_sec"),
        "peak_rss_mb": stat("peak_rss_mb", max), "corpus": len(os.listdir(corpus)), "coverage": last_coverage(texts[0]),
        "findings": [artifact for text in texts for artifact in re.findall(r"Test unit written to (\S+)", text)], "log": logs[0],
    }


def last_coverage(text):
    found = re.findall(r"cov: (\d+) ft: (\d+)", text)
    return f"{found[-1][0]} edges, {found[-1][1]} features" if found else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzzer", default=os.path.join(ROOT, ".build-fuzz", "release", "footfall-fuzz"))
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--jobs", type=int, default=2, help="targets run at once (one core each)")
    parser.add_argument("--workers", type=int, default=1, help="processes per target, sharing its corpus (one core each)")
    parser.add_argument("--max-total-time", type=int, default=0, help="stop each target after this many seconds")
    parser.add_argument("targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        sys.exit(f"unknown targets {unknown}; the targets are {TARGETS}")
    if not os.access(args.fuzzer, os.X_OK):
        sys.exit(f"{args.fuzzer} is missing: run make fuzz-build")

    print(f"fuzzing {len(args.targets)} targets, {args.runs:,} executions each, {args.jobs} at once"
          f"{f' with {args.workers} processes each' if args.workers > 1 else ''}; logs in {WORK}/logs")
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_target, args.fuzzer, t, args.runs, args.max_total_time, max(1, args.workers)) for t in args.targets]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            verdict = "clean" if result["exit"] == 0 and not result["findings"] else f"FOUND {result['findings'] or 'exit ' + str(result['exit'])}"
            print(f"  {result['target']:16} {result['executions'] or 0:>12,} runs  {result['per_second'] or 0:>7,}/s  "
                  f"{result['seconds']:>6} s  {result['coverage']:>28}  corpus {result['corpus']:>5}  {verdict}", flush=True)
    results.sort(key=lambda r: TARGETS.index(r["target"]))
    with open(os.path.join(WORK, "report.json"), "w") as out:
        json.dump(results, out, indent=2)
    failed = [r["target"] for r in results if r["exit"] != 0 or r["findings"]]
    short = [r["target"] for r in results if (r["executions"] or 0) < args.runs and not args.max_total_time]
    if failed:
        sys.exit(f"findings in {failed}: see {WORK}/findings and the logs")
    if short:
        sys.exit(f"{short} stopped before {args.runs:,} executions: see the logs")
    print(f"no findings; report in {WORK}/report.json")


if __name__ == "__main__":
    main()
