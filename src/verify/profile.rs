//! [`Profile`]: what OpenSSL's verification reads from one certificate
//! (`x509v3_cache_extensions`), extracted with the crate's own DER reader.
//!
//! rustls-webpki makes the accept/reject decision; the OpenSSL rules it does
//! not apply ([`super::rules`]) and the reason replay ([`super::reason`]) work
//! on these facts. Only the certificate skeleton and the extensions OpenSSL
//! acts on are read; everything is owned so that the facts of the trust
//! store's certificates can be computed once per configuration.

use super::names::{self, Constraints, GeneralName};
use crate::identity::dn::{self, Children, DnError, Tlv, read_tlv};

/// OID contents (without tag and length) of the extensions OpenSSL handles.
pub(crate) use crate::identity::oid::encoded as oid;

/// `basicConstraints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BasicConstraints {
    pub ca: bool,
    /// pathLenConstraint (saturated at `u64::MAX`).
    pub path_len: Option<u64>,
}

/// OpenSSL's cached view of one certificate (the `ex_*` fields of `X509`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Profile {
    /// The subject `Name` TLV.
    pub subject: Vec<u8>,
    /// The issuer `Name` TLV.
    pub issuer: Vec<u8>,
    /// X.509 v1 (no version field or version 0).
    pub version1: bool,
    /// `ex_kusage`: the first two octets of the keyUsage BIT STRING.
    pub key_usage: Option<u16>,
    /// `ex_nscert`: the first octet of the Netscape cert type BIT STRING.
    pub ns_cert_type: Option<u8>,
    /// `Some(true)` when extendedKeyUsage lists clientAuth, `Some(false)`
    /// when it is present without it.
    pub client_auth_eku: Option<bool>,
    pub basic_constraints: Option<BasicConstraints>,
    /// A critical extension OpenSSL does not handle (`EXFLAG_CRITICAL`).
    pub unhandled_critical: bool,
    /// A proxy certificate (`proxyCertInfo`); nginx does not allow them.
    pub proxy: bool,
    /// An extension OpenSSL cannot decode (`EXFLAG_INVALID`): such a
    /// certificate is never linked to an issuer or subject in OpenSSL's
    /// chain building.
    pub invalid: bool,
    /// The nameConstraints extension.
    pub name_constraints: Option<Constraints>,
    /// The subjectAltName extension's names.
    pub subject_alt_names: Option<Vec<GeneralName>>,
}

pub(crate) const KU_DIGITAL_SIGNATURE: u16 = 0x0080;
pub(crate) const KU_KEY_AGREEMENT: u16 = 0x0008;
pub(crate) const KU_KEY_CERT_SIGN: u16 = 0x0004;
pub(crate) const NS_SSL_CLIENT: u8 = 0x80;
pub(crate) const NS_SSL_CA: u8 = 0x04;
/// `NS_SSL_CA | NS_SMIME_CA | NS_OBJSIGN_CA`.
pub(crate) const NS_ANY_CA: u8 = 0x07;

/// The parts of a DER certificate's `TBSCertificate` that the crate reads.
pub(crate) struct Skeleton<'a> {
    pub tbs: Tlv<'a>,
    pub version1: bool,
    pub issuer: Tlv<'a>,
    pub subject: Tlv<'a>,
    /// The `Extension` SEQUENCEs, in order.
    pub extensions: Vec<Tlv<'a>>,
}

/// Walks `Certificate` → `TBSCertificate` and its fields.
pub(crate) fn skeleton(der: &[u8]) -> Result<Skeleton<'_>, DnError> {
    let (cert, rest) = read_tlv(der)?;
    if !rest.is_empty() || !cert.is_universal(16, true) {
        return Err(DnError::Structure("not one certificate"));
    }
    let tbs = match Children::new(cert.content).next() {
        Some(t) => t?,
        None => return Err(DnError::Structure("empty certificate")),
    };
    if !tbs.is_universal(16, true) {
        return Err(DnError::Structure("TBSCertificate is not a SEQUENCE"));
    }
    let dn::TbsHead {
        version,
        issuer,
        subject,
        rest: mut fields,
    } = dn::tbs_head(&tbs)?;
    // [0] EXPLICIT Version: v1 is 0 (and should have been omitted).
    let version1 = match version {
        Some(v) => read_tlv(v.content)?.0.content.iter().all(|&b| b == 0),
        None => true,
    };
    match fields.next() {
        Some(spki) => spki?,
        None => return Err(DnError::Structure("short TBSCertificate")),
    };
    let mut extensions = Vec::new();
    for field in fields {
        let field = field?;
        // [3] EXPLICIT Extensions; [1]/[2] unique identifiers are skipped.
        if field.class == 2 && field.tag == 3 {
            let (list, _) = read_tlv(field.content)?;
            for ext in Children::new(list.content) {
                extensions.push(ext?);
            }
        }
    }
    Ok(Skeleton {
        tbs,
        version1,
        issuer,
        subject,
        extensions,
    })
}

/// One `Extension`: its OID content, critical flag and the value's octets.
pub(crate) struct Extension<'a> {
    pub oid: &'a [u8],
    pub critical: bool,
    /// The BOOLEAN TLV when the flag is encoded.
    pub critical_tlv: Option<Tlv<'a>>,
    pub value: &'a [u8],
}

pub(crate) fn extension<'a>(ext: &Tlv<'a>) -> Result<Extension<'a>, DnError> {
    let mut parts = Children::new(ext.content);
    let oid = match parts.next() {
        Some(t) => t?,
        None => return Err(DnError::Structure("extension without OID")),
    };
    let mut next = match parts.next() {
        Some(t) => t?,
        None => return Err(DnError::Structure("extension without value")),
    };
    let mut critical = false;
    let mut critical_tlv = None;
    if next.is_universal(1, false) {
        critical = next.content.first().is_some_and(|&b| b != 0);
        critical_tlv = Some(next);
        next = match parts.next() {
            Some(t) => t?,
            None => return Err(DnError::Structure("extension without value")),
        };
    }
    if !oid.is_universal(6, false) || !next.is_universal(4, false) {
        return Err(DnError::Structure("malformed extension"));
    }
    Ok(Extension {
        oid: oid.content,
        critical,
        critical_tlv,
        value: next.content,
    })
}

impl Profile {
    /// The facts of a DER certificate, or `None` if its structure cannot be
    /// read at all.
    pub fn parse(der: &[u8]) -> Option<Profile> {
        let sk = skeleton(der).ok()?;
        let mut p = Profile {
            subject: sk.subject.raw.to_vec(),
            issuer: sk.issuer.raw.to_vec(),
            version1: sk.version1,
            ..Profile::default()
        };
        for ext in &sk.extensions {
            let Ok(ext) = extension(ext) else {
                p.invalid = true;
                continue;
            };
            if ext.critical && !oid::OPENSSL_SUPPORTED.contains(&ext.oid) {
                p.unhandled_critical = true;
            }
            let parsed = match ext.oid {
                oid::KEY_USAGE => bit_string_prefix(ext.value).map(|(a, b)| {
                    p.key_usage = Some(u16::from(a) | (u16::from(b) << 8));
                }),
                oid::NETSCAPE_CERT_TYPE => bit_string_prefix(ext.value).map(|(a, _)| {
                    p.ns_cert_type = Some(a);
                }),
                oid::EXT_KEY_USAGE => client_auth_listed(ext.value).map(|c| {
                    p.client_auth_eku = Some(c);
                }),
                oid::BASIC_CONSTRAINTS => basic_constraints(ext.value).map(|bc| {
                    p.basic_constraints = Some(bc);
                }),
                oid::NAME_CONSTRAINTS => {
                    sequence(ext.value).and_then(names::constraints).map(|c| {
                        p.name_constraints = Some(c);
                    })
                }
                oid::SUBJECT_ALT_NAME => {
                    sequence(ext.value).and_then(names::general_names).map(|n| {
                        p.subject_alt_names = Some(n);
                    })
                }
                oid::PROXY_CERT_INFO => {
                    p.proxy = true;
                    Some(())
                }
                _ => Some(()),
            };
            if parsed.is_none() {
                p.invalid = true;
            }
        }
        Some(p)
    }

    /// Subject and issuer names are equal (`EXFLAG_SI`).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// `ku_reject(x, usage)`: a keyUsage is present without any of `usage`.
    pub fn ku_rejects(&self, usage: u16) -> bool {
        self.key_usage.is_some_and(|k| k & usage == 0)
    }

    /// `ns_reject(x, usage)`.
    pub fn ns_rejects(&self, usage: u8) -> bool {
        self.ns_cert_type.is_some_and(|n| n & usage == 0)
    }

    /// `xku_reject(x, XKU_SSL_CLIENT)`.
    pub fn eku_rejects_client(&self) -> bool {
        self.client_auth_eku == Some(false)
    }

    /// The subject's attributes.
    /// The names name constraints apply to.
    pub fn names_for_constraints(&self) -> names::Subject<'_> {
        names::Subject {
            name: &self.subject,
            values: self.subject_values(),
            alt_names: self.subject_alt_names.as_deref().unwrap_or_default(),
        }
    }

    pub fn subject_values(&self) -> Vec<dn::NameValue<'_>> {
        dn::values(&self.subject).unwrap_or_default()
    }
}

/// The first two data octets of a BIT STRING (0 when absent), with the
/// unused bits of the last octet cleared, as `c2i_ASN1_BIT_STRING` stores it.
fn bit_string_prefix(value: &[u8]) -> Option<(u8, u8)> {
    let (tlv, rest) = read_tlv(value).ok()?;
    if !rest.is_empty() || !tlv.is_universal(3, false) {
        return None;
    }
    let (&unused, data) = tlv.content.split_first()?;
    if unused > 7 {
        return None;
    }
    let mut bytes = data.to_vec();
    if let Some(last) = bytes.last_mut() {
        *last &= 0xFF_u8 << unused;
    }
    Some((
        bytes.first().copied().unwrap_or(0),
        bytes.get(1).copied().unwrap_or(0),
    ))
}

/// Whether an `ExtKeyUsageSyntax` lists id-kp-clientAuth.
fn client_auth_listed(value: &[u8]) -> Option<bool> {
    let (seq, rest) = read_tlv(value).ok()?;
    if !rest.is_empty() || !seq.is_universal(16, true) {
        return None;
    }
    let mut found = false;
    for purpose in Children::new(seq.content) {
        let purpose = purpose.ok()?;
        if !purpose.is_universal(6, false) {
            return None;
        }
        found |= purpose.content == oid::CLIENT_AUTH;
    }
    Some(found)
}

fn basic_constraints(value: &[u8]) -> Option<BasicConstraints> {
    let (seq, rest) = read_tlv(value).ok()?;
    if !rest.is_empty() || !seq.is_universal(16, true) {
        return None;
    }
    let mut parts = Children::new(seq.content).peekable();
    let mut ca = false;
    if let Some(Ok(first)) = parts.peek()
        && first.is_universal(1, false)
    {
        ca = first.content.first().is_some_and(|&b| b != 0);
        parts.next();
    }
    let path_len = match parts.next() {
        None => None,
        Some(Ok(int)) if int.is_universal(2, false) => {
            let (&first, _) = int.content.split_first()?;
            if first & 0x80 != 0 {
                // A negative pathLenConstraint makes the certificate invalid.
                return None;
            }
            Some(
                int.content
                    .iter()
                    .try_fold(0_u64, |acc, &b| {
                        acc.checked_mul(256)?.checked_add(u64::from(b))
                    })
                    .unwrap_or(u64::MAX),
            )
        }
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(BasicConstraints { ca, path_len })
}

/// The whole TLV of a value that must be exactly one SEQUENCE.
fn sequence(value: &[u8]) -> Option<&[u8]> {
    let (seq, rest) = read_tlv(value).ok()?;
    (rest.is_empty() && seq.is_universal(16, true)).then_some(seq.raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_strings_as_openssl_stores_them() {
        // keyUsage digitalSignature (bit 0) and keyCertSign (bit 5).
        assert_eq!(
            bit_string_prefix(&[0x03, 0x02, 0x01, 0x84]),
            Some((0x84, 0))
        );
        // Unused bits are cleared.
        assert_eq!(
            bit_string_prefix(&[0x03, 0x02, 0x07, 0xFF]),
            Some((0x80, 0))
        );
        // decipherOnly is bit 8, in the second octet.
        assert_eq!(
            bit_string_prefix(&[0x03, 0x03, 0x07, 0x80, 0x80]),
            Some((0x80, 0x80))
        );
        assert_eq!(bit_string_prefix(&[0x03, 0x01, 0x00]), Some((0, 0)));
        assert_eq!(bit_string_prefix(&[0x03, 0x01, 0x08]), None);
        assert_eq!(bit_string_prefix(&[0x04, 0x01, 0x00]), None);
    }

    #[test]
    fn basic_constraints_forms() {
        assert_eq!(
            basic_constraints(&[0x30, 0x00]),
            Some(BasicConstraints {
                ca: false,
                path_len: None
            })
        );
        assert_eq!(
            basic_constraints(&[0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x02]),
            Some(BasicConstraints {
                ca: true,
                path_len: Some(2)
            })
        );
        assert_eq!(
            basic_constraints(&[0x30, 0x03, 0x02, 0x01, 0xFF]),
            None,
            "negative pathlen"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| u8::try_from((i * 37 + 11) % 256).unwrap())
                .collect();
            let _ = Profile::parse(&bytes);
            let _ = basic_constraints(&bytes);
            let _ = client_auth_listed(&bytes);
            let _ = bit_string_prefix(&bytes);
        }
    }
}
