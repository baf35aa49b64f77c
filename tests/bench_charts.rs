//! benches/charts.py (the SVG charts of benches/compare-nginx.sh) on a fixed
//! result file: the three charts are written, are well-formed SVG, and carry
//! the medians of the runs (each bar's tooltip names server, mode and value).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn charts_carry_the_medians_of_the_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("python3")
        .arg(root.join("benches/charts.py"))
        .arg(root.join("tests/fixtures/bench-results.jsonl"))
        .arg(out.path())
        .arg("fixture")
        .output()
        .expect("python3");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap();
    let rps = read("requests_per_s.svg");
    let cpu = read("cpu_per_request.svg");
    let latency = read("latency.svg");
    for svg in [&rps, &cpu, &latency] {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        // Every opened element is closed (the SVG is one flat level deep).
        let opened = svg.matches("<rect").count() + svg.matches("<text").count();
        let closed = svg.matches("</rect>").count()
            + svg.matches("</text>").count()
            + svg.matches("/>").count();
        assert!(closed >= opened, "{svg}");
    }
    // gateway keep-alive: two runs, 21000 and 22000 req/s: the median.
    assert!(rps.contains("<title>gateway keepalive: 22k req/s"), "{rps}");
    assert!(rps.contains("<title>nginx handshake: 450 req/s"), "{rps}");
    // 0.455 s per 10k requests is 45.5 µs per request.
    assert!(cpu.contains("<title>gateway keepalive: 45.5 µs"), "{cpu}");
    assert!(cpu.contains("<title>nginx handshake: 3000 µs"), "{cpu}");
    // nginx's handshake run has no latency: it is left out, not drawn as 0.
    assert!(
        latency.contains("<title>p99 keepalive/haproxy: 3000 µs"),
        "{latency}"
    );
    assert!(!latency.contains("handshake/nginx"), "{latency}");
}
