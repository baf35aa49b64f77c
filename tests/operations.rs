//! Running it: the admin listener (health, readiness, Prometheus metrics)
//! and the access log (JSON and combined, reopened on SIGUSR1).

mod common;

use std::time::Duration;

use common::*;

struct Setup {
    work: Workdir,
    args: Vec<String>,
    ca: std::path::PathBuf,
}

fn setup() -> Setup {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    Setup {
        args: pki.alice_args(),
        work,
        ca: pki.ca,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `optional` client authentication, `/` answering "ok", `/dead` proxying to
/// the refusing port `dead`.
fn config(dead: u16) -> GatewayConfig {
    GatewayConfig::mtls("localhost", "optional")
        .returns("/", 200, "ok")
        .proxy("/dead", format!("127.0.0.1:{dead}"))
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let (_, out, _) = run_output(std::process::Command::new("curl").args([
        "-sS",
        "-i",
        &format!("http://127.0.0.1:{port}{path}"),
    ]));
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

impl Setup {
    fn get(&self, gw: &Gateway, path: &str, with_cert: bool) -> CurlResponse {
        let args: Vec<&str> = if with_cert {
            self.args.iter().map(String::as_str).collect()
        } else {
            vec![]
        };
        curl("localhost", gw.port(), path, &self.ca, &args)
    }
}

#[test]
fn admin_endpoints_and_metrics() {
    let s = setup();
    let admin = free_port();
    let dead = free_port();
    let gw = config(dead)
        .admin(format!("127.0.0.1:{admin}"))
        .start(&s.work);
    assert_eq!(http_get(admin, "/healthz"), (200, "ok\n".into()));
    assert_eq!(
        http_get(admin, "/readyz"),
        (200, "ready (generation 1)\n".into())
    );
    assert_eq!(s.get(&gw, "/", true).status, 200);
    assert_eq!(s.get(&gw, "/", false).status, 200);
    assert_eq!(s.get(&gw, "/dead", true).status, 502);
    std::thread::sleep(Duration::from_millis(100));
    let (status, m) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    for needle in [
        r#"mtls_gateway_requests_total{server="server[0]",location="location /",status="200"} 2"#,
        r#"mtls_gateway_requests_total{server="server[0]",location="location /dead",status="502"} 1"#,
        r#"mtls_gateway_client_certificate_verifications_total{server="server[0]",result="SUCCESS"} 2"#,
        r#"mtls_gateway_client_certificate_verifications_total{server="server[0]",result="NONE"} 1"#,
        r#"mtls_gateway_tls_handshakes_total{outcome="ok",version="TLSv1.3",kind="full"} 3"#,
        r#"mtls_gateway_upstream_errors_total{server="server[0]",location="location /dead",kind="refused"} 1"#,
        r#"mtls_gateway_connections_total 3"#,
        r#"mtls_gateway_config_generation 1"#,
        r#"mtls_gateway_certificate_expiry_seconds{server="server[0]",kind="server","#,
        r#"mtls_gateway_certificate_expiry_seconds{server="server[0]",kind="ca","#,
    ] {
        assert!(m.contains(needle), "metrics lack {needle}:\n{m}");
    }
    assert!(!m.contains("CN="), "no DN may appear in a label");
    // Reloads are counted, and the generation moves.
    gw.signal("HUP");
    assert!(wait_for_log_count(&gw, "reload complete", 1));
    std::fs::write(s.work.path().join("gateway.toml"), "broken [").unwrap();
    gw.signal("HUP");
    assert!(wait_for_log_count(&gw, "reload failed;", 1));
    let (_, m) = http_get(admin, "/metrics");
    assert!(
        m.contains(r#"mtls_gateway_config_reloads_total{outcome="success"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"mtls_gateway_config_reloads_total{outcome="failure"} 1"#),
        "{m}"
    );
    assert!(m.contains("mtls_gateway_config_generation 2"), "{m}");
    assert_eq!(http_get(admin, "/nope").0, 404);
}

#[test]
fn access_log_json_lines_carry_tls_and_identity() {
    let s = setup();
    let gw = config(free_port())
        .global("access_log", "access.log")
        .start(&s.work);
    let r = s.get(&gw, "/hello?x=1", true);
    assert_eq!(r.status, 200);
    s.get(&gw, "/dead", false);
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(s.work.path().join("access.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    let first = &lines[0];
    assert_eq!(first["path"], "/hello?x=1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"], 2);
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!(first["server"], "server[0]");
    assert_eq!(first["host"], "localhost");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["tls_version"], "TLSv1.3");
    assert_eq!(first["tls_resumed"], false);
    assert_eq!(first["verify"], "SUCCESS");
    assert!(
        first["subject_dn"].as_str().unwrap().contains("CN=alice"),
        "{first}"
    );
    assert_eq!(first["serial"].as_str().unwrap().len() % 2, 0);
    assert_eq!(first["fingerprint"].as_str().unwrap().len(), 40);
    assert!(first["request_time"].as_f64().unwrap() >= 0.0);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["status"], 502);
    assert_eq!(lines[1]["verify"], "NONE");
}

#[test]
fn access_log_combined_and_reopen_on_sigusr1() {
    let s = setup();
    let backend = Backend::start();
    let gw = config(free_port())
        .global("access_log", "access.log")
        .global("access_log_format", "combined")
        .proxy("/api", backend.addr)
        .start(&s.work);
    s.get(&gw, "/api/x", true);
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(s.work.path().join("access.log")).unwrap();
    let line = log.lines().next().unwrap();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(line.contains("\"GET /api/x HTTP/2.0\" 200 "), "{line}");
    assert!(line.contains(&format!("ua={}", backend.addr)), "{line}");
    assert!(
        line.contains("tls=TLSv1.3 reused=. verify=\"SUCCESS\" dn=\""),
        "{line}"
    );
    // logrotate: move the file, signal, and the next line lands in a new file.
    std::fs::rename(
        s.work.path().join("access.log"),
        s.work.path().join("access.log.1"),
    )
    .unwrap();
    gw.signal("USR1");
    assert!(wait_for_log_count(&gw, "access log reopened", 1));
    s.get(&gw, "/", true);
    std::thread::sleep(Duration::from_millis(200));
    let fresh = std::fs::read_to_string(s.work.path().join("access.log")).unwrap();
    assert_eq!(fresh.lines().count(), 1, "{fresh}");
    let old = std::fs::read_to_string(s.work.path().join("access.log.1")).unwrap();
    assert_eq!(old.lines().count(), 1);
}

#[test]
fn json_log_format_for_machines() {
    let s = setup();
    let work = s.work.path();
    config(free_port()).write(&s.work, "gateway.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(work.join("gateway.toml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("listening on"),
        "{line}"
    );
}

#[test]
fn readyz_says_503_while_draining() {
    let s = setup();
    let admin = free_port();
    let backend = Backend::start();
    let mut gw = config(free_port())
        .global("shutdown_timeout", "10s")
        .admin(format!("127.0.0.1:{admin}"))
        .proxy("/slow", backend.addr)
        .start(&s.work);
    assert_eq!(http_get(admin, "/readyz").0, 200);
    let port = gw.port();
    let ca = s.ca.clone();
    let args = s.args.clone();
    let slow = std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        curl("localhost", port, "/slow?delay_ms=2500", &ca, &a)
    });
    std::thread::sleep(Duration::from_millis(500));
    gw.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_get(admin, "/readyz"), (503, "shutting down\n".into()));
    assert_eq!(http_get(admin, "/healthz").0, 200);
    assert_eq!(
        slow.join().unwrap().status,
        200,
        "the in-flight request finished"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gw.try_wait().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gw.try_wait().expect("exited").success());
}
