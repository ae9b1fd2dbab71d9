#!/usr/bin/env python3
"""Two processes claiming one name, run by `make test`.

Three nodes on loopback (mutual TLS). An operator's mistake starts a second `node-2` (the same
name and certificate, its own folder and ports) while node-2 runs. Required: the second process
stops at once with exit status 75 and says who holds the name; the running node-2 keeps it (the
same process in every member's view, still answering); the cluster takes writes throughout.
Then node-2 is killed and, once the cluster holds it dead, the second process starts again: it
takes the name over (a node restarted on another machine) and repairs before it serves. Last,
the old node-2 started again on its old folder and address is the one refused.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import hits  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster, command_line  # noqa: E402
from footfall_harness.process import Process  # noqa: E402
from footfall_harness.waits import wait_for  # noqa: E402

NAME_CONFLICT_EXIT = 75


def main():
    parser = command_line(19400, description=__doc__)
    options = parser.parse_args()
    cluster = LocalCluster.for_test(options, "footfall-name-conflict-")
    folder = cluster.folder
    second = Process(os.path.join(folder, "node-2-elsewhere.log"))
    elsewhere = f"127.0.0.1:{options.port_base + 9}"

    def start_second():
        second.start([cluster.binary, "serve", "--data", os.path.join(folder, "node-2-elsewhere"), "--node-name", "node-2",
                      "--port", str(options.port_base + 109), "--cluster-port", str(options.port_base + 9),
                      "--grpc-port", str(options.port_base + 159), "--certs", cluster.certs, "--join", cluster.internal("node-1")],
                     env=dict(os.environ, FOOTFALL_PROBE_INTERVAL_MS="500"))

    def log_of_second():
        with open(second.log_path, errors="replace") as handle:
            return handle.read()

    try:
        cluster.form()
        settled = cluster.wait(lambda: cluster.settled(), 60)
        check(settled, "three nodes form a cluster")
        token = cluster.bootstrap_token()
        if not settled or token is None:
            raise SystemExit(f"stopped early; logs and data kept in {folder}")
        api = ClusterAPI(cluster, token)
        # A node takes cookieless hits once it has fetched the daily-salt seed from a member: the
        # cluster can be settled a moment before that (a make test run met node-2 without it).
        salted = cluster.wait_salted(20)
        check(salted, "every node has the daily-salt seed")
        holder = cluster.status("node-1")["node-2"][1]

        start_second()
        second.wait(timeout=30)
        check(second.popen.returncode == NAME_CONFLICT_EXIT, f"a second node-2 elsewhere stops with status 75 ({second.popen.returncode})")
        check(f"node-2 is a live member at {cluster.internal('node-2')}" in log_of_second(), "it says which process holds the name")
        check(cluster.processes["node-2"].running, "the running node-2 goes on")
        same = all(cluster.status(name)["node-2"] == ("MEMBER_STATUS_ALIVE", holder) for name in NAMES)
        check(same, f"every member still holds the same node-2 process, alive ({[cluster.status(n)['node-2'] for n in NAMES]})")
        status, body = api.hits("node-2", [hits.pageview(f"kept-hit-{n:03d}", "localhost") for n in range(10)])
        check(status == 202 and body.get("accepted") == 10, f"node-2 still takes hits ({status} {body})")

        cluster.processes["node-2"].kill()
        dead = cluster.wait(lambda: all(cluster.status(n)["node-2"][0] == "MEMBER_STATUS_DEAD" for n in ("node-1", "node-3")), 30)
        check(dead, "node-2, killed, is held dead")
        start_second()
        took = wait_for(lambda: all(cluster.status(n).get("node-2", ("",))[0] == "MEMBER_STATUS_ALIVE" for n in ("node-1", "node-3"))
                        and second.running, 30)
        check(took and second.running, f"then the process elsewhere takes the name over (running: {second.running})")
        served = wait_for(lambda: "repair finished; this node serves reads again" in log_of_second(), 60)
        check(served, "it repairs before it serves reads")
        status, body = api.hits("node-1", [hits.pageview(f"after-hit-{n:03d}", "localhost") for n in range(10)])
        check(status == 202 and body.get("accepted") == 10, f"the cluster takes hits after the takeover ({status} {body})")

        old = cluster.processes["node-2"]
        cluster.start("node-2")
        old.wait(timeout=30)
        check(old.popen.returncode == NAME_CONFLICT_EXIT, f"the old node-2 started again is refused in turn ({old.popen.returncode})")
        check(second.running, "the process that holds the name goes on")
        check(cluster.status("node-1")["node-2"][0] == "MEMBER_STATUS_ALIVE", "and is held alive")
        check(elsewhere in cluster.cli("cluster", "status", "--node", cluster.internal("node-1"), "--certs", cluster.certs),
              f"at its own address {elsewhere}")
    finally:
        second.stop()
        cluster.stop()
    finish("name conflict", folder)


if __name__ == "__main__":
    main()
