//! nginx's measured client-auth matrix: every kind of client certificate under
//! `verify_client = on | optional | optional_no_ca`, over TLS 1.2 and 1.3,
//! with curl (OpenSSL) as the client and a real backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use common::*;

struct Case {
    name: &'static str,
    /// (cert chain PEM, key PEM); None = no certificate.
    identity: Option<(String, String)>,
    /// Expected per mode (on, optional, optional_no_ca): Ok(verify header) or Err(400 reason in log).
    expect: [Result<&'static str, &'static str>; 3],
}

const NO_CERT_400: &str = "client sent no required SSL certificate";

#[test]
fn every_cell_of_the_nginx_matrix() {
    let work = Workdir::new();
    let pki = TestPki::with(
        &work,
        "Client Root CA",
        &["on.test", "optional.test", "noca.test"],
    );
    let (root, ca) = (&pki.root, pki.ca.clone());
    let other = Ca::root("Rogue Root CA");
    let int = root.intermediate("Issuing CA");
    let backend = Backend::start();

    let valid = root.client("alice");
    let expired = root.leaf(LeafSpec::client("old").expired());
    let future = root.leaf(LeafSpec::client("early").not_yet_valid());
    let unknown = other.client("mallory");
    let unknown_expired = other.leaf(LeafSpec::client("mallory-old").expired());
    let selfsigned = LeafSpec::client("selfie").self_signed();
    let missing_int = int.client("bob");
    let id = |l: &Leaf| Some((l.cert_pem.clone(), l.key_pem.clone()));

    let cases = [
        Case {
            name: "no certificate",
            identity: None,
            expect: [Err(NO_CERT_400), Ok("NONE"), Ok("NONE")],
        },
        Case {
            name: "valid",
            identity: id(&valid),
            expect: [Ok("SUCCESS"), Ok("SUCCESS"), Ok("SUCCESS")],
        },
        Case {
            name: "expired",
            identity: id(&expired),
            expect: [Err("(10:certificate has expired)"); 3],
        },
        Case {
            name: "not yet valid",
            identity: id(&future),
            expect: [Err("(9:certificate is not yet valid)"); 3],
        },
        Case {
            name: "unknown CA",
            identity: id(&unknown),
            expect: [
                Err("(21:unable to verify the first certificate)"),
                Err("(21:unable to verify the first certificate)"),
                Ok("FAILED:unable to verify the first certificate"),
            ],
        },
        Case {
            name: "unknown CA and expired",
            identity: id(&unknown_expired),
            expect: [Err("(10:certificate has expired)"); 3],
        },
        Case {
            name: "self-signed",
            identity: id(&selfsigned),
            expect: [
                Err("(18:self-signed certificate)"),
                Err("(18:self-signed certificate)"),
                Ok("FAILED:self-signed certificate"),
            ],
        },
        Case {
            name: "intermediate missing",
            identity: id(&missing_int),
            expect: [
                Err("(21:unable to verify the first certificate)"),
                Err("(21:unable to verify the first certificate)"),
                Ok("FAILED:unable to verify the first certificate"),
            ],
        },
    ];

    let mut config = GatewayConfig::new();
    for (name, mode) in [
        ("on.test", "on"),
        ("optional.test", "optional"),
        ("noca.test", "optional_no_ca"),
    ] {
        config = config
            .server(name)
            .client_auth(mode, "ca.pem")
            .proxy("/", backend.addr)
            .header("X-SSL-Client-Verify", "$ssl_client_verify")
            .header("X-SSL-Client-DN", "$ssl_client_s_dn");
    }
    let gw = config.start(&work);

    let mut failures = Vec::new();
    for tls in [
        ["--tlsv1.2", "--tls-max", "1.2"],
        ["--tlsv1.3", "--tls-max", "1.3"],
    ] {
        for (i, case) in cases.iter().enumerate() {
            let mut files = Vec::new();
            if let Some((cert, key)) = &case.identity {
                files.push(work.write(&format!("c{i}.pem"), cert));
                files.push(work.write(&format!("c{i}-key.pem"), key));
            }
            for (m, host) in ["on.test", "optional.test", "noca.test"].iter().enumerate() {
                let mut args: Vec<&str> = tls.to_vec();
                if !files.is_empty() {
                    args.extend([
                        "--cert",
                        files[0].to_str().unwrap(),
                        "--key",
                        files[1].to_str().unwrap(),
                    ]);
                }
                let r = curl(host, gw.port(), "/api/mtls", &ca, &args);
                let cell = format!("{} / {host} / {}", case.name, tls[0]);
                match case.expect[m] {
                    Ok(verify) => {
                        if r.status != 200
                            || r.echoed("x-ssl-client-verify") != vec![verify.to_string()]
                        {
                            failures.push(format!(
                                "{cell}: want 200 {verify}, got {} {:?} {}",
                                r.status,
                                r.echoed("x-ssl-client-verify"),
                                r.stderr
                            ));
                        }
                    }
                    Err(log) => {
                        let expected_page = if log == NO_CERT_400 {
                            "No required SSL certificate was sent"
                        } else {
                            "The SSL certificate error"
                        };
                        if r.status != 400 || !r.body_text().contains(expected_page) {
                            failures.push(format!(
                                "{cell}: want 400 {expected_page:?}, got {} {}",
                                r.status,
                                r.body_text()
                            ));
                        }
                        // The reason nginx would log, once per rejected request.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        if !gw.logs().contains(log) {
                            failures.push(format!("{cell}: log lacks {log:?}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) differ from nginx:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn certificate_errors_close_the_connection_and_use_nginx_pages() {
    let work = Workdir::new();
    let pki = TestPki::new(&work);
    let ca = pki.ca.clone();
    let expired = pki.root.leaf(LeafSpec::client("old").expired());
    let cert = work.write("c.pem", &expired.cert_pem);
    let key = work.write("k.pem", &expired.key_pem);
    let gw = GatewayConfig::mtls("localhost", "on")
        .returns("/", 200, "never")
        .start(&work);
    // No certificate: 496-style page; bad certificate: 495-style page (HTTP/1.1).
    let r = curl("localhost", gw.port(), "/", &ca, &["--http1.1"]);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.body_text().starts_with(
        "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>mtls-gateway"
    ), "{}", r.body_text());
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &ca,
        &[
            "--http1.1",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        r.body_text()
            .contains("<center>The SSL certificate error</center>")
    );
    assert!(!r.body_text().contains("never"));
    // HTTP/2: same page, no Connection header (forbidden in h2).
    let r = curl(
        "localhost",
        gw.port(),
        "/",
        &ca,
        &[
            "--http2",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.header("connection").is_none());
    assert!(r.body_text().contains("The SSL certificate error"));
}
