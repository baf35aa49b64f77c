//! Helpers for the `certs`, `inspect` and browser tests: a PKI made by the
//! gateway's own `certs` commands, and the openssl views of its files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{CurlResponse, Gateway, curl, openssl_x509, run_output};

/// The password the tests give to `certs client` (through a file).
pub const PASSWORD: &str = "correct horse battery staple";

/// What a command printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `mtls-gateway ARGS` without a controlling terminal (`setsid`) and with
/// stdin closed, so a password prompt can never wait on the test's terminal.
pub fn gateway_cmd(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new("setsid");
    cmd.arg("-w")
        .arg(env!("CARGO_BIN_EXE_mtls-gateway"))
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run mtls-gateway under setsid");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mtls-gateway certs ARGS`, which must succeed.
pub fn certs_ok(args: &[&str]) -> Out {
    let mut full = vec!["certs"];
    full.extend_from_slice(args);
    let out = gateway_cmd(&full, &[]);
    assert_eq!(
        out.code, 0,
        "certs {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out
}

/// `mtls-gateway certs ARGS`, which must fail; returns stderr.
pub fn certs_err(args: &[&str]) -> String {
    let mut full = vec!["certs"];
    full.extend_from_slice(args);
    let out = gateway_cmd(&full, &[]);
    assert_ne!(out.code, 0, "certs {args:?} should fail:\n{}", out.stdout);
    out.stderr
}

/// The files of one `certs client`.
#[derive(Debug, Clone)]
pub struct Client {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub chain: PathBuf,
    pub p12: PathBuf,
}

impl Client {
    /// curl to `https://localhost:PORT{path}` presenting this client's
    /// chain and key, trusting the folder's root for the server.
    pub fn curl(&self, gw: &Gateway, path: &str, pki: &Pki) -> CurlResponse {
        curl(
            "localhost",
            gw.port(),
            path,
            &pki.path("ca.crt"),
            &[
                "--cert",
                self.chain.to_str().unwrap(),
                "--key",
                self.key.to_str().unwrap(),
            ],
        )
    }
}

/// A CA folder made by `certs init`, in `root/NAME`, with the tests'
/// password file beside it.
pub struct Pki {
    pub dir: PathBuf,
    pub password_file: PathBuf,
}

impl Pki {
    /// `certs init --out ROOT/NAME --server-name localhost --server-name 127.0.0.1 EXTRA`.
    pub fn init(root: &Path, name: &str, extra: &[&str]) -> Pki {
        let dir = root.join(name);
        let password_file = root.join(format!("{name}.password"));
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let dir_s = dir.to_str().unwrap();
        let mut args = vec![
            "init",
            "--out",
            dir_s,
            "--server-name",
            "localhost",
            "--server-name",
            "127.0.0.1",
        ];
        args.extend_from_slice(extra);
        certs_ok(&args);
        Pki { dir, password_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `certs client --cn CN --out DIR/users EXTRA` with the password file.
    pub fn client(&self, cn: &str, extra: &[&str]) -> Client {
        let out_dir = self.dir.join("users");
        let mut args = vec![
            "client",
            "--ca",
            self.dir.to_str().unwrap(),
            "--cn",
            cn,
            "--out",
            out_dir.to_str().unwrap(),
            "--password-file",
            self.password_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        certs_ok(&args);
        let stem = extra
            .iter()
            .position(|a| *a == "--name")
            .map_or(cn, |i| extra[i + 1]);
        Client {
            cert: out_dir.join(format!("{stem}.pem")),
            key: out_dir.join(format!("{stem}-key.pem")),
            chain: out_dir.join(format!("{stem}-chain.pem")),
            p12: out_dir.join(format!("{stem}.p12")),
        }
    }

    /// The gateway.toml `certs init` wrote, with the listen address and the
    /// backend replaced and `client_auth_extra` lines added to `[server.client_auth]`.
    pub fn gateway_toml(&self, backend: &str, client_auth_extra: &str) -> String {
        let text = std::fs::read_to_string(self.path("gateway.toml")).unwrap();
        let text = text
            .replace(
                r#"listen = ["0.0.0.0:3443"]"#,
                r#"listen = ["127.0.0.1:0"]"#,
            )
            .replace(
                r#"server = ["127.0.0.1:8080"]"#,
                &format!(r#"server = ["{backend}"]"#),
            )
            .replace(
                "[server.client_auth]\n",
                &format!("[server.client_auth]\n{client_auth_extra}\n"),
            );
        assert!(
            text.contains("127.0.0.1:0") && text.contains(backend),
            "{text}"
        );
        text
    }
}

/// `openssl x509 -subject -nameopt RFC2253`: nginx's `$ssl_client_s_dn`.
pub fn subject_rfc2253(cert: &Path) -> String {
    let s = openssl_x509(cert, &["-subject", "-nameopt", "RFC2253"]);
    s.strip_prefix("subject=").unwrap_or(&s).to_string()
}

/// `openssl x509 -serial`: nginx's `$ssl_client_serial`.
pub fn serial(cert: &Path) -> String {
    let s = openssl_x509(cert, &["-serial"]);
    s.strip_prefix("serial=").unwrap_or(&s).to_string()
}

/// SHA-1 fingerprint as nginx's `$ssl_client_fingerprint` spells it.
pub fn fingerprint(cert: &Path) -> String {
    let s = openssl_x509(cert, &["-fingerprint", "-sha1"]);
    s.split_once('=')
        .map(|(_, v)| v)
        .unwrap_or(&s)
        .replace(':', "")
        .to_lowercase()
}

/// `openssl pkcs12 -info -nokeys` on a .p12 (no `-legacy`): (exit code, stdout + stderr).
pub fn pkcs12_info(p12: &Path, password_file: &Path) -> (i32, String) {
    let (code, out, err) = run_output(
        Command::new("openssl")
            .args(["pkcs12", "-info", "-nokeys", "-in"])
            .arg(p12)
            .arg("-passin")
            .arg(format!("file:{}", password_file.display())),
    );
    (code, format!("{out}{err}"))
}
