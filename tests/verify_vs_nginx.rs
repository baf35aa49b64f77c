//! OpenSSL's verification rules, compared with a real nginx (OpenSSL 3.0)
//! on the same PKI: every certificate is sent with curl to nginx and to the
//! gateway (with the rustls client where curl's OpenSSL would refuse to
//! load the certificate itself), under `verify_client on` and
//! `optional_no_ca`, over TLS 1.2 and 1.3, and both must answer alike: the same status, the same
//! `$ssl_client_verify` where the request gets through, and the same
//! `(code:reason)` in the log where it is refused with the 400 page, or both
//! refuse the handshake. Each case also states what nginx answers, so that
//! a broken certificate generator cannot make the comparison pass
//! vacuously.
//!
//! nginx must be installed (`.ci/run` installs it); without it these tests
//! fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use common::*;
use rcgen::{
    DnType, DnValue, ExtendedKeyUsagePurpose, GeneralSubtree, KeyUsagePurpose, NameConstraints,
};

struct Case {
    name: &'static str,
    leaf: Leaf,
    /// How many issuers the client sends after the leaf.
    send_issuers: usize,
    /// nginx's `$ssl_client_verify`, or "HANDSHAKE".
    nginx_says: &'static str,
    /// Send with the rustls client (it sends any bytes as the certificate;
    /// curl's OpenSSL does not load what OpenSSL cannot decode).
    rustls_client: bool,
}

impl Case {
    fn new(name: &'static str, leaf: Leaf, send_issuers: usize, nginx_says: &'static str) -> Case {
        Case {
            name,
            leaf,
            send_issuers,
            nginx_says,
            rustls_client: false,
        }
    }

    fn with_rustls_client(mut self) -> Case {
        self.rustls_client = true;
        self
    }
}

/// The errors `optional_no_ca` lets through.
fn tolerated(reason: &str) -> bool {
    [
        "self-signed certificate",
        "self-signed certificate in certificate chain",
        "unable to get local issuer certificate",
        "unable to verify the first certificate",
    ]
    .contains(&reason)
}

/// The outcome `nginx_says` implies in a mode.
fn expected(nginx_says: &str, mode: &str) -> Outcome {
    match nginx_says.strip_prefix("FAILED:") {
        _ if nginx_says == "HANDSHAKE" => Outcome::Handshake,
        None => Outcome::Verified(nginx_says.to_string()),
        Some(reason) if mode == "optional_no_ca" && tolerated(reason) => {
            Outcome::Verified(nginx_says.to_string())
        }
        Some(reason) => Outcome::Refused(reason.to_string()),
    }
}

/// `Refused("26:unsuitable certificate purpose")` → the reason without the
/// code, for comparing with [`expected`].
fn without_code(o: &Outcome) -> Outcome {
    match o {
        Outcome::Refused(r) => {
            Outcome::Refused(r.split_once(':').map_or(r.as_str(), |(_, t)| t).to_string())
        }
        other => other.clone(),
    }
}

const MODES: [&str; 2] = ["on", "optional_no_ca"];
/// The gateway's server name for each mode (nginx has a port for each).
const HOSTS: [&str; 2] = ["on.test", "noca.test"];
/// The same versions for the rustls client.
const VERSIONS: [&[&rustls::SupportedProtocolVersion]; 2] =
    [&[&rustls::version::TLS12], &[&rustls::version::TLS13]];
const TLS: [[&str; 3]; 2] = [
    ["--tlsv1.2", "--tls-max", "1.2"],
    ["--tlsv1.3", "--tls-max", "1.3"],
];

/// Sends every case to nginx and to the gateway, both trusting `ca_pem`,
/// and asserts they agree with each other and with `nginx_says`.
fn compare(cases: &[Case], ca_pem: &str) {
    let work = Workdir::new();
    let root = Ca::root("Server Root CA");
    let server = root.server(&HOSTS);
    let server_ca = work.write("server-ca.pem", root.pem());
    let server_cert = work.write("server.pem", server.chain(0));
    let server_key = work.write("server-key.pem", &server.key_pem);
    let client_ca = work.write("client-ca.pem", ca_pem);

    let mut nginx_servers = String::new();
    for (i, mode) in MODES.iter().enumerate() {
        nginx_servers.push_str(&format!(
            "  server {{\n    listen 127.0.0.1:{{port{i}}} ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    \
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
             ssl_client_certificate {ca};\n    ssl_verify_client {mode};\n    \
             location / {{ return 200 \"$ssl_client_verify\"; }}\n  }}\n",
            cert = server_cert.display(),
            key = server_key.display(),
            ca = client_ca.display(),
        ));
    }
    let nginx = Nginx::start(work.path(), &nginx_servers, MODES.len());

    let mut gateway_config = String::new();
    for (mode, host) in MODES.iter().zip(HOSTS) {
        gateway_config.push_str(&format!(
            r#"
[[server]]
listen = "127.0.0.1:0"
server_name = "{host}"
[server.tls]
certificate = "server.pem"
certificate_key = "server-key.pem"
[server.client_auth]
verify_client = "{mode}"
client_certificate = "client-ca.pem"
[[server.location]]
prefix = "/"
return = {{ status = 200, text = "$ssl_client_verify" }}
"#
        ));
    }
    let gw = Gateway::start(work.path(), &gateway_config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server_ca_pem = root.pem();

    let mut failures = Vec::new();
    for (c, case) in cases.iter().enumerate() {
        let chain_pem = case.leaf.chain(case.send_issuers);
        let cert = work.write(&format!("c{c}.pem"), &chain_pem);
        let key = work.write(&format!("c{c}-key.pem"), &case.leaf.key_pem);
        for (t, tls) in TLS.iter().enumerate() {
            for (m, mode) in MODES.iter().enumerate() {
                let mut args: Vec<&str> = tls.to_vec();
                args.extend([
                    "--cert",
                    cert.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ]);
                let send = |port: u16| -> (u16, String) {
                    if !case.rustls_client {
                        let r = curl(HOSTS[m], port, "/", &server_ca, &args);
                        return (r.status, r.body_text());
                    }
                    let mut opts = rustls_client::ClientOpts::new(&server_ca_pem);
                    opts.identity = Some((&chain_pem, &case.leaf.key_pem));
                    opts.versions = VERSIONS[t];
                    let request = rustls_client::get(HOSTS[m], "/", false)
                        .body(rustls_client::empty())
                        .expect("request");
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    // A refused certificate ends the connection before any
                    // response (TLS 1.3 clients learn it after their Finished).
                    match runtime.block_on(rustls_client::send(
                        addr,
                        HOSTS[m],
                        rustls_client::config(&opts),
                        request,
                    )) {
                        Ok(o) => (o.response.status().as_u16(), o.text()),
                        Err(_) => (0, String::new()),
                    }
                };
                let seen_nginx = outcome(|| send(nginx.ports[m]), || nginx.error_log());
                let seen_gw = outcome(|| send(gw.port()), || gw.logs());
                let want = expected(case.nginx_says, mode);
                let cell = format!("{} / {mode} / {}", case.name, tls[0]);
                if without_code(&seen_nginx) != want {
                    failures.push(format!(
                        "{cell}: nginx answered {seen_nginx:?}, the test expects {want:?}"
                    ));
                }
                if seen_gw != seen_nginx {
                    failures.push(format!("{cell}: gateway {seen_gw:?}, nginx {seen_nginx:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn partner_constraints() -> NameConstraints {
    NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("partner.example".into()),
            GeneralSubtree::Rfc822Name("partner.example".into()),
        ],
        excluded_subtrees: vec![],
    }
}

fn corp_exclusions() -> NameConstraints {
    NameConstraints {
        permitted_subtrees: vec![],
        excluded_subtrees: vec![
            GeneralSubtree::DnsName("corp.example".into()),
            GeneralSubtree::Rfc822Name("corp.example".into()),
        ],
    }
}

#[test]
fn name_constraints_apply_to_the_subject_like_nginx() {
    let root = Ca::root("Client Root CA");
    let partner = root.intermediate_with("Partner CA", |p| {
        p.name_constraints = Some(partner_constraints());
    });
    let excluding = root.intermediate_with("Excluding CA", |p| {
        p.name_constraints = Some(corp_exclusions());
    });
    let mut in_san = LeafSpec::cn_only("admin.corp.example");
    in_san.sans = vec!["alice.partner.example".into()];
    let mut excluded_san = LeafSpec::cn_only("bob");
    excluded_san.sans = vec!["admin.corp.example".into()];
    let mut utf8_email = LeafSpec::cn_only("carol");
    utf8_email.extra_dn.push((
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        DnValue::Utf8String("carol@partner.example".into()),
    ));
    let cases = [
        Case::new(
            "CN outside the permitted DNS subtree, no SAN",
            partner.leaf(LeafSpec::cn_only("admin.corp.example")),
            1,
            "FAILED:permitted subtree violation",
        ),
        Case::new(
            "emailAddress outside the permitted rfc822 subtree",
            partner.leaf(LeafSpec::cn_only("ceo").email("ceo@corp.example")),
            1,
            "FAILED:permitted subtree violation",
        ),
        Case::new(
            "CN and emailAddress inside",
            partner.leaf(LeafSpec::cn_only("alice.partner.example").email("alice@partner.example")),
            1,
            "SUCCESS",
        ),
        Case::new(
            "CN that is not a host name",
            partner.leaf(LeafSpec::cn_only("Alice Smith")),
            1,
            "SUCCESS",
        ),
        Case::new(
            "CN outside but a DNS SAN inside: the CN is not checked",
            partner.leaf(in_san),
            1,
            "SUCCESS",
        ),
        Case::new(
            "emailAddress as UTF8String under name constraints",
            partner.leaf(utf8_email),
            1,
            "FAILED:unsupported or invalid name syntax",
        ),
        Case::new(
            "CN in an excluded DNS subtree",
            excluding.leaf(LeafSpec::cn_only("admin.corp.example")),
            1,
            "FAILED:excluded subtree violation",
        ),
        Case::new(
            "emailAddress in an excluded rfc822 subtree",
            excluding.leaf(LeafSpec::cn_only("ceo").email("ceo@corp.example")),
            1,
            "FAILED:excluded subtree violation",
        ),
        Case::new(
            "DNS SAN in an excluded subtree",
            excluding.leaf(excluded_san),
            1,
            "FAILED:excluded subtree violation",
        ),
        Case::new(
            "expired, and CN outside: name constraints are checked last",
            partner.leaf(LeafSpec::cn_only("admin.corp.example").expired()),
            1,
            "FAILED:permitted subtree violation",
        ),
    ];
    compare(&cases, &root.pem());
}

#[test]
fn the_ssl_client_purpose_applies_in_full_like_nginx() {
    let root = Ca::root("Client Root CA");
    let server_only_root = Ca::root_with("Server-Only Root CA", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let no_cert_sign = root.intermediate_with("Signing-Only CA", |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    });
    let with_ku = |ku: Vec<KeyUsagePurpose>| {
        let mut spec = LeafSpec::client("ku");
        spec.key_usages = ku;
        spec
    };
    let mut server_eku = LeafSpec::client("server-eku");
    server_eku.eku = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Netscape cert type (2.16.840.1.113730.1.1), a BIT STRING: bit 0 SSL
    // client (0x80), bit 1 SSL server (0x40).
    const NS_CERT_TYPE: [u64; 7] = [2, 16, 840, 1, 113730, 1, 1];
    let cases = [
        Case::new(
            "keyUsage keyEncipherment only",
            root.leaf(with_ku(vec![KeyUsagePurpose::KeyEncipherment])),
            0,
            "FAILED:unsuitable certificate purpose",
        ),
        Case::new(
            "keyUsage keyAgreement",
            root.leaf(with_ku(vec![KeyUsagePurpose::KeyAgreement])),
            0,
            "SUCCESS",
        ),
        Case::new("no keyUsage", root.leaf(with_ku(vec![])), 0, "SUCCESS"),
        Case::new(
            "Netscape cert type SSL server only",
            root.leaf(LeafSpec::client("ns-server").extension(
                &NS_CERT_TYPE,
                vec![0x03, 0x02, 0x06, 0x40],
                false,
            )),
            0,
            "FAILED:unsuitable certificate purpose",
        ),
        Case::new(
            "Netscape cert type SSL client",
            root.leaf(LeafSpec::client("ns-client").extension(
                &NS_CERT_TYPE,
                vec![0x03, 0x02, 0x07, 0x80],
                false,
            )),
            0,
            "SUCCESS",
        ),
        Case::new(
            "extendedKeyUsage serverAuth only",
            root.leaf(server_eku),
            0,
            "FAILED:unsuitable certificate purpose",
        ),
        Case::new(
            "issuer whose keyUsage lacks keyCertSign",
            no_cert_sign.leaf(LeafSpec::client("under-signing-only")),
            1,
            "FAILED:key usage does not include certificate signing",
        ),
        Case::new(
            "trust anchor whose extendedKeyUsage lacks clientAuth",
            server_only_root.leaf(LeafSpec::client("under-server-root")),
            0,
            "FAILED:unsuitable certificate purpose",
        ),
    ];
    compare(&cases, &format!("{}{}", root.pem(), server_only_root.pem()));
}

#[test]
fn a_ca_certificate_as_client_certificate_is_judged_like_nginx() {
    let root = Ca::root("Client Root CA");
    let int = root.intermediate("Issuing CA");
    let ca_leaf = |cn: &str, ku: Vec<KeyUsagePurpose>| {
        let mut spec = LeafSpec::client(cn);
        spec.is_ca = true;
        spec.key_usages = ku;
        spec
    };
    let cases = [
        Case::new(
            "CA:TRUE with digitalSignature, under the root",
            root.leaf(ca_leaf(
                "ca-leaf",
                vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                ],
            )),
            0,
            "SUCCESS",
        ),
        Case::new(
            "CA:TRUE with digitalSignature, under an intermediate",
            int.leaf(ca_leaf(
                "ca-leaf-2",
                vec![KeyUsagePurpose::DigitalSignature],
            )),
            1,
            "SUCCESS",
        ),
        Case::new(
            "CA:TRUE with keyCertSign only",
            root.leaf(ca_leaf("ca-leaf-3", vec![KeyUsagePurpose::KeyCertSign])),
            0,
            "FAILED:unsuitable certificate purpose",
        ),
        Case::new(
            "CA:TRUE and expired",
            root.leaf(ca_leaf("ca-leaf-4", vec![KeyUsagePurpose::DigitalSignature]).expired()),
            0,
            "FAILED:certificate has expired",
        ),
    ];
    compare(&cases, &root.pem());
}

#[test]
fn critical_extensions_are_judged_like_nginx() {
    let root = Ca::root("Client Root CA");
    // certificatePolicies { PolicyInformation { 1.2.3.4 } }
    let policies = vec![0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04];
    let policy_int = root.intermediate_with("Policy CA", |p| {
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 32], policies.clone());
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    });
    let cases = [
        Case::new(
            "unknown critical extension: the handshake completes, then the 400 page",
            root.leaf(LeafSpec::client("crit").extension(
                &[1, 3, 6, 1, 4, 1, 99999, 7],
                vec![0x05, 0x00],
                true,
            )),
            0,
            "FAILED:unhandled critical extension",
        ),
        Case::new(
            "unknown non-critical extension",
            root.leaf(LeafSpec::client("noncrit").extension(
                &[1, 3, 6, 1, 4, 1, 99999, 7],
                vec![0x05, 0x00],
                false,
            )),
            0,
            "SUCCESS",
        ),
        Case::new(
            "critical certificatePolicies on the leaf",
            root.leaf(LeafSpec::client("policy").extension(
                &[2, 5, 29, 32],
                policies.clone(),
                true,
            )),
            0,
            "SUCCESS",
        ),
        Case::new(
            "critical certificatePolicies on the intermediate",
            policy_int.leaf(LeafSpec::client("under-policy-ca")),
            1,
            "SUCCESS",
        ),
        Case::new(
            "unknown critical extension and expired: expiry is reported last",
            root.leaf(
                LeafSpec::client("crit-old")
                    .extension(&[1, 3, 6, 1, 4, 1, 99999, 7], vec![0x05, 0x00], true)
                    .expired(),
            ),
            0,
            "FAILED:certificate has expired",
        ),
    ];
    compare(&cases, &root.pem());
}

/// Replaces the subject's CN value (a UTF8String "PLACEHOLDERX", 12 octets)
/// with `tag` and `value` of the same length.
fn patch_cn(tag: u8, value: &[u8]) -> impl FnOnce(&mut Vec<u8>) {
    assert_eq!(value.len(), 12);
    let value = value.to_vec();
    move |tbs: &mut Vec<u8>| {
        let at = find(tbs, b"\x0c\x0cPLACEHOLDERX").expect("placeholder CN");
        tbs[at] = tag;
        tbs[at + 2..at + 14].copy_from_slice(&value);
    }
}

#[test]
fn certificates_openssl_cannot_load_are_refused_like_nginx() {
    let root = Ca::root("Client Root CA");
    let placeholder = root.leaf(LeafSpec::cn_only("PLACEHOLDERX"));
    let cases = [
        Case::new(
            "UTF8String with invalid UTF-8",
            root.resign(&placeholder, patch_cn(0x0C, b"abc\xC3\x28defghij")),
            0,
            "HANDSHAKE",
        )
        .with_rustls_client(),
        Case::new(
            "UTF8String with a UTF-16 surrogate",
            root.resign(&placeholder, patch_cn(0x0C, b"ab\xED\xA0\x80cdefghi")),
            0,
            "HANDSHAKE",
        )
        .with_rustls_client(),
        Case::new(
            "BMPString with a lone surrogate",
            root.resign(
                &placeholder,
                patch_cn(0x1E, b"\xD8\x00\x00a\x00b\x00c\x00d\x00e"),
            ),
            0,
            "HANDSHAKE",
        )
        .with_rustls_client(),
        Case::new(
            "VisibleString (not allowed in a name by OpenSSL)",
            root.resign(&placeholder, patch_cn(0x1A, b"visible-name")),
            0,
            "HANDSHAKE",
        )
        .with_rustls_client(),
        Case::new(
            "PrintableString with a control byte (OpenSSL loads it)",
            root.resign(&placeholder, patch_cn(0x13, b"ctrl\x01charsxy")),
            0,
            "SUCCESS",
        )
        .with_rustls_client(),
        Case::new(
            "the same placeholder unpatched",
            root.resign(&placeholder, |_| {}),
            0,
            "SUCCESS",
        )
        .with_rustls_client(),
    ];
    compare(&cases, &root.pem());
}

/// An odd-length BMPString needs a length change: the CN is rebuilt with
/// one octet less and every enclosing length re-encoded.
#[test]
fn an_odd_length_bmp_string_is_refused_like_nginx() {
    let root = Ca::root("Client Root CA");
    let placeholder = root.leaf(LeafSpec::cn_only("PLACEHOLDERX"));
    let odd = root.resign(&placeholder, |tbs| {
        // TBS → subject is the 6th field (after [0] version).
        let (content, _) = der_tlv(tbs);
        let mut fields = fields(content);
        let bmp = der_encode(0x1E, b"\x00a\x00b\x00c\x00d\x00e\x00");
        let atv = der_encode(0x30, &[der_encode(0x06, &[0x55, 0x04, 0x03]), bmp].concat());
        fields[5] = der_encode(0x30, &der_encode(0x31, &atv));
        *tbs = der_encode(0x30, &fields.concat());
    });
    compare(
        &[Case::new("BMPString of odd length", odd, 0, "HANDSHAKE").with_rustls_client()],
        &root.pem(),
    );
}

/// The fields of a DER element's content, each as its whole TLV.
fn fields(content: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (_, r) = der_tlv(rest);
        out.push(rest[..rest.len() - r.len()].to_vec());
        rest = r;
    }
    out
}

#[test]
fn an_x509_v1_client_certificate_is_accepted_like_nginx() {
    let root = Ca::root("Client Root CA");
    let v3 = root.leaf(LeafSpec::client("legacy-v1"));
    // Drop `[0] version` and `[3] extensions`: a v1 TBSCertificate.
    let v1 = root.resign(&v3, |tbs| {
        let (content, _) = der_tlv(tbs);
        let kept: Vec<Vec<u8>> = fields(content)
            .into_iter()
            .filter(|f| f[0] != 0xA0 && f[0] != 0xA3)
            .collect();
        *tbs = der_encode(0x30, &kept.concat());
    });
    let expired_v1 = root.resign(&root.leaf(LeafSpec::client("old-v1").expired()), |tbs| {
        let (content, _) = der_tlv(tbs);
        let kept: Vec<Vec<u8>> = fields(content)
            .into_iter()
            .filter(|f| f[0] != 0xA0 && f[0] != 0xA3)
            .collect();
        *tbs = der_encode(0x30, &kept.concat());
    });
    compare(
        &[
            Case::new("v1 client certificate", v1, 0, "SUCCESS"),
            Case::new(
                "expired v1 client certificate",
                expired_v1,
                0,
                "FAILED:certificate has expired",
            ),
        ],
        &root.pem(),
    );
}

/// `failure = "handshake"` (no nginx equivalent) applies the same rules, in
/// the TLS handshake: what nginx would answer with a 400 page is a TLS
/// alert, what it accepts gets through.
#[test]
fn the_handshake_failure_mode_applies_the_same_rules() {
    let work = Workdir::new();
    let root = Ca::root("Client Root CA");
    let partner = root.intermediate_with("Partner CA", |p| {
        p.name_constraints = Some(partner_constraints());
    });
    let server = root.server(&["localhost"]);
    let ca = work.write("ca.pem", root.pem());
    work.write("server.pem", server.chain(0));
    work.write("server-key.pem", &server.key_pem);
    let gw = Gateway::start(
        work.path(),
        r#"
[[server]]
listen = "127.0.0.1:0"
server_name = "localhost"
[server.tls]
certificate = "server.pem"
certificate_key = "server-key.pem"
[server.client_auth]
verify_client = "on"
client_certificate = "ca.pem"
failure = "handshake"
[[server.location]]
prefix = "/"
return = { status = 200, text = "$ssl_client_verify" }
"#,
    );
    let mut ca_leaf = LeafSpec::client("ca-leaf");
    ca_leaf.is_ca = true;
    let mut keyenc = LeafSpec::client("keyenc");
    keyenc.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let cases = [
        (
            "CN outside the constraints",
            partner.leaf(LeafSpec::cn_only("admin.corp.example")),
            1,
            false,
        ),
        (
            "CN inside the constraints",
            partner.leaf(LeafSpec::cn_only("a.partner.example")),
            1,
            true,
        ),
        ("keyEncipherment only", root.leaf(keyenc), 0, false),
        ("CA:TRUE client certificate", root.leaf(ca_leaf), 0, true),
        (
            "unknown critical extension",
            root.leaf(LeafSpec::client("crit").extension(
                &[1, 3, 6, 1, 4, 1, 99999, 7],
                vec![0x05, 0x00],
                true,
            )),
            0,
            false,
        ),
    ];
    for (i, (name, leaf, issuers, accepted)) in cases.iter().enumerate() {
        let cert = work.write(&format!("c{i}.pem"), leaf.chain(*issuers));
        let key = work.write(&format!("k{i}.pem"), &leaf.key_pem);
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
        if *accepted {
            assert_eq!(
                (r.status, r.body_text().as_str()),
                (200, "SUCCESS"),
                "{name}"
            );
        } else {
            assert_eq!(r.status, 0, "{name}: {} {}", r.status, r.body_text());
        }
    }
}
