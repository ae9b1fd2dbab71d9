#!/usr/bin/env python3
"""Certificates renewed and expiring while nodes serve, run by `make test`.

Three `footfall serve` processes on loopback (RF 3, quorum writes); node-3's certificate is issued
to run out about a minute after the cluster starts.
  1. `footfall cluster certs rotate` issues node-1 and node-2 new certificates; copied into their
     folders, each node serves its new one on its cluster port within the reload interval, in the
     same process, and the cluster still takes writes with every member alive.
  2. A wrong file (node-2's certificate copied as node-1's) is refused: node-1 keeps serving its
     own and says why in its log.
  3. node-3's certificate expires: node-1 and node-2 refuse it (a connection made with it is
     closed; both hold node-3 dead, although their connections with it were opened while it was
     valid) and writes through node-1 are still acknowledged at quorum.
  4. node-3 is given a renewed certificate: it is alive again on every node, without a restart.
  5. One node serving HTTPS and public gRPC: a certificate replaced on disk is served on both
     ports without a restart.
Exits non-zero on any failed check.
"""
import datetime
import os
import shutil
import socket
import ssl
import sys
import time

from cryptography import x509

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))

from footfall_harness import certs, hits, waits  # noqa: E402
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import NAMES, ClusterAPI, LocalCluster, command_line  # noqa: E402
from footfall_harness.process import Process  # noqa: E402

# A node reads its certificate files again every 10 s; a margin for a loaded machine.
RELOAD_WAIT_S = 30
NODE3_LIFETIME_S = 60
# An HTTP/2 client preface and an empty SETTINGS frame: a server that accepted the connection
# answers with its own SETTINGS.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def tls_context(client_stem=None, folder=None, authority=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if authority:
        context.load_verify_locations(authority)
    else:
        context.verify_mode = ssl.CERT_NONE
    if client_stem:
        context.load_cert_chain(os.path.join(folder, client_stem + ".pem"), os.path.join(folder, client_stem + "-key.pem"))
    context.set_alpn_protocols(["h2"])
    return context


def served_serial(port, context):
    """The serial number of the certificate a TLS server on `port` presents, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw) as connection:
                return x509.load_der_x509_certificate(connection.getpeercert(binary_form=True)).serial_number
    except (OSError, ssl.SSLError):
        return None


def file_serial(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).serial_number


def accepted(port, context):
    """Whether the server on `port` keeps a connection made with `context`'s client certificate:
    it answers an HTTP/2 preface with its SETTINGS instead of closing (TLS 1.3 reports a refused
    client certificate after the handshake, at the first read)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw) as connection:
                connection.sendall(HTTP2_PREFACE)
                return len(connection.recv(64)) > 0
    except (OSError, ssl.SSLError):
        return False


def install(source_folder, stem, target_folder, as_stem=None):
    """Copies STEM.pem and STEM-key.pem into `target_folder` (as AS_STEM) the way an operator
    would: each file written beside its target and renamed over it, the key first."""
    as_stem = as_stem or stem
    for suffix in ("-key.pem", ".pem"):
        target = os.path.join(target_folder, as_stem + suffix)
        shutil.copy(os.path.join(source_folder, stem + suffix), target + ".tmp")
        os.chmod(target + ".tmp", 0o600 if suffix == "-key.pem" else 0o644)
        os.rename(target + ".tmp", target)


def main():
    parser = command_line(17140)
    options = parser.parse_args()
    cluster = LocalCluster.for_test(options, "footfall-certs-", probe_ms=400)
    folder = cluster.folder
    solo = Process(os.path.join(folder, "solo.log"))
    try:
        cluster.issue_certificates(NAMES)
        # node-3's certificate runs out a minute from now.
        cluster.cli("certs", "node", "node-3", "--valid-for", f"{NODE3_LIFETIME_S}s", "--dir", cluster.certs)
        node3_expires = time.time() + NODE3_LIFETIME_S
        cluster.start_all()
        settled = cluster.wait(cluster.settled, 30)
        token = cluster.bootstrap_token()
        check(settled and token is not None, "three nodes form a cluster and node-1 printed its API token")
        if not settled or token is None:
            raise SystemExit(f"stopped early; logs and data kept in {folder}")
        run_cluster_checks(cluster, ClusterAPI(cluster, token), folder, node3_expires)
        run_https_checks(options, solo, folder)
    finally:
        solo.stop()
        cluster.stop()
    finish("certificate", folder)


def writes_acknowledged(api, via, label):
    batch = [hits.pageview(f"{label}-{n}") for n in range(5)]
    status, body = api.hits(via, batch)
    return status == 202 and body.get("accepted", 0) + body.get("duplicates", 0) == len(batch)


def run_cluster_checks(cluster, api, folder, node3_expires):
    cluster_port = {name: int(cluster.internal(name).split(":")[1]) for name in NAMES}
    authority = os.path.join(cluster.certs, "ca.pem")
    as_admin = tls_context("admin", cluster.certs, authority)
    pids = {name: cluster.processes[name].pid for name in NAMES}
    uids = {name: uid for name, (_, uid) in cluster.status("node-1").items()}

    # 1. Rotation of node-1 and node-2.
    before = {name: served_serial(cluster_port[name], as_admin) for name in NAMES}
    check(all(before[name] == file_serial(os.path.join(cluster.certs, name + ".pem")) for name in NAMES),
          "control: each node serves the certificate in its folder")
    renewed = os.path.join(folder, "renewed")
    cluster.cli("cluster", "certs", "rotate", "--node", cluster.internal("node-1"), "--certs", cluster.certs,
                "--out", renewed, "node-1", "node-2")
    check(sorted(os.listdir(renewed)) == ["node-1", "node-2"], "footfall cluster certs rotate writes a folder per named member")
    for name in ("node-1", "node-2"):
        install(os.path.join(renewed, name), name, cluster.certs)
    new = {name: file_serial(os.path.join(renewed, name, name + ".pem")) for name in ("node-1", "node-2")}
    served = cluster.wait(lambda: all(served_serial(cluster_port[n], as_admin) == new[n] for n in new), RELOAD_WAIT_S)
    check(served and all(new[n] != before[n] for n in new),
          f"node-1 and node-2 serve their renewed certificates within {RELOAD_WAIT_S} s")
    check(all(cluster.processes[n].pid == pids[n] and cluster.processes[n].running for n in NAMES),
          "no node was restarted for it")
    check(writes_acknowledged(api, "node-2", "after-rotation"), "writes through node-2 are acknowledged after the rotation")
    # A connection opened now carries the renewed certificates both ways.
    alive = cluster.wait(lambda: all(cluster.all_alive(n, expect_uids=uids) for n in NAMES), 20)
    check(alive, "every node still holds every member alive, with the same processes")

    # 2. A wrong file is refused.
    log_start = os.path.getsize(cluster.log_path("node-1"))
    install(os.path.join(renewed, "node-2"), "node-2", cluster.certs, as_stem="node-1")

    def node1_log():
        with open(cluster.log_path("node-1"), errors="replace") as log:
            log.seek(log_start)
            return log.read()
    refused = cluster.wait(lambda: "does not name node-1" in node1_log(), RELOAD_WAIT_S)
    check(refused and served_serial(cluster_port["node-1"], as_admin) == new["node-1"],
          "node-1 refuses node-2's certificate copied as its own, says why and keeps serving its own")
    install(os.path.join(renewed, "node-1"), "node-1", cluster.certs)

    # 3. node-3's certificate expires.
    as_node3 = tls_context("node-3", cluster.certs, authority)
    check(accepted(cluster_port["node-1"], as_node3), "control: node-1 takes a connection with node-3's certificate before it expires")
    check(time.time() < node3_expires, "control: node-3's certificate was still valid when the checks above ran")
    time.sleep(max(0, node3_expires - time.time()) + 1)
    check(not accepted(cluster_port["node-1"], as_node3), "node-1 refuses a connection with node-3's expired certificate")

    def node3_dead(via):
        return cluster.status(via).get("node-3", ("",))[0] == "MEMBER_STATUS_DEAD"
    dead = cluster.wait(lambda: node3_dead("node-1") and node3_dead("node-2"), 30)
    check(dead, "node-1 and node-2 hold node-3 dead once its certificate has expired, open connections included")
    check(writes_acknowledged(api, "node-1", "after-expiry"), "writes through node-1 are still acknowledged at quorum")

    # 4. node-3 renewed in place.
    cluster.cli("cluster", "certs", "rotate", "--node", cluster.internal("node-1"), "--certs", cluster.certs,
                "--out", renewed, "node-3")
    install(os.path.join(renewed, "node-3"), "node-3", cluster.certs)
    back = cluster.wait(lambda: all(cluster.all_alive(n) for n in NAMES), 60)
    check(back and cluster.processes["node-3"].pid == pids["node-3"] and cluster.processes["node-3"].running,
          "node-3 is alive on every node again with its renewed certificate, without a restart")


def run_https_checks(options, solo, folder):
    data = os.path.join(folder, "solo")
    tls = os.path.join(folder, "https")
    os.makedirs(tls)
    now = datetime.datetime.now(datetime.timezone.utc)

    def make(stem):
        key, cert = certs.make_cert("localhost", None, None, now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30))
        certs.write_key_and_cert(tls, stem, key, cert)
        return cert.serial_number
    first = make("https")
    http, https, grpc_port = options.port_base + 200, options.port_base + 201, options.port_base + 202
    solo.start([options.footfall, "serve", "--data", data, "--node-name", "solo", "--port", str(http),
                "--https-port", str(https), "--grpc-port", str(grpc_port), "--cluster-port", str(options.port_base + 203),
                "--tls-cert", os.path.join(tls, "https.pem"), "--tls-key", os.path.join(tls, "https-key.pem")])
    anyone = tls_context()
    up = waits.wait_for(lambda: served_serial(https, anyone) == first and served_serial(grpc_port, anyone) == first, 60)
    check(bool(up), "control: a node serves its HTTPS certificate on the HTTPS and public gRPC ports")
    pid = solo.pid
    second = make("renewed")
    install(tls, "renewed", tls, as_stem="https")
    served = waits.wait_for(lambda: served_serial(https, anyone) == second and served_serial(grpc_port, anyone) == second,
                            RELOAD_WAIT_S)
    check(bool(served) and solo.pid == pid and solo.running,
          f"a renewed HTTPS certificate is served on both ports within {RELOAD_WAIT_S} s, without a restart")


if __name__ == "__main__":
    main()
