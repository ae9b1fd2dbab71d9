"""The client side of a chaos run: a tracker-like writer, erasures and reads through random nodes,
with a log of everything sent and acknowledged that the checkers compare the cluster against.

Every hit has a unique id and its own timestamp and belongs to a consented visitor whose page
title carries a marker (`chaos-title-<client id>`), so an erased visitor's data can be searched
for in the nodes' files. A failed batch is retried later with the same ids, as the tracker does.
"""
import json
import random
import threading
import time

from footfall_harness import web
from footfall_harness.cluster import BROWSER
from probe import event_id


class Sent:
    """One hit as the workload sent it."""
    __slots__ = ("site", "client", "page", "acked")

    def __init__(self, site, client, page):
        self.site, self.client, self.page, self.acked = site, client, page, False


class Erasure:
    def __init__(self, site, client):
        self.site, self.client = site, client
        self.started = time.monotonic()
        self.visitor = None        # hex, from the receipt
        self.answered = None       # monotonic time the receipt arrived
        self.first_status = None   # "complete" or "pending"
        self.completed = None      # monotonic time a status poll first said complete


class HTTP:
    # Hits from a non-browser user agent are dropped as bots; the workload is a browser.

    def __init__(self, token, timeout):
        self.token, self.timeout = token, timeout

    def call(self, base, path, body=None, method=None, headers=None, timeout=None):
        """(status, parsed body, replica header); status 0 when the node did not answer."""
        headers = dict(headers or {}, Authorization=f"Bearer {self.token}", **{"User-Agent": BROWSER})
        status, answer_headers, raw = web.exchange(base + path, method or ("POST" if body is not None else "GET"), body, headers,
                                                   timeout or self.timeout)
        replica = answer_headers.get("X-Footfall-Replica") if 200 <= status < 300 else None
        return status, web.decoded(raw), replica


class Workload:
    def __init__(self, nodes, sites, http, seed, rate, writers, visitors_per_site, tag):
        self.nodes, self.sites, self.http = nodes, sites, http
        self.rate, self.writers, self.tag = rate, writers, tag
        self.random = random.Random(seed)
        self.seed = seed
        self.lock = threading.Lock()
        self.sent = {}             # event id bytes -> Sent
        self.retries = []          # batches waiting to be sent again: (site, hits, tries)
        self.pool = {site: [f"cv{tag}{i:02d}v{k:03d}xxxxxx" for k in range(visitors_per_site)] for i, site in enumerate(sites)}
        self.erasures = []
        self.reads = {"ok": 0, "failed": 0}
        self.batches = {"acked": 0, "failed": 0, "retried": 0}
        self.failures = {}         # "status: error" -> batches, for the scenario's report
        self.stopping = threading.Event()
        self.threads = []
        self.counter = 0

    # Writing.

    def start(self):
        for index in range(self.writers):
            thread = threading.Thread(target=self._write_loop, args=(random.Random(self.seed * 1000 + index),), daemon=True)
            thread.start()
            self.threads.append(thread)
        reader = threading.Thread(target=self._read_loop, args=(random.Random(self.seed * 1000 + 999),), daemon=True)
        reader.start()
        self.threads.append(reader)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def _next_batch(self, rng):
        with self.lock:
            if self.retries and rng.random() < 0.5:
                site, hits, tries = self.retries.pop(0)
                self.batches["retried"] += 1
                return site, hits, tries
            site = rng.choice(self.sites)
            client = rng.choice(self.pool[site])
            now = int(time.time() * 1000)
            hits = []
            for _ in range(rng.randint(1, 4)):
                self.counter += 1
                hit_id = f"h{self.tag}-{self.counter}"
                page = f"/p/{rng.randint(0, 9)}"
                hits.append({"site": site, "id": hit_id, "ts": now, "kind": "pageview", "url": f"https://{site}{page}",
                             "title": f"chaos-title-{client}", "consent": True, "vid": client})
                self.sent[event_id(site, hit_id, now)] = Sent(site, client, page)
            return site, hits, 0

    def _write_loop(self, rng):
        interval = self.writers / self.rate
        while not self.stopping.is_set():
            began = time.monotonic()
            site, hits, tries = self._next_batch(rng)
            node = rng.choice(self.nodes)
            # Behind the trusted client address, each batch comes from its own visitor address.
            forwarded = f"203.0.113.{rng.randint(1, 254)}"
            status, body, _ = self.http.call(node.http, "/api/event", hits, headers={"X-Forwarded-For": forwarded})
            with self.lock:
                if status == 202 and body and body.get("accepted", 0) + body.get("duplicates", 0) == len(hits):
                    for hit in hits:
                        self.sent[event_id(site, hit["id"], hit["ts"])].acked = True
                    self.batches["acked"] += 1
                else:
                    self.batches["failed"] += 1
                    reason = f"{status}: {json.dumps(body)}"[:80]
                    self.failures[reason] = self.failures.get(reason, 0) + 1
                    if tries < 3:
                        self.retries.append((site, hits, tries + 1))
            self.stopping.wait(max(0.0, interval - (time.monotonic() - began)))

    def _read_loop(self, rng):
        while not self.stopping.is_set():
            node, site = rng.choice(self.nodes), rng.choice(self.sites)
            status, _, _ = self.http.call(node.http, f"/api/sites/{site}/summary", timeout=3)
            with self.lock:
                self.reads["ok" if status == 200 else "failed"] += 1
            self.stopping.wait(0.2)

    # Erasures.

    def erase(self, sites, rng, deadline):
        """Erases a visitor with acknowledged events, retrying through other nodes until a receipt
        comes back (or the deadline passes). The visitor writes nothing new from then on."""
        with self.lock:
            candidates = sorted({(s.site, s.client) for s in self.sent.values() if s.acked and s.site in sites
                                 and s.client in self.pool[s.site]})
            if not candidates:
                return None
            site, client = rng.choice(candidates)
            self.pool[site].remove(client)
        erasure = Erasure(site, client)
        self.erasures.append(erasure)
        while time.monotonic() < deadline:
            node = rng.choice(self.nodes)
            status, body, _ = self.http.call(node.http, f"/api/sites/{site}/erasures", {"client_id": client}, timeout=10)
            if status == 200 and body and body.get("visitor"):
                erasure.visitor, erasure.answered = body["visitor"], time.monotonic()
                erasure.first_status = body.get("status")
                if erasure.first_status == "complete":
                    erasure.completed = erasure.answered
                return erasure
            time.sleep(0.5)
        return erasure

    def poll_erasures(self):
        """Asks a random node for the status of every erasure not yet complete; True when all are."""
        for erasure in self.erasures:
            if erasure.completed or not erasure.visitor:
                continue
            node = self.random.choice(self.nodes)
            status, body, _ = self.http.call(node.http, f"/api/sites/{erasure.site}/erasures/{erasure.visitor}", timeout=5)
            if status == 200 and body and body.get("status") == "complete":
                erasure.completed = time.monotonic()
        return all(e.completed for e in self.erasures if e.visitor)

    # The log, for the checkers.

    def erased_clients(self):
        return {(e.site, e.client) for e in self.erasures}

    def acknowledged(self):
        return sum(1 for s in self.sent.values() if s.acked)
