//! Hostile clients and broken backends: request smuggling and header abuse
//! as raw bytes over TLS, size limits, timeouts, max_connections, 421 for a
//! Host naming another server, and upstream faults without leaks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rustls_client::{self, ClientOpts};
use common::*;

struct Setup {
    work: Workdir,
    root: Ca,
    alice: Leaf,
    _backend: Backend,
    gw: Gateway,
}

fn setup(server_extra: &str, global: &str) -> Setup {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root CA", &["localhost", "a.test", "b.test"]);
    let backend = Backend::start();
    let block = |config: GatewayConfig, name: &str, extra: &str| {
        config
            .server(name)
            .server_extra(extra)
            .tls("handshake_timeout", "1s")
            .client_auth("on", "ca.pem")
            .proxy("/", backend.addr)
            .header("X-SSL-Client-Verify", "$ssl_client_verify")
            .header("X-Cert", "$ssl_client_escaped_cert")
    };
    let config = GatewayConfig::new().global_extra(global);
    let config = block(block(config, "localhost", server_extra), "b.test", "");
    let gw = config.start(&work);
    Setup {
        work,
        root: pki.root,
        alice: pki.alice,
        _backend: backend,
        gw,
    }
}

impl Setup {
    fn cfg(&self, h2: bool) -> Arc<rustls::ClientConfig> {
        let root = self.root.pem();
        let mut opts = ClientOpts::new(&root);
        opts.identity = Some((&self.alice.cert_pem, &self.alice.key_pem));
        opts.h2 = h2;
        rustls_client::config(&opts)
    }

    async fn raw(&self, bytes: &[u8]) -> String {
        let out = rustls_client::raw_exchange(
            self.gw.addr(),
            "localhost",
            self.cfg(false),
            bytes,
            Duration::from_secs(3),
        )
        .await
        .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_and_header_abuse_are_rejected_or_forwarded_unambiguously() {
    let s = setup("", "");
    // Content-Length with Transfer-Encoding: hyper applies RFC 9112 6.1 (the
    // chunked framing wins, Content-Length is dropped, the connection closes
    // after the response), so the backend gets one unambiguous request and
    // the bytes after the chunked body are never read as a request.
    let out = s.raw(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let status = status_of(&out);
    assert!(status == 400 || status == 200, "{out}");
    assert!(!out.contains("/smuggled"), "{out}");
    if status == 200 {
        assert!(
            out.to_ascii_lowercase().contains("connection: close"),
            "{out}"
        );
        assert!(!out.contains("Content-Length: 4"), "{out}");
        assert!(out.contains("body-bytes: 0"), "{out}");
    }
    let bad: &[(&str, &[u8])] = &[
        ("two different CL", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
        ("bad chunk size", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: one\r\n two\r\n\r\n"),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-SSL-Client-Verify : SUCCESS\r\n\r\n"),
        ("NUL in value", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n"),
        ("bare CR in value", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n"),
        ("two Host headers", b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n"),
        ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n"),
        ("Host with a slash", b"GET / HTTP/1.1\r\nHost: local/host\r\n\r\n"),
        ("TE not chunked last", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    ];
    for (label, bytes) in bad {
        let out = s.raw(bytes).await;
        let status = status_of(&out);
        assert!(
            status == 400 || status == 501 || out.is_empty(),
            "{label}: want 400 or a closed connection, got:\n{out}"
        );
        assert!(
            !out.contains("/smuggled"),
            "{label}: a second request was smuggled:\n{out}"
        );
        assert!(
            !out.contains("body-bytes"),
            "{label}: reached the backend:\n{out}"
        );
    }
    // CONNECT is not proxied.
    let out = s
        .raw(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
        .await;
    assert!(matches!(status_of(&out), 400 | 405), "{out}");
    assert!(!out.contains("body-bytes"), "{out}");
    // Pipelined requests: two answers, in order, each forwarded on its own.
    let out = s.raw(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\nGET /two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    let one = out.find("GET /one HTTP/1.1").expect(&out);
    let two = out.find("GET /two HTTP/1.1").expect(&out);
    assert!(one < two);
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    // HTTP/1.0 with keep-alive: served, and the connection stays usable.
    let out = s.raw(b"GET /ten HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\nGET /ten-b HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(out.matches(" 200 OK").count(), 2, "{out}");
    // Absolute-form target: routed by its path, $host from the target.
    let out = s.raw(b"GET https://localhost/abs?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&out), 200, "{out}");
    // A Content-Length body is forwarded exactly; nothing after it becomes a request.
    let out = s.raw(b"POST /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /extra HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(out.contains("body-bytes: 5"), "{out}");
    assert!(
        out.contains("GET /extra HTTP/1.1"),
        "the bytes after the body are the next request, parsed as such:\n{out}"
    );
}

#[test]
fn host_naming_another_server_gets_421() {
    let s = setup("", "");
    let c = s.work.path().join("alice.pem");
    let k = s.work.path().join("alice-key.pem");
    let ca = s.work.path().join("ca.pem");
    let args = ["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()];
    // SNI localhost (verified by server[0]) but Host: b.test (server[1]).
    for proto in ["--http1.1", "--http2"] {
        let mut a = args.to_vec();
        a.extend([proto, "-H", "Host: b.test"]);
        let r = curl("localhost", s.gw.port(), "/", &ca, &a);
        assert_eq!(r.status, 421, "{proto}: {}", r.body_text());
        assert!(!r.body_text().contains("body-bytes"));
    }
    // A Host that names no server is served by the handshake's server.
    let mut a = args.to_vec();
    a.extend(["-H", "Host: elsewhere.example"]);
    assert_eq!(curl("localhost", s.gw.port(), "/", &ca, &a).status, 200);
    // Matching SNI and Host: fine.
    assert_eq!(curl("b.test", s.gw.port(), "/", &ca, &args).status, 200);
    // No SNI (an IP literal): the address's first server did the handshake;
    // its own names and unknown names are served, another server's is 421
    // (where nginx would switch servers under the first one's verification).
    let ip = |host: &str| {
        let url = format!("https://127.0.0.1:{}/", s.gw.port());
        let (_, out, _) = run_output(std::process::Command::new("curl").args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--insecure",
            "--cert",
            c.to_str().unwrap(),
            "--key",
            k.to_str().unwrap(),
            "-H",
            &format!("Host: {host}"),
            &url,
        ]));
        out
    };
    assert_eq!(ip("localhost"), "200");
    assert_eq!(ip("127.0.0.1"), "200");
    assert_eq!(ip("b.test"), "421");
}

#[test]
fn size_limits_give_413_and_431() {
    let s = setup(
        "client_max_body_size = \"1k\"\nmax_request_header_size = \"8k\"\nmax_request_headers = 20",
        "",
    );
    let c = s.work.path().join("alice.pem");
    let k = s.work.path().join("alice-key.pem");
    let ca = s.work.path().join("ca.pem");
    let base = [
        "--http1.1",
        "--cert",
        c.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
    ];
    let big = "x".repeat(2000);
    let small = "x".repeat(1000);
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend(extra);
        curl("localhost", s.gw.port(), "/", &ca, &a)
    };
    assert_eq!(run(&["--data-binary", &small]).status, 200);
    assert_eq!(run(&["--data-binary", &big]).status, 413);
    assert_eq!(
        run(&["--data-binary", &big, "-H", "Transfer-Encoding: chunked"]).status,
        413
    );
    let huge = format!("X-Big: {}", "y".repeat(10_000));
    assert_eq!(run(&["-H", &huge]).status, 431);
    let mut many = Vec::new();
    for i in 0..30 {
        many.push(format!("X-H{i}: v"));
    }
    let mut a = base.to_vec();
    for h in &many {
        a.extend(["-H", h.as_str()]);
    }
    assert_eq!(curl("localhost", s.gw.port(), "/", &ca, &a).status, 431);
    // A certificate too large for max_proxy_header_size: a clear 400, not a
    // request the backend rejects. (Many SANs make it big.)
    drop(s);
    let s = setup("max_proxy_header_size = \"1k\"", "");
    let mut spec = LeafSpec::client("big");
    spec.sans = (0..40)
        .map(|i| format!("a-rather-long-subject-alt-name-{i}.example.com"))
        .collect();
    let big = s.root.leaf(spec);
    let c = s.work.write("big.pem", &big.cert_pem);
    let k = s.work.write("big-key.pem", &big.key_pem);
    let r = curl(
        "localhost",
        s.gw.port(),
        "/",
        &s.work.path().join("ca.pem"),
        &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.body_text().contains("too large to forward"),
        "{}",
        r.body_text()
    );
    assert!(
        wait_for_log_count(&s.gw, "above max_proxy_header_size", 1),
        "{}",
        s.gw.logs()
    );
}

/// `max_proxy_header_size` on a header that does not come from the
/// certificate: a plain 400 page, not the "certificate too large" one.
#[test]
fn an_oversized_non_certificate_header_gets_the_plain_400_page() {
    let h = Harness::start(|b| {
        GatewayConfig::mtls("localhost", "on")
            .server_key("max_proxy_header_size", "1k")
            .proxy("/", b.addr)
            .header("X-SSL-Client-Verify", "$ssl_client_verify")
            .header("X-Copy", "$http_x_big")
    });
    let big = format!("X-Big: {}", "b".repeat(2000));
    let r = h.curl_alice("/", &["-H", &big]);
    assert_eq!(r.status, 400, "{r:?}");
    let body = r.body_text();
    assert!(
        body.contains("<title>400 Bad Request</title>") && !body.contains("certificate"),
        "{body}"
    );
    assert!(
        wait_for_log_count(&h.gw, "header x-copy would be 2000 bytes", 1),
        "{}",
        h.gw.logs()
    );
}

async fn closed_within(
    addr: SocketAddr,
    send: &[u8],
    tls: Option<Arc<rustls::ClientConfig>>,
    limit: Duration,
) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 4096];
    match tls {
        None => {
            tcp.write_all(send).await.unwrap();
            loop {
                match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => continue,
                    Err(_) => panic!("not closed within {limit:?}"),
                }
            }
        }
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut t = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .unwrap();
            t.write_all(send).await.unwrap();
            loop {
                match tokio::time::timeout(limit, t.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => continue,
                    Err(_) => panic!("not closed within {limit:?}"),
                }
            }
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_dropped_by_the_timeouts() {
    let s = setup(
        "client_header_timeout = \"1s\"\nkeepalive_timeout = \"1s\"\nclient_body_timeout = \"1s\"",
        "",
    );
    let addr = s.gw.addr();
    let limit = Duration::from_secs(8);
    // No ClientHello at all, and half a ClientHello: handshake_timeout.
    closed_within(addr, b"", None, limit).await;
    closed_within(addr, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01], None, limit).await;
    // Half a request head: client_header_timeout.
    closed_within(
        addr,
        b"GET / HTTP/1.1\r\nHost: localh",
        Some(s.cfg(false)),
        limit,
    )
    .await;
    // A complete request, then idle: keepalive_timeout.
    closed_within(
        addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Some(s.cfg(false)),
        limit,
    )
    .await;
    // A body that stops: client_body_timeout, and the backend sees no complete request.
    closed_within(
        addr,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc",
        Some(s.cfg(false)),
        limit,
    )
    .await;
    // HTTP/2 idle connection: keepalive_timeout.
    let cfg = s.cfg(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = rustls_client::get("localhost", "/", true)
        .body(rustls_client::empty())
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    let started = Instant::now();
    tokio::time::timeout(limit, conn)
        .await
        .expect("h2 connection not closed")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The gateway still serves.
    let req = rustls_client::get("localhost", "/", false)
        .body(rustls_client::empty())
        .unwrap();
    assert_eq!(
        rustls_client::send(addr, "localhost", s.cfg(false), req)
            .await
            .unwrap()
            .response
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_pauses_accepting_without_failing() {
    let s = setup("", "max_connections = 5");
    let addr = s.gw.addr();
    let mut held = Vec::new();
    for _ in 0..5 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        held.push(
            tokio_rustls::TlsConnector::from(s.cfg(false))
                .connect(name, tcp)
                .await
                .unwrap(),
        );
    }
    // The sixth waits in the backlog...
    let cfg = s.cfg(false);
    let sixth = tokio::spawn(async move {
        let req = rustls_client::get("localhost", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        rustls_client::send(addr, "localhost", cfg, req).await
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !sixth.is_finished(),
        "a sixth connection was served beyond max_connections"
    );
    assert!(tokio::task::block_in_place(|| wait_for_log_count(
        &s.gw,
        "max_connections reached",
        1
    )));
    // ...and is served as soon as a slot frees.
    drop(held.pop());
    let out = tokio::time::timeout(Duration::from_secs(10), sixth)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(out.response.status(), 200);
}

#[test]
fn upstream_faults_storm_leaks_nothing() {
    let work = Workdir::new();
    let ca = TestPki::new(&work).ca;
    let backend = Backend::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = GatewayConfig::plain("localhost")
        .server_key("keepalive_timeout", "2s")
        .proxy("/", "http://backend")
        .location_key("proxy_read_timeout", "1s")
        .location_key("proxy_connect_timeout", "1s")
        .proxy("/dead", format!("127.0.0.1:{dead}"))
        .proxy("/nxdomain", "no-such-host.invalid:80")
        .upstream("backend", [backend.addr])
        .start(&work);
    let pid = gw.pid();
    let warm = curl("localhost", gw.port(), "/", &ca, &[]);
    assert_eq!(warm.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let (fds_before, rss_before) = (fd_count(pid), rss_kib(pid));
    let cases: &[(&str, u16)] = &[
        ("/dead", 502),
        ("/nxdomain", 502),
        ("/x?reset=1", 502),
        ("/x?garbage=1", 502),
        ("/x?stall=head", 504),
        ("/x?delay_ms=2000", 504),
    ];
    for round in 0..3 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .iter()
                .map(|(path, want)| {
                    let ca = ca.clone();
                    let port = gw.port();
                    scope.spawn(move || {
                        let t = Instant::now();
                        let r = curl("localhost", port, path, &ca, &["--http1.1"]);
                        (path, *want, r.status, t.elapsed())
                    })
                })
                .collect();
            // A well-behaved client keeps getting answers during the storm.
            let ok = curl("localhost", gw.port(), "/", &ca, &[]);
            assert_eq!(ok.status, 200, "round {round}");
            for h in handles {
                let (path, want, got, took) = h.join().unwrap();
                assert_eq!(got, want, "round {round} {path}");
                assert!(took < Duration::from_secs(8), "{path} took {took:?}");
            }
        });
    }
    // Idle upstream and client connections time out; then back to baseline.
    std::thread::sleep(Duration::from_secs(3));
    let (fds_after, rss_after) = (fd_count(pid), rss_kib(pid));
    assert!(
        fds_after <= fds_before + 2,
        "file descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after < rss_before + 20 * 1024,
        "memory grew: {rss_before} KiB -> {rss_after} KiB"
    );
}

/// A gateway with `servers` (name, handshake_timeout) on one address, the
/// first being the address's default server; no client certificates.
fn handshake_gateway(work: &Workdir, root: &Ca, servers: &[(&str, &str)]) -> Gateway {
    let names: Vec<&str> = servers.iter().map(|(n, _)| *n).collect();
    let server = root.server(&names);
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let mut config = String::new();
    for (name, timeout) in servers {
        config.push_str(&format!(
            r#"
[[server]]
listen = "127.0.0.1:0"
server_name = "{name}"
[server.tls]
certificate = "server.pem"
certificate_key = "server-key.pem"
handshake_timeout = "{timeout}"
[[server.location]]
prefix = "/"
return = {{ status = 200, text = "ok" }}
"#
        ));
    }
    Gateway::start(work.path(), &config)
}

/// The bytes of a real ClientHello (rustls) naming `sni`.
fn client_hello(root: &Ca, sni: &str) -> Vec<u8> {
    let root = root.pem();
    let cfg = rustls_client::config(&ClientOpts::new(&root));
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}

/// Sends `bytes` one at a time, `every` apart, until the gateway closes the
/// connection (then `Some(time since started)`), or `limit` passes.
async fn trickle_until_closed(
    tcp: &mut tokio::net::TcpStream,
    bytes: &[u8],
    every: Duration,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    for b in bytes {
        if tcp.write_all(&[*b]).await.is_err() {
            return Some(started.elapsed());
        }
        loop {
            match tokio::time::timeout(every, tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
        if started.elapsed() > limit {
            return None;
        }
    }
    None
}

/// Sends `bytes` at once, then reads until the gateway closes the
/// connection; the time from `started`.
async fn send_then_wait_for_close(
    addr: SocketAddr,
    bytes: &[u8],
    started: Instant,
    limit: Duration,
) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("not closed within {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeout_is_one_deadline_from_accept() {
    // The wait for the first byte and the handshake used to get the full
    // timeout each: a ClientHello trickled after a pause lived twice as long.
    let work = Workdir::new();
    let root = Ca::root("Root CA");
    let gw = handshake_gateway(&work, &root, &[("a.test", "2s")]);
    let hello = client_hello(&root, "a.test");
    let started = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    // Silence for most of the timeout, then a real ClientHello, one byte
    // every 250 ms (it would take minutes to complete).
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let closed = trickle_until_closed(
        &mut tcp,
        &hello,
        Duration::from_millis(250),
        started,
        Duration::from_secs(10),
    )
    .await
    .expect("the trickling client was never dropped");
    // One deadline: ~2 s after accept (two: ~3.6 s).
    assert!(
        closed >= Duration::from_millis(1600) && closed < Duration::from_millis(3000),
        "dropped after {closed:?}, want ~2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeout_of_the_server_sni_selects_governs() {
    // Two addresses, each with two servers whose handshake_timeout differ;
    // the client sends a complete ClientHello naming the second server,
    // then nothing more.
    let root = Ca::root("Root CA");
    let (work_a, work_b) = (Workdir::new(), Workdir::new());
    // Default server long, selected server short.
    let gw_short = handshake_gateway(&work_a, &root, &[("a.test", "3s"), ("b.test", "1s")]);
    // Default server short, selected server long.
    let gw_long = handshake_gateway(&work_b, &root, &[("c.test", "1s"), ("d.test", "3s")]);
    let limit = Duration::from_secs(8);
    let (hello_b, hello_d) = (client_hello(&root, "b.test"), client_hello(&root, "d.test"));
    let started = Instant::now();
    let (short, long) = tokio::join!(
        send_then_wait_for_close(gw_short.addr(), &hello_b, started, limit),
        send_then_wait_for_close(gw_long.addr(), &hello_d, started, limit),
    );
    assert!(
        short < Duration::from_millis(2000),
        "b.test (1 s, default server 3 s): dropped after {short:?}"
    );
    assert!(
        long >= Duration::from_millis(2000),
        "d.test (3 s, default server 1 s): dropped after {long:?}"
    );
    // Both count as handshake timeouts.
    for gw in [&gw_short, &gw_long] {
        assert!(
            tokio::task::block_in_place(|| wait_for_log_count(gw, "TLS handshake timed out", 1)),
            "{}",
            gw.logs()
        );
    }
}

#[test]
fn a_too_large_head_gets_its_431_every_time() {
    // curl still sending a 100 KB Cookie when the gateway answers 431 used
    // to get a reset instead (about half the tries): the gateway now reads
    // and discards the rest before closing (lingering close).
    let s = setup("", "");
    let ca = s.work.path().join("ca.pem");
    let c = s.work.path().join("alice.pem");
    let k = s.work.path().join("alice-key.pem");
    let cookie = format!("Cookie: a={}", "x".repeat(100_000));
    let args = [
        "--http1.1",
        "--cert",
        c.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "-H",
        &cookie,
    ];
    let failed: Vec<String> = (0..20)
        .map(|_| curl("localhost", s.gw.port(), "/", &ca, &args))
        .filter(|r| r.status != 431)
        .map(|r| format!("status {} exit {}: {}", r.status, r.exit, r.stderr.trim()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 20 tries failed: {failed:?}",
        failed.len()
    );
}

/// A client that writes its whole request before reading the answer, as
/// many do, over TLS or (`cfg` `None`) plain TCP: the answer, or why it
/// got none.
async fn send_whole_request(
    addr: SocketAddr,
    cfg: Option<Arc<rustls::ClientConfig>>,
    head: &[u8],
    body_len: usize,
) -> Result<String, String> {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        mut io: S,
        head: &[u8],
        body_len: usize,
    ) -> Result<String, String> {
        io.write_all(head)
            .await
            .map_err(|e| format!("sending the head: {e}"))?;
        let chunk = vec![b'x'; 16 << 10];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            io.write_all(&chunk[..n])
                .await
                .map_err(|e| format!("sending the body, {left} bytes left: {e}"))?;
            left -= n;
        }
        io.flush().await.map_err(|e| format!("flush: {e}"))?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut answer))
            .await
            .map_err(|_| "no end of the answer within 10 s".to_string())?
            .map_err(|e| {
                format!(
                    "reading the answer after {} bytes: {e}",
                    String::from_utf8_lossy(&answer)
                )
            })?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    match cfg {
        None => exchange(tcp, head, body_len).await,
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            exchange(tls, head, body_len).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_clients_that_send_the_whole_request_first() {
    // Every answer sent before the request was read to the end, by hyper
    // (431, 400) or by the gateway (413, 400, the plain-HTTP 400), reaches a
    // client that sends 3 MB more before it reads.
    // Access lines on stderr, beside the diagnostics: the end checks them.
    let s = setup("client_max_body_size = \"1k\"", "access_log = \"stderr\"");
    let body = 3_000_000;
    let cookie = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nCookie: a={}\r\n\r\n",
        "x".repeat(100_000)
    );
    let cases: &[(&str, &[u8], usize, bool, &str)] = &[
        (
            "413 on Content-Length",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3000000\r\n\r\n",
            body,
            true,
            "HTTP/1.1 413 ",
        ),
        (
            "431 from hyper",
            cookie.as_bytes(),
            0,
            true,
            "HTTP/1.1 431 ",
        ),
        (
            "400 from hyper (space before the colon)",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nX-A : b\r\nContent-Length: 3000000\r\n\r\n",
            body,
            true,
            "HTTP/1.1 400 ",
        ),
        (
            "400 from the gateway (two Host headers)",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nHost: b.test\r\nContent-Length: 3000000\r\n\r\n",
            body,
            true,
            "HTTP/1.1 400 ",
        ),
        (
            "plain HTTP to the TLS port",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3000000\r\n\r\n",
            body,
            false,
            "The plain HTTP request was sent to HTTPS port",
        ),
    ];
    let mut failed = Vec::new();
    for (label, head, body_len, tls, want) in cases {
        for _ in 0..5 {
            let cfg = tls.then(|| s.cfg(false));
            match send_whole_request(s.gw.addr(), cfg, head, *body_len).await {
                Ok(answer) if answer.contains(want) => {}
                Ok(answer) => failed.push(format!("{label}: got {answer:?}")),
                Err(e) => failed.push(format!("{label}: {e}")),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 25 failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // The backend saw none of these requests.
    assert!(!s.gw.logs().contains("\"status\":200"), "{}", s.gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lingering_close_is_bounded_and_holds_its_connection_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // max_connections = 1: the next client is served only when the
    // lingering connection has really closed.
    let s = setup(
        "client_max_body_size = \"1k\"\nlingering_time = \"2s\"\nlingering_timeout = \"1s\"",
        "max_connections = 1",
    );
    let addr = s.gw.addr();
    // Sends a refused request, reads the 413 to its end, then keeps the
    // connection open (returned).
    let refused = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(s.cfg(false))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3000000\r\n\r\n")
            .await
            .unwrap();
        tls.write_all(&[b'x'; 10_000]).await.unwrap();
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 413 "));
        tls
    };
    // The next request waits for the slot: how long.
    let next_served_after = || async {
        let started = Instant::now();
        let req = rustls_client::get("localhost", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send(addr, "localhost", s.cfg(false), req)
            .await
            .unwrap();
        assert_eq!(out.response.status(), 200);
        started.elapsed()
    };

    // A client that goes silent: left after lingering_timeout (1 s).
    let silent = refused().await;
    let waited = next_served_after().await;
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "silent client: next served after {waited:?}, want ~1 s"
    );
    drop(silent);

    // A client that keeps sending (a byte every 200 ms): left after
    // lingering_time (2 s).
    let mut trickler = refused().await;
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if trickler.get_mut().0.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let waited = next_served_after().await;
    assert!(
        waited >= Duration::from_millis(1600) && waited < Duration::from_millis(4500),
        "trickling client: next served after {waited:?}, want ~2 s"
    );
    trickle.abort();
}
