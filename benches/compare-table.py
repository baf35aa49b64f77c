#!/usr/bin/env python3
"""The table of benches/compare-nginx.sh: medians over runs, gateway/peer ratios,
and the issue's targets. Usage: compare-table.py RESULTS.jsonl LOAD.txt "VERSIONS"."""

import statistics
import sys
import time
import platform

from bench_results import get, load

SERVERS = ["gateway", "gateway-json", "nginx", "nginx-ka", "haproxy"]
PEERS = ["nginx", "nginx-ka", "haproxy"]


def median(results, mode, server, path):
    vals = [get(r, path) for r in results if r["mode_name"] == mode and r["server_name"] == server]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


# (mode, metric label, json path, scale, higher is better)
ROWS = [
    ("keepalive", "keep-alive h1 req/s", "requests_per_s", 1, True),
    ("keepalive", "keep-alive h1 p99 µs", "latency_us.p99", 1, False),
    ("keepalive", "keep-alive h1 server CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("keepalive", "keep-alive h1 server CPU (cores)", "server.cpu_utilisation", 1, None),
    ("keepalive", "keep-alive h1 peak RSS MiB", "server.peak_rss_kib", 1 / 1024, False),
    ("keepalive-h2", "keep-alive h2 req/s", "requests_per_s", 1, True),
    ("keepalive-h2", "keep-alive h2 server CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("keepalive-log", "log on: h1 req/s", "requests_per_s", 1, True),
    ("keepalive-log", "log on: h1 server CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("keepalive-h2-log", "log on: h2 req/s", "requests_per_s", 1, True),
    ("keepalive-h2-log", "log on: h2 server CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("handshake", "full handshakes/s", "requests_per_s", 1, True),
    ("handshake", "full hs server CPU µs/handshake", "server.cpu_us_per_handshake", 1, False),
    ("handshake", "full hs server CPU (cores)", "server.cpu_utilisation", 1, None),
    ("handshake", "full hs p99 µs", "latency_us.p99", 1, False),
    ("resume", "resumed TLS1.3 handshakes/s", "requests_per_s", 1, True),
    ("resume", "resumed TLS1.3 server CPU µs/hs", "server.cpu_us_per_handshake", 1, False),
    ("resume", "resumed TLS1.3 share resumed", "resumed_share", 1, None),
    ("resume-tls12", "resumed TLS1.2 ticket hs/s", "requests_per_s", 1, True),
    ("resume-tls12", "resumed TLS1.2 ticket CPU µs/hs", "server.cpu_us_per_handshake", 1, False),
    ("resume-tls12-ids", "resumed TLS1.2 session-ID hs/s", "requests_per_s", 1, True),
    ("resume-tls12-ids", "resumed TLS1.2 session-ID CPU µs/hs", "server.cpu_us_per_handshake", 1, False),
    ("rate", "fixed rate: p50 µs", "latency_us.p50", 1, False),
    ("rate", "fixed rate: p99 µs", "latency_us.p99", 1, False),
    ("rate", "fixed rate: p99.9 µs", "latency_us.p999", 1, False),
    ("rate", "fixed rate: server CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("idle", "idle: RSS KiB per connection", "idle.rss_per_connection_kib", 1, False),
    ("idle", "idle: PSS KiB per connection", "idle.pss_per_connection_kib", 1, False),
    ("idle", "idle: connections held", "idle.held", 1, None),
    ("oha-keepalive", "oha keep-alive req/s", "requests_per_s", 1, True),
    ("oha-keepalive", "oha keep-alive CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("oha-keepalive-h2", "oha keep-alive h2 req/s", "requests_per_s", 1, True),
    ("oha-keepalive-h2", "oha keep-alive h2 CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("oha-keepalive-log", "oha log on: h1 req/s", "requests_per_s", 1, True),
    ("oha-keepalive-log", "oha log on: h1 CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
    ("oha-handshake", "oha new conn/req req/s", "requests_per_s", 1, True),
    ("oha-handshake", "oha new conn/req CPU s/10k req", "server.cpu_s_per_10k_requests", 1, False),
]


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    results = load(sys.argv[1])
    load_lines = open(sys.argv[2]).read().strip().replace("\n", "; ") if len(sys.argv) > 2 else ""
    versions = sys.argv[3] if len(sys.argv) > 3 else ""
    for r in results:
        hs = r.get("handshakes") or {}
        total = (hs.get("full") or 0) + (hs.get("resumed") or 0)
        r["resumed_share"] = (hs.get("resumed") or 0) / total if total else None
    servers = [s for s in SERVERS if any(r["server_name"] == s for r in results)]
    peers = [p for p in PEERS if p in servers]
    print()
    print(f"mtls-bench comparison, {time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node()} "
          f"({platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs), load {load_lines}")
    print(versions)
    print("medians over runs; ratios are gateway/peer (for 'lower is better' rows, < 1 favours the gateway)")
    if "gateway-json" in servers:
        print("log-on rows: gateway = access_log_format combined, gateway-json = json; HAProxy (syslog only) not run")
    print()
    head = f"{'metric':38}" + "".join(f"{s:>13}" for s in servers) + "".join(f"{'gw/' + p:>12}" for p in peers)
    print(head)
    print("-" * len(head))
    for mode, label, path, scale, _better in ROWS:
        vals = {s: median(results, mode, s, path) for s in servers}
        if all(v is None for v in vals.values()):
            continue
        vals = {s: (v * scale if v is not None else None) for s, v in vals.items()}
        line = f"{label:38}" + "".join(f"{fmt(vals[s]):>13}" for s in servers)
        for p in peers:
            g, o = vals.get("gateway"), vals.get(p)
            line += f"{(f'{g / o:.2f}' if g is not None and o else '-'):>12}"
        print(line)
    errs = {}
    for r in results:
        if r.get("errors"):
            key = (r["server_name"], r["mode_name"])
            errs[key] = errs.get(key, 0) + r["errors"]
    if errs:
        print()
        print("errors: " + ", ".join(f"{s} {m}: {n}" for (s, m), n in sorted(errs.items())))

    def ratio(mode, path, peer, gateway="gateway"):
        g, o = median(results, mode, gateway, path), median(results, mode, peer, path)
        return g / o if g is not None and o else None

    def report(title, targets):
        print()
        print(title)
        for name, value, bound, higher in targets:
            if value is None:
                verdict = "not measured"
            else:
                ok = value >= bound if higher else value <= bound
                verdict = f"{'met' if ok else 'NOT met'} ({value:.2f})"
            print(f"  {name:66} {verdict}")

    rps, cpu = "requests_per_s", "server.cpu_s_per_10k_requests"
    if "PIN=0" in versions:
        unpinned = []
        for client, h1, h2 in (("mtls-bench", "keepalive", "keepalive-h2"), ("oha", "oha-keepalive", "oha-keepalive-h2")):
            for proto, mode in (("h1", h1), ("h2", h2)):
                unpinned += [
                    (f"{client} {proto} keep-alive req/s >= 2.2x nginx as seeded", ratio(mode, rps, "nginx"), 2.2, True),
                    (f"{client} {proto} keep-alive req/s >= 1.25x nginx with upstream keepalive", ratio(mode, rps, "nginx-ka"), 1.25, True),
                    (f"{client} {proto} keep-alive req/s >= 1.1x HAProxy", ratio(mode, rps, "haproxy"), 1.1, True),
                    (f"{client} {proto} keep-alive CPU per request <= 0.9x HAProxy", ratio(mode, cpu, "haproxy"), 0.9, False),
                ]
        unpinned += [
            ("full handshake CPU <= 0.4x nginx (2.5x less)", ratio("handshake", "server.cpu_us_per_handshake", "nginx"), 0.4, False),
            ("full handshake CPU <= 0.4x HAProxy (2.5x less)", ratio("handshake", "server.cpu_us_per_handshake", "haproxy"), 0.4, False),
        ]
        for mode, what in (("keepalive-log", "h1"), ("keepalive-h2-log", "h2"), ("oha-keepalive-log", "oha h1")):
            for gw, fmt_name in (("gateway", "combined"), ("gateway-json", "json")):
                for peer in ("nginx", "nginx-ka"):
                    unpinned.append((f"log on, {what}, {fmt_name}: CPU per request <= {peer}'s",
                                     ratio(mode, cpu, peer, gw), 1.0, False))
        # PSS: unpinned nginx runs two workers beside its master, whose RSS counts shared pages twice.
        unpinned.append(("PSS per idle mTLS connection <= nginx", ratio("idle", "idle.pss_per_connection_kib", "nginx"), 1.0, False))
        report("targets (issue 16, unpinned):", unpinned)

    targets = [
        ("full mTLS handshakes/s >= 1.5x nginx", ratio("handshake", "requests_per_s", "nginx"), 1.5, True),
        ("resumed handshakes/s >= 1.2x nginx", ratio("resume", "requests_per_s", "nginx"), 1.2, True),
        ("keep-alive req/s >= 2x nginx as seeded", ratio("keepalive", "requests_per_s", "nginx"), 2.0, True),
        ("keep-alive req/s >= 1.2x nginx with upstream keepalive", ratio("keepalive", "requests_per_s", "nginx-ka"), 1.2, True),
        ("keep-alive req/s >= HAProxy", ratio("keepalive", "requests_per_s", "haproxy"), 1.0, True),
        ("p99 at half nginx's max rate <= nginx", ratio("rate", "latency_us.p99", "nginx"), 1.0, False),
        ("RSS per idle mTLS connection <= nginx", ratio("idle", "idle.rss_per_connection_kib", "nginx"), 1.0, False),
    ]
    if "PIN=0" not in versions:
        report("targets (issue 5):", targets)


if __name__ == "__main__":
    main()
