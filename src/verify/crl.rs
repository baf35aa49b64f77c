//! CRLs as OpenSSL 3.0 reads and applies them for nginx's `ssl_crl`
//! (`X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL`, no extended CRL
//! support, no delta CRL use).
//!
//! rustls-webpki refuses, at load, CRLs that OpenSSL uses: version 1 CRLs
//! without extensions (`openssl ca -gencrl` without a `crlnumber` file,
//! several CA products), delta CRLs, and CRLs with an unknown critical
//! extension (which OpenSSL loads and then reports for each certificate as
//! `unhandled critical CRL extension`). So the gateway reads CRLs itself
//! ([`CrlRecord::parse`]) and applies them after webpki has built and
//! verified the path ([`check_cert`]), replaying OpenSSL's `check_cert`:
//!
//! 1. `get_crl_sk`: among the CRLs whose issuer name is the certificate's
//!    issuer, whose authorityKeyIdentifier matches the issuer's key and which
//!    are neither indirect nor reason-partitioned, the best scored (no
//!    unhandled critical extension, in scope, current), the newest on a tie;
//!    none at all is `unable to get certificate CRL`;
//! 2. `check_crl`: the issuer's keyUsage allows cRLSign, the scope (the
//!    Issuing Distribution Point against the certificate's CRL distribution
//!    points), the times, the signature by the issuer's key;
//! 3. `cert_crl`: an unhandled critical extension, then the serial number
//!    (an entry with reason removeFromCRL does not revoke);
//! 4. a CRL out of scope leaves the revocation status unknown: `unable to
//!    get certificate CRL` follows.
//!
//! Every error is collected (nginx's callback continues); the caller keeps
//! the last one, as OpenSSL's `X509_STORE_CTX` does.

use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::X509Error;
use super::policy::CrlExpired;
use super::profile::Profile;
use crate::identity::der::{Children, Tlv, read_tlv};

/// OID contents of the extensions read here.
mod oid {
    /// 2.5.29.14
    pub const SUBJECT_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1D, 0x0E];
    /// 2.5.29.21
    pub const REASON_CODE: &[u8] = &[0x55, 0x1D, 0x15];
    /// 2.5.29.27
    pub const DELTA_CRL_INDICATOR: &[u8] = &[0x55, 0x1D, 0x1B];
    /// 2.5.29.28
    pub const ISSUING_DISTRIBUTION_POINT: &[u8] = &[0x55, 0x1D, 0x1C];
    /// 2.5.29.29
    pub const CERTIFICATE_ISSUER: &[u8] = &[0x55, 0x1D, 0x1D];
    /// 2.5.29.31
    pub const CRL_DISTRIBUTION_POINTS: &[u8] = &[0x55, 0x1D, 0x1F];
    /// 2.5.29.35
    pub const AUTHORITY_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1D, 0x23];
}

/// keyUsage cRLSign, as [`Profile::key_usage`] holds it.
const KU_CRL_SIGN: u16 = 0x0002;
/// The CRL reason code removeFromCRL (only meaningful in delta CRLs).
const REASON_REMOVE_FROM_CRL: u8 = 8;

/// Why a CRL cannot be read at all (nginx refuses such a file too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlParseError {
    #[error("{0}")]
    Der(String),
    #[error("unexpected data after the CRL")]
    TrailingData,
    #[error("its issuer name cannot be printed: {0}")]
    Issuer(String),
}

/// A distribution point name, as OpenSSL compares them (`idp_check_dp`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum DpName {
    /// fullName: each GeneralName's DER.
    Full(Vec<Vec<u8>>),
    /// nameRelativeToCRLIssuer, completed with the issuer's name: its DER.
    Relative(Vec<u8>),
}

/// The Issuing Distribution Point of a CRL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Idp {
    name: Option<DpName>,
    only_user: bool,
    only_ca: bool,
    only_attributes: bool,
    some_reasons: bool,
    indirect: bool,
    /// More than one `onlyContains*` (OpenSSL's `IDP_INVALID`).
    invalid: bool,
}

/// One CRL of the `crl` file.
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// Issuer DN, for messages.
    pub issuer_dn: String,
    /// Issuer `Name`, DER with its SEQUENCE header, as certificates carry it.
    pub issuer_der: Vec<u8>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// Revoked serials (DER INTEGER contents), sorted, each with whether its
    /// reason is removeFromCRL.
    revoked: Vec<(Vec<u8>, bool)>,
    /// The authorityKeyIdentifier's keyIdentifier.
    key_id: Option<Vec<u8>>,
    idp: Option<Idp>,
    /// A delta CRL indicator: OpenSSL without `X509_V_FLAG_USE_DELTAS` uses
    /// it as a complete CRL, skipping the keyUsage and scope checks.
    delta: bool,
    /// A critical extension OpenSSL does not handle, in the CRL or an entry
    /// (`EXFLAG_CRITICAL`).
    unhandled_critical: bool,
    /// The signed part, the outer signature algorithm's content and the
    /// signature, checked against the issuer's key at use.
    tbs: Vec<u8>,
    algorithm: Vec<u8>,
    signature: Vec<u8>,
    /// The outer and inner signature algorithms are the same.
    algorithms_agree: bool,
}

impl CrlRecord {
    /// Reads one DER CRL, as OpenSSL loads it: any version, any extension.
    ///
    /// # Errors
    /// [`CrlParseError`] when the structure cannot be read.
    pub fn parse(der: &[u8]) -> Result<CrlRecord, CrlParseError> {
        let (rest, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| CrlParseError::Der(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CrlParseError::TrailingData);
        }
        let issuer_der = crl.issuer().as_raw().to_vec();
        let mut record = CrlRecord {
            issuer_dn: crate::identity::dn::rfc2253(&issuer_der)
                .map_err(|e| CrlParseError::Issuer(e.to_string()))?,
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            revoked: Vec::new(),
            key_id: None,
            idp: None,
            delta: false,
            unhandled_critical: false,
            tbs: crl.tbs_cert_list.as_ref().to_vec(),
            algorithm: super::reason::signature_algorithm(der)
                .unwrap_or_default()
                .to_vec(),
            signature: crl.signature_value.data.to_vec(),
            algorithms_agree: crl.signature_algorithm == crl.tbs_cert_list.signature,
            issuer_der,
        };
        for ext in crl.extensions() {
            let oid = ext.oid.as_bytes();
            if oid == oid::ISSUING_DISTRIBUTION_POINT {
                record.idp = Some(idp(ext.value, &record.issuer_der).unwrap_or(Idp {
                    invalid: true,
                    ..Idp::default()
                }));
            } else if oid == oid::AUTHORITY_KEY_IDENTIFIER {
                record.key_id = authority_key_id(ext.value);
            } else if oid == oid::DELTA_CRL_INDICATOR {
                record.delta = true;
            } else if ext.critical {
                record.unhandled_critical = true;
            }
        }
        for entry in crl.iter_revoked_certificates() {
            let mut remove = false;
            for ext in entry.extensions() {
                let oid = ext.oid.as_bytes();
                if oid == oid::REASON_CODE {
                    remove = reason_code(ext.value) == Some(REASON_REMOVE_FROM_CRL);
                }
                if ext.critical && oid != oid::CERTIFICATE_ISSUER {
                    record.unhandled_critical = true;
                }
            }
            record.revoked.push((entry.raw_serial().to_vec(), remove));
        }
        record.revoked.sort();
        Ok(record)
    }

    /// Why OpenSSL (without extended CRL support) never uses this CRL, if so.
    pub fn never_used(&self) -> Option<&'static str> {
        let idp = self.idp.as_ref()?;
        if idp.indirect {
            Some("it is an indirect CRL")
        } else if idp.some_reasons {
            Some("it covers only some revocation reasons")
        } else if idp.only_attributes {
            Some("it covers only attribute certificates")
        } else {
            None
        }
    }

    /// Whether it carries a critical extension OpenSSL does not handle (every
    /// certificate it covers then fails with `unhandled critical CRL extension`).
    pub fn has_unhandled_critical(&self) -> bool {
        self.unhandled_critical
    }

    /// Whether `serial` is listed (and not as removeFromCRL).
    fn revokes(&self, serial: &[u8]) -> bool {
        let at = self.revoked.partition_point(|(s, _)| s.as_slice() < serial);
        self.revoked
            .get(at)
            .is_some_and(|(s, remove)| s == serial && !remove)
    }

    fn current(&self, expired: CrlExpired, now: i64) -> bool {
        self.this_update <= now
            && (expired == CrlExpired::Accept || self.next_update.is_none_or(|n| now < n))
    }
}

/// What the CRL check reads from a certificate of the chain.
pub(super) struct CertFacts {
    issuer: Vec<u8>,
    serial: Vec<u8>,
    /// `EXFLAG_CA`: basicConstraints cA, or a self-issued v1 certificate.
    ca: bool,
    crl_dps: Vec<DistPoint>,
    /// As an issuer: its subjectKeyIdentifier, keyUsage and key.
    key_id: Option<Vec<u8>>,
    key_usage: Option<u16>,
    key: SpkiKey,
}

/// A certificate's public key as a signature check needs it: the
/// SubjectPublicKeyInfo's algorithm identifier (content) and key bits.
/// Shared by the CRL check and OCSP (`ocsp::message`).
pub(crate) struct SpkiKey {
    algorithm: Vec<u8>,
    pub(crate) bits: Vec<u8>,
}

impl SpkiKey {
    /// The key of `cert`, or `None` if its SubjectPublicKeyInfo cannot be read.
    pub(crate) fn of(cert: &X509Certificate<'_>) -> Option<SpkiKey> {
        let spki = cert.public_key();
        let (alg, _) = read_tlv(spki.raw).ok()?;
        let (alg, _) = read_tlv(alg.content).ok()?;
        Some(SpkiKey {
            algorithm: alg.content.to_vec(),
            bits: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Whether this key made `signature` over `message` with `algorithm`.
    pub(crate) fn signed(
        &self,
        algorithm: &[u8],
        message: &[u8],
        signature: &[u8],
        algs: &[&dyn SignatureVerificationAlgorithm],
    ) -> bool {
        algs.iter()
            .filter(|a| {
                a.signature_alg_id().as_ref() == algorithm
                    && a.public_key_alg_id().as_ref() == self.algorithm
            })
            .any(|a| a.verify_signature(&self.bits, message, signature).is_ok())
    }
}

/// One DistributionPoint of a certificate's cRLDistributionPoints.
struct DistPoint {
    name: Option<DpName>,
    /// Limited to some reasons.
    reasons: bool,
    /// cRLIssuer: the directoryName entries.
    crl_issuer: Option<Vec<Vec<u8>>>,
}

impl CertFacts {
    /// The facts of a certificate, or `None` if it cannot be read.
    pub(super) fn parse(der: &[u8], profile: &Profile) -> Option<CertFacts> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let key = SpkiKey::of(&cert)?;
        let mut facts = CertFacts {
            issuer: cert.issuer().as_raw().to_vec(),
            serial: cert.raw_serial().to_vec(),
            ca: profile.basic_constraints.is_some_and(|b| b.ca)
                || (profile.version1 && profile.self_issued()),
            crl_dps: Vec::new(),
            key_id: None,
            key_usage: profile.key_usage,
            key,
        };
        for ext in cert.extensions() {
            let oid = ext.oid.as_bytes();
            if oid == oid::SUBJECT_KEY_IDENTIFIER {
                facts.key_id = read_tlv(ext.value)
                    .ok()
                    .filter(|(t, rest)| rest.is_empty() && t.is_universal(4, false))
                    .map(|(t, _)| t.content.to_vec());
            } else if oid == oid::CRL_DISTRIBUTION_POINTS {
                facts.crl_dps = distribution_points(ext.value, &facts.issuer).unwrap_or_default();
            }
        }
        Some(facts)
    }
}

/// `crl_crldp_check`: whether `crl` covers `cert`, and for all reasons.
fn scope(crl: &CrlRecord, cert: &CertFacts) -> (bool, bool) {
    let idp = crl.idp.as_ref();
    if let Some(idp) = idp
        && (idp.only_attributes || (cert.ca && idp.only_user) || (!cert.ca && idp.only_ca))
    {
        return (false, false);
    }
    for dp in &cert.crl_dps {
        let issuer_ok = dp
            .crl_issuer
            .as_ref()
            .is_none_or(|names| names.contains(&crl.issuer_der));
        if issuer_ok && idp.is_none_or(|i| dp_names_match(dp.name.as_ref(), i.name.as_ref())) {
            return (true, !dp.reasons);
        }
    }
    let covered = idp.is_none_or(|i| i.name.is_none());
    (covered, covered)
}

/// `idp_check_dp`.
fn dp_names_match(a: Option<&DpName>, b: Option<&DpName>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    match (a, b) {
        (DpName::Relative(x), DpName::Relative(y)) => x == y,
        (DpName::Relative(name), DpName::Full(names))
        | (DpName::Full(names), DpName::Relative(name)) => names
            .iter()
            .filter_map(|g| directory_name(g))
            .any(|d| d == name.as_slice()),
        (DpName::Full(x), DpName::Full(y)) => x.iter().any(|g| y.contains(g)),
    }
}

/// The CRL check of `cert` (issued by `issuer`, the next certificate of the
/// chain, or itself at the top), OpenSSL's errors in order.
pub(super) fn check_cert(
    cert: &CertFacts,
    issuer: &CertFacts,
    crls: &[CrlRecord],
    expired: CrlExpired,
    now: i64,
    algs: &[&dyn SignatureVerificationAlgorithm],
    errors: &mut Vec<X509Error>,
) {
    // get_crl_sk: the best-scored candidate, the newest on a tie.
    let mut best: Option<(u8, &CrlRecord, bool, bool)> = None;
    for crl in crls {
        let key_ok = match (&crl.key_id, &issuer.key_id) {
            (Some(a), Some(s)) => a == s,
            _ => true,
        };
        if crl.issuer_der != cert.issuer || crl.never_used().is_some() || !key_ok {
            continue;
        }
        let (in_scope, all_reasons) = scope(crl, cert);
        let score = u8::from(!crl.unhandled_critical) * 4
            + u8::from(in_scope) * 2
            + u8::from(crl.current(expired, now));
        let better = match best {
            None => true,
            Some((s, b, _, _)) => score > s || (score == s && crl.this_update > b.this_update),
        };
        if better {
            best = Some((score, crl, in_scope, all_reasons));
        }
    }
    let Some((_, crl, in_scope, all_reasons)) = best else {
        errors.push(X509Error::UnableToGetCrl);
        return;
    };
    // check_crl
    if !crl.delta {
        if issuer.key_usage.is_some_and(|k| k & KU_CRL_SIGN == 0) {
            errors.push(X509Error::KeyUsageNoCrlSign);
        }
        if !in_scope {
            errors.push(X509Error::DifferentCrlScope);
        }
        if crl.idp.as_ref().is_some_and(|i| i.invalid) {
            errors.push(X509Error::InvalidExtension);
        }
    }
    if crl.this_update > now {
        errors.push(X509Error::CrlNotYetValid);
    }
    if expired == CrlExpired::Reject && crl.next_update.is_some_and(|n| n <= now) {
        errors.push(X509Error::CrlHasExpired);
    }
    if !crl.algorithms_agree
        || !issuer
            .key
            .signed(&crl.algorithm, &crl.tbs, &crl.signature, algs)
    {
        errors.push(X509Error::CrlSignatureFailure);
    }
    // cert_crl
    if crl.unhandled_critical {
        errors.push(X509Error::UnhandledCriticalCrlExtension);
    }
    if crl.revokes(&cert.serial) {
        errors.push(X509Error::CertRevoked);
    }
    // The status stays unknown for the reasons this CRL does not cover.
    if !(in_scope && all_reasons) {
        errors.push(X509Error::UnableToGetCrl);
    }
}

/// The CRL errors of a whole path (leaf first, trust anchor last): the
/// first `scope` certificates, each with the next as its issuer (the top
/// with itself). `None` when a certificate cannot be read.
pub(super) fn check_path(
    path: &[(&[u8], &Profile)],
    scope: usize,
    crls: &[CrlRecord],
    expired: CrlExpired,
    now: i64,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Option<Vec<X509Error>> {
    let facts: Vec<CertFacts> = path
        .iter()
        .map(|(der, profile)| CertFacts::parse(der, profile))
        .collect::<Option<_>>()?;
    let mut errors = Vec::new();
    for (i, cert) in facts.iter().enumerate().take(scope) {
        let issuer = facts.get(i + 1).unwrap_or(cert);
        check_cert(cert, issuer, crls, expired, now, algs, &mut errors);
    }
    Some(errors)
}

/// The `[0] keyIdentifier` of an AuthorityKeyIdentifier.
fn authority_key_id(value: &[u8]) -> Option<Vec<u8>> {
    let (seq, _) = read_tlv(value).ok()?;
    Children::new(seq.content)
        .filter_map(Result::ok)
        .find(|t| t.class == 2 && t.tag == 0 && !t.constructed)
        .map(|t| t.content.to_vec())
}

/// A CRLReason ENUMERATED.
fn reason_code(value: &[u8]) -> Option<u8> {
    let (t, _) = read_tlv(value).ok()?;
    match t.content {
        [code] if t.is_universal(10, false) => Some(*code),
        _ => None,
    }
}

/// A DER BOOLEAN's value inside an implicitly tagged field.
fn boolean(t: &Tlv<'_>) -> Option<bool> {
    match t.content {
        [b] => Some(*b != 0),
        _ => None,
    }
}

/// An IssuingDistributionPoint (RFC 5280 5.2.5); `None` if malformed.
fn idp(value: &[u8], issuer: &[u8]) -> Option<Idp> {
    let (seq, _) = read_tlv(value).ok()?;
    if !seq.is_universal(16, true) {
        return None;
    }
    let mut idp = Idp::default();
    for field in Children::new(seq.content) {
        let field = field.ok()?;
        if field.class != 2 {
            return None;
        }
        match field.tag {
            0 => idp.name = Some(dp_name(field.content, issuer)?),
            1 => idp.only_user = boolean(&field)?,
            2 => idp.only_ca = boolean(&field)?,
            3 => idp.some_reasons = true,
            4 => idp.indirect = boolean(&field)?,
            5 => idp.only_attributes = boolean(&field)?,
            _ => return None,
        }
    }
    let only = [idp.only_user, idp.only_ca, idp.only_attributes];
    idp.invalid = only.iter().filter(|b| **b).count() > 1;
    Some(idp)
}

/// A DistributionPointName (the content of its explicit `[0]`).
fn dp_name(content: &[u8], issuer: &[u8]) -> Option<DpName> {
    let (choice, _) = read_tlv(content).ok()?;
    match (choice.class, choice.tag) {
        (2, 0) => Some(DpName::Full(
            Children::new(choice.content)
                .map(|g| g.map(|g| g.raw.to_vec()))
                .collect::<Result<_, _>>()
                .ok()?,
        )),
        (2, 1) => {
            // DIST_POINT_set_dpname: the issuer's name plus this RDN.
            let (name, _) = read_tlv(issuer).ok()?;
            let rdn = encode(0x31, choice.content);
            Some(DpName::Relative(encode(
                0x30,
                &[name.content, rdn.as_slice()].concat(),
            )))
        }
        _ => None,
    }
}

/// A certificate's cRLDistributionPoints; `None` if malformed.
fn distribution_points(value: &[u8], issuer: &[u8]) -> Option<Vec<DistPoint>> {
    let (seq, _) = read_tlv(value).ok()?;
    let mut out = Vec::new();
    for dp in Children::new(seq.content) {
        let dp = dp.ok()?;
        let mut point = DistPoint {
            name: None,
            reasons: false,
            crl_issuer: None,
        };
        for field in Children::new(dp.content) {
            let field = field.ok()?;
            match (field.class, field.tag) {
                (2, 0) => point.name = Some(dp_name(field.content, issuer)?),
                (2, 1) => point.reasons = true,
                (2, 2) => {
                    point.crl_issuer = Some(
                        Children::new(field.content)
                            .filter_map(Result::ok)
                            .filter_map(|g| directory_name(g.raw).map(<[u8]>::to_vec))
                            .collect(),
                    );
                }
                _ => return None,
            }
        }
        out.push(point);
    }
    Some(out)
}

/// The Name of a directoryName GeneralName (`[4]`, explicit).
fn directory_name(general_name: &[u8]) -> Option<&[u8]> {
    let (g, _) = read_tlv(general_name).ok()?;
    if g.class != 2 || g.tag != 4 {
        return None;
    }
    read_tlv(g.content).ok().map(|(name, _)| name.raw)
}

/// A DER element: `tag`, the definite length, `content`.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let digits = &bytes[skip..];
            // A usize has at most 8 bytes, so the count fits the low 7 bits.
            out.push(0x80 | u8::try_from(digits.len()).unwrap_or(0x7F));
            out.extend_from_slice(digits);
        }
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_encode_as_der() {
        assert_eq!(encode(0x04, &[7; 5])[..2], [0x04, 5]);
        assert_eq!(encode(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(encode(0x04, &[7; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [&[][..], &[0x30], &[0x30, 0x80], &[0x30, 0x03, 0x02, 0x01]] {
            assert!(CrlRecord::parse(bytes).is_err());
            assert!(idp(bytes, &[]).is_none());
            let _ = distribution_points(bytes, &[]);
        }
        assert_eq!(dp_name(&[0xA1, 0x00], &[0x30]), None);
    }

    #[test]
    fn issuing_distribution_points_read_as_openssl_flags_them() {
        // onlyContainsUserCerts and onlyContainsCACerts together: invalid.
        let both = [0x30, 0x06, 0x81, 0x01, 0xFF, 0x82, 0x01, 0xFF];
        let parsed = idp(&both, &[0x30, 0x00]).expect("idp");
        assert!(parsed.invalid && parsed.only_user && parsed.only_ca);
        // A fullName URI.
        let uri = [
            0x30, 0x09, 0xA0, 0x07, 0xA0, 0x05, 0x86, 0x03, b'u', b'r', b'i',
        ];
        let parsed = idp(&uri, &[0x30, 0x00]).expect("idp");
        assert_eq!(
            parsed.name,
            Some(DpName::Full(vec![vec![0x86, 0x03, b'u', b'r', b'i']]))
        );
        assert!(!parsed.invalid);
    }
}
