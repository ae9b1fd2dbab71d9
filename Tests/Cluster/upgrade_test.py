#!/usr/bin/env python3
"""A rolling upgrade from the previous release, run by `make upgrade-test`.

Three nodes on loopback (RF=3, mutual TLS) start on the previous release's binary (`--previous`,
built from its git tag by the make target) and are replaced one at a time by this version's, each
on the folder it had. Every step crosses versions somewhere:

- a node of each version coordinates writes, reads and an erasure the others must carry out;
- an upgraded node that was away past the hint window repairs from peers of the old version
  (which have no id pages: it must ask them one slice at a time), and an old node away past the
  window repairs from upgraded ones (which still answer its one-slice and unpaged CRM requests);
- a CRM note written while a node was away reaches it by repair across versions.

Required at the end, with every node on this version: each node's own store holds every
acknowledged event of every site and none of the erased visitor's, and each node's own copy of
the CRM visitor holds both notes.
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import credentials, hits, web  # noqa: E402
from footfall_harness.ledger import AckLog, Peer, held  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster  # noqa: E402
from footfall_harness.probe import CHECKER, Probe  # noqa: E402
from footfall_harness.stubs import generate_stubs  # noqa: E402

SITES = ["localhost"] + [f"upgrade{i}.example" for i in range(1, 4)]
HINT_WINDOW_S = 3
ERASED = "upgrade-erased-visitor"
NOTED = "upgrade-noted-visitor"
class UpgradeTest:
    def __init__(self, cluster, previous, current, folder):
        self.cluster, self.previous, self.current, self.folder = cluster, previous, current, folder
        self.version = {}
        self.log = AckLog(SITES)
        self.api = self.probe = None

    def start(self, name, binary):
        """Starts `name` on `binary` (the cluster's CLI stays this version's). node-1, which
        founded the cluster, is restarted with `--join`: the previous release keeps no addresses
        of its peers (README: upgrading the founder from it)."""
        self.cluster.binary = binary
        rejoin = ["--join", self.cluster.internal("node-2")] if name == "node-1" and name in self.version else []
        try:
            self.cluster.start(name, rejoin)
        finally:
            self.cluster.binary = self.current
        self.version[name] = "previous" if binary == self.previous else "current"
        if self.probe:
            self.probe.forget(Peer(name, self.cluster.internal(name)))

    def stop(self, name):
        self.cluster.processes[name].stop(timeout=20)
        check(not self.cluster.processes[name].running, f"{name} stopped")

    def whole(self, name):
        held_now = {site: held(self.probe, self.cluster, name, site) for site in SITES}
        return all(held_now[s] is not None and self.log.acked[s] <= held_now[s] and not (self.log.erased & held_now[s]) for s in SITES)

    def versions(self):
        return ", ".join(f"{n} {self.version[n]}" for n in NAMES)

    def away_past_the_hint_window(self, name, binary, prefix, meanwhile=None):
        """Stops `name`, writes through the others (and runs `meanwhile`) past the hint window, so
        the hints are dropped and it must repair, and starts it on `binary`: it serves reads again
        only after repairing from its peers. Returns whether it did, within two minutes."""
        self.stop(name)
        others = [n for n in NAMES if n != name]
        refused = self.log.write(self.api, others[0], f"{prefix}-a", 40) or self.log.write(self.api, others[1], f"{prefix}-b", 40)
        check(not refused, f"writes while {name} is away are acknowledged ({self.versions()}; {refused})")
        if meanwhile:
            meanwhile()
        time.sleep(HINT_WINDOW_S + 2)
        offset = os.path.getsize(self.cluster.log_path(name))
        self.start(name, binary)

        def repaired():
            with open(self.cluster.log_path(name), errors="replace") as log:
                log.seek(offset)
                return "repair finished; this node serves reads again" in log.read()
        done = self.cluster.wait(repaired, 120) and self.cluster.wait(lambda: self.cluster.settled(NAMES), 60)
        check(done, f"{name}, back on the {self.version[name]} version past the hint window, repairs and serves ({self.versions()})")
        check(self.cluster.wait(lambda: self.whole(name), 30),
              f"{name}'s own store holds every acknowledged event of every site after repairing across versions ({self.versions()})")
        return done

    def serves_across_versions(self, step):
        """Writes and reads through every node, and a count of each site on each node's own data."""
        for name in NAMES:
            refused = self.log.write(self.api, name, f"{step.replace(' ', '-')}-{name}", count=10)
            check(not refused, f"{step}: writes through {name} ({self.version[name]}) are acknowledged ({refused})")
        for name in NAMES:
            replicated = self.cluster.wait(lambda: self.whole(name), 30)
            check(replicated, f"{step}: {name} ({self.version[name]}) holds every acknowledged event in its own store")
            status, body = self.api.request(name, f"/api/sites/{SITES[1]}/summary")
            check(status == 200 and body.get("pageviews", 0) >= len(self.log.acked[SITES[1]]),
                  f"{step}: a report through {name} ({self.version[name]}) counts every acknowledged hit "
                  f"({status}, {body.get('pageviews') if isinstance(body, dict) else body} of {len(self.log.acked[SITES[1]])})")

    def erase_through(self, name, site):
        """A consented visitor's hits, then its erasure through `name`: confirmed by all three."""
        batch = [hits.pageview(f"erase-{name}-{n:03d}", site, vid=ERASED) for n in range(5)]
        check(not self.log.send(self.api, NAMES[(NAMES.index(name) + 1) % 3], batch), f"the visitor's hits before its erasure through {name} are acknowledged")
        status, receipt = self.api.request(name, f"/api/sites/{site}/erasures", {"client_id": ERASED}, method="POST")
        ids = {hits.event_id(site, h["id"], h["ts"]) for h in batch}
        self.log.acked[site] -= ids
        self.log.erased |= ids
        replicas = sorted(r["node"] for r in (receipt or {}).get("replicas", [])) if isinstance(receipt, dict) else []
        check(status == 200 and replicas == NAMES,
              f"an erasure through {name} ({self.version[name]}) is confirmed by all three replicas ({self.versions()}; {status} {replicas})")

    def note(self, via, text):
        """Adds a note to the CRM visitor through `via`."""
        visitor = hits.visitor_hex("localhost", NOTED)
        status, added = self.api.request(via, f"/api/sites/localhost/visitors/{visitor}/notes", {"text": text}, method="POST")
        check(status == 201, f"a note is added through {via} ({self.version[via]}) ({status} {added})")

    def notes_everywhere(self, texts):
        visitor = hits.visitor_hex("localhost", NOTED)
        for name in NAMES:
            def holds():
                status, profile = self.api.request(name, f"/api/sites/localhost/visitors/{visitor}")
                notes = sorted(n["text"] for n in ((profile or {}).get("visitor") or {}).get("notes", []))
                return status == 200 and self.api.replica == name and notes == sorted(texts)
            check(self.cluster.wait(holds, 30), f"{name}'s own copy of the CRM visitor holds the notes {texts} ({self.versions()})")

    def run(self):
        cluster = self.cluster
        cluster.issue_certificates(NAMES + [CHECKER])
        for name in NAMES:
            self.start(name, self.previous)
            if name == "node-1":
                time.sleep(1)
        settled = cluster.wait(lambda: cluster.settled(NAMES), 90)
        check(settled, "three nodes of the previous release form a cluster")
        token, session = cluster.bootstrap_token(), cluster.login_as_bootstrap_admin()
        if not settled or token is None or session is None:
            raise SystemExit(f"stopped early; logs and data kept in {self.folder}")
        self.api = ClusterAPI(cluster, token)
        self.probe = Probe(cluster.certs, generate_stubs(os.path.join(self.folder, "stubs")))
        for site in SITES[1:]:
            web.call_json(self.api.url("node-1", "/api/sites"), "POST", {"domain": site}, credentials.session_headers(session))
        check(self.api.wait_known(SITES[-1], 20), "the sites reach every node")
        # A joiner fetches the daily-salt seed a moment after it settles, and refuses cookieless
        # hits until then: writes sent sooner failed with 503 (a race in the test, not the node).
        check(cluster.wait_salted(30), "every node has the daily-salt seed")
        check(not self.log.send(self.api, "node-1", [hits.pageview("noted-0001", "localhost", vid=NOTED)]), "the CRM visitor's hit is acknowledged")
        self.note("node-2", "before the upgrade")
        self.serves_across_versions("all on the previous release")

        # node-3 is upgraded while away past the hint window: it repairs from two old peers.
        self.away_past_the_hint_window("node-3", self.current, "node-3-away")
        self.serves_across_versions("node-3 upgraded")
        self.erase_through("node-1", SITES[1])
        self.erase_through("node-3", SITES[2])

        # node-1 (old) away past the window repairs from an old peer and an upgraded one, and a
        # note written meanwhile reaches it by CRM repair across versions.
        self.away_past_the_hint_window("node-1", self.previous, "node-1-away", meanwhile=lambda: self.note("node-3", "while node-1 was away"))
        self.notes_everywhere(["before the upgrade", "while node-1 was away"])

        # The rest upgraded one at a time.
        self.away_past_the_hint_window("node-2", self.current, "node-2-away")
        self.serves_across_versions("node-2 and node-3 upgraded")
        self.stop("node-1")
        self.start("node-1", self.current)
        check(cluster.wait(lambda: cluster.settled(NAMES), 60), f"node-1 rejoins upgraded ({self.versions()})")
        self.serves_across_versions("all upgraded")
        self.erase_through("node-2", SITES[3])
        # Upgraded, the founder keeps its peers' addresses: a graceful restart without --join finds them.
        self.stop("node-1")
        self.cluster.start("node-1")
        self.probe.forget(Peer("node-1", cluster.internal("node-1")))
        check(cluster.wait(lambda: cluster.settled(NAMES), 60), "node-1, upgraded, restarted without --join rejoins from its saved state")
        for name in NAMES:
            check(cluster.wait(lambda: self.whole(name), 30),
                  f"{name}'s own store holds every acknowledged event and none of the erased visitor's ({self.versions()})")
        self.notes_everywhere(["before the upgrade", "while node-1 was away"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"), help="this version's binary")
    parser.add_argument("--previous", required=True, help="the previous release's binary")
    parser.add_argument("--port-base", type=int, default=19540)
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="footfall-upgrade-")
    cluster = LocalCluster(options.footfall, folder, 500, options.port_base, options.port_base + 100,
                           env={"FOOTFALL_HINT_WINDOW_S": str(HINT_WINDOW_S), "FOOTFALL_REPAIR_INTERVAL_S": "3600"})
    test = UpgradeTest(cluster, os.path.abspath(options.previous), os.path.abspath(options.footfall), folder)
    try:
        test.run()
    finally:
        if test.probe:
            test.probe.close()
        cluster.stop()
    finish("rolling upgrade", folder)


if __name__ == "__main__":
    main()
