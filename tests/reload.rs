//! Hot reload: SIGHUP, `mtls-gateway reload`, `watch = true`; failed reloads
//! change nothing; revocation reaches resumed sessions; 50 reloads under
//! load lose no request. And graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::rustls_client::{self, ClientOpts};
use common::*;

struct Setup {
    work: Workdir,
    root: Ca,
    server_ca: Ca,
    server_a: Leaf,
    server_b: Leaf,
    alice: Leaf,
}

fn setup() -> Setup {
    let work = Workdir::new();
    let root = Ca::root("Client Root CA");
    let server_ca = Ca::root("Server CA");
    let server_a = server_ca.server(&["localhost"]);
    let server_b = server_ca.server(&["localhost"]);
    let alice = root.client("alice");
    work.write("server-ca.pem", server_ca.pem());
    work.write("server.pem", server_a.chain(0));
    work.write("server-key.pem", &server_a.key_pem);
    work.write("ca.pem", root.pem());
    work.write("alice.pem", &alice.cert_pem);
    work.write("alice-key.pem", &alice.key_pem);
    Setup {
        work,
        root,
        server_ca,
        server_a,
        server_b,
        alice,
    }
}

/// `pid = "gateway.pid"` and one server answering `text`; `extra_auth` and
/// `global` are raw lines for `[server.client_auth]` and the top level.
fn gateway_config(text: &str, extra_auth: &str, global: &str) -> GatewayConfig {
    GatewayConfig::new()
        .global("pid", "gateway.pid")
        .global_extra(global)
        .server("localhost")
        .client_auth("on", "ca.pem")
        .client_auth_extra(extra_auth)
        .returns("/", 200, text)
}

/// [`gateway_config`] as TOML text (the reload tests edit and rewrite it).
fn config(text: &str, extra_auth: &str, global: &str) -> String {
    gateway_config(text, extra_auth, global).render()
}

impl Setup {
    fn opts(&self) -> (String, String, String) {
        (
            self.server_ca.pem(),
            self.alice.cert_pem.clone(),
            self.alice.key_pem.clone(),
        )
    }

    fn set_server_cert(&self, leaf: &Leaf) {
        // Write the key first, then the chain: a reload in between must not
        // publish a mismatched pair (it fails and keeps the old one).
        self.work.write("server-key.pem.tmp", &leaf.key_pem);
        self.work.write("server.pem.tmp", leaf.chain(0));
        std::fs::rename(
            self.work.path().join("server-key.pem.tmp"),
            self.work.path().join("server-key.pem"),
        )
        .unwrap();
        std::fs::rename(
            self.work.path().join("server.pem.tmp"),
            self.work.path().join("server.pem"),
        )
        .unwrap();
    }
}

fn curl_alice(s: &Setup, gw: &Gateway) -> CurlResponse {
    let c = s.work.path().join("alice.pem");
    let k = s.work.path().join("alice-key.pem");
    curl(
        "localhost",
        gw.port(),
        "/",
        &s.work.path().join("server-ca.pem"),
        &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
    )
}

fn wait_generation(gw: &Gateway, n: u64) {
    assert!(
        wait_for_log_count(gw, &format!("reload complete: generation {n} serving"), 1),
        "generation {n} not published:\n{}",
        gw.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_lose_no_request() {
    let s = setup();
    let mut bundle_b = s.root.pem();
    bundle_b.push_str(&Ca::root("Unrelated CA").pem());
    let gw = Gateway::start(s.work.path(), &config("ok $ssl_client_verify", "", ""));
    let addr = gw.addr();
    let (ca, cert, key) = s.opts();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    // Four clients making a new mTLS connection per request...
    for _ in 0..4 {
        let (ca, cert, key, stop, ok, failures) = (
            ca.clone(),
            cert.clone(),
            key.clone(),
            stop.clone(),
            ok.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut opts = ClientOpts::new(&ca);
            opts.identity = Some((&cert, &key));
            let cfg = rustls_client::config(&opts);
            while !stop.load(Ordering::Relaxed) {
                let req = rustls_client::get("localhost", "/", false)
                    .body(rustls_client::empty())
                    .unwrap();
                match rustls_client::send(addr, "localhost", cfg.clone(), req).await {
                    Ok(o) if o.response.status() == 200 && o.text() == "ok SUCCESS" => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(o) => failures.lock().unwrap().push(format!(
                        "{} {}",
                        o.response.status(),
                        o.text()
                    )),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }
    // ...and two keep-alive clients that reconnect when told to (Connection: close).
    for _ in 0..2 {
        let (ca, cert, key, stop, ok, failures) = (
            ca.clone(),
            cert.clone(),
            key.clone(),
            stop.clone(),
            ok.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut opts = ClientOpts::new(&ca);
            opts.identity = Some((&cert, &key));
            let cfg = rustls_client::config(&opts);
            while !stop.load(Ordering::Relaxed) {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let tls = match tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                {
                    Ok(t) => t,
                    Err(e) => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("keep-alive handshake: {e}"));
                        continue;
                    }
                };
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                        .await
                        .unwrap();
                tokio::spawn(conn);
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let req = rustls_client::get("localhost", "/", false)
                        .body(rustls_client::empty())
                        .unwrap();
                    match sender.send_request(req).await {
                        Ok(resp) => {
                            let close = resp
                                .headers()
                                .get("connection")
                                .is_some_and(|v| v == "close");
                            let status = resp.status();
                            let body = http_body_util::BodyExt::collect(resp.into_body())
                                .await
                                .map(|b| b.to_bytes());
                            match body {
                                Ok(b) if status == 200 && &b[..] == b"ok SUCCESS" => {
                                    ok.fetch_add(1, Ordering::Relaxed);
                                }
                                other => failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("keep-alive: {status} {other:?}")),
                            }
                            if close {
                                break;
                            }
                        }
                        Err(e) => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("keep-alive request: {e}"));
                            break;
                        }
                    }
                }
            }
        }));
    }
    let mut checked = 0;
    for i in 0..50u64 {
        let (leaf, bundle) = if i % 2 == 0 {
            (&s.server_b, bundle_b.clone())
        } else {
            (&s.server_a, s.root.pem())
        };
        s.set_server_cert(leaf);
        s.work.write("ca.pem", bundle);
        gw.signal("HUP");
        let gw_ref = &gw;
        tokio::task::block_in_place(|| wait_generation(gw_ref, i + 2));
        // Right after the reload, a new connection presents the new certificate.
        let mut opts = ClientOpts::new(&ca);
        opts.identity = Some((&cert, &key));
        let req = rustls_client::get("localhost", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send(addr, "localhost", rustls_client::config(&opts), req)
            .await
            .unwrap();
        assert_eq!(
            out.server_cert,
            leaf.der.to_vec(),
            "reload {i}: old server certificate still served"
        );
        checked += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} request(s) lost during reloads: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let served = ok.load(Ordering::Relaxed);
    assert!(served > 200, "load too light to mean anything: {served}");
    assert_eq!(checked, 50);
    eprintln!("served {served} requests across 50 reloads, none lost");
}

#[test]
fn a_failed_reload_changes_nothing_and_says_why() {
    let s = setup();
    let good = config("generation one", "", "");
    let gw = Gateway::start(s.work.path(), &good);
    let served_cert = || {
        let r = curl_alice(&s, &gw);
        assert_eq!((r.status, r.body_text().as_str()), (200, "generation one"));
    };
    served_cert();
    let other = Ca::root("x").server(&["localhost"]);
    let expired = {
        let mut spec = LeafSpec::client("old").expired();
        spec.sans = vec!["localhost".into()];
        s.server_ca.leaf(spec)
    };
    let mut failures = 0;
    let mut check = |label: &str, expect: &str, prepare: &dyn Fn(), restore: &dyn Fn()| {
        prepare();
        gw.signal("HUP");
        failures += 1;
        assert!(
            wait_for_log_count(
                &gw,
                "reload failed; still serving generation 1 unchanged",
                failures
            ),
            "{label}: {}",
            gw.logs()
        );
        assert!(
            gw.logs().contains(expect),
            "{label}: log lacks {expect:?}:\n{}",
            gw.logs()
        );
        served_cert();
        restore();
    };
    let cfg = s.work.path().join("gateway.toml");
    let restore_cfg = || {
        std::fs::write(&cfg, &good).unwrap();
    };
    check(
        "bad TOML",
        "line 1, column 10: unclosed array table",
        &|| std::fs::write(&cfg, "[[server]\n").unwrap(),
        &restore_cfg,
    );
    check(
        "unknown variable",
        "unknown variable `$nope`",
        &|| std::fs::write(&cfg, config("$nope", "", "")).unwrap(),
        &restore_cfg,
    );
    check(
        "missing CA file",
        "cannot read",
        &|| std::fs::write(&cfg, good.replace("ca.pem", "missing.pem")).unwrap(),
        &restore_cfg,
    );
    let restore_key = || {
        s.work.write("server-key.pem", &s.server_a.key_pem);
        s.work.write("server.pem", s.server_a.chain(0));
    };
    check(
        "key mismatch",
        "does not match the certificate",
        &|| {
            s.work.write("server-key.pem", &other.key_pem);
        },
        &restore_key,
    );
    check(
        "expired server certificate",
        "server[0].tls.certificate: EXPIRED on",
        &|| {
            s.work.write("server.pem", expired.chain(0));
            s.work.write("server-key.pem", &expired.key_pem);
        },
        &restore_key,
    );
    // And a good reload after all that works.
    std::fs::write(&cfg, config("generation two", "", "")).unwrap();
    gw.signal("HUP");
    wait_generation(&gw, 2);
    assert_eq!(curl_alice(&s, &gw).body_text(), "generation two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_by_reload_reaches_resumed_sessions() {
    let s = setup();
    s.work.write("crl.pem", s.root.crl(&[], 30));
    let gw = Gateway::start(
        s.work.path(),
        &config(
            "$ssl_session_reused $ssl_client_verify",
            "crl = \"crl.pem\"",
            "",
        ),
    );
    let (ca, cert, key) = s.opts();
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let mut opts = ClientOpts::new(&ca);
        opts.identity = Some((&cert, &key));
        opts.versions = versions;
        let cfg = rustls_client::config(&opts);
        let req = || {
            rustls_client::get("localhost", "/", false)
                .body(rustls_client::empty())
                .unwrap()
        };
        let first = rustls_client::send(gw.addr(), "localhost", cfg.clone(), req())
            .await
            .unwrap();
        assert_eq!(first.text(), ". SUCCESS");
        let second = rustls_client::send(gw.addr(), "localhost", cfg.clone(), req())
            .await
            .unwrap();
        assert_eq!(
            (second.handshake, second.text().as_str()),
            (rustls::HandshakeKind::Resumed, "r SUCCESS")
        );
        // Revoke alice and reload; her next resumed connection is refused.
        s.work.write("crl.pem", s.root.crl(&[&s.alice], 30));
        let n = gw.logs().matches("reload complete").count() + 1;
        gw.signal("HUP");
        assert!(tokio::task::block_in_place(|| wait_for_log_count(
            &gw,
            "reload complete",
            n
        )));
        let third = rustls_client::send(gw.addr(), "localhost", cfg.clone(), req())
            .await
            .unwrap();
        assert_eq!(
            third.handshake,
            rustls::HandshakeKind::Resumed,
            "{versions:?}"
        );
        assert_eq!(
            third.response.status(),
            400,
            "{versions:?}: {}",
            third.text()
        );
        // Un-revoke for the next round.
        s.work.write("crl.pem", s.root.crl(&[], 30));
        gw.signal("HUP");
        let n = n + 1;
        assert!(tokio::task::block_in_place(|| wait_for_log_count(
            &gw,
            "reload complete",
            n
        )));
    }
}

#[test]
fn watch_reloads_when_a_file_changes() {
    let s = setup();
    let gw = Gateway::start(s.work.path(), &config("before", "", "watch = true"));
    assert_eq!(curl_alice(&s, &gw).body_text(), "before");
    std::fs::write(
        s.work.path().join("gateway.toml"),
        config("after", "", "watch = true"),
    )
    .unwrap();
    wait_generation(&gw, 2);
    assert_eq!(curl_alice(&s, &gw).body_text(), "after");
    // A changed certificate file alone triggers a reload too.
    s.set_server_cert(&s.server_b);
    wait_generation(&gw, 3);
}

fn reload_command(cfg: &std::path::Path) -> (i32, String, String) {
    run_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["reload", "--timeout", "10s", "--config"])
            .arg(cfg),
    )
}

/// `mtls-gateway reload` waits for the running gateway's verdict: exit 0
/// once the new generation serves (no waiting on the log needed before
/// the next request), exit 1 with the gateway's reasons when it refused.
#[test]
fn reload_command_reports_success_and_refusal() {
    let s = setup();
    let gw = Gateway::start(s.work.path(), &config("one", "", ""));
    let cfg = s.work.path().join("gateway.toml");
    let pid = std::fs::read_to_string(s.work.path().join("gateway.pid")).unwrap();
    assert_eq!(pid.trim(), gw.pid().to_string());
    std::fs::write(&cfg, config("two", "", "")).unwrap();
    let (code, out, err) = reload_command(&cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("reloaded: mtls-gateway (pid {})", gw.pid()))
            && out.contains("generation 2"),
        "{out}"
    );
    // Reported only once published: the very next connection sees it.
    assert_eq!(curl_alice(&s, &gw).body_text(), "two");

    // Valid for `check`, refused by the running process (it cannot open
    // the access log): reported with the reason, exit 1.
    let missing = s.work.path().join("no-such-dir").join("access.log");
    let global = format!("access_log = {}", quote(missing.to_str().unwrap()));
    std::fs::write(&cfg, config("three", "", &global)).unwrap();
    let (code, out, err) = reload_command(&cfg);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("reload refused by the running gateway")
            && err.contains("still serving generation 2 unchanged")
            && err.contains("no-such-dir"),
        "{err}"
    );
    assert_eq!(curl_alice(&s, &gw).body_text(), "two");

    // An invalid configuration is reported and not even sent.
    std::fs::write(&cfg, config("$bad", "", "")).unwrap();
    let (code, _, err) = reload_command(&cfg);
    assert_ne!(code, 0);
    assert!(
        err.contains("unknown variable `$bad`") && err.contains("not reloading"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gw.logs().matches("reload complete").count(),
        1,
        "the invalid configuration must not be signalled"
    );
    assert_eq!(gw.logs().matches("reload failed;").count(), 1);
    assert_eq!(curl_alice(&s, &gw).body_text(), "two");
}

/// Without `pid` (the configuration `certs init` writes), the pid file is
/// beside the configuration, and `reload` finds it; at exit it is removed.
#[test]
fn reload_works_without_a_pid_key() {
    let s = setup();
    let no_pid = |text: &str| {
        GatewayConfig::new()
            .server("localhost")
            .client_auth("on", "ca.pem")
            .returns("/", 200, text)
            .render()
    };
    let gw = Gateway::start(s.work.path(), &no_pid("one"));
    let pid_file = s.work.path().join("gateway.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        gw.pid().to_string()
    );
    let cfg = s.work.path().join("gateway.toml");
    std::fs::write(&cfg, no_pid("two")).unwrap();
    let (code, out, err) = reload_command(&cfg);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(curl_alice(&s, &gw).body_text(), "two");
    assert!(gw.terminate().success());
    assert!(!pid_file.exists(), "pid file left behind");
    assert!(!s.work.path().join("gateway.pid.status").exists());
    // No gateway: the error names the file and where its path came from.
    let (code, _, err) = reload_command(&cfg);
    assert_eq!(code, 1);
    assert!(
        err.contains("gateway.pid")
            && err.contains("beside the configuration")
            && err.contains("is the gateway running?"),
        "{err}"
    );
}

/// Under systemd (`RuntimeDirectory=mtls-gateway`), the default pid file is
/// `$RUNTIME_DIRECTORY/gateway.pid`, for `run` and `reload` alike.
#[test]
fn reload_finds_the_pid_file_in_systemds_runtime_directory() {
    let s = setup();
    let run_dir = s.work.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let text = |t: &str| {
        GatewayConfig::new()
            .server("localhost")
            .client_auth("on", "ca.pem")
            .returns("/", 200, t)
            .render()
    };
    let cfg = s.work.write("gateway.toml", text("one"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .env("RUNTIME_DIRECTORY", &run_dir)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = run_dir.join("gateway.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let written = std::fs::read_to_string(&pid_file);
    std::fs::write(&cfg, text("two")).unwrap();
    let (code, out, err) = run_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .env("RUNTIME_DIRECTORY", &run_dir)
            .args(["reload", "--timeout", "10s", "--config"])
            .arg(&cfg),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(written.unwrap().trim(), child.id().to_string());
    assert!(!s.work.path().join("gateway.pid").exists());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("generation 2"), "{out}");
}

/// A stale pid file naming a process that is not the gateway (the number
/// was reused) is not signalled: SIGHUP would end most programs.
#[test]
fn reload_does_not_signal_a_stranger_named_by_a_stale_pid_file() {
    let s = setup();
    let cfg = s.work.write("gateway.toml", config("one", "", ""));
    let mut stranger = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    s.work.write("gateway.pid", format!("{}\n", stranger.id()));
    let (code, _, err) = reload_command(&cfg);
    let alive = stranger.try_wait().unwrap().is_none();
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert_eq!(code, 1);
    assert!(alive, "the stranger was signalled");
    assert!(
        err.contains("which is `sleep`, not `mtls-gateway`") && err.contains("stale pid file"),
        "{err}"
    );
}

#[test]
fn listen_changes_are_reported_as_needing_a_restart() {
    let s = setup();
    let gw = Gateway::start(s.work.path(), &config("x", "", ""));
    let cfg = s.work.path().join("gateway.toml");
    std::fs::write(
        &cfg,
        config("x", "", "").replace("127.0.0.1:0", "127.0.0.1:1"),
    )
    .unwrap();
    gw.signal("HUP");
    wait_generation(&gw, 2);
    assert!(
        gw.logs()
            .contains("listen addresses cannot change without a restart"),
        "{}",
        gw.logs()
    );
}

#[test]
fn shutdown_lets_in_flight_requests_finish_then_exits_zero() {
    let s = setup();
    let backend = Backend::start();
    let gw = gateway_config("x", "", "shutdown_timeout = \"20s\"")
        .proxy("/slow", backend.addr)
        .start(&s.work);
    let port = gw.port();
    let ca = s.work.path().join("server-ca.pem");
    let c = s.work.path().join("alice.pem");
    let k = s.work.path().join("alice-key.pem");
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..5)
            .map(|_| {
                scope.spawn(|| {
                    curl(
                        "localhost",
                        port,
                        "/slow?delay_ms=2000",
                        &ca,
                        &[
                            "--http1.1",
                            "--cert",
                            c.to_str().unwrap(),
                            "--key",
                            k.to_str().unwrap(),
                        ],
                    )
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        gw.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        // No new connections once shutting down.
        let late = curl(
            "localhost",
            port,
            "/",
            &ca,
            &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
        );
        assert_eq!(
            late.status, 0,
            "a new connection was served during shutdown"
        );
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for r in &results {
        assert_eq!(r.status, 200, "in-flight request cut: {}", r.stderr);
    }
    let status = gw.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        !s.work.path().join("gateway.pid").exists(),
        "pid file removed on exit"
    );
}

#[test]
fn shutdown_timeout_bounds_the_wait() {
    let s = setup();
    let backend = Backend::start();
    let mut gw = gateway_config("x", "", "shutdown_timeout = \"1s\"")
        .proxy("/slow", backend.addr)
        .start(&s.work);
    let port = gw.port();
    let ca = s.work.path().join("server-ca.pem");
    let c = s
        .work
        .path()
        .join("alice.pem")
        .to_str()
        .unwrap()
        .to_string();
    let k = s
        .work
        .path()
        .join("alice-key.pem")
        .to_str()
        .unwrap()
        .to_string();
    let slow = std::thread::spawn(move || {
        curl(
            "localhost",
            port,
            "/slow?stall=head",
            &ca,
            &["--cert", &c, "--key", &k],
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    gw.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.try_wait().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = gw
        .try_wait()
        .expect("gateway still running 10 s after SIGTERM");
    assert!(status.success());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        gw.logs()
            .contains("connections still open after shutdown_timeout")
    );
    let _ = slow.join();
}
