"""One `footfall serve` on loopback whose data folder outlives its processes (the durability suites)."""

import os

from . import web
from .ports import free_port
from .process import Process
from .waits import wait_for


class SoloNode:
    def __init__(self, binary, folder, data=None):
        self.binary, self.data = binary, data or os.path.join(folder, "data")
        self.port, self.cluster_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = Process(os.path.join(folder, "node.log"))

    def start(self, env=None, wait=True):
        """Starts the node and, with `wait`, returns once it serves (exits the harness if it does not)."""
        # Loopback is the trusted proxy, so each batch's X-Forwarded-For is its visitor address
        # (one address for all would meet the per-address rate limit, not the store).
        self.process.start([self.binary, "serve", "--data", self.data, "--port", str(self.port), "--grpc-port", "0",
                            "--cluster-port", str(self.cluster_port), "--node-name", "node-1", "--replication-factor", "1"],
                           env=dict(os.environ, FOOTFALL_TRUSTED_PROXIES="127.0.0.1", **(env or {})))
        if wait and not self.serves(60):
            raise SystemExit(f"the node did not become healthy; see {self.process.log_path}")

    def serves(self, timeout):
        """Whether the node answers healthy within `timeout` seconds (False at once if it exits)."""
        return wait_for(lambda: web.salted(self.base) or not self.process.running, timeout) and self.process.running
