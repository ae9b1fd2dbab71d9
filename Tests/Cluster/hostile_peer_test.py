#!/usr/bin/env python3
"""What a holder of one valid node certificate can do to a cluster (issue 14, items 3 and 5), run
by `make test`.

Two `footfall serve` processes on loopback form a cluster over mutual TLS; a Python grpcio client
holding the certificates of node-8 and node-9 (valid node certificates of the cluster CA, of
nodes that never joined) then sends each hostile message through the real node service. For each
one it checks that (1) the node process is still alive, (2) the hostile data was refused and not
adopted, (3) a legitimate request of the same kind still works afterwards:
  1. methods for operators or ring members only: Decommission, Repair and FetchClusterSecrets
     from a node certificate that holds no ranges;
  2. a liveness update naming node-2 with uid 2^64-1 (uids are start times in ms); a forged
     `left` for node-2 (final for a process); a dead claim at the highest incarnation allowed;
  3. SystemPush of an API token stamped with HLC 2^64-1 (beyond any later revocation);
  4. SystemPush of a malformed site record, then a restart: hourly maintenance must still run;
  5. Replicate of one event with timestamp_ms = Int64.max, and repair windows at the limits;
  6. `footfall cluster revoke node-9`: node-9's calls are refused, node-2's are not;
     `footfall cluster revoke --operator ann`: ann's `footfall cluster status` is refused on both
     nodes, bob's works; bob cannot revoke the certificate he calls with (the last operator could
     otherwise lock every operator out);
  7. gossip of 4096 ownership records whose versions sum past 2^64, then a restart from the saved
     cluster state.
Exits non-zero on any failed check; keeps the logs then.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness import metrics, web  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import LocalCluster, command_line  # noqa: E402
from footfall_harness.stubs import generate_stubs  # noqa: E402

NAMES = ["node-1", "node-2"]
HOSTILE = ["node-8", "node-9"]
UINT64_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1


class Peer:
    """Calls a node's internal service with mutual TLS as one of the cluster's certificates."""

    def __init__(self, cluster, stubs):
        self.cluster, (self.pb, self.pb_grpc) = cluster, stubs

    def call(self, method, request, as_name, to="node-1", timeout=10):
        read = lambda name: open(os.path.join(self.cluster.certs, name), "rb").read()
        credentials = grpc.ssl_channel_credentials(read("ca.pem"), read(as_name + "-key.pem"), read(as_name + ".pem"))
        channel = grpc.secure_channel(self.cluster.internal(to), credentials,
                                      options=[("grpc.ssl_target_name_override", f"{to}.node.footfall")])
        try:
            stub = self.pb_grpc.NodeServiceStub(channel)
            reply = getattr(stub, method)(request, timeout=timeout)
            if not hasattr(reply, "ListFields"):  # a server stream: read it to the end
                reply = list(reply)
            return reply, grpc.StatusCode.OK
        except grpc.RpcError as error:
            return None, error.code()
        finally:
            channel.close()


def http(cluster, name, path, token=None):
    status, body = web.call(cluster.http_url(name, path), headers={"Authorization": f"Bearer {token}"} if token else {})
    return status, body.decode(errors="replace")


def alive(cluster, peer, name):
    """The process runs and answers a call (a trapped process can take seconds to print its
    backtrace and exit, so running alone proves nothing)."""
    if not cluster.processes[name].running:
        return False
    reply, _ = peer.call("ClusterStatus", peer.pb.ClusterStatusRequest(), "admin", to=name, timeout=5)
    return reply is not None and cluster.processes[name].running


def ensure_running(cluster, peer, name):
    """Restarts a node the previous step killed, so later steps still have something to test."""
    if not alive(cluster, peer, name):
        cluster.restart(name)
        cluster.wait(lambda: status(cluster, name) is not None, 30)


def operator_status(cluster, via, as_name):
    """`footfall cluster status` with `as_name`'s operator certificate: its output, or None if refused."""
    try:
        return cluster.cli("cluster", "status", "--node", cluster.internal(via), "--certs", cluster.certs, "--as", as_name)
    except subprocess.CalledProcessError:
        return None


def status(cluster, via):
    try:
        return json.loads(cluster.cli("cluster", "status", "--json", "--node", cluster.internal(via), "--certs", cluster.certs))
    except subprocess.CalledProcessError:
        return None


def member_row(cluster, via, name):
    reply = status(cluster, via) or {}
    return next((m["record"] for m in reply.get("members", []) if m["record"]["member"]["name"] == name), None)




def retention_runs(cluster, name):
    code, text = http(cluster, name, "/metrics")
    return (metrics.value(text, "footfall_retention_runs_total") if code == 200 else None) or 0




def system_records(peer, as_name):
    reply, code = peer.call("SystemSync", peer.pb.SystemIndex(), as_name)
    return {r.key: r for r in reply.newer} if reply else {}


def stored_event(timestamp_ms, visitor=7):
    from footfall.v1 import event_pb2  # generated beside node_pb2 by generate_stubs
    event = event_pb2.StoredEvent(site="localhost", visitor=visitor, timestamp_ms=timestamp_ms, path="/hostile-test", kind=1)
    event.id = (max(0, timestamp_ms) & 0xFFFF_FFFF_FFFF).to_bytes(6, "big") + os.urandom(10)
    return event


def main():
    parser = command_line(19940)
    parser.add_argument("--steps", help="comma-separated steps to run (default: all)")
    options = parser.parse_args()

    # A node that traps exits at once instead of symbolicating a backtrace for a minute (holding
    # its ports, so that a restart could not bind them).
    cluster = LocalCluster.for_test(options, "footfall-hostile-", env={"SWIFT_BACKTRACE": "enable=no"})
    folder = cluster.folder
    try:
        peer = Peer(cluster, generate_stubs(os.path.join(folder, "stubs")))
        cluster.issue_certificates(NAMES + HOSTILE)
        for name in NAMES:
            cluster.start(name)
            time.sleep(1)
        formed = cluster.wait(lambda: all((member_row(cluster, via, n) or {}).get("status") == "MEMBER_STATUS_ALIVE"
                                          for via in NAMES for n in NAMES), 30)
        check(formed, "two nodes form a cluster")
        token = cluster.bootstrap_token()
        check(token is not None, "node-1 printed its bootstrap API token")
        if not formed or token is None:
            raise SystemExit(f"stopped early; logs and data kept in {folder}")
        steps = (caller_rights, huge_uid, forged_liveness, future_hlc, malformed_site, replicate_extremes, revocation,
                 operator_revocation, epoch_overflow)
        for step in steps:
            if options.steps and step.__name__ not in options.steps.split(","):
                continue
            print(f"-- {step.__name__}", flush=True)
            step(cluster, peer, token)
            for name in NAMES:
                ensure_running(cluster, peer, name)
    finally:
        cluster.stop()
    finish("hostile-peer", folder)


def caller_rights(cluster, peer, token):
    pb = peer.pb
    # A harmless name, so that if the call were accepted it would do nothing.
    _, code = peer.call("Decommission", pb.DecommissionRequest(name="node-9"), "node-9")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"a node certificate may not call Decommission ({code})")
    _, code = peer.call("Repair", pb.RepairCommand(), "node-9")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"a node certificate may not call Repair ({code})")
    _, code = peer.call("Repair", pb.RepairCommand(), "admin")
    check(code == grpc.StatusCode.OK, f"the operator certificate still may call Repair ({code})")
    _, code = peer.call("FetchClusterSecrets", pb.ClusterSecretsRequest(), "node-9")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"a node that holds no ranges gets no daily-salt seed ({code})")
    reply, code = peer.call("FetchClusterSecrets", pb.ClusterSecretsRequest(), "node-2")
    check(code == grpc.StatusCode.OK and len(reply.daily_salt_seed) == 32, f"ring member node-2 still gets the seed ({code})")


def huge_uid(cluster, peer, token):
    pb = peer.pb
    before = member_row(cluster, "node-1", "node-2")
    envelope = pb.GossipEnvelope(incarnation=1)
    getattr(envelope, "from").CopyFrom(pb.Member(name="node-9", uid=int(time.time() * 1000), address="127.0.0.1:1"))
    claim = pb.MemberRecord(member=pb.Member(name="node-2", uid=UINT64_MAX, address=cluster.internal("node-2")),
                            incarnation=1, status=pb.MEMBER_STATUS_DEAD)
    envelope.gossip.gossip.add().liveness.CopyFrom(pb.LivenessUpdate(record=claim, origin="node-9"))
    _, code = peer.call("Gossip", envelope, "node-9")
    time.sleep(3)
    check(alive(cluster, peer, "node-1") and alive(cluster, peer, "node-2"), "after a uid of 2^64-1 in gossip both nodes still run")
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"a liveness update with uid 2^64-1 is refused ({code})")
    after = member_row(cluster, "node-1", "node-2") or {}
    check(after.get("status") == "MEMBER_STATUS_ALIVE" and int(after["member"]["uid"]) == int(before["member"]["uid"]),
          f"node-1 still holds node-2 alive under its own uid ({after.get('status')}, uid {after.get('member', {}).get('uid')})")
    ok = cluster.wait(lambda: (member_row(cluster, "node-2", "node-2") or {}).get("status") == "MEMBER_STATUS_ALIVE", 5)
    check(ok, "node-2 still takes part in the cluster")
    # A legitimate gossip message from node-9 in its own name is still taken.
    legit = pb.GossipEnvelope(incarnation=1)
    getattr(legit, "from").CopyFrom(pb.Member(name="node-9", uid=int(time.time() * 1000), address="127.0.0.1:1"))
    legit.gossip.SetInParent()
    _, code = peer.call("Gossip", legit, "node-9")
    check(code == grpc.StatusCode.OK, f"plausible gossip from node-9 is still accepted ({code})")


def forged_liveness(cluster, peer, token):
    pb = peer.pb
    row = member_row(cluster, "node-1", "node-2")
    real = pb.Member(name="node-2", uid=int(row["member"]["uid"]), address=row["member"]["address"])

    def gossip(status, incarnation):
        envelope = pb.GossipEnvelope(incarnation=1)
        getattr(envelope, "from").CopyFrom(pb.Member(name="node-9", uid=int(time.time() * 1000), address="127.0.0.1:1"))
        claim = pb.MemberRecord(member=real, incarnation=incarnation, status=status)
        envelope.gossip.gossip.add().liveness.CopyFrom(pb.LivenessUpdate(record=claim, origin="node-2"))
        return peer.call("Gossip", envelope, "node-9")[1]

    # The highest dead claim allowed is refuted, and the refutation still travels.
    code = gossip(pb.MEMBER_STATUS_DEAD, 1 << 52)
    check(code == grpc.StatusCode.OK, f"a dead claim at incarnation 2^52 is accepted as gossip ({code})")
    refuted = cluster.wait(lambda: (member_row(cluster, "node-1", "node-2") or {}).get("status") == "MEMBER_STATUS_ALIVE"
                           and int((member_row(cluster, "node-1", "node-2") or {}).get("incarnation", 0)) > 1 << 52, 15)
    check(refuted, "node-2 refutes a dead claim at incarnation 2^52 and node-1 holds it alive again")
    # `left` is final for a process, at any incarnation: only node-2 itself may say it.
    gossip(pb.MEMBER_STATUS_LEFT, 0)
    time.sleep(3)
    after = (member_row(cluster, "node-1", "node-2") or {}).get("status")
    check(after == "MEMBER_STATUS_ALIVE", f"a `left` forged by node-9 does not evict node-2 ({after})")
    check(alive(cluster, peer, "node-1") and alive(cluster, peer, "node-2"), "both nodes still run")


def future_hlc(cluster, peer, token):
    pb = peer.pb
    records = system_records(peer, "node-9")
    account = next(json.loads(r.value)["id"] for k, r in records.items() if k.startswith("account:") and not r.deleted)
    secret = "fft_" + os.urandom(24).hex()
    value = json.dumps({"id": "planted", "name": "planted", "accountID": account, "rights": ["read", "visitors", "erase", "admin"],
                        "createdMs": int(time.time() * 1000)}).encode()
    record = pb.SystemRecord(key="token:" + hashlib.sha256(secret.encode()).hexdigest(), hlc=UINT64_MAX, origin="node-9", value=value)
    _, code = peer.call("SystemPush", pb.SystemRecords(records=[record]), "node-9")
    time.sleep(1)
    check(alive(cluster, peer, "node-1"), "after an HLC of 2^64-1 node-1 still runs")
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"a system record stamped 2^64-1 is refused ({code})")
    planted, _ = http(cluster, "node-1", "/api/sites/localhost/summary", secret)
    check(planted == 401, f"the planted token is not accepted ({planted})")
    check(all(r.hlc >> 16 < time.time() * 1000 + 3_600_000 for r in system_records(peer, "node-2").values()),
          "no system record on node-1 is stamped beyond the clock")
    legit, _ = http(cluster, "node-1", "/api/sites/localhost/summary", token)
    check(legit == 200, f"the bootstrap token still works ({legit})")


def malformed_site(cluster, peer, token):
    pb = peer.pb
    hlc = int(time.time() * 1000) << 16
    bad = pb.SystemRecord(key="site:hostile.example", hlc=hlc, origin="node-9", value=b'{"nonsense": 1}')
    _, code = peer.call("SystemPush", pb.SystemRecords(records=[bad]), "node-9")
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"a malformed site record is refused ({code})")
    check("site:hostile.example" not in system_records(peer, "node-9"), "the malformed site record is not stored")
    cluster.restart("node-1")
    ran = cluster.wait(lambda: retention_runs(cluster, "node-1") >= 1, 30)
    check(ran, "after a restart, node-1's maintenance (retention, idle accounts) runs")
    good = pb.SystemRecord(key="session:" + "0" * 64, hlc=hlc, origin="node-9",
                           value=json.dumps({"accountID": "x", "csrfToken": "y", "expiresMs": 0}).encode())
    _, code = peer.call("SystemPush", pb.SystemRecords(records=[good]), "node-9", to="node-2")
    check(code == grpc.StatusCode.OK, f"a well-formed system record is still merged ({code})")
    cluster.wait(lambda: (member_row(cluster, "node-1", "node-2") or {}).get("status") == "MEMBER_STATUS_ALIVE", 30)


def replicate_extremes(cluster, peer, token):
    pb = peer.pb
    # One visitor's events at both ends of Int64: visit derivation subtracts neighbours' times.
    for what, timestamp in [("Int64.max", INT64_MAX), ("Int64.min", -(1 << 63)), ("Int64.max again", INT64_MAX)]:
        hostile = pb.ReplicaRequest(id=1)
        hostile.events.events.append(stored_event(timestamp))
        _, code = peer.call("Replicate", hostile, "node-9")
        time.sleep(1)
        check(alive(cluster, peer, "node-1"), f"after Replicate of an event at {what} node-1 still runs")
        check(code == grpc.StatusCode.INVALID_ARGUMENT, f"an event at {what} is refused ({code})")
        ensure_running(cluster, peer, "node-1")
    window = pb.RepairWindow(site="localhost", from_ms=-(1 << 63), until_ms=INT64_MAX)
    for method, request in [("RepairDigests", window),
                            ("RepairSliceIDs", pb.RepairSlice(window=window, day=(1 << 32) - 1, slice=15)),
                            ("RepairIDPage", pb.RepairIDPageRequest(window=window, day=(1 << 32) - 1, slices=[15], limit=(1 << 32) - 1)),
                            ("RepairSummaries", pb.RepairSummariesRequest(windows=[window]))]:
        _, code = peer.call(method, request, "node-9")
        check(alive(cluster, peer, "node-1") and code == grpc.StatusCode.INVALID_ARGUMENT,
              f"{method} over an implausible window is refused and node-1 runs ({code})")
    plausible = pb.RepairWindow(site="localhost", from_ms=0, until_ms=int(time.time() * 1000))
    today = int(time.time() // 86400)
    for what, request in [("a slice beyond the day's 16", pb.RepairIDPageRequest(window=plausible, day=today, slices=[16])),
                          ("a cursor of 3 bytes", pb.RepairIDPageRequest(window=plausible, day=today, slices=[0], after=b"abc"))]:
        _, code = peer.call("RepairIDPage", request, "node-9")
        check(alive(cluster, peer, "node-1") and code == grpc.StatusCode.INVALID_ARGUMENT, f"an id page with {what} is refused ({code})")
    _, code = peer.call("RepairSummaries", pb.RepairSummariesRequest(windows=[plausible] * 1_001), "node-9")
    check(alive(cluster, peer, "node-1") and code == grpc.StatusCode.INVALID_ARGUMENT, f"summaries of 1,001 sites in one request are refused ({code})")
    reply, code = peer.call("RepairSummaries", pb.RepairSummariesRequest(windows=[plausible] * 3), "node-9")
    check(code == grpc.StatusCode.OK and len(reply.summaries) == 3 and len(set(reply.summaries)) == 1,
          f"summaries of a plausible window are answered, one per window ({code})")
    legit = pb.ReplicaRequest(id=2)
    legit.events.events.append(stored_event(int(time.time() * 1000)))
    reply, code = peer.call("Replicate", legit, "node-2")
    check(code == grpc.StatusCode.OK and reply.stored == 1, f"a plausible event is still stored ({code})")


def revocation(cluster, peer, token):
    pb = peer.pb
    try:
        out = cluster.cli("cluster", "revoke", "node-9", "--node", cluster.internal("node-1"), "--certs", cluster.certs)
        print(out.strip(), flush=True)
        revoked = True
    except subprocess.CalledProcessError as error:
        print(error.stderr.strip(), flush=True)
        revoked = False
    check(revoked, "`footfall cluster revoke node-9` succeeds with the operator certificate")
    for name in NAMES:
        refused = cluster.wait(lambda: peer.call("Clock", pb.ClockRequest(), "node-9", to=name)[1] == grpc.StatusCode.PERMISSION_DENIED, 10)
        check(refused, f"node-9's calls to {name} are refused with PERMISSION_DENIED once revoked")
    _, code = peer.call("Clock", pb.ClockRequest(), "node-2")
    check(code == grpc.StatusCode.OK, f"node-2's calls still work ({code})")
    _, code = peer.call("Clock", pb.ClockRequest(), "node-8")
    check(code == grpc.StatusCode.OK, f"node-8's calls still work ({code})")


def operator_revocation(cluster, peer, token):
    for name in ("ann", "bob"):
        cluster.cli("certs", "operator", name, "--dir", cluster.certs)
    check(operator_status(cluster, "node-1", "ann") is not None, "ann's operator certificate works before its revocation")
    try:
        out = cluster.cli("cluster", "revoke", "--operator", "ann", "--node", cluster.internal("node-1"), "--certs", cluster.certs)
        print(out.strip(), flush=True)
        revoked = True
    except subprocess.CalledProcessError as error:
        print(error.stderr.strip(), flush=True)
        revoked = False
    check(revoked, "`footfall cluster revoke --operator ann` succeeds with admin's operator certificate")
    for name in NAMES:
        refused = cluster.wait(lambda: operator_status(cluster, name, "ann") is None, 10)
        check(refused, f"ann's `footfall cluster status` on {name} is refused once revoked")
        check(operator_status(cluster, name, "bob") is not None, f"bob's `footfall cluster status` on {name} still works")
    try:
        cluster.cli("cluster", "revoke", "--operator", "bob", "--node", cluster.internal("node-1"), "--certs", cluster.certs, "--as", "bob")
        refused, message = False, ""
    except subprocess.CalledProcessError as error:
        refused, message = True, error.stderr.strip()
    check(refused and "refusing to revoke" in message, f"bob cannot revoke the certificate he calls with ({message[:160]})")
    check(operator_status(cluster, "node-2", "bob") is not None, "bob's certificate still works after his refused self-revocation")


def epoch_overflow(cluster, peer, token):
    pb = peer.pb
    envelope = pb.GossipEnvelope(incarnation=1)
    getattr(envelope, "from").CopyFrom(pb.Member(name="node-8", uid=int(time.time() * 1000), address="127.0.0.1:1"))
    for index in range(4096):
        envelope.gossip.gossip.add().ownership.CopyFrom(pb.OwnershipRecord(name=f"ghost-{index}", state=pb.OWNERSHIP_STATE_REMOVED,
                                                                           version=1 << 52))
    _, code = peer.call("Gossip", envelope, "node-8")
    time.sleep(2)
    check(alive(cluster, peer, "node-1"), "after ownership versions summing past 2^64 node-1 still runs")
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"ownership versions of 2^52 are refused ({code})")
    reply, _ = peer.call("ClusterStatus", pb.ClusterStatusRequest(), "admin")
    check(reply is not None and reply.ring_epoch < 1 << 32, f"the ring epoch stays plausible ({reply.ring_epoch if reply else None})")
    cluster.restart("node-1")
    back = cluster.wait(lambda: (member_row(cluster, "node-1", "node-2") or {}).get("status") == "MEMBER_STATUS_ALIVE", 30)
    check(back and alive(cluster, peer, "node-1"), "node-1 restarts from its saved cluster state and sees node-2 alive")


if __name__ == "__main__":
    main()
