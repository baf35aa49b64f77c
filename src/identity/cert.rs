//! [`ClientCert`]: every nginx `$ssl_client_*` value of one certificate.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::digest;
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser as _;
use x509_parser::time::ASN1Time;

use super::dn::{self, DnError};
use super::oid::encoded as oid;
use super::san::{self, Sans};

/// Why a client certificate could not be turned into a [`ClientCert`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertParseError {
    /// x509-parser could not read the certificate.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// Bytes follow the certificate (OpenSSL rejects this too:
    /// `SSL_R_CERT_LENGTH_MISMATCH`).
    #[error("trailing data after the certificate")]
    TrailingData,
    /// The subject or issuer name could not be located or formatted.
    #[error("malformed {field} name: {source}")]
    Name {
        /// `"subject"`, `"issuer"` or `"certificate"` (names not found).
        field: &'static str,
        /// What was wrong with it.
        source: DnError,
    },
}

/// The identity values of one client certificate, as nginx computes its
/// `$ssl_client_*` variables (OpenSSL 3.0 formats).
///
/// Built once per connection by [`ClientCert::from_der`]; everything is
/// computed eagerly except the two PEM forms, which are big and often unused
/// and are computed on first use.
#[derive(Clone)]
pub struct ClientCert {
    der: Box<[u8]>,
    serial: String,
    fingerprint: String,
    fingerprint_sha256: String,
    spki_sha256: String,
    sans: Sans,
    subject_dn: String,
    issuer_dn: String,
    subject_dn_legacy: String,
    issuer_dn_legacy: String,
    v_start: String,
    v_end: String,
    not_before: i64,
    not_after: i64,
    raw_pem: OnceLock<String>,
    escaped_pem: OnceLock<String>,
}

impl ClientCert {
    /// Parses a DER certificate and computes its identity values.
    ///
    /// # Errors
    /// [`CertParseError`] if the DER is not one X.509 certificate or its
    /// subject or issuer name is malformed.
    pub fn from_der(der: &[u8]) -> Result<ClientCert, CertParseError> {
        let mut parser = X509CertificateParser::new().with_deep_parse_extensions(false);
        let (rest, cert) = parser
            .parse(der)
            .map_err(|e| CertParseError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertParseError::TrailingData);
        }
        let (issuer, subject) =
            dn::certificate_names(der).map_err(|source| CertParseError::Name {
                field: "certificate",
                source,
            })?;
        let name_err = |field| move |source| CertParseError::Name { field, source };
        let validity = cert.validity();
        let mut sans = Sans::default();
        for ext in cert.extensions() {
            if ext.oid.as_bytes() == oid::SUBJECT_ALT_NAME {
                // A SAN extension that does not parse leaves the lists
                // empty: verification (webpki and `verify::profile`) has
                // already refused such a certificate, so only unverified
                // certificates' values can be affected.
                if let Some(names) = san::general_names(ext.value) {
                    sans = Sans::from_names(&names);
                }
            }
        }
        Ok(ClientCert {
            der: der.into(),
            serial: serial_hex(cert.raw_serial()),
            fingerprint: hex_lower(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
            fingerprint_sha256: hex_lower(digest::digest(&digest::SHA256, der).as_ref()),
            spki_sha256: base64(digest::digest(&digest::SHA256, cert.public_key().raw).as_ref()),
            sans,
            subject_dn: dn::rfc2253(subject).map_err(name_err("subject"))?,
            issuer_dn: dn::rfc2253(issuer).map_err(name_err("issuer"))?,
            subject_dn_legacy: dn::legacy(subject).map_err(name_err("subject"))?,
            issuer_dn_legacy: dn::legacy(issuer).map_err(name_err("issuer"))?,
            v_start: asn1_time_print(&validity.not_before),
            v_end: asn1_time_print(&validity.not_after),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            raw_pem: OnceLock::new(),
            escaped_pem: OnceLock::new(),
        })
    }

    /// `$ssl_client_serial`: upper-case hex, two digits per byte, no sign byte
    /// (`0A1B2C3D`, `01`), `-` prefix if negative.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// `$ssl_client_fingerprint`: SHA-1 of the DER, 40 lower-case hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// SHA-256 of the DER, 64 lower-case hex digits (no nginx equivalent).
    pub fn fingerprint_sha256(&self) -> &str {
        &self.fingerprint_sha256
    }

    /// Base64 (standard, padded) of the SHA-256 of the SubjectPublicKeyInfo
    /// DER: the pin format of HPKP and Envoy's `verify_certificate_spki`,
    /// stable across renewals that keep the key.
    pub fn spki_sha256(&self) -> &str {
        &self.spki_sha256
    }

    /// The subjectAltName entries by kind.
    pub fn sans(&self) -> &Sans {
        &self.sans
    }

    /// `$ssl_client_s_dn`: subject in OpenSSL's RFC 2253 form.
    pub fn subject_dn(&self) -> &str {
        &self.subject_dn
    }

    /// `$ssl_client_i_dn`: issuer in OpenSSL's RFC 2253 form.
    pub fn issuer_dn(&self) -> &str {
        &self.issuer_dn
    }

    /// `$ssl_client_s_dn_legacy`: subject as `X509_NAME_oneline` prints it.
    pub fn subject_dn_legacy(&self) -> &str {
        &self.subject_dn_legacy
    }

    /// `$ssl_client_i_dn_legacy`: issuer as `X509_NAME_oneline` prints it.
    pub fn issuer_dn_legacy(&self) -> &str {
        &self.issuer_dn_legacy
    }

    /// `$ssl_client_v_start`: notBefore as `Mmm DD HH:MM:SS YYYY GMT`.
    pub fn v_start(&self) -> &str {
        &self.v_start
    }

    /// `$ssl_client_v_end`: notAfter as `Mmm DD HH:MM:SS YYYY GMT`.
    pub fn v_end(&self) -> &str {
        &self.v_end
    }

    /// notBefore in seconds since the Unix epoch.
    pub fn not_before_unix(&self) -> i64 {
        self.not_before
    }

    /// notAfter in seconds since the Unix epoch.
    pub fn not_after_unix(&self) -> i64 {
        self.not_after
    }

    /// `$ssl_client_v_remain` at `now_unix_secs`: whole days left, rounded
    /// down, and `"0"` once less than one day is left (or already expired).
    pub fn v_remain(&self, now_unix_secs: i64) -> String {
        v_remain(self.not_after, now_unix_secs)
    }

    /// The certificate as received (DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// `$ssl_client_raw_cert`: PEM with 64-character lines, LF line ends and
    /// a trailing LF.
    pub fn raw_pem(&self) -> &str {
        self.raw_pem.get_or_init(|| pem(&self.der))
    }

    /// [`raw_pem`](Self::raw_pem) as the gateway sends it in a header: a
    /// header cannot carry line breaks, so they become single spaces.
    pub fn raw_pem_one_line(&self) -> String {
        self.raw_pem().trim_end_matches('\n').replace('\n', " ")
    }

    /// `$ssl_client_escaped_cert`: [`raw_pem`](Self::raw_pem) percent-encoded
    /// like nginx's `ngx_escape_uri(.., NGX_ESCAPE_URI_COMPONENT)`.
    pub fn escaped_pem(&self) -> &str {
        self.escaped_pem
            .get_or_init(|| escape_uri_component(self.raw_pem()))
    }
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("subject", &self.subject_dn)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

fn hex_lower(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        s.push(char::from(HEX_LOWER[usize::from(b & 0x0F)]));
    }
    s
}

fn push_hex_upper(s: &mut String, b: u8) {
    s.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
    s.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
}

/// OpenSSL `i2a_ASN1_INTEGER` of a DER INTEGER content.
///
/// Deviation: OpenSSL writes `\` + LF after every 35 bytes; a header value
/// cannot carry a newline, so serials longer than 35 bytes (RFC 5280 allows
/// at most 20) are printed in one piece.
fn serial_hex(content: &[u8]) -> String {
    let negative = content.first().is_some_and(|&b| b & 0x80 != 0);
    let magnitude: Vec<u8> = if negative {
        // Two's complement negation: invert, then add one.
        let mut m: Vec<u8> = content.iter().map(|&b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, overflow) = b.overflowing_add(1);
            *b = v;
            if !overflow {
                break;
            }
        }
        m
    } else {
        content.to_vec()
    };
    let start = magnitude.iter().take_while(|&&b| b == 0).count();
    let digits = magnitude.get(start..).unwrap_or_default();
    let mut s = String::with_capacity(digits.len() * 2 + 2);
    if negative {
        s.push('-');
    }
    if digits.is_empty() {
        s.push_str("00");
    }
    for &b in digits {
        push_hex_upper(&mut s, b);
    }
    s
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// OpenSSL `ASN1_TIME_print`: `Mmm DD HH:MM:SS YYYY GMT`, day space-padded.
///
/// x509-parser only accepts `...Z` times without fractional seconds (and
/// webpki accepts nothing else), so the fraction and no-`GMT` variants of
/// OpenSSL's output cannot occur.
fn asn1_time_print(t: &ASN1Time) -> String {
    let dt = t.to_datetime().to_offset(time::UtcOffset::UTC);
    let month = MONTHS
        .get(usize::from(u8::from(dt.month())).saturating_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{month} {:2} {:02}:{:02}:{:02} {} GMT",
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.year()
    )
}

/// nginx `ngx_ssl_get_client_v_remain`.
fn v_remain(not_after: i64, now: i64) -> String {
    if not_after < now.saturating_add(86_400) {
        return "0".to_owned();
    }
    ((not_after - now) / 86_400).to_string()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with `=` padding.
pub(crate) fn base64(data: &[u8]) -> String {
    base64_with(data, BASE64, true)
}

/// base64url without padding (RFC 4648 section 5, as JOSE uses it).
pub(crate) fn base64url(data: &[u8]) -> String {
    base64_with(data, BASE64_URL, false)
}

fn base64_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied();
        let b2 = chunk.get(2).copied();
        let n =
            (u32::from(b0) << 16) | (u32::from(b1.unwrap_or(0)) << 8) | u32::from(b2.unwrap_or(0));
        let sextet =
            |shift: u32| char::from(alphabet[usize::try_from((n >> shift) & 0x3F).unwrap_or(0)]);
        s.push(sextet(18));
        s.push(sextet(12));
        match (b1.is_some(), pad) {
            (true, _) => s.push(sextet(6)),
            (false, true) => s.push('='),
            (false, false) => {}
        }
        match (b2.is_some(), pad) {
            (true, _) => s.push(sextet(0)),
            (false, true) => s.push('='),
            (false, false) => {}
        }
    }
    s
}

/// OpenSSL `PEM_write_bio_X509`.
fn pem(der: &[u8]) -> String {
    let b64 = base64(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    s.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// nginx `ngx_escape_uri(.., NGX_ESCAPE_URI_COMPONENT)`: everything except
/// `A-Z a-z 0-9 - . _ ~` as `%XX` (upper-case).
fn escape_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            push_hex_upper(&mut out, b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_formats() {
        assert_eq!(serial_hex(&[0x0A, 0x1B, 0x2C, 0x3D]), "0A1B2C3D");
        assert_eq!(serial_hex(&[0x01]), "01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0x00, 0x00, 0x01]), "01");
        assert_eq!(
            serial_hex(&[0x00, 0x8F, 0xED, 0xCB, 0xA9, 0x87, 0x65, 0x43, 0x21, 0x00]),
            "8FEDCBA98765432100"
        );
        assert_eq!(serial_hex(&[0xFF]), "-01");
        assert_eq!(serial_hex(&[0x80]), "-80");
        assert_eq!(serial_hex(&[0xFF, 0x7F]), "-81");
        assert_eq!(serial_hex(&[0xFF, 0x00]), "-0100");
        assert_eq!(serial_hex(&[0xFE, 0xAB, 0xCD]), "-015433");
        let long = [0x11_u8; 40];
        assert_eq!(serial_hex(&long), "11".repeat(40));
    }

    #[test]
    fn v_remain_rules() {
        let now = 1_800_000_000;
        assert_eq!(v_remain(now - 1, now), "0");
        assert_eq!(v_remain(now + 12 * 3600, now), "0");
        assert_eq!(v_remain(now + 86_399, now), "0");
        assert_eq!(v_remain(now + 86_400, now), "1");
        assert_eq!(v_remain(now + 3 * 86_400 + 43_200, now), "3");
        assert_eq!(v_remain(now + 365 * 86_400 - 5, now), "364");
        assert_eq!(v_remain(i64::MIN, i64::MAX), "0");
        assert_eq!(v_remain(i64::MAX, i64::MAX - 86_400), "1");
    }

    #[test]
    fn base64_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xFB, 0xFF, 0xBF]), "+/+/");
        assert_eq!(base64(&[0, 0, 0]), "AAAA");
        // RFC 4648 section 10 vectors, url alphabet without padding.
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xFB, 0xFF, 0xBF]), "-_-_");
    }

    #[test]
    fn pem_layout() {
        let der: Vec<u8> = (0..=255_u8).cycle().take(1000).collect();
        let p = pem(&der);
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(p.ends_with("\n-----END CERTIFICATE-----\n"));
        let lines: Vec<&str> = p.lines().collect();
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert!(!body[body.len() - 1].is_empty() && body[body.len() - 1].len() <= 64);
        assert_eq!(body.concat(), base64(&der));
        assert!(!p.contains('\r'));
        // Exactly 48 bytes: one full line, no empty line.
        assert_eq!(
            pem(&[0; 48]),
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                "A".repeat(64)
            )
        );
    }

    #[test]
    fn uri_component_escaping() {
        assert_eq!(
            escape_uri_component("-----BEGIN CERTIFICATE-----\nAb+/=09._~ %\t"),
            "-----BEGIN%20CERTIFICATE-----%0AAb%2B%2F%3D09._~%20%25%09"
        );
        let all: String = (0x20_u8..0x7F).map(char::from).collect();
        let escaped = escape_uri_component(&all);
        let kept: String = escaped
            .split('%')
            .map(|p| p.get(2..).unwrap_or(p))
            .collect();
        assert_eq!(kept.len(), 26 + 26 + 10 + 4);
    }

    #[test]
    fn time_print() {
        use time::macros::datetime;
        let t = ASN1Time::new(datetime!(2026-12-02 03:33:01 UTC));
        assert_eq!(asn1_time_print(&t), "Dec  2 03:33:01 2026 GMT");
        let t = ASN1Time::new(datetime!(2027-11-28 15:33:01 UTC));
        assert_eq!(asn1_time_print(&t), "Nov 28 15:33:01 2027 GMT");
        let t = ASN1Time::new(datetime!(1950-01-09 00:00:00 +01:00));
        assert_eq!(asn1_time_print(&t), "Jan  8 23:00:00 1950 GMT");
    }

    fn make_cert() -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "RU");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0A, 0x1B, 0x2C, 0x3D]));
        params.not_before = rcgen::date_time_ymd(2026, 12, 2);
        params.not_after = rcgen::date_time_ymd(2027, 11, 28);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn from_der_computes_everything() {
        let der = make_cert();
        let c = ClientCert::from_der(&der).unwrap();
        assert_eq!(c.serial(), "0A1B2C3D");
        assert_eq!(c.subject_dn(), "CN=alice,C=RU");
        assert_eq!(c.issuer_dn(), "CN=alice,C=RU");
        assert_eq!(c.subject_dn_legacy(), "/C=RU/CN=alice");
        assert_eq!(c.issuer_dn_legacy(), "/C=RU/CN=alice");
        assert_eq!(c.v_start(), "Dec  2 00:00:00 2026 GMT");
        assert_eq!(c.v_end(), "Nov 28 00:00:00 2027 GMT");
        assert_eq!(c.not_before_unix(), 1_796_169_600);
        assert_eq!(c.not_after_unix(), 1_827_360_000);
        assert_eq!(c.v_remain(c.not_after_unix() - 10 * 86_400), "10");
        assert_eq!(c.der(), &der[..]);
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        assert_eq!(c.fingerprint(), hex_lower(sha1.as_ref()));
        assert_eq!(c.fingerprint().len(), 40);
        assert_eq!(c.fingerprint_sha256().len(), 64);
        assert!(
            c.fingerprint_sha256()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(c.raw_pem.get().is_none() && c.escaped_pem.get().is_none());
        assert_eq!(c.raw_pem(), pem(&der));
        assert_eq!(c.escaped_pem(), escape_uri_component(&pem(&der)));
        assert!(
            c.escaped_pem()
                .starts_with("-----BEGIN%20CERTIFICATE-----%0AMII")
        );
        assert!(
            c.escaped_pem()
                .ends_with("%0A-----END%20CERTIFICATE-----%0A")
        );
    }

    #[test]
    fn debug_is_short() {
        let c = ClientCert::from_der(&make_cert()).unwrap();
        let _ = c.raw_pem();
        let d = format!("{c:?}");
        assert_eq!(
            d,
            r#"ClientCert { subject: "CN=alice,C=RU", serial: "0A1B2C3D", .. }"#
        );
    }

    #[test]
    fn send_sync_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<ClientCert>();
        assert_send_sync::<CertParseError>();
    }

    #[test]
    fn rejects_garbage() {
        let der = make_cert();
        assert!(matches!(
            ClientCert::from_der(&[]),
            Err(CertParseError::Malformed(_))
        ));
        assert!(matches!(
            ClientCert::from_der(&der[..der.len() - 1]),
            Err(CertParseError::Malformed(_))
        ));
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(
            ClientCert::from_der(&trailing).unwrap_err(),
            CertParseError::TrailingData
        );
        for i in 0..der.len() {
            let mut m = der.clone();
            m[i] ^= 0xA5;
            let _ = ClientCert::from_der(&m);
        }
    }

    #[test]
    fn sans_and_spki_pin() {
        let key = rcgen::KeyPair::generate().unwrap();
        let issue = |names: Vec<rcgen::SanType>| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.subject_alt_names = names;
            params.self_signed(&key).unwrap().der().to_vec()
        };
        let a = issue(vec![
            rcgen::SanType::DnsName("robot.example".try_into().unwrap()),
            rcgen::SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
            rcgen::SanType::URI("spiffe://example.org/ns/prod/sa/robot".try_into().unwrap()),
            rcgen::SanType::IpAddress("10.0.0.5".parse().unwrap()),
        ]);
        let c = ClientCert::from_der(&a).unwrap();
        assert_eq!(c.sans().dns, ["robot.example"]);
        assert_eq!(c.sans().email, ["ops@example.com"]);
        assert_eq!(c.sans().uri, ["spiffe://example.org/ns/prod/sa/robot"]);
        assert_eq!(c.sans().ip, ["10.0.0.5"]);
        // The SPKI pin is the SHA-256 of the public key's DER, so a renewal
        // with the same key keeps it while the certificate hash changes.
        let spki = digest::digest(
            &digest::SHA256,
            &rcgen::PublicKeyData::subject_public_key_info(&key),
        );
        assert_eq!(c.spki_sha256(), base64(spki.as_ref()));
        let renewed = ClientCert::from_der(&issue(vec![])).unwrap();
        assert_eq!(renewed.spki_sha256(), c.spki_sha256());
        assert_ne!(renewed.fingerprint_sha256(), c.fingerprint_sha256());
        assert!(renewed.sans().is_empty());
    }
}
