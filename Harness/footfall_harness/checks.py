"""Named checks: each prints ok or FAIL, and failures are kept for the run's exit status."""

import shutil
import sys

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def finish(suite, folder):
    """Ends a suite's run: on a failed check its folder (logs, data) is kept and named and the run
    exits non-zero; otherwise the folder goes."""
    if failures:
        print(f"{len(failures)} {suite} check(s) failed; logs and data kept in {folder}")
        sys.exit(1)
    shutil.rmtree(folder, ignore_errors=True)
    print(f"{suite} checks passed")
