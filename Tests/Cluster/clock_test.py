#!/usr/bin/env python3
"""A cluster formed around a founder whose clock is ten minutes behind, run by `make test`.

Three nodes on loopback (mutual TLS); node-1, the founder, runs with its wall clock 600 s behind.
A node's process uid is its start time, and a node refuses uids beyond its own clock plus the
minute of skew allowed, so node-1 refuses the joiners' gossip. Knowing no members, it used to read
no one's clock, never learned that its own was the wrong one, and the cluster never formed (a
chaos run of clock-far-off met it whenever the skewed node was the founder). Required: node-1
reads the clocks of the nodes it refused, finds the two joiners agree it is behind, takes their
uids; the cluster forms; node-1 refuses hits for its clock (503, saying so) while node-2 and
node-3 take them, and neither counts its own clock as off.

Controls: node-1's clock is really ten minutes behind (its answer to `footfall cluster status`
carries no clock; the node's /metrics says how far its peers are ahead), and node-1 did refuse a
joiner's uid before it learned (its log says so).
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import hits, metrics, waits, web  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster, command_line  # noqa: E402

BEHIND_MS = 600_000
REFUSED = "refused a node's gossip: its start time is beyond this node's clock"


def disagreement_s(cluster, name):
    """How far `name` counts its peers' clocks ahead of its own, in seconds (0 when it agrees)."""
    status, _, raw = web.exchange(cluster.http_url(name, "/metrics"))
    return metrics.value(raw.decode(errors="replace"), "footfall_clock_disagreement_seconds") if status == 200 else None


def main():
    parser = command_line(19140, description=__doc__)
    options = parser.parse_args()
    cluster = LocalCluster.for_test(options, "footfall-clock-")
    try:
        cluster.issue_certificates(NAMES)
        cluster.start("node-1", env={"FOOTFALL_CLOCK_OFFSET_MS": str(-BEHIND_MS)})
        time.sleep(1)
        for name in NAMES[1:]:
            cluster.start(name)
        settled = cluster.wait(lambda: cluster.settled(), 90)
        check(settled, "three nodes form a cluster around a founder ten minutes behind")
        with open(cluster.log_path("node-1"), errors="replace") as handle:
            log = handle.read()
        check(REFUSED in log, "node-1 refused a joiner's uid before it learned its clock was behind (its log says so)")
        token = cluster.bootstrap_token()
        if not settled or token is None:
            raise SystemExit(f"stopped early; logs and data kept in {cluster.folder}")

        founder = disagreement_s(cluster, "node-1")
        check(founder is not None and abs(founder - BEHIND_MS / 1000) <= 5,
              f"node-1 counts its peers {founder} s ahead of it (its clock is {BEHIND_MS // 1000} s behind)")
        others = [disagreement_s(cluster, name) for name in NAMES[1:]]
        check(others == [0, 0], f"node-2 and node-3 count their clocks as agreeing ({others})")

        api = ClusterAPI(cluster, token)
        status, body = api.hits("node-1", [hits.pageview("behind-hit-1")])
        check(status == 503 and "behind its peers" in str(body), f"node-1 refuses a hit for its clock ({status} {body})")
        for name in NAMES[1:]:
            # A joiner fetches the daily-salt seed from a random live member once a second, so it
            # may still lack it right after the clocks settle: it answers 503 meanwhile, which the
            # tracker retries, and so does this check (the seed must come within 30 s).
            def accepted(name=name):
                answer = api.hits(name, [hits.pageview(f"{name}-hit-1")])
                return answer if answer[0] == 202 or "no daily salt yet" not in str(answer[1]) else None
            status, body = waits.wait_for(accepted, 30) or (503, "still no daily salt after 30 s")
            check(status == 202 and isinstance(body, dict) and body.get("accepted") == 1, f"{name} takes a hit ({status} {body})")
    finally:
        cluster.stop()
    finish("founder clock behind", cluster.folder)


if __name__ == "__main__":
    main()
