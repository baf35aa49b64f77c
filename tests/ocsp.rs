//! OCSP for client certificates (`ocsp`, nginx's `ssl_ocsp`) against a real
//! responder, `openssl ocsp`, and side by side with a real nginx: good,
//! revoked and unknown certificates, a responder that is down, a wrong
//! signer, a delegated responder with and without the OCSP-signing EKU, a
//! stale answer (made with Python's `cryptography`); then the gateway's own
//! properties: the AIA URL, `leaf` against `on`, the cache surviving a dead
//! responder, a hanging responder that holds up nobody else and is asked
//! once for many concurrent connections.
//!
//! nginx, `openssl` and Python's `cryptography` must be installed (`.ci/run`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const HOST: &str = "ocsp.test";
/// nginx's line for an OCSP refusal (no OpenSSL code in parentheses).
const MARK: &str = "client SSL certificate verify error: ";

/// `openssl ocsp` serving an index on a loopback port.
struct OpensslResponder {
    child: Child,
    port: u16,
}

impl Drop for OpensslResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// OpenSSL's `BN_bn2hex` of a serial: how `openssl ocsp` looks it up.
fn index_serial(serial: &[u8]) -> String {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    let hex: String = serial[start..].iter().map(|b| format!("{b:02X}")).collect();
    if hex.is_empty() { "0".into() } else { hex }
}

/// The responder's index: `good` valid, `revoked` revoked; others unknown.
fn write_index(work: &Workdir, name: &str, good: &[&Leaf], revoked: &[&Leaf]) -> PathBuf {
    let mut index = String::new();
    for l in good {
        index.push_str(&format!(
            "V\t491231235959Z\t\t{}\tunknown\t/CN=good\n",
            index_serial(&l.serial())
        ));
    }
    for l in revoked {
        index.push_str(&format!(
            "R\t491231235959Z\t260101000000Z\t{}\tunknown\t/CN=revoked\n",
            index_serial(&l.serial())
        ));
    }
    work.write(name, index)
}

impl OpensslResponder {
    /// `openssl ocsp -index INDEX -CA ca -rsigner signer -rkey key -ndays 1`.
    fn start(index: &Path, ca: &Path, signer: &Path, key: &Path) -> OpensslResponder {
        for _ in 0..5 {
            if let Some(r) = Self::try_start(free_port(), index, ca, signer, key) {
                return r;
            }
        }
        panic!("openssl ocsp did not start");
    }

    fn start_on(port: u16, index: &Path, ca: &Path, signer: &Path, key: &Path) -> OpensslResponder {
        Self::try_start(port, index, ca, signer, key).expect("openssl ocsp did not start")
    }

    fn try_start(
        port: u16,
        index: &Path,
        ca: &Path,
        signer: &Path,
        key: &Path,
    ) -> Option<OpensslResponder> {
        // Readiness from its own message: a bare connection (connect and
        // close) makes `openssl ocsp` 3.0 exit.
        let log = index.with_extension(format!("{port}.log"));
        let mut child = Command::new("openssl")
            .args(["ocsp", "-index"])
            .arg(index)
            .args(["-port", &port.to_string(), "-CA"])
            .arg(ca)
            .arg("-rsigner")
            .arg(signer)
            .arg("-rkey")
            .arg(key)
            .args(["-ndays", "1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("openssl ocsp");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("waiting for OCSP client connections") {
                return Some(OpensslResponder { child, port });
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A responder on a loopback port that answers every request with `body`
/// (`None`: accepts and never answers); counts its connections.
struct FixedResponder {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl FixedResponder {
    fn start(body: Option<Vec<u8>>) -> FixedResponder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                count.fetch_add(1, Ordering::SeqCst);
                let Some(body) = &body else {
                    // Hold it open, answering nothing (bounded: the test ends).
                    held.push(stream);
                    continue;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                let _ = stream.write_all(body);
            }
        });
        FixedResponder { port, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A DER OCSP response for `leaf` saying good, signed by `ca`, with
/// thisUpdate and nextUpdate `hours` from now (Python's `cryptography`).
fn python_response(work: &Workdir, ca: &Ca, leaf: &Leaf, this_h: i64, next_h: i64) -> Vec<u8> {
    let script = r#"
import sys, datetime
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
ca = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
key = serialization.load_pem_private_key(open(sys.argv[2], 'rb').read(), None)
leaf = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read())
now = datetime.datetime.now(datetime.timezone.utc)
b = ocsp.OCSPResponseBuilder().add_response(
    cert=leaf, issuer=ca, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
    this_update=now + datetime.timedelta(hours=int(sys.argv[5])),
    next_update=now + datetime.timedelta(hours=int(sys.argv[6])),
    revocation_time=None, revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
open(sys.argv[4], 'wb').write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
"#;
    let script = work.write("ocsp.py", script);
    let out = work.path().join("response.der");
    let (code, o, e) = run_output(
        Command::new("python3")
            .arg(&script)
            .arg(work.write("py-ca.pem", ca.pem()))
            .arg(work.write("py-ca-key.pem", ca.key_pem()))
            .arg(work.write("py-leaf.pem", &leaf.cert_pem))
            .arg(&out)
            .arg(this_h.to_string())
            .arg(next_h.to_string()),
    );
    assert_eq!(code, 0, "{o}{e}");
    std::fs::read(out).unwrap()
}

/// What a request got: `SUCCESS`-like text for a 200, the logged reason for a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ok(String),
    Refused(String),
    Other(u16, String),
}

fn seen(request: impl FnOnce() -> (u16, String), log: impl Fn() -> String) -> Seen {
    let before = log().matches(MARK).count();
    let (status, body) = request();
    match status {
        200 => Seen::Ok(body),
        400 => {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let text = log();
                if text.matches(MARK).count() > before {
                    let line = text.split(MARK).nth(before + 1).unwrap_or("");
                    // nginx adds ", client: ..." or " while ...", the
                    // gateway " client=..." fields.
                    let end = [" client=", " while ", ",", "\n"]
                        .iter()
                        .filter_map(|m| line.find(m))
                        .min()
                        .unwrap_or(line.len());
                    return Seen::Refused(line[..end].trim().to_string());
                }
                if Instant::now() > deadline {
                    return Seen::Other(400, format!("(no reason logged) {body}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        other => Seen::Other(other, body),
    }
}

fn expect(nginx_says: &str) -> Seen {
    match nginx_says.strip_prefix("FAILED:") {
        None => Seen::Ok(nginx_says.into()),
        Some(r) => Seen::Refused(r.into()),
    }
}

struct Setup {
    work: Workdir,
    root: Ca,
    ca: PathBuf,
    ca_key: PathBuf,
    server_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn setup() -> Setup {
    let work = Workdir::new();
    let root = Ca::root("OCSP Root CA");
    let server_root = Ca::root("Server Root CA");
    let server = server_root.server(&[HOST]);
    Setup {
        ca: work.write("client-ca.pem", root.pem()),
        ca_key: work.write("client-ca-key.pem", root.key_pem()),
        server_ca: work.write("server-ca.pem", server_root.pem()),
        server_cert: work.write("server.pem", server.chain(0)),
        server_key: work.write("server-key.pem", &server.key_pem),
        work,
        root,
    }
}

impl Setup {
    /// The gateway with `ocsp_lines` in `[server.client_auth]`.
    fn gateway(&self, ocsp_lines: &str, top: &str) -> Gateway {
        Gateway::start(
            self.work.path(),
            &format!(
                r#"{top}
[[server]]
listen = "127.0.0.1:0"
server_name = "{HOST}"
[server.tls]
certificate = "{cert}"
certificate_key = "{key}"
[server.client_auth]
verify_client = "optional"
client_certificate = "{ca}"
{ocsp_lines}
[[server.location]]
prefix = "/"
return = {{ status = 200, text = "$ssl_client_verify" }}
"#,
                cert = self.server_cert.display(),
                key = self.server_key.display(),
                ca = self.ca.display(),
            ),
        )
    }

    fn nginx(&self, ocsp_lines: &str) -> Nginx {
        Nginx::start(
            self.work.path(),
            &format!(
                "  server {{\n    listen 127.0.0.1:{{port0}} ssl;\n    \
                 ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
                 ssl_client_certificate {ca};\n    ssl_verify_client optional;\n    \
                 {ocsp_lines}\n    \
                 location / {{ return 200 \"$ssl_client_verify\"; }}\n  }}\n",
                cert = self.server_cert.display(),
                key = self.server_key.display(),
                ca = self.ca.display(),
            ),
            1,
        )
    }

    fn ask(&self, port: u16, leaf: &Leaf, name: &str) -> (u16, String) {
        let cert = self
            .work
            .write(&format!("{name}.pem"), leaf.chain_without_root());
        let key = self.work.write(&format!("{name}-key.pem"), &leaf.key_pem);
        let r = curl(
            HOST,
            port,
            "/",
            &self.server_ca,
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        (r.status, r.body_text())
    }

    /// Sends each `(name, leaf, nginx_says)` to nginx and to the gateway,
    /// both asking `responder`; returns the differences.
    fn compare(&self, label: &str, responder: &str, cases: &[(&str, &Leaf, &str)]) -> Vec<String> {
        let nginx = self.nginx(&format!(
            "ssl_ocsp on;\n    ssl_ocsp_responder {responder};"
        ));
        let gw = self.gateway(
            &format!("ocsp = \"on\"\nocsp_responder = \"{responder}\"\nocsp_timeout = \"2s\""),
            "",
        );
        let mut failures = Vec::new();
        for (name, leaf, nginx_says) in cases {
            let n = seen(
                || self.ask(nginx.ports[0], leaf, name),
                || nginx.error_log(),
            );
            let g = seen(|| self.ask(gw.port(), leaf, name), || gw.logs());
            let want = expect(nginx_says);
            if n != want {
                let log = nginx.error_log();
                let why: Vec<&str> = log.lines().filter(|l| l.contains("OCSP")).collect();
                failures.push(format!(
                    "{label} / {name}: nginx {n:?}, the test expects {want:?}; nginx logged {why:?}"
                ));
            }
            if g != n {
                failures.push(format!("{label} / {name}: gateway {g:?}, nginx {n:?}"));
            }
        }
        failures
    }
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn good_revoked_unknown_and_a_dead_responder_like_nginx() {
    let s = setup();
    let good = s.root.client("good");
    let revoked = s.root.client("revoked");
    let unknown = s.root.client("unknown");
    let index = write_index(&s.work, "index.txt", &[&good], &[&revoked]);
    let responder = OpensslResponder::start(&index, &s.ca, &s.ca, &s.ca_key);
    let mut failures = s.compare(
        "CA-signed answers",
        &responder.url(),
        &[
            ("good", &good, "SUCCESS"),
            ("revoked", &revoked, "FAILED:certificate revoked"),
            ("unknown", &unknown, "FAILED:certificate status unknown"),
        ],
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    failures.extend(s.compare(
        "responder down",
        &dead,
        &[("good", &good, "FAILED:certificate status request failed")],
    ));
    assert_none(failures);
}

#[test]
fn signers_and_stale_answers_like_nginx() {
    let s = setup();
    let good = s.root.client("good");
    let index = write_index(&s.work, "index.txt", &[&good], &[]);
    let mut failures = Vec::new();

    // A responder certificate the CA issued with the OCSP-signing EKU.
    let mut spec = LeafSpec::cn_only("OCSP Responder");
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
    let delegated = s.root.leaf(spec);
    let d_cert = s.work.write("delegated.pem", &delegated.cert_pem);
    let d_key = s.work.write("delegated-key.pem", &delegated.key_pem);
    let responder = OpensslResponder::start(&index, &s.ca, &d_cert, &d_key);
    failures.extend(s.compare(
        "delegated responder",
        &responder.url(),
        &[("good", &good, "SUCCESS")],
    ));
    drop(responder);

    // The same with a second extendedKeyUsage (clientAuth beside
    // OCSPSigning): OpenSSL never uses a certificate with a duplicate extension.
    let twice = s
        .root
        .leaf(LeafSpec::cn_only("OCSP Responder twice").extension(
            &[2, 5, 29, 37],
            ocsp_signing_eku(),
            false,
        ));
    let t_cert = s.work.write("twice.pem", &twice.cert_pem);
    let t_key = s.work.write("twice-key.pem", &twice.key_pem);
    let responder = OpensslResponder::start(&index, &s.ca, &t_cert, &t_key);
    failures.extend(s.compare(
        "responder with two extendedKeyUsage extensions",
        &responder.url(),
        &[("good", &good, "FAILED:certificate status request failed")],
    ));
    drop(responder);

    // Issued by the CA but without the OCSP-signing EKU.
    let plain = s.root.client("not a responder");
    let p_cert = s.work.write("plain.pem", &plain.cert_pem);
    let p_key = s.work.write("plain-key.pem", &plain.key_pem);
    let responder = OpensslResponder::start(&index, &s.ca, &p_cert, &p_key);
    failures.extend(s.compare(
        "responder without the EKU",
        &responder.url(),
        &[("good", &good, "FAILED:certificate status request failed")],
    ));
    drop(responder);

    // Signed by another CA altogether.
    let other = Ca::root("Other CA");
    let o_cert = s.work.write("other.pem", other.pem());
    let o_key = s.work.write("other-key.pem", other.key_pem());
    let responder = OpensslResponder::start(&index, &o_cert, &o_cert, &o_key);
    failures.extend(s.compare(
        "wrong signer",
        &responder.url(),
        &[("good", &good, "FAILED:certificate status request failed")],
    ));
    drop(responder);

    // A good answer whose nextUpdate passed an hour ago, and one from the future.
    for (label, this_h, next_h) in [("stale answer", -3, -1), ("answer from the future", 2, 5)] {
        let fixed = FixedResponder::start(Some(python_response(
            &s.work, &s.root, &good, this_h, next_h,
        )));
        failures.extend(s.compare(
            label,
            &fixed.url(),
            &[("good", &good, "FAILED:certificate status request failed")],
        ));
    }
    // The same made current: accepted (so the refusals above are about time).
    let fixed = FixedResponder::start(Some(python_response(&s.work, &s.root, &good, -1, 1)));
    failures.extend(s.compare(
        "current answer",
        &fixed.url(),
        &[("good", &good, "SUCCESS")],
    ));
    assert_none(failures);
}

/// extendedKeyUsage = OCSPSigning.
fn ocsp_signing_eku() -> Vec<u8> {
    der_encode(
        0x30,
        &der_encode(0x06, &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09]),
    )
}

/// authorityInfoAccess with one OCSP URL.
fn aia(url: &str) -> Vec<u8> {
    let method = der_encode(0x06, &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = der_encode(0x86, url.as_bytes());
    der_encode(0x30, &der_encode(0x30, &[method, location].concat()))
}

#[test]
fn the_aia_url_leaf_mode_and_the_cache() {
    let s = setup();
    let int = s.root.intermediate("OCSP Issuing CA");
    let int_cert = s.work.write("int.pem", int.pem());
    let int_key = s.work.write("int-key.pem", int.key_pem());
    // The intermediate's responder, named in its client's AIA.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let with_aia = int.leaf(LeafSpec::client("with-aia").extension(
        &[1, 3, 6, 1, 5, 5, 7, 1, 1],
        aia(&url),
        false,
    ));
    let index = write_index(&s.work, "int-index.txt", &[&with_aia], &[]);
    let responder = OpensslResponder::start_on(port, &index, &int_cert, &int_cert, &int_key);

    // `leaf` asks about the client certificate only, at its AIA URL.
    let gw = s.gateway("verify_depth = 2\nocsp = \"leaf\"", "");
    let got = seen(|| s.ask(gw.port(), &with_aia, "aia"), || gw.logs());
    assert_eq!(got, Seen::Ok("SUCCESS".into()), "{}", gw.logs());
    drop(gw);
    // `on` asks about the intermediate too, which names no responder.
    let gw = s.gateway("verify_depth = 2\nocsp = \"on\"", "");
    let got = seen(|| s.ask(gw.port(), &with_aia, "aia"), || gw.logs());
    assert_eq!(
        got,
        Seen::Refused("certificate status request failed".into())
    );
    assert!(
        gw.logs().contains("no OCSP responder URL in certificate"),
        "{}",
        gw.logs()
    );
    drop(gw);

    // The cache keeps a good answer until its nextUpdate: the responder may go.
    let admin = free_port();
    let gw = s.gateway(
        "verify_depth = 2\nocsp = \"leaf\"\nocsp_cache = \"shared:OCSP:1m\"",
        &format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\n"),
    );
    assert_eq!(
        seen(|| s.ask(gw.port(), &with_aia, "a1"), || gw.logs()),
        Seen::Ok("SUCCESS".into())
    );
    drop(responder);
    assert_eq!(
        seen(|| s.ask(gw.port(), &with_aia, "a2"), || gw.logs()),
        Seen::Ok("SUCCESS".into())
    );
    let metrics = admin_get(admin, "/metrics");
    for needle in [
        r#"mtls_gateway_ocsp_cache_hits_total{server="server[0]",result="good"} 1"#,
        r#"mtls_gateway_ocsp_queries_total{server="server[0]",result="good"} 1"#,
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
}

/// The body of a plain GET to the admin listener.
fn admin_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: admin\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_hanging_responder_times_out_holds_up_nobody_and_is_asked_once() {
    let s = setup();
    let good = s.root.client("good");
    let hanging = FixedResponder::start(None);
    let gw = s.gateway(
        &format!(
            "ocsp = \"on\"\nocsp_responder = \"{}\"\nocsp_timeout = \"2s\"",
            hanging.url()
        ),
        "",
    );
    let started = Instant::now();
    let waiting: Vec<_> = (0..4)
        .map(|i| {
            let leaf_pem = good.chain_without_root();
            let key_pem = good.key_pem.clone();
            let work_path = s.work.path().to_path_buf();
            let server_ca = s.server_ca.clone();
            let port = gw.port();
            std::thread::spawn(move || {
                let cert = work_path.join(format!("h{i}.pem"));
                let key = work_path.join(format!("h{i}-key.pem"));
                std::fs::write(&cert, leaf_pem).unwrap();
                std::fs::write(&key, key_pem).unwrap();
                curl(
                    HOST,
                    port,
                    "/",
                    &server_ca,
                    &[
                        "--cert",
                        cert.to_str().unwrap(),
                        "--key",
                        key.to_str().unwrap(),
                    ],
                )
                .status
            })
        })
        .collect();
    // Meanwhile a client without a certificate is answered at once.
    std::thread::sleep(Duration::from_millis(300));
    let quick = Instant::now();
    let r = curl(HOST, gw.port(), "/", &s.server_ca, &[]);
    assert_eq!((r.status, r.body_text().as_str()), (200, "NONE"));
    assert!(
        quick.elapsed() < Duration::from_secs(2),
        "held up for {:?}",
        quick.elapsed()
    );
    for w in waiting {
        assert_eq!(w.join().unwrap(), 400);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(
        hanging.connections.load(Ordering::SeqCst),
        1,
        "one query for four connections"
    );
    assert!(
        wait_for_log_count(&gw, "certificate status request failed", 4),
        "{}",
        gw.logs()
    );
    assert!(
        gw.logs().contains("did not answer within the timeout"),
        "{}",
        gw.logs()
    );
}
