//! Shared-nothing workers (`worker_processes`): connections are spread
//! over the workers, and each worker proxies over its own upstream
//! keep-alive connections, so a request never uses (and wakes) a
//! connection of another worker's thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::time::Duration;

use common::rustls_client;
use common::*;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

type Sender = SendRequest<http_body_util::Full<bytes::Bytes>>;

async fn keepalive_connection(gw: &Gateway, pki: &TestPki) -> Sender {
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let tls = TlsConnector::from(pki.alice_client(false))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// The upstream connection (echo-backend's view of its peer) that served
/// one request on `sender`.
async fn upstream_peer(sender: &mut Sender) -> String {
    let request = rustls_client::get("localhost", "/api/x", false)
        .body(rustls_client::empty())
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let peer = response.headers()["x-echo-peer"]
            .to_str()
            .unwrap()
            .to_string();
        response.into_body().collect().await.unwrap();
        peer
    });
    answer.await.expect("an answer")
}

/// Two client connections land on the two workers (the least-loaded one
/// takes each new connection), and requests taking turns on them use two
/// upstream connections, one per worker, each reused. With one pool shared
/// by all threads the turns would all reuse the same upstream connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_proxies_over_its_own_upstream_connections() {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let backend = Backend::start();
    let gw = GatewayConfig::mtls("localhost", "on")
        .global("worker_processes", 2)
        .proxy("/api", backend.addr)
        .start(&work);
    assert!(wait_for_log_count(&gw, "workers=2", 1), "{}", gw.logs());
    let mut a = keepalive_connection(&gw, &pki).await;
    let mut b = keepalive_connection(&gw, &pki).await;
    let mut peers_a = Vec::new();
    let mut peers_b = Vec::new();
    for _ in 0..5 {
        peers_a.push(upstream_peer(&mut a).await);
        peers_b.push(upstream_peer(&mut b).await);
    }
    assert!(peers_a.iter().all(|p| *p == peers_a[0]), "{peers_a:?}");
    assert!(peers_b.iter().all(|p| *p == peers_b[0]), "{peers_b:?}");
    assert_ne!(
        peers_a[0], peers_b[0],
        "one upstream connection for both workers"
    );
}

#[test]
fn worker_processes_is_auto_or_a_count() {
    let work = Workdir::new();
    TestPki::new(&work);
    for (value, problem) in [
        ("0", "0 is out of range (1 to 1024, or \"auto\")"),
        ("\"many\"", "\"many\" is not \"auto\" or a number"),
    ] {
        let config = GatewayConfig::mtls("localhost", "on")
            .global("worker_processes", Toml::raw(value))
            .returns("/", 200, "ok");
        let err = match config.try_start(&work) {
            Ok(_) => panic!("worker_processes = {value} was accepted"),
            Err(logs) => logs,
        };
        assert!(err.contains("worker_processes"), "{err}");
        assert!(err.contains(problem), "{err}");
    }
    let gw = GatewayConfig::mtls("localhost", "on")
        .global("worker_processes", "auto")
        .returns("/", 200, "ok")
        .start(&work);
    assert!(wait_for_log_count(&gw, "workers=", 1), "{}", gw.logs());
}
