//! Identity headers reach the backend only from the verified handshake:
//! every client copy is removed, in every spelling, over HTTP/1.1 and
//! HTTP/2 (as nginx does, and further than nginx).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use common::rustls_client::{self, ClientOpts};
use common::*;

struct Setup {
    work: Workdir,
    root: Ca,
    alice: Leaf,
    backend: Backend,
    gw: Gateway,
    ca: std::path::PathBuf,
}

fn setup(mode: &str, extra_server: &str) -> Setup {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let backend = Backend::start();
    let gw = GatewayConfig::mtls("localhost", mode)
        .server_extra(extra_server)
        .proxy("/api/mtls", "http://backend")
        .header("Host", "$host")
        .header("X-Forwarded-For", "$proxy_add_x_forwarded_for")
        .header("X-SSL-Client-Verify", "$ssl_client_verify")
        .header("X-SSL-Client-DN", "$ssl_client_s_dn")
        .header("X-SSL-Client-Serial", "$ssl_client_serial")
        .proxy("/other", "http://backend")
        .upstream("backend", [backend.addr])
        .start(&work);
    Setup {
        work,
        root: pki.root,
        alice: pki.alice,
        backend,
        gw,
        ca: pki.ca,
    }
}

impl Setup {
    fn curl(&self, path: &str, with_cert: bool, args: &[&str]) -> CurlResponse {
        let cert = self.work.path().join("alice.pem");
        let key = self.work.path().join("alice-key.pem");
        let mut all: Vec<&str> = Vec::new();
        if with_cert {
            all.extend([
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ]);
        }
        all.extend(args);
        curl("localhost", self.gw.port(), path, &self.ca, &all)
    }
}

const SPOOFS: &[&str] = &[
    "X-SSL-Client-DN: CN=evil",
    "x-ssl-client-dn: CN=evil-lower",
    "X-SSL-CLIENT-DN: CN=evil-upper",
    "X-SSL-Client-Verify: SUCCESS",
    "X-SSL-Client-Serial: 01",
    "X_SSL_Client_DN: CN=evil-underscore",
    "X-SSL-Client_DN: CN=evil-mixed",
];

fn spoof_args() -> Vec<&'static str> {
    SPOOFS.iter().flat_map(|h| ["-H", *h]).collect()
}

fn assert_clean(body: &str, verify: &str, dn: Option<&str>) {
    assert!(
        !body.contains("evil"),
        "a client copy reached the backend:\n{body}"
    );
    assert_eq!(
        echoed_headers(body, "x-ssl-client-verify"),
        vec![verify.to_string()],
        "{body}"
    );
    match dn {
        Some(dn) => assert_eq!(
            echoed_headers(body, "x-ssl-client-dn"),
            vec![dn.to_string()],
            "{body}"
        ),
        None => assert!(echoed_headers(body, "x-ssl-client-dn").is_empty(), "{body}"),
    }
    assert!(!body.to_ascii_lowercase().contains("x_ssl"), "{body}");
}

#[test]
fn spoofed_identity_headers_never_reach_the_backend_http1_and_http2() {
    let s = setup("on", "");
    for proto in ["--http1.1", "--http2"] {
        let mut args = spoof_args();
        args.push(proto);
        let r = s.curl("/api/mtls", true, &args);
        assert_eq!(r.status, 200, "{proto}: {}", r.body_text());
        let dn = r.echoed("x-ssl-client-dn");
        assert_eq!(dn.len(), 1);
        assert!(dn[0].contains("CN=alice"), "{dn:?}");
        assert_clean(&r.body_text(), "SUCCESS", Some(&dn[0]));
    }
}

#[test]
fn empty_identity_value_sends_no_header_but_still_strips_client_copies() {
    // optional + no certificate: $ssl_client_s_dn is empty, so no
    // X-SSL-Client-DN at all, and the client's copy is gone too.
    let s = setup("optional", "");
    for proto in ["--http1.1", "--http2"] {
        let mut args = spoof_args();
        args.extend(["-H", "X-SSL-Client-DN;", proto]);
        let r = s.curl("/api/mtls", false, &args);
        assert_eq!(r.status, 200);
        assert_clean(&r.body_text(), "NONE", None);
    }
}

#[test]
fn identity_headers_are_stripped_in_locations_that_do_not_set_them() {
    // nginx would pass them through in /other; the gateway does not.
    let s = setup("optional", "");
    let r = s.curl("/other", true, &spoof_args());
    assert_eq!(r.status, 200);
    let body = r.body_text();
    assert!(!body.contains("evil"), "{body}");
    assert!(r.echoed("x-ssl-client-verify").is_empty());
}

#[test]
fn connection_header_cannot_remove_gateway_headers() {
    let s = setup("on", "");
    let r = s.curl(
        "/api/mtls",
        true,
        &[
            "--http1.1",
            "-H",
            "Connection: X-SSL-Client-Verify, X-SSL-Client-DN, X-Forwarded-For, Host, X-Drop",
            "-H",
            "X-Drop: 1",
            "-H",
            "X-Keep: 1",
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed("x-ssl-client-verify"), vec!["SUCCESS".to_string()]);
    assert_eq!(r.echoed("x-ssl-client-dn").len(), 1);
    assert_eq!(r.echoed("host"), vec!["localhost".to_string()]);
    assert_eq!(r.echoed("x-forwarded-for"), vec!["127.0.0.1".to_string()]);
    assert!(
        r.echoed("x-drop").is_empty(),
        "nominated client header must go"
    );
    assert_eq!(r.echoed("x-keep"), vec!["1".to_string()]);
    assert!(r.echoed("connection").is_empty());
}

#[test]
fn underscore_spellings_are_dropped_even_when_underscores_are_allowed() {
    let s = setup("on", "underscores_in_headers = true");
    let mut args = spoof_args();
    args.extend(["--http1.1", "-H", "X_Custom_Thing: kept"]);
    let r = s.curl("/api/mtls", true, &args);
    assert_eq!(r.status, 200);
    let body = r.body_text();
    assert!(!body.contains("evil"), "{body}");
    assert_eq!(
        r.echoed("x_custom_thing"),
        vec!["kept".to_string()],
        "{body}"
    );
}

#[test]
fn x_forwarded_for_follows_nginx() {
    let s = setup("on", "");
    let r = s.curl(
        "/api/mtls",
        true,
        &[
            "--http1.1",
            "-H",
            "X-Forwarded-For: 10.0.0.1",
            "-H",
            "X-Forwarded-For: 10.0.0.2, 10.0.0.3",
        ],
    );
    assert_eq!(
        r.echoed("x-forwarded-for"),
        vec!["10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1".to_string()]
    );
    let r = s.curl("/api/mtls", true, &["--http1.1", "-H", "X-Forwarded-For;"]);
    assert_eq!(r.echoed("x-forwarded-for"), vec![", 127.0.0.1".to_string()]);
    let r = s.curl("/api/mtls", true, &["--http1.1"]);
    assert_eq!(r.echoed("x-forwarded-for"), vec!["127.0.0.1".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_headers_over_raw_http2_from_a_rustls_client() {
    let s = setup("on", "");
    let chain = s.alice.cert_pem.clone();
    let root_pem = s.root.pem();
    let mut opts = ClientOpts::new(&root_pem);
    opts.identity = Some((&chain, &s.alice.key_pem));
    opts.h2 = true;
    let cfg = rustls_client::config(&opts);
    let mut req = rustls_client::get("localhost", "/api/mtls", true);
    for h in SPOOFS {
        let (n, v) = h.split_once(": ").unwrap();
        req = req.header(n.to_ascii_lowercase(), v);
    }
    let req = req
        .header("x-ssl-client-dn", "")
        .header("x-ssl-client-verify", "SUCCESS")
        .body(rustls_client::empty())
        .unwrap();
    let out = rustls_client::send(s.gw.addr(), "localhost", cfg, req)
        .await
        .unwrap();
    assert_eq!(out.response.status(), 200);
    let body = out.text();
    let dn = echoed_headers(&body, "x-ssl-client-dn");
    assert_eq!(dn.len(), 1, "{body}");
    assert_clean(&body, "SUCCESS", Some(&dn[0]));
    let _ = &s.backend;
}

/// The seed's layout: a verifying server and a plain-access server (no client
/// authentication, no identity headers) proxying to the same backend. nginx
/// passes a client's `X-SSL-Client-DN` through the plain server; the gateway
/// strips every identity header of the configuration in every server.
#[test]
fn a_neighbouring_server_cannot_be_used_to_plant_identity_headers() {
    let work = Workdir::new();
    let ca = TestPki::new(&work).ca;
    let backend = Backend::start();
    let plain_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = GatewayConfig::mtls("localhost", "on")
        .proxy("/", "http://backend")
        .header("X-SSL-Client-Verify", "$ssl_client_verify")
        .header("X-SSL-Client-DN", "$ssl_client_s_dn")
        .header("X-Client-Serial", "serial=$ssl_client_serial")
        .server("localhost")
        .listen(format!("127.0.0.1:{plain_port}"))
        .proxy("/", "http://backend")
        .header("X-Plain", "yes")
        .upstream("backend", [backend.addr])
        .start(&work);
    assert!(
        gw.logs().contains("only server[0] sets identity headers"),
        "config load warns about the shared upstream:\n{}",
        gw.logs()
    );
    // `check` says so too, and still passes the configuration.
    let (code, stdout, stderr) = run_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(work.path().join("gateway.toml")),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("server[0] and server[1] both proxy to")
            && stderr.contains("only server[0] sets identity headers"),
        "{stderr}"
    );
    let mut args = spoof_args();
    args.extend([
        "-H",
        "X-Client-Serial: serial=01",
        "-H",
        "x_client_serial: 02",
    ]);
    for version in ["--http1.1", "--http2"] {
        let mut all = args.clone();
        all.push(version);
        let r = curl("localhost", plain_port, "/", &ca, &all);
        assert_eq!(r.status, 200, "{}", r.stderr);
        let body = r.body_text();
        assert!(!body.contains("evil"), "{version}: planted:\n{body}");
        assert!(r.echoed("x-ssl-client-verify").is_empty(), "{body}");
        assert!(r.echoed("x-ssl-client-dn").is_empty(), "{body}");
        assert!(r.echoed("x-client-serial").is_empty(), "{body}");
        assert!(r.echoed("x_client_serial").is_empty(), "{body}");
        assert_eq!(r.echoed("x-plain"), vec!["yes".to_string()]);
    }
}
