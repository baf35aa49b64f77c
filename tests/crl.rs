//! Revocation with CRLs (`crl`, nginx's `ssl_crl`): every CA of the chain
//! needs a CRL by default, revoked and expired-CRL cases give nginx's
//! reasons, and `crl_check` / `crl_expired` change that as documented.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use common::*;

struct Setup {
    work: Workdir,
    root: Ca,
    int: Ca,
    ca: std::path::PathBuf,
}

fn setup() -> Setup {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let int = pki.root.intermediate("Issuing CA");
    Setup {
        work,
        root: pki.root,
        int,
        ca: pki.ca,
    }
}

fn start(s: &Setup, crl_pem: &str, extra: &str) -> Gateway {
    s.work.write("crl.pem", crl_pem);
    GatewayConfig::mtls("localhost", "on")
        .client_auth_key("verify_depth", 2)
        .client_auth_key("crl", "crl.pem")
        .client_auth_extra(extra)
        .returns("/", 200, "$ssl_client_verify")
        .start(&s.work)
}

/// (status, body) for a client presenting `leaf` with its chain below the root.
fn ask(s: &Setup, gw: &Gateway, leaf: &Leaf, name: &str) -> (u16, String) {
    let c = s
        .work
        .write(&format!("{name}.pem"), leaf.chain_without_root());
    let k = s.work.write(&format!("{name}-key.pem"), &leaf.key_pem);
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &s.ca,
        &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
    );
    (r.status, r.body_text())
}

fn rejected_with(gw: &Gateway, got: (u16, String), reason: &str) {
    assert_eq!(got.0, 400, "want a 400 for {reason}, got {got:?}");
    assert!(
        wait_for_log_count(gw, reason, 1),
        "log lacks {reason}:\n{}",
        gw.logs()
    );
}

#[test]
fn every_ca_in_the_chain_needs_a_crl() {
    let s = setup();
    let direct = s.root.client("direct");
    let under_int = s.int.client("under-int");
    let gw = start(&s, &s.root.crl(&[], 30), "");
    assert_eq!(ask(&s, &gw, &direct, "d"), (200, "SUCCESS".into()));
    rejected_with(
        &gw,
        ask(&s, &gw, &under_int, "u"),
        "(3:unable to get certificate CRL)",
    );
    drop(gw);
    // Both CRLs in one file: both pass.
    let both = [s.root.crl(&[], 30), s.int.crl(&[], 30)].concat();
    let gw = start(&s, &both, "");
    assert_eq!(ask(&s, &gw, &direct, "d"), (200, "SUCCESS".into()));
    assert_eq!(ask(&s, &gw, &under_int, "u"), (200, "SUCCESS".into()));
}

#[test]
fn revoked_certificates_and_revoked_intermediates_are_refused() {
    let s = setup();
    let good = s.int.client("good");
    let bad = s.int.client("bad");
    let other_int = s.root.intermediate("Revoked Issuing CA");
    let under_revoked_int = other_int.client("orphan");
    // Revoke `bad` in the intermediate's CRL and the second intermediate in the root's.
    let other_int_leaf = Leaf {
        cert_pem: other_int.pem(),
        key_pem: String::new(),
        der: other_int.der(),
        issuers: vec![],
    };
    let crls = [
        s.root.crl(&[&other_int_leaf], 30),
        s.int.crl(&[&bad], 30),
        other_int.crl(&[], 30),
    ]
    .concat();
    let gw = start(&s, &crls, "");
    assert_eq!(ask(&s, &gw, &good, "g"), (200, "SUCCESS".into()));
    rejected_with(&gw, ask(&s, &gw, &bad, "b"), "(23:certificate revoked)");
    let before = gw.logs().matches("(23:certificate revoked)").count();
    let got = ask(&s, &gw, &under_revoked_int, "o");
    assert_eq!(got.0, 400);
    assert!(wait_for_log_count(
        &gw,
        "(23:certificate revoked)",
        before + 1
    ));
}

#[test]
fn expired_crl_rejects_unless_accepted() {
    let s = setup();
    let leaf = s.root.client("alice");
    let revoked = s.root.client("mallory");
    let stale = s.root.crl(&[&revoked], -1);
    let gw = start(&s, &stale, "");
    rejected_with(&gw, ask(&s, &gw, &leaf, "a"), "(12:CRL has expired)");
    drop(gw);
    let gw = start(&s, &stale, "crl_expired = \"accept\"");
    assert_eq!(ask(&s, &gw, &leaf, "a"), (200, "SUCCESS".into()));
    // A stale CRL still revokes what it lists.
    rejected_with(&gw, ask(&s, &gw, &revoked, "m"), "(23:certificate revoked)");
}

#[test]
fn crl_check_leaf_needs_only_the_issuers_crl() {
    let s = setup();
    let leaf = s.int.client("alice");
    let gw = start(&s, &s.int.crl(&[], 30), "crl_check = \"leaf\"");
    assert_eq!(ask(&s, &gw, &leaf, "a"), (200, "SUCCESS".into()));
    drop(gw);
    let gw = start(&s, &s.int.crl(&[], 30), "");
    rejected_with(
        &gw,
        ask(&s, &gw, &leaf, "a"),
        "(3:unable to get certificate CRL)",
    );
}
