//! A verified client certificate in the formats backends' libraries parse:
//! RFC 9440 (`Client-Cert`, `Client-Cert-Chain`), the SAN lists as RFC 8941
//! Lists of Strings, and one Envoy `X-Forwarded-Client-Cert` element.
//!
//! [`Forwarded`] is made once per verified chain (lazily, by
//! [`crate::verify::PeerIdentity::forwarded`]) and only for a chain that
//! verified: an unverified certificate's bytes are never put in a format a
//! backend would take as proven.
//!
//! Every value is printable ASCII without CR/LF (RFC 8941 serializations and
//! the XFCC grammar only use that), so it can go straight into a header.

use rustls_pki_types::CertificateDer;

use super::ClientCert;
use super::base64;

/// The values of the `$ssl_client_cert_rfc9440`, `$ssl_client_cert_chain_rfc9440`,
/// `$ssl_client_san_*` and `$ssl_client_xfcc` variables for one verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// RFC 9440 `Client-Cert`: the leaf's DER as an RFC 8941 Byte Sequence.
    pub cert_rfc9440: String,
    /// RFC 9440 `Client-Cert-Chain`: the verified path's intermediates,
    /// the leaf's issuer first, as an RFC 8941 List of Byte Sequences
    /// (empty when the leaf was issued by the trust anchor itself).
    pub chain_rfc9440: String,
    /// The DNS SANs as an RFC 8941 List of Strings.
    pub san_dns: String,
    pub san_email: String,
    pub san_uri: String,
    pub san_ip: String,
    /// One Envoy XFCC element (`Hash=..;Cert="..";Subject="..";URI=..;DNS=..`).
    pub xfcc: String,
}

impl Forwarded {
    /// The values of `leaf`, verified through `issuers` (leaf's issuer first,
    /// trust anchor not included).
    pub fn new(leaf: &ClientCert, issuers: &[CertificateDer<'_>]) -> Forwarded {
        let sans = leaf.sans();
        Forwarded {
            cert_rfc9440: sf_byte_sequence(leaf.der()),
            chain_rfc9440: issuers
                .iter()
                .map(|c| sf_byte_sequence(c.as_ref()))
                .collect::<Vec<_>>()
                .join(", "),
            san_dns: sf_string_list(&sans.dns),
            san_email: sf_string_list(&sans.email),
            san_uri: sf_string_list(&sans.uri),
            san_ip: sf_string_list(&sans.ip),
            xfcc: xfcc_element(leaf),
        }
    }
}

/// RFC 8941 section 4.1.8: `:` base64 (standard alphabet, padded) `:`.
pub fn sf_byte_sequence(bytes: &[u8]) -> String {
    let mut s = base64(bytes);
    s.insert(0, ':');
    s.push(':');
    s
}

/// RFC 8941 section 4.1.6: `"` ... `"` with `"` and `\` escaped by `\`.
///
/// sf-strings may only hold printable ASCII. The values given here already
/// are ([`super::san::Sans`] writes other bytes as `\xHH`); any other byte
/// would be written the same way (as `\\xHH`), never dropped or passed raw.
pub fn sf_string(value: &str, out: &mut String) {
    out.push('"');
    for b in value.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7E => out.push(char::from(b)),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push_str("\\\\x");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0F)]));
            }
        }
    }
    out.push('"');
}

/// RFC 8941 List of Strings: `"a", "b"`; empty for no entries (so the
/// header is not sent, as RFC 8941 section 3.1 wants for an empty List).
pub fn sf_string_list(values: &[String]) -> String {
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 4).sum());
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        sf_string(v, &mut out);
    }
    out
}

/// An XFCC value as Envoy's documentation wants it: double-quoted when it
/// contains `,`, `;`, `=` or `"` (or when `always_quote`), with `"`
/// written as `\"`.
///
/// Envoy escapes nothing else, so `\` stays as is; none of our values ends
/// in `\` (DNs escape with a following character, SAN text as `\xHH`), so
/// the closing quote is never read as escaped.
fn xfcc_value(value: &str, always_quote: bool, out: &mut String) {
    let quote = always_quote
        || value
            .bytes()
            .any(|b| matches!(b, b',' | b';' | b'=' | b'"'));
    if !quote {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// One XFCC element for this hop, with Envoy's keys in Envoy's order:
/// `Hash` (SHA-256 of the DER, lower-case hex), `Cert` (the URL-encoded
/// PEM, quoted), `Subject` (RFC 2253, always quoted), one `URI` per URI SAN
/// (`URI=` when there is none, as Envoy keeps the key), one `DNS` per DNS
/// SAN. No `By`: the gateway's own certificate is not the client's business.
pub fn xfcc_element(leaf: &ClientCert) -> String {
    let sans = leaf.sans();
    let mut out = String::with_capacity(leaf.escaped_pem().len() + 256);
    out.push_str("Hash=");
    out.push_str(leaf.fingerprint_sha256());
    out.push_str(";Cert=");
    xfcc_value(leaf.escaped_pem(), true, &mut out);
    out.push_str(";Subject=");
    xfcc_value(leaf.subject_dn(), true, &mut out);
    if sans.uri.is_empty() {
        out.push_str(";URI=");
    }
    for uri in &sans.uri {
        out.push_str(";URI=");
        xfcc_value(uri, false, &mut out);
    }
    for dns in &sans.dns {
        out.push_str(";DNS=");
        xfcc_value(dns, false, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sequences_and_string_lists() {
        assert_eq!(sf_byte_sequence(b"foo"), ":Zm9v:");
        assert_eq!(sf_byte_sequence(&[]), "::");
        assert_eq!(sf_string_list(&[]), "");
        assert_eq!(
            sf_string_list(&["a.example".into(), "b, \"c\"\\x".into()]),
            r#""a.example", "b, \"c\"\\x""#
        );
        let mut s = String::new();
        sf_string("\u{e9}", &mut s);
        assert_eq!(s, r#""\\xC3\\xA9""#);
    }

    #[test]
    fn xfcc_values_are_quoted_only_when_needed() {
        let mut s = String::new();
        xfcc_value("spiffe://td/ns/a", false, &mut s);
        assert_eq!(s, "spiffe://td/ns/a");
        s.clear();
        xfcc_value("a=b;c,\"d\"", false, &mut s);
        assert_eq!(s, r#""a=b;c,\"d\"""#);
        s.clear();
        xfcc_value("CN=x", true, &mut s);
        assert_eq!(s, "\"CN=x\"");
    }
}
