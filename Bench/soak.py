#!/usr/bin/env python3
"""`make soak`: three release nodes (RF 3, QUORUM writes, mutual TLS) taking 80 % of the ingest
rate they were just measured to take, for ten minutes, while an owner asks reports of today, a
visitor's erasure is requested every minute and one node is killed with SIGKILL and restarted.
Every five seconds it samples each node's memory (VmRSS) and open files; every report's latency
is kept. Writes them as an SVG plot beside a JSON of every sample.

    python3 Bench/soak.py [--minutes 10] [--footfall .build/release/footfall] [--folder .build/soak]

The maximum is measured over 30 s flat out with the same report reader running (like for like:
the soak's work but for its faults).

It passes when, over the last third of the run against the middle third (the first third warms
caches and memtables up), each node's memory grows by at most 25 % + 64 MiB and its open files by
at most 32, the reports' p99 at most doubles (+ 100 ms) and every report after the first third
is answered (within 60 s; the reader, as a load balancer would, sends none to the killed node
until it answers again and retries a 503 on the other nodes; one in flight to it when killed is
lost with it), the generator held at least 90 % of the rate it aimed at, and, once
the load stops, every node counts each site between the hits it acknowledged and the hits it
sent (erased visitors' hits excluded) and every erasure is complete.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness import metrics, web  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import BROWSER, NAMES, ClusterAPI, LocalCluster  # noqa: E402

SITES = [f"soak{n}.example" for n in range(8)]
PATHS = ["/", "/pricing", "/blog", "/blog/a", "/blog/b", "/docs", "/docs/start", "/signup", "/about", "/contact"]
REFERRERS = ["", "https://www.google.com/", "https://t.co/x", "https://news.ycombinator.com/", "https://duckduckgo.com/"]
REPORTS = ["summary", "breakdown/page", "breakdown/referrer", "timeseries?interval=hour"]
SAMPLE_SECONDS = 5
BATCH = 100
CLIENTS = 16
VICTIM = "node-3"


class Ledger:
    """What the generator sent and what the nodes acknowledged, per site, counted apart for each
    consented visitor so an erased one's hits can be set aside."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent, self.acknowledged = {}, {}
        self.erased = set()

    def add(self, table, hits):
        with self.lock:
            for hit in hits:
                key = (hit["site"], hit.get("vid"))
                table[key] = table.get(key, 0) + 1

    def bounds(self, site):
        """(acknowledged, sent) hits of `site` whose visitor was not erased."""
        with self.lock:
            kept = lambda table: sum(n for (s, vid), n in table.items() if s == site and (s, vid) not in self.erased)  # noqa: E731
            return kept(self.acknowledged), kept(self.sent)


class Generator:
    """`CLIENTS` threads posting batches of `BATCH` pageviews (a few of consented visitors, the rest
    cookieless) as fast as the nodes take them or at `rate` events/s. A batch a node refuses or
    cannot take is sent again, same hit ids, to the next node (as the tracker retries), so a
    killed node costs retries, not hits."""

    def __init__(self, api, ledger, rate, run):
        self.api, self.ledger, self.rate, self.run = api, ledger, rate, run
        self.retired = set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.batches = 0
        self.acknowledged_at = []
        self.retries = 0
        self.started = None

    def consented(self, rng):
        while True:
            vid = f"soakvisitor{rng.randrange(200):05d}"
            if vid not in self.retired:
                return vid

    def batch(self, index, rng):
        now = int(time.time() * 1000)
        hits = []
        for k in range(BATCH):
            site = SITES[rng.randrange(len(SITES))]
            hit = {"site": site, "id": f"soak-{self.run}-{index}-{k}", "ts": now, "url": f"https://{site}{rng.choice(PATHS)}"}
            referrer = rng.choice(REFERRERS)
            if referrer:
                hit["referrer"] = referrer
            if rng.random() < 0.05:
                hit.update({"consent": True, "vid": self.consented(rng)})
            hits.append(hit)
        return hits

    def client(self, number):
        rng = random.Random(f"{self.run}-{number}")
        connections = {}
        while not self.stopping.is_set():
            with self.lock:
                index = self.batches
                self.batches += 1
            if self.rate:
                due = self.started + index * BATCH / self.rate - time.monotonic()
                if due > 0:
                    time.sleep(due)
            hits = self.batch(index, rng)
            self.ledger.add(self.ledger.sent, hits)
            body = json.dumps(hits)
            address = f"100.{64 + (index >> 16) % 64}.{(index >> 8) & 255}.{index & 255}"
            for attempt in range(30):
                name = NAMES[(index + attempt) % len(NAMES)]
                if post(connections, self.api.url(name, ""), body, address) == 202:
                    self.ledger.add(self.ledger.acknowledged, hits)
                    with self.lock:
                        self.acknowledged_at.append(time.monotonic())
                    break
                with self.lock:
                    self.retries += 1
                time.sleep(min(1.0, 0.05 * (attempt + 1)))

    def run_for(self, seconds):
        """Events/s acknowledged while it ran `seconds`."""
        self.start()
        time.sleep(seconds)
        return self.stop(seconds)

    def start(self):
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def per_minute(self, seconds):
        """Events/s acknowledged in each minute of the run: whether the rate fell as it went."""
        with self.lock:
            times = [t - self.started for t in self.acknowledged_at]
        return [round(sum(1 for t in times if m * 60 <= t < (m + 1) * 60) * BATCH / 60) for m in range(int(seconds // 60))]

    def per_ten_seconds(self, seconds):
        """Events/s acknowledged in each ten seconds of the run: the shape of a fault's dip."""
        with self.lock:
            times = [t - self.started for t in self.acknowledged_at]
        return [round(sum(1 for t in times if s * 10 <= t < (s + 1) * 10) * BATCH / 10) for s in range(int(seconds // 10))]

    def stop(self, seconds):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        with self.lock:
            return sum(1 for t in self.acknowledged_at if t - self.started <= seconds) * BATCH / seconds


def post(connections, base, body, address):
    """The status of one POST /api/event over a kept-alive connection; 0 when the node could not
    be reached (the connection is then dropped)."""
    host = urllib.parse.urlsplit(base).netloc
    try:
        connection = connections.get(host) or http.client.HTTPConnection(host, timeout=10)
        connections[host] = connection
        connection.request("POST", "/api/event", body, {"Content-Type": "text/plain", "User-Agent": BROWSER, "X-Forwarded-For": address})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        connections.pop(host, None)
        return 0


class Sampler:
    """Every `SAMPLE_SECONDS`: each live node's VmRSS and open files, and the reports answered since
    the last sample (latency of each, from a reader thread asking a random live node)."""

    def __init__(self, cluster, api):
        self.cluster, self.api = cluster, api
        self.samples, self.latencies, self.unanswered = [], [], []
        # Nodes killed and not answering again yet: the reader leaves them out, as a load
        # balancer's health check would.
        self.down = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.events = []

    def note(self, what):
        self.events.append((round(time.monotonic() - self.started, 1), what))
        print(f"  {self.events[-1][0]:6.1f} s  {what}", flush=True)

    def live(self):
        return [n for n in NAMES if self.cluster.processes[n].running and n not in self.down]

    def reader(self):
        rng = random.Random(7)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        while not self.stopping.is_set():
            name, site, report = rng.choice(self.live()), rng.choice(SITES), rng.choice(REPORTS)
            path = f"/api/sites/{site}/{report}{'&' if '?' in report else '?'}from={today}&to={today}"
            began = time.monotonic()
            status, _ = self.api.request(name, path, timeout=60)
            # 503 is a node saying "ask another" (one just restarted serves no reads until it
            # sees a peer alive, or until its repair): a load balancer retries it elsewhere.
            for other in [n for n in self.live() if n != name] if status == 503 else []:
                status, _ = self.api.request(other, path, timeout=60)
                if status != 503:
                    break
            with self.lock:
                if status == 200:
                    self.latencies.append((began - self.started, (time.monotonic() - began) * 1000))
                else:
                    self.unanswered.append((round(began - self.started, 1), round(time.monotonic() - self.started, 1), name, status))
            time.sleep(0.2)

    def sampler(self):
        while not self.stopping.wait(SAMPLE_SECONDS):
            sample = {"t": round(time.monotonic() - self.started, 1), "nodes": {}}
            for name in self.live():
                pid = self.cluster.processes[name].pid
                try:
                    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:")) * 1024
                    files = len(os.listdir(f"/proc/{pid}/fd"))
                    # utime and stime, fields 14 and 15 of stat (after the command in brackets).
                    ticks = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11:13]
                except (OSError, StopIteration):
                    continue
                cpu = sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
                sample["nodes"][name] = {"rss": rss, "files": files, "pid": pid, "cpu": cpu}
            self.samples.append(sample)

    def cores_per_minute(self, seconds):
        """Cores the nodes used together in each minute of the run (CPU seconds over the samples
        of the minute, a node's restart starting its count over): whether the work per event grew."""
        used = [0.0] * int(seconds // 60)
        for before, after in zip(self.samples, self.samples[1:]):
            minute = int(after["t"] // 60)
            if minute >= len(used):
                continue
            for name, node in after["nodes"].items():
                previous = before["nodes"].get(name)
                if previous and previous["pid"] == node["pid"]:
                    used[minute] += node["cpu"] - previous["cpu"]
        return [round(u / 60, 2) for u in used]

    def start(self):
        self.threads = [threading.Thread(target=self.reader, daemon=True), threading.Thread(target=self.sampler, daemon=True)]
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def node_series(samples, name, since):
    """(time, rss, files) of `name` from `since` on, within one process (the latest one)."""
    rows = [(s["t"], s["nodes"][name]) for s in samples if name in s["nodes"] and s["t"] >= since]
    last_pid = rows[-1][1]["pid"] if rows else None
    return [(t, n["rss"], n["files"]) for t, n in rows if n["pid"] == last_pid]


def flatness_checks(sampler, duration, restarted_at):
    """The last third of the run against the middle third, per node (the victim from its restart
    on, split the same way) and for the reports' latency."""
    results = {}
    for name in NAMES:
        since = restarted_at if name == VICTIM else 0
        series = node_series(sampler.samples, name, since)
        if len(series) < 6:
            check(False, f"{name} was sampled at least 6 times after {since:.0f} s ({len(series)})")
            continue
        third = (duration - series[0][0]) / 3
        middle = [s for s in series if series[0][0] + third <= s[0] < series[0][0] + 2 * third]
        last = [s for s in series if s[0] >= series[0][0] + 2 * third]
        mean = lambda rows, i: sum(r[i] for r in rows) / len(rows)  # noqa: E731
        rss_middle, rss_last = mean(middle, 1), mean(last, 1)
        files_middle, files_last = max(r[2] for r in middle), max(r[2] for r in last)
        results[name] = {"rss_middle_mib": rss_middle / 2**20, "rss_last_mib": rss_last / 2**20, "files_middle": files_middle, "files_last": files_last}
        check(rss_last <= rss_middle * 1.25 + 64 * 2**20,
              f"{name} memory stays flat: {rss_middle / 2**20:.0f} MiB in the middle third, {rss_last / 2**20:.0f} MiB in the last")
        check(files_last <= files_middle + 32, f"{name} open files stay flat: at most {files_middle} in the middle third, {files_last} in the last")
    latencies = sampler.latencies
    third = duration / 3
    middle = [ms for t, ms in latencies if third <= t < 2 * third]
    last = [ms for t, ms in latencies if t >= 2 * third]
    p99_middle, p99_last = percentile(middle, 99), percentile(last, 99)
    results["reports"] = {"p50_middle_ms": percentile(middle, 50), "p99_middle_ms": p99_middle,
                          "p50_last_ms": percentile(last, 50), "p99_last_ms": p99_last, "answered": len(latencies),
                          "unanswered": sampler.unanswered}
    # A report in flight to the victim when it was killed is lost with it (the kill's own check
    # shows that); every other report after the first third must be answered.
    kills = [t for t, what in sampler.events if what.startswith("kill -9")]
    unanswered = [(began, node, status) for began, ended, node, status in sampler.unanswered
                  if began >= third and not (node == VICTIM and any(began <= t <= ended for t in kills))]
    check(not unanswered, f"every report after the first third was answered, but for those in flight to {VICTIM} when killed "
          f"({len(sampler.unanswered)} unanswered in all; after the first third (s, node, status): {unanswered[:10]})")
    check(len(middle) >= 20 and len(last) >= 20, f"reports were answered through the run ({len(middle)} in the middle third, {len(last)} in the last)")
    check(p99_last <= 2 * p99_middle + 100, f"report latency stays flat: p99 {p99_middle:.0f} ms in the middle third, {p99_last:.0f} ms in the last")
    return results


def svg(sampler, path, duration, title):
    """Three panels over time — memory per node, open files per node, report latency per sample
    (p50 and p99) — with the kill and the restart marked."""
    width, height, left, panel = 900, 660, 70, 180
    colours = {"node-1": "#1f77b4", "node-2": "#2ca02c", "node-3": "#d62728", "p50": "#555555", "p99": "#ff7f0e"}
    windows = []
    for sample in sampler.samples:
        t = sample["t"]
        slice_ = [ms for at, ms in sampler.latencies if t - SAMPLE_SECONDS <= at < t]
        windows.append((t, percentile(slice_, 50), percentile(slice_, 99)))
    panels = [
        ("memory (VmRSS, MiB)", {n: [(s["t"], s["nodes"][n]["rss"] / 2**20) for s in sampler.samples if n in s["nodes"]] for n in NAMES}),
        ("open files", {n: [(s["t"], s["nodes"][n]["files"]) for s in sampler.samples if n in s["nodes"]] for n in NAMES}),
        ("report latency (ms)", {"p50": [(t, a) for t, a, _ in windows], "p99": [(t, b) for t, _, b in windows]}),
    ]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>', f'<text x="{left}" y="16" font-size="13">{title}</text>']
    x = lambda t: left + (width - left - 20) * t / max(duration, 1)  # noqa: E731
    for i, (label, lines) in enumerate(panels):
        top = 30 + i * (panel + 30)
        top_value = max([v for points in lines.values() for _, v in points] + [1]) * 1.1
        y = lambda v, top=top, top_value=top_value: top + panel - panel * v / top_value  # noqa: E731
        out.append(f'<rect x="{left}" y="{top}" width="{width - left - 20}" height="{panel}" fill="none" stroke="#ccc"/>')
        out.append(f'<text x="{left}" y="{top - 4}">{label}</text>')
        for fraction in (0, 0.5, 1):
            out.append(f'<text x="{left - 6}" y="{y(top_value * fraction) + 4:.0f}" text-anchor="end">{top_value * fraction:.0f}</text>')
        for t, what in sampler.events:
            out.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{top + panel}" stroke="#999" stroke-dasharray="4 3"/>')
            if i == 0:
                out.append(f'<text x="{x(t) + 3:.1f}" y="{top + 12}" fill="#666">{what}</text>')
        for j, (name, points) in enumerate(lines.items()):
            if points:
                coordinates = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
                out.append(f'<polyline points="{coordinates}" fill="none" stroke="{colours[name]}" stroke-width="1.5"/>')
            out.append(f'<text x="{width - 20 - 70 * (len(lines) - j)}" y="{top - 4}" fill="{colours[name]}">{name}</text>')
    out.append(f'<text x="{left}" y="{height - 8}">seconds since the soak load started (0 to {duration:.0f})</text></svg>')
    with open(path, "w") as f:
        f.write("\n".join(out))


def three_nodes(footfall, folder, base_port=25140, http_base=25240):
    """The soak's three nodes (not started), in an emptied `folder`; the generator's addresses are
    taken as the clients' (the nodes trust the loopback proxy)."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return LocalCluster(footfall, os.path.join(folder, "nodes"), 1000, base_port, http_base, env={"FOOTFALL_TRUSTED_PROXIES": "127.0.0.1"})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build", "release", "footfall"))
    parser.add_argument("--folder", default=os.path.join(ROOT, ".build", "soak"))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--share", type=float, default=0.8, help="of the measured maximum ingest rate")
    options = parser.parse_args()
    cluster = three_nodes(options.footfall, options.folder)
    try:
        soak(cluster, options.minutes * 60, options.share)
    finally:
        cluster.stop()
    finish("soak", options.folder)


def soak(cluster, duration, share):
    ledger = Ledger()
    cluster.form()
    if not check(cluster.wait(cluster.settled, 60), "three nodes formed and settled"):
        return
    api = ClusterAPI(cluster, cluster.bootstrap_token())
    for site in SITES:
        api.request("node-1", "/api/sites", {"domain": site}, method="POST")
    if not check(api.wait_known(SITES[-1], 30), "sites on every node"):
        return

    # Like for like: the maximum is measured under the soak's own queries (an owner asking reports
    # of today all the while), only the faults left out. Measured without them, the soak's target
    # asked the nodes for reports on top of 80 % of what they could take doing nothing else.
    queries = Sampler(cluster, api)
    queries.start()
    maximum = Generator(api, ledger, 0, "max").run_for(30)
    queries.stop()
    rate = share * maximum
    print(f"maximum ingest {maximum:,.0f} events/s over 30 s, with {len(queries.latencies)} reports answered meanwhile; "
          f"soaking at {rate:,.0f} events/s for {duration:.0f} s", flush=True)

    generator = Generator(api, ledger, rate, "soak")
    sampler = Sampler(cluster, api)
    sampler.start()
    generator.start()
    restarted_at, erasures = faults(cluster, api, generator, sampler, duration)
    achieved = generator.stop(duration)
    sampler.stop()
    per_minute = generator.per_minute(duration)
    print(f"held {achieved:,.0f} events/s ({generator.retries} batch retries); per minute: {per_minute}", flush=True)
    phases = held_by_phase(generator.per_ten_seconds(duration), sampler.events, restarted_at)
    print(f"held by phase (events/s): {phases}", flush=True)
    cores = sampler.cores_per_minute(duration)
    print(f"cores the three nodes used, per minute: {cores}; CPU µs per acknowledged event: "
          f"{[round(c * 1e6 / e) if e else None for c, e in zip(cores, per_minute)]}", flush=True)
    check(achieved >= 0.9 * rate, f"the generator held at least 90 % of {rate:,.0f} events/s: {achieved:,.0f}")
    results = flatness_checks(sampler, duration, restarted_at or 0)
    nothing_lost_checks(cluster, api, ledger, erasures)
    results["hot_day_builds"] = hot_day_builds(cluster)
    print(f"days read from their rows into memory, per node: {results['hot_day_builds']}", flush=True)

    report = {"maximum_events_per_s": maximum, "reports_during_maximum": len(queries.latencies), "target_events_per_s": rate,
              "held_events_per_s": achieved, "held_by_phase": phases,
              "retries": generator.retries, "held_per_minute": per_minute, "held_per_10s": generator.per_ten_seconds(duration),
              "cores_per_minute": cores, "events": sampler.events, "flatness": results, "samples": sampler.samples,
              "erasures": [(site, vid, status) for site, vid, status, _ in erasures]}
    with open(os.path.join(ROOT, ".build", "soak.json"), "w") as f:
        json.dump(report, f, indent=1)
    plot = os.path.join(ROOT, ".build", "soak.svg")
    svg(sampler, plot, duration, f"Footfall soak: 3 nodes at {rate:,.0f} events/s ({share:.0%} of {maximum:,.0f}), {duration / 60:.0f} min")
    print(f"plot: {plot}; samples: .build/soak.json")


def held_by_phase(per_ten_seconds, events, restarted_at):
    """Mean events/s acknowledged before the kill, from the kill until a minute after the restart,
    and after that: where a shortfall came from. A 10 s window counts in the phase holding its
    middle, so every window counts once."""
    kills = [t for t, what in events if what.startswith("kill -9")]
    if not kills or restarted_at is None:
        return {}
    bounds = {"before the kill": (0, kills[0]), "kill to restart + 60 s": (kills[0], restarted_at + 60),
              "after": (restarted_at + 60, 10 * len(per_ten_seconds))}
    phases = {}
    for name, (start, end) in bounds.items():
        values = [v for i, v in enumerate(per_ten_seconds) if start <= i * 10 + 5 < end]
        phases[name] = round(sum(values) / len(values)) if values else None
    return phases


def faults(cluster, api, generator, sampler, duration):
    """While the load runs: kill -9 of the victim at 40 % of the run and its restart 15 s later;
    a consented visitor's erasure every minute (the visitor is retired from the load first).
    Returns when the restart happened (seconds into the sampling) and the erasures made."""
    rng, erasures = random.Random(11), []
    kill_at, restart_at, restarted_at = 0.4 * duration, 0.4 * duration + 15, None
    next_erasure = 60
    while (elapsed := time.monotonic() - generator.started) < duration:
        if kill_at is not None and elapsed >= kill_at:
            sampler.down.add(VICTIM)
            cluster.processes[VICTIM].kill()
            sampler.note(f"kill -9 {VICTIM}")
            check(not cluster.processes[VICTIM].running and web.call(cluster.http_url(VICTIM, "/health"), timeout=2)[0] == 0,
                  f"the kill took effect: {VICTIM} exited and does not answer")
            kill_at = None
        elif kill_at is None and restarted_at is None and elapsed >= restart_at:
            cluster.start(VICTIM)
            restarted_at = time.monotonic() - sampler.started
            sampler.note(f"{VICTIM} restarted")
            check(cluster.wait(lambda: web.salted(cluster.http_url(VICTIM)), 60), f"{VICTIM} answers again after its restart")
            sampler.down.discard(VICTIM)
        elif elapsed >= next_erasure:
            next_erasure += 60
            vid = f"soakvisitor{rng.randrange(200):05d}"
            if vid not in generator.retired:
                generator.retired.add(vid)
                time.sleep(2)  # batches already holding it are posted first
                site = rng.choice(SITES)
                status, receipt = api.request(rng.choice(sampler.live()), f"/api/sites/{site}/erasures", {"client_id": vid}, method="POST")
                erasures.append((site, vid, status, receipt))
        time.sleep(0.2)
    return restarted_at, erasures


def hot_day_builds(cluster):
    """Each node's `footfall_hot_day_builds_total`: how often it read a day from its rows into
    memory (its warm-up after a start, and a day dropped for memory; not an erasure)."""
    builds = {}
    for name in NAMES:
        status, body = web.call(cluster.http_url(name, "/metrics"))
        found = metrics.value(body.decode(), "footfall_hot_day_builds_total") if status == 200 else None
        builds[name] = int(found) if found is not None else None
    return builds


def nothing_lost_checks(cluster, api, ledger, erasures):
    """Once the load has stopped: every erasure completes, and every node counts each site between
    the hits acknowledged and sent (an erased visitor's hits on the erased site set aside; a
    consented visitor's id is per site, so its hits elsewhere stay)."""
    with ledger.lock:
        ledger.erased = {(site, vid) for site, vid, _, _ in erasures}
    check(erasures and all(status == 200 for _, _, status, _ in erasures), f"{len(erasures)} erasures accepted")
    complete = lambda: all(api.request("node-1", f"/api/sites/{site}/erasures/{receipt['visitor']}")[1].get("status") == "complete"  # noqa: E731
                           for site, _, _, receipt in erasures if isinstance(receipt, dict) and "visitor" in receipt)
    check(cluster.wait(complete, 120), "every erasure completed")
    def within(count, site):
        low, high = ledger.bounds(site)
        return count is not None and low <= count <= high
    cluster.wait(lambda: all(within(api.own_pageviews(name, site), site) for site in SITES for name in NAMES), 180)
    for site in SITES:
        low, high = ledger.bounds(site)
        counts = {name: api.own_pageviews(name, site) for name in NAMES}
        check(all(within(c, site) for c in counts.values()), f"{site}: every node counts between the {low:,} acknowledged and {high:,} sent hits: {counts}")


if __name__ == "__main__":
    main()
