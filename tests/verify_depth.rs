//! nginx's `ssl_verify_depth`, as measured: `verify_depth` N allows at most N
//! intermediates (OpenSSL >= 1.1 semantics), with intermediates sent by the
//! client (layout A) or held in the CA file (layout B), and the exact
//! reasons nginx reports when the chain is too long. Plus the EKU check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use common::*;

#[test]
fn depth_zero_to_four_intermediates_against_verify_depth_zero_to_three() {
    let work = Workdir::new();
    let mut failures = Vec::new();
    // One root and chain per intermediate count, so CA files differ per case.
    let mut config = GatewayConfig::new();
    let mut clients = Vec::new();
    let server_root = Ca::root("Server CA");
    let mut names = Vec::new();
    for k in 0..=4usize {
        let root = Ca::root(&format!("Root {k}"));
        let mut issuer_chain = vec![];
        let mut ca = Ca::root(&format!("unused {k}"));
        let _ = &mut ca;
        let mut current: Option<Ca> = None;
        for j in 0..k {
            let next = match &current {
                None => root.intermediate(&format!("Int {k}.{j}")),
                Some(c) => c.intermediate(&format!("Int {k}.{j}")),
            };
            issuer_chain.push(next.pem());
            current = Some(next);
        }
        let leaf = match &current {
            None => root.client(&format!("leaf{k}")),
            Some(c) => c.client(&format!("leaf{k}")),
        };
        // Layout A: CA file = root; client sends leaf + intermediates.
        work.write(&format!("rootA{k}.pem"), root.pem());
        // Layout B: CA file = root + intermediates; client sends the leaf.
        let mut bundle = root.pem();
        for p in &issuer_chain {
            bundle.push_str(p);
        }
        work.write(&format!("rootB{k}.pem"), bundle);
        work.write(&format!("leafA{k}.pem"), leaf.chain(k));
        work.write(&format!("leafB{k}.pem"), &leaf.cert_pem);
        work.write(&format!("leaf{k}-key.pem"), &leaf.key_pem);
        for depth in 0..=3 {
            for layout in ["A", "B"] {
                let name = format!("k{k}d{depth}{}.test", layout.to_lowercase());
                names.push(name.clone());
                config = config
                    .server(&name)
                    .client_auth("optional", &format!("root{layout}{k}.pem"))
                    .client_auth_key("verify_depth", depth)
                    .returns("/", 200, "$ssl_client_verify");
                clients.push((name, k, depth, layout));
            }
        }
    }
    let server = server_root.server(&names.iter().map(String::as_str).collect::<Vec<_>>());
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let ca = work.write("server-ca.pem", server_root.pem());
    let gw = config.start(&work);
    for (name, k, depth, layout) in clients {
        let cert = work.path().join(format!("leaf{layout}{k}.pem"));
        let key = work.path().join(format!("leaf{k}-key.pem"));
        // Rejections are 400s; the reason is what nginx logs (and what
        // `$ssl_client_verify` holds), so it is read from the log.
        let want = if k <= depth {
            "SUCCESS"
        } else if layout == "A" {
            "(20:unable to get local issuer certificate)"
        } else {
            "(2:unable to get issuer certificate)"
        };
        let before = gw.logs().matches(want).count();
        let r = curl(
            &name,
            gw.port(),
            "/",
            &ca,
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        let ok = if k <= depth {
            r.status == 200 && r.body_text() == want
        } else {
            r.status == 400 && wait_for_log_count(&gw, want, before + 1)
        };
        if !ok {
            failures.push(format!("{k} intermediates, verify_depth {depth}, layout {layout}: want {want:?}, got {} {:?}", r.status, r.body_text()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn intermediate_in_ca_file_is_not_a_trust_anchor() {
    // nginx never sets X509_V_FLAG_PARTIAL_CHAIN: a CA file holding only
    // the intermediate verifies nothing.
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root", &["localhost"]);
    let ca = pki.ca;
    let int = pki.root.intermediate("Int");
    let leaf = int.client("alice");
    work.write("int.pem", int.pem());
    let cert = work.write("c.pem", leaf.chain(1));
    let key = work.write("k.pem", &leaf.key_pem);
    let config = |mode: &str| {
        GatewayConfig::plain("localhost")
            .client_auth(mode, "int.pem")
            .returns("/", 200, "$ssl_client_verify")
    };
    let gw = config("optional_no_ca").start(&work);
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &ca,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    // Error 2 is not among the errors optional_no_ca tolerates: 400.
    assert_eq!(r.status, 400);
    assert!(
        wait_for_log_count(&gw, "(2:unable to get issuer certificate)", 1),
        "{}",
        gw.logs()
    );
    // And `on` with such a file is refused at load time.
    let refused = Workdir::new();
    for f in ["int.pem", "server.pem", "server-key.pem"] {
        std::fs::copy(work.path().join(f), refused.path().join(f)).unwrap();
    }
    let logs = config("on")
        .try_start(&refused)
        .err()
        .expect("must refuse to start");
    assert!(logs.contains("no self-signed root CA"), "{logs}");
}

#[test]
fn client_certificate_needs_client_auth_eku() {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root", &["localhost"]);
    let (root, ca) = (&pki.root, pki.ca.clone());
    let mut spec = LeafSpec::client("server-only");
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let wrong = root.leaf(spec);
    let mut spec = LeafSpec::client("no-eku");
    spec.eku = vec![];
    let no_eku = root.leaf(spec);
    let gw = GatewayConfig::mtls("localhost", "on")
        .returns("/", 200, "$ssl_client_verify")
        .start(&work);
    let c = work.write("w.pem", &wrong.cert_pem);
    let k = work.write("wk.pem", &wrong.key_pem);
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &ca,
        &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
    );
    assert_eq!(r.status, 400);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        gw.logs().contains("(26:unsuitable certificate purpose)"),
        "{}",
        gw.logs()
    );
    // No EKU extension at all is acceptable (RFC 5280, OpenSSL, webpki agree).
    let c = work.write("n.pem", &no_eku.cert_pem);
    let k = work.write("nk.pem", &no_eku.key_pem);
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &ca,
        &["--cert", c.to_str().unwrap(), "--key", k.to_str().unwrap()],
    );
    assert_eq!((r.status, r.body_text().as_str()), (200, "SUCCESS"));
}
