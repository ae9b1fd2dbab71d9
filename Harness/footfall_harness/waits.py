"""Polling until a condition holds, for checks against processes that converge over time."""

import subprocess
import time

# What a condition raises while a node is starting, restarting or cut off: not an answer yet.
NOT_YET = (OSError, ValueError, KeyError, subprocess.CalledProcessError)


def wait_for(condition, timeout, interval=0.2, ignoring=NOT_YET):
    """The first truthy value of `condition()` within `timeout` seconds, else None. The errors in
    `ignoring` count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except ignoring:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def seconds_until(condition, timeout, interval=0.25, ignoring=NOT_YET):
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    return time.monotonic() - started if wait_for(condition, timeout, interval, ignoring) else None
