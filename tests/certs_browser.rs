//! The login in a real browser: Debian's `chromium`, headless, with a `.p12`
//! made by `mtls-gateway certs client` imported into the NSS database it
//! reads, against the gateway and the echo backend.
//!
//! Recipe: a throwaway `HOME` per
//! browser profile, the NSS database in `$HOME/.pki/nssdb` filled with
//! `certutil`/`pk12util`, an `auto_select_certificate` preference so that
//! Chromium picks the certificate without a picker, and every run under
//! `timeout`. Nothing here downloads a browser: without Debian's `chromium`
//! and `libnss3-tools` (`.ci/run` installs them) the tests fail and say so.
//!
//! `MTLS_GATEWAY_UPDATE_SCREENSHOT=1 cargo test --test certs_browser`
//! refreshes `docs/images/browser-login.png`; otherwise the screenshot goes
//! to the test's temporary folder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod certs_support;
// This file makes its PKI with `mtls-gateway certs`, not with common's rcgen helpers.
#[allow(unused_imports)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use certs_support::*;
use common::*;

/// Upper bound for one browser run (a run takes about a second); a
/// certificate picker that no rule answers would otherwise wait forever.
const BROWSER_TIMEOUT_SECS: &str = "90";

/// Finds a program on PATH, or fails the test loudly with how to get it.
fn require(program: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "\n\n*** BROWSER TEST CANNOT RUN: `{program}` is not installed. ***\n\
             Install Debian's package as root: apt-get install -y {package}\n\
             (.ci/run does this). The test never downloads a browser of its own.\n"
        )
    })
}

fn run_tool(cmd: &mut Command, what: &str) {
    let (code, out, err) = run_output(cmd);
    assert_eq!(code, 0, "{what} failed:\n{out}\n{err}");
}

/// One browser profile: its own HOME (with the NSS database Chromium reads
/// client certificates from) and user-data folder.
struct Profile {
    home: PathBuf,
    data: PathBuf,
    nssdb: String,
}

impl Profile {
    /// A profile that trusts `server_ca` and auto-selects a client
    /// certificate for `https://localhost:PORT`.
    fn new(root: &Path, name: &str, port: u16, server_ca: &Path) -> Profile {
        require("certutil", "libnss3-tools");
        let home = root.join(name).join("home");
        let data = root.join(name).join("chromium");
        for dir in [
            home.join(".pki/nssdb"),
            data.join("Default"),
            home.join("tmp"),
        ] {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let nssdb = format!("sql:{}", home.join(".pki/nssdb").display());
        run_tool(
            Command::new("certutil").args(["-N", "--empty-password", "-d", &nssdb]),
            "certutil -N",
        );
        // certutil imports the first certificate of a file: ca.crt holds one.
        run_tool(
            Command::new("certutil")
                .args([
                    "-A",
                    "-t",
                    "C,,",
                    "-n",
                    "mtls-gateway test root",
                    "-d",
                    &nssdb,
                    "-i",
                ])
                .arg(server_ca),
            "certutil -A (trust the server's CA)",
        );
        let prefs = format!(
            r#"{{"profile":{{"content_settings":{{"exceptions":{{"auto_select_certificate":{{"https://localhost:{port},*":{{"setting":{{"filters":[{{}}]}}}}}}}}}}}}}}"#
        );
        std::fs::write(data.join("Default/Preferences"), prefs).unwrap();
        Profile { home, data, nssdb }
    }

    /// `pk12util -i FILE.p12`, the password read from a file.
    fn import_p12(&self, p12: &Path, password_file: &Path) {
        require("pk12util", "libnss3-tools");
        run_tool(
            Command::new("pk12util")
                .args(["-d", &self.nssdb, "-i"])
                .arg(p12)
                .arg("-w")
                .arg(password_file),
            "pk12util -i",
        );
    }

    /// Runs headless Chromium on `url` with `extra` flags; returns stdout.
    /// Fails loudly when Chromium does not start, times out, or reports a
    /// network error.
    fn chromium(&self, url: &str, extra: &[&str]) -> String {
        let chromium = require("chromium", "chromium");
        let mut cmd = Command::new("timeout");
        cmd.arg(BROWSER_TIMEOUT_SECS)
            .arg(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", self.data.display()))
            .args(extra)
            .arg(url)
            .env("HOME", &self.home)
            .env("TMPDIR", self.home.join("tmp"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"));
        let (code, out, err) = run_output(&mut cmd);
        // The Debian wrapper's `unexpected operator` and D-Bus complaints are harmless.
        let relevant: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("dbus/") && !l.contains("unexpected operator"))
            .collect();
        assert!(
            code != 124,
            "\n\n*** chromium did not finish within {BROWSER_TIMEOUT_SECS} s on {url} \
             (waiting for a certificate picker?) ***\n{}",
            relevant.join("\n")
        );
        assert_eq!(
            code,
            0,
            "\n\n*** chromium could not run (exit code {code}) on this machine ***\n{}",
            relevant.join("\n")
        );
        let net_errors: Vec<&&str> = relevant
            .iter()
            .filter(|l| l.contains("net::ERR_"))
            .collect();
        assert!(
            net_errors.is_empty(),
            "chromium reported {net_errors:?} for {url}"
        );
        out
    }

    /// The page text Chromium shows for `url` (text/plain comes in a `<pre>`).
    fn page(&self, url: &str) -> String {
        let dom = self.chromium(url, &["--dump-dom"]);
        assert!(
            !dom.trim().is_empty(),
            "chromium printed an empty page for {url}"
        );
        dom
    }
}

/// The text inside `<pre>...</pre>`, HTML entities decoded.
fn pre_text(dom: &str) -> String {
    let start = dom
        .find("<pre")
        .and_then(|i| dom[i..].find('>').map(|j| i + j + 1));
    let end = dom.rfind("</pre>");
    let (Some(start), Some(end)) = (start, end) else {
        panic!("no <pre> in the page:\n{dom}");
    };
    dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A gateway serving the `gateway.toml` of `certs init` (the seed's flow:
/// certificate required, `/api/mtls` proxied to the echo backend).
struct Site {
    work: Workdir,
    pki: Pki,
    _backend: Backend,
    gateway: Gateway,
}

impl Site {
    fn start() -> Site {
        // Fail before any setup if the browser is missing.
        require("chromium", "chromium");
        let work = Workdir::new();
        let backend = Backend::start();
        let pki = Pki::init(
            work.path(),
            "pki",
            &[
                "--org",
                "Example",
                "--country",
                "RU",
                "--listen",
                "127.0.0.1:0",
                "--backend",
                &backend.addr.to_string(),
            ],
        );
        let toml = std::fs::read_to_string(pki.path("gateway.toml")).unwrap();
        let gateway = Gateway::start(&pki.dir, &toml);
        Site {
            work,
            pki,
            _backend: backend,
            gateway,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/api/mtls", self.gateway.port())
    }

    fn profile(&self, name: &str) -> Profile {
        Profile::new(
            self.work.path(),
            name,
            self.gateway.port(),
            &self.pki.path("ca.crt"),
        )
    }
}

/// What the echo backend received, as the browser shows it.
fn assert_identity(page: &str, client: &Client, client_ca: &Path) {
    assert_eq!(
        echoed_headers(page, "X-SSL-Client-Verify"),
        ["SUCCESS"],
        "{page}"
    );
    assert_eq!(
        echoed_headers(page, "X-SSL-Client-DN"),
        [subject_rfc2253(&client.cert)],
        "{page}"
    );
    assert_eq!(
        echoed_headers(page, "X-SSL-Client-Serial"),
        [serial(&client.cert)],
        "{page}"
    );
    assert_eq!(
        echoed_headers(page, "X-SSL-Client-Fingerprint"),
        [fingerprint(&client.cert)],
        "{page}"
    );
    assert_eq!(
        echoed_headers(page, "X-SSL-Client-Issuer"),
        [subject_rfc2253(client_ca)],
        "{page}"
    );
}

#[test]
fn chromium_logs_in_with_the_p12_and_the_backend_receives_that_users_identity() {
    let site = Site::start();
    let client_ca = site.pki.path("client-ca.crt");
    let alice = site
        .pki
        .client("alice", &["--email", "alice@example.com", "--ou", "Dev"]);
    let bob = site.pki.client(
        "bob",
        &["--email", "bob@example.com", "--ou", "Ops", "--p12-legacy"],
    );

    let alice_browser = site.profile("alice");
    alice_browser.import_p12(&alice.p12, &site.pki.password_file);
    let page = pre_text(&alice_browser.page(&site.url()));
    assert!(page.starts_with("GET /api/mtls HTTP/1.1"), "{page}");
    assert!(
        echoed_headers(&page, "User-Agent")[0].contains("HeadlessChrome"),
        "{page}"
    );
    assert_eq!(
        echoed_headers(&page, "X-SSL-Client-DN"),
        ["emailAddress=alice@example.com,CN=alice,OU=Dev,O=Example,C=RU"],
        "{page}"
    );
    assert_identity(&page, &alice, &client_ca);

    // The screenshot of that page, for docs/certificates.md.
    let shot = if std::env::var_os("MTLS_GATEWAY_UPDATE_SCREENSHOT").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/browser-login.png")
    } else {
        site.work.path().join("browser-login.png")
    };
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    alice_browser.chromium(
        &site.url(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,560",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );

    // A second user, in a second browser profile, with the legacy .p12.
    let bob_browser = site.profile("bob");
    bob_browser.import_p12(&bob.p12, &site.pki.password_file);
    let page = pre_text(&bob_browser.page(&site.url()));
    assert_eq!(
        echoed_headers(&page, "X-SSL-Client-DN"),
        ["emailAddress=bob@example.com,CN=bob,OU=Ops,O=Example,C=RU"],
        "{page}"
    );
    assert_identity(&page, &bob, &client_ca);
    assert_ne!(serial(&alice.cert), serial(&bob.cert));
}

#[test]
fn chromium_without_a_certificate_gets_the_400_page() {
    let site = Site::start();
    let dom = site.profile("nobody").page(&site.url());
    assert!(
        dom.contains("<title>400 No required SSL certificate was sent</title>"),
        "{dom}"
    );
    assert!(
        dom.contains("No required SSL certificate was sent</center>"),
        "{dom}"
    );
}

#[test]
fn chromium_does_not_offer_a_certificate_of_a_ca_the_gateway_does_not_advertise() {
    let site = Site::start();
    // A user of another CA folder: Chromium filters its certificates by the
    // CA names in the CertificateRequest, so it sends none (and the gateway
    // answers "No required SSL certificate", not "The SSL certificate error").
    let other = Pki::init(site.work.path(), "other", &[]);
    let mallory = other.client("mallory", &[]);
    let browser = site.profile("mallory");
    browser.import_p12(&mallory.p12, &other.password_file);
    let dom = browser.page(&site.url());
    assert!(
        dom.contains("<title>400 No required SSL certificate was sent</title>"),
        "{dom}"
    );
    assert!(
        !site.gateway.logs().contains("verify error"),
        "{}",
        site.gateway.logs()
    );
}
