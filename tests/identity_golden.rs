//! Golden tests: every identity value is compared with what the local
//! `openssl` CLI (OpenSSL 3.0, the library nginx uses) prints for the same
//! certificate: `x509 -subject/-issuer -nameopt RFC2253` (`$ssl_client_s_dn`),
//! `-nameopt compat` (`X509_NAME_oneline`, `$ssl_client_s_dn_legacy`),
//! `-serial`, `-fingerprint -sha1`, `-startdate`, `-enddate` and `-outform PEM`.
//!
//! The certificates are generated per test with rcgen, with `openssl req`,
//! or by splicing hand-made DER names and serials into an rcgen certificate
//! (`openssl x509 -noout` does not check signatures), which reaches values
//! neither tool would produce. Without `openssl` on PATH these tests fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

use std::io::Write as _;
use std::process::Command;

use mtls_gateway::identity::{ClientCert, dn};
use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, Issuer, KeyPair, SerialNumber};

// ---------------------------------------------------------------------------
// openssl CLI

fn openssl(args: &[&str], stdin_der: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    let file;
    if let Some(der) = stdin_der {
        file = {
            let mut f = tempfile::NamedTempFile::new().expect("tempfile");
            f.write_all(der).expect("write tempfile");
            f
        };
        cmd.arg("-in").arg(file.path());
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run the `openssl` CLI ({e}): the identity golden tests need OpenSSL 3.0 on PATH"
        ),
    };
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Checks once that `openssl` exists and is 3.x (fails loudly otherwise).
fn require_openssl() {
    let v = String::from_utf8(openssl(&["version"], None)).expect("utf-8 version");
    assert!(
        v.starts_with("OpenSSL 3."),
        "the golden values are OpenSSL 3.x formats, found {v:?}"
    );
}

/// `openssl x509 -inform DER -noout <args>`: one output line per option.
/// Lines end in LF; nothing inside a value is a newline (all escaped).
fn x509_lines(der: &[u8], args: &[&str]) -> Vec<String> {
    let mut full = vec!["x509", "-inform", "DER", "-noout"];
    full.extend_from_slice(args);
    let out = String::from_utf8(openssl(&full, Some(der))).expect("openssl printed non-UTF-8");
    let body = out.strip_suffix('\n').expect("output ends in LF");
    body.split('\n').map(str::to_owned).collect()
}

fn field<'a>(line: &'a str, prefix: &str) -> &'a str {
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?} in {line:?}"))
}

/// openssl's view of a certificate's subject and issuer names.
struct Names {
    s_dn: String,
    i_dn: String,
    s_legacy: String,
    i_legacy: String,
}

fn openssl_names(der: &[u8]) -> Names {
    let rfc = x509_lines(der, &["-nameopt", "RFC2253", "-subject", "-issuer"]);
    let compat = x509_lines(der, &["-nameopt", "compat", "-subject", "-issuer"]);
    assert_eq!(rfc.len(), 2, "{rfc:?}");
    assert_eq!(compat.len(), 2, "{compat:?}");
    Names {
        s_dn: field(&rfc[0], "subject=").to_owned(),
        i_dn: field(&rfc[1], "issuer=").to_owned(),
        s_legacy: field(&compat[0], "subject=").to_owned(),
        i_legacy: field(&compat[1], "issuer=").to_owned(),
    }
}

fn openssl_serial(der: &[u8]) -> String {
    let out = String::from_utf8(openssl(
        &["x509", "-inform", "DER", "-noout", "-serial"],
        Some(der),
    ))
    .expect("utf-8");
    out.strip_prefix("serial=")
        .and_then(|s| s.strip_suffix('\n'))
        .expect("serial=...LF")
        .to_owned()
}

/// Compares every value of a certificate with openssl's.
fn check_cert(der: &[u8]) -> ClientCert {
    let c = ClientCert::from_der(der).expect("ClientCert::from_der");
    // One run prints the RFC 2253 names, fingerprint, dates and serial (in
    // that order, one per line) and then the PEM.
    let out = String::from_utf8(openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-nameopt",
            "RFC2253",
            "-subject",
            "-issuer",
            "-fingerprint",
            "-sha1",
            "-startdate",
            "-enddate",
            "-serial",
        ],
        Some(der),
    ))
    .expect("openssl printed non-UTF-8");
    let pem_at = out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("PEM in output");
    let (fields, pem) = out.split_at(pem_at);
    let mut lines = fields.splitn(6, '\n');
    let mut line = || lines.next().expect("another line").to_owned();
    let (s_dn, i_dn, fp, nb, na, serial) = (line(), line(), line(), line(), line(), line());
    assert_eq!(c.subject_dn(), field(&s_dn, "subject="), "subject RFC2253");
    assert_eq!(c.issuer_dn(), field(&i_dn, "issuer="), "issuer RFC2253");
    let fp = field(&fp, "sha1 Fingerprint=")
        .replace(':', "")
        .to_lowercase();
    assert_eq!(c.fingerprint(), fp, "fingerprint");
    assert_eq!(c.v_start(), field(&nb, "notBefore="), "v_start");
    assert_eq!(c.v_end(), field(&na, "notAfter="), "v_end");
    // OpenSSL breaks serials longer than 35 bytes with `\` LF; we do not.
    let serial = field(&serial, "serial=").strip_suffix('\n').expect("LF");
    assert_eq!(c.serial(), serial.replace("\\\n", ""), "serial");

    let compat = x509_lines(der, &["-nameopt", "compat", "-subject", "-issuer"]);
    assert_eq!(compat.len(), 2, "{compat:?}");
    assert_eq!(
        c.subject_dn_legacy(),
        field(&compat[0], "subject="),
        "subject legacy"
    );
    assert_eq!(
        c.issuer_dn_legacy(),
        field(&compat[1], "issuer="),
        "issuer legacy"
    );

    assert_eq!(c.raw_pem(), pem, "raw PEM");
    assert_eq!(percent_decode(c.escaped_pem()), pem, "escaped PEM");
    assert!(
        c.escaped_pem()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "escaped PEM has an unescaped byte"
    );
    for v in [
        c.subject_dn(),
        c.issuer_dn(),
        c.subject_dn_legacy(),
        c.issuer_dn_legacy(),
    ] {
        assert!(
            v.bytes().all(|b| (0x20..0x7F).contains(&b)),
            "not header-safe: {v:?}"
        );
    }
    c
}

/// Compares `dn::rfc2253` / `dn::legacy` of a hand-made `Name` with openssl,
/// after splicing it in as both subject and issuer, and through `ClientCert`.
fn check_name(name_der: &[u8]) -> (String, String) {
    let base = base_cert();
    let der = der::splice(&base, Some(name_der), Some(name_der), None);
    let n = openssl_names(&der);
    let rfc = dn::rfc2253(name_der).expect("dn::rfc2253");
    let leg = dn::legacy(name_der).expect("dn::legacy");
    assert_eq!(rfc, n.s_dn, "RFC2253 of {}", hex(name_der));
    assert_eq!(rfc, n.i_dn, "RFC2253 (issuer) of {}", hex(name_der));
    assert_eq!(leg, n.s_legacy, "legacy of {}", hex(name_der));
    assert_eq!(leg, n.i_legacy, "legacy (issuer) of {}", hex(name_der));
    let c = ClientCert::from_der(&der).expect("ClientCert::from_der");
    assert_eq!(c.subject_dn(), rfc);
    assert_eq!(c.issuer_dn(), rfc);
    assert_eq!(c.subject_dn_legacy(), leg);
    assert_eq!(c.issuer_dn_legacy(), leg);
    (rfc, leg)
}

/// True if `openssl x509` refuses to load the certificate.
fn openssl_rejects(der: &[u8]) -> bool {
    let mut f = tempfile::NamedTempFile::new().expect("tempfile");
    f.write_all(der).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(f.path())
        .output()
        .expect("cannot run the `openssl` CLI");
    !out.status.success()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02X}")).collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------
// Certificate construction

fn params(dn: Vec<(DnType, DnValue)>) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (t, v) in dn {
        p.distinguished_name.push(t, v);
    }
    p
}

fn self_signed(p: &CertificateParams) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    p.self_signed(&key).unwrap().der().to_vec()
}

fn base_cert() -> Vec<u8> {
    self_signed(&params(vec![(DnType::CommonName, "base".into())]))
}

fn utf8(s: &str) -> DnValue {
    DnValue::Utf8String(s.to_owned())
}

fn custom(oid: &str) -> DnType {
    DnType::CustomDnType(oid.split('.').map(|a| a.parse().unwrap()).collect())
}

/// Small DER helpers to build names and splice them into certificates.
mod der {
    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let len = content.len();
        if len < 0x80 {
            v.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            v.push(0x80 | bytes.len() as u8);
            v.extend(bytes);
        }
        v.extend_from_slice(content);
        v
    }

    /// OID content octets of a dotted OID, arcs of any size.
    pub fn oid_content(dotted: &str) -> Vec<u8> {
        let arcs: Vec<&str> = dotted.split('.').collect();
        let first: u32 = arcs[0].parse().unwrap();
        // first * 40 + second, in decimal digits.
        let mut second = decimal(arcs[1]);
        add_small(&mut second, first * 40);
        let mut content = base128(second);
        for arc in &arcs[2..] {
            content.extend(base128(decimal(arc)));
        }
        content
    }

    /// Decimal digits, most significant first.
    fn decimal(s: &str) -> Vec<u32> {
        s.bytes().map(|b| u32::from(b - b'0')).collect()
    }

    fn add_small(digits: &mut Vec<u32>, mut n: u32) {
        for d in digits.iter_mut().rev() {
            n += *d;
            *d = n % 10;
            n /= 10;
        }
        while n > 0 {
            digits.insert(0, n % 10);
            n /= 10;
        }
    }

    /// Base-128 encoding (high bit on all but the last group) of a decimal.
    fn base128(mut digits: Vec<u32>) -> Vec<u8> {
        let mut groups = Vec::new();
        loop {
            // Divide by 128, keep the remainder.
            let mut rem = 0;
            let mut quotient = Vec::new();
            for d in &digits {
                let cur = rem * 10 + d;
                quotient.push(cur / 128);
                rem = cur % 128;
            }
            groups.push(rem as u8);
            digits = quotient.into_iter().skip_while(|&d| d == 0).collect();
            if digits.is_empty() {
                break;
            }
        }
        groups.reverse();
        let n = groups.len();
        for g in &mut groups[..n - 1] {
            *g |= 0x80;
        }
        groups
    }

    /// AttributeTypeAndValue with a value of `tag` and `value` content.
    pub fn atv(oid: &str, tag: u8, value: &[u8]) -> Vec<u8> {
        atv_raw(oid, &tlv(tag, value))
    }

    /// AttributeTypeAndValue with a ready-made value TLV.
    pub fn atv_raw(oid: &str, value_tlv: &[u8]) -> Vec<u8> {
        let mut c = tlv(0x06, &oid_content(oid));
        c.extend_from_slice(value_tlv);
        tlv(0x30, &c)
    }

    /// AttributeTypeAndValue with raw OID content octets.
    pub fn atv_raw_oid(oid_content: &[u8], value_tlv: &[u8]) -> Vec<u8> {
        let mut c = tlv(0x06, oid_content);
        c.extend_from_slice(value_tlv);
        tlv(0x30, &c)
    }

    pub fn rdn(atvs: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x31, &atvs.concat())
    }

    pub fn name(rdns: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &rdns.concat())
    }

    /// A Name of single-attribute RDNs, all of the same type and tag.
    pub fn name_of(oid: &str, tag: u8, values: &[&[u8]]) -> Vec<u8> {
        name(
            &values
                .iter()
                .map(|v| rdn(&[atv(oid, tag, v)]))
                .collect::<Vec<_>>(),
        )
    }

    fn read(b: &[u8]) -> (usize, usize) {
        // (header length, content length) of a DER element.
        let l = b[1] as usize;
        if l < 0x80 {
            (2, l)
        } else {
            let n = l & 0x7F;
            let len = b[2..2 + n].iter().fold(0, |a, &x| (a << 8) | x as usize);
            (2 + n, len)
        }
    }

    fn children(content: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = content;
        while !rest.is_empty() {
            let (h, l) = read(rest);
            out.push(rest[..h + l].to_vec());
            rest = &rest[h + l..];
        }
        out
    }

    fn content(tlv: &[u8]) -> &[u8] {
        let (h, l) = read(tlv);
        &tlv[h..h + l]
    }

    /// Replaces the subject, issuer and/or serial INTEGER content of a
    /// certificate (the signature no longer verifies; nothing here checks it).
    pub fn splice(
        cert: &[u8],
        subject: Option<&[u8]>,
        issuer: Option<&[u8]>,
        serial: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut outer = children(content(cert));
        let mut tbs = children(content(&outer[0]));
        let off = usize::from(tbs[0][0] == 0xA0);
        if let Some(s) = serial {
            tbs[off] = tlv(0x02, s);
        }
        if let Some(i) = issuer {
            tbs[off + 2] = i.to_vec();
        }
        if let Some(s) = subject {
            tbs[off + 4] = s.to_vec();
        }
        outer[0] = tlv(0x30, &tbs.concat());
        tlv(0x30, &outer.concat())
    }
}

const CN: &str = "2.5.4.3";
const UNKNOWN: &str = "1.3.6.1.4.1.99999.1";
const UTF8: u8 = 12;
const NUMERIC: u8 = 18;
const PRINTABLE: u8 = 19;
const T61: u8 = 20;
const IA5: u8 = 22;
const UNIVERSAL: u8 = 28;
const BMP: u8 = 30;

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn ucs4(s: &str) -> Vec<u8> {
    s.chars().flat_map(|c| u32::from(c).to_be_bytes()).collect()
}

// ---------------------------------------------------------------------------
// Tests

/// nginx's measured example certificate, rebuilt: same names,
/// serial and format of every value.
#[test]
fn nginx_reference_certificate() {
    require_openssl();
    let ca_params = params(vec![
        (
            DnType::CountryName,
            DnValue::PrintableString("RU".try_into().unwrap()),
        ),
        (DnType::OrganizationName, utf8("Example")),
        (DnType::CommonName, utf8("Client Root CA")),
    ]);
    let ca_key = KeyPair::generate().unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaf = params(vec![
        (
            DnType::CountryName,
            DnValue::PrintableString("RU".try_into().unwrap()),
        ),
        (DnType::OrganizationName, utf8("Example")),
        (DnType::OrganizationalUnitName, utf8("Dev")),
        (DnType::CommonName, utf8("alice")),
        (
            custom("1.2.840.113549.1.9.1"),
            DnValue::Ia5String(Ia5String::try_from("alice@example.com").unwrap()),
        ),
    ]);
    leaf.serial_number = Some(SerialNumber::from_slice(&[0x0A, 0x1B, 0x2C, 0x3D]));
    leaf.not_before = rcgen::date_time_ymd(2026, 12, 2);
    leaf.not_after = rcgen::date_time_ymd(2027, 11, 28);
    let key = KeyPair::generate().unwrap();
    let der = leaf.signed_by(&key, &issuer).unwrap().der().to_vec();
    let c = check_cert(&der);
    assert_eq!(c.serial(), "0A1B2C3D");
    assert_eq!(
        c.subject_dn(),
        "emailAddress=alice@example.com,CN=alice,OU=Dev,O=Example,C=RU"
    );
    assert_eq!(c.issuer_dn(), "CN=Client Root CA,O=Example,C=RU");
    assert_eq!(
        c.subject_dn_legacy(),
        "/C=RU/O=Example/OU=Dev/CN=alice/emailAddress=alice@example.com"
    );
    assert_eq!(c.issuer_dn_legacy(), "/C=RU/O=Example/CN=Client Root CA");
    assert_eq!(c.v_start(), "Dec  2 00:00:00 2026 GMT");
    assert_eq!(c.v_end(), "Nov 28 00:00:00 2027 GMT");
    assert!(
        c.escaped_pem()
            .starts_with("-----BEGIN%20CERTIFICATE-----%0AMII")
    );
}

/// nginx's measured "special" certificate: multi-valued RDN,
/// every escape, Cyrillic, an unknown OID. First with the exact
/// `openssl req -multivalue-rdn -utf8` command of the brief, then with the
/// unknown OID added by hand (`openssl req -subj` drops unknown OIDs).
#[test]
fn openssl_req_multivalue_rdn() {
    require_openssl();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("special.der");
    let key = dir.path().join("special.key");
    let subj = r#"/C=RU/O=Ёлка Inc/OU= lead#space /CN=Doe, John\+Jr "Q" <x>;=\\+UID=42/CN=#hash"#;
    openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-multivalue-rdn",
            "-utf8",
            "-subj",
            subj,
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-outform",
            "DER",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let der = std::fs::read(&out).unwrap();
    let c = check_cert(&der);
    assert_eq!(
        c.subject_dn(),
        r#"CN=\#hash,CN=Doe\, John\+Jr \"Q\" \<x\>\;=\\+UID=42,OU=\ lead#space\ ,O=\D0\81\D0\BB\D0\BA\D0\B0 Inc,C=RU"#
    );
    assert_eq!(
        c.subject_dn_legacy(),
        r#"/C=RU/O=\xD0\x81\xD0\xBB\xD0\xBA\xD0\xB0 Inc/OU= lead#space /UID=42+CN=Doe, John\+Jr "Q" <x>;=\/CN=#hash"#
    );
    assert_eq!(c.issuer_dn(), c.subject_dn());

    // The same subject with 1.3.6.1.4.1.99999.1=custom, as in the document.
    let name = der::name(&[
        der::rdn(&[der::atv("2.5.4.6", PRINTABLE, b"RU")]),
        der::rdn(&[der::atv("2.5.4.10", UTF8, "Ёлка Inc".as_bytes())]),
        der::rdn(&[der::atv("2.5.4.11", UTF8, b" lead#space ")]),
        der::rdn(&[
            der::atv("0.9.2342.19200300.100.1.1", UTF8, b"42"),
            der::atv(CN, UTF8, br#"Doe, John+Jr "Q" <x>;=\"#),
        ]),
        der::rdn(&[der::atv(UNKNOWN, UTF8, b"custom")]),
        der::rdn(&[der::atv(CN, UTF8, b"#hash")]),
    ]);
    let (rfc, leg) = check_name(&name);
    assert_eq!(
        rfc,
        r#"CN=\#hash,1.3.6.1.4.1.99999.1=#0C06637573746F6D,CN=Doe\, John\+Jr \"Q\" \<x\>\;=\\+UID=42,OU=\ lead#space\ ,O=\D0\81\D0\BB\D0\BA\D0\B0 Inc,C=RU"#
    );
    assert_eq!(
        leg,
        r#"/C=RU/O=\xD0\x81\xD0\xBB\xD0\xBA\xD0\xB0 Inc/OU= lead#space /UID=42+CN=Doe, John\+Jr "Q" <x>;=\/1.3.6.1.4.1.99999.1=custom/CN=#hash"#
    );
}

#[test]
fn utf8_text() {
    require_openssl();
    let der = self_signed(&params(vec![
        (DnType::CountryName, utf8("RU")),
        (DnType::OrganizationName, utf8("ООО «Ёлочка» — ёжик")),
        (DnType::OrganizationalUnitName, utf8("😀 emoji 🇷🇺 flags 👩‍💻")),
        (DnType::CommonName, utf8("日本語 中文 한국어")),
        (DnType::LocalityName, utf8("עברית العربية")),
        (
            DnType::StateOrProvinceName,
            utf8("e\u{301} combining, \u{a0}nbsp\u{a0}"),
        ),
        (custom("2.5.4.4"), utf8("\u{feff}bom \u{ffff} \u{10ffff}")),
        (custom("2.5.4.42"), utf8("Ünïcödé Grüße")),
    ]));
    let c = check_cert(&der);
    assert!(c.subject_dn().starts_with(r"GN=\C3\9Cn"));
}

#[test]
fn control_bytes() {
    require_openssl();
    let der = self_signed(&params(vec![
        (
            DnType::CommonName,
            utf8("cr\rlf\ntab\tsoh\x01del\x7fnul\0esc\x1b"),
        ),
        (DnType::OrganizationName, utf8("\r\n")),
        (DnType::OrganizationalUnitName, utf8("\x01")),
        (DnType::LocalityName, utf8("\x7f")),
        (DnType::StateOrProvinceName, utf8("\t lead and trail \t")),
    ]));
    let c = check_cert(&der);
    assert!(
        c.subject_dn()
            .contains(r"CN=cr\0Dlf\0Atab\09soh\01del\7Fnul\00esc\1B")
    );
    assert!(
        c.subject_dn_legacy()
            .contains(r"/CN=cr\x0Dlf\x0Atab\x09soh\x01del\x7Fnul\x00esc\x1B")
    );
    // The same bytes in the Latin-1 string types (rcgen refuses them there).
    let bytes: &[u8] = b"\r\n\t\x01\x7f\x00\x1b\x80\x9f\xa0\xff";
    for tag in [PRINTABLE, T61, IA5, NUMERIC] {
        check_name(&der::name_of(CN, tag, &[bytes, b"\r", b"\x7f"]));
    }
}

#[test]
fn escapable_characters_at_every_position() {
    require_openssl();
    for ch in [
        ",", "+", "\"", "\\", "<", ">", ";", "#", " ", "=", "/", "%", "'", "&",
    ] {
        let values = [
            ch.to_owned(),
            format!("{ch}{ch}"),
            format!("{ch}{ch}{ch}"),
            format!("{ch}x"),
            format!("x{ch}"),
            format!("x{ch}y"),
            format!("{ch}x{ch}"),
            format!(" {ch} "),
            format!("#{ch}"),
            format!("{ch}#"),
        ];
        let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        for tag in [UTF8, PRINTABLE, IA5] {
            check_name(&der::name_of(CN, tag, &values));
        }
        let bmp: Vec<Vec<u8>> = values
            .iter()
            .map(|v| ucs2(std::str::from_utf8(v).unwrap()))
            .collect();
        check_name(&der::name_of(
            CN,
            BMP,
            &bmp.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        ));
        let univ: Vec<Vec<u8>> = values
            .iter()
            .map(|v| ucs4(std::str::from_utf8(v).unwrap()))
            .collect();
        check_name(&der::name_of(
            CN,
            UNIVERSAL,
            &univ.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        ));
    }
    // Through rcgen and ClientCert as well.
    let der = self_signed(&params(vec![
        (DnType::CommonName, utf8("#,+\"\\<>;= ")),
        (DnType::OrganizationName, utf8(" #lead")),
        (DnType::OrganizationalUnitName, utf8("#")),
        (DnType::LocalityName, utf8(" ")),
        (DnType::StateOrProvinceName, utf8("mid # and = ok")),
    ]));
    let c = check_cert(&der);
    assert_eq!(
        c.subject_dn(),
        r#"ST=mid # and = ok,L=\ ,OU=#,O=\ #lead,CN=\#\,\+\"\\\<\>\;=\ "#
    );
}

#[test]
fn string_types() {
    require_openssl();
    let der = self_signed(&params(vec![
        (
            DnType::CountryName,
            DnValue::PrintableString("RU".try_into().unwrap()),
        ),
        (
            DnType::CommonName,
            DnValue::PrintableString(PrintableString::try_from(" A-Z (a+b), 0'9 /:= ").unwrap()),
        ),
        (
            DnType::OrganizationName,
            DnValue::Ia5String(Ia5String::try_from("#ia5 \\ <x> ;\" ~").unwrap()),
        ),
        (
            DnType::OrganizationalUnitName,
            DnValue::TeletexString(TeletexString::try_from("t61 # , ").unwrap()),
        ),
        (
            DnType::LocalityName,
            DnValue::BmpString(BmpString::try_from(" BMP Ёж € \u{fffd} ").unwrap()),
        ),
        (
            DnType::StateOrProvinceName,
            DnValue::UniversalString(UniversalString::try_from("#univ 😀 𝄞 ").unwrap()),
        ),
    ]));
    check_cert(&der);
    // Bytes rcgen cannot express: Latin-1 high bytes, NUL code units,
    // NumericString, non-Latin BMP.
    check_name(&der::name_of(CN, T61, &[b"\xe9t\xe9 \xa0\xff", b"\x80"]));
    check_name(&der::name_of(CN, PRINTABLE, &[b"caf\xe9", b"\xff#"]));
    check_name(&der::name_of(CN, NUMERIC, &[b"12 34", b" 0 "]));
    check_name(&der::name_of(
        CN,
        BMP,
        &[&ucs2("\0"), &ucs2("a\0b"), &ucs2("中文"), b""],
    ));
    check_name(&der::name_of(
        CN,
        UNIVERSAL,
        &[&ucs4("\0"), &ucs4("😀 "), &ucs4("\u{10ffff}"), b""],
    ));
    check_name(&der::name_of(CN, UTF8, &[b""]));
}

/// Value types OpenSSL accepts in a name but does not print as text.
#[test]
fn non_string_values() {
    require_openssl();
    for oid in [CN, UNKNOWN] {
        let values = vec![
            der::atv(oid, 0x03, b"\x00\xab"),              // BIT STRING
            der::atv(oid, 0x03, b"\x04\xff"),              // unused bits set
            der::atv(oid, 0x03, b"\x05"),                  // empty, unused 5
            der::atv(oid, 0x30, &der::tlv(0x02, b"\x01")), // SEQUENCE
            der::atv(oid, 0x30, b""),                      // empty SEQUENCE
            der::atv(oid, 0x07, b"ab"),                    // ObjectDescriptor
            der::atv(oid, 0x08, b"\x01"),                  // EXTERNAL (primitive)
            der::atv(oid, 0x09, b"\x01"),                  // REAL
            der::atv(oid, 0x0B, b"x"),                     // EMBEDDED PDV
            der::atv(oid, 0x0D, b"\x01\x02"),              // RELATIVE-OID
            der::atv(oid, 0x0E, b"t"),                     // TIME
            der::atv(oid, 0x0F, b"r"),                     // reserved
            der::atv(oid, 0x1D, b"ab"),                    // CHARACTER STRING
            der::atv(oid, 0x28, &der::tlv(0x02, b"\x01")), // constructed EXTERNAL
            // BER constructed UTF8String and BMPString, collected by OpenSSL.
            der::atv(
                oid,
                0x2C,
                &[
                    der::tlv(0x04, b"ab"),
                    der::tlv(0x24, &der::tlv(0x04, b",c")),
                ]
                .concat(),
            ),
            der::atv(
                oid,
                0x3E,
                &[der::tlv(0x04, b"\0a"), der::tlv(0x04, b"\0 ")].concat(),
            ),
            // Non-minimal lengths.
            der::atv_raw(oid, b"\x0c\x81\x01x"),
            der::atv_raw(oid, b"\x30\x81\x03\x02\x01\x01"),
            der::atv_raw(oid, b"\x03\x81\x02\x00\x01"),
        ];
        for v in &values {
            check_name(&der::name(&[der::rdn(std::slice::from_ref(v))]));
        }
        // All at once, also as one multi-valued RDN.
        check_name(&der::name(
            &values
                .iter()
                .map(|v| der::rdn(std::slice::from_ref(v)))
                .collect::<Vec<_>>(),
        ));
        check_name(&der::name(&[der::rdn(&values)]));
    }
}

/// Certificates OpenSSL refuses to load, so nginx never prints anything for
/// them: our output is the documented fallback (`#` + DER hex for values
/// that are not valid text of their type, the brief's type rules otherwise).
#[test]
fn values_openssl_rejects() {
    require_openssl();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (der::atv(CN, 0x02, b"\x05"), "CN=#020105", r"/CN=\x05"),
        (der::atv(CN, 0x04, b"ab"), "CN=#04026162", "/CN=ab"),
        (der::atv(CN, 0x05, b""), "CN=#0500", "/CN="),
        (
            der::atv(CN, 0x17, b"250101000000Z"),
            "CN=250101000000Z",
            "/CN=250101000000Z",
        ),
        (
            der::atv(CN, 0x1A, b"vis\xe9"),
            r"CN=vis\C3\A9",
            r"/CN=vis\xE9",
        ),
        (
            der::atv(CN, 0x1B, b"\0\0\0a\0\0\0b"),
            "CN=#1B080000006100000062",
            "/CN=ab",
        ),
        (
            der::atv(CN, BMP, b"\0a\0"),
            "CN=#1E03006100",
            r"/CN=\x00a\x00",
        ),
        (
            der::atv(CN, BMP, &ucs2("😀")),
            "CN=#1E04D83DDE00",
            r"/CN=\xD8=\xDE\x00",
        ),
        (
            der::atv(CN, UNIVERSAL, b"\0\x11\0\0"),
            "CN=#1C0400110000",
            r"/CN=\x00\x11\x00\x00",
        ),
        (
            der::atv(CN, UNIVERSAL, b"\0\0a"),
            "CN=#1C03000061",
            r"/CN=\x00\x00a",
        ),
        (der::atv(CN, UTF8, b"a\xffb"), r"CN=a\FFb", r"/CN=a\xFFb"),
        (der::atv(CN, 0x80, b"x"), "CN=#800178", "/CN=x"),
        (
            der::atv(UNKNOWN, 0x02, b"\x01"),
            "1.3.6.1.4.1.99999.1=#020101",
            r"/1.3.6.1.4.1.99999.1=\x01",
        ),
    ];
    let base = base_cert();
    for (atv, rfc, leg) in cases {
        let name = der::name(&[der::rdn(&[atv])]);
        let cert = der::splice(&base, Some(&name), None, None);
        assert!(openssl_rejects(&cert), "openssl now accepts {}", hex(&name));
        assert_eq!(dn::rfc2253(&name).unwrap(), rfc);
        assert_eq!(dn::legacy(&name).unwrap(), leg);
    }
}

#[test]
fn unknown_oids() {
    require_openssl();
    let long = format!("1.3.6.1.4.1.{}", ["123456789"; 12].join("."));
    let huge_arc = format!("2.{}.5", "9".repeat(60));
    for oid in [
        UNKNOWN,
        "2.999.1",
        "0.0",
        "1.39.1",
        "2.25.329800735698586629295641978511506172918",
        huge_arc.as_str(),
        long.as_str(),
        "2.5.4.0",
        "2.5.4.1",
        "2.5.4.101",
        "1.2.840.113549.1.9.99",
    ] {
        check_name(&der::name(&[
            der::rdn(&[der::atv(oid, UTF8, b"custom")]),
            der::rdn(&[der::atv(oid, PRINTABLE, b"a b")]),
            der::rdn(&[der::atv(oid, BMP, &ucs2("ж"))]),
            der::rdn(&[der::atv(oid, UTF8, b"")]),
        ]));
    }
    // 586 content bytes are printed; 587 give an empty name (OBJ_obj2txt).
    for n in [585, 586, 587, 700] {
        let mut content = vec![0x2B];
        content.extend(std::iter::repeat_n(0x01, n - 1));
        let atv = der::atv_raw_oid(&content, &der::tlv(UTF8, b"x"));
        let (rfc, leg) = check_name(&der::name(&[der::rdn(&[atv])]));
        assert_eq!(rfc.starts_with('='), n > 586, "{rfc}");
        assert_eq!(leg.starts_with("/="), n > 586, "{leg}");
    }
    // Through rcgen's CustomDnType too.
    let der = self_signed(&params(vec![
        (custom(UNKNOWN), utf8("custom")),
        (
            custom("1.3.6.1.4.1.99999.2"),
            DnValue::PrintableString("p".try_into().unwrap()),
        ),
        (custom(&long), utf8("long")),
    ]));
    let c = check_cert(&der);
    assert!(
        c.subject_dn()
            .ends_with("1.3.6.1.4.1.99999.1=#0C06637573746F6D")
    );
}

/// Every OID of `mtls_gateway::identity::oid::KNOWN_ATTRIBUTES` gets OpenSSL's short name.
#[test]
fn every_known_attribute() {
    require_openssl();
    let oids: Vec<(&str, &str)> = mtls_gateway::identity::oid::KNOWN_ATTRIBUTES.to_vec();
    assert!(oids.len() > 100);
    for chunk in oids.chunks(12) {
        // Via rcgen (CustomDnType), one certificate per chunk.
        let dn_entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (oid, _))| (custom(oid), utf8(&format!(" {i}#v,+é "))))
            .collect();
        let c = check_cert(&self_signed(&params(dn_entries)));
        for (oid, sn) in chunk {
            assert!(
                c.subject_dn().contains(&format!("{sn}=")),
                "{oid} should print as {sn}: {}",
                c.subject_dn()
            );
        }
        // And as one multi-valued RDN with a PrintableString each.
        let rdn = der::rdn(
            &chunk
                .iter()
                .map(|(oid, _)| der::atv(oid, PRINTABLE, b"P q"))
                .collect::<Vec<_>>(),
        );
        check_name(&der::name(&[rdn]));
    }
}

/// OpenSSL knows ~1100 OIDs outside the name-attribute arcs of the table;
/// used as an attribute type such an OID prints differently (documented
/// deviation). This test pins that down so a change is noticed.
#[test]
fn deviation_openssl_objects_outside_the_table() {
    require_openssl();
    let name = der::name(&[der::rdn(&[der::atv("2.5.29.17", UTF8, b"x")])]);
    let cert = der::splice(&base_cert(), Some(&name), None, None);
    let n = openssl_names(&cert);
    assert_eq!(n.s_dn, "subjectAltName=x");
    assert_eq!(dn::rfc2253(&name).unwrap(), "2.5.29.17=#0C0178");
    assert_eq!(n.s_legacy, "/subjectAltName=x");
    assert_eq!(dn::legacy(&name).unwrap(), "/2.5.29.17=x");
}

#[test]
fn multi_valued_and_empty_rdns() {
    require_openssl();
    let a = der::atv(CN, UTF8, b"a");
    let b = der::atv("2.5.4.11", PRINTABLE, b"b");
    let c = der::atv(UNKNOWN, UTF8, b"c");
    let d = der::atv("0.9.2342.19200300.100.1.1", UTF8, b"42");
    for name in [
        der::name(&[der::rdn(&[a.clone(), b.clone()])]),
        der::name(&[der::rdn(&[a.clone(), b.clone(), c.clone(), d.clone()])]),
        der::name(&[
            der::rdn(std::slice::from_ref(&d)),
            der::rdn(&[a.clone(), c.clone()]),
            der::rdn(std::slice::from_ref(&b)),
            der::rdn(&[c.clone(), d.clone(), a.clone()]),
        ]),
        der::name(&[
            der::rdn(std::slice::from_ref(&a)),
            der::rdn(&[]),
            der::rdn(std::slice::from_ref(&b)),
        ]),
        der::name(&[
            der::rdn(&[]),
            der::rdn(&[a.clone(), b.clone()]),
            der::rdn(&[]),
        ]),
        der::name(&[der::rdn(&[]), der::rdn(&[])]),
        der::name(&[der::rdn(&[a.clone(), a.clone()])]),
        der::name(&[]),
    ] {
        check_name(&name);
    }
}

#[test]
fn empty_subject_and_values() {
    require_openssl();
    let c = check_cert(&self_signed(&params(vec![])));
    assert_eq!(c.subject_dn(), "");
    assert_eq!(c.subject_dn_legacy(), "");
    let c = check_cert(&self_signed(&params(vec![
        (DnType::CommonName, utf8("")),
        (
            DnType::OrganizationName,
            DnValue::PrintableString("".try_into().unwrap()),
        ),
    ])));
    assert_eq!(c.subject_dn(), "O=,CN=");
}

#[test]
fn issuer_differs_from_subject() {
    require_openssl();
    let ca_params = params(vec![
        (DnType::CommonName, utf8(" Évil, CA+\"root\" ")),
        (custom(UNKNOWN), utf8("x")),
        (
            custom("0.9.2342.19200300.100.1.25"),
            DnValue::Ia5String("example".try_into().unwrap()),
        ),
    ]);
    let issuer = Issuer::new(ca_params, KeyPair::generate().unwrap());
    let leaf = params(vec![(DnType::CommonName, utf8("leaf\r\n"))]);
    let der = leaf
        .signed_by(&KeyPair::generate().unwrap(), &issuer)
        .unwrap()
        .der()
        .to_vec();
    let c = check_cert(&der);
    assert_eq!(
        c.issuer_dn(),
        r#"DC=example,1.3.6.1.4.1.99999.1=#0C0178,CN=\ \C3\89vil\, CA\+\"root\"\ "#
    );
    assert_eq!(c.subject_dn(), r"CN=leaf\0D\0A");
}

#[test]
fn serials() {
    require_openssl();
    let base = base_cert();
    // (DER INTEGER content, expected)
    let cases: Vec<(Vec<u8>, String)> = vec![
        (vec![0x01], "01".into()),
        (vec![0x00], "00".into()),
        (vec![0x0A, 0x1B, 0x2C, 0x3D], "0A1B2C3D".into()),
        (
            vec![0x00, 0x8F, 0xED, 0xCB, 0xA9, 0x87, 0x65, 0x43, 0x21, 0x00],
            "8FEDCBA98765432100".into(),
        ),
        (vec![0x00, 0xAB, 0xCD], "ABCD".into()),
        (vec![0x7F; 20], "7F".repeat(20)),
        ([vec![0x00], vec![0xC3; 20]].concat(), "C3".repeat(20)),
        (
            (1..=20).collect(),
            (1..=20).map(|b| format!("{b:02X}")).collect(),
        ),
        // Negative serials (high bit set without a 0x00 sign byte).
        (vec![0xFF], "-01".into()),
        (vec![0x80], "-80".into()),
        (vec![0xFF, 0x7F], "-81".into()),
        (vec![0xFE, 0xAB, 0xCD], "-015433".into()),
        (vec![0x8F, 0xED, 0xCB], "-701235".into()),
        // 36 and 40 bytes: OpenSSL adds `\` LF after 35 bytes, we do not.
        (vec![0x11; 36], "11".repeat(36)),
        ([vec![0x00], vec![0xEE; 40]].concat(), "EE".repeat(40)),
    ];
    for (content, want) in cases {
        let der = der::splice(&base, None, None, Some(&content));
        let c = check_cert(&der);
        assert_eq!(c.serial(), want, "serial {}", hex(&content));
        if content.len() > 35 {
            assert!(openssl_serial(&der).contains("\\\n"), "OpenSSL line break");
        }
    }
    // rcgen's own encoding (it adds the 0x00 sign byte).
    for s in [
        &[0x01][..],
        &[0x8F, 0xED, 0xCB, 0xA9, 0x87, 0x65, 0x43, 0x21, 0x00],
        &[0xFF; 20],
    ] {
        let mut p = params(vec![(DnType::CommonName, utf8("s"))]);
        p.serial_number = Some(SerialNumber::from_slice(s));
        check_cert(&self_signed(&p));
    }
}

#[test]
fn validity_dates() {
    require_openssl();
    use time::macros::datetime;
    for (nb, na) in [
        (
            datetime!(2026-12-02 03:33:01 UTC),
            datetime!(2027-11-28 15:33:01 UTC),
        ),
        (
            datetime!(2000-01-01 00:00:00 UTC),
            datetime!(2049-12-31 23:59:59 UTC),
        ),
        (
            datetime!(1950-01-01 00:00:00 UTC),
            datetime!(2050-01-01 00:00:00 UTC),
        ),
        (
            datetime!(1949-12-31 23:59:59 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
        ),
        (
            datetime!(2024-02-29 12:00:09 UTC),
            datetime!(2100-07-04 09:08:07 UTC),
        ),
    ] {
        let mut p = params(vec![(DnType::CommonName, utf8("t"))]);
        p.not_before = nb;
        p.not_after = na;
        let c = check_cert(&self_signed(&p));
        assert_eq!(c.not_before_unix(), nb.unix_timestamp());
        assert_eq!(c.not_after_unix(), na.unix_timestamp());
    }
}
