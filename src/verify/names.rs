//! Name constraints as OpenSSL 3.0 applies them (`crypto/x509/v3_ncons.c`):
//! [`check`] is `NAME_CONSTRAINTS_check` followed, for the end-entity
//! certificate without a DNS subjectAltName, by `NAME_CONSTRAINTS_check_CN`.
//!
//! rustls-webpki checks subjectAltNames against the constraints (and
//! refuses every directoryName constraint outright), but not the names in
//! the subject: an `emailAddress` attribute against rfc822Name constraints,
//! and a host-name-like `CN` against dNSName constraints. For an identity
//! gateway the subject *is* the identity, so a constrained CA must not be
//! able to mint a subject outside its subtree: the gateway applies this
//! module's checks on top of webpki's, and the reason replay uses them to
//! tell a permitted (47) from an excluded (48) subtree violation.

use super::X509Error;
use crate::identity::dn::{self, Children, read_tlv};
use crate::identity::oid::encoded as oid;
pub(crate) use crate::identity::san::{GeneralName, general_name, general_names};

/// One `GeneralSubtree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subtree {
    pub base: GeneralName,
    /// `minimum` absent or 0 and `maximum` absent (`nc_minmax_valid`).
    pub minmax_valid: bool,
}

/// A nameConstraints extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Constraints {
    pub permitted: Vec<Subtree>,
    pub excluded: Vec<Subtree>,
}

/// Parses a `NameConstraints` value.
pub(crate) fn constraints(seq_tlv: &[u8]) -> Option<Constraints> {
    let (seq, rest) = read_tlv(seq_tlv).ok()?;
    if !rest.is_empty() || !seq.is_universal(16, true) {
        return None;
    }
    let mut out = Constraints::default();
    let mut last_tag = None;
    for part in Children::new(seq.content) {
        let part = part.ok()?;
        if part.class != 2 || !part.constructed || part.tag > 1 || last_tag >= Some(part.tag) {
            return None;
        }
        last_tag = Some(part.tag);
        let list = if part.tag == 0 {
            &mut out.permitted
        } else {
            &mut out.excluded
        };
        for subtree in Children::new(part.content) {
            let subtree = subtree.ok()?;
            if !subtree.is_universal(16, true) {
                return None;
            }
            let mut fields = Children::new(subtree.content);
            let base = general_name(&fields.next()?.ok()?)?;
            let mut minmax_valid = true;
            for field in fields {
                let field = field.ok()?;
                match (field.class, field.tag) {
                    // minimum [0] INTEGER: only 0 is allowed.
                    (2, 0) if !field.constructed => {
                        if field.content.is_empty() {
                            return None;
                        }
                        minmax_valid &= field.content.iter().all(|&b| b == 0);
                    }
                    // maximum [1] INTEGER: never allowed.
                    (2, 1) if !field.constructed => minmax_valid = false,
                    _ => return None,
                }
            }
            list.push(Subtree { base, minmax_valid });
        }
    }
    Some(out)
}

/// `NAME_CHECK_MAX`: OpenSSL refuses to compare more than this many
/// (name, constraint) pairs per certificate and constraints extension.
const NAME_CHECK_MAX: usize = 1 << 20;

/// The names of a certificate that constraints apply to.
pub(crate) struct Subject<'a> {
    /// The subject `Name`, DER.
    pub name: &'a [u8],
    /// Its attributes as OpenSSL stores them.
    pub values: Vec<dn::NameValue<'a>>,
    /// Its subjectAltNames.
    pub alt_names: &'a [GeneralName],
}

/// OpenSSL's check of `subject` (its subject name, its subject's
/// `emailAddress` attributes, its subjectAltNames and, for the end entity
/// without a DNS subjectAltName, its host-name-like `CN`s) against one CA's
/// `constraints`.
///
/// # Errors
/// The OpenSSL error for the first name that does not conform.
pub(crate) fn check(
    subject: &Subject<'_>,
    constraints: &Constraints,
    end_entity: bool,
) -> Result<(), X509Error> {
    let values = &subject.values;
    let sans = subject.alt_names;
    let names = values.len().saturating_add(sans.len());
    let pairs = constraints
        .permitted
        .len()
        .saturating_add(constraints.excluded.len());
    if names > 0 && pairs > NAME_CHECK_MAX / names {
        return Err(X509Error::Unspecified);
    }
    if !values.is_empty() {
        nc_match(&GeneralName::Directory(subject.name.to_vec()), constraints)?;
        for value in values.iter().filter(|v| v.oid == oid::EMAIL_ADDRESS) {
            if value.tag != Some(22) {
                return Err(X509Error::UnsupportedNameSyntax);
            }
            nc_match(&GeneralName::Email(value.data.to_vec()), constraints)?;
        }
    }
    for san in sans {
        nc_match(san, constraints)?;
    }
    if end_entity && !sans.iter().any(|n| matches!(n, GeneralName::Dns(_))) {
        for value in values.iter().filter(|v| v.oid == oid::COMMON_NAME) {
            // OpenSSL cannot convert such a CN (ASN1_STRING_to_UTF8 fails)
            // and aborts the verification.
            let utf8 = dn::to_utf8(value).ok_or(X509Error::Unspecified)?;
            if let Some(host) = cn_as_dns_name(&utf8)? {
                nc_match(&GeneralName::Dns(host), constraints)?;
            }
        }
    }
    Ok(())
}

/// `cn2dnsid`: the CN as a DNS name if it looks like one with at least two
/// labels (letters, digits, `_`, inner `-` and single inner `.`s).
fn cn_as_dns_name(utf8: &[u8]) -> Result<Option<Vec<u8>>, X509Error> {
    let mut len = utf8.len();
    while len > 0 && utf8[len - 1] == 0 {
        len -= 1;
    }
    let cn = &utf8[..len];
    if cn.contains(&0) {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    let mut dns = false;
    for (i, &c) in cn.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        if i > 0 && i + 1 < cn.len() {
            if c == b'-' {
                continue;
            }
            let (prev, next) = (cn[i - 1], cn[i + 1]);
            if c == b'.' && next != b'.' && prev != b'-' && next != b'-' {
                dns = true;
                continue;
            }
        }
        dns = false;
        break;
    }
    Ok(dns.then(|| cn.to_vec()))
}

/// `nc_match`: permitted subtrees of the name's type must include one that
/// matches; no excluded subtree of its type may match.
fn nc_match(name: &GeneralName, constraints: &Constraints) -> Result<(), X509Error> {
    // An SmtpUTF8Mailbox otherName is checked against rfc822Name subtrees.
    let effective = match name {
        GeneralName::Other { type_id, .. } if type_id == oid::SMTP_UTF8_MAILBOX => 1,
        other => other.kind(),
    };
    let applies = |sub: &Subtree| {
        sub.base.kind() == effective
            && match (name, &sub.base) {
                (GeneralName::Other { type_id: a, .. }, GeneralName::Other { type_id: b, .. }) => {
                    a == b
                }
                _ => true,
            }
    };
    let mut matched = None;
    for sub in constraints.permitted.iter().filter(|s| applies(s)) {
        if !sub.minmax_valid {
            return Err(X509Error::SubtreeMinMax);
        }
        if matched == Some(true) {
            continue;
        }
        matched = Some(false);
        match match_single(name, &sub.base) {
            Ok(()) => matched = Some(true),
            Err(X509Error::PermittedViolation) => {}
            Err(e) => return Err(e),
        }
    }
    if matched == Some(false) {
        return Err(X509Error::PermittedViolation);
    }
    for sub in constraints.excluded.iter().filter(|s| applies(s)) {
        if !sub.minmax_valid {
            return Err(X509Error::SubtreeMinMax);
        }
        match match_single(name, &sub.base) {
            Ok(()) => return Err(X509Error::ExcludedViolation),
            Err(X509Error::PermittedViolation) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `nc_match_single`: `Ok` when `name` is inside `base`'s subtree,
/// `PermittedViolation` when it is not.
fn match_single(name: &GeneralName, base: &GeneralName) -> Result<(), X509Error> {
    match (name, base) {
        (GeneralName::Other { value, .. }, GeneralName::Email(base)) => email_eai(value, base),
        (GeneralName::Directory(name), GeneralName::Directory(base)) => dir_name(name, base),
        (GeneralName::Dns(name), GeneralName::Dns(base)) => dns(name, base),
        (GeneralName::Email(name), GeneralName::Email(base)) => email(name, base),
        (GeneralName::Uri(name), GeneralName::Uri(base)) => uri(name, base),
        (GeneralName::Ip(name), GeneralName::Ip(base)) => ip(name, base),
        _ => Err(X509Error::UnsupportedConstraintType),
    }
}

fn violation_unless(ok: bool) -> Result<(), X509Error> {
    if ok {
        Ok(())
    } else {
        Err(X509Error::PermittedViolation)
    }
}

/// `nc_dn`: the constraint's canonical encoding is a prefix of the name's.
fn dir_name(name: &[u8], base: &[u8]) -> Result<(), X509Error> {
    let name = dn::canonical(name).map_err(|_| X509Error::Unspecified)?;
    let base = dn::canonical(base).map_err(|_| X509Error::Unspecified)?;
    violation_unless(name.starts_with(&base))
}

/// `nc_dns`: equal, or `name` ends with `base` at a label boundary (a
/// leading `.` in `base` allows only subdomains); ASCII case-insensitive.
fn dns(name: &[u8], base: &[u8]) -> Result<(), X509Error> {
    if base.is_empty() {
        return Ok(());
    }
    if name.len() < base.len() {
        return Err(X509Error::PermittedViolation);
    }
    let start = name.len() - base.len();
    if start > 0 && base[0] != b'.' && name[start - 1] != b'.' {
        return Err(X509Error::PermittedViolation);
    }
    violation_unless(name[start..].eq_ignore_ascii_case(base))
}

/// `nc_email`: a base without `@` and with a leading `.` matches any
/// address whose end equals it; a base with a local part must match it
/// exactly (case-sensitive); the host parts must be equal (ASCII
/// case-insensitive).
fn email(name: &[u8], base: &[u8]) -> Result<(), X509Error> {
    let Some(name_at) = name.iter().rposition(|&b| b == b'@') else {
        return Err(X509Error::UnsupportedNameSyntax);
    };
    let base_at = base.iter().rposition(|&b| b == b'@');
    if base_at.is_none() && base.first() == Some(&b'.') {
        return violation_unless(
            name.len() > base.len() && name[name.len() - base.len()..].eq_ignore_ascii_case(base),
        );
    }
    let mut base_host = base;
    if let Some(at) = base_at {
        if at > 0 {
            let (base_local, name_local) = (&base[..at], &name[..name_at]);
            if base_local.len() != name_local.len() {
                return Err(X509Error::PermittedViolation);
            }
            if base_local.contains(&0) || name_local.contains(&0) {
                return Err(X509Error::UnsupportedNameSyntax);
            }
            if base_local != name_local {
                return Err(X509Error::PermittedViolation);
            }
        }
        base_host = &base[at + 1..];
    }
    violation_unless(name[name_at + 1..].eq_ignore_ascii_case(base_host))
}

/// `nc_email_eai` of OpenSSL 3.0 for an SmtpUTF8Mailbox: the host part
/// must equal the whole constraint (ASCII case-insensitive). A constraint
/// OpenSSL would first convert from punycode (an `xn--` label), or one with
/// a leading `.` (which 3.0 handles inconsistently), is refused with
/// "unspecified" whether it is permitted or excluded: never fail open.
fn email_eai(value: &[u8], base: &[u8]) -> Result<(), X509Error> {
    if base.contains(&0) {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    let (tlv, rest) = read_tlv(value).map_err(|_| X509Error::UnsupportedNameSyntax)?;
    if !rest.is_empty() || !tlv.is_universal(12, false) {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    let mailbox = tlv.content;
    let Some(at) = mailbox.iter().rposition(|&b| b == b'@') else {
        return Err(X509Error::UnsupportedNameSyntax);
    };
    let punycode = base
        .split(|&b| b == b'.')
        .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case(b"xn--"));
    if punycode || base.first() == Some(&b'.') {
        return Err(X509Error::Unspecified);
    }
    violation_unless(mailbox[at + 1..].eq_ignore_ascii_case(base))
}

/// `nc_uri` (OpenSSL 3.0): the host of `scheme://host[:port][/...]` equals
/// the constraint, or ends with it when the constraint starts with `.`.
fn uri(name: &[u8], base: &[u8]) -> Result<(), X509Error> {
    let colon = name
        .iter()
        .position(|&b| b == b':')
        .ok_or(X509Error::UnsupportedNameSyntax)?;
    if name.len() - colon < 3 || name[colon + 1] != b'/' || name[colon + 2] != b'/' {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    let host_and_rest = &name[colon + 3..];
    let end = host_and_rest
        .iter()
        .position(|&b| b == b':')
        .or_else(|| host_and_rest.iter().position(|&b| b == b'/'))
        .unwrap_or(host_and_rest.len());
    let host = &host_and_rest[..end];
    if host.is_empty() {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    if base.first() == Some(&b'.') {
        return violation_unless(
            host.len() > base.len() && host[host.len() - base.len()..].eq_ignore_ascii_case(base),
        );
    }
    violation_unless(host.eq_ignore_ascii_case(base))
}

/// `nc_ip`: address and netmask of the same family.
fn ip(name: &[u8], base: &[u8]) -> Result<(), X509Error> {
    if !matches!(name.len(), 4 | 16) || !matches!(base.len(), 8 | 32) {
        return Err(X509Error::UnsupportedNameSyntax);
    }
    if name.len() * 2 != base.len() {
        return Err(X509Error::PermittedViolation);
    }
    let (addr, mask) = base.split_at(name.len());
    violation_unless(
        name.iter()
            .zip(addr)
            .zip(mask)
            .all(|((n, a), m)| n & m == a & m),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_like_openssl() {
        assert_eq!(dns(b"a.partner.example", b"partner.example"), Ok(()));
        assert_eq!(dns(b"partner.example", b"partner.example"), Ok(()));
        assert_eq!(dns(b"PARTNER.example", b"partner.EXAMPLE"), Ok(()));
        assert!(dns(b"evilpartner.example", b"partner.example").is_err());
        assert!(dns(b"partner.example", b".partner.example").is_err());
        assert_eq!(dns(b"a.partner.example", b".partner.example"), Ok(()));
        assert_eq!(dns(b"anything", b""), Ok(()));
    }

    #[test]
    fn email_like_openssl() {
        assert_eq!(email(b"bob@partner.example", b"partner.example"), Ok(()));
        assert!(email(b"bob@x.partner.example", b"partner.example").is_err());
        assert_eq!(email(b"bob@x.partner.example", b".partner.example"), Ok(()));
        assert_eq!(
            email(b"bob@partner.example", b"bob@partner.example"),
            Ok(())
        );
        assert!(email(b"Bob@partner.example", b"bob@partner.example").is_err());
        assert_eq!(email(b"bob@partner.example", b"@partner.example"), Ok(()));
        assert_eq!(
            email(b"no-at-sign", b"partner.example"),
            Err(X509Error::UnsupportedNameSyntax)
        );
    }

    #[test]
    fn uri_and_ip_like_openssl() {
        assert_eq!(
            uri(b"https://a.partner.example:8443/x", b".partner.example"),
            Ok(())
        );
        assert_eq!(
            uri(b"https://partner.example/x", b"partner.example"),
            Ok(())
        );
        assert!(uri(b"https://a.partner.example/", b"partner.example").is_err());
        assert_eq!(
            uri(b"urn:x", b"partner.example"),
            Err(X509Error::UnsupportedNameSyntax)
        );
        assert_eq!(ip(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]), Ok(()));
        assert!(ip(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]).is_err());
    }

    #[test]
    fn cn_host_names() {
        assert_eq!(
            cn_as_dns_name(b"admin.corp.example"),
            Ok(Some(b"admin.corp.example".to_vec()))
        );
        assert_eq!(cn_as_dns_name(b"alice"), Ok(None));
        assert_eq!(cn_as_dns_name(b"Alice Smith"), Ok(None));
        assert_eq!(cn_as_dns_name(b"a..b"), Ok(None));
        assert_eq!(cn_as_dns_name(b".a.b"), Ok(None));
        assert_eq!(cn_as_dns_name(b"a.b\0\0"), Ok(Some(b"a.b".to_vec())));
        assert_eq!(
            cn_as_dns_name(b"a\0.b"),
            Err(X509Error::UnsupportedNameSyntax)
        );
    }

    fn subtree(base: GeneralName) -> Subtree {
        Subtree {
            base,
            minmax_valid: true,
        }
    }

    #[test]
    fn permitted_then_excluded() {
        let c = Constraints {
            permitted: vec![subtree(GeneralName::Dns(b"partner.example".to_vec()))],
            excluded: vec![subtree(GeneralName::Dns(b"bad.partner.example".to_vec()))],
        };
        assert_eq!(
            nc_match(&GeneralName::Dns(b"a.partner.example".to_vec()), &c),
            Ok(())
        );
        assert_eq!(
            nc_match(&GeneralName::Dns(b"corp.example".to_vec()), &c),
            Err(X509Error::PermittedViolation)
        );
        assert_eq!(
            nc_match(&GeneralName::Dns(b"x.bad.partner.example".to_vec()), &c),
            Err(X509Error::ExcludedViolation)
        );
        // No subtree of the name's type: no constraint.
        assert_eq!(nc_match(&GeneralName::Ip(vec![1, 2, 3, 4]), &c), Ok(()));
    }

    #[test]
    fn constraints_parse_and_minmax() {
        // SEQUENCE { [0] { SEQUENCE { [2] "a.b" } } [1] { SEQUENCE { [2] "c" [1] 5 } } }
        let der = [
            0x30, 0x13, 0xA0, 0x07, 0x30, 0x05, 0x82, 0x03, b'a', b'.', b'b', 0xA1, 0x08, 0x30,
            0x06, 0x82, 0x01, b'c', 0x81, 0x01, 0x05,
        ];
        let c = constraints(&der).expect("parses");
        assert_eq!(
            c.permitted,
            vec![subtree(GeneralName::Dns(b"a.b".to_vec()))]
        );
        assert!(!c.excluded[0].minmax_valid);
        assert_eq!(
            nc_match(&GeneralName::Dns(b"x.a.b".to_vec()), &c),
            Err(X509Error::SubtreeMinMax)
        );
        assert!(constraints(&der[..10]).is_none());
    }
}
