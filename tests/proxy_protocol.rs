//! PROXY protocol in (`proxy_protocol`, `set_real_ip_from`): behind a real
//! HAProxy (`mode tcp`, `send-proxy` and `send-proxy-v2`) the client's
//! address reaches `$remote_addr`, the identity headers and the access log
//! when HAProxy is trusted, and only `$proxy_protocol_addr` when it is not;
//! hostile senders (no header, wrong signature, truncated, oversized, LOCAL,
//! silence) are closed, logged and counted; bad settings are config errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::haproxy::{Haproxy, free_port};
use common::*;

/// The client's own source address: another loopback address than the
/// one HAProxy connects to the gateway from (127.0.0.1).
const CLIENT_IP: &str = "127.0.0.2";

fn pp_gateway(
    work: &Workdir,
    backend: &Backend,
    trusted: &[&str],
    admin: u16,
) -> (Gateway, GatewayConfig) {
    let cfg = GatewayConfig::mtls("localhost", "on")
        .admin(format!("127.0.0.1:{admin}"))
        .global("access_log", "access.log")
        .server_key("proxy_protocol", true)
        .server_key("set_real_ip_from", trusted)
        .tls("handshake_timeout", "1s")
        .proxy("/", backend.addr)
        .headers(&[
            ("X-Real-IP", "$remote_addr"),
            ("X-Remote-Port", "$remote_port"),
            ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
            ("X-PP", "$proxy_protocol_addr:$proxy_protocol_port"),
            ("X-SSL-Client-Verify", "$ssl_client_verify"),
        ]);
    (cfg.start(work), cfg)
}

fn metrics(admin: u16) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", admin)).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

/// The value of the metric line starting with `series`, 0 if absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn behind_haproxy_v1_and_v2_the_client_address_reaches_the_backend() {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let backend = Backend::start();
    let admin = free_port();
    let (gw, _) = pp_gateway(&work, &backend, &["127.0.0.1/32", "10.0.0.0/8"], admin);
    for option in ["send-proxy", "send-proxy-v2"] {
        let lb = Haproxy::start(work.path(), &[gw.addr()], option);
        let r = pki.curl_alice(lb.addr.port(), "/", &["--interface", CLIENT_IP]);
        assert_eq!(r.status, 200, "{option}: {r:?}");
        assert_eq!(r.echoed("x-real-ip"), [CLIENT_IP], "{option}");
        assert_eq!(r.echoed("x-forwarded-for"), [CLIENT_IP], "{option}");
        let pp = r.echoed("x-pp");
        assert!(
            pp[0].starts_with(&format!("{CLIENT_IP}:")),
            "{option}: {pp:?}"
        );
        // $remote_port is the client's port too, as nginx's real_ip sets it.
        assert_eq!(
            pp[0].rsplit(':').next().unwrap(),
            r.echoed("x-remote-port")[0],
            "{option}"
        );
        assert_eq!(r.echoed("x-ssl-client-verify"), ["SUCCESS"], "{option}");
    }
    // The access log records the client, not the balancer.
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(work.path().join("access.log")).unwrap();
    let clients: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["client"].to_string())
        .collect();
    assert_eq!(clients, vec![format!("\"{CLIENT_IP}\""); 2], "{log}");
    let m = metrics(admin);
    assert_eq!(
        m.lines()
            .filter(|l| l.starts_with("mtls_gateway_proxy_protocol_errors_total{"))
            .count(),
        0,
        "{m}"
    );
}

#[test]
fn an_untrusted_sender_sets_only_proxy_protocol_addr() {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let backend = Backend::start();
    let (gw, _) = pp_gateway(&work, &backend, &["10.0.0.0/8"], free_port());
    let lb = Haproxy::start(work.path(), &[gw.addr()], "send-proxy-v2");
    let r = pki.curl_alice(
        lb.addr.port(),
        "/",
        &["--interface", CLIENT_IP, "-H", "X-Forwarded-For: 6.6.6.6"],
    );
    assert_eq!(r.status, 200, "{r:?}");
    // HAProxy's own address, not the one it claims.
    assert_eq!(r.echoed("x-real-ip"), ["127.0.0.1"]);
    assert_eq!(r.echoed("x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
    assert!(r.echoed("x-pp")[0].starts_with(&format!("{CLIENT_IP}:")));
}

/// Writes `bytes` to a fresh connection and says how it ended within
/// `wait`: `true` when the gateway closed it (EOF or reset).
fn closed_after(addr: SocketAddr, bytes: &[u8], wait: Duration) -> bool {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(bytes).unwrap();
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    match tcp.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

#[test]
fn hostile_senders_are_closed_logged_and_counted() {
    let work = Workdir::new();
    let _pki = TestPki::new(&work);
    let backend = Backend::start();
    let admin = free_port();
    let (gw, _) = pp_gateway(&work, &backend, &["127.0.0.1"], admin);
    let addr = gw.addr();
    let wait = Duration::from_secs(5);
    let inet = [192, 0, 2, 1, 198, 51, 100, 2, 0, 1, 0, 2];
    // A TLS ClientHello without a header first; a plain HTTP request.
    let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("signature", hello.to_vec()),
        ("signature", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "signature",
            b"\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c".to_vec(),
        ),
        ("oversized", {
            let mut line = b"PROXY TCP4 ".to_vec();
            line.resize(200, b'1');
            line
        }),
        (
            "malformed",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 443\r\n".to_vec(),
        ),
        (
            "malformed",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n".to_vec(),
        ),
        ("local", v2(0, 0x11, &inet)),
        ("oversized", {
            let mut h = v2(1, 0x11, &inet);
            h[14] = 0xff;
            h[15] = 0xff;
            h
        }),
        ("malformed", v2(1, 0x11, &inet[..6])),
    ];
    for (reason, bytes) in &cases {
        assert!(
            closed_after(addr, bytes, wait),
            "{reason}: {:?} not closed",
            String::from_utf8_lossy(bytes)
        );
    }
    // Truncated: half a header, then the sender closes its side.
    for bytes in [&b"PROXY TCP4 1.2."[..], &v2(1, 0x11, &inet)[..20]] {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.write_all(bytes).unwrap();
        tcp.shutdown(std::net::Shutdown::Write).unwrap();
        tcp.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(tcp.read(&mut buf), Ok(0) | Err(_)));
    }
    // Silence, and a header that stops half-way: closed at handshake_timeout (1 s).
    for bytes in [&b""[..], &b"PROXY TCP4 1.2.3.4 "[..]] {
        let start = Instant::now();
        assert!(closed_after(addr, bytes, wait));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }
    let m = metrics(admin);
    let count = |reason: &str| {
        metric(
            &m,
            &format!("mtls_gateway_proxy_protocol_errors_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(count("signature"), 3.0, "{m}");
    assert_eq!(count("oversized"), 2.0, "{m}");
    assert_eq!(count("malformed"), 3.0, "{m}");
    assert_eq!(count("local"), 1.0, "{m}");
    assert_eq!(count("truncated"), 2.0, "{m}");
    assert_eq!(count("timeout"), 2.0, "{m}");
    let logs = gw.logs();
    assert!(
        logs.contains("PROXY v2 LOCAL command") && logs.contains("connection closed"),
        "{logs}"
    );
    // The gateway still serves a well-formed connection afterwards.
    assert!(!closed_after(
        addr,
        b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 443\r\n",
        Duration::from_millis(300)
    ));
}

/// A header that arrives a byte at a time (the gateway must not read past
/// it into the TLS stream, nor give up on a short first read), then TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_in_pieces_then_tls_works() {
    use tokio::io::AsyncWriteExt;
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let backend = Backend::start();
    let (gw, _) =
        tokio::task::block_in_place(|| pp_gateway(&work, &backend, &["127.0.0.0/8"], free_port()));
    let headers = [
        b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n".to_vec(),
        v2(
            1,
            0x11,
            &[203, 0, 113, 5, 10, 0, 0, 1, 0x9c, 0x40, 0x01, 0xbb],
        ),
    ];
    let expected = ["2001:db8::7", "203.0.113.5"];
    for (header, ip) in headers.iter().zip(expected) {
        let mut tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        for byte in header {
            tcp.write_all(&[*byte]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let req = common::rustls_client::get("localhost", "/", false)
            .body(common::rustls_client::empty())
            .unwrap();
        let out = common::rustls_client::send_on(tcp, "localhost", pki.alice_client(false), req)
            .await
            .unwrap();
        let body = out.text();
        assert_eq!(echoed_headers(&body, "x-real-ip"), [ip], "{body}");
        assert_eq!(
            echoed_headers(&body, "x-ssl-client-verify"),
            ["SUCCESS"],
            "{body}"
        );
    }
}

fn check(work: &Workdir, text: &str) -> String {
    let path = work.write("check.toml", text);
    let (_, out, err) = run_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(&path),
    );
    format!("{out}{err}")
}

#[test]
fn proxy_protocol_settings_are_checked() {
    let work = Workdir::new();
    let _pki = TestPki::new(&work);
    // Two servers on one address that disagree.
    let text = GatewayConfig::plain("a")
        .listen("127.0.0.1:18443")
        .server_key("proxy_protocol", true)
        .returns("/", 200, "a")
        .server("b")
        .listen("127.0.0.1:18443")
        .returns("/", 200, "b")
        .render();
    let out = check(&work, &text);
    assert!(
        out.contains("server[1].proxy_protocol: 127.0.0.1:18443 is shared with server[0]"),
        "{out}"
    );
    // set_real_ip_from without proxy_protocol; a bad range.
    let text = GatewayConfig::plain("a")
        .server_key("set_real_ip_from", ["10.0.0.0/8", "10.0.0.0/33"])
        .returns("/", 200, "a")
        .render();
    let out = check(&work, &text);
    assert!(
        out.contains(
            "server[0].set_real_ip_from[1]: \"10.0.0.0/33\" is not an IP address or CIDR range"
        ),
        "{out}"
    );
    assert!(
        out.contains("server[0].set_real_ip_from: set without proxy_protocol = true"),
        "{out}"
    );
}
