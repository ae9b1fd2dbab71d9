"""The chaos lab: network namespaces on a private bridge, real `footfall` processes inside them,
and the faults the suite injects (signals, nftables rules, a cgroup CPU quota).

Layout (every name starts with `ffc-`, so a crashed earlier run is recognised and removed):

    ffc-sw   holds the bridge br0 and one veth end per host; nothing else
    ffc-cl   the client host (10.77.0.2): the harness's own sockets live here
    ffc-n1…  one namespace per node (10.77.0.11, .12, …), each running one `footfall serve`

The bridge sits in a namespace of its own and no host has a route out, so no packet of the
suite reaches the machine's real network. This kernel has no netem; loss and partitions are
nftables rules inside the node namespaces (`inet chaos` table), which heal by deleting the table.
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Harness"))
from footfall_harness.process import Process  # noqa: E402

PREFIX = "ffc-"
SUBNET = "10.77.0"
CLIENT_IP = f"{SUBNET}.2"
CGROUP_CPU = "/sys/fs/cgroup/cpu"
CLONE_NEWNET = 0x40000000


def run(*args, check=True, input=None):
    return subprocess.run(args, check=check, capture_output=True, text=True, input=input)


def leftover_namespaces():
    listing = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(PREFIX)]


class Network:
    """The namespaces and the bridge; `enter_client` moves this process into the client host."""

    def __init__(self, node_names):
        self.node_names = node_names

    @staticmethod
    def namespace(host):
        return PREFIX + host

    @staticmethod
    def node_ip(name):
        return f"{SUBNET}.{10 + int(name.split('-')[1])}"

    def create(self):
        self.destroy()
        switch = self.namespace("sw")
        run("ip", "netns", "add", switch)
        run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", switch, "link", "set", "br0", "up")
        hosts = [("cl", CLIENT_IP)] + [(name, self.node_ip(name)) for name in self.node_names]
        for host, address in hosts:
            namespace = self.namespace(host)
            run("ip", "netns", "add", namespace)
            run("ip", "-n", switch, "link", "add", f"v-{host}", "type", "veth", "peer", "name", "eth0", "netns", namespace)
            run("ip", "-n", switch, "link", "set", f"v-{host}", "master", "br0", "up")
            run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", namespace, "link", "set", "eth0", "up")
            run("ip", "-n", namespace, "link", "set", "lo", "up")

    def enter_client(self):
        """Moves the calling thread (and the threads and processes it starts later) into the client
        namespace: from here on the harness reaches nodes only over the lab's bridge."""
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{self.namespace('cl')}") as handle:
            if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the client namespace failed")

    def destroy(self):
        for namespace in leftover_namespaces():
            run("ip", "netns", "del", namespace, check=False)

    # Faults on the wire. Rules live in each node's own namespace, so healing is one delete each.

    def _rules(self, name, rules):
        script = "table inet chaos {\n chain input { type filter hook input priority 0; policy accept;\n" + \
                 "".join(f"  {rule}\n" for rule in rules.get("input", [])) + " }\n" + \
                 " chain output { type filter hook output priority 0; policy accept;\n" + \
                 "".join(f"  {rule}\n" for rule in rules.get("output", [])) + " }\n}\n"
        run("ip", "netns", "exec", self.namespace(name), "nft", "-f", "-", input=script)

    def cut(self, groups):
        """Partitions the nodes: a node drops every packet to or from a node it shares no group
        with (a node in two groups is a bridge). The client still reaches every node."""
        for name in self.node_names:
            mine = [group for group in groups if name in group]
            if not mine:
                continue
            unreachable = [self.node_ip(other) for other in self.node_names
                           if other != name and not any(other in group for group in mine)]
            if unreachable:
                peers = "{ " + ", ".join(unreachable) + " }"
                self._rules(name, {"input": [f'ip saddr {peers} counter drop comment "cut"'],
                                   "output": [f'ip daddr {peers} counter drop comment "cut"']})

    def isolate(self, name):
        self.cut([[name], [other for other in self.node_names if other != name]])

    def drop_outgoing(self, name, percent):
        """One-way loss: `percent` of the packets `name` sends to its peers vanish; what it
        receives arrives."""
        peers = "{ " + ", ".join(self.node_ip(other) for other in self.node_names if other != name) + " }"
        self._rules(name, {"output": [f'ip daddr {peers} counter comment "sent"',
                                      f'ip daddr {peers} numgen random mod 100 < {percent} counter drop comment "lost"']})

    def packets(self, name):
        """{rule comment: packets its counter saw} of the rules in `name`'s namespace (before
        `heal`, which deletes them): the evidence that a cut or a loss really dropped packets."""
        listing = run("ip", "netns", "exec", self.namespace(name), "nft", "-j", "list", "table", "inet", "chaos", check=False)
        counted = {}
        if listing.returncode != 0:
            return counted
        for item in json.loads(listing.stdout).get("nftables", []):
            rule = item.get("rule")
            if not rule or "comment" not in rule:
                continue
            packets = sum(e["counter"]["packets"] for e in rule.get("expr", []) if isinstance(e, dict) and "counter" in e)
            counted[rule["comment"]] = counted.get(rule["comment"], 0) + packets
        return counted

    def connects(self, source, address, timeout=1.0):
        """Whether a TCP connection from inside `source`'s namespace to `address` (host:port) opens."""
        host, port = address.rsplit(":", 1)
        script = f"import socket; socket.create_connection(({host!r}, {port}), timeout={timeout}).close()"
        return run("ip", "netns", "exec", self.namespace(source), sys.executable, "-c", script, check=False).returncode == 0

    def heal(self):
        for name in self.node_names:
            run("ip", "netns", "exec", self.namespace(name), "nft", "delete", "table", "inet", "chaos", check=False)


class CPUQuota:
    """A slow node: its process in a cgroup (v1 `cpu` controller) limited to a share of one core."""

    def __init__(self, label):
        self.path = os.path.join(CGROUP_CPU, PREFIX + label)

    def apply(self, pid, percent):
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(1000 * percent))
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def throttled(self):
        """(periods the quota held the process back, the pids in the group): the evidence that
        the quota applied."""
        stats = {}
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                stats[key] = int(value)
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            pids = [int(pid) for pid in f.read().split()]
        return stats.get("nr_throttled", 0), pids

    def release(self):
        if not os.path.isdir(self.path):
            return
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            pids = f.read().split()
        for pid in pids:
            try:
                with open(os.path.join(CGROUP_CPU, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass  # the process ended meanwhile
        os.rmdir(self.path)

    @staticmethod
    def release_leftovers():
        if os.path.isdir(CGROUP_CPU):
            for entry in os.listdir(CGROUP_CPU):
                if entry.startswith(PREFIX):
                    CPUQuota(entry[len(PREFIX):]).release()


# libfaketime (Debian's libfaketime) moves a running process's wall clock the way an NTP step or an
# operator's `date -s` does: the node reads its offset from a file (at most a second old), and its
# monotonic clock is left alone, as a real step leaves it.
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SLOW_SYNC_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowsync.c")


def c_compiler():
    """A C compiler for the slow-disk shim: Debian's cc, or the clang of the Swift toolchain."""
    return shutil.which("cc") or shutil.which("clang")


def build_slow_sync(folder):
    """Compiles Chaos/slowsync.c (the slow-disk fault: fsync and fdatasync delayed while a file
    says so) into `folder` and gives the library's path."""
    library = os.path.join(folder, "slowsync.so")
    run(c_compiler(), "-shared", "-fPIC", "-O2", "-o", library, SLOW_SYNC_SOURCE, "-ldl")
    return library


class NodeProcess(Process):
    """One `footfall serve` in its namespace. Its data folder survives kill -9 and restarts."""

    HTTP_PORT, CLUSTER_PORT = 8080, 7946

    def __init__(self, binary, name, folder, certs, env):
        super().__init__(os.path.join(folder, name + ".log"))
        self.binary, self.name, self.certs, self.env = binary, name, certs, env
        self.data = os.path.join(folder, name)
        self.ip = Network.node_ip(name)
        self.clock_file = None
        self.slow_sync = None

    def slowable_disk(self, library):
        """From its next start the node's fsync and fdatasync go through the slow-disk shim, which
        `slow_disk` turns on and off while it runs."""
        self.slow_sync = library
        self.slow_disk(0)

    def slow_disk(self, delay_ms):
        with open(self.data + ".sync-delay.new", "w") as handle:
            handle.write(f"{delay_ms}\n")
        os.replace(self.data + ".sync-delay.new", self.data + ".sync-delay")

    def delayed_syncs(self):
        """How many of its syncs the shim has delayed so far (0 before the first)."""
        try:
            with open(self.data + ".sync-count") as handle:
                return int(handle.read().strip() or 0)
        except FileNotFoundError:
            return 0

    def steppable_clock(self, offset_s):
        """From its next start the node's wall clock reads `offset_s` seconds off, and `step_clock`
        can move it while it runs."""
        self.clock_file = self.data + ".clock"
        self.step_clock(offset_s)

    def step_clock(self, offset_s):
        with open(self.clock_file + ".new", "w") as handle:
            handle.write(f"{offset_s:+d}\n")
        os.replace(self.clock_file + ".new", self.clock_file)

    @property
    def http(self):
        return f"http://{self.ip}:{self.HTTP_PORT}"

    @property
    def internal(self):
        return f"{self.ip}:{self.CLUSTER_PORT}"

    def start(self, join=None, clock_offset_ms=0):
        args = ["ip", "netns", "exec", Network.namespace(self.name), self.binary, "serve",
                "--data", self.data, "--node-name", self.name, "--host", self.ip, "--port", str(self.HTTP_PORT),
                "--insecure-http", "--grpc-port", "0", "--cluster-host", self.ip,
                "--cluster-port", str(self.CLUSTER_PORT), "--advertise", self.internal, "--certs", self.certs]
        for seed in join or []:
            args += ["--join", seed]
        env = dict(os.environ, **self.env)
        if clock_offset_ms:
            env["FOOTFALL_CLOCK_OFFSET_MS"] = str(clock_offset_ms)
        if self.clock_file:
            env.update(LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=self.clock_file, FAKETIME_CACHE_DURATION="1",
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
        if self.slow_sync:
            env.update(LD_PRELOAD=":".join(filter(None, [env.get("LD_PRELOAD"), self.slow_sync])),
                       FOOTFALL_CHAOS_SYNC_DELAY_FILE=self.data + ".sync-delay", FOOTFALL_CHAOS_SYNC_COUNT_FILE=self.data + ".sync-count")
        # `ip netns exec` execs the node in place: the pid is the node's own.
        super().start(args, env=env, new_session=True)
