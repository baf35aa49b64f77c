//! Running it: the admin listener (health, readiness, Prometheus metrics)
//! and the access log (JSON and combined, reopened on SIGUSR1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

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
        // Both outcomes from the start: the documented alert
        // `increase(...{outcome="failure"}[15m]) > 0` sees the first failure.
        r#"mtls_gateway_config_reloads_total{outcome="success"} 0"#,
        r#"mtls_gateway_config_reloads_total{outcome="failure"} 0"#,
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

/// A request refused before routing (400: no certificate with
/// `verify_client = "on"`) is logged with the Host it sent, as nginx logs
/// `$host` (it used to be `"host":""`).
#[test]
fn access_log_names_the_host_of_a_refused_request() {
    let s = setup();
    let gw = GatewayConfig::mtls("localhost", "on")
        .global("access_log", "access.log")
        .returns("/", 200, "ok")
        .start(&s.work);
    let r = s.get(&gw, "/", false);
    assert_eq!(r.status, 400);
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(s.work.path().join("access.log")).unwrap();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], 400, "{log}");
    assert_eq!(line["host"], "localhost", "{log}");
}

/// By default access lines go to stdout and diagnostics to stderr: the
/// JSON lines are never interleaved with the human log (they shared stderr).
#[test]
fn access_lines_default_to_stdout_apart_from_the_diagnostics() {
    let s = setup();
    let text = config(free_port()).render();
    let cfg = s.work.write("gateway.toml", &text);
    let out_path = s.work.path().join("stdout.txt");
    let err_path = s.work.path().join("stderr.txt");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let port = loop {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        if let Some(rest) = err.split("listening on 127.0.0.1:").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
    let r = curl("localhost", port, "/", &s.ca, &args);
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 200);
    let out = std::fs::read_to_string(&out_path).unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap_or("")).unwrap();
    assert_eq!(line["status"], 200, "{out}");
    assert_eq!(out.lines().count(), 1, "only access lines on stdout: {out}");
    assert!(err.contains("mtls-gateway ready"), "{err}");
    assert!(
        !err.contains("\"status\""),
        "no access line on stderr: {err}"
    );
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

/// A raw HTTP/1.1 connection to the admin port.
fn admin_conn(port: u16) -> std::net::TcpStream {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp
}

/// Reads one response (head and `Content-Length` body) from `tcp`.
fn read_response(tcp: &mut std::net::TcpStream) -> std::io::Result<String> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&got, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + len {
                return Ok(String::from_utf8_lossy(&got).into_owned());
            }
        }
        match tcp.read(&mut buf)? {
            0 => return Ok(String::from_utf8_lossy(&got).into_owned()),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether the server closed `tcp` (EOF or reset) before its read timeout.
fn closed_by_server(tcp: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 before closing
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

fn admin_gateway(s: &Setup, extra: &str) -> (Gateway, u16) {
    let admin = free_port();
    let gw = Gateway::start(
        s.work.path(),
        &format!(
            "{}{extra}",
            config(free_port())
                .admin(format!("127.0.0.1:{admin}"))
                .render()
        ),
    );
    (gw, admin)
}

#[test]
fn admin_drops_a_client_that_does_not_finish_its_request_head() {
    use std::io::Write;
    let s = setup();
    let (_gw, admin) = admin_gateway(&s, "");
    let mut slow = admin_conn(admin);
    let start = std::time::Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    assert!(
        closed_by_server(&mut slow),
        "a client that never finishes its head is still connected after 10 s"
    );
    let held = start.elapsed();
    assert!(
        held >= mtls_gateway::admin::HEADER_TIMEOUT - Duration::from_millis(100),
        "closed after {held:?}, before the header timeout"
    );
    // Others are still answered.
    assert_eq!(http_get(admin, "/healthz").0, 200);
}

#[test]
fn admin_connections_beyond_the_limit_wait_for_a_free_slot() {
    use std::io::Write;
    let s = setup();
    let (gw, admin) = admin_gateway(&s, "");
    let limit = mtls_gateway::admin::MAX_CONNECTIONS;
    // Fill every slot with clients that send nothing: each holds its slot
    // until the header timeout closes it.
    let first = std::time::Instant::now();
    let idle: Vec<_> = (0..limit).map(|_| admin_conn(admin)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut waiting = admin_conn(admin);
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut waiting).unwrap();
    let waited = first.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // Answered only once the idle clients' slots were freed (by the header
    // timeout, which started no earlier than `first`).
    assert!(
        waited >= mtls_gateway::admin::HEADER_TIMEOUT - Duration::from_millis(100),
        "answered after {waited:?}: the connection limit did not hold it back"
    );
    assert!(gw.logs().contains("accepting paused"), "{}", gw.logs());
    drop(idle);
}

#[test]
fn admin_connections_close_after_their_request_when_shutting_down() {
    use std::io::Write;
    let s = setup();
    let backend = Backend::start();
    let (mut gw, admin) = admin_gateway(
        &s,
        &format!(
            "\n[[server.location]]\nprefix = \"/slow\"\nproxy_pass = \"http://{}\"\n",
            backend.addr
        ),
    );
    // shutdown_timeout is the default 30 s: the slow request keeps the
    // gateway draining for about 3 s.
    let port = gw.port();
    let ca = s.ca.clone();
    let args = s.args.clone();
    let slow = std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        curl("localhost", port, "/slow?delay_ms=3000", &ca, &a)
    });
    std::thread::sleep(Duration::from_millis(500));
    // A keep-alive admin connection, idle when the shutdown begins.
    let mut kept = admin_conn(admin);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut kept).unwrap();
    let answered = std::time::Instant::now();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(!answer.to_ascii_lowercase().contains("connection: close"));
    gw.signal("TERM");
    assert!(closed_by_server(&mut kept), "kept open while draining");
    assert!(
        answered.elapsed() < mtls_gateway::admin::HEADER_TIMEOUT,
        "closed after {:?}: by the header timeout, not by the shutdown",
        answered.elapsed()
    );
    // A connection made while draining gets one answer, then is closed.
    let mut late = admin_conn(admin);
    late.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut late).unwrap().to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer:?}");
    assert!(answer.contains("connection: close"), "{answer:?}");
    assert!(closed_by_server(&mut late));
    assert!(gw.try_wait().is_none(), "still draining the slow request");
    assert_eq!(slow.join().unwrap().status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gw.try_wait().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gw.try_wait().expect("exited").success());
}

#[test]
fn admin_accept_errors_are_logged_and_backed_off() {
    let s = setup();
    let admin = free_port();
    // Few descriptors: clients of the TLS port use up the rest.
    let gw = Gateway::start_with_open_files_limit(
        s.work.path(),
        &config(free_port())
            .admin(format!("127.0.0.1:{admin}"))
            .render(),
        64,
    );
    let port = gw.port();
    let mut hogs = Vec::new();
    for _ in 0..80 {
        hogs.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    assert!(
        wait_for_log_count(&gw, "accept failed", 1),
        "the TLS port did not run out of descriptors:\n{}",
        gw.logs()
    );
    // The admin port's accept fails too: logged, with a growing back-off.
    let mut waiting = admin_conn(admin);
    assert!(
        wait_for_log_count(&gw, "admin: accept failed", 3),
        "{}",
        gw.logs()
    );
    let logs = gw.logs();
    let backoffs: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("admin: accept failed"))
        .filter_map(|l| l.split("backing off ").nth(1))
        .collect();
    assert!(backoffs.len() >= 3, "{logs}");
    assert_ne!(
        backoffs[0], backoffs[2],
        "the back-off does not grow: {backoffs:?}"
    );
    // Descriptors back: the waiting admin client is answered.
    drop(hogs);
    use std::io::Write;
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_response(&mut waiting).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[test]
fn client_body_failures_are_not_upstream_errors() {
    // A body over client_max_body_size sent chunked is found out only while
    // it streams upstream. It is the client's failure (413), not the
    // upstream's: `mtls_gateway_upstream_errors_total` pages whoever runs
    // the upstream and must not move.
    let s = setup();
    let admin = free_port();
    let backend = Backend::start();
    let gw = GatewayConfig::mtls("localhost", "optional")
        .server_key("client_max_body_size", "1k")
        .proxy("/", backend.addr)
        .admin(format!("127.0.0.1:{admin}"))
        .start(&s.work);
    let big = "x".repeat(4000);
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &s.ca,
        &[
            "--http1.1",
            "--data-binary",
            &big,
            "-H",
            "Transfer-Encoding: chunked",
        ],
    );
    assert_eq!(r.status, 413);
    // The same location still reaches its upstream.
    assert_eq!(s.get(&gw, "/", false).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let (status, m) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    assert!(
        m.contains(r#"mtls_gateway_requests_total{server="server[0]",location="location /",status="413"} 1"#),
        "{m}"
    );
    assert!(
        !m.contains("mtls_gateway_upstream_errors_total{"),
        "a client body failure counted as an upstream error:\n{m}"
    );
}
