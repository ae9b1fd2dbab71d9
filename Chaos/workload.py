"""The client side of a chaos run: a tracker-like writer, erasures and reads through random nodes,
with a log of everything sent and acknowledged that the checkers compare the cluster against.

Every hit has a unique id and its own timestamp and belongs to a consented visitor whose page
title carries a marker (`chaos-title-<client id>`), so an erased visitor's data can be searched
for in the nodes' files. A failed batch is retried later with the same ids, as the tracker does.
"""
import datetime
import json
import random
import threading
import time

from footfall_harness import web
from footfall_harness.cluster import BROWSER
from footfall_harness.hits import event_id, visitor_hex

# Threads reading summaries through random nodes (their answers are checked and judge read floors).
READERS = 4


def around_today():
    """`from`/`to` query parameters for yesterday to tomorrow (UTC): every hit the workload sends,
    even through a node whose clock is off by minutes."""
    day = datetime.timedelta(days=1)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return f"from={today - day}&to={today + day}"


class Read:
    """One summary read that a replica answered: when it was asked (`began`) and answered (`at`),
    what it counted, and how many hits of the site had been sent when the answer came (no correct
    answer counts more)."""
    __slots__ = ("began", "at", "site", "replica", "pageviews", "sent")

    def __init__(self, began, at, site, replica, pageviews, sent):
        self.began, self.at, self.site, self.replica, self.pageviews, self.sent = began, at, site, replica, pageviews, sent


class Sent:
    """One hit as the workload sent it."""
    __slots__ = ("site", "client", "page", "acked", "via")

    def __init__(self, site, client, page):
        self.site, self.client, self.page, self.acked = site, client, page, False
        self.via = None            # the node whose 202 acknowledged it


class Erasure:
    def __init__(self, site, client):
        self.site, self.client = site, client
        self.started = time.monotonic()
        self.visitor = None        # hex, from the receipt
        self.answered = None       # monotonic time the receipt arrived
        self.first_status = None   # "complete" or "pending"
        self.completed = None      # monotonic time a status poll first said complete
        self.shown_after = 0       # reads that showed the visitor after its erasure was complete


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
        self.sent_per_site = {site: 0 for site in sites}
        # Per request: (began, ended, answered well) on the monotonic clock, and for a write the
        # node it went through and its site (what a partition's placement check needs).
        self.attempts = {"write": [], "read": []}
        self.answers = []          # Read, in the order they came
        self.retries = []          # batches waiting to be sent again: (site, hits, tries)
        self.pool = {site: [f"cv{tag}{i:02d}v{k:03d}xxxxxx" for k in range(visitors_per_site)] for i, site in enumerate(sites)}
        self.erasures = []
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
        # Summaries and the erased visitors' checks run apart: the checks wait up to 10 s on a node
        # cut off, and on one thread they left the summaries too few samples to judge a fault by
        # (3 to 5 reads in a 12 s split). Several readers, as a read through a paused node waits
        # out its 3 s timeout: one reader judged a 10 s pause on 10 reads.
        loops = [(self._erased_loop, 998)] + [(self._read_loop, 990 + reader) for reader in range(READERS)]
        for loop, stream in loops:
            thread = threading.Thread(target=loop, args=(random.Random(self.seed * 1000 + stream),), daemon=True)
            thread.start()
            self.threads.append(thread)

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
                self.sent_per_site[site] += 1
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
                acked = status == 202 and body and body.get("accepted", 0) + body.get("duplicates", 0) == len(hits)
                self.attempts["write"].append((began, time.monotonic(), bool(acked), node.name, site))
                if acked:
                    for hit in hits:
                        sent = self.sent[event_id(site, hit["id"], hit["ts"])]
                        sent.acked, sent.via = True, node.name
                    self.batches["acked"] += 1
                else:
                    self.batches["failed"] += 1
                    reason = f"{status}: {json.dumps(body)}"[:80]
                    self.failures[reason] = self.failures.get(reason, 0) + 1
                    if tries < 3:
                        self.retries.append((site, hits, tries + 1))
            self.stopping.wait(max(0.0, interval - (time.monotonic() - began)))

    def _read_loop(self, rng):
        """Summaries through random nodes, each answer kept for the checkers."""
        while not self.stopping.is_set():
            node, site = rng.choice(self.nodes), rng.choice(self.sites)
            began = time.monotonic()
            status, body, replica = self.http.call(node.http, f"/api/sites/{site}/summary?{around_today()}", timeout=3)
            answered = status == 200 and isinstance(body, dict) and "pageviews" in body
            with self.lock:
                self.attempts["read"].append((began, time.monotonic(), answered))
                if answered:
                    self.answers.append(Read(began, time.monotonic(), site, replica, body["pageviews"], self.sent_per_site[site]))
            self.stopping.wait(0.2)

    def _erased_loop(self, rng):
        """Once an erasure is complete, the erased visitor's profile through random nodes: it must
        never show. Until then, its receipt is polled."""
        while not self.stopping.is_set():
            erasures = [e for e in self.erasures if e.visitor]
            if erasures:
                erasure, node = rng.choice(erasures), rng.choice(self.nodes)
                if not erasure.completed:
                    self._poll(erasure, node)
                elif self.shows(node, erasure.site, erasure.client):
                    erasure.shown_after += 1
            self.stopping.wait(0.2)

    def shows(self, node, site, client):
        """Whether `node` answers with the visitor's profile or an export holding events."""
        visitor = visitor_hex(site, client)
        status, _, _ = self.http.call(node.http, f"/api/sites/{site}/visitors/{visitor}", timeout=5)
        if status == 200:
            return True
        status, body, _ = self.http.call(node.http, f"/api/sites/{site}/visitors/{visitor}/export", timeout=5)
        return status == 200 and bool(body and body.get("events"))

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
            if erasure.visitor and not erasure.completed:
                self._poll(erasure, self.random.choice(self.nodes))
        return all(e.completed for e in self.erasures if e.visitor)

    def _poll(self, erasure, node):
        status, body, _ = self.http.call(node.http, f"/api/sites/{erasure.site}/erasures/{erasure.visitor}", timeout=5)
        if status == 200 and body and body.get("status") == "complete":
            erasure.completed = erasure.completed or time.monotonic()

    # The log, for the checkers.

    def erased_clients(self):
        return {(e.site, e.client) for e in self.erasures}

    def acknowledged_events(self):
        """Every acknowledged event so far: id → (site, client)."""
        with self.lock:
            return {i: (s.site, s.client) for i, s in self.sent.items() if s.acked}

    def acknowledged(self):
        return sum(1 for s in self.sent.values() if s.acked)
