//! Where rustls-webpki refuses a certificate that OpenSSL (and so nginx)
//! accepts, for a reason that is a policy of webpki's and not a flaw of the
//! chain, the chain is verified a second time as a *view* in which exactly
//! those markings are neutralized:
//!
//! - the end entity's `basicConstraints` `cA` TRUE is read as FALSE: webpki
//!   refuses a CA certificate as an end entity (`CaUsedAsEndEntity`), while
//!   OpenSSL accepts it as a client certificate when its purpose and chain
//!   are fine (`must_be_ca = -1` for the leaf in `check_extensions`);
//! - the critical flag of the extensions OpenSSL handles but webpki does
//!   not parse (certificate policies, policy mappings, policy constraints,
//!   inhibitAnyPolicy, Netscape cert type, OCSP no-check) is read as FALSE:
//!   webpki refuses any unknown critical extension, OpenSSL knows these
//!   (`X509_supported_extension`) and, with nginx's flags (no
//!   `X509_V_FLAG_POLICY_CHECK`), does not evaluate policies;
//! - an X.509 v1 end entity (no version field, hence no extensions) is
//!   read as v3 without extensions, which is what it means: webpki parses
//!   only v3, OpenSSL accepts a v1 client certificate.
//!
//! The flag changes flip one content octet of a BOOLEAN (0xFF to 0x00;
//! webpki accepts the explicit FALSE); the version is inserted as `[0] {
//! INTEGER 2 }`, re-encoding the enclosing lengths. The
//! signature of a rewritten certificate no longer matches its bytes, so the
//! view's verification uses [`Resigned`] algorithms: when webpki asks to
//! verify a signature over a rewritten `TBSCertificate`, the *original*
//! `TBSCertificate` is verified instead, with the same issuer key webpki
//! chose and the real algorithm. Everything else webpki checks (path
//! building, every signature, validity, extended key usage, depth, path
//! length, name constraints on subjectAltNames, revocation, the critical
//! extensions it does not know) applies unchanged to content identical to
//! the original except for the flipped flags. No check is skipped: the
//! view only stops webpki from refusing what nginx accepts.
//!
//! The view is tried only after the original chain failed and only when it
//! differs from it; its result then decides. Name constraints, key usages
//! and the rest of OpenSSL's rules that webpki does not apply are checked
//! afterwards on the original certificates (`rules.rs`).

use std::fmt;
use std::ops::Range;

use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};

use super::profile::{self, oid};
use crate::identity::dn::{Children, read_tlv};

/// Extensions OpenSSL may see critical and webpki does not parse, whose
/// critical flag the view clears. (RFC 3779 blocks and proxyCertInfo stay:
/// OpenSSL evaluates or refuses those.)
const NEUTRALIZED_CRITICAL: [&[u8]; 6] = [
    oid::CERTIFICATE_POLICIES,
    oid::POLICY_MAPPINGS,
    oid::POLICY_CONSTRAINTS,
    oid::INHIBIT_ANY_POLICY,
    oid::NETSCAPE_CERT_TYPE,
    oid::OCSP_NO_CHECK,
];

/// A chain and the store's certificates as webpki is to see them.
pub(crate) struct View {
    /// The presented chain, leaf first, relaxed.
    pub chain: Vec<CertificateDer<'static>>,
    /// Relaxed copies of the store's certificates (same order).
    pub store: Vec<CertificateDer<'static>>,
    /// Rewritten `TBSCertificate` → original `TBSCertificate`.
    resigned: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The trust store's certificates as the view shows them, computed once per
/// configuration.
#[derive(Debug, Default)]
pub(crate) struct StoreView {
    certs: Vec<CertificateDer<'static>>,
    resigned: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StoreView {
    pub fn new(store: &[CertificateDer<'static>]) -> StoreView {
        let mut resigned = Vec::new();
        let certs = relax_all(store, false, &mut resigned);
        StoreView { certs, resigned }
    }
}

/// `certs` relaxed; the rewritten TBSCertificates are added to `resigned`.
fn relax_all(
    certs: &[CertificateDer<'_>],
    leaf_first: bool,
    resigned: &mut Vec<(Vec<u8>, Vec<u8>)>,
) -> Vec<CertificateDer<'static>> {
    certs
        .iter()
        .enumerate()
        .map(
            |(i, der)| match relaxed(der.as_ref(), leaf_first && i == 0) {
                Some((new, new_range, old_range)) => {
                    if let (Some(new_tbs), Some(old_tbs)) =
                        (new.get(new_range), der.as_ref().get(old_range))
                    {
                        resigned.push((new_tbs.to_vec(), old_tbs.to_vec()));
                    }
                    CertificateDer::from(new)
                }
                None => der.clone().into_owned(),
            },
        )
        .collect()
}

impl View {
    /// The relaxed view of `chain` (leaf first) with the `store`'s, or
    /// `None` when it would be identical to the originals.
    pub fn new(chain: &[CertificateDer<'_>], store: &StoreView) -> Option<View> {
        let mut resigned = Vec::new();
        let chain = relax_all(chain, true, &mut resigned);
        if resigned.is_empty() && store.resigned.is_empty() {
            return None;
        }
        resigned.extend(store.resigned.iter().cloned());
        Some(View {
            chain,
            store: store.certs.clone(),
            resigned,
        })
    }

    /// `algs`, wrapped to verify rewritten certificates by their originals.
    pub fn algorithms<'a>(
        &'a self,
        algs: &[&'static dyn SignatureVerificationAlgorithm],
    ) -> Vec<Resigned<'a>> {
        algs.iter()
            .map(|&inner| Resigned {
                inner,
                resigned: &self.resigned,
            })
            .collect()
    }
}

/// A signature algorithm that, for a message that is a rewritten
/// `TBSCertificate` of the view, verifies the original one instead.
pub(crate) struct Resigned<'a> {
    inner: &'static dyn SignatureVerificationAlgorithm,
    resigned: &'a [(Vec<u8>, Vec<u8>)],
}

impl fmt::Debug for Resigned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resigned")
            .field("inner", &self.inner)
            .field("rewritten", &self.resigned.len())
            .finish()
    }
}

impl SignatureVerificationAlgorithm for Resigned<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let message = self
            .resigned
            .iter()
            .find(|(rewritten, _)| rewritten.as_slice() == message)
            .map_or(message, |(_, original)| original.as_slice());
        self.inner.verify_signature(public_key, message, signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

/// Offset of `part` inside `whole` (both from the same buffer).
fn offset(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    (start + part.len() <= whole.len()).then_some(start)
}

/// The certificate as the view shows it, with the byte ranges of its new
/// and its original `TBSCertificate`, or `None` if nothing changes (or it
/// cannot be read).
fn relaxed(der: &[u8], leaf: bool) -> Option<(Vec<u8>, Range<usize>, Range<usize>)> {
    let sk = profile::skeleton(der).ok()?;
    let tbs_start = offset(der, sk.tbs.raw)?;
    let old_range = tbs_start..tbs_start + sk.tbs.raw.len();
    if leaf && sk.version1 {
        return as_version3(der, &sk.tbs).map(|(new, range)| (new, range, old_range));
    }
    let mut flips = Vec::new();
    let mut bc_count = 0;
    for ext_tlv in &sk.extensions {
        let ext = profile::extension(ext_tlv).ok()?;
        if let Some(flag) = ext.critical_tlv
            && ext.critical
            && NEUTRALIZED_CRITICAL.contains(&ext.oid)
        {
            flips.push(offset(der, flag.content)?);
        }
        if leaf && ext.oid == oid::BASIC_CONSTRAINTS {
            bc_count += 1;
            let (seq, _) = read_tlv(ext.value).ok()?;
            if let Some(Ok(ca)) = Children::new(seq.content).next()
                && ca.is_universal(1, false)
                && ca.content == [0xFF]
            {
                flips.push(offset(der, ca.content)?);
            }
        }
    }
    // webpki refuses duplicate extensions anyway; do not guess which one.
    if flips.is_empty() || bc_count > 1 {
        return None;
    }
    let mut out = der.to_vec();
    for at in flips {
        *out.get_mut(at)? = 0x00;
    }
    Some((out, old_range.clone(), old_range))
}

/// A v1 certificate without the version field, with `[0] { INTEGER 2 }`
/// inserted (an explicit v1 version is left alone: not DER anyway).
fn as_version3(der: &[u8], tbs: &crate::identity::dn::Tlv<'_>) -> Option<(Vec<u8>, Range<usize>)> {
    let (first, _) = read_tlv(tbs.content).ok()?;
    if first.class == 2 && first.tag == 0 {
        return None;
    }
    let (cert, _) = read_tlv(der).ok()?;
    let after_tbs = cert.content.get(tbs.raw.len()..)?;
    let mut tbs_content = vec![0xA0, 0x03, 0x02, 0x01, 0x02];
    tbs_content.extend_from_slice(tbs.content);
    let new_tbs = encode(0x30, &tbs_content);
    let mut cert_content = new_tbs.clone();
    cert_content.extend_from_slice(after_tbs);
    let new_cert = encode(0x30, &cert_content);
    let start = new_cert.len() - cert_content.len();
    Some((new_cert, start..start + new_tbs.len()))
}

/// One DER element with a one-octet tag.
fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len.to_le_bytes()[0]);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len().to_le_bytes()[0]);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_has_no_view() {
        assert!(relaxed(&[], true).is_none());
        assert!(relaxed(&[0x30, 0x03, 0x30, 0x01, 0x00], true).is_none());
        assert!(
            View::new(
                &[CertificateDer::from(vec![0x30, 0x00])],
                &StoreView::default()
            )
            .is_none()
        );
    }
}
