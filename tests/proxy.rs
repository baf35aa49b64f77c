//! Routing and proxying: `return`, longest-prefix and exact locations,
//! path normalization, streaming both ways, round-robin with failover, and
//! 502/504 for broken upstreams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;

struct Setup {
    work: Workdir,
    alice_args: Vec<String>,
    gw: Gateway,
    ca: std::path::PathBuf,
}

/// The server's locations, added to a `GatewayConfig`.
type Locations = fn(GatewayConfig) -> GatewayConfig;

fn setup(
    locations: impl FnOnce(GatewayConfig) -> GatewayConfig,
    upstream_servers: &[String],
) -> Setup {
    setup_with(locations, upstream_servers, "")
}

/// `upstream` is added to the `[upstream.backend]` block.
fn setup_with(
    locations: impl FnOnce(GatewayConfig) -> GatewayConfig,
    upstream_servers: &[String],
    upstream: &str,
) -> Setup {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let config = GatewayConfig::mtls("localhost", "on").server_key("client_max_body_size", 0);
    let gw = locations(config)
        .upstream("backend", upstream_servers)
        .upstream_extra(upstream)
        .start(&work);
    Setup {
        alice_args: pki.alice_args(),
        work,
        gw,
        ca: pki.ca,
    }
}

impl Setup {
    fn get(&self, path: &str, extra: &[&str]) -> CurlResponse {
        let mut args: Vec<&str> = self.alice_args.iter().map(String::as_str).collect();
        args.extend(extra);
        curl("localhost", self.gw.port(), path, &self.ca, &args)
    }
}

const SEED_LOCATIONS: Locations = |config| {
    config
        .returns("/", 404, SEED_404_TEXT)
        .proxy("/api/mtls", "http://backend")
        .exact("/api/mtls/health")
        .return_text(200, "exact")
};

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn return_sends_the_text_with_keepalive_and_routing_is_nginx_like() {
    let backend = Backend::start();
    let s = setup(SEED_LOCATIONS, &[backend.addr.to_string()]);
    let r = s.get("/", &["--http1.1"]);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body_text(),
        "mTLS endpoints only. Use port 443 for regular access."
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("53"));
    assert!(
        r.header("connection").is_none(),
        "keep-alive kept for return"
    );
    // Longest prefix; string-prefix semantics like nginx (/api/mtlsx matches /api/mtls).
    assert_eq!(s.get("/api/mtls", &[]).status, 200);
    assert_eq!(
        s.get("/api/mtls/x?y=1", &[]).echoed("host"),
        vec!["backend".to_string()]
    );
    assert_eq!(s.get("/api/mtlsx", &[]).status, 200);
    assert_eq!(s.get("/api/mtl", &[]).status, 404);
    // Exact beats prefix.
    assert_eq!(s.get("/api/mtls/health", &[]).body_text(), "exact");
    // Normalized before matching: these cannot sneak into /api/mtls...
    assert_eq!(s.get("/api/mtls/../admin", &["--path-as-is"]).status, 404);
    assert_eq!(
        s.get("/api/mtls/%2e%2e/admin", &["--path-as-is"]).status,
        404
    );
    // ...and these are routed to it after normalization, sent upstream as written.
    let r = s.get("//api/./mtls/a%20b?q=%2F", &["--path-as-is"]);
    assert_eq!(r.status, 200);
    assert!(
        r.body_text()
            .starts_with("GET //api/./mtls/a%20b?q=%2F HTTP/1.1"),
        "{}",
        r.body_text()
    );
    // Climbing above the root is a 400.
    assert_eq!(s.get("/../etc/passwd", &["--path-as-is"]).status, 400);
    // Two requests on one keep-alive connection after a return.
    let r = s.get(
        "/",
        &["--http1.1", "--next", "--cacert", s.ca.to_str().unwrap()],
    );
    assert_eq!(r.status, 404);
}

#[test]
fn request_and_response_bodies_stream_both_ways() {
    let backend = Backend::start();
    let s = setup(SEED_LOCATIONS, &[backend.addr.to_string()]);
    // 24 MiB upload streamed through and echoed back.
    let upload: Vec<u8> = (0..24 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let file = s.work.write("upload.bin", &upload);
    let data = format!("@{}", file.display());
    for proto in ["--http1.1", "--http2"] {
        let r = s.get(
            "/api/mtls?echo=body",
            &[
                proto,
                "--data-binary",
                &data,
                "-H",
                "Content-Type: application/octet-stream",
            ],
        );
        assert_eq!(r.status, 200, "{proto}");
        assert_eq!(r.body.len(), upload.len(), "{proto}");
        assert!(r.body == upload, "{proto}: echoed body differs");
        // Chunked upload too.
        let r = s.get(
            "/api/mtls",
            &[
                proto,
                "--data-binary",
                &data,
                "-H",
                "Transfer-Encoding: chunked",
            ],
        );
        assert_eq!(r.status, 200, "{proto}");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &upload);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            r.body_text().contains(&format!("body-sha256: {hex}")),
            "{proto}: {}",
            r.body_text()
        );
    }
    // 64 MiB download.
    let n = 64 * 1024 * 1024;
    let r = s.get(&format!("/api/mtls?size={n}"), &[]);
    assert_eq!(r.body.len(), n);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == b'a' + (i % 26) as u8)
    );
}

/// hyper's HTTP/1 read buffer starts at 1 KiB here (vendor/README.md) and
/// grows on demand: request heads of several KiB, below the 8 KiB limit,
/// still reach the backend byte for byte, on fresh and on reused
/// connections alike.
#[test]
fn request_heads_larger_than_the_first_read_buffer_arrive_intact() {
    let backend = Backend::start();
    let s = setup(SEED_LOCATIONS, &[backend.addr.to_string()]);
    let url = format!("https://localhost:{}/api/mtls", s.gw.port());
    for proto in ["--http1.1", "--http2"] {
        let lines: Vec<String> = [900usize, 3000, 7000]
            .iter()
            .map(|n| {
                let value: String = (0..*n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                format!("X-Big: {value}")
            })
            .collect();
        // One curl, three requests; each reports how many connections it
        // opened, so the second and third are checked to reuse the first's.
        let mut per_request: Vec<String> = s.alice_args.clone();
        per_request.extend(["--cacert", s.ca.to_str().unwrap(), "-s", proto].map(String::from));
        per_request.extend(["-w", "\nconnects=%{num_connects}\n"].map(String::from));
        let mut args = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                args.push("--next".to_string());
            }
            args.extend(per_request.iter().cloned());
            args.extend(["-H".into(), line.clone(), url.clone()]);
        }
        let out = std::process::Command::new("curl")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{proto}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in &lines {
            assert!(
                text.lines().any(|l| l.eq_ignore_ascii_case(line)),
                "{proto}: the {}-byte header did not arrive intact: {text:.300}",
                line.len()
            );
        }
        assert_eq!(
            text.matches("body-bytes: 0").count(),
            3,
            "{proto}: {text:.300}"
        );
        let connects: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("connects="))
            .collect();
        assert_eq!(
            connects,
            ["1", "0", "0"],
            "{proto}: one connection for all three"
        );
    }
}

#[test]
fn round_robin_and_failover_to_the_next_server() {
    let a = Backend::start();
    let b = Backend::start();
    let dead = format!("127.0.0.1:{}", dead_port());
    let s = setup(
        SEED_LOCATIONS,
        &[a.addr.to_string(), dead.clone(), b.addr.to_string()],
    );
    // Nine overlapping requests need nine upstream connections: every one
    // succeeds although one server in three refuses.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..9)
            .map(|_| scope.spawn(|| s.get("/api/mtls?delay_ms=500", &["--http1.1"])))
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            assert_eq!(r.status, 200, "{}", r.body_text());
        }
    });
    assert!(
        wait_for_log_count(&s.gw, &dead, 1),
        "the dead server was tried and logged"
    );
    let logs = s.gw.logs();
    let used = |addr: &std::net::SocketAddr| {
        logs.lines()
            .filter(|l| l.contains("connected to upstream server") && l.contains(&addr.to_string()))
            .count()
    };
    assert!(
        used(&a.addr) >= 2 && used(&b.addr) >= 2,
        "round robin spreads connections: a={} b={}",
        used(&a.addr),
        used(&b.addr)
    );
    // With `a` gone too, `b` still answers every new connection.
    drop(a);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| s.get("/api/mtls?delay_ms=300", &["--http1.1"])))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().status, 200);
        }
    });
    let _ = &b;
}

#[test]
fn upstream_failures_give_502_and_504_promptly() {
    let backend = Backend::start();
    let locations = |config: GatewayConfig| {
        config
            .proxy("/dead", format!("127.0.0.1:{}", dead_port()))
            .proxy("/", "http://backend")
            .location_key("proxy_read_timeout", "1s")
    };
    let s = setup(locations, &[backend.addr.to_string()]);
    let cases: &[(&str, u16)] = &[
        ("/dead", 502),
        ("/x?reset=1", 502),
        ("/x?garbage=1", 502),
        ("/x?stall=head", 504),
        ("/x?delay_ms=3000", 504),
    ];
    for (path, want) in cases {
        let started = Instant::now();
        let r = s.get(path, &["--http1.1"]);
        assert_eq!(r.status, *want, "{path}: {}", r.body_text());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took {:?}",
            started.elapsed()
        );
        assert!(
            r.body_text().contains(&format!("<title>{want} ")),
            "{path}: {}",
            r.body_text()
        );
    }
    // A response that stalls mid-body is cut after proxy_read_timeout.
    let r = s.get("/x?stall=body&size=10000000", &["--http1.1"]);
    assert_eq!(r.status, 200);
    assert_ne!(r.exit, 0, "curl must see a truncated body");
    // The gateway still serves.
    assert_eq!(s.get("/x", &[]).status, 200);
    let logs = s.gw.logs();
    assert!(logs.contains("proxy_read_timeout"), "{logs}");
    assert!(logs.contains("no upstream server reachable"), "{logs}");
}

/// Established TCP connections from this machine to `port` (the gateway's
/// side of its upstream connections), from /proc/net/tcp.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // rem_address is "HEXIP:HEXPORT"; state 01 is ESTABLISHED.
            fields.len() > 3
                && fields[3] == "01"
                && fields[2]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn upstream_connections_are_reused_capped_and_closed_when_idle() {
    let backend = Backend::start();
    // One worker: the pool is per worker (tests/workers.rs has two).
    let s = setup_with(
        |c| SEED_LOCATIONS(c.global("worker_processes", 1)),
        &[backend.addr.to_string()],
        "keepalive = 2\nkeepalive_timeout = \"1s\"",
    );
    let port = backend.addr.port();
    // Sequential requests, each on a new client connection, share one
    // upstream connection.
    let peers: Vec<String> = (0..5)
        .map(|_| {
            let r = s.get("/api/mtls", &["--http1.1"]);
            assert_eq!(r.status, 200, "{}", r.body_text());
            r.header("x-echo-peer").expect("X-Echo-Peer").to_string()
        })
        .collect();
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
    assert_eq!(connections_to(port), 1);
    // Idle past keepalive_timeout: closed, and the next request connects anew.
    assert!(
        wait_until(Duration::from_secs(5), || connections_to(port) == 0),
        "the idle upstream connection was closed"
    );
    let r = s.get("/api/mtls", &["--http1.1"]);
    assert_eq!(r.status, 200);
    assert_ne!(r.header("x-echo-peer").unwrap(), peers[0]);
    // Six overlapping requests need six connections; at most `keepalive`
    // (2) of them stay open afterwards.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| s.get("/api/mtls?delay_ms=400", &["--http1.1"])))
            .collect();
        let peers: std::collections::HashSet<String> = handles
            .into_iter()
            .map(|h| {
                let r = h.join().unwrap();
                assert_eq!(r.status, 200);
                r.header("x-echo-peer").unwrap().to_string()
            })
            .collect();
        assert_eq!(peers.len(), 6, "{peers:?}");
    });
    assert!(
        wait_until(Duration::from_secs(2), || connections_to(port) <= 2),
        "{} upstream connections stayed open",
        connections_to(port)
    );
}

#[test]
fn keepalive_zero_opens_a_connection_per_request() {
    let backend = Backend::start();
    let s = setup_with(SEED_LOCATIONS, &[backend.addr.to_string()], "keepalive = 0");
    let a = s.get("/api/mtls", &["--http1.1"]);
    let b = s.get("/api/mtls", &["--http1.1"]);
    assert_eq!((a.status, b.status), (200, 200));
    assert_ne!(a.header("x-echo-peer"), b.header("x-echo-peer"));
    assert!(wait_until(Duration::from_secs(2), || connections_to(
        backend.addr.port()
    ) == 0));
}

#[test]
fn a_restarted_backend_is_reached_on_a_new_connection() {
    let first = Backend::start();
    let addr = first.addr;
    let s = setup(SEED_LOCATIONS, &[addr.to_string()]);
    let r = s.get("/api/mtls", &["--http1.1"]);
    assert_eq!(r.status, 200);
    // The backend restarts on the same port: the pooled connection to the
    // old process is dead, and no client sees that.
    drop(first);
    let _second = Backend::start_at(&addr.to_string());
    for _ in 0..3 {
        let r = s.get("/api/mtls", &["--http1.1"]);
        assert_eq!(r.status, 200, "{}", r.body_text());
    }
}
