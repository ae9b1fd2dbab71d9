"""Nodes of one cluster on loopback, each on ports of its own (`base_port` + index for the
cluster, `http_base` + index for HTTP), formed over mutual TLS the way an operator forms one:
certificates from the CLI, node-1 first, the others joining it."""

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time

from . import certs, credentials, waits, web
from .process import Process

NAMES = ["node-1", "node-2", "node-3"]
# A desktop browser's User-Agent: nodes drop hits from bots.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def index_of(name):
    return int(name.split("-")[1])


def command_line(port_base, description=None):
    """The arguments every cluster test takes: the binary and the first of its ports (each test
    has a range of its own, so tests never share one). Add more, then `parse_args()`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footfall", default=os.path.join(ROOT, ".build/debug/footfall"))
    parser.add_argument("--port-base", type=int, default=port_base)
    return parser


class LocalCluster:
    def __init__(self, binary, folder, probe_ms, base_port, http_base, env=None):
        self.binary, self.folder, self.probe_ms = binary, folder, probe_ms
        self.base_port, self.http_base = base_port, http_base
        self.certs = os.path.join(folder, "certs")
        self.env = dict(env or {})
        self.processes = {}

    @classmethod
    def for_test(cls, options, prefix, probe_ms=500, env=None):
        """A cluster in a new temporary folder, on the ports `options` (of `command_line`) give."""
        folder = tempfile.mkdtemp(prefix=prefix)
        return cls(options.footfall, folder, probe_ms, options.port_base, options.port_base + 100, env)

    def cli(self, *args):
        return subprocess.run([self.binary, *args], check=True, capture_output=True, text=True).stdout

    def issue_certificates(self, nodes, operators=("admin",)):
        certs.issue(self.binary, self.certs, "test", nodes, operators)

    def form(self, spare=(), names=NAMES):
        """Certificates for `names` and the `spare` node names, then node-1 and the others joining it."""
        self.issue_certificates(list(names) + list(spare))
        self.start_all(names)

    def start_all(self, names=NAMES):
        """node-1, then a second later the others, which join it."""
        for name in names:
            self.start(name)
            if name == "node-1":
                time.sleep(1)

    def internal(self, name):
        return f"127.0.0.1:{self.base_port + index_of(name)}"

    def http_url(self, name, path=""):
        return f"http://127.0.0.1:{self.http_base + index_of(name)}{path}"

    def log_path(self, name):
        return os.path.join(self.folder, name + ".log")

    def start(self, name, extra=(), env=None):
        """Starts `name` (node-1 founds the cluster, the others join it); `extra` arguments last,
        `env` added to the cluster's environment for this process."""
        index = index_of(name)
        command = [self.binary, "serve", "--data", os.path.join(self.folder, name), "--node-name", name,
                   "--port", str(self.http_base + index), "--cluster-port", str(self.base_port + index),
                   "--grpc-port", str(self.http_base + 50 + index), "--certs", self.certs]
        if name != "node-1":
            command += ["--join", self.internal("node-1")]
        command += list(extra)
        process = self.processes.setdefault(name, Process(self.log_path(name)))
        process.start(command, env=dict(os.environ, FOOTFALL_PROBE_INTERVAL_MS=str(self.probe_ms), **self.env, **(env or {})))

    def restart(self, name):
        self.processes[name].stop()
        self.start(name)

    def status(self, via):
        """Each member `via` knows: name → (status, uid)."""
        reply = json.loads(self.cli("cluster", "status", "--json", "--node", self.internal(via), "--certs", self.certs))
        return {m["record"]["member"]["name"]: (m["record"].get("status", ""), int(m["record"]["member"].get("uid", 0)))
                for m in reply.get("members", [])}

    def ring_states(self, via):
        """Each ring owner `via` knows: name → "joining", "normal", "leaving"…"""
        reply = json.loads(self.cli("cluster", "ring", "--json", "--node", self.internal(via), "--certs", self.certs))
        return {owner["name"]: owner.get("state", "").replace("OWNERSHIP_STATE_", "").lower() for owner in reply.get("owners", [])}

    def all_alive(self, via, names=NAMES, expect_uids=None):
        """`via` sees exactly `names` alive (and, if given, each with the expected process uid)."""
        status = self.status(via)
        if {n for n, (s, _) in status.items() if s == "MEMBER_STATUS_ALIVE"} != set(names):
            return False
        return expect_uids is None or all(status[n][1] == expect_uids[n] for n in expect_uids)

    def settled(self, names=NAMES):
        """Every node sees every other alive and every ring owner normal."""
        return all(self.all_alive(n, names) for n in names) and all(
            self.ring_states(n) == {m: "normal" for m in names} for n in names)

    def wait(self, condition, timeout):
        return bool(waits.wait_for(condition, timeout, interval=0.1))

    def wait_salted(self, timeout, names=NAMES):
        """Whether each of `names` has the daily-salt seed within `timeout` s. A node refuses
        cookieless hits with 503 until it has fetched the seed, so a test that writes as soon as
        the cluster settles races that fetch."""
        return self.wait(lambda: all(web.salted(self.http_url(n)) for n in names), timeout)

    def bootstrap_token(self):
        return credentials.bootstrap_token(self.log_path("node-1"))

    def login_as_bootstrap_admin(self):
        """A dashboard session (cookie, CSRF token) of the admin node-1 created, or None."""
        password = credentials.bootstrap_password(self.log_path("node-1"))
        return password and credentials.login(self.http_url("node-1"), credentials.BOOTSTRAP_EMAIL, password)

    def stop(self):
        # All told first, so they shut down together.
        for process in self.processes.values():
            process.signal(signal.SIGTERM)
        for process in self.processes.values():
            process.stop(timeout=10)


class ClusterAPI:
    """The public HTTP API of a cluster's nodes, with one bearer token, answers decoded from JSON."""

    def __init__(self, cluster, token):
        self.cluster, self.token = cluster, token
        self.replica = None

    def url(self, name, path):
        return self.cluster.http_url(name, path)

    def request(self, name, path, body=None, method=None, token=None, timeout=10, headers=None):
        """(status, decoded body); status 0 if the node could not be reached. Remembers which
        replica answered (`X-Footfall-Replica`)."""
        headers = dict(headers or {}, **{"Authorization": f"Bearer {token or self.token}", "User-Agent": BROWSER})
        status, answer_headers, raw = web.exchange(self.url(name, path), method or ("POST" if body is not None else "GET"), body, headers, timeout)
        if 200 <= status < 300:
            self.replica = answer_headers.get("X-Footfall-Replica")
        return status, web.decoded(raw)

    def wait_known(self, site, timeout, names=NAMES):
        """Whether each of `names` knows `site` within `timeout` s. A site created on one node
        reaches the others by gossip, and a node that does not know it yet refuses its hits: a
        test or bench that writes as soon as it created its sites races that gossip."""
        return self.cluster.wait(lambda: all(self.request(n, f"/api/sites/{site}")[0] == 200 for n in names), timeout)

    def hits(self, name, hits, consistency=None, client=None):
        """Posts hits; `client` is a visitor address sent as X-Forwarded-For (nodes that trust
        loopback as a proxy then rate-limit per address, as behind a load balancer)."""
        query = f"?consistency={consistency}" if consistency else ""
        return self.request(name, "/api/event" + query, hits, headers={"X-Forwarded-For": client} if client else None)

    def pageviews(self, name, site="localhost"):
        status, body = self.request(name, f"/api/sites/{site}/summary")
        return body["pageviews"] if status == 200 else None

    def own_pageviews(self, name, site="localhost"):
        """The pageviews in `name`'s own data: only an answer the node gave itself counts."""
        status, body = self.request(name, f"/api/sites/{site}/summary")
        return body["pageviews"] if status == 200 and self.replica == name else None
