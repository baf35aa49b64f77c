//! HTTP/2 abuse: a client over `http2_max_concurrent_streams` is held to
//! it, a rapid-reset flood (open a stream, cancel it, repeat;
//! CVE-2023-44487) ends that connection with GOAWAY while other clients
//! keep being served, and streams reset while their upstream works do not
//! keep a connection from idling out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::rustls_client::{self, ClientOpts};
use common::*;

struct Setup {
    _work: Workdir,
    root: Ca,
    alice: Leaf,
    gw: Gateway,
    _backend: Backend,
}

fn setup() -> Setup {
    setup_with("", "")
}

fn setup_with(server_extra: &str, global: &str) -> Setup {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root CA", &["localhost"]);
    let backend = Backend::start();
    let gw = GatewayConfig::new()
        .global("access_log", "off")
        .global_extra(global)
        .server("localhost")
        .server_key("http2_max_concurrent_streams", 8)
        .server_extra(server_extra)
        .client_auth("on", "ca.pem")
        .proxy("/", backend.addr)
        .start(&work);
    Setup {
        _work: work,
        root: pki.root,
        alice: pki.alice,
        gw,
        _backend: backend,
    }
}

impl Setup {
    fn cfg(&self) -> Arc<rustls::ClientConfig> {
        let root = self.root.pem();
        let mut opts = ClientOpts::new(&root);
        opts.identity = Some((&self.alice.cert_pem, &self.alice.key_pem));
        opts.h2 = true;
        rustls_client::config(&opts)
    }

    async fn h2(
        &self,
    ) -> (
        h2::client::SendRequest<Bytes>,
        tokio::task::JoinHandle<Result<(), h2::Error>>,
    ) {
        let tcp = tokio::net::TcpStream::connect(self.gw.addr())
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(self.cfg())
            .connect(name, tcp)
            .await
            .unwrap();
        let (client, conn) = h2::client::handshake(tls).await.unwrap();
        (client, tokio::spawn(conn))
    }
}

fn request(path: &str) -> http::Request<()> {
    http::Request::get(format!("https://localhost{path}"))
        .body(())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_are_capped() {
    let s = setup();
    let (client, _conn) = s.h2().await;
    let mut client = client.ready().await.unwrap();
    // After one exchange the server's SETTINGS are known: they advertise the cap.
    let (resp, _) = client.send_request(request("/"), true).unwrap();
    assert_eq!(resp.await.unwrap().status(), 200);
    assert_eq!(client.current_max_send_streams(), 8);
    // Ten slow requests: only eight run at once, all ten complete.
    let mut pending = Vec::new();
    for _ in 0..10 {
        client = client.ready().await.unwrap();
        let (resp, _) = client
            .send_request(request("/?delay_ms=300"), true)
            .unwrap();
        pending.push(resp);
    }
    for resp in pending {
        assert_eq!(resp.await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_flood_is_cut_and_others_are_served() {
    let s = setup();
    let (mut client, conn) = s.h2().await;
    let started = Instant::now();
    let mut sent = 0u32;
    // Open and immediately cancel streams as fast as possible.
    let flood = async {
        for _ in 0..20_000 {
            client = match client.ready().await {
                Ok(c) => c,
                Err(_) => break,
            };
            match client.send_request(request("/?delay_ms=1000"), true) {
                Ok((resp, _)) => {
                    drop(resp); // RST_STREAM(CANCEL)
                    sent += 1;
                }
                Err(_) => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("flood did not end");
    // A well-behaved client is served meanwhile / right after.
    let req = rustls_client::get("localhost", "/", false)
        .body(rustls_client::empty())
        .unwrap();
    let root = s.root.pem();
    let mut opts = ClientOpts::new(&root);
    opts.identity = Some((&s.alice.cert_pem, &s.alice.key_pem));
    let ok = rustls_client::send(s.gw.addr(), "localhost", rustls_client::config(&opts), req)
        .await
        .unwrap();
    assert_eq!(ok.response.status(), 200);
    // The flooding connection was ended by the server (GOAWAY), not served to the end.
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    let outcome = format!("{ended:?}");
    eprintln!(
        "rapid reset: {sent} streams sent in {:?}; connection: {outcome}",
        started.elapsed()
    );
    assert!(
        sent < 20_000,
        "the server accepted 20,000 reset streams without closing the connection"
    );
    assert!(
        outcome.contains("GoAway")
            || outcome.contains("ENHANCE_YOUR_CALM")
            || outcome.contains("Reset")
            || outcome.contains("Err"),
        "{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_reset_while_the_upstream_works_leave_the_connection_idle() {
    // Two connection slots: connections that each reset a stream while its
    // upstream was still working must idle out, or they lock everyone out.
    let s = setup_with("keepalive_timeout = \"1s\"", "max_connections = 2");
    let mut conns = Vec::new();
    for _ in 0..2 {
        let (client, conn) = s.h2().await;
        let mut client = client.ready().await.unwrap();
        let mut streams = Vec::new();
        for _ in 0..3 {
            client = client.ready().await.unwrap();
            streams.push(
                client
                    .send_request(request("/?delay_ms=3000"), true)
                    .unwrap(),
            );
        }
        conns.push((client, streams, conn));
    }
    // The requests have reached the upstream; then the client cancels them
    // (RST_STREAM), long before the upstream answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reset = Instant::now();
    let mut ended = Vec::new();
    for (client, streams, conn) in conns {
        drop(streams);
        ended.push((client, conn));
    }
    for (_client, conn) in ended {
        let closed = tokio::time::timeout(Duration::from_secs(6), conn).await;
        assert!(
            closed.is_ok(),
            "a connection whose streams were reset stayed open {:?} (keepalive_timeout = 1s)",
            reset.elapsed()
        );
    }
    eprintln!(
        "connections with reset streams closed {:?} after the resets",
        reset.elapsed()
    );
    // And the slots they held serve others again.
    let req = rustls_client::get("localhost", "/", false)
        .body(rustls_client::empty())
        .unwrap();
    let root = s.root.pem();
    let mut opts = ClientOpts::new(&root);
    opts.identity = Some((&s.alice.cert_pem, &s.alice.key_pem));
    let ok = tokio::time::timeout(
        Duration::from_secs(5),
        rustls_client::send(s.gw.addr(), "localhost", rustls_client::config(&opts), req),
    )
    .await
    .expect("locked out")
    .unwrap();
    assert_eq!(ok.response.status(), 200);
}
