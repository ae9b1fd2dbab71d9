#!/usr/bin/env python3
"""A removal that reaches a restarted node only after its join, run by `make test`.

Four nodes on loopback. node-4 is killed and `footfall cluster remove`d through node-1, and node-1
is stopped (SIGSTOP) at once, so the removal cannot spread. node-4 is started again on its folder:
node-2 and node-3, which have not heard of the removal, answer its sync, and it completes its join
still `normal` in its own map. Then node-1 continues and the removal reaches node-4 afterwards.
Required: node-4 takes its ranges again (joining, streaming in, then normal) and the cluster
settles. A version that only reclaimed ranges when the join's own reply carried the removal left
node-4 `removed`, alive and serving nothing, for good (a CI run of returning_node_test met it).

Controls: node-2 has not heard of the removal when node-4 starts, and node-4 counts itself normal
before node-1 continues. If gossip outran the stop, the attempt is made again (three at most).
"""
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import LocalCluster, command_line  # noqa: E402

NAMES = ["node-1", "node-2", "node-3", "node-4"]
STREAMED = "joined the ring: streamed its ranges in"


def streamed_lines(cluster):
    with open(cluster.log_path("node-4"), errors="replace") as handle:
        return handle.read().count(STREAMED)


def attempt(cluster):
    """One kill, removal and restart with node-1 stopped; whether the race happened (node-4 joined
    as normal while the removal had not reached node-2), with what was seen."""
    cluster.processes["node-4"].kill()
    dead = cluster.wait(lambda: cluster.status("node-1").get("node-4", ("",))[0] == "MEMBER_STATUS_DEAD", 30)
    if not dead:
        return False, "node-1 never held node-4 dead"
    removed = "removed" in cluster.cli("cluster", "remove", "--node", cluster.internal("node-1"), "--certs", cluster.certs, "node-4")
    cluster.processes["node-1"].signal(signal.SIGSTOP)
    unheard = cluster.ring_states("node-2").get("node-4") == "normal"
    cluster.start("node-4")
    joined = cluster.wait(lambda: cluster.ring_states("node-4").get("node-4") == "normal", 20)
    return removed and unheard and joined, f"removed {removed}, node-2 had not heard {unheard}, node-4 joined as normal {joined}"


def main():
    parser = command_line(19740, description=__doc__)
    options = parser.parse_args()
    cluster = LocalCluster.for_test(options, "footfall-removal-race-", env={"FOOTFALL_REPAIR_INTERVAL_S": "3", "FOOTFALL_COMPRESSION": "none"})
    folder = cluster.folder
    try:
        cluster.form(names=NAMES)
        if not check(cluster.wait(lambda: cluster.settled(NAMES), 60), "four nodes form a cluster, every owner normal"):
            raise SystemExit(f"stopped early; logs and data kept in {folder}")
        for number in range(1, 4):
            before = streamed_lines(cluster)
            raced, seen = attempt(cluster)
            cluster.processes["node-1"].signal(signal.SIGCONT)
            if raced:
                break
            print(f"     attempt {number}: the race did not happen ({seen}); again")
            cluster.wait(lambda: cluster.settled(NAMES), 60)
        check(raced, f"control: node-4 completed its join as normal before the removal reached it ({seen})")
        settled = cluster.wait(lambda: cluster.settled(NAMES), 60)
        again = streamed_lines(cluster) > before
        check(settled and again, f"node-4, told of its removal after joining, streams its ranges in again and the cluster settles "
                                 f"(settled {settled}, streamed again {again}, node-4 sees {cluster.ring_states('node-4')})")
    finally:
        for process in cluster.processes.values():
            process.signal(signal.SIGCONT)
        cluster.stop()
    finish("removal race", folder)


if __name__ == "__main__":
    main()
