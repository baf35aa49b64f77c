"""Reading a benches/compare-nginx.sh results file, shared by compare-table.py
(the table) and charts.py (the SVG charts)."""

import json


def load(path):
    """The run's results: one JSON object per non-empty line."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def get(r, path):
    """The value at a dotted `path` (`latency_us.p99`) of result `r`, or None."""
    for key in path.split("."):
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


def number(r, path):
    """`get`, but None unless the value is a number."""
    v = get(r, path)
    return v if isinstance(v, (int, float)) else None
