//! TLS termination: protocol versions, ALPN, the CA names advertised in the
//! CertificateRequest, proof of key possession, resumption keeping the
//! identity, the handshake failure mode, SNI server selection, and plain
//! HTTP on the TLS port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::sync::Arc;

use common::rustls_client::{self, ClientOpts};
use common::*;

struct Pki {
    work: Workdir,
    root: Ca,
    alice: Leaf,
    ca: std::path::PathBuf,
}

fn pki() -> Pki {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Client Root CA", &["localhost", "a.test", "b.test"]);
    Pki {
        work,
        root: pki.root,
        alice: pki.alice,
        ca: pki.ca,
    }
}

/// One server for `name` answering `text` on `/`; `tls_extra` and `auth`
/// are raw lines of its `[server.tls]` and `[server.client_auth]`.
fn server_block(name: &str, tls_extra: &str, auth: &str, text: &str) -> String {
    GatewayConfig::plain(name)
        .tls_extra(tls_extra)
        .client_auth_extra(auth)
        .returns("/", 200, text)
        .render()
}

const VARS: &str =
    "$ssl_protocol $ssl_cipher $ssl_session_reused $ssl_server_name $ssl_client_verify";

fn alice_args(p: &Pki) -> Vec<String> {
    vec![
        "--cert".into(),
        p.work.path().join("alice.pem").to_str().unwrap().into(),
        "--key".into(),
        p.work.path().join("alice-key.pem").to_str().unwrap().into(),
    ]
}

#[test]
fn tls12_and_tls13_with_alpn_and_ssl_variables() {
    let p = pki();
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "",
            "verify_client = \"on\"\nclient_certificate = \"ca.pem\"",
            VARS,
        ),
    );
    let mut base = alice_args(&p);
    base.extend(["--http1.1".to_string()]);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = base.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        curl("localhost", gw.port(), "/", &p.ca, &a)
    };
    let r = run(args(&["--tlsv1.2", "--tls-max", "1.2"]));
    assert_eq!(r.status, 200);
    assert!(
        // The server's order wins: AES-128-GCM/SHA-256 first (src/tls.rs).
        r.body_text()
            .starts_with("TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 "),
        "{}",
        r.body_text()
    );
    assert!(
        r.body_text().ends_with(" . localhost SUCCESS"),
        "{}",
        r.body_text()
    );
    let r = run(args(&["--tlsv1.3"]));
    assert!(
        r.body_text().starts_with("TLSv1.3 TLS_AES_128_GCM_SHA256 "),
        "{}",
        r.body_text()
    );
    // A client that offers only other suites still gets one of them.
    let r = run(args(&[
        "--tlsv1.3",
        "--tls13-ciphers",
        "TLS_AES_256_GCM_SHA384",
    ]));
    assert!(
        r.body_text().starts_with("TLSv1.3 TLS_AES_256_GCM_SHA384 "),
        "{}",
        r.body_text()
    );
    let r = run(args(&[
        "--tls13-ciphers",
        "TLS_CHACHA20_POLY1305_SHA256",
        "--tlsv1.3",
    ]));
    assert!(
        r.body_text()
            .starts_with("TLSv1.3 TLS_CHACHA20_POLY1305_SHA256 "),
        "{}",
        r.body_text()
    );
    // ALPN: h2 when asked, HTTP/1.1 otherwise.
    let mut h2 = alice_args(&p);
    h2.push("--http2".into());
    let h2: Vec<&str> = h2.iter().map(String::as_str).collect();
    let r = curl("localhost", gw.port(), "/", &p.ca, &h2);
    assert_eq!(r.status, 200);
    assert!(r.stderr.is_empty());
    let (code, out, _) = run_output(std::process::Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        "--http2",
        "--cacert",
        p.ca.to_str().unwrap(),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", gw.port()),
        "--cert",
        h2[1],
        "--key",
        h2[3],
        &format!("https://localhost:{}/", gw.port()),
    ]));
    assert_eq!((code, out.as_str()), (0, "2"));
}

#[test]
fn protocols_restrict_versions() {
    let p = pki();
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "protocols = [\"TLSv1.3\"]",
            "verify_client = \"off\"",
            "$ssl_protocol",
        ),
    );
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &p.ca,
        &["--tlsv1.2", "--tls-max", "1.2"],
    );
    assert_eq!(r.status, 0, "TLS 1.2 must be refused");
    assert_ne!(r.exit, 0);
    let r = curl("localhost", gw.port(), "/", &p.ca, &[]);
    assert_eq!(r.body_text(), "TLSv1.3");
}

/// The CA-names section of `openssl s_client` output (or its "No client
/// certificate CA names sent" line).
fn s_client_ca_names(port: u16, tls: &str) -> String {
    let (_, out, _) = run_output(
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "localhost",
                tls,
            ])
            .stdin(std::process::Stdio::null()),
    );
    let mut section = String::new();
    let mut inside = false;
    for line in out.lines() {
        if line.contains("No client certificate CA names sent") {
            return line.to_string();
        }
        if line.starts_with("Acceptable client certificate CA names") {
            inside = true;
        } else if inside
            && (line.starts_with("Requested")
                || line.starts_with("Client Certificate Types")
                || line.starts_with("---"))
        {
            break;
        }
        if inside {
            section.push_str(line);
            section.push('\n');
        }
    }
    section
}

#[test]
fn ca_names_are_advertised_from_client_certificate_only() {
    let p = pki();
    let int = p.root.intermediate("Issuing CA");
    p.work.write("int.pem", int.pem());
    let mut both = p.root.pem();
    both.push_str(&int.pem());
    p.work.write("both.pem", both);
    let gw = Gateway::start(
        p.work.path(),
        &[server_block(
            "localhost",
            "",
            "verify_client = \"on\"\nclient_certificate = \"both.pem\"",
            "x",
        )]
        .concat(),
    );
    for tls in ["-tls1_2", "-tls1_3"] {
        let out = s_client_ca_names(gw.port(), tls);
        assert!(
            out.contains("Acceptable client certificate CA names"),
            "{tls}: {out}"
        );
        assert!(out.contains("CN = Client Root CA"), "{tls}: {out}");
        assert!(out.contains("CN = Issuing CA"), "{tls}: {out}");
    }
    drop(gw);
    // trusted_certificate: trusted, not advertised.
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "",
            "verify_client = \"on\"\nclient_certificate = \"int.pem\"\ntrusted_certificate = \"ca.pem\"",
            "$ssl_client_verify",
        ),
    );
    let out = s_client_ca_names(gw.port(), "-tls1_3");
    assert!(out.contains("CN = Issuing CA"), "{out}");
    assert!(!out.contains("CN = Client Root CA"), "{out}");
    let a = alice_args(&p);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(
        curl("localhost", gw.port(), "/", &p.ca, &a).body_text(),
        "SUCCESS"
    );
    drop(gw);
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "",
            "verify_client = \"on\"\ntrusted_certificate = \"ca.pem\"",
            "$ssl_client_verify",
        ),
    );
    let out = s_client_ca_names(gw.port(), "-tls1_2");
    assert!(out.contains("No client certificate CA names sent"), "{out}");
    assert_eq!(
        curl("localhost", gw.port(), "/", &p.ca, &a).body_text(),
        "SUCCESS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_without_its_private_key_never_gets_through() {
    let p = pki();
    let backend = Backend::start();
    let gw = GatewayConfig::mtls("localhost", "optional_no_ca")
        .returns("/", 200, "$ssl_client_verify")
        .proxy("/api", backend.addr)
        .start(&p.work);
    let mallory_key = LeafSpec::client("mallory").self_signed().key_pem;
    let root_pem = p.root.pem();
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let mut opts = ClientOpts::new(&root_pem);
        opts.identity = Some((&p.alice.cert_pem, &p.alice.key_pem));
        opts.wrong_key = Some(&mallory_key);
        opts.versions = versions;
        let cfg = rustls_client::config(&opts);
        let req = rustls_client::get("localhost", "/api/x", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send(gw.addr(), "localhost", cfg, req).await;
        assert!(
            out.is_err(),
            "{versions:?}: a stolen certificate got a response: {}",
            out.map(|o| o.text()).unwrap_or_default()
        );
        // The same client with the right key gets through.
        let mut opts = ClientOpts::new(&root_pem);
        opts.identity = Some((&p.alice.cert_pem, &p.alice.key_pem));
        opts.versions = versions;
        let req = rustls_client::get("localhost", "/", false)
            .body(rustls_client::empty())
            .unwrap();
        let out = rustls_client::send(gw.addr(), "localhost", rustls_client::config(&opts), req)
            .await
            .unwrap();
        assert_eq!(out.text(), "SUCCESS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_sessions_keep_and_reverify_the_identity() {
    let p = pki();
    let text = "$ssl_session_reused $ssl_client_verify $ssl_client_serial|$ssl_client_s_dn";
    let gw = Gateway::start(
        p.work.path(),
        &[
            server_block(
                "a.test",
                "session_cache = 100\nsession_tickets = false",
                "verify_client = \"on\"\nclient_certificate = \"ca.pem\"",
                text,
            ),
            server_block(
                "b.test",
                "session_tickets = true",
                "verify_client = \"on\"\nclient_certificate = \"ca.pem\"",
                text,
            ),
        ]
        .concat(),
    );
    let root_pem = p.root.pem();
    // a.test: TLS 1.2 session IDs and TLS 1.3 stateful tickets; b.test: tickets.
    for (name, versions) in [
        ("a.test", &[&rustls::version::TLS12][..]),
        ("a.test", &[&rustls::version::TLS13][..]),
        ("b.test", &[&rustls::version::TLS12][..]),
        ("b.test", &[&rustls::version::TLS13][..]),
    ] {
        let mut opts = ClientOpts::new(&root_pem);
        opts.identity = Some((&p.alice.cert_pem, &p.alice.key_pem));
        opts.versions = versions;
        let cfg = rustls_client::config(&opts);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let req = rustls_client::get(name, "/", false)
                .body(rustls_client::empty())
                .unwrap();
            let out = rustls_client::send(gw.addr(), name, cfg.clone(), req)
                .await
                .unwrap();
            assert_eq!(out.response.status(), 200);
            seen.push((out.handshake, out.text()));
        }
        assert_eq!(
            seen[0].0,
            rustls::HandshakeKind::Full,
            "{name} {versions:?}"
        );
        assert_eq!(
            seen[1].0,
            rustls::HandshakeKind::Resumed,
            "{name} {versions:?}: {seen:?}"
        );
        let (first, second) = (&seen[0].1, &seen[1].1);
        assert!(first.starts_with(". SUCCESS "), "{first}");
        assert!(second.starts_with("r SUCCESS "), "{second}");
        assert_eq!(first[2..], second[2..], "identity differs after resumption");
    }
}

/// TLS 1.3 without tickets resumes from the session cache, one use per
/// session (each resumption takes its session and gets a new one): a client
/// keeps resuming, and the cache still holds only `session_cache` sessions,
/// evicting the oldest (src/tls.rs unit tests check its size directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_resumption_from_a_small_cache_keeps_working_and_evicts_the_oldest() {
    let p = pki();
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "session_cache = 2\nsession_tickets = false",
            "verify_client = \"off\"",
            "$ssl_session_reused",
        ),
    );
    let root_pem = p.root.pem();
    let tls13 = [&rustls::version::TLS13];
    let client = || {
        let mut opts = ClientOpts::new(&root_pem);
        opts.versions = &tls13;
        rustls_client::config(&opts)
    };
    let connect = |cfg: Arc<rustls::ClientConfig>| {
        let addr = gw.addr();
        async move {
            let req = rustls_client::get("localhost", "/", false)
                .body(rustls_client::empty())
                .unwrap();
            let out = rustls_client::send(addr, "localhost", cfg, req)
                .await
                .unwrap();
            assert_eq!(out.response.status(), 200);
            out.handshake
        }
    };
    let a = client();
    assert_eq!(connect(a.clone()).await, rustls::HandshakeKind::Full);
    for i in 0..30 {
        assert_eq!(
            connect(a.clone()).await,
            rustls::HandshakeKind::Resumed,
            "resumption {i}"
        );
    }
    // Two other clients fill the cache of two: a's session is the oldest.
    for _ in 0..2 {
        assert_eq!(connect(client()).await, rustls::HandshakeKind::Full);
    }
    assert_eq!(
        connect(a.clone()).await,
        rustls::HandshakeKind::Full,
        "a's session was evicted"
    );
    assert_eq!(connect(a).await, rustls::HandshakeKind::Resumed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_resumption_when_cache_and_tickets_are_off() {
    let p = pki();
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "session_cache = 0\nsession_tickets = false",
            "verify_client = \"off\"",
            "$ssl_session_reused",
        ),
    );
    let root_pem = p.root.pem();
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let mut opts = ClientOpts::new(&root_pem);
        opts.versions = versions;
        let cfg = rustls_client::config(&opts);
        for _ in 0..2 {
            let req = rustls_client::get("localhost", "/", false)
                .body(rustls_client::empty())
                .unwrap();
            let out = rustls_client::send(gw.addr(), "localhost", cfg.clone(), req)
                .await
                .unwrap();
            assert_eq!(out.handshake, rustls::HandshakeKind::Full);
            assert_eq!(out.text(), ".");
        }
    }
}

#[test]
fn failure_handshake_aborts_tls_instead_of_a_400_page() {
    let p = pki();
    let rogue = Ca::root("Rogue").client("mallory");
    let c = p.work.write("m.pem", &rogue.cert_pem);
    let k = p.work.write("mk.pem", &rogue.key_pem);
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "",
            "verify_client = \"on\"\nclient_certificate = \"ca.pem\"\nfailure = \"handshake\"",
            "$ssl_client_verify",
        ),
    );
    for tls in ["1.2", "1.3"] {
        let v = format!("--tlsv{tls}");
        let r = curl(
            "localhost",
            gw.port(),
            "/",
            &p.ca,
            &[
                &v,
                "--tls-max",
                tls,
                "--cert",
                c.to_str().unwrap(),
                "--key",
                k.to_str().unwrap(),
            ],
        );
        assert_eq!(
            r.status,
            0,
            "TLS {tls}: no HTTP response expected, got {}",
            r.body_text()
        );
        assert_ne!(r.exit, 0, "TLS {tls}: curl must fail");
        let r = curl("localhost", gw.port(), "/", &p.ca, &[&v, "--tls-max", tls]);
        assert_eq!(
            r.status, 0,
            "TLS {tls}: no certificate must fail the handshake"
        );
        let a = alice_args(&p);
        let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
        a.extend([v.as_str(), "--tls-max", tls]);
        assert_eq!(
            curl("localhost", gw.port(), "/", &p.ca, &a).body_text(),
            "SUCCESS"
        );
    }
}

#[test]
fn sni_selects_the_server_and_its_ca() {
    let p = pki();
    let other = Ca::root("Other Root");
    p.work.write("other.pem", other.pem());
    let bob = other.client("bob");
    let bc = p.work.write("bob.pem", &bob.cert_pem);
    let bk = p.work.write("bob-key.pem", &bob.key_pem);
    let gw = Gateway::start(
        p.work.path(),
        &[
            server_block(
                "a.test",
                "",
                "verify_client = \"optional_no_ca\"\nclient_certificate = \"ca.pem\"",
                "a $ssl_client_verify",
            ),
            server_block(
                "b.test",
                "",
                "verify_client = \"optional_no_ca\"\nclient_certificate = \"other.pem\"",
                "b $ssl_client_verify",
            ),
        ]
        .concat(),
    );
    let bob_args = [
        "--cert",
        bc.to_str().unwrap(),
        "--key",
        bk.to_str().unwrap(),
    ];
    assert_eq!(
        curl("a.test", gw.port(), "/", &p.ca, &bob_args).body_text(),
        "a FAILED:unable to verify the first certificate"
    );
    assert_eq!(
        curl("b.test", gw.port(), "/", &p.ca, &bob_args).body_text(),
        "b SUCCESS"
    );
    // Unknown SNI: the first server of the address (nginx's default server).
    assert_eq!(
        curl("localhost", gw.port(), "/", &p.ca, &bob_args).body_text(),
        "a FAILED:unable to verify the first certificate"
    );
}

#[test]
fn plain_http_on_the_tls_port_gets_nginx_497_page() {
    let p = pki();
    let gw = Gateway::start(
        p.work.path(),
        &server_block(
            "localhost",
            "",
            "verify_client = \"on\"\nclient_certificate = \"ca.pem\"",
            "x",
        ),
    );
    let (code, out, _) = run_output(std::process::Command::new("curl").args([
        "-sS",
        "-i",
        &format!("http://127.0.0.1:{}/", gw.port()),
    ]));
    assert_eq!(code, 0);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request"), "{out}");
    assert!(
        out.contains("The plain HTTP request was sent to HTTPS port"),
        "{out}"
    );
}

#[test]
fn a_reused_verdict_ends_when_the_certificate_expires() {
    // Successful verdicts are reused for a chain seen recently
    // (src/verify/cache.rs), but never past a certificate's notAfter.
    let p = pki();
    let mut spec = LeafSpec::client("short-lived");
    spec.not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let short = p.root.leaf(spec);
    let cert = p.work.write("short.pem", &short.cert_pem);
    let key = p.work.write("short-key.pem", &short.key_pem);
    let config = server_block(
        "localhost",
        "",
        "verify_client = \"optional\"\nclient_certificate = \"ca.pem\"",
        "$ssl_client_verify",
    );
    let gw = Gateway::start(p.work.path(), &config);
    let args = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    for _ in 0..3 {
        let r = curl("localhost", gw.port(), "/", &p.ca, &args);
        assert_eq!(r.body_text(), "SUCCESS");
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    let r = curl("localhost", gw.port(), "/", &p.ca, &args);
    assert_eq!(r.status, 400, "{}", r.body_text());
    assert!(r.body_text().contains("The SSL certificate error"));
    assert!(
        gw.logs()
            .contains("client SSL certificate verify error: (10:certificate has expired)"),
        "{}",
        gw.logs()
    );
}

/// The client preface of HTTP/2 with an empty SETTINGS frame.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Whether `out` opens with an HTTP/2 SETTINGS frame (the server preface).
fn opens_with_h2_settings(out: &[u8]) -> bool {
    out.len() >= 9 && out[3] == 0x04 && out[4] == 0x00 && out[5..9] == [0, 0, 0, 0]
}

/// The protocol ALPN settled is the one served: a client that chose
/// http/1.1 is not switched to HTTP/2 by sending its preface (hyper's
/// HTTP/1 reader refuses it), one that chose h2 gets HTTP/2, and a client
/// without ALPN keeps HTTP/2 by prior knowledge as well as HTTP/1.1.
/// (Serving the ALPN choice directly, without sniffing the first bytes,
/// is what keeps hyper's HTTP/1 read buffer at 8 KiB per connection.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_settles_the_http_version() {
    let p = pki();
    let gw = GatewayConfig::mtls("localhost", "on")
        .returns("/", 200, "served")
        .start(&p.work);
    let root_pem = p.root.pem();
    let with_alpn = |alpn: &[&[u8]]| {
        let mut opts = ClientOpts::new(&root_pem);
        opts.identity = Some((&p.alice.cert_pem, &p.alice.key_pem));
        let mut cfg = Arc::unwrap_or_clone(rustls_client::config(&opts));
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    };
    let wait = std::time::Duration::from_secs(2);
    let raw = |cfg, bytes: &'static [u8]| {
        rustls_client::raw_exchange(gw.addr(), "localhost", cfg, bytes, wait)
    };

    // ALPN h2 and no ALPN: the preface is answered with SETTINGS.
    let out = raw(with_alpn(&[b"h2"]), H2_PREFACE_AND_SETTINGS)
        .await
        .unwrap();
    assert!(opens_with_h2_settings(&out), "h2 by ALPN: {out:?}");
    let out = raw(with_alpn(&[]), H2_PREFACE_AND_SETTINGS).await.unwrap();
    assert!(opens_with_h2_settings(&out), "prior knowledge: {out:?}");

    // ALPN http/1.1: the preface gets no HTTP/2.
    let out = raw(with_alpn(&[b"http/1.1"]), H2_PREFACE_AND_SETTINGS)
        .await
        .unwrap_or_default();
    assert!(
        !opens_with_h2_settings(&out),
        "http/1.1 by ALPN switched to h2: {out:?}"
    );

    // HTTP/1.1 with ALPN http/1.1 and without ALPN.
    let get = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for alpn in [&[b"http/1.1".as_slice()][..], &[][..]] {
        let out = raw(with_alpn(alpn), get).await.unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{alpn:?}: {out}");
        assert!(out.ends_with("served"), "{alpn:?}: {out}");
    }
}
