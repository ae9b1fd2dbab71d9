"""Reading a node's `/metrics` (Prometheus text format)."""

import re


def value(text, name, labels=None):
    """The metric's value in `text`: the sample whose labels are exactly `labels` (as written, e.g.
    'by="summary"'), or the sum of all its samples when `labels` is None; None when it has none."""
    label_part = r"\{" + re.escape(labels) + r"\}" if labels is not None else r"(?:\{[^}]*\})?"
    found = [float(m.group(1)) for m in re.finditer(r"^" + re.escape(name) + label_part + r" ([0-9.e+-]+)$", text, re.MULTILINE)]
    return sum(found) if found else None
