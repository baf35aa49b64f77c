//! Resource exhaustion on loopback, bounded: 10,000 idle mTLS connections
//! held at once; 1,000 stalled handshakes and slow-header clients shed by
//! the timeouts while a well-behaved client keeps getting answers. Prints
//! the figures recorded in docs/security.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rustls_client::{self, ClientOpts};
use common::*;
use tokio::io::AsyncWriteExt;

fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

fn fd_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

struct Setup {
    _work: Workdir,
    root: Ca,
    alice: Leaf,
    gw: Gateway,
}

fn setup(extra: &str) -> Setup {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root CA", &["localhost"]);
    let gw = GatewayConfig::new()
        .global("access_log", "off")
        .server("localhost")
        .server_extra(extra)
        .tls("handshake_timeout", "2s")
        .client_auth("on", "ca.pem")
        .returns("/", 200, "$ssl_client_verify")
        .start(&work);
    Setup {
        _work: work,
        root: pki.root,
        alice: pki.alice,
        gw,
    }
}

impl Setup {
    fn cfg(&self) -> Arc<rustls::ClientConfig> {
        let root = self.root.pem();
        let mut opts = ClientOpts::new(&root);
        opts.identity = Some((&self.alice.cert_pem, &self.alice.key_pem));
        rustls_client::config(&opts)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_mtls_connections_are_held() {
    raise_fd_limit();
    let n: usize = 10_000;
    assert!(
        fd_limit() > (n as u64) + 500,
        "the test needs `ulimit -n` above {} (have {})",
        n + 500,
        fd_limit()
    );
    let s = setup("keepalive_timeout = \"10m\"\nclient_header_timeout = \"10m\"");
    let pid = s.gw.pid();
    let addr = s.gw.addr();
    let (rss_before, fds_before) = (rss_kib(pid), fd_count(pid));
    let cfg = s.cfg();
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (cfg, sem) = (cfg.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    let mut held = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => held.push(c),
            Err(e) => errors.push(e),
        }
    }
    let handshake_time = started.elapsed();
    assert!(
        errors.is_empty(),
        "{} of {n} connections failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_held, fds_held) = (rss_kib(pid), fd_count(pid));
    assert!(
        fds_held >= fds_before + n,
        "gateway holds {fds_held} descriptors for {n} connections"
    );
    // Still answering while holding them.
    let req = rustls_client::get("localhost", "/", false)
        .body(rustls_client::empty())
        .unwrap();
    let out = rustls_client::send(addr, "localhost", cfg.clone(), req)
        .await
        .unwrap();
    assert_eq!(out.text(), "SUCCESS");
    let per_conn = (rss_held.saturating_sub(rss_before)) as f64 / n as f64;
    eprintln!(
        "FIGURES idle: {n} mTLS connections in {:.1}s ({:.0} handshakes/s incl. client), gateway RSS {} -> {} KiB, {:.1} KiB per idle connection",
        handshake_time.as_secs_f64(),
        n as f64 / handshake_time.as_secs_f64(),
        rss_before,
        rss_held,
        per_conn
    );
    assert!(
        per_conn < 256.0,
        "more than 256 KiB per idle connection: {per_conn:.1}"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    while fd_count(pid) > fds_before + 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        fd_count(pid) <= fds_before + 10,
        "descriptors not released: {} vs {fds_before}",
        fd_count(pid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_and_slow_headers_are_shed() {
    raise_fd_limit();
    let s = setup("client_header_timeout = \"2s\"");
    let pid = s.gw.pid();
    let addr = s.gw.addr();
    let rss_before = rss_kib(pid);
    // 1,000 connections that send half a ClientHello and stall.
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&[0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00])
            .await
            .unwrap();
        stalled.push(tcp);
    }
    // 100 TLS connections that send a request head one byte at a time, slowly.
    let cfg = s.cfg();
    let mut slow = Vec::new();
    for _ in 0..100 {
        let cfg = cfg.clone();
        slow.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.unwrap();
            let started = Instant::now();
            for b in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
                if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            None
        }));
    }
    // Meanwhile a well-behaved client keeps getting answers.
    let mut answered = 0;
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let t = Instant::now();
        let req = rustls_client::get("localhost", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send(addr, "localhost", cfg.clone(), req)
            .await
            .unwrap();
        assert_eq!(out.text(), "SUCCESS");
        worst = worst.max(t.elapsed());
        answered += 1;
    }
    // The stalled handshakes were dropped by handshake_timeout (2 s).
    let mut closed = 0;
    for mut tcp in stalled {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0)) | Ok(Err(_)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut tcp, &mut buf),
        )
        .await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 1000, "stalled handshakes still open");
    // The slow-header clients were cut by client_header_timeout (2 s).
    let mut cut = 0;
    for h in slow {
        if let Some(after) = h.await.unwrap() {
            assert!(after < Duration::from_secs(10));
            cut += 1;
        }
    }
    assert_eq!(cut, 100, "slow-header clients not shed");
    let rss_after = rss_kib(pid);
    eprintln!(
        "FIGURES slowloris: 1000 stalled handshakes + 100 slow-header clients shed; {answered} requests answered meanwhile, slowest {:.0} ms; RSS {rss_before} -> {rss_after} KiB",
        worst.as_secs_f64() * 1000.0
    );
    assert!(answered > 10, "the well-behaved client starved: {answered}");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew by more than 64 MiB"
    );
}
