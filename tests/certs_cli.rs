//! `mtls-gateway certs`: the CA folder, client certificates and `.p12`
//! files, revocation and CRLs, checked with the openssl CLI, curl and the
//! gateway itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod certs_support;
// This file makes its PKI with `mtls-gateway certs`, not with common's rcgen helpers.
#[allow(unused_imports)]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use certs_support::*;
use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn openssl(args: &[&str]) -> (i32, String) {
    let (code, out, err) = run_output(Command::new("openssl").args(args));
    (code, format!("{out}{err}"))
}

/// `certs client --ca CA --cn x --out OUT EXTRA`, which must fail; its stderr.
fn client_x_err(ca: &str, out: &str, extra: &[&str]) -> String {
    let mut args = vec!["client", "--ca", ca, "--cn", "x", "--out", out];
    args.extend_from_slice(extra);
    certs_err(&args)
}

/// `openssl x509 -checkend`: whether the certificate is still valid in `days` days.
fn valid_in_days(cert: &Path, days: u32) -> bool {
    let (code, _) = openssl(&[
        "x509",
        "-noout",
        "-checkend",
        &(u64::from(days) * 86400).to_string(),
        "-in",
        cert.to_str().unwrap(),
    ]);
    code == 0
}

#[test]
fn init_makes_a_ca_folder_that_the_gateway_and_openssl_accept() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &["--org", "Example", "--country", "RU"]);
    for (name, expected) in [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("client-ca.crt", 0o644),
        ("client-ca.key", 0o600),
        ("ca-bundle.crt", 0o644),
        ("localhost.pem", 0o644),
        ("localhost-key.pem", 0o600),
        ("gateway.toml", 0o644),
        ("index.toml", 0o644),
    ] {
        assert_eq!(mode(&pki.path(name)), expected, "{name}");
    }

    // The generated configuration loads as is.
    let check = gateway_cmd(
        &[
            "check",
            "--config",
            pki.path("gateway.toml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    let ca = pki.path("ca.crt");
    let server = pki.path("localhost.pem");
    let (code, out) = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        ca.to_str().unwrap(),
        server.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let san = openssl_x509(&server, &["-ext", "subjectAltName"]);
    assert!(
        san.contains("DNS:localhost") && san.contains("IP Address:127.0.0.1"),
        "{san}"
    );
    let text = openssl_x509(&server, &["-text"]);
    assert!(
        text.contains("prime256v1"),
        "ECDSA P-256 by default:\n{text}"
    );

    // The client CA is an intermediate of the root, for clients only, and
    // ca-bundle.crt holds both.
    let client_ca = pki.path("client-ca.crt");
    let (code, out) = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        client_ca.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let bc = openssl_x509(&client_ca, &["-ext", "basicConstraints,extendedKeyUsage"]);
    assert!(
        bc.contains("CA:TRUE, pathlen:0") && bc.contains("TLS Web Client Authentication"),
        "{bc}"
    );
    assert_eq!(
        subject_rfc2253(&client_ca),
        "CN=Example Client CA,O=Example,C=RU"
    );
    let bundle = std::fs::read_to_string(pki.path("ca-bundle.crt")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);

    // Validity defaults: CAs 10 years, server 1 year.
    assert!(valid_in_days(&ca, 3649) && !valid_in_days(&ca, 3651));
    assert!(valid_in_days(&server, 364) && !valid_in_days(&server, 366));

    // Serials are 16 random bytes.
    assert_eq!(serial(&server).len(), 32);
    assert_ne!(serial(&server), serial(&ca));
}

#[test]
fn key_types_rsa_and_ed25519() {
    let work = Workdir::new();
    for (key_type, expected) in [
        ("rsa2048", "Public-Key: (2048 bit)"),
        ("rsa4096", "Public-Key: (4096 bit)"),
        ("ed25519", "ED25519"),
    ] {
        let pki = Pki::init(work.path(), key_type, &["--key-type", key_type]);
        for cert in ["ca.crt", "client-ca.crt", "localhost.pem"] {
            let text = openssl_x509(&pki.path(cert), &["-text"]);
            assert!(text.contains(expected), "{key_type} {cert}:\n{text}");
        }
        let check = gateway_cmd(
            &[
                "check",
                "--config",
                pki.path("gateway.toml").to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(
            check.code, 0,
            "{key_type}: {}{}",
            check.stdout, check.stderr
        );
        let client = pki.client("user", &["--key-type", key_type]);
        let text = openssl_x509(&client.cert, &["-text"]);
        assert!(text.contains(expected), "{key_type} client:\n{text}");
        let (code, out) = pkcs12_info(&client.p12, &pki.password_file);
        assert_eq!(code, 0, "{key_type}: {out}");
    }
}

#[test]
fn client_certificate_chain_and_p12_that_openssl_3_reads_without_legacy() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &["--org", "Example", "--country", "RU"]);
    let alice = pki.client("alice", &["--email", "alice@example.com", "--ou", "Dev"]);

    assert_eq!(
        subject_rfc2253(&alice.cert),
        "emailAddress=alice@example.com,CN=alice,OU=Dev,O=Example,C=RU",
        "the seed's DN, O and C inherited from the CA"
    );
    assert_eq!(mode(&alice.key), 0o600);
    assert_eq!(mode(&alice.p12), 0o600);
    assert_eq!(mode(&alice.cert), 0o644);
    let ext = openssl_x509(
        &alice.cert,
        &["-ext", "extendedKeyUsage,basicConstraints,subjectAltName"],
    );
    assert!(
        ext.contains("TLS Web Client Authentication") && ext.contains("CA:FALSE"),
        "{ext}"
    );
    assert!(ext.contains("email:alice@example.com"), "{ext}");
    assert!(!ext.contains("Server Authentication"), "{ext}");
    assert!(valid_in_days(&alice.cert, 364) && !valid_in_days(&alice.cert, 366));

    let ca = pki.path("ca.crt");
    let client_ca = pki.path("client-ca.crt");
    let (code, out) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        "-untrusted",
        client_ca.to_str().unwrap(),
        alice.cert.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    // The chain file is the leaf then the client CA: enough for any server
    // that trusts only the root.
    let (code, out) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        "-untrusted",
        alice.chain.to_str().unwrap(),
        alice.cert.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");

    // OpenSSL 3 without -legacy: PBES2/AES-256 and a SHA-256 MAC, three
    // certificates (leaf, client CA, root) and the key.
    let (code, info) = pkcs12_info(&alice.p12, &pki.password_file);
    assert_eq!(code, 0, "{info}");
    assert!(info.contains("MAC: sha256"), "{info}");
    assert!(info.contains("PBES2, PBKDF2, AES-256-CBC"), "{info}");
    assert!(info.contains("Shrouded Keybag"), "{info}");
    assert_eq!(info.matches("Certificate bag").count(), 3, "{info}");
    for who in [
        "CN = alice",
        "CN = Example Client CA",
        "CN = Example Root CA",
    ] {
        assert!(info.contains(who), "{who} in\n{info}");
    }
    // The key inside is the key beside it.
    let (code, p12_key, err) = run_output(
        Command::new("openssl")
            .args(["pkcs12", "-nocerts", "-nodes", "-in"])
            .arg(&alice.p12)
            .arg("-passin")
            .arg(format!("file:{}", pki.password_file.display())),
    );
    assert_eq!(code, 0, "{err}");
    let p12_key_file = work.write("p12-key.pem", p12_key);
    let pubkey = |key: &Path| {
        let (code, out, err) = run_output(
            Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(key),
        );
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(pubkey(&p12_key_file), pubkey(&alice.key));
    // A wrong password is refused (the MAC is checked).
    let wrong = work.write("wrong.password", "nope\n");
    let (code, _) = pkcs12_info(&alice.p12, &wrong);
    assert_ne!(code, 0);
}

#[test]
fn legacy_p12_is_3des_with_a_sha1_mac() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let bob = pki.client("bob", &["--p12-legacy"]);
    let (code, info) = pkcs12_info(&bob.p12, &pki.password_file);
    assert_eq!(code, 0, "read without -legacy: {info}");
    assert!(info.contains("MAC: sha1"), "{info}");
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{info}");
    assert!(!info.contains("RC2"), "{info}");
}

#[test]
fn the_password_comes_from_a_file_a_variable_or_a_terminal_never_an_argument() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let ca = pki.dir.to_str().unwrap();
    let out_dir = work.path().join("out");
    let out = out_dir.to_str().unwrap();

    let err = client_x_err(ca, out, &["--password", "secret"]);
    assert!(err.contains("unexpected argument '--password'"), "{err}");

    // No terminal (setsid), no file, no variable: a clear error, nothing written.
    let err = client_x_err(ca, out, &[]);
    assert!(
        err.contains("--password-file") && err.contains("--password-env"),
        "{err}"
    );
    assert!(!out_dir.exists());

    let empty = work.write("empty", "\n");
    let err = client_x_err(ca, out, &["--password-file", empty.to_str().unwrap()]);
    assert!(
        err.contains("empty") && err.contains(empty.to_str().unwrap()),
        "{err}"
    );

    let err = client_x_err(ca, out, &["--password-env", "MTLS_TEST_UNSET_VARIABLE"]);
    assert!(err.contains("MTLS_TEST_UNSET_VARIABLE"), "{err}");

    let done = gateway_cmd(
        &[
            "certs",
            "client",
            "--ca",
            ca,
            "--cn",
            "x",
            "--out",
            out,
            "--password-env",
            "MTLS_TEST_P12_PASSWORD",
        ],
        &[("MTLS_TEST_P12_PASSWORD", PASSWORD)],
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    // The output tells the operator how to import the file.
    assert!(
        done.stdout.contains("pk12util")
            && done.stdout.contains("Firefox")
            && done.stdout.contains("Manage certificates"),
        "{}",
        done.stdout
    );
    let (code, info) = pkcs12_info(&out_dir.join("x.p12"), &pki.password_file);
    assert_eq!(code, 0, "{info}");
}

#[test]
fn nothing_is_overwritten_without_force() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let first = pki.client("carol", &[]);
    let before = std::fs::read(&first.cert).unwrap();
    let key_before = std::fs::read(&first.key).unwrap();

    let ca = pki.dir.to_str().unwrap();
    let users = pki.path("users");
    let args = [
        "client",
        "--ca",
        ca,
        "--cn",
        "carol",
        "--out",
        users.to_str().unwrap(),
        "--password-file",
        pki.password_file.to_str().unwrap(),
    ];
    let err = certs_err(&args);
    assert!(
        err.contains("refusing to overwrite")
            && err.contains("carol.pem")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&first.cert).unwrap(), before);
    assert_eq!(std::fs::read(&first.key).unwrap(), key_before);

    let mut forced = args.to_vec();
    forced.push("--force");
    certs_ok(&forced);
    assert_ne!(
        std::fs::read(&first.cert).unwrap(),
        before,
        "a new certificate"
    );
    assert_eq!(mode(&first.key), 0o600, "still private after replacing");

    // init refuses an existing CA folder too, naming the CA key and saying
    // what --force would cost: a new CA that invalidates every certificate.
    let err = certs_err(&["init", "--out", ca, "--server-name", "localhost"]);
    assert!(err.contains("ca.key") && err.contains("--force"), "{err}");
    assert!(
        err.contains("would make a NEW CA")
            && err.contains("every certificate issued from this folder")
            && err.contains("would stop verifying"),
        "{err}"
    );
}

#[test]
fn a_client_certificate_cannot_outlive_its_ca_and_errors_name_the_file() {
    let work = Workdir::new();
    let pki = Pki::init(
        work.path(),
        "pki",
        &["--ca-days", "30", "--server-days", "10"],
    );
    let ca = pki.dir.to_str().unwrap();
    let pw = pki.password_file.to_str().unwrap();
    let out_dir = work.path().join("out");
    let out = out_dir.to_str().unwrap();
    let err = client_x_err(ca, out, &["--days", "365", "--password-file", pw]);
    assert!(
        err.contains("client-ca.crt") && err.contains("fewer days"),
        "{err}"
    );

    let missing = work.path().join("missing");
    let err = client_x_err(missing.to_str().unwrap(), out, &["--password-file", pw]);
    assert!(
        err.contains(&format!("{}/index.toml", missing.display())) && err.contains("certs init"),
        "{err}"
    );

    std::fs::write(pki.path("client-ca.key"), "not a key").unwrap();
    let err = client_x_err(ca, out, &["--password-file", pw]);
    assert!(
        err.contains("client-ca.key") && err.contains("private key"),
        "{err}"
    );

    // A key that belongs to another certificate is named as such.
    std::fs::copy(pki.path("ca.key"), pki.path("client-ca.key")).unwrap();
    let err = client_x_err(ca, out, &["--password-file", pw]);
    assert!(
        err.contains("client-ca.key: is not the private key of"),
        "{err}"
    );

    let err = certs_err(&[
        "init",
        "--out",
        work.path().join("bad").to_str().unwrap(),
        "--server-name",
        "not a name",
    ]);
    assert!(err.contains("`not a name`"), "{err}");
}

#[test]
fn issued_certificates_log_in_through_the_gateway_with_their_identity() {
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
            "--backend",
            &backend.addr.to_string(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let alice = pki.client("alice", &["--email", "alice@example.com", "--ou", "Dev"]);
    // The generated gateway.toml, used as it is.
    let toml = std::fs::read_to_string(pki.path("gateway.toml")).unwrap();
    let gw = Gateway::start(&pki.dir, &toml);
    let ca = pki.path("ca.crt");

    let r = alice.curl(&gw, "/api/mtls", &pki);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("X-SSL-Client-Verify"), ["SUCCESS"]);
    assert_eq!(r.echoed("X-SSL-Client-DN"), [subject_rfc2253(&alice.cert)]);
    assert_eq!(r.echoed("X-SSL-Client-Serial"), [serial(&alice.cert)]);
    assert_eq!(
        r.echoed("X-SSL-Client-Fingerprint"),
        [fingerprint(&alice.cert)]
    );
    assert_eq!(
        r.echoed("X-SSL-Client-Issuer"),
        [subject_rfc2253(&pki.path("client-ca.crt"))]
    );

    // The .p12 itself works as a client identity (curl reads it with OpenSSL).
    let r = curl(
        "localhost",
        gw.port(),
        "/api/mtls",
        &ca,
        &[
            "--cert-type",
            "P12",
            "--cert",
            &format!("{}:{PASSWORD}", alice.p12.display()),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("X-SSL-Client-Serial"), [serial(&alice.cert)]);

    // The leaf alone is enough too: the client CA is in ca-bundle.crt.
    let r = curl(
        "localhost",
        gw.port(),
        "/api/mtls",
        &ca,
        &[
            "--cert",
            alice.cert.to_str().unwrap(),
            "--key",
            alice.key.to_str().unwrap(),
        ],
    );
    assert_eq!(r.echoed("X-SSL-Client-Verify"), ["SUCCESS"]);

    // The server certificate is not a client certificate.
    let r = curl(
        "localhost",
        gw.port(),
        "/api/mtls",
        &ca,
        &[
            "--cert",
            pki.path("localhost.pem").to_str().unwrap(),
            "--key",
            pki.path("localhost-key.pem").to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 400, "{r:?}");
}

#[test]
fn revoke_writes_crls_that_openssl_and_the_gateway_apply() {
    let work = Workdir::new();
    let backend = Backend::start();
    let pki = Pki::init(work.path(), "pki", &[]);
    let alice = pki.client("alice", &[]);
    let bob = pki.client("bob", &[]);
    let ca_dir = pki.dir.to_str().unwrap();

    // Before any revocation, `certs crl` writes empty CRLs for both CAs.
    certs_ok(&["crl", "--ca", ca_dir]);
    let crl_number = |file: &str| {
        let (code, out) = openssl(&[
            "crl",
            "-noout",
            "-crlnumber",
            "-in",
            pki.path(file).to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}");
        out.trim().to_string()
    };
    assert_eq!(crl_number("client-ca.crl"), "crlNumber=0x01");

    // Revoke alice by the serial as openssl prints it with colons, lower case.
    let serial_alice = serial(&alice.cert);
    let colons: Vec<String> = serial_alice
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_lowercase())
        .collect();
    let out = certs_ok(&[
        "revoke",
        "--ca",
        ca_dir,
        &colons.join(":"),
        "--reason",
        "key-compromise",
    ]);
    assert!(out.stdout.contains(&serial_alice), "{}", out.stdout);
    assert_eq!(
        crl_number("client-ca.crl"),
        "crlNumber=0x02",
        "CRL numbers increase"
    );

    let (code, text) = openssl(&[
        "crl",
        "-noout",
        "-text",
        "-in",
        pki.path("client-ca.crl").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("Serial Number: {serial_alice}")),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(!text.contains(&serial(&bob.cert)), "{text}");
    let (code, out) = openssl(&[
        "crl",
        "-noout",
        "-in",
        pki.path("client-ca.crl").to_str().unwrap(),
        "-CAfile",
        pki.path("ca-bundle.crt").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "the client CA's CRL verifies: {out}");
    let (code, out) = openssl(&[
        "crl",
        "-noout",
        "-in",
        pki.path("ca.crl").to_str().unwrap(),
        "-CAfile",
        pki.path("ca.crt").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "the root's CRL verifies: {out}");

    let verify = |cert: &Path| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CRLfile",
            pki.path("crl.pem").to_str().unwrap(),
            "-CAfile",
            pki.path("ca.crt").to_str().unwrap(),
            "-untrusted",
            pki.path("client-ca.crt").to_str().unwrap(),
            cert.to_str().unwrap(),
        ])
    };
    let (code, out) = verify(&alice.cert);
    assert_ne!(code, 0);
    assert!(out.contains("certificate revoked"), "{out}");
    let (code, out) = verify(&bob.cert);
    assert_eq!(code, 0, "{out}");

    let list = certs_ok(&["list", "--ca", ca_dir]).stdout;
    let alice_line = list
        .lines()
        .find(|l| l.starts_with(&serial_alice))
        .expect("alice listed");
    assert!(alice_line.contains("revoked"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&serial(&bob.cert)) && l.contains("valid")),
        "{list}"
    );

    // The gateway with `crl = "crl.pem"` refuses alice and lets bob in.
    let gw = Gateway::start(
        &pki.dir,
        &pki.gateway_toml(&backend.addr.to_string(), r#"crl = "crl.pem""#),
    );
    let r = alice.curl(&gw, "/api/mtls", &pki);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(gw.logs().contains("certificate revoked"), "{}", gw.logs());
    let r = bob.curl(&gw, "/api/mtls", &pki);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("X-SSL-Client-Verify"), ["SUCCESS"]);

    // Unknown serials and the root itself are refused with the reason.
    let err = certs_err(&["revoke", "--ca", ca_dir, "0BADC0DE"]);
    assert!(
        err.contains("index.toml") && err.contains("0BADC0DE"),
        "{err}"
    );
    let err = certs_err(&["revoke", "--ca", ca_dir, &serial(&pki.path("ca.crt"))]);
    assert!(err.contains("root CA"), "{err}");
}

/// A renewal for fewer names than before keeps the others (a renewal for
/// `localhost` used to drop `127.0.0.1`), says what changed, and `certs
/// list` marks the replaced certificate superseded; `--replace-names`
/// drops names on purpose; no `--server-name` renews for the same names.
#[test]
fn server_renewal_keeps_the_previous_names_and_marks_the_old_one_superseded() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let ca = pki.dir.to_str().unwrap();
    let server = pki.path("localhost.pem");
    let old_serial = serial(&server);
    let out = certs_ok(&[
        "server",
        "--ca",
        ca,
        "--server-name",
        "localhost",
        "--force",
    ]);
    assert!(
        out.stdout
            .contains(&format!("renewing server certificate {old_serial}"))
            && out.stdout.contains("names unchanged: localhost, 127.0.0.1"),
        "{}",
        out.stdout
    );
    let san = openssl_x509(&server, &["-ext", "subjectAltName"]);
    assert!(
        san.contains("DNS:localhost") && san.contains("IP Address:127.0.0.1"),
        "the renewal dropped a name: {san}"
    );
    let renewed = serial(&server);
    assert_ne!(renewed, old_serial);
    let list = certs_ok(&["list", "--ca", ca]).stdout;
    let line = |serial: &str| {
        list.lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("{serial} not listed:\n{list}"))
            .to_string()
    };
    assert!(line(&old_serial).contains("superseded"), "{list}");
    assert!(line(&renewed).contains("valid"), "{list}");

    // Without --server-name: the same names again.
    let out = certs_ok(&["server", "--ca", ca, "--force"]);
    assert!(
        out.stdout.contains("names unchanged: localhost, 127.0.0.1"),
        "{}",
        out.stdout
    );

    // Dropping a name is said, and only on request.
    let out = certs_ok(&[
        "server",
        "--ca",
        ca,
        "--server-name",
        "localhost",
        "--replace-names",
        "--force",
    ]);
    assert!(
        out.stdout
            .contains("names dropped (--replace-names): 127.0.0.1"),
        "{}",
        out.stdout
    );
    let san = openssl_x509(&server, &["-ext", "subjectAltName"]);
    assert!(!san.contains("127.0.0.1"), "{san}");
}

/// One flag for CRL validity: `--crl-days` on `certs revoke` and `certs
/// crl` alike (`certs crl --days`, its former name, still works, hidden).
#[test]
fn crl_validity_is_one_flag_name() {
    let work = Workdir::new();
    let pki = Pki::init(work.path(), "pki", &[]);
    let ca = pki.dir.to_str().unwrap();
    let next_update = || {
        openssl(&[
            "crl",
            "-noout",
            "-nextupdate",
            "-in",
            pki.path("client-ca.crl").to_str().unwrap(),
        ])
        .1
    };
    let year = || -> i32 {
        let text = next_update();
        text.trim().rsplit(' ').nth(1).unwrap().parse().unwrap()
    };
    let now_year: i32 = time::OffsetDateTime::now_utc().year();
    certs_ok(&["crl", "--ca", ca, "--crl-days", "1000"]);
    assert!(year() >= now_year + 2, "{}", next_update());
    certs_ok(&["crl", "--ca", ca, "--days", "1"]);
    assert!(year() <= now_year + 1, "{}", next_update());
    let help = gateway_cmd(&["certs", "crl", "--help"], &[]).stdout;
    assert!(
        help.contains("--crl-days") && !help.contains("--days "),
        "{help}"
    );
    let serial_alice = serial(&pki.client("alice", &[]).cert);
    certs_ok(&["revoke", "--ca", ca, &serial_alice, "--crl-days", "1000"]);
    assert!(year() >= now_year + 2, "{}", next_update());
}
