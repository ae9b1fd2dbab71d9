"""Footfall as a contender: a release node loaded with the benchmark's events and asked the same
dashboard questions over its public HTTP API, plus its HTTP ingest rate, realtime latency,
memory and bytes on disk."""
import datetime
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

import peers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Harness"))
from footfall_harness import metrics, web  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster  # noqa: E402
from footfall_harness.hits import pageview  # noqa: E402
from footfall_harness.ports import free_port  # noqa: E402
from footfall_harness.process import Process  # noqa: E402

DAY_MS = 86_400_000




def day(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


class Discard:
    """`footfall-bench discard` on a loopback port of its own, while in a `with` block."""

    def __init__(self, bench):
        self.port = free_port()
        self.process = Process(os.devnull)
        self.process.start([bench, "discard", "--port", str(self.port)])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("footfall-bench discard did not start listening")

    def __exit__(self, *_):
        self.process.stop(timeout=30)


WRK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "single_hit.lua")


def wrk_single_hits(url, site, seconds):
    """Requests/s of one hit each (a cookieless pageview from a new address per request) that wrk
    (2 threads, 16 connections, like the batch clients) got answered 202."""
    output = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", WRK_SCRIPT, url, "--", site],
                            check=True, capture_output=True, text=True).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    refused = re.search(r"non-202 answers: (\d+)", output)
    if not rate or not refused:
        raise RuntimeError(f"wrk printed no rate:\n{output[-1500:]}")
    if int(refused.group(1)):
        raise RuntimeError(f"{refused.group(1)} single hits to {url} were not accepted:\n{output[-1500:]}")
    return float(rate.group(1))


class Node:
    """One single `footfall serve` process on loopback ports of its own (the three-node contender
    uses the cluster tests' harness)."""
    name = "node-1"
    # The node's memory budgets, given as the defaults they are so the bench can say how much of
    # its memory they account for.
    HOT_DAYS_MIB = 512
    SEGMENT_CACHE_MIB = 256

    def __init__(self, binary, data):
        self.port = free_port()
        self.data = data
        args = [binary, "serve", "--data", data, "--host", "127.0.0.1", "--port", str(self.port), "--grpc-port", "0",
                "--cluster-port", str(free_port()), "--trusted-proxies", "127.0.0.1",
                "--hot-days-mb", str(self.HOT_DAYS_MIB), "--segment-cache-mb", str(self.SEGMENT_CACHE_MIB)]
        self.process = Process(data + ".log")
        self.process.start(args)
        self.connection = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running:
                raise RuntimeError(f"{self.name} exited; see {self.data}.log")
            try:
                status, _ = self.get("/health")
                if status == 200:
                    return
            except OSError:
                self.connection = None
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /health within {timeout} s")

    def request(self, method, path, body=None, headers=None):
        """One request on a kept-alive connection (reconnecting once if the node closed it)."""
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise

    def get(self, path, token=None):
        return self.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})

    def cache_bytes(self):
        """(unsealed days held, decoded sealed days held), in bytes, from the node's `/metrics`."""
        status, body = self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        text = body.decode()
        return metrics.value(text, "footfall_hot_day_bytes") or 0, metrics.value(text, "footfall_segment_cache_bytes") or 0

    def rss_bytes(self, field="VmRSS"):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        self.process.stop(timeout=30)


class Footfall:
    """A single node, RF = 1, over its public API."""
    name = "Footfall"

    def __init__(self, folder, build_folder):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.folder, self.data = folder, os.path.join(folder, "data")
        self.footfall = os.path.join(build_folder, "footfall")
        self.bench = os.path.join(build_folder, "footfall-bench")
        self.node, self.token = None, None

    def load(self, csv_path):
        """Seconds to load: the data set put in each site's time order (as an import from another
        tool would come: site by site, oldest first; counted in the time) and written through the
        store in batches of 10,000, then compacted."""
        started = time.monotonic()
        ordered = in_site_order(csv_path)
        output = subprocess.run([self.bench, "load", "--csv", ordered, "--data", self.data, "--batch", "10000"],
                                check=True, capture_output=True, text=True).stdout
        elapsed = time.monotonic() - started
        self.token = re.search(r"token: (\S+)", output).group(1)
        self.load_line = output.splitlines()[0]
        self.node = Node(self.footfall, self.data)
        self.node.wait_ready()
        return elapsed

    def ask(self, question, site, from_ms, to_ms):
        """The answer in the shape the SQL peers give (rows of tuples), for comparing. Ranges are
        whole UTC days, as the dashboard asks them."""
        asked = peers.QUESTIONS[question]
        query = f"from={day(from_ms)}&to={day(to_ms - 1)}" + "".join(
            f"&filter.{name}={urllib.parse.quote(value, safe='')}" for name, value in asked.filters)
        base = f"/api/sites/{site}"
        if asked.shape == "summary":
            body = self._get(f"{base}/summary?{query}")
            return [(body["pageviews"], body["visitors"])]
        if asked.shape == "timeseries":
            points = self._get(f"{base}/timeseries?{query}&interval=day")
            return [(p["start_ms"] // DAY_MS, p["pageviews"], p["visitors"]) for p in points]
        dimension = {"pages": "page", "referrers": "referrer", "countries": "country"}[asked.shape]
        return [(row["value"], row["count"]) for row in self._get(f"{base}/breakdown/{dimension}?{query}&limit=10")]

    def _get(self, path):
        status, body = self.node.get(path, self.token)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def bytes_on_disk(self):
        return folder_bytes(self.data)

    def discard_ingest(self, csv_path, events):
        """Events/s over HTTP into `footfall-bench discard` (the node's HTTP stack decoding each
        batch and storing nothing), posted exactly as `ingest` posts to the node."""
        with Discard(self.bench) as discard:
            return self.ingest(csv_path, events, run="discard", urls=[discard.url])

    def single_hits(self, site, seconds):
        """Single-hit requests/s (what the tracker sends) from wrk, to the node and to the discard
        endpoint: (node, discard)."""
        with Discard(self.bench) as discard:
            return wrk_single_hits(self.node.url, site, seconds), wrk_single_hits(discard.url, site, seconds)

    def ingest(self, csv_path, events, rate=0, run="a", urls=None):
        """Events/s over HTTP (batches of 100, 16 clients) and the client's output line."""
        args = [self.bench, "ingest", "--csv", csv_path, "--events", str(events), "--batch", "100", "--concurrency", "16",
                "--rate", str(rate), "--run", run]
        for url in urls or [self.node.url]:
            args += ["--url", url]
        finished = subprocess.run(args, capture_output=True, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"footfall-bench ingest failed: {finished.stderr.strip()[-500:]}")
        output = finished.stdout
        return float(re.search(r"= (\d+) events/s", output).group(1)), output.strip()

    def close(self):
        if self.node:
            self.node.stop()


def in_site_order(csv_path):
    """A copy of the data set sorted by site, then time (DuckDB sorts it), cached beside it."""
    ordered = csv_path[:-len(".csv")] + "-by-site.csv"
    if not os.path.exists(ordered):
        import duckdb
        db = duckdb.connect()
        db.execute(f"SET threads = {os.cpu_count()}")
        db.execute("COPY (SELECT * FROM read_csv(?, header = true, all_varchar = true) ORDER BY site, CAST(ts_ms AS BIGINT)) "
                   "TO '" + ordered.replace("'", "''") + ".partial' (HEADER, QUOTE '\"', FORMAT csv)", [csv_path])
        db.close()
        os.rename(ordered + ".partial", ordered)
    return ordered


AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def realtime_latency(post, read, site, samples, marker):
    """Milliseconds from a hit's acknowledgement to its page showing in the realtime feed,
    `samples` times: `post(body, headers)` sends it to one node, `read(path)` asks one (the
    same or another) for the feed; both answer (status, body bytes)."""
    latencies = []
    for i in range(samples):
        path = f"/realtime/{marker}-{i}"
        hit = json.dumps({"site": site, "id": f"realtime-{marker}-{i:04d}", "ts": int(time.time() * 1000),
                          "url": f"https://{site}{path}"})
        status, body = post(hit, {"User-Agent": AGENT, "Content-Type": "text/plain", "X-Forwarded-For": f"100.127.{i // 256}.{i % 256}"})
        if status != 202:
            raise RuntimeError(f"realtime hit refused: {status} {body[:200]!r}")
        acknowledged = time.perf_counter()
        while True:
            status, body = read(f"/api/sites/{urllib.parse.quote(site)}/realtime")
            if status == 200 and any(item.get("path") == path for item in json.loads(body)["feed"]):
                latencies.append((time.perf_counter() - acknowledged) * 1000)
                break
            if time.perf_counter() > acknowledged + 10:
                raise RuntimeError("a hit did not show in the realtime feed within 10 s")
            time.sleep(0.005)
    return latencies


class ThreeNodes:
    """Three local nodes, RF = 3, QUORUM writes, mutual TLS between them (the cluster tests'
    harness, Tests/Cluster): HTTP ingest through all three, realtime through a node other than
    the one that took the hit, failure detection and erasure completion."""
    name = "Footfall 3 nodes"

    def __init__(self, folder, build_folder):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.bench = os.path.join(build_folder, "footfall-bench")
        self.cluster = LocalCluster(os.path.join(build_folder, "footfall"), folder, 1000, 24940, 25040,
                                    env={"FOOTFALL_TRUSTED_PROXIES": "127.0.0.1"})

    def form(self, sites):
        self.cluster.form()
        if not self.cluster.wait(self.cluster.settled, 60):
            raise RuntimeError("the three nodes did not settle within 60 s")
        self.api = ClusterAPI(self.cluster, self.cluster.bootstrap_token())
        for site in sites:
            status, body = self.api.request("node-1", "/api/sites", {"domain": site}, method="POST")
            if status not in (200, 201, 409):
                raise RuntimeError(f"creating {site}: {status} {body}")
        if not self.api.wait_known(sites[-1], 30):
            raise RuntimeError("the sites did not reach every node within 30 s")

    def ingest(self, csv_path, events):
        args = [self.bench, "ingest", "--csv", csv_path, "--events", str(events), "--batch", "100", "--concurrency", "16", "--run", "three"]
        for name in NAMES:
            args += ["--url", self.api.url(name, "")]
        finished = subprocess.run(args, capture_output=True, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"footfall-bench ingest failed: {finished.stderr.strip()[-500:]}")
        return float(re.search(r"= (\d+) events/s", finished.stdout).group(1)), finished.stdout.strip()

    def realtime(self, site, samples):
        def post(body, headers):
            return web.call(self.api.url("node-1", "/api/event"), "POST", body, headers)

        def read(path):
            return web.call(self.api.url("node-2", path), "GET", None, {"Authorization": f"Bearer {self.api.token}"})
        return realtime_latency(post, read, site, samples, "three")

    def detection_and_erasure(self, site):
        """Seconds until both others see a killed node-3 dead; then an erasure made while it is
        down, and seconds from its restart until the erasure's receipt reads complete."""
        hits = [pageview(f"bench-erase-{k}", site, vid="benchvisitor0001") for k in range(3)]
        status, _ = self.api.hits("node-1", hits, client="100.126.0.1")
        if status != 202:
            raise RuntimeError(f"the erasure's visitor was not written: {status}")
        self.cluster.processes["node-3"].kill()
        killed = time.monotonic()
        dead = lambda via: self.cluster.status(via)["node-3"][0] == "MEMBER_STATUS_DEAD"  # noqa: E731
        if not self.cluster.wait(lambda: dead("node-1") and dead("node-2"), 60):
            raise RuntimeError("node-3 was not declared dead within 60 s")
        detection = time.monotonic() - killed
        status, receipt = self.api.request("node-1", f"/api/sites/{site}/erasures", {"client_id": "benchvisitor0001"}, method="POST")
        if status != 200 or receipt.get("status") != "pending":
            raise RuntimeError(f"an erasure with node-3 down: {status} {receipt}")
        restarted = time.monotonic()
        self.cluster.start("node-3")
        complete = self.cluster.wait(lambda: self.api.request("node-2", f"/api/sites/{site}/erasures/{receipt['visitor']}")[1]
                                     .get("status") == "complete", 120)
        if not complete:
            raise RuntimeError("the erasure did not complete within 120 s of node-3's restart")
        return detection, time.monotonic() - restarted

    def close(self):
        self.cluster.stop()




def referrer_host(url):
    """The host Footfall keeps of a referrer URL (the data set's are plain https://host/)."""
    return urllib.parse.urlsplit(url).hostname or ""
