//! `mtls-gateway inspect`: the values it prints are the values the running
//! gateway forwards for the same certificate, and its verdict is the
//! gateway's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod certs_support;
// This file makes its PKI with `mtls-gateway certs`, not with common's rcgen helpers.
#[allow(unused_imports)]
mod common;

use std::collections::BTreeMap;

use certs_support::*;
use common::*;

/// Every `$ssl_client_*` variable and the header the test configuration
/// forwards it in.
const VARS: &[&str] = &[
    "ssl_client_verify",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_fingerprint_sha256",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "ssl_client_escaped_cert",
    "ssl_client_raw_cert",
];

fn header_of(var: &str) -> String {
    format!("X-Var-{}", var.replace('_', "-"))
}

/// A configuration for the PKI's files that forwards every variable.
fn config(mode: &str, backend: &Backend, extra: &str) -> String {
    let mut config = GatewayConfig::plain("localhost")
        .tls_files("localhost.pem", "localhost-key.pem")
        .client_auth(mode, "ca-bundle.crt")
        .client_auth_extra(extra)
        .proxy("/", backend.addr);
    for v in VARS {
        config = config.header(&header_of(v), &format!("${v}"));
    }
    config.render()
}

/// `inspect` output: exit code, `$name value` lines, and the `#` lines.
struct Inspected {
    code: i32,
    values: BTreeMap<String, String>,
    notes: Vec<String>,
    stderr: String,
}

fn inspect(args: &[&str]) -> Inspected {
    let mut full = vec!["inspect"];
    full.extend_from_slice(args);
    let out = gateway_cmd(&full, &[]);
    let mut values = BTreeMap::new();
    let mut notes = Vec::new();
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix('$') {
            let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
            values.insert(name.to_string(), value.trim_start().to_string());
        } else if let Some(note) = line.strip_prefix('#') {
            notes.push(note.trim().to_string());
        }
    }
    Inspected {
        code: out.code,
        values,
        notes,
        stderr: out.stderr,
    }
}

/// Compares each variable of `inspect` with the header the gateway sent.
fn assert_same_values(inspected: &Inspected, forwarded: &CurlResponse) {
    for var in VARS {
        let sent = forwarded.echoed(&header_of(var));
        let shown = inspected.values.get(*var).cloned().unwrap_or_default();
        if *var == "ssl_client_v_remain" {
            // Whole days left, computed a moment apart (every caller sends
            // the request first, then runs `inspect`): equal except when a
            // day boundary falls between the two.
            let sent: i64 = sent[0].parse().unwrap();
            let shown: i64 = shown.parse().unwrap();
            assert!(
                sent - shown == 0 || sent - shown == 1,
                "{var}: {sent} vs {shown}"
            );
            continue;
        }
        // An empty value sends no header at all.
        let sent = sent.first().cloned().unwrap_or_default();
        assert_eq!(shown, sent, "${var}");
    }
}

#[test]
fn inspect_prints_the_values_the_running_gateway_forwards() {
    let work = Workdir::new();
    let backend = Backend::start();
    let pki = Pki::init(work.path(), "pki", &["--org", "Example", "--country", "RU"]);
    let alice = pki.client("alice", &["--email", "alice@example.com", "--ou", "Dev"]);
    let gw = Gateway::start(&pki.dir, &config("on", &backend, ""));
    let forwarded = alice.curl(&gw, "/", &pki);
    assert_eq!(forwarded.status, 200, "{forwarded:?}");
    assert_eq!(
        forwarded.echoed(&header_of("ssl_client_verify")),
        ["SUCCESS"]
    );

    let inspected = inspect(&[
        alice.chain.to_str().unwrap(),
        "--config",
        pki.path("gateway.toml").to_str().unwrap(),
    ]);
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    assert_eq!(inspected.values.len(), VARS.len(), "{:?}", inspected.values);
    assert_same_values(&inspected, &forwarded);
    // And they are nginx's values, as openssl computes them.
    assert_eq!(
        inspected.values["ssl_client_s_dn"],
        subject_rfc2253(&alice.cert)
    );
    assert_eq!(inspected.values["ssl_client_serial"], serial(&alice.cert));
    assert_eq!(
        inspected.values["ssl_client_fingerprint"],
        fingerprint(&alice.cert)
    );
    assert!(
        inspected
            .notes
            .iter()
            .any(|n| n == "gateway: the request is proxied with these values"),
        "{:?}",
        inspected.notes
    );
}

#[test]
fn inspect_gives_the_gateways_verdict_for_an_unknown_ca() {
    let work = Workdir::new();
    let backend = Backend::start();
    let pki = Pki::init(work.path(), "pki", &[]);
    let other = Pki::init(work.path(), "other", &[]);
    let mallory = other.client("mallory", &[]);
    // optional_no_ca forwards the failure reason instead of answering 400.
    let gw = Gateway::start(&pki.dir, &config("optional_no_ca", &backend, ""));
    let forwarded = mallory.curl(&gw, "/", &pki);
    assert_eq!(forwarded.status, 200, "{forwarded:?}");
    let sent = forwarded.echoed(&header_of("ssl_client_verify"));
    assert!(sent[0].starts_with("FAILED:"), "{sent:?}");

    let inspected = inspect(&[
        mallory.chain.to_str().unwrap(),
        "--config",
        pki.path("gateway.toml").to_str().unwrap(),
    ]);
    assert_eq!(inspected.code, 1, "a failed verification exits 1");
    assert_same_values(&inspected, &forwarded);

    // With --ca (verify_client on), the same reason and nginx's 400.
    let inspected = inspect(&[
        mallory.chain.to_str().unwrap(),
        "--ca",
        pki.path("ca-bundle.crt").to_str().unwrap(),
    ]);
    assert_eq!(inspected.code, 1);
    assert_eq!(inspected.values["ssl_client_verify"], sent[0]);
    assert!(
        inspected
            .notes
            .contains(&"gateway: 400 The SSL certificate error".to_string()),
        "{:?}",
        inspected.notes
    );
}

#[test]
fn inspect_shows_the_verified_path_and_honours_verify_depth() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &["--org", "Example"]);
    let alice = pki.client("alice", &[]);
    let bundle = pki.path("ca-bundle.crt");
    let inspected = inspect(&[
        alice.cert.to_str().unwrap(),
        "--ca",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    assert_eq!(inspected.values["ssl_client_verify"], "SUCCESS");
    let path: Vec<&String> = inspected
        .notes
        .iter()
        .skip_while(|n| *n != "verified path:")
        .skip(1)
        .collect();
    assert_eq!(
        path,
        [
            &format!("0 {}", subject_rfc2253(&alice.cert)),
            &format!("1 {}", subject_rfc2253(&pki.path("client-ca.crt"))),
            &format!("2 {}  (trust anchor)", subject_rfc2253(&pki.path("ca.crt"))),
        ],
        "{:?}",
        inspected.notes
    );

    // One intermediate is too many for verify_depth 0.
    let inspected = inspect(&[
        alice.cert.to_str().unwrap(),
        "--ca",
        bundle.to_str().unwrap(),
        "--verify-depth",
        "0",
    ]);
    assert_eq!(inspected.code, 1);
    assert!(
        inspected.values["ssl_client_verify"].starts_with("FAILED:"),
        "{:?}",
        inspected.values
    );
}

#[test]
fn inspect_with_a_config_applies_its_crl() {
    let work = Workdir::new();
    let backend = Backend::start();
    let pki = Pki::init(work.path(), "pki", &[]);
    let alice = pki.client("alice", &[]);
    let bob = pki.client("bob", &[]);
    certs_ok(&[
        "revoke",
        "--ca",
        pki.dir.to_str().unwrap(),
        &serial(&alice.cert),
    ]);
    let gw = Gateway::start(
        &pki.dir,
        &config("optional_no_ca", &backend, r#"crl = "crl.pem""#),
    );
    let config_path = pki.path("gateway.toml");
    let config_arg = config_path.to_str().unwrap();

    let inspected = inspect(&[alice.chain.to_str().unwrap(), "--config", config_arg]);
    assert_eq!(inspected.code, 1);
    assert_eq!(
        inspected.values["ssl_client_verify"],
        "FAILED:certificate revoked"
    );
    assert!(
        inspected
            .notes
            .contains(&"gateway: 400 The SSL certificate error".to_string()),
        "{:?}",
        inspected.notes
    );
    let r = alice.curl(&gw, "/", &pki);
    assert_eq!(r.status, 400, "{r:?}");

    let forwarded = bob.curl(&gw, "/", &pki);
    let inspected = inspect(&[
        bob.chain.to_str().unwrap(),
        "--config",
        config_arg,
        "--server",
        "localhost",
    ]);
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    assert_eq!(inspected.values["ssl_client_verify"], "SUCCESS");
    assert_same_values(&inspected, &forwarded);

    let inspected = inspect(&[
        bob.chain.to_str().unwrap(),
        "--config",
        config_arg,
        "--server",
        "elsewhere.example",
    ]);
    assert_eq!(inspected.code, 2);
    assert!(
        inspected.stderr.contains("elsewhere.example"),
        "{}",
        inspected.stderr
    );
}

#[test]
fn inspect_names_the_file_it_cannot_use() {
    let work = Workdir::new();
    let missing = work.path().join("missing.pem");
    let r = inspect(&[missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(missing.to_str().unwrap()), "{}", r.stderr);

    let junk = work.write("junk.pem", "hello");
    let r = inspect(&[junk.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("junk.pem") && r.stderr.contains("neither a PEM certificate"),
        "{}",
        r.stderr
    );

    // A bundle without a root can never verify anything: said at once.
    let pki = Pki::init(work.path(), "pki", &[]);
    let alice = pki.client("alice", &[]);
    let r = inspect(&[
        alice.cert.to_str().unwrap(),
        "--ca",
        pki.path("client-ca.crt").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("client-ca.crt") && r.stderr.contains("no self-signed root"),
        "{}",
        r.stderr
    );

    // A DER certificate is read too.
    let der = work.path().join("alice.der");
    let (code, _, err) = run_output(
        std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&alice.cert)
            .arg("-out")
            .arg(&der),
    );
    assert_eq!(code, 0, "{err}");
    let r = inspect(&[der.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.values.len(), VARS.len() - 1, "all but $ssl_client_verify");
}

/// `inspect` reads a `.p12` (the file a user imports in the browser) with
/// its password from `--password-file`, and shows what the certificate in it
/// would forward; a wrong password says how to extract the chain instead.
#[test]
fn inspect_reads_a_p12_with_its_password() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let alice = pki.client("alice", &[]);
    let bundle = pki.path("ca-bundle.crt");
    let from_pem = inspect(&[alice.cert.to_str().unwrap()]);
    let from_p12 = inspect(&[
        alice.p12.to_str().unwrap(),
        "--password-file",
        pki.password_file.to_str().unwrap(),
        "--ca",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(from_p12.code, 0, "{}", from_p12.stderr);
    for var in [
        "ssl_client_s_dn",
        "ssl_client_serial",
        "ssl_client_fingerprint",
    ] {
        assert_eq!(from_p12.values.get(var), from_pem.values.get(var), "{var}");
    }
    assert_eq!(
        from_p12.values.get("ssl_client_verify").map(String::as_str),
        Some("SUCCESS"),
        "{:?}",
        from_p12.values
    );

    let wrong = work.write("wrong.password", "not it\n");
    let r = inspect(&[
        alice.p12.to_str().unwrap(),
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("a wrong password?") && r.stderr.contains("openssl pkcs12 -in"),
        "{}",
        r.stderr
    );
}
