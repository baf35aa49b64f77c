//! End to end: what the running gateway forwards for a certificate equals
//! what OpenSSL (and so nginx) prints for it, for hostile certificates made
//! with the openssl CLI (multi-valued RDNs, UTF-8, escapable characters,
//! serials with the high bit set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::process::Command;

use common::*;

fn openssl(work: &Workdir, args: &[&str]) {
    let (code, _, err) = run_output(Command::new("openssl").current_dir(work.path()).args(args));
    assert_eq!(code, 0, "openssl {args:?}: {err}");
}

/// A CA and a client certificate with `subject` and `serial`, made by the openssl CLI.
fn make(work: &Workdir, subject: &str, serial: &str) {
    if !work.path().join("ca.key").exists() {
        openssl(
            work,
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-utf8",
                "-subj",
                "/C=RU/O=Пример Org/CN=Client Root CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        work.write(
            "ext.cnf",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n",
        );
    }
    openssl(
        work,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "client-key.pem",
            "-out",
            "client.csr",
            "-utf8",
            "-multivalue-rdn",
            "-subj",
            subject,
        ],
    );
    openssl(
        work,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "7",
            "-extfile",
            "ext.cnf",
            "-out",
            "client.pem",
        ],
    );
}

fn after_eq(s: String) -> String {
    s.split_once('=').map(|(_, v)| v.to_string()).unwrap_or(s)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn forwarded_identity_matches_openssl_for_hostile_certificates() {
    let work = Workdir::new();
    let root = Ca::root("Server CA");
    let server = root.server(&["localhost"]);
    let server_ca = work.write("server-ca.pem", root.pem());
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let backend = Backend::start();
    make(&work, "/CN=first", "1");
    let gw = GatewayConfig::mtls("localhost", "on")
        .returns("/raw", 200, "$ssl_client_raw_cert")
        .proxy("/", backend.addr)
        .headers(&[
            ("X-Verify", "$ssl_client_verify"),
            ("X-S-DN", "$ssl_client_s_dn"),
            ("X-I-DN", "$ssl_client_i_dn"),
            ("X-S-Legacy", "$ssl_client_s_dn_legacy"),
            ("X-I-Legacy", "$ssl_client_i_dn_legacy"),
            ("X-Serial", "$ssl_client_serial"),
            ("X-Fingerprint", "$ssl_client_fingerprint"),
            ("X-Start", "$ssl_client_v_start"),
            ("X-End", "$ssl_client_v_end"),
            ("X-Remain", "$ssl_client_v_remain"),
            ("X-Escaped", "$ssl_client_escaped_cert"),
        ])
        .start(&work);
    let cases = [
        (
            "/C=RU/O=Example/OU=Dev/CN=alice/emailAddress=alice@example.com",
            "0x0A1B2C3D",
        ),
        (
            r#"/C=RU/O=Ёлка Inc/OU= lead#space /CN=Doe, John\+Jr "Q" <x>;=\\+UID=42/CN=#hash"#,
            "0x8FEDCBA98765432100",
        ),
        ("/CN=tab\there/O=emoji 🔐/L=a=b/ST=semi;colon", "1"),
        ("/DC=org/DC=example/CN=x+CN=y+O=z", "0x00FF"),
    ];
    for (subject, serial) in cases {
        make(&work, subject, serial);
        let cert = work.path().join("client.pem");
        let key = work.path().join("client-key.pem");
        let args = [
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ];
        let r = curl("localhost", gw.port(), "/api", &server_ca, &args);
        assert_eq!(r.status, 200, "{subject}: {}", r.body_text());
        let got = |h: &str| {
            let v = r.echoed(h);
            assert_eq!(v.len(), 1, "{subject}: {h} = {v:?}");
            v[0].clone()
        };
        let x = |a: &[&str]| openssl_x509(&cert, a);
        assert_eq!(got("x-verify"), "SUCCESS");
        assert_eq!(
            got("x-s-dn"),
            after_eq(x(&["-subject", "-nameopt", "RFC2253"])),
            "{subject}"
        );
        assert_eq!(
            got("x-i-dn"),
            after_eq(x(&["-issuer", "-nameopt", "RFC2253"])),
            "{subject}"
        );
        assert_eq!(
            got("x-s-legacy"),
            x(&["-subject", "-nameopt", "compat"])
                .trim_start_matches("subject=")
                .to_string(),
            "{subject}"
        );
        assert_eq!(
            got("x-i-legacy"),
            x(&["-issuer", "-nameopt", "compat"])
                .trim_start_matches("issuer=")
                .to_string(),
            "{subject}"
        );
        assert_eq!(got("x-serial"), after_eq(x(&["-serial"])), "{subject}");
        assert_eq!(
            got("x-fingerprint"),
            after_eq(x(&["-fingerprint", "-sha1"]))
                .replace(':', "")
                .to_lowercase()
        );
        assert_eq!(got("x-start"), after_eq(x(&["-startdate"])));
        assert_eq!(got("x-end"), after_eq(x(&["-enddate"])));
        // Issued with -days 7: 7 whole days in the second of issue, 6 after.
        let remain = got("x-remain");
        assert!(remain == "6" || remain == "7", "x-remain {remain}");
        let pem = std::fs::read_to_string(&cert).unwrap();
        assert_eq!(got("x-escaped"), percent_encode(&pem));
        let raw = curl("localhost", gw.port(), "/raw", &server_ca, &args);
        assert_eq!(
            raw.body_text(),
            pem,
            "raw cert is the leaf PEM with its trailing LF"
        );
    }
}
