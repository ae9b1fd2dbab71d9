"""Named checks: each prints ok or FAIL, and failures are kept for the run's exit status."""

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition
