//! Shared session-ticket keys (`session_ticket_key`, nginx's key files):
//! two gateway processes holding the same files resume each other's
//! sessions (TLS 1.2 and 1.3, a rustls client and `openssl s_client
//! -sess_out/-sess_in`); a process without the key does a full handshake;
//! rotation by reload; a resumed session is verified again against the CRL
//! loaded now; resumptions are counted by key; bad key files are config
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::haproxy::free_port;
use common::rustls_client::{self, ClientOpts};
use common::*;
use rustls::HandshakeKind::{Full, Resumed};

/// A key file's bytes, deterministic per `seed` (80: AES-256, 48: AES-128).
fn key_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(97).wrapping_add(u8::try_from(i).unwrap()))
        .collect()
}

/// The hex `key` label of a key made by [`key_bytes`].
fn key_label(seed: u8) -> String {
    key_bytes(seed, 4)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Fleet {
    _work: Workdir,
    root: Ca,
    alice: Leaf,
    server: Leaf,
    /// Each replica's admin port, kept across rewrites of its configuration.
    admin_ports: std::cell::RefCell<std::collections::HashMap<String, u16>>,
}

impl Fleet {
    fn new() -> Fleet {
        let work = Workdir::new();
        let root = Ca::root("Client Root CA");
        let server = root.server(&["localhost"]);
        let alice = root.client("alice");
        Fleet {
            _work: work,
            root,
            alice,
            server,
            admin_ports: Default::default(),
        }
    }

    fn admin_port(&self, name: &str) -> u16 {
        *self
            .admin_ports
            .borrow_mut()
            .entry(name.to_string())
            .or_insert_with(free_port)
    }

    /// A replica's folder `name` with the shared certificates, a CRL
    /// revoking `revoked`, and the key files `keys` (seed, length), listed
    /// in `session_ticket_key` in that order.
    fn replica_dir(&self, name: &str, keys: &[(u8, usize)], revoked: &[&Leaf]) -> PathBuf {
        let dir = self._work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), self.root.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), self.server.chain(0)).unwrap();
        std::fs::write(dir.join("server-key.pem"), &self.server.key_pem).unwrap();
        std::fs::write(dir.join("crl.pem"), self.root.crl(revoked, 30)).unwrap();
        std::fs::write(dir.join("alice.pem"), &self.alice.cert_pem).unwrap();
        std::fs::write(dir.join("alice-key.pem"), &self.alice.key_pem).unwrap();
        let mut files = Vec::new();
        for (seed, len) in keys {
            let file = format!("ticket-{seed}.key");
            std::fs::write(dir.join(&file), key_bytes(*seed, *len)).unwrap();
            files.push(file);
        }
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let mut cfg = GatewayConfig::mtls("localhost", "on")
            .client_auth_key("crl", "crl.pem")
            .admin(format!("127.0.0.1:{}", self.admin_port(name)))
            .returns("/", 200, "$ssl_session_reused $ssl_client_verify");
        if !files.is_empty() {
            cfg = cfg.tls("session_ticket_key", files.as_slice());
        }
        std::fs::write(dir.join("gateway.toml"), cfg.render()).unwrap();
        dir
    }

    fn replica(&self, name: &str, keys: &[(u8, usize)]) -> Gateway {
        let dir = self.replica_dir(name, keys, &[]);
        let text = std::fs::read_to_string(dir.join("gateway.toml")).unwrap();
        Gateway::start(&dir, &text)
    }

    fn client(
        &self,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> std::sync::Arc<rustls::ClientConfig> {
        let ca = self.root.pem();
        let mut opts = ClientOpts::new(&ca);
        opts.identity = Some((&self.alice.cert_pem, &self.alice.key_pem));
        let versions = [version];
        opts.versions = &versions;
        rustls_client::config(&opts)
    }
}

async fn get(
    gw: &Gateway,
    cfg: &std::sync::Arc<rustls::ClientConfig>,
) -> (rustls::HandshakeKind, u16, String) {
    let req = rustls_client::get("localhost", "/", false)
        .body(rustls_client::empty())
        .unwrap();
    let out = rustls_client::send(gw.addr(), "localhost", cfg.clone(), req)
        .await
        .unwrap();
    (out.handshake, out.response.status().as_u16(), out.text())
}

fn admin_metrics(port: u16) -> String {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

fn resumptions(metrics: &str, seed: u8) -> f64 {
    let series = format!(
        "mtls_gateway_tls_resumptions_total{{key=\"{}\"}}",
        key_label(seed)
    );
    metrics
        .lines()
        .find(|l| l.starts_with(&series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn reload(gw: &Gateway) {
    let n = gw.logs().matches("reload complete").count() + 1;
    gw.signal("HUP");
    assert!(
        wait_for_log_count(gw, "reload complete", n),
        "{}",
        gw.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_the_same_key_files_resume_each_others_sessions() {
    let fleet = Fleet::new();
    let (a, b, stranger) = tokio::task::block_in_place(|| {
        (
            fleet.replica("a", &[(1, 80), (2, 48)]),
            fleet.replica("b", &[(1, 80), (2, 48)]),
            fleet.replica("c", &[(9, 80)]),
        )
    });
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let cfg = fleet.client(version);
        assert_eq!(get(&a, &cfg).await, (Full, 200, ". SUCCESS".into()));
        // The session made by A resumes on B, and is verified there.
        assert_eq!(
            get(&b, &cfg).await,
            (Resumed, 200, "r SUCCESS".into()),
            "{version:?}"
        );
        // And B's tickets on A.
        assert_eq!(get(&a, &cfg).await, (Resumed, 200, "r SUCCESS".into()));
        // A process with other keys: a full handshake, not an error.
        assert_eq!(
            get(&stranger, &cfg).await,
            (Full, 200, ". SUCCESS".into()),
            "{version:?}"
        );
    }
    let m = tokio::task::block_in_place(|| admin_metrics(fleet.admin_port("b")));
    assert!(resumptions(&m, 1) >= 2.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_reload_and_revocation_reaches_resumed_sessions() {
    let fleet = Fleet::new();
    // A still has only the old key; B has rotated: new key first, old second.
    let (a, b) = tokio::task::block_in_place(|| {
        (
            fleet.replica("a", &[(1, 80)]),
            fleet.replica("b", &[(1, 80)]),
        )
    });
    let b_dir = fleet.replica_dir("b", &[(3, 80), (1, 80)], &[]);
    tokio::task::block_in_place(|| reload(&b));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let cfg = fleet.client(version);
        assert_eq!(get(&a, &cfg).await.0, Full);
        // The old key still decrypts on B ...
        assert_eq!(get(&b, &cfg).await, (Resumed, 200, "r SUCCESS".into()));
        // ... whose new tickets (new key) A cannot read: a full handshake.
        if version == &rustls::version::TLS13 {
            assert_eq!(get(&a, &cfg).await.0, Full, "{version:?}");
        }
    }
    let m = tokio::task::block_in_place(|| admin_metrics(fleet.admin_port("b")));
    assert!(resumptions(&m, 1) >= 2.0, "{m}");

    // Revoke alice on B: her next connection there resumes (the key is
    // still good) but the chain is checked against the new CRL: refused.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let cfg = fleet.client(version);
        fleet.replica_dir("b", &[(3, 80), (1, 80)], &[]);
        tokio::task::block_in_place(|| reload(&b));
        assert_eq!(get(&b, &cfg).await.0, Full);
        assert_eq!(get(&b, &cfg).await, (Resumed, 200, "r SUCCESS".into()));
        fleet.replica_dir("b", &[(3, 80), (1, 80)], &[&fleet.alice]);
        tokio::task::block_in_place(|| reload(&b));
        let (kind, status, body) = get(&b, &cfg).await;
        assert_eq!((kind, status), (Resumed, 400), "{version:?}: {body}");
    }
    drop(b_dir);
}

/// `openssl s_client -sess_out` on one process, `-sess_in` on the other.
#[test]
fn openssl_carries_a_session_from_one_process_to_the_other() {
    let fleet = Fleet::new();
    let a = fleet.replica("a", &[(5, 80)]);
    let b = fleet.replica("b", &[(5, 80)]);
    let dir = fleet._work.path().join("a");
    let sess = dir.join("session.pem");
    for version in ["-tls1_2", "-tls1_3"] {
        let first = s_client(
            &dir,
            a.port(),
            version,
            &["-sess_out", sess.to_str().unwrap()],
        );
        assert!(first.contains("New, TLSv1."), "{version}: {first}");
        let second = s_client(
            &dir,
            b.port(),
            version,
            &["-sess_in", sess.to_str().unwrap()],
        );
        assert!(second.contains("Reused, TLSv1."), "{version}: {second}");
        assert!(second.contains("r SUCCESS"), "{version}: {second}");
    }
}

/// One request with `openssl s_client` as alice; stdout.
fn s_client(dir: &Path, port: u16, version: &str, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-ign_eof", version])
        .args(["-CAfile", "ca.pem"])
        .args(["-cert", "alice.pem", "-key", "alice-key.pem"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bad_ticket_key_files_are_config_errors() {
    let work = Workdir::new();
    let _pki = TestPki::new(&work);
    work.write("short.key", [0u8; 79]);
    work.write("a.key", key_bytes(1, 80));
    work.write("same-name.key", {
        let mut k = key_bytes(1, 48);
        k[20] ^= 1;
        k
    });
    let text = GatewayConfig::plain("localhost")
        .tls(
            "session_ticket_key",
            ["short.key", "missing.key", "a.key", "same-name.key"],
        )
        .returns("/", 200, "x")
        .server("other")
        .tls("session_tickets", false)
        .tls("session_ticket_key", ["a.key"])
        .returns("/", 200, "x")
        .render();
    let path = work.write("check.toml", text);
    let (code, out, err) = run_output(
        Command::new(env!("CARGO_BIN_EXE_mtls-gateway"))
            .args(["check", "--config"])
            .arg(&path),
    );
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    for needle in [
        "server[0].tls.session_ticket_key[0]: ",
        "short.key: 79 bytes; a ticket key file has 80 bytes (or 48, nginx's AES-128 format): make one with `openssl rand 80 >",
        "server[0].tls.session_ticket_key[1]: cannot read ",
        "server[0].tls.session_ticket_key[3]: has the same key name (first 16 bytes) as session_ticket_key[2]",
        "server[1].tls.session_ticket_key: set while session_tickets = false",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}
