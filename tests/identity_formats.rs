//! The verified certificate in the formats backends parse, checked at a
//! real backend by parsers that are not ours: RFC 9440 `Client-Cert` and
//! `Client-Cert-Chain` and the SAN lists with the `sfv` crate (RFC 8941),
//! the DER with `openssl x509`, and the XFCC element with a parser written
//! from Envoy's documented grammar. Client copies of every such header are
//! replaced, in every spelling; an unverified certificate fills none of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::net::IpAddr;
use std::process::{Command, Stdio};

use common::*;
use rcgen::{CertificateParams, SanType};

/// A URI SAN with every character the list and XFCC encodings must quote.
const HOSTILE_URI: &str = "spiffe://td.example/ns/a?x=\"q\",y=1;z\\w";

/// root → "Client Issuing CA" → alice with DNS, email, URI and IP SANs.
struct Pki {
    root: Ca,
    int: Ca,
    alice: Leaf,
}

fn pki(work: &Workdir) -> Pki {
    let base = TestPki::new(work);
    let int = base.root.intermediate("Client Issuing CA");
    let alice = int.leaf_with(LeafSpec::client("alice"), |p: &mut CertificateParams| {
        p.subject_alt_names = vec![
            SanType::DnsName("alice.example".try_into().unwrap()),
            SanType::DnsName("www.alice.example".try_into().unwrap()),
            SanType::Rfc822Name("alice@example.com".try_into().unwrap()),
            SanType::URI("spiffe://td.example/ns/prod/sa/alice".try_into().unwrap()),
            SanType::URI(HOSTILE_URI.try_into().unwrap()),
            SanType::IpAddress("192.0.2.7".parse::<IpAddr>().unwrap()),
            SanType::IpAddress("2001:db8::7".parse::<IpAddr>().unwrap()),
        ];
    });
    work.write("alice-int.pem", alice.chain(1));
    work.write("alice-only.pem", &alice.cert_pem);
    work.write("alice-key.pem", &alice.key_pem);
    work.write("int.pem", int.pem());
    Pki {
        root: base.root,
        int,
        alice,
    }
}

const VARS: &[(&str, &str)] = &[
    ("X-SPKI", "$ssl_client_spki_sha256"),
    ("X-FP256", "$ssl_client_fingerprint_sha256"),
    ("X-SAN-DNS", "$ssl_client_san_dns"),
    ("X-SAN-Email", "$ssl_client_san_email"),
    ("X-SAN-URI", "$ssl_client_san_uri"),
    ("X-SAN-IP", "$ssl_client_san_ip"),
    ("X-DN", "$ssl_client_s_dn"),
];

fn start(work: &Workdir, backend: &Backend, mode: &str, extra_client_auth: &str) -> Gateway {
    GatewayConfig::mtls("localhost", mode)
        .client_auth_extra(extra_client_auth)
        .server_key("identity_headers", "rfc9440")
        .proxy("/", "http://backend")
        .location_key("identity_headers", ["rfc9440", "xfcc"])
        .headers(VARS)
        .proxy("/nginx", "http://backend")
        .location_key("identity_headers", "nginx")
        .header("X-SSL-Client-Serial", "explicit-$ssl_client_serial")
        .proxy("/inherited", "http://backend")
        .returns(
            "/text",
            200,
            "uri=$ssl_client_san_uri\nspki=$ssl_client_spki_sha256\n",
        )
        .upstream("backend", [backend.addr])
        .start(work)
}

fn get(work: &Workdir, gw: &Gateway, cert: &str, path: &str, args: &[&str]) -> CurlResponse {
    curl_cert(
        "localhost",
        gw.port(),
        path,
        &work.path().join("ca.pem"),
        (&work.path().join(cert), &work.path().join("alice-key.pem")),
        args,
    )
}

fn one(r: &CurlResponse, name: &str) -> String {
    let v = r.echoed(name);
    assert_eq!(v.len(), 1, "{name}: {v:?}\n{}", r.body_text());
    v.into_iter().next().unwrap()
}

fn sf_bytes(item: &sfv::BareItem) -> Vec<u8> {
    item.as_byte_sequence().expect("a Byte Sequence").to_vec()
}

fn sf_list_strings(value: &str) -> Vec<String> {
    let list: sfv::List = sfv::Parser::new(value).parse().expect(value);
    list.iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(i) => i.bare_item.as_string().expect("a String").as_str().into(),
            sfv::ListEntry::InnerList(_) => panic!("inner list in {value}"),
        })
        .collect()
}

/// `openssl x509 -inform DER -noout -subject -nameopt RFC2253` of `der`.
fn openssl_subject(der: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args([
            "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(der).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An XFCC header per Envoy's documented grammar: elements split on `,`,
/// pairs on `;`, key and value on the first `=`, all outside double quotes;
/// a quoted value's `\"` is a `"`. Keys are case-insensitive.
fn parse_xfcc(value: &str) -> Vec<Vec<(String, String)>> {
    let mut elements = vec![Vec::new()];
    let (mut key, mut val) = (String::new(), String::new());
    let (mut in_value, mut quoted) = (false, false);
    let mut chars = value.chars().peekable();
    let flush = |elements: &mut Vec<Vec<(String, String)>>, k: &mut String, v: &mut String| {
        if !k.is_empty() {
            elements
                .last_mut()
                .unwrap()
                .push((k.to_ascii_lowercase(), std::mem::take(v)));
            k.clear();
        }
    };
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '\\') if chars.peek() == Some(&'"') => val.push(chars.next().unwrap()),
            (true, '"') => quoted = false,
            (true, c) => val.push(c),
            (false, '"') if in_value && val.is_empty() => quoted = true,
            (false, '=') if !in_value => in_value = true,
            (false, ';') => {
                flush(&mut elements, &mut key, &mut val);
                in_value = false;
            }
            (false, ',') => {
                flush(&mut elements, &mut key, &mut val);
                in_value = false;
                elements.push(Vec::new());
            }
            (false, c) if in_value => val.push(c),
            (false, c) => key.push(c),
        }
    }
    assert!(!quoted, "unterminated quote in {value}");
    flush(&mut elements, &mut key, &mut val);
    elements
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn rfc9440_and_san_lists_parse_with_an_rfc8941_parser_and_openssl_reads_the_der() {
    let work = Workdir::new();
    let pki = pki(&work);
    let backend = Backend::start();
    let gw = start(&work, &backend, "on", "");
    // Client copies in several spellings: all replaced or dropped.
    let r = get(
        &work,
        &gw,
        "alice-int.pem",
        "/api",
        &[
            "-H",
            "Client-Cert: :Zm9yZ2Vk:",
            "-H",
            "client-cert-chain: :Zm9yZ2Vk:",
            "-H",
            "X-SAN-URI: \"spiffe://evil\"",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body_text());

    let cert: sfv::Item = sfv::Parser::new(&one(&r, "client-cert")).parse().unwrap();
    let leaf_der = sf_bytes(&cert.bare_item);
    assert_eq!(leaf_der, pki.alice.der.as_ref());
    assert_eq!(
        openssl_subject(&leaf_der),
        "subject=CN=alice,OU=Dev,O=Example,C=RU"
    );
    let chain: sfv::List = sfv::Parser::new(&one(&r, "client-cert-chain"))
        .parse()
        .unwrap();
    let chain: Vec<Vec<u8>> = chain
        .iter()
        .map(|e| match e {
            sfv::ListEntry::Item(i) => sf_bytes(&i.bare_item),
            sfv::ListEntry::InnerList(_) => panic!("inner list"),
        })
        .collect();
    // The leaf's issuer only: the trust anchor is left out (RFC 9440 2.2).
    assert_eq!(chain, vec![pki.int.der().to_vec()]);
    assert_eq!(
        openssl_subject(&chain[0]),
        "subject=CN=Client Issuing CA,O=Example,C=RU"
    );

    assert_eq!(
        sf_list_strings(&one(&r, "x-san-dns")),
        ["alice.example", "www.alice.example"]
    );
    assert_eq!(
        sf_list_strings(&one(&r, "x-san-email")),
        ["alice@example.com"]
    );
    assert_eq!(
        sf_list_strings(&one(&r, "x-san-uri")),
        [
            "spiffe://td.example/ns/prod/sa/alice",
            HOSTILE_URI.replace('\\', "\\x5C").as_str()
        ]
    );
    assert_eq!(
        sf_list_strings(&one(&r, "x-san-ip")),
        ["192.0.2.7", "2001:db8::7"]
    );
    assert_eq!(one(&r, "x-fp256"), sha256_hex(pki.alice.der.as_ref()));
    // SPKI pin: base64 SHA-256 of the SubjectPublicKeyInfo, as openssl computes it.
    let (_, parsed) = x509_parser::parse_x509_certificate(pki.alice.der.as_ref()).unwrap();
    let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parsed.public_key().raw);
    let out = Command::new("openssl")
        .args(["base64", "-A"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(spki.as_ref())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        one(&r, "x-spki"),
        String::from_utf8(out.stdout).unwrap().trim()
    );

    // `return` text.
    let t = get(&work, &gw, "alice-int.pem", "/text", &[]);
    assert!(
        t.body_text()
            .starts_with("uri=\"spiffe://td.example/ns/prod/sa/alice\", \"spiffe://td.example/ns/a?x=\\\"q\\\",y=1;z\\\\x5Cw\"\nspki="),
        "{}",
        t.body_text()
    );
}

#[test]
fn the_chain_is_the_verified_path_not_what_the_client_sent() {
    let work = Workdir::new();
    let pki = pki(&work);
    // An unrelated CA certificate the client appends: never forwarded.
    let stray = Ca::root("Stray CA");
    work.write(
        "alice-stray.pem",
        format!("{}{}{}", pki.alice.cert_pem, stray.pem(), pki.int.pem()),
    );
    let backend = Backend::start();
    // The intermediate is known to the gateway: the client may omit it.
    let gw = start(&work, &backend, "on", "trusted_certificate = \"int.pem\"");
    for cert in ["alice-only.pem", "alice-stray.pem"] {
        let r = get(&work, &gw, cert, "/api", &[]);
        assert_eq!(r.status, 200, "{cert}: {}", r.body_text());
        let chain: sfv::List = sfv::Parser::new(&one(&r, "client-cert-chain"))
            .parse()
            .unwrap();
        assert_eq!(chain.len(), 1, "{cert}");
        let sfv::ListEntry::Item(i) = &chain[0] else {
            panic!()
        };
        assert_eq!(sf_bytes(&i.bare_item), pki.int.der().to_vec(), "{cert}");
    }
    let _ = pki.root;
}

#[test]
fn xfcc_follows_envoys_grammar_and_replaces_the_clients_copy() {
    let work = Workdir::new();
    let pki = pki(&work);
    let backend = Backend::start();
    let gw = start(&work, &backend, "on", "");
    let r = get(
        &work,
        &gw,
        "alice-int.pem",
        "/api",
        &[
            "-H",
            "X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00;Subject=\"CN=admin\"",
            "-H",
            "x-forwarded-client-cert: Hash=11",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body_text());
    let raw = one(&r, "x-forwarded-client-cert");
    let elements = parse_xfcc(&raw);
    assert_eq!(
        elements.len(),
        1,
        "one element for this hop, none from the client: {raw}"
    );
    let pairs = &elements[0];
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["hash", "cert", "subject", "uri", "uri", "dns", "dns"],
        "{raw}"
    );
    let get = |k: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("hash"), [sha256_hex(pki.alice.der.as_ref())]);
    assert_eq!(
        percent_decode(get("cert")[0]),
        pki.alice.cert_pem.replace("\r\n", "\n")
    );
    assert_eq!(get("subject"), [one(&r, "x-dn")]);
    assert_eq!(
        get("uri"),
        [
            "spiffe://td.example/ns/prod/sa/alice",
            HOSTILE_URI.replace('\\', "\\x5C").as_str()
        ]
    );
    assert_eq!(get("dns"), ["alice.example", "www.alice.example"]);
}

#[test]
fn presets_expand_and_explicit_headers_win_and_are_inherited() {
    let work = Workdir::new();
    let _pki = pki(&work);
    let backend = Backend::start();
    let gw = start(&work, &backend, "on", "");
    let r = get(
        &work,
        &gw,
        "alice-int.pem",
        "/nginx",
        &["-H", "X-SSL-Client-Verify: SUCCESS-forged"],
    );
    assert_eq!(one(&r, "x-ssl-client-verify"), "SUCCESS");
    assert_eq!(one(&r, "x-ssl-client-dn"), "CN=alice,OU=Dev,O=Example,C=RU");
    assert!(one(&r, "x-ssl-client-serial").starts_with("explicit-"));
    assert_eq!(r.echoed("x-ssl-client-fingerprint").len(), 1);
    assert_eq!(
        one(&r, "x-ssl-client-issuer"),
        "CN=Client Issuing CA,O=Example,C=RU"
    );
    assert!(
        r.echoed("client-cert").is_empty(),
        "the location's preset replaces the server's"
    );
    // The server's preset, inherited by a location without its own.
    let r = get(&work, &gw, "alice-int.pem", "/inherited", &[]);
    assert_eq!(r.echoed("client-cert").len(), 1);
    assert!(r.echoed("x-forwarded-client-cert").is_empty());
    // Client copies of every preset's headers are stripped everywhere,
    // also in the `_` spelling (dropped as nginx does).
    let r = get(
        &work,
        &gw,
        "alice-int.pem",
        "/inherited",
        &[
            "-H",
            "X-Forwarded-Client-Cert: Hash=00",
            "-H",
            "Client_Cert: :AA==:",
        ],
    );
    assert!(
        r.echoed("x-forwarded-client-cert").is_empty(),
        "{}",
        r.body_text()
    );
    assert!(r.echoed("client_cert").is_empty());
}

#[test]
fn an_unverified_certificate_under_optional_no_ca_fills_none_of_them() {
    let work = Workdir::new();
    let _pki = pki(&work);
    // A CA the gateway does not know: verification fails, tolerated by
    // optional_no_ca, so the request is proxied.
    let other = Ca::root("Other Root");
    let mallory = other.leaf_with(LeafSpec::client("mallory"), |p: &mut CertificateParams| {
        p.subject_alt_names = vec![SanType::URI(
            "spiffe://td.example/ns/prod/sa/admin".try_into().unwrap(),
        )];
    });
    work.write("mallory.pem", &mallory.cert_pem);
    work.write("mallory-key.pem", &mallory.key_pem);
    let backend = Backend::start();
    let gw = start(&work, &backend, "optional_no_ca", "");
    let r = curl_cert(
        "localhost",
        gw.port(),
        "/nginx",
        &work.path().join("ca.pem"),
        (
            &work.path().join("mallory.pem"),
            &work.path().join("mallory-key.pem"),
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert!(one(&r, "x-ssl-client-verify").starts_with("FAILED:"));
    // nginx fills the DN of a failed certificate; the gateway does too.
    assert_eq!(
        one(&r, "x-ssl-client-dn"),
        "CN=mallory,OU=Dev,O=Example,C=RU"
    );
    let r = curl_cert(
        "localhost",
        gw.port(),
        "/api",
        &work.path().join("ca.pem"),
        (
            &work.path().join("mallory.pem"),
            &work.path().join("mallory-key.pem"),
        ),
        &["-H", "X-SAN-URI: \"spiffe://td.example/ns/prod/sa/admin\""],
    );
    assert_eq!(r.status, 200, "{}", r.body_text());
    for h in [
        "client-cert",
        "client-cert-chain",
        "x-forwarded-client-cert",
        "x-spki",
        "x-san-dns",
        "x-san-email",
        "x-san-uri",
        "x-san-ip",
    ] {
        assert!(
            r.echoed(h).is_empty(),
            "{h} sent for an unverified certificate: {}",
            r.body_text()
        );
    }
    // Kept as nginx's $ssl_client_fingerprint is: of the presented certificate.
    assert_eq!(one(&r, "x-fp256"), sha256_hex(mallory.der.as_ref()));
}
