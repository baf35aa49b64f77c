//! OpenSSL's verification error codes and texts, and the classifier that
//! explains a rejected chain the way nginx (OpenSSL 3.0) reports it in
//! `$ssl_client_verify`.
//!
//! The accept/reject decision is rustls-webpki's (see [`super`]); this module
//! only chooses the *reason text*. It replays OpenSSL's `X509_verify_cert`
//! with nginx's always-continue callback: chain building by name, then
//! extension checks (critical extensions, CA flags, the `ssl_client`
//! purpose, path length), revocation, `internal_verify` from the top of the
//! chain down (the issuer's keyUsage, the signature, then validity), and
//! last the name constraints. Every error is reported and the **last one
//! wins**, which is why "unknown CA and expired" reads
//! `certificate has expired`, and a name-constraint violation on an expired
//! certificate reads `permitted subtree violation`.

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};

use super::crl;
use super::policy::{ClientAuth, CrlCheck};
use super::profile::Profile;
use super::rules;
use crate::identity::dn::{Children, read_tlv};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser as _;
use x509_parser::prelude::X509Certificate;

/// 2.5.29.14 and 2.5.29.35.
const SUBJECT_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1D, 0x0E];
const AUTHORITY_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1D, 0x23];

/// The content of a value that is one OCTET STRING.
fn octet_string(value: &[u8]) -> Option<Vec<u8>> {
    let (tlv, rest) = read_tlv(value).ok()?;
    (rest.is_empty() && tlv.is_universal(4, false)).then(|| tlv.content.to_vec())
}

/// The `[0] keyIdentifier` of an AuthorityKeyIdentifier.
fn authority_key_id(value: &[u8]) -> Option<Vec<u8>> {
    let (seq, _) = read_tlv(value).ok()?;
    Children::new(seq.content)
        .filter_map(Result::ok)
        .find(|t| t.class == 2 && t.tag == 0 && !t.constructed)
        .map(|t| t.content.to_vec())
}

/// The OpenSSL `X509_V_ERR_*` codes the gateway reports, with OpenSSL 3.0's
/// numbers (3.0 renumbered some: `X509_V_ERR_INVALID_CA` is 79 there, 24
/// became "issuer certificate doesn't have a public key").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509Error {
    Unspecified = 1,
    UnableToGetIssuerCert = 2,
    UnableToGetCrl = 3,
    CertSignatureFailure = 7,
    CrlSignatureFailure = 8,
    CertNotYetValid = 9,
    CertHasExpired = 10,
    CrlNotYetValid = 11,
    CrlHasExpired = 12,
    DepthZeroSelfSignedCert = 18,
    SelfSignedCertInChain = 19,
    UnableToGetIssuerCertLocally = 20,
    UnableToVerifyLeafSignature = 21,
    CertChainTooLong = 22,
    CertRevoked = 23,
    PathLengthExceeded = 25,
    InvalidPurpose = 26,
    KeyUsageNoCertSign = 32,
    UnhandledCriticalExtension = 34,
    KeyUsageNoCrlSign = 35,
    UnhandledCriticalCrlExtension = 36,
    ProxyCertificatesNotAllowed = 40,
    InvalidExtension = 41,
    DifferentCrlScope = 44,
    PermittedViolation = 47,
    ExcludedViolation = 48,
    SubtreeMinMax = 49,
    UnsupportedConstraintType = 51,
    UnsupportedConstraintSyntax = 52,
    UnsupportedNameSyntax = 53,
    InvalidCa = 79,
}

impl X509Error {
    /// Every variant, for tests and documentation.
    pub const ALL: [X509Error; 31] = [
        X509Error::Unspecified,
        X509Error::UnableToGetIssuerCert,
        X509Error::UnableToGetCrl,
        X509Error::CertSignatureFailure,
        X509Error::CrlSignatureFailure,
        X509Error::CertNotYetValid,
        X509Error::CertHasExpired,
        X509Error::CrlNotYetValid,
        X509Error::CrlHasExpired,
        X509Error::DepthZeroSelfSignedCert,
        X509Error::SelfSignedCertInChain,
        X509Error::UnableToGetIssuerCertLocally,
        X509Error::UnableToVerifyLeafSignature,
        X509Error::CertChainTooLong,
        X509Error::CertRevoked,
        X509Error::PathLengthExceeded,
        X509Error::InvalidPurpose,
        X509Error::KeyUsageNoCertSign,
        X509Error::UnhandledCriticalExtension,
        X509Error::KeyUsageNoCrlSign,
        X509Error::UnhandledCriticalCrlExtension,
        X509Error::ProxyCertificatesNotAllowed,
        X509Error::InvalidExtension,
        X509Error::DifferentCrlScope,
        X509Error::PermittedViolation,
        X509Error::ExcludedViolation,
        X509Error::SubtreeMinMax,
        X509Error::UnsupportedConstraintType,
        X509Error::UnsupportedConstraintSyntax,
        X509Error::UnsupportedNameSyntax,
        X509Error::InvalidCa,
    ];

    /// `X509_verify_cert_error_string` of OpenSSL 3.0.
    pub fn text(self) -> &'static str {
        match self {
            X509Error::Unspecified => "unspecified certificate verification error",
            X509Error::UnableToGetIssuerCert => "unable to get issuer certificate",
            X509Error::UnableToGetCrl => "unable to get certificate CRL",
            X509Error::CertSignatureFailure => "certificate signature failure",
            X509Error::CrlSignatureFailure => "CRL signature failure",
            X509Error::CrlNotYetValid => "CRL is not yet valid",
            X509Error::CertNotYetValid => "certificate is not yet valid",
            X509Error::CertHasExpired => "certificate has expired",
            X509Error::CrlHasExpired => "CRL has expired",
            X509Error::DepthZeroSelfSignedCert => "self-signed certificate",
            X509Error::SelfSignedCertInChain => "self-signed certificate in certificate chain",
            X509Error::UnableToGetIssuerCertLocally => "unable to get local issuer certificate",
            X509Error::UnableToVerifyLeafSignature => "unable to verify the first certificate",
            X509Error::CertChainTooLong => "certificate chain too long",
            X509Error::CertRevoked => "certificate revoked",
            X509Error::PathLengthExceeded => "path length constraint exceeded",
            X509Error::InvalidPurpose => "unsuitable certificate purpose",
            X509Error::KeyUsageNoCertSign => "key usage does not include certificate signing",
            X509Error::UnhandledCriticalExtension => "unhandled critical extension",
            X509Error::KeyUsageNoCrlSign => "key usage does not include CRL signing",
            X509Error::UnhandledCriticalCrlExtension => "unhandled critical CRL extension",
            X509Error::InvalidExtension => "invalid or inconsistent certificate extension",
            X509Error::DifferentCrlScope => "different CRL scope",
            X509Error::ProxyCertificatesNotAllowed => {
                "proxy certificates not allowed, please set the appropriate flag"
            }
            X509Error::PermittedViolation => "permitted subtree violation",
            X509Error::ExcludedViolation => "excluded subtree violation",
            X509Error::SubtreeMinMax => "name constraints minimum and maximum not supported",
            X509Error::UnsupportedConstraintType => "unsupported name constraint type",
            X509Error::UnsupportedConstraintSyntax => {
                "unsupported or invalid name constraint syntax"
            }
            X509Error::UnsupportedNameSyntax => "unsupported or invalid name syntax",
            X509Error::InvalidCa => "invalid CA certificate",
        }
    }

    /// The numeric OpenSSL code (for logs, as nginx logs `(N:reason)`).
    #[allow(clippy::as_conversions)] // a fieldless enum's discriminant is the OpenSSL code
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The errors `verify_client = "optional_no_ca"` lets through
    /// (nginx's `ngx_ssl_verify_error_optional`).
    pub fn tolerated_without_ca(self) -> bool {
        matches!(
            self,
            X509Error::DepthZeroSelfSignedCert
                | X509Error::SelfSignedCertInChain
                | X509Error::UnableToGetIssuerCertLocally
                | X509Error::UnableToVerifyLeafSignature
        )
    }

    /// The closest OpenSSL code for a webpki error, used when the replay
    /// finds nothing (webpki is stricter in a few places: directoryName and
    /// URI name constraints, SHA-1 signatures, RSA keys under 2048 bits).
    pub fn from_webpki(e: &webpki::Error) -> X509Error {
        use webpki::Error as E;
        match e {
            E::CertExpired { .. } => X509Error::CertHasExpired,
            E::CertNotValidYet { .. } => X509Error::CertNotYetValid,
            E::UnknownIssuer => X509Error::UnableToGetIssuerCertLocally,
            E::CertRevoked => X509Error::CertRevoked,
            E::UnknownRevocationStatus => X509Error::UnableToGetCrl,
            E::CrlExpired { .. } => X509Error::CrlHasExpired,
            E::InvalidSignatureForPublicKey
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | E::SignatureAlgorithmMismatch => X509Error::CertSignatureFailure,
            E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => X509Error::InvalidPurpose,
            E::CaUsedAsEndEntity | E::EndEntityUsedAsCa => X509Error::InvalidCa,
            E::PathLenConstraintViolated => X509Error::PathLengthExceeded,
            E::MaximumPathDepthExceeded => X509Error::CertChainTooLong,
            E::UnsupportedCriticalExtension => X509Error::UnhandledCriticalExtension,
            E::NameConstraintViolation => X509Error::PermittedViolation,
            _ => X509Error::Unspecified,
        }
    }
}

/// What the replay needs to know about one certificate.
struct Facts<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    /// OpenSSL's view of the extensions.
    profile: Profile,
    from_store: bool,
}

impl<'a> Facts<'a> {
    fn parse(der: &'a [u8], from_store: bool) -> Option<Facts<'a>> {
        let (_, cert) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(der)
            .ok()?;
        let profile = Profile::parse(der)?;
        let mut ski = None;
        let mut aki = None;
        for ext in cert.extensions() {
            let oid = ext.oid.as_bytes();
            if oid == SUBJECT_KEY_IDENTIFIER {
                ski = octet_string(ext.value);
            } else if oid == AUTHORITY_KEY_IDENTIFIER {
                aki = authority_key_id(ext.value);
            }
        }
        Some(Facts {
            der,
            cert,
            ski,
            aki,
            profile,
            from_store,
        })
    }

    fn subject(&self) -> &[u8] {
        self.cert.subject().as_raw()
    }

    fn issuer(&self) -> &[u8] {
        self.cert.issuer().as_raw()
    }

    fn not_before(&self) -> i64 {
        self.cert.validity().not_before.timestamp()
    }

    fn not_after(&self) -> i64 {
        self.cert.validity().not_after.timestamp()
    }

    /// OpenSSL's `X509_check_issued(issuer, self)` without the signature:
    /// names match and, when both are present, AKI matches the issuer's SKI.
    /// A certificate with an extension OpenSSL cannot decode is never linked.
    fn issued_by(&self, issuer: &Facts<'_>) -> bool {
        !self.profile.invalid
            && !issuer.profile.invalid
            && self.issuer() == issuer.subject()
            && match (&self.aki, &issuer.ski) {
                (Some(a), Some(s)) => a == s,
                _ => true,
            }
    }

    fn self_issued(&self) -> bool {
        self.issued_by(self)
    }

    fn valid_at(&self, now: i64) -> bool {
        self.not_before() <= now && now <= self.not_after()
    }
}

/// The DER content of the outer `signatureAlgorithm` of a signed
/// structure (a certificate or a CRL).
pub(super) fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (_, cert, _) = tlv(der)?;
    let (_, _tbs, after_tbs) = tlv(cert)?;
    let (tag, alg, _) = tlv(after_tbs)?;
    (tag == 0x30).then_some(alg)
}

/// Whether `issuer`'s key made `subject`'s signature. `None` when it cannot
/// be checked here (unsupported algorithm or unparsable issuer key).
fn signature_ok(
    subject: &Facts<'_>,
    issuer: &Facts<'_>,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Option<bool> {
    let alg_id = signature_algorithm(subject.der)?;
    let issuer_der = CertificateDer::from(issuer.der);
    let issuer_cert = webpki::EndEntityCert::try_from(&issuer_der).ok()?;
    let mut tried = false;
    for alg in algs
        .iter()
        .filter(|a| a.signature_alg_id().as_ref() == alg_id)
    {
        tried = true;
        if issuer_cert
            .verify_signature(
                *alg,
                subject.cert.tbs_certificate.as_ref(),
                subject.cert.signature_value.data.as_ref(),
            )
            .is_ok()
        {
            return Some(true);
        }
    }
    tried.then_some(false)
}

/// Replays OpenSSL's verification of `presented` (leaf first) against the
/// store certificates and returns the error nginx would report, or `None` if
/// the replay finds none.
pub fn classify(
    presented: &[CertificateDer<'_>],
    auth: &ClientAuth,
    now: i64,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Option<X509Error> {
    let store = &auth.trust.all;
    let anchors = &auth.trust.anchor_ders;
    let depth = auth.verify_depth;
    let leaf = Facts::parse(presented.first()?.as_ref(), false)?;
    let untrusted: Vec<Facts<'_>> = presented[1..]
        .iter()
        .filter_map(|c| Facts::parse(c.as_ref(), false))
        .collect();
    let trusted: Vec<Facts<'_>> = store
        .iter()
        .filter_map(|c| Facts::parse(c.as_ref(), true))
        .collect();
    let is_anchor = |f: &Facts<'_>| anchors.iter().any(|a| a.as_ref() == f.der);

    let mut errors = Vec::new();
    let max_len = usize::try_from(depth)
        .unwrap_or(usize::MAX)
        .saturating_add(2);
    let mut chain: Vec<&Facts<'_>> = vec![&leaf];
    // 1. build_chain: issuers from the trust store first, then from what the
    //    client sent; stop at a self-issued certificate or at the depth limit.
    while let Some(cur) = chain.last().copied() {
        if cur.self_issued() {
            if !(cur.from_store || is_anchor(cur)) {
                errors.push(if chain.len() == 1 {
                    X509Error::DepthZeroSelfSignedCert
                } else {
                    X509Error::SelfSignedCertInChain
                });
            }
            break;
        }
        let pick = |pool: &'_ [Facts<'_>]| -> Option<usize> {
            let candidates: Vec<usize> = (0..pool.len())
                .filter(|&i| cur.issued_by(&pool[i]) && !chain.iter().any(|c| c.der == pool[i].der))
                .collect();
            candidates
                .iter()
                .copied()
                .find(|&i| pool[i].valid_at(now))
                .or_else(|| candidates.first().copied())
        };
        let next = pick(&trusted)
            .map(|i| &trusted[i])
            .or_else(|| pick(&untrusted).map(|i| &untrusted[i]));
        match next {
            Some(issuer) if chain.len() >= max_len => {
                let _ = issuer;
                errors.push(X509Error::CertChainTooLong);
                errors.push(incomplete(cur));
                break;
            }
            Some(issuer) => chain.push(issuer),
            None => {
                errors.push(incomplete(cur));
                break;
            }
        }
    }
    // 2. check_extensions, for every certificate from the leaf up: unhandled
    //    critical extension, proxy certificate, CA flag (issuers; the top
    //    only if not a CA at all), the ssl_client purpose (the trust anchor
    //    included: nginx's PEM CA files carry no trust settings), and path
    //    length.
    let num = chain.len();
    let mut plen = 0_u64;
    for (i, cert) in chain.iter().enumerate() {
        let p = &cert.profile;
        if p.unhandled_critical {
            errors.push(X509Error::UnhandledCriticalExtension);
        }
        if p.proxy {
            errors.push(X509Error::ProxyCertificatesNotAllowed);
        }
        if i > 0 {
            let ca = rules::check_ca(p);
            if ca == 0 || (i + 1 < num && ca != 1) {
                errors.push(X509Error::InvalidCa);
            }
        }
        let purpose_ok = if i == 0 {
            rules::client_purpose_ok(p)
        } else {
            rules::ca_purpose_ok(p)
        };
        if !purpose_ok {
            errors.push(X509Error::InvalidPurpose);
        }
        if let Some(limit) = p.basic_constraints.and_then(|bc| bc.path_len)
            && i > 1
            && plen > limit
        {
            errors.push(X509Error::PathLengthExceeded);
        }
        if i > 0 && !p.self_issued() {
            plen += 1;
        }
    }
    // 3. check_revocation: with CRLs, every certificate of the chain
    //    (nginx's CRL_CHECK_ALL) or only the leaf is checked against its
    //    issuer's CRL (see crl.rs); the top is its own CRL issuer.
    if !auth.crl_records.is_empty() {
        let scope = match auth.crl_check {
            CrlCheck::Chain => chain.len(),
            CrlCheck::Leaf => 1,
        };
        let path: Vec<(&[u8], &Profile)> = chain.iter().map(|c| (c.der, &c.profile)).collect();
        if let Some(found) =
            crl::check_path(&path, scope, &auth.crl_records, auth.crl_expired, now, algs)
        {
            errors.extend(found);
        }
    }
    // 4. internal_verify: from the top down, the issuer's keyUsage, the
    //    signature, then validity.
    //    A self-issued top is checked for validity only (its signature is
    //    not, as in OpenSSL without X509_V_FLAG_CHECK_SS_SIGNATURE); an
    //    incomplete chain's top is not checked at all unless it is the leaf.
    let n = chain.len() - 1;
    let top = chain[n];
    if top.self_issued() {
        check_time(top, now, &mut errors);
    } else if n == 0 {
        errors.push(X509Error::UnableToVerifyLeafSignature);
        check_time(top, now, &mut errors);
        return errors.pop();
    }
    for i in (0..n).rev() {
        if !rules::signing_allowed(&chain[i + 1].profile) {
            errors.push(X509Error::KeyUsageNoCertSign);
        }
        if signature_ok(chain[i], chain[i + 1], algs) == Some(false) {
            errors.push(X509Error::CertSignatureFailure);
        }
        check_time(chain[i], now, &mut errors);
    }
    // 5. check_name_constraints, after internal_verify.
    let profiles: Vec<&Profile> = chain.iter().map(|c| &c.profile).collect();
    rules::for_each_violation(&profiles, |e| errors.push(e));
    errors.pop()
}

fn incomplete(last: &Facts<'_>) -> X509Error {
    if last.from_store {
        X509Error::UnableToGetIssuerCert
    } else {
        X509Error::UnableToGetIssuerCertLocally
    }
}

fn check_time(cert: &Facts<'_>, now: i64, errors: &mut Vec<X509Error>) {
    if cert.not_before() > now {
        errors.push(X509Error::CertNotYetValid);
    }
    if cert.not_after() < now {
        errors.push(X509Error::CertHasExpired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_openssl_3_0() {
        assert_eq!(
            X509Error::DepthZeroSelfSignedCert.text(),
            "self-signed certificate"
        );
        assert_eq!(
            X509Error::UnableToVerifyLeafSignature.text(),
            "unable to verify the first certificate"
        );
        assert_eq!(X509Error::UnableToVerifyLeafSignature.code(), 21);
    }

    /// `X509_verify_cert_error_string(code)` of libcrypto 3.0.19, printed
    /// for every code the gateway uses.
    #[test]
    fn every_code_and_text_is_openssl_3_0() {
        let openssl_3_0: &[(u32, &str)] = &[
            (1, "unspecified certificate verification error"),
            (2, "unable to get issuer certificate"),
            (3, "unable to get certificate CRL"),
            (7, "certificate signature failure"),
            (8, "CRL signature failure"),
            (9, "certificate is not yet valid"),
            (10, "certificate has expired"),
            (11, "CRL is not yet valid"),
            (12, "CRL has expired"),
            (18, "self-signed certificate"),
            (19, "self-signed certificate in certificate chain"),
            (20, "unable to get local issuer certificate"),
            (21, "unable to verify the first certificate"),
            (22, "certificate chain too long"),
            (23, "certificate revoked"),
            (25, "path length constraint exceeded"),
            (26, "unsuitable certificate purpose"),
            (32, "key usage does not include certificate signing"),
            (34, "unhandled critical extension"),
            (35, "key usage does not include CRL signing"),
            (36, "unhandled critical CRL extension"),
            (
                40,
                "proxy certificates not allowed, please set the appropriate flag",
            ),
            (41, "invalid or inconsistent certificate extension"),
            (44, "different CRL scope"),
            (47, "permitted subtree violation"),
            (48, "excluded subtree violation"),
            (49, "name constraints minimum and maximum not supported"),
            (51, "unsupported name constraint type"),
            (52, "unsupported or invalid name constraint syntax"),
            (53, "unsupported or invalid name syntax"),
            (79, "invalid CA certificate"),
        ];
        let ours: Vec<(u32, &str)> = X509Error::ALL
            .iter()
            .map(|e| (e.code(), e.text()))
            .collect();
        assert_eq!(ours, openssl_3_0);
    }

    #[test]
    fn optional_no_ca_tolerates_only_trust_errors() {
        assert!(X509Error::UnableToVerifyLeafSignature.tolerated_without_ca());
        assert!(X509Error::DepthZeroSelfSignedCert.tolerated_without_ca());
        assert!(!X509Error::CertHasExpired.tolerated_without_ca());
        assert!(!X509Error::UnableToGetIssuerCert.tolerated_without_ca());
    }

    #[test]
    fn garbage_der_has_no_signature_algorithm() {
        assert_eq!(signature_algorithm(&[]), None);
        assert_eq!(
            signature_algorithm(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(signature_algorithm(&[0x30, 0x02, 0x30, 0x00]), None);
    }
}
