//! OpenSSL's verification error codes and texts, and the classifier that
//! explains a rejected chain the way nginx (OpenSSL 3.0) reports it in
//! `$ssl_client_verify`.
//!
//! The accept/reject decision is rustls-webpki's (see [`super`]); this module
//! only chooses the *reason text*. It replays OpenSSL's `X509_verify_cert`
//! with nginx's always-continue callback: chain building by name, then
//! extension checks, then `internal_verify` from the top of the chain down
//! (signature, then validity). Every error is reported and the **last one
//! wins**, which is why "unknown CA and expired" reads
//! `certificate has expired` (nginx-compat.md 1.4).

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};

use super::policy::{ClientAuth, CrlCheck, CrlExpired};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One CRL as the replay (and metrics) need it.
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// Issuer DN, for messages.
    pub issuer_dn: String,
    /// Issuer `Name`, DER with its SEQUENCE header, as certificates carry it.
    pub issuer_der: Vec<u8>,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// DER INTEGER contents of every revoked serial.
    pub revoked_serials: Vec<Vec<u8>>,
}

/// The OpenSSL `X509_V_ERR_*` codes the gateway reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509Error {
    Unspecified = 1,
    UnableToGetIssuerCert = 2,
    UnableToGetCrl = 3,
    CertSignatureFailure = 7,
    CertNotYetValid = 9,
    CertHasExpired = 10,
    CrlHasExpired = 12,
    DepthZeroSelfSignedCert = 18,
    SelfSignedCertInChain = 19,
    UnableToGetIssuerCertLocally = 20,
    UnableToVerifyLeafSignature = 21,
    CertChainTooLong = 22,
    CertRevoked = 23,
    InvalidCa = 24,
    PathLengthExceeded = 25,
    InvalidPurpose = 26,
    UnhandledCriticalExtension = 34,
    PermittedViolation = 47,
}

impl X509Error {
    /// `X509_verify_cert_error_string` of OpenSSL 3.0.
    pub fn text(self) -> &'static str {
        match self {
            X509Error::Unspecified => "unspecified certificate verification error",
            X509Error::UnableToGetIssuerCert => "unable to get issuer certificate",
            X509Error::UnableToGetCrl => "unable to get certificate CRL",
            X509Error::CertSignatureFailure => "certificate signature failure",
            X509Error::CertNotYetValid => "certificate is not yet valid",
            X509Error::CertHasExpired => "certificate has expired",
            X509Error::CrlHasExpired => "CRL has expired",
            X509Error::DepthZeroSelfSignedCert => "self-signed certificate",
            X509Error::SelfSignedCertInChain => "self-signed certificate in certificate chain",
            X509Error::UnableToGetIssuerCertLocally => "unable to get local issuer certificate",
            X509Error::UnableToVerifyLeafSignature => "unable to verify the first certificate",
            X509Error::CertChainTooLong => "certificate chain too long",
            X509Error::CertRevoked => "certificate revoked",
            X509Error::InvalidCa => "invalid CA certificate",
            X509Error::PathLengthExceeded => "path length constraint exceeded",
            X509Error::InvalidPurpose => "unsupported certificate purpose",
            X509Error::UnhandledCriticalExtension => "unhandled critical extension",
            X509Error::PermittedViolation => "permitted subtree violation",
        }
    }

    /// The numeric OpenSSL code (for logs, as nginx logs `(N:reason)`).
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
    /// finds nothing (webpki is stricter in a few places, e.g. critical
    /// extensions it does not know).
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
    is_ca: bool,
    /// `false` when an EKU extension is present without clientAuth.
    client_auth_purpose: bool,
    from_store: bool,
}

impl<'a> Facts<'a> {
    fn parse(der: &'a [u8], from_store: bool) -> Option<Facts<'a>> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut ski = None;
        let mut aki = None;
        let mut is_ca = false;
        let mut client_auth_purpose = true;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::ExtendedKeyUsage(eku) => client_auth_purpose = eku.client_auth,
                _ => {}
            }
        }
        Some(Facts {
            der,
            cert,
            ski,
            aki,
            is_ca,
            client_auth_purpose,
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
    fn issued_by(&self, issuer: &Facts<'_>) -> bool {
        self.issuer() == issuer.subject()
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

/// The DER content of the certificate's outer `signatureAlgorithm`.
fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
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
    let max_len = depth as usize + 2;
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
    // 2. check_extensions: CA flag and purpose (clientAuth) of every
    //    certificate below the trust anchor.
    let top_is_anchor = chain
        .last()
        .is_some_and(|c| c.self_issued() && (c.from_store || is_anchor(c)));
    for (i, cert) in chain.iter().enumerate() {
        let is_top_anchor = top_is_anchor && i + 1 == chain.len();
        if i > 0 && !cert.is_ca && !is_top_anchor {
            errors.push(X509Error::InvalidCa);
        }
        if !cert.client_auth_purpose && !is_top_anchor {
            errors.push(X509Error::InvalidPurpose);
        }
    }
    // 3. check_revocation: with CRLs, every certificate of the chain
    //    (nginx's CRL_CHECK_ALL) or only the leaf needs its issuer's CRL.
    if !auth.crl_records.is_empty() {
        let scope = match auth.crl_check {
            CrlCheck::Chain => chain.len(),
            CrlCheck::Leaf => 1,
        };
        for cert in chain.iter().take(scope) {
            let Some(crl) = auth
                .crl_records
                .iter()
                .find(|c| c.issuer_der == cert.issuer())
            else {
                errors.push(X509Error::UnableToGetCrl);
                continue;
            };
            if auth.crl_expired == CrlExpired::Reject && crl.next_update.is_some_and(|n| n < now) {
                errors.push(X509Error::CrlHasExpired);
            }
            if crl
                .revoked_serials
                .iter()
                .any(|s| s == cert.cert.raw_serial())
            {
                errors.push(X509Error::CertRevoked);
            }
        }
    }
    // 4. internal_verify: from the top down, signature then validity.
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
        if signature_ok(chain[i], chain[i + 1], algs) == Some(false) {
            errors.push(X509Error::CertSignatureFailure);
        }
        check_time(chain[i], now, &mut errors);
    }
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
