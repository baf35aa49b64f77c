//! TLS and mTLS to the upstream (`proxy_pass = "https://..."`, nginx's
//! `proxy_ssl_*`), against real TLS servers: nginx with
//! `ssl_verify_client on` answering what it saw of the gateway (its client
//! certificate, the connection number, session reuse, SNI, protocol), and
//! `openssl s_server -Verify` for an upstream that refuses a handshake
//! without a client certificate. Every failure is a 502 with a log line
//! saying why.
//!
//! nginx must be installed (`.ci/run` installs it); without it these tests
//! fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The name the upstream's certificate is for.
const UPSTREAM_NAME: &str = "backend.internal";

/// nginx's answer: what it saw of the connection from the gateway.
const SEEN: &str = r#"return 200 "client=$ssl_client_s_dn verify=$ssl_client_verify conn=$connection reused=$ssl_session_reused sni=$ssl_server_name proto=$server_protocol alpn=$ssl_alpn_protocol tls=$ssl_protocol host=$host\n";"#;

/// The gateway's own PKI (the client side, alice), the upstream's CA and
/// certificate, and the CA nginx trusts for the gateway's client
/// certificate, all in one work directory.
struct Pki {
    work: Workdir,
    gateway: TestPki,
    upstream_ca: Ca,
    gateway_ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let work = Workdir::new();
        let gateway = TestPki::new(&work);
        let upstream_ca = Ca::root("Upstream Root CA");
        work.write("upstream-ca.pem", upstream_ca.pem());
        let gateway_ca = Ca::root("Gateway Client CA");
        work.write("gateway-ca.pem", gateway_ca.pem());
        let pki = Pki {
            work,
            gateway,
            upstream_ca,
            gateway_ca,
        };
        pki.set_upstream_cert(&pki.upstream_ca.server(&[UPSTREAM_NAME]));
        pki.set_client_cert("mtls-gateway");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// The certificate the upstream servers present (`upstream.pem`).
    fn set_upstream_cert(&self, leaf: &Leaf) {
        self.work.write("upstream-key.pem", &leaf.key_pem);
        self.work.write("upstream.pem", &leaf.cert_pem);
    }

    /// The gateway's client certificate (`gw-client.pem`), CN=`cn`.
    fn set_client_cert(&self, cn: &str) {
        let leaf = self.gateway_ca.client(cn);
        self.work.write("gw-client-key.pem", &leaf.key_pem);
        self.work.write("gw-client.pem", &leaf.cert_pem);
    }

    /// nginx on two ports: `{port0}` HTTP/1.1 only, `{port1}` also offering
    /// h2; both require a client certificate from `gateway-ca.pem`.
    fn nginx(&self) -> Nginx {
        let p = |n: &str| self.path(n).display().to_string();
        let server = |listen: &str| {
            format!(
                "server {{\n listen {listen};\n ssl_certificate {};\n ssl_certificate_key {};\n \
                 ssl_client_certificate {};\n ssl_verify_client on;\n \
                 ssl_protocols TLSv1.2 TLSv1.3;\n ssl_session_cache shared:up:1m;\n keepalive_requests 1000;\n \
                 location / {{ {SEEN} }}\n}}\n",
                p("upstream.pem"),
                p("upstream-key.pem"),
                p("gateway-ca.pem"),
            )
        };
        let servers = server("127.0.0.1:{port0} ssl") + &server("127.0.0.1:{port1} ssl http2");
        Nginx::start(self.work.path(), &servers, 2)
    }

    /// The gateway (alice must present her certificate) proxying `/` to
    /// `https://backend` (`servers`) with the gateway's client certificate,
    /// `upstream-ca.pem` trusted and `proxy_ssl_name = UPSTREAM_NAME`;
    /// `tweak` adds to or changes it.
    fn gateway_config(
        &self,
        servers: &[String],
        tweak: impl FnOnce(GatewayConfig) -> GatewayConfig,
    ) -> GatewayConfig {
        // One worker: upstream connections are pooled per worker, and the
        // tests count reuse across client connections.
        let config = GatewayConfig::mtls("localhost", "on")
            .global("worker_processes", 1)
            .proxy("/", "https://backend")
            .location_key("proxy_ssl_certificate", "gw-client.pem")
            .location_key("proxy_ssl_certificate_key", "gw-client-key.pem")
            .location_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
            .location_key("proxy_ssl_name", UPSTREAM_NAME);
        tweak(config).upstream("backend", servers)
    }

    fn get(&self, gw: &Gateway) -> CurlResponse {
        self.gateway.curl_alice(gw.port(), "/", &[])
    }
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The value of `key=` in nginx's answer (no value has a space).
fn seen<'a>(body: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    body.split_whitespace()
        .find_map(|t| t.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key}= in {body:?}"))
}

/// A 502 whose log line says `why`.
fn assert_502_saying(pki: &Pki, gw: &Gateway, why: &[&str]) {
    let r = pki.get(gw);
    assert_eq!(r.status, 502, "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = gw.logs();
        let line = logs
            .lines()
            .find(|l| l.contains("status=502") || l.contains("\"status\":502"));
        if let Some(line) = line
            && why.iter().all(|w| line.contains(w))
        {
            eprintln!("502 as expected: {line}");
            return;
        }
        if Instant::now() > deadline {
            panic!("no 502 log line saying {why:?}:\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mtls_to_an_nginx_that_requires_a_client_certificate() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    for version in ["TLSv1.2", "TLSv1.3"] {
        let gw = pki
            .gateway_config(&[addr(nginx.ports[0])], |c| {
                c.location_key("proxy_ssl_protocols", &[version][..])
            })
            .start(&pki.work);
        let first = pki.get(&gw);
        assert_eq!(first.status, 200, "{first:?}\n{}", gw.logs());
        let body = first.body_text();
        // nginx verified the gateway's client certificate.
        assert_eq!(
            seen(&body, "client"),
            "CN=mtls-gateway,OU=Dev,O=Example,C=RU",
            "{body}"
        );
        assert_eq!(seen(&body, "verify"), "SUCCESS", "{body}");
        assert_eq!(seen(&body, "tls"), version, "{body}");
        assert_eq!(seen(&body, "proto"), "HTTP/1.1", "{body}");
        assert_eq!(seen(&body, "alpn"), "http/1.1", "{body}");
        // Host is $proxy_host, as over http://.
        assert_eq!(seen(&body, "host"), "backend", "{body}");
        // The pool keeps the TLS connection: the next request reuses it.
        let second = pki.get(&gw);
        assert_eq!(second.status, 200);
        assert_eq!(
            seen(&first.body_text(), "conn"),
            seen(&second.body_text(), "conn"),
            "two requests, two upstream connections:\n{}\n{}",
            first.body_text(),
            second.body_text()
        );
    }
}

#[test]
fn the_client_certificate_expiry_is_a_metric() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .admin(format!("127.0.0.1:{admin}"))
        .start(&pki.work);
    let (_, metrics, _) = run_output(
        Command::new("curl")
            .arg("-sS")
            .arg(format!("http://127.0.0.1:{admin}/metrics")),
    );
    let line = metrics
        .lines()
        .find(|l| {
            l.contains(r#"certificate_expiry_seconds{server="server[0]",kind="upstream_client""#)
        })
        .unwrap_or_else(|| panic!("no upstream_client expiry in:\n{metrics}"));
    // rcgen's client certificates are valid for a year.
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (300.0 * 86400.0..400.0 * 86400.0).contains(&seconds),
        "{line}"
    );
    drop(gw);
}

#[test]
fn sessions_to_the_upstream_are_resumed_unless_turned_off() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    for (reuse, expect) in [(true, "r"), (false, ".")] {
        // No idle connections kept: every request makes a new one.
        let gw = pki
            .gateway_config(&[addr(nginx.ports[0])], |c| {
                c.location_key("proxy_ssl_session_reuse", reuse)
            })
            .upstream_key("keepalive", 0)
            .start(&pki.work);
        let first = pki.get(&gw).body_text();
        let second = pki.get(&gw).body_text();
        assert_ne!(seen(&first, "conn"), seen(&second, "conn"), "{second}");
        assert_eq!(seen(&first, "reused"), ".", "{first}");
        assert_eq!(
            seen(&second, "reused"),
            expect,
            "proxy_ssl_session_reuse = {reuse}: {second}"
        );
    }
}

#[test]
fn h2_to_the_upstream_when_it_offers_it() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[1])], |c| c)
        .start(&pki.work);
    let r = pki.get(&gw);
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.logs());
    let body = r.body_text();
    assert_eq!(seen(&body, "proto"), "HTTP/2.0", "{body}");
    assert_eq!(seen(&body, "alpn"), "h2", "{body}");
    // :authority carries what Host would have.
    assert_eq!(seen(&body, "host"), "backend", "{body}");
    assert_eq!(
        seen(&body, "client"),
        "CN=mtls-gateway,OU=Dev,O=Example,C=RU"
    );
    // Several requests, including one with a body, on the h2 connection.
    let again = pki.get(&gw);
    assert_eq!(seen(&body, "conn"), seen(&again.body_text(), "conn"));
    let post = pki
        .gateway
        .curl_alice(gw.port(), "/", &["--data-binary", "hello"]);
    assert_eq!(post.status, 200, "{post:?}");
}

#[test]
fn sni_is_sent_only_with_proxy_ssl_server_name() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    for (on, expect) in [(false, ""), (true, UPSTREAM_NAME)] {
        let gw = pki
            .gateway_config(&[addr(nginx.ports[0])], |c| {
                c.location_key("proxy_ssl_server_name", on)
            })
            .start(&pki.work);
        let r = pki.get(&gw);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            seen(&r.body_text(), "sni"),
            expect,
            "proxy_ssl_server_name = {on}"
        );
    }
}

#[test]
fn an_upstream_certificate_from_another_ca_is_a_502_unknown_ca() {
    let pki = Pki::new();
    pki.set_upstream_cert(&Ca::root("Some Other CA").server(&[UPSTREAM_NAME]));
    let nginx = pki.nginx();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    assert_502_saying(
        &pki,
        &gw,
        &[
            "upstream TLS handshake failed",
            "does not verify: unknown CA",
        ],
    );
}

#[test]
fn an_upstream_certificate_for_another_name_is_a_502_name_mismatch() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    // The default proxy_ssl_name is the proxy_pass host: `backend`.
    let gw = GatewayConfig::mtls("localhost", "on")
        .proxy("/", "https://backend")
        .location_key("proxy_ssl_certificate", "gw-client.pem")
        .location_key("proxy_ssl_certificate_key", "gw-client-key.pem")
        .location_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
        .upstream("backend", [addr(nginx.ports[0])])
        .start(&pki.work);
    assert_502_saying(
        &pki,
        &gw,
        &["name mismatch", "not valid for \"backend\"", UPSTREAM_NAME],
    );
}

#[test]
fn an_ip_address_in_proxy_pass_is_checked_against_the_certificates_ip_addresses() {
    let pki = Pki::new();
    pki.set_upstream_cert(&pki.upstream_ca.server(&["127.0.0.1"]));
    let nginx = pki.nginx();
    let direct = |ip: &str| {
        GatewayConfig::mtls("localhost", "on")
            .proxy("/", format!("https://{ip}:{}", nginx.ports[0]))
            .location_key("proxy_ssl_certificate", "gw-client.pem")
            .location_key("proxy_ssl_certificate_key", "gw-client-key.pem")
            .location_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
    };
    let gw = direct("127.0.0.1").start(&pki.work);
    let r = pki.get(&gw);
    assert_eq!(r.status, 200, "{}\n{}", r.body_text(), gw.logs());
    assert_eq!(seen(&r.body_text(), "host"), "127.0.0.1");
    drop(gw);
    // The same server reached as localhost: its certificate has no such name.
    let gw = direct("localhost").start(&pki.work);
    assert_502_saying(&pki, &gw, &["name mismatch", "127.0.0.1"]);
}

#[test]
fn an_expired_upstream_certificate_is_a_502_expired() {
    let pki = Pki::new();
    let mut spec = LeafSpec::client("upstream").expired();
    spec.sans = vec![UPSTREAM_NAME.into()];
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    pki.set_upstream_cert(&pki.upstream_ca.leaf(spec));
    let nginx = pki.nginx();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    assert_502_saying(&pki, &gw, &["does not verify: expired"]);
}

#[test]
fn a_deeper_chain_than_proxy_ssl_verify_depth_is_a_502() {
    let pki = Pki::new();
    let int1 = pki.upstream_ca.intermediate("Upstream Int 1");
    let int2 = int1.intermediate("Upstream Int 2");
    let leaf = int2.server(&[UPSTREAM_NAME]);
    pki.work.write("upstream-key.pem", &leaf.key_pem);
    // leaf + both intermediates, as a server sends them.
    pki.work.write(
        "upstream.pem",
        format!("{}{}{}", leaf.cert_pem, int2.pem(), int1.pem()),
    );
    let nginx = pki.nginx();
    // nginx's default depth 1: one intermediate at most.
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    assert_502_saying(&pki, &gw, &["proxy_ssl_verify_depth"]);
    drop(gw);
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| {
            c.location_key("proxy_ssl_verify_depth", 2)
        })
        .start(&pki.work);
    assert_eq!(pki.get(&gw).status, 200);
}

/// `openssl s_server -Verify 1 -www` on a free port with `upstream.pem`:
/// it refuses a handshake without a client certificate.
struct SServer {
    child: Child,
    port: u16,
}

impl SServer {
    fn start(pki: &Pki, extra: &[&str]) -> SServer {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("openssl")
                .arg("s_server")
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .arg("-cert")
                .arg(pki.path("upstream.pem"))
                .arg("-key")
                .arg(pki.path("upstream-key.pem"))
                .arg("-CAfile")
                .arg(pki.path("gateway-ca.pem"))
                .args(["-Verify", "1", "-verify_return_error", "-www", "-quiet"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl s_server");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return SServer { child, port };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("openssl s_server did not start");
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_upstream_that_wants_a_client_certificate_we_lack_is_a_502_saying_so() {
    let pki = Pki::new();
    // TLS 1.3 (the alert comes after the gateway's handshake is done) and
    // TLS 1.2 (the handshake itself fails).
    for version in ["-tls1_3", "-tls1_2"] {
        let server = SServer::start(&pki, &[version]);
        let gw = GatewayConfig::mtls("localhost", "on")
            .proxy("/", "https://backend")
            .location_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
            .location_key("proxy_ssl_name", UPSTREAM_NAME)
            .upstream("backend", [addr(server.port)])
            .start(&pki.work);
        assert_502_saying(
            &pki,
            &gw,
            &[
                "requires a client certificate and the gateway has none",
                "proxy_ssl_certificate",
            ],
        );
        // With the certificate, the same server answers.
        drop(gw);
        let gw = pki
            .gateway_config(&[addr(server.port)], |c| c)
            .start(&pki.work);
        let r = pki.get(&gw);
        assert_eq!(r.status, 200, "{version}: {r:?}\n{}", gw.logs());
        assert!(
            r.body_text().contains("CN=mtls-gateway")
                || r.body_text().contains("CN = mtls-gateway"),
            "{version}: {}",
            r.body_text()
        );
    }
}

#[test]
fn a_client_certificate_the_upstream_does_not_trust_is_a_502_saying_so() {
    let pki = Pki::new();
    let stranger = Ca::root("Stranger CA").client("mtls-gateway");
    pki.work.write("gw-client.pem", &stranger.cert_pem);
    pki.work.write("gw-client-key.pem", &stranger.key_pem);
    for version in ["-tls1_3", "-tls1_2"] {
        let server = SServer::start(&pki, &[version]);
        let gw = pki
            .gateway_config(&[addr(server.port)], |c| c)
            .start(&pki.work);
        assert_502_saying(
            &pki,
            &gw,
            &["does not accept the gateway's client certificate"],
        );
    }
    // nginx completes such a handshake and answers its own 400 page,
    // which the gateway passes on as any upstream answer.
    let nginx = pki.nginx();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    let r = pki.get(&gw);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body_text().contains("SSL certificate error"), "{r:?}");
}

#[test]
fn proxy_ssl_verify_off_accepts_a_self_signed_upstream() {
    let pki = Pki::new();
    let self_signed = rcgen::generate_simple_self_signed(vec![UPSTREAM_NAME.to_string()]).unwrap();
    pki.work.write("upstream.pem", self_signed.cert.pem());
    pki.work
        .write("upstream-key.pem", self_signed.signing_key.serialize_pem());
    let nginx = pki.nginx();
    // Verified, it is refused...
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    assert_502_saying(&pki, &gw, &["unknown CA"]);
    drop(gw);
    // ... not verified, it answers (and still gets the client certificate).
    let gw = GatewayConfig::mtls("localhost", "on")
        .proxy("/", "https://backend")
        .location_key("proxy_ssl_certificate", "gw-client.pem")
        .location_key("proxy_ssl_certificate_key", "gw-client-key.pem")
        .location_key("proxy_ssl_verify", false)
        .upstream("backend", [addr(nginx.ports[0])])
        .start(&pki.work);
    let r = pki.get(&gw);
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.logs());
    assert_eq!(seen(&r.body_text(), "verify"), "SUCCESS");
}

#[test]
fn server_level_keys_are_inherited_and_a_location_overrides_one() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    let gw = GatewayConfig::mtls("localhost", "on")
        .server_key("proxy_ssl_certificate", "gw-client.pem")
        .server_key("proxy_ssl_certificate_key", "gw-client-key.pem")
        .server_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
        .server_key("proxy_ssl_name", UPSTREAM_NAME)
        .proxy("/", "https://backend")
        .proxy("/sni", "https://backend")
        .location_key("proxy_ssl_server_name", true)
        .returns("/plain", 200, "plain")
        .upstream("backend", [addr(nginx.ports[0])])
        .start(&pki.work);
    let r = pki.get(&gw);
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.logs());
    assert_eq!(seen(&r.body_text(), "verify"), "SUCCESS");
    assert_eq!(seen(&r.body_text(), "sni"), "");
    let r = pki.gateway.curl_alice(gw.port(), "/sni", &[]);
    assert_eq!(seen(&r.body_text(), "sni"), UPSTREAM_NAME);
    assert_eq!(seen(&r.body_text(), "verify"), "SUCCESS");
}

#[test]
fn reload_swaps_the_client_certificate_and_a_bad_one_keeps_the_old() {
    let pki = Pki::new();
    let nginx = pki.nginx();
    let gw = pki
        .gateway_config(&[addr(nginx.ports[0])], |c| c)
        .start(&pki.work);
    let client = |gw: &Gateway| seen(&pki.get(gw).body_text(), "client").to_string();
    assert_eq!(client(&gw), "CN=mtls-gateway,OU=Dev,O=Example,C=RU");

    pki.set_client_cert("mtls-gateway-2");
    gw.signal("HUP");
    assert!(
        wait_for_log_count(&gw, "reload complete: generation 2 serving", 1),
        "{}",
        gw.logs()
    );
    assert_eq!(client(&gw), "CN=mtls-gateway-2,OU=Dev,O=Example,C=RU");

    // A key that does not match: the reload fails, the last good
    // certificate stays in use.
    let other = pki.gateway_ca.client("other");
    pki.work.write("gw-client-key.pem", &other.key_pem);
    gw.signal("HUP");
    assert!(wait_for_log_count(&gw, "reload failed", 1), "{}", gw.logs());
    assert!(
        gw.logs().contains("proxy_ssl_certificate_key")
            && gw.logs().contains("does not match the certificate"),
        "{}",
        gw.logs()
    );
    assert_eq!(client(&gw), "CN=mtls-gateway-2,OU=Dev,O=Example,C=RU");
}

fn check(path: &Path) -> (i32, String) {
    let (code, out, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(path),
    );
    (code, format!("{out}{err}"))
}

#[test]
fn bad_upstream_tls_settings_are_named_at_load() {
    let pki = Pki::new();
    let other = pki.gateway_ca.client("other");
    pki.work.write("other-key.pem", &other.key_pem);
    let int = pki.upstream_ca.intermediate("Upstream Int");
    pki.work.write("int-only.pem", int.pem());
    let config = GatewayConfig::mtls("localhost", "on")
        // Verify on (the default) with nothing to verify against.
        .proxy("/a", "https://backend")
        // A key that is not the certificate's.
        .proxy("/b", "https://backend")
        .location_key("proxy_ssl_trusted_certificate", "upstream-ca.pem")
        .location_key("proxy_ssl_certificate", "gw-client.pem")
        .location_key("proxy_ssl_certificate_key", "other-key.pem")
        // A certificate without its key, a depth out of range, an
        // unknown protocol, a CA file with no root.
        .proxy("/c", "https://127.0.0.1:8443")
        .location_key("proxy_ssl_trusted_certificate", "int-only.pem")
        .location_key("proxy_ssl_certificate", "gw-client.pem")
        .location_key("proxy_ssl_verify_depth", 9)
        .location_key("proxy_ssl_protocols", &["TLSv1.1"][..])
        // proxy_ssl_* on a plain http:// location.
        .proxy("/d", "http://127.0.0.1:8080")
        .location_key("proxy_ssl_verify", false)
        // A file that does not exist.
        .proxy("/e", "https://backend")
        .location_key("proxy_ssl_trusted_certificate", "missing.pem")
        .upstream("backend", ["127.0.0.1:8443"]);
    let path = config.write(&pki.work, "bad.toml");
    let (code, out) = check(&path);
    assert_ne!(code, 0, "{out}");
    for expected in [
        "location[0].proxy_ssl_trusted_certificate: missing: proxy_ssl_verify is on",
        "location[1].proxy_ssl_certificate_key: does not match the certificate's public key",
        "location[2].proxy_ssl_certificate_key: missing: proxy_ssl_certificate needs its private key",
        "location[2].proxy_ssl_verify_depth: 9 is out of range",
        "location[2].proxy_ssl_protocols[0]: \"TLSv1.1\" is not supported",
        "location[2].proxy_ssl_trusted_certificate:",
        "no self-signed (root) CA certificate",
        "location[3].proxy_ssl_verify: only meaningful with proxy_pass = \"https://...\"",
        "location[4].proxy_ssl_trusted_certificate: cannot read",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
