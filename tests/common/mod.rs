//! Shared test utilities: a PKI generated per test with rcgen, the gateway
//! and the echo backend as real processes on loopback, and real clients
//! (curl, openssl s_client, a rustls client).
//!
//! A new test is usually a few lines:
//!
//! ```ignore
//! let h = Harness::start(|backend| {
//!     GatewayConfig::mtls("localhost", "optional")
//!         .server_key("client_max_body_size", "1k")
//!         .proxy("/", backend.addr)
//!         .header("X-SSL-Client-Verify", "$ssl_client_verify")
//! });
//! let r = h.curl_alice("/", &["--http2"]);
//! ```
//!
//! [`GatewayConfig`] (config.rs) writes the TOML; [`TestPki`] writes the
//! files it names; [`Harness`] runs both with an echo backend. Write TOML by
//! hand only where the text itself is under test (tests/config_check.rs).
#![allow(dead_code)]

pub mod config;
pub mod haproxy;
pub mod pki;
pub mod rustls_client;
pub mod side_by_side;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::*;
pub use pki::*;
#[allow(unused_imports)] // only the comparisons with nginx use it
pub use side_by_side::*;

/// A temporary folder for a test's files.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write test file");
        p
    }
}

/// The certificates most tests need, written into a work directory:
/// `ca.pem` (a root CA, which issued everything here, so it is also curl's
/// `--cacert`), `server.pem` + `server-key.pem` (a server certificate for
/// the given names), `alice.pem` + `alice-key.pem` (a client certificate,
/// CN=alice, OU=Dev, O=Example, C=RU). The names [`GatewayConfig`] uses.
pub struct TestPki {
    pub root: Ca,
    pub server: Leaf,
    pub alice: Leaf,
    /// `ca.pem`
    pub ca: PathBuf,
    /// `alice.pem`
    pub alice_cert: PathBuf,
    /// `alice-key.pem`
    pub alice_key: PathBuf,
}

impl TestPki {
    /// Root "Client Root CA", a server certificate for `localhost`.
    pub fn new(work: &Workdir) -> TestPki {
        TestPki::with(work, "Client Root CA", &["localhost"])
    }

    /// Root `root_cn`, a server certificate for `server_names`.
    pub fn with(work: &Workdir, root_cn: &str, server_names: &[&str]) -> TestPki {
        let root = Ca::root(root_cn);
        let server = root.server(server_names);
        let ca = work.write("ca.pem", root.pem());
        work.write("server.pem", server.chain(0));
        work.write("server-key.pem", &server.key_pem);
        let alice = root.client("alice");
        let alice_cert = work.write("alice.pem", &alice.cert_pem);
        let alice_key = work.write("alice-key.pem", &alice.key_pem);
        TestPki {
            root,
            server,
            alice,
            ca,
            alice_cert,
            alice_key,
        }
    }

    /// curl's `--cert alice.pem --key alice-key.pem`.
    pub fn alice_args(&self) -> Vec<String> {
        cert_args(&self.alice_cert, &self.alice_key)
    }

    /// A rustls client trusting the root and presenting alice (ALPN h2 or http/1.1).
    pub fn alice_client(&self, h2: bool) -> std::sync::Arc<rustls::ClientConfig> {
        rustls_client::with_identity(&self.root.pem(), &self.alice, h2)
    }

    /// curl `https://localhost:<port><path>` as alice, trusting `ca.pem`.
    pub fn curl_alice(&self, port: u16, path: &str, args: &[&str]) -> CurlResponse {
        curl_cert(
            "localhost",
            port,
            path,
            &self.ca,
            (&self.alice_cert, &self.alice_key),
            args,
        )
    }
}

/// curl's `--cert CERT --key KEY`.
pub fn cert_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--cert".into(),
        cert.to_str().expect("UTF-8 path").into(),
        "--key".into(),
        key.to_str().expect("UTF-8 path").into(),
    ]
}

/// [`curl`] presenting the client certificate `identity` (cert file, key file).
pub fn curl_cert(
    host: &str,
    port: u16,
    path: &str,
    ca: &Path,
    identity: (&Path, &Path),
    args: &[&str],
) -> CurlResponse {
    let cert = cert_args(identity.0, identity.1);
    let mut all: Vec<&str> = cert.iter().map(String::as_str).collect();
    all.extend(args);
    curl(host, port, path, ca, &all)
}

/// The usual process set of a test: a work directory with a [`TestPki`],
/// an echo backend, and a gateway running a configuration made for that
/// backend.
///
/// ```ignore
/// let h = Harness::start(|backend| GatewayConfig::seed(backend.addr));
/// let r = h.curl_alice("/api/mtls", &[]);
/// assert_eq!(r.echoed("x-ssl-client-verify"), ["SUCCESS"]);
/// ```
pub struct Harness {
    pub work: Workdir,
    pub pki: TestPki,
    pub backend: Backend,
    pub gw: Gateway,
}

impl Harness {
    /// [`TestPki::new`] (root "Client Root CA", server `localhost`).
    pub fn start(config: impl FnOnce(&Backend) -> GatewayConfig) -> Harness {
        Harness::start_with(TestPki::new, config)
    }

    /// With a PKI of the test's making (e.g. `TestPki::with(work, "Root CA", &[..])`).
    pub fn start_with(
        pki: impl FnOnce(&Workdir) -> TestPki,
        config: impl FnOnce(&Backend) -> GatewayConfig,
    ) -> Harness {
        let work = Workdir::new();
        let pki = pki(&work);
        let backend = Backend::start();
        let gw = config(&backend).start(&work);
        Harness {
            work,
            pki,
            backend,
            gw,
        }
    }

    /// curl `https://localhost:<gateway port><path>` as alice.
    pub fn curl_alice(&self, path: &str, args: &[&str]) -> CurlResponse {
        self.pki.curl_alice(self.gw.port(), path, args)
    }

    /// curl `https://localhost:<gateway port><path>` without a client certificate.
    pub fn curl(&self, path: &str, args: &[&str]) -> CurlResponse {
        curl("localhost", self.gw.port(), path, &self.pki.ca, args)
    }
}

/// The `echo-backend` binary (the workspace member `tools/echo-backend`).
///
/// A test of this package cannot name another package's binary
/// (`CARGO_BIN_EXE_*` is for its own), so it is built here, once per test
/// process, with the profile, target and target directory of the running
/// test (`<target>/[<triple>/]<profile>/deps/<test>` -> `.../<profile>/`,
/// which honours `CARGO_TARGET_DIR`). When `cargo test --workspace` already
/// built it this is a no-op; with `cargo test --test NAME` it builds it
/// first. Cargo's own lock serialises concurrent builds.
pub fn echo_backend_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable is in <target>/<profile>/deps");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("profile directory name");
        let above = profile_dir.parent().expect("target directory");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--locked", "-p", "echo-backend"])
            .args(["--bin", "echo-backend"]);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        // `<target>/<triple>/<profile>` when built for an explicit target:
        // the target root is the one with cargo's CACHEDIR.TAG.
        if above.join("CACHEDIR.TAG").exists() {
            cmd.arg("--target-dir").arg(above);
        } else {
            let triple = above.file_name().expect("target triple directory");
            cmd.arg("--target").arg(triple);
            cmd.arg("--target-dir")
                .arg(above.parent().expect("target directory"));
        }
        let status = cmd.status().expect("run cargo to build echo-backend");
        assert!(status.success(), "cargo build -p echo-backend failed");
        let bin = profile_dir.join(format!("echo-backend{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "echo-backend not found at {}", bin.display());
        bin
    })
}

/// The echo backend (`tools/echo-backend`) as a child process.
pub struct Backend {
    child: Child,
    pub addr: SocketAddr,
}

impl Backend {
    pub fn start() -> Backend {
        Backend::start_at("127.0.0.1:0")
    }

    /// An echo backend listening on `listen` (e.g. a restarted one on the
    /// port of one that was stopped).
    pub fn start_at(listen: &str) -> Backend {
        let mut child = Command::new(echo_backend_bin())
            .args(["--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start echo-backend");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read echo-backend address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected echo-backend output {line:?}"))
            .parse()
            .expect("address");
        Backend { child, addr }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway binary running a configuration.
pub struct Gateway {
    child: Child,
    /// Bound addresses, in configuration order of listen groups.
    pub addrs: Vec<SocketAddr>,
    logs: Arc<Mutex<String>>,
}

impl Gateway {
    /// Writes `config` to `gateway.toml` in `dir` and runs it; waits until it is ready.
    pub fn start(dir: &Path, config: &str) -> Gateway {
        Self::try_start(dir, config).unwrap_or_else(|logs| panic!("gateway did not start:\n{logs}"))
    }

    /// Like [`Gateway::start`], returning the logs if it exits or never becomes ready.
    pub fn try_start(dir: &Path, config: &str) -> Result<Gateway, String> {
        Self::try_start_with(dir, config, None)
    }

    /// Like [`Gateway::start`], with the open-files limit (soft and hard)
    /// set to `limit` (`ulimit -n`), e.g. to run it out of descriptors.
    pub fn start_with_open_files_limit(dir: &Path, config: &str, limit: u32) -> Gateway {
        Self::try_start_with(dir, config, Some(limit))
            .unwrap_or_else(|logs| panic!("gateway did not start:\n{logs}"))
    }

    fn try_start_with(
        dir: &Path,
        config: &str,
        open_files: Option<u32>,
    ) -> Result<Gateway, String> {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).expect("write config");
        let bin = env!("CARGO_BIN_EXE_mtls-gateway");
        let mut command = match open_files {
            None => Command::new(bin),
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
        };
        let mut child = command
            .args(["--log-level", "debug", "run", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gateway");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let mut addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("");
                        addrs.push(addr.parse().expect("bound address"));
                    }
                    if line.contains("mtls-gateway ready") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    return Err(logs.lock().unwrap().clone());
                }
            }
        }
        Ok(Gateway { child, addrs, logs })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`, `USR1`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Whether the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait gateway")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 5 s) until `needle` occurs at least `count` times in the logs.
pub fn wait_for_log_count(gw: &Gateway, needle: &str, count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if gw.logs().matches(needle).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A response as curl saw it.
#[derive(Debug)]
pub struct CurlResponse {
    /// 0 when curl failed before any response (TLS failure etc.).
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: String,
    pub exit: i32,
}

impl CurlResponse {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Values of a header in the echo backend's report of the request it got.
    pub fn echoed(&self, name: &str) -> Vec<String> {
        echoed_headers(&self.body_text(), name)
    }
}

/// Every value of `name` (any case) in the echo backend's body.
pub fn echoed_headers(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// Runs curl against `https://<host>:<port><path>` resolved to 127.0.0.1.
pub fn curl(host: &str, port: u16, path: &str, ca: &Path, args: &[&str]) -> CurlResponse {
    let url = format!("https://{host}:{port}{path}");
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(args)
        .arg(&url)
        .output()
        .expect("curl must be installed (it is a reference client)");
    parse_curl(out)
}

fn parse_curl(out: std::process::Output) -> CurlResponse {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let exit = out.status.code().unwrap_or(-1);
    let raw = out.stdout;
    let mut pos = 0;
    let mut status = 0;
    let mut headers = Vec::new();
    // Skip interim responses (100 Continue) and take the last header block.
    while let Some(end) = find(&raw[pos..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[pos..pos + end]).into_owned();
        let mut lines = head.lines();
        let first = lines.next().unwrap_or("");
        if !first.starts_with("HTTP/") {
            break;
        }
        status = first
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        pos += end + 4;
        if status >= 200 {
            break;
        }
    }
    CurlResponse {
        status,
        headers,
        body: raw[pos..].to_vec(),
        stderr,
        exit,
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads all of a child's stdout (for openssl commands).
pub fn run_output(cmd: &mut Command) -> (i32, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), out, err)
}

/// `openssl x509 -noout <args>` on a PEM certificate file.
pub fn openssl_x509(cert: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_output(
        Command::new("openssl")
            .args(["x509", "-noout", "-in"])
            .arg(cert)
            .args(args),
    );
    assert_eq!(code, 0, "openssl x509 failed: {err}");
    out.trim().to_string()
}

/// nginx, the reference the gateway replaces, as a child process on
/// loopback (`daemon off; master_process off;`, everything in a temp dir).
pub struct Nginx {
    child: Child,
    dir: PathBuf,
    /// The ports of the `{port0}`, `{port1}`, ... placeholders.
    pub ports: Vec<u16>,
}

/// The nginx binary, or a panic saying how to install it: the verification
/// tests compare with a real nginx and must not silently pass without one.
pub fn nginx_binary() -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/local/sbin",
        "/usr/bin",
        "/usr/local/nginx/sbin",
    ] {
        let p = Path::new(dir).join("nginx");
        if p.exists() {
            return p;
        }
    }
    if let Ok(out) = Command::new("nginx").arg("-v").output()
        && out.status.success()
    {
        return PathBuf::from("nginx");
    }
    panic!(
        "nginx is not installed: this test compares the gateway with a real nginx \
         (Debian: apt-get install nginx-light; .ci/run installs it)"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Nginx {
    /// Runs nginx with the `http` block content `servers` in `dir`;
    /// `{port0}` .. `{portN}` (N < `ports`) become free loopback ports.
    /// Waits until every port accepts connections.
    pub fn start(dir: &Path, servers: &str, ports: usize) -> Nginx {
        let bin = nginx_binary();
        let dir = dir.join("nginx");
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let chosen: Vec<u16> = (0..ports).map(|_| free_port()).collect();
            let mut body = servers.to_string();
            for (i, p) in chosen.iter().enumerate() {
                body = body.replace(&format!("{{port{i}}}"), &p.to_string());
            }
            let d = dir.display();
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{body}\n}}\n"
            );
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).expect("nginx.conf");
            let _ = std::fs::remove_file(dir.join("error.log"));
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.join("error.log"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    last_log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                    break;
                }
                let up = chosen
                    .iter()
                    .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
                if up {
                    return Nginx {
                        child,
                        dir,
                        ports: chosen,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last_log.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start:\n{last_log}");
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open file descriptors of process `pid` (0 if it cannot be read).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of process `pid` in KiB (`VmRSS`; 0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
