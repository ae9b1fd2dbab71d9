#!/usr/bin/env python3
"""Real-process cluster checks, run by `make test` (and `make cluster-detect` with more kills).

Starts three `footfall serve` processes on loopback that form a cluster over mutual TLS, then:
  1. every node's `footfall cluster status` shows all three alive;
  2. an independent client (Python grpcio, stubs generated here from Proto/) is refused with no
     certificate, with a certificate from another CA, with an expired certificate from the
     cluster CA, and when its certificate's identity does not match what it claims or may call;
     the same client with the operator certificate succeeds (so the refusals are not an artefact);
  3. kill -9 one node, N times: the others mark it dead (time measured), and the restarted process
     rejoins as a new member (a larger uid);
  4. under HTTP ingest load, no live member is ever declared dead (false positives counted).
Prints the measurements; exits non-zero on any failed check.
"""
import datetime
import json
import os
import socket
import ssl
import statistics
import sys
import threading
import time
import urllib.request

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness.certs import make_cert, write_key_and_cert  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import BROWSER, NAMES, LocalCluster, command_line  # noqa: E402
from footfall_harness.stubs import generate_stubs  # noqa: E402


def main():
    parser = command_line(17940)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--load-seconds", type=int, default=15)
    parser.add_argument("--probe-ms", type=int, default=1000)
    options = parser.parse_args()

    cluster = LocalCluster.for_test(options, "footfall-cluster-", probe_ms=options.probe_ms)
    folder = cluster.folder
    try:
        node_pb2, node_pb2_grpc = generate_stubs(os.path.join(folder, "stubs"))
        cluster.form(spare=["node-9"])

        # 1. A cluster forms through mutual TLS.
        formed = cluster.wait(lambda: all(cluster.all_alive(n) for n in NAMES), 30)
        check(formed, "three nodes form a cluster; every node's status shows all three alive")
        if not formed:
            raise SystemExit(f"stopped early; logs and data kept in {folder}")

        # 2. Refusals, with an independent client making real RPCs.
        refusal_checks(cluster, node_pb2, node_pb2_grpc)

        # 3. kill -9 and restart, measured.
        detection = []
        for round_number in range(options.kills):
            victim = NAMES[1 + round_number % 2]
            old_uid = cluster.status("node-1")[victim][1]
            cluster.processes[victim].kill()
            check(not cluster.processes[victim].running, f"kill -9 {victim}: the process is gone")
            killed_at = time.monotonic()
            others = [n for n in NAMES if n != victim]
            seen = cluster.wait(lambda: all(cluster.status(o).get(victim, ("", 0))[0] == "MEMBER_STATUS_DEAD" for o in others), 60)
            elapsed = time.monotonic() - killed_at
            check(seen, f"kill -9 {victim}: both others mark it dead ({elapsed:.1f} s)")
            if seen:
                detection.append(elapsed)
            cluster.start(victim)
            rejoined = cluster.wait(lambda: all(
                cluster.status(o)[victim][0] == "MEMBER_STATUS_ALIVE" and cluster.status(o)[victim][1] > old_uid
                for o in NAMES), 30)
            check(rejoined, f"restarted {victim} is alive on every node as a new member (uid > {old_uid})")
        if detection:
            print(f"detection after kill -9 over {len(detection)} kills (probe interval {options.probe_ms} ms): "
                  f"median {statistics.median(detection):.1f} s, max {max(detection):.1f} s", flush=True)

        # 4. The founder (started without --join) stopped gracefully and started again as it was
        # first started: its peers do not seek out a member that left, so it must find them.
        founder_restart_check(cluster)

        # 5. False positives under ingest load.
        false_positive_check(cluster, options.load_seconds)
    finally:
        cluster.stop()
    finish("cluster", folder)


def refusal_checks(cluster, node_pb2, node_pb2_grpc):
    certs = cluster.certs
    read = lambda name: open(os.path.join(certs, name), "rb").read()
    ca = read("ca.pem")
    now = datetime.datetime.now(datetime.timezone.utc)
    # Another CA, with a node certificate that names node-2 correctly.
    other_key, other_ca = make_cert("Other CA", None, None, now - datetime.timedelta(days=1), now + datetime.timedelta(days=30), is_ca=True)
    key, cert = make_cert("node-2.node.footfall", other_ca.subject, other_key, now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    write_key_and_cert(certs, "foreign", key, cert)
    # An expired certificate signed by the real cluster CA.
    ca_key = serialization.load_pem_private_key(read("ca-key.pem"), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca)
    key, cert = make_cert("admin.operator.footfall", ca_cert.subject, ca_key, now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
    write_key_and_cert(certs, "expired", key, cert)

    target = cluster.internal("node-1")

    def call(method, request, cert_stem=None, server_name="node-1.node.footfall"):
        if cert_stem:
            credentials = grpc.ssl_channel_credentials(ca, read(cert_stem + "-key.pem"), read(cert_stem + ".pem"))
        else:
            credentials = grpc.ssl_channel_credentials(ca)
        channel = grpc.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", server_name)])
        try:
            stub = node_pb2_grpc.NodeServiceStub(channel)
            return getattr(stub, method)(request, timeout=5), None
        except grpc.RpcError as error:
            return None, error.code()
        finally:
            channel.close()

    status = node_pb2.ClusterStatusRequest()
    reply, code = call("ClusterStatus", status, "admin")
    check(reply is not None and len(reply.members) == 3, f"operator certificate: ClusterStatus answers with 3 members (code {code})")
    for stem, what in [(None, "no client certificate"), ("foreign", "a certificate from another CA"),
                       ("expired", "an expired certificate from the cluster CA")]:
        reply, code = call("ClusterStatus", status, stem)
        check(reply is None and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED),
              f"{what}: the RPC is refused ({code})")
    # A valid node certificate (node-9) claiming to be node-1 in gossip.
    envelope = node_pb2.GossipEnvelope()
    envelope.incarnation = 99
    getattr(envelope, "from").CopyFrom(node_pb2.Member(name="node-1", uid=1, address="127.0.0.1:1"))
    envelope.gossip.SetInParent()
    reply, code = call("Gossip", envelope, "node-9")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"node-9's certificate sending gossip as node-1 is refused ({code})")
    reply, code = call("Gossip", envelope, "admin")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"an operator certificate may not send gossip ({code})")
    reply, code = call("RemoveMember", node_pb2.RemoveMemberRequest(name="node-2"), "node-9")
    check(code == grpc.StatusCode.PERMISSION_DENIED, f"a node certificate may not remove members ({code})")
    # The client checks the server's identity too: node-1's certificate does not name node-2.
    reply, code = call("ClusterStatus", status, "admin", server_name="node-2.node.footfall")
    check(reply is None and code == grpc.StatusCode.UNAVAILABLE, f"expecting node-2 at node-1's address fails the handshake ({code})")
    # TLS 1.3 only: with the same valid operator certificate, a TLS 1.2 connection is closed as
    # soon as the client sends its first bytes, before any request reaches gRPC.
    open13 = connection_stays_open(cluster, target, ssl.TLSVersion.TLSv1_3)
    open12 = connection_stays_open(cluster, target, ssl.TLSVersion.TLSv1_2)
    check(open13, "positive control: a TLS 1.3 connection stays open after the HTTP/2 preface")
    check(not open12, "a TLS 1.2 connection is closed by the node after the client's first bytes")


def connection_stays_open(cluster, target, version):
    """Whether the node keeps a connection open for 2 s after the client's HTTP/2 preface."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = version
    context.check_hostname = False
    context.load_verify_locations(os.path.join(cluster.certs, "ca.pem"))
    context.load_cert_chain(os.path.join(cluster.certs, "admin.pem"), os.path.join(cluster.certs, "admin-key.pem"))
    context.set_alpn_protocols(["h2"])
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="node-1.node.footfall") as tls:
                # Connection preface, then an empty SETTINGS frame.
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                tls.settimeout(2)
                while tls.recv(4096):
                    pass
                return False  # end of stream: the node closed it
    except (socket.timeout, TimeoutError):
        return True
    except (OSError, ssl.SSLError):
        return False


def founder_restart_check(cluster):
    old_uid = cluster.status("node-2")["node-1"][1]
    cluster.processes["node-1"].stop()
    left = cluster.wait(lambda: all(cluster.status(o).get("node-1", ("",))[0] == "MEMBER_STATUS_LEFT" for o in NAMES[1:]), 20)
    check(left, "node-1, stopped with SIGTERM, has left on both others")
    cluster.start("node-1")
    back = cluster.wait(lambda: all(cluster.status(o)["node-1"][0] == "MEMBER_STATUS_ALIVE" and cluster.status(o)["node-1"][1] > old_uid
                                    for o in NAMES) and cluster.all_alive("node-1"), 30)
    check(back, "node-1, started again without --join, finds the others from its saved state: all three alive everywhere")
    # The whole cluster stopped and started again as it was formed: no node waits on another.
    cluster.stop()
    cluster.start_all()
    check(cluster.wait(lambda: all(cluster.all_alive(n) for n in NAMES), 30), "after a restart of the whole cluster all three are alive everywhere")


def false_positive_check(cluster, seconds):
    stop = time.monotonic() + seconds
    sent = [0]

    def load():
        hit = json.dumps([{"site": "localhost", "url": "http://localhost/load-test", "kind": "pageview"}] * 50).encode()
        while time.monotonic() < stop:
            for name in NAMES:
                request = urllib.request.Request(cluster.http_url(name, "/api/event"), data=hit,
                                                 headers={"Content-Type": "application/json", "User-Agent": BROWSER})
                try:
                    urllib.request.urlopen(request, timeout=5).read()
                except Exception:
                    pass
                sent[0] += 1

    marks = {n: os.path.getsize(cluster.log_path(n)) for n in NAMES}
    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dead, suspect = 0, 0
    for name in NAMES:
        with open(cluster.log_path(name), "rb") as log:
            log.seek(marks[name])
            text = log.read().decode(errors="replace")
        dead += text.count("member dead")
        suspect += text.count("member suspect")
    print(f"under load ({sent[0]} HTTP requests in {seconds} s on 8 threads): {suspect} suspicions, {dead} false deaths", flush=True)
    check(dead == 0, "no live member is declared dead under load")
    check(all(cluster.all_alive(n) for n in NAMES), "all three still alive after the load")


if __name__ == "__main__":
    main()
