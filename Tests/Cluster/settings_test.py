#!/usr/bin/env python3
"""Settings out of range are refused before anything starts, run by `make test`.

Each value below once overflowed Swift arithmetic and stopped the process with a trap (a signal)
before any check named it, or (a clock offset past Int64, a port of 0) was taken and served on
without working. Now each ends the command with a usage error (exit status 64) naming
the setting, and a refused `footfall serve` leaves no data folder behind. A control shows
`footfall cluster ring` with a factor in range gets past its check (so the refusal is the check's).
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Harness"))
from footfall_harness.checks import check, finish  # noqa: E402
from footfall_harness.cluster import command_line  # noqa: E402

HUGE = "4611686018427387904"  # 2^62: doubled, it overflows Int
USAGE_ERROR = 64


def run(footfall, args, env=None):
    """The finished command, in an environment of only `env`'s FOOTFALL_ settings; one still
    running after 30 s (a node that took the setting and started serving) is killed and reported
    as such."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    try:
        return subprocess.run([footfall] + args, capture_output=True, text=True, timeout=30, env=dict(clean, **(env or {})))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, None, "", "still running after 30 s: the setting was taken")


def refused(footfall, folder, ports, label, args, env, names):
    data = os.path.join(folder, label.replace(" ", "-"))
    # Ports of this test's own, should a node take the setting and start (a case's own flag or
    # variable comes first).
    own = {"FOOTFALL_PORT": str(ports), "FOOTFALL_CLUSTER_PORT": str(ports + 1), "FOOTFALL_GRPC_PORT": "0"}
    done = run(footfall, ["serve", "--data", data] + args, dict(own, **(env or {})))
    check(done.returncode == USAGE_ERROR and names in done.stderr,
          f"{label}: refused with a usage error naming {names} (exit {done.returncode}: {done.stderr.strip()[-200:]})")
    check(not os.path.exists(data), f"{label}: no data folder was made")


def main():
    options = command_line(18740).parse_args()
    footfall, ports = options.footfall, options.port_base
    folder = tempfile.mkdtemp(prefix="footfall-settings-")
    for label, args, env, names in [
        ("probe interval flag", ["--probe-interval-ms", HUGE], None, "--probe-interval-ms must be"),
        ("probe interval variable", [], {"FOOTFALL_PROBE_INTERVAL_MS": HUGE}, "--probe-interval-ms must be"),
        ("clock offset", [], {"FOOTFALL_CLOCK_OFFSET_MS": str(2**63 - 1)}, "FOOTFALL_CLOCK_OFFSET_MS must be"),
        ("clock offset below", [], {"FOOTFALL_CLOCK_OFFSET_MS": str(-2**63)}, "FOOTFALL_CLOCK_OFFSET_MS must be"),
        ("clock offset past Int64", [], {"FOOTFALL_CLOCK_OFFSET_MS": str(2**63)}, "FOOTFALL_CLOCK_OFFSET_MS must be"),
        ("replication factor", ["--replication-factor", "4294967296"], None, "--replication-factor must be"),
        ("http port", ["--port", "70000"], None, "--port must be"),
        ("https port", ["--https-port", "70000"], None, "--https-port must be"),
        ("https port variable", [], {"FOOTFALL_HTTPS_PORT": "-1"}, "--https-port must be"),
        ("grpc port", ["--grpc-port", "70000"], None, "--grpc-port must be"),
        ("cluster port variable", [], {"FOOTFALL_CLUSTER_PORT": "-1"}, "--cluster-port must be"),
        ("cluster port 0", ["--cluster-port", "0"], None, "--cluster-port must be"),
    ]:
        refused(footfall, folder, ports, label, args, env, names)

    missing = os.path.join(folder, "no-certs")
    ring = run(footfall, ["cluster", "ring", "--certs", missing, "--replication-factor", "4294967296"])
    check(ring.returncode == USAGE_ERROR and "--replication-factor must be 1 to 9" in ring.stderr,
          f"cluster ring: a replication factor of 2^32 is a usage error (exit {ring.returncode}: {ring.stderr.strip()[-200:]})")
    control = run(footfall, ["cluster", "ring", "--certs", missing, "--replication-factor", "3"])
    check(isinstance(control.returncode, int) and control.returncode > 0 and control.returncode != USAGE_ERROR,
          f"control: with a factor of 3 the command gets past the check and fails on the missing certificates "
          f"(exit {control.returncode})")
    finish("settings", folder)


if __name__ == "__main__":
    main()
