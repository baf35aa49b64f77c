//! The access log is written off the request path: a log that cannot keep
//! up (here a FIFO that nobody drains: the slowest disk there is) never
//! holds a request up. Lines that do not fit the writer's queue are dropped
//! and counted (`mtls_gateway_access_log_dropped_lines_total`, and a
//! warning); every other line arrives whole, once the log drains.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::io::Read;
use std::time::Duration;

use common::rustls_client;
use common::*;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Requests sent; their lines (~4 KiB each, for the User-Agent below) are
/// about twice what the writer's queue holds (4 MiB).
const REQUESTS: usize = 2000;
/// Per request: far above what answering takes, well below "forever" (the
/// old writer blocked the request path for as long as the disk did).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn metric(admin: u16, name: &str) -> Option<u64> {
    let (_, out, _) = run_output(
        std::process::Command::new("curl")
            .args(["-sS", &format!("http://127.0.0.1:{admin}/metrics")]),
    );
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_disk_drops_and_counts_lines_instead_of_stalling_requests() {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let fifo = work.path().join("access.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // The reader opens the FIFO (so that the gateway's open for writing
    // returns), then reads nothing until told: the pipe's 64 KiB fill up
    // and every write blocks.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&fifo).unwrap();
            if go_rx.recv().is_err() {
                return String::new();
            }
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            text
        })
    };
    let admin = free_port();
    let gw = GatewayConfig::mtls("localhost", "on")
        .global("access_log", fifo.to_str().unwrap())
        .admin(format!("127.0.0.1:{admin}"))
        .returns("/", 200, "ok")
        .start(&work);

    // One keep-alive HTTP/1.1 connection; each request waits for its answer.
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let tls = TlsConnector::from(pki.alice_client(false))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let agent = "a".repeat(4000);
    for i in 0..REQUESTS {
        let request = rustls_client::get("localhost", "/", false)
            .header("user-agent", &agent)
            .body(rustls_client::empty())
            .unwrap();
        let answered = tokio::time::timeout(ANSWER_TIMEOUT, async {
            sender
                .ready()
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            let response = sender.send_request(request).await.unwrap();
            let status = response.status();
            response.into_body().collect().await.unwrap();
            status
        })
        .await;
        match answered {
            Ok(status) => assert_eq!(status, 200, "request {i}"),
            Err(_) => panic!(
                "request {i} got no answer within {ANSWER_TIMEOUT:?}: the unread access log stalled it"
            ),
        }
    }

    let dropped = metric(admin, "mtls_gateway_access_log_dropped_lines_total").unwrap();
    assert!(
        dropped > 0 && dropped < REQUESTS as u64,
        "dropped {dropped} of {REQUESTS}"
    );
    assert!(
        wait_for_log_count(&gw, "access log lines dropped", 1),
        "{}",
        gw.logs()
    );

    // Drain the log; the exit writes out what is queued and closes the FIFO.
    go_tx.send(()).unwrap();
    drop(sender);
    let status = gw.terminate();
    assert!(status.success(), "{status:?}");
    let text = reader.join().unwrap();
    let mut lines = 0u64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a whole JSON line ({e}): {line:.200}"));
        assert_eq!(v["status"], 200);
        assert_eq!(v["user_agent"].as_str().unwrap().len(), 4000);
        lines += 1;
    }
    assert_eq!(
        lines + dropped,
        REQUESTS as u64,
        "{lines} lines written, {dropped} dropped"
    );
}
