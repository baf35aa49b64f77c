#!/usr/bin/env python3
"""SVG charts of a benches/compare-nginx.sh run, written next to its table.

Usage: charts.py RESULTS.jsonl OUT_DIR [TITLE]

Reads the run's results (one JSON object per line: server_name, mode_name,
run, requests_per_s, latency_us.{p50,p90,p99,p999}, server.cpu_s_per_10k_requests)
and writes, with the median over runs of each server and mode:

  requests_per_s.svg   req/s per mode, one bar per server
  cpu_per_request.svg  server CPU per request (µs) per mode
  latency.svg          latency percentiles (p50, p90, p99) per mode and server

Plain SVG with no dependencies, so the charts render on GitHub and in any
browser; docs/performance.md embeds them. Modes or servers without a value
are left out rather than drawn as zero.
"""

import statistics
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from bench_results import load, number

SERVER_ORDER = ["gateway", "gateway-json", "nginx", "nginx-ka", "haproxy"]
COLOURS = {
    "gateway": "#2b6cb0",
    "gateway-json": "#63b3ed",
    "nginx": "#2f855a",
    "nginx-ka": "#9ae6b4",
    "haproxy": "#c05621",
}
PERCENTILES = ["p50", "p90", "p99"]


def medians(results, path, scale=1.0):
    """{mode: {server: median}} of the values at `path`, in run order of modes."""
    out = {}
    for r in results:
        out.setdefault(r["mode_name"], {}).setdefault(r["server_name"], [])
    for r in results:
        v = number(r, path)
        if v is not None:
            out[r["mode_name"]][r["server_name"]].append(v * scale)
    return {
        mode: {s: statistics.median(v) for s, v in servers.items() if v}
        for mode, servers in out.items()
        if any(servers.values())
    }


def servers_of(data):
    seen = {s for per_mode in data.values() for s in per_mode}
    return [s for s in SERVER_ORDER if s in seen] + sorted(seen - set(SERVER_ORDER))


def fmt(v):
    if v >= 10000:
        return "%.0fk" % (v / 1000)
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v


def bar_chart(title, unit, groups, series, colours):
    """Horizontal bars in small multiples: one panel per group (a mode, or a
    mode and server), each with its own scale, so a mode measured in
    hundreds (full handshakes) is as readable as one in tens of thousands.

    groups: [(label, {series: value})]; series: ordered names."""
    groups = [(g, vals) for g, vals in groups if vals]
    if not groups:
        return None
    width, left, right, bar_h, pad = 720, 130, 90, 16, 4
    plot_w = width - left - right
    y = 56
    parts = []
    for label, vals in groups:
        names = [n for n in series if n in vals]
        top_value = max(vals[n] for n in names) or 1
        parts.append(f'<text x="10" y="{y}" font-weight="bold">{escape(label)}</text>')
        y += 6
        for name in names:
            v = vals[name]
            w = plot_w * v / top_value
            parts.append(f'<text x="{left - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(name)}</text>')
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colours.get(name, "#888")}">'
                f"<title>{escape(name)} {escape(label)}: {fmt(v)} {escape(unit)}</title></rect>"
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}">{fmt(v)}</text>')
            y += bar_h + pad
        y += 18
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{y}" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="40" fill="#555">{escape(unit)}; median over runs; each panel has its own scale</text>',
    ]
    return "\n".join(head + parts + ["</svg>"]) + "\n"


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    results = load(argv[1])
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    title = argv[3] if len(argv) > 3 else "mtls-gateway vs nginx vs HAProxy"
    written = []

    rps = medians(results, "requests_per_s")
    cpu = medians(results, "server.cpu_s_per_10k_requests", scale=100.0)  # s/10k -> µs/req
    for name, data, label, unit in [
        ("requests_per_s.svg", rps, "Requests per second", "req/s (higher is better)"),
        ("cpu_per_request.svg", cpu, "Server CPU per request", "µs of CPU (lower is better)"),
    ]:
        servers = servers_of(data)
        svg = bar_chart(f"{label}: {title}", unit, list(data.items()), servers, COLOURS)
        if svg:
            (out / name).write_text(svg)
            written.append(name)

    groups = []
    shades = {"p50": "#90cdf4", "p90": "#4299e1", "p99": "#2c5282"}
    per_pct = {p: medians(results, f"latency_us.{p}") for p in PERCENTILES}
    modes = list(dict.fromkeys(m for p in PERCENTILES for m in per_pct[p]))
    for mode in modes:
        in_mode = {}
        for p in PERCENTILES:
            in_mode.update(per_pct[p].get(mode, {}))
        for server in servers_of({mode: in_mode}):
            vals = {p: per_pct[p].get(mode, {}).get(server) for p in PERCENTILES}
            vals = {p: v for p, v in vals.items() if v is not None}
            groups.append((f"{mode}/{server}", vals))
    svg = bar_chart(f"Latency percentiles: {title}", "µs (lower is better)", groups, PERCENTILES, shades)
    if svg:
        (out / "latency.svg").write_text(svg)
        written.append("latency.svg")

    for name in written:
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
