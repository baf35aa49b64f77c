//! Client-certificate verification: what the handshake checks, and the
//! per-connection verdict the HTTP layer decides on.
//!
//! As in nginx, the TLS handshake normally accepts any well-formed client
//! certificate *whose CertificateVerify signature proves possession of its
//! key* ([`handshake::DeferredVerifier`]); the chain is verified right after
//! the handshake, once per connection, resumed connections included
//! ([`verify_peer`]), so a changed CA bundle applies to resumed sessions too.
//! The result is a [`PeerIdentity`], which only this module can construct:
//! every `$ssl_client_*` value the gateway forwards comes from one.
//!
//! The accept/reject decision is rustls-webpki's path building (signature,
//! validity, clientAuth EKU, nginx's `verify_depth`, revocation, name
//! constraints on subjectAltNames) **and** the rules of OpenSSL 3.0 that
//! webpki does not apply ([`rules`]: the rest of the `ssl_client` purpose,
//! issuer key usage, the trust anchor's extensions, name constraints on the
//! subject). Where webpki refuses what OpenSSL accepts as a matter of its
//! own policy (a CA certificate as the client certificate, critical policy
//! extensions), the chain is verified again as a [`relax::View`] that only
//! neutralizes those markings. A certificate OpenSSL cannot decode is never
//! verified: nginx refuses it in the handshake, and so does
//! [`handshake::DeferredVerifier`]. The reason text is OpenSSL's, chosen by
//! [`reason::classify`].
//!
//! ```text
//! chain ── decodable by OpenSSL? ── webpki ──(policy refusal)── webpki on the relaxed view
//!                                      │                              │
//!                                      └──────────── rules ◄──────────┘
//!                                                      │
//!                                   Ok, or Err(reason::classify)
//! ```

pub mod advice;
pub mod access;
pub mod cache;
pub mod crl;
pub mod handshake;
mod names;
pub mod ocsp;
pub mod policy;
mod profile;
pub mod reason;
mod relax;
mod rules;

use std::fmt;

use rustls::DistinguishedName;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use x509_parser::nom::Parser as _;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::forward::Forwarded;
use crate::identity::{ClientCert, dn};
pub use cache::VerdictCache;
pub use crl::CrlRecord;
pub use policy::{ClientAuth, CrlCheck, CrlExpired, FailureMode, VerifyMode};
use profile::Profile;
pub use reason::X509Error;

/// Why a CA file cannot be a trust store (`number` counts the certificates
/// of `client_certificate`, then `trusted_certificate`, from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustStoreError {
    #[error("certificate #{number} does not parse: {reason}")]
    Parse { number: usize, reason: String },
    #[error(
        "certificate #{number} ({subject}): its {field} name cannot be loaded by OpenSSL (nginx refuses this file): {reason}"
    )]
    Undecodable {
        number: usize,
        subject: String,
        field: &'static str,
        reason: String,
    },
    #[error("certificate #{number} ({subject}) cannot be a trust anchor: {reason}")]
    NotAnAnchor {
        number: usize,
        subject: String,
        reason: String,
    },
}

/// The CA certificates of one server: trust anchors, extra intermediates for
/// chain building, and the CA names advertised in the CertificateRequest.
pub struct TrustStore {
    /// Self-signed certificates from `client_certificate` and `trusted_certificate`.
    anchors: Vec<TrustAnchor<'static>>,
    anchor_ders: Vec<CertificateDer<'static>>,
    /// Every certificate of both files (intermediates are used to build
    /// chains, never as anchors: nginx sets no `X509_V_FLAG_PARTIAL_CHAIN`).
    all: Vec<CertificateDer<'static>>,
    /// Subjects of every certificate in `client_certificate`, deduplicated.
    hints: Vec<DistinguishedName>,
    /// OpenSSL's view of each certificate of `all` (computed once).
    profiles: Vec<Profile>,
    /// `all` as the relaxed view shows it (see relax.rs), computed once.
    relaxed: relax::StoreView,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchors", &self.anchors.len())
            .field("certificates", &self.all.len())
            .field("advertised_names", &self.hints.len())
            .finish()
    }
}

impl TrustStore {
    /// A store with no CA (`verify_client = "off"` or `"optional_no_ca"`
    /// without a CA file).
    pub fn empty() -> TrustStore {
        TrustStore {
            anchors: Vec::new(),
            anchor_ders: Vec::new(),
            all: Vec::new(),
            hints: Vec::new(),
            profiles: Vec::new(),
            relaxed: relax::StoreView::new(&[]),
        }
    }

    /// Builds the store from the `client_certificate` (trusted and
    /// advertised) and `trusted_certificate` (trusted only) files.
    ///
    /// # Errors
    /// [`TrustStoreError`]: a certificate that cannot be parsed, that
    /// OpenSSL could not load, or that cannot be a trust anchor.
    pub fn new(
        advertised: &[CertificateDer<'static>],
        trusted: &[CertificateDer<'static>],
    ) -> Result<TrustStore, TrustStoreError> {
        let mut store = TrustStore {
            anchors: Vec::new(),
            anchor_ders: Vec::new(),
            all: Vec::new(),
            hints: Vec::new(),
            profiles: Vec::new(),
            relaxed: relax::StoreView::default(),
        };
        for (i, der) in advertised.iter().chain(trusted).enumerate() {
            let number = i + 1;
            let (_, cert) = X509Certificate::from_der(der).map_err(|e| TrustStoreError::Parse {
                number,
                reason: e.to_string(),
            })?;
            if i < advertised.len() {
                let name = DistinguishedName::from(cert.subject().as_raw().to_vec());
                if !store.hints.iter().any(|h| h.as_ref() == name.as_ref()) {
                    store.hints.push(name);
                }
            }
            if store.all.iter().any(|c| c.as_ref() == der.as_ref()) {
                continue;
            }
            let (issuer, subject) =
                dn::certificate_names(der.as_ref()).map_err(|e| TrustStoreError::Parse {
                    number,
                    reason: e.to_string(),
                })?;
            for (field, name) in [("issuer", issuer), ("subject", subject)] {
                dn::openssl_decodes(name).map_err(|e| TrustStoreError::Undecodable {
                    number,
                    subject: cert.subject().to_string(),
                    field,
                    reason: e.to_string(),
                })?;
            }
            let profile = Profile::parse(der.as_ref()).ok_or(TrustStoreError::Parse {
                number,
                reason: "its extensions cannot be read".into(),
            })?;
            store.all.push(der.clone());
            store.profiles.push(profile);
            if cert.subject().as_raw() == cert.issuer().as_raw() {
                let anchor = webpki::anchor_from_trusted_cert(der)
                    .map_err(|e| TrustStoreError::NotAnAnchor {
                        number,
                        subject: cert.subject().to_string(),
                        reason: format!("{e:?}"),
                    })?
                    .to_owned();
                store.anchors.push(anchor);
                store.anchor_ders.push(der.clone());
            }
        }
        store.relaxed = relax::StoreView::new(&store.all);
        Ok(store)
    }

    /// Whether any chain could ever verify.
    pub fn has_anchor(&self) -> bool {
        !self.anchors.is_empty()
    }

    /// The CA names sent in the CertificateRequest (browsers filter their
    /// certificate picker with them).
    pub fn hints(&self) -> &[DistinguishedName] {
        &self.hints
    }

    /// Subjects and expiry of every CA certificate (for `check` output and metrics).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.all
    }
}

/// The verification result, as `$ssl_client_verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No certificate was presented (or none was requested).
    None,
    /// The chain verified.
    Success,
    /// The chain did not verify, for this OpenSSL reason.
    Failed(X509Error),
    /// The chain verified but OCSP refused it (nginx's `ssl_ocsp`).
    OcspFailed(ocsp::OcspFailure),
}

/// What the connection's client proved about itself: the verdict and, when a
/// certificate was presented, its `$ssl_client_*` values. Only
/// [`verify_peer`] makes one, so a value here always comes from the
/// verified handshake.
pub struct PeerIdentity {
    verdict: Verdict,
    cert: Option<ClientCert>,
    verify_text: String,
    /// The verified path (leaf first, trust anchor last) when the verdict
    /// is `Success`: OCSP reads it, and [`issuers`](Self::issuers) (RFC
    /// 9440's chain) is its middle.
    path: Vec<CertificateDer<'static>>,
    /// The certificate in the backends' formats, made on first use (so a
    /// configuration that forwards none of them never pays for them).
    forwarded: std::sync::OnceLock<Forwarded>,
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerIdentity")
            .field("verify", &self.verify_text)
            .field("cert", &self.cert)
            .finish()
    }
}

/// How the HTTP layer must treat a connection's requests (nginx's
/// `ngx_http_process_request` check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allow,
    /// nginx's 496: `verify_client on` and no certificate.
    NoCertificate,
    /// nginx's 495: the certificate failed in a way the mode does not tolerate.
    CertificateError(X509Error),
    /// nginx's 495 for an OCSP status other than good.
    OcspError(ocsp::OcspFailure),
}

impl PeerIdentity {
    fn new(
        verdict: Verdict,
        cert: Option<ClientCert>,
        path: Vec<CertificateDer<'static>>,
    ) -> PeerIdentity {
        let verify_text = match verdict {
            Verdict::None => "NONE".to_string(),
            Verdict::Success => "SUCCESS".to_string(),
            Verdict::Failed(e) => format!("FAILED:{}", e.text()),
            Verdict::OcspFailed(f) => format!("FAILED:{}", f.text()),
        };
        PeerIdentity {
            verdict,
            cert,
            verify_text,
            path,
            forwarded: std::sync::OnceLock::new(),
        }
    }

    /// The verified path, leaf first, trust anchor last (empty unless the
    /// verdict is `Success`).
    pub fn verified_path(&self) -> &[CertificateDer<'static>] {
        &self.path
    }

    /// The same certificate, refused by OCSP.
    pub fn refused_by_ocsp(&self, failure: ocsp::OcspFailure) -> PeerIdentity {
        PeerIdentity::new(Verdict::OcspFailed(failure), self.cert.clone(), Vec::new())
    }

    /// A connection on which no client certificate was requested or sent.
    pub fn none() -> PeerIdentity {
        PeerIdentity::new(Verdict::None, None, Vec::new())
    }

    /// The leaf's values only when its chain verified (`SUCCESS`): what the
    /// values meant for a backend to rely on (`$ssl_client_spki_sha256`,
    /// `$ssl_client_san_*`, RFC 9440, XFCC, the signed assertion) read.
    /// Unlike [`cert`](Self::cert), `None` for a presented certificate that
    /// failed (tolerated by `optional_no_ca`).
    pub fn verified_cert(&self) -> Option<&ClientCert> {
        match self.verdict {
            Verdict::Success => self.cert.as_ref(),
            Verdict::None | Verdict::Failed(_) | Verdict::OcspFailed(_) => None,
        }
    }

    /// The verified chain in RFC 9440, RFC 8941 and XFCC forms; `None`
    /// unless `SUCCESS`. Computed once per chain, on first use.
    pub fn forwarded(&self) -> Option<&Forwarded> {
        let leaf = self.verified_cert()?;
        Some(
            self.forwarded
                .get_or_init(|| Forwarded::new(leaf, self.issuers())),
        )
    }

    /// The verified path after the leaf (issuer first), without the trust
    /// anchor (RFC 9440 section 2.2 lets a trust anchor be omitted; the
    /// backend that checks the chain has it); empty unless `SUCCESS`.
    pub fn issuers(&self) -> &[CertificateDer<'static>] {
        let end = self.path.len().saturating_sub(1);
        self.path.get(1..end).unwrap_or_default()
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The presented leaf certificate's values (also when verification
    /// failed, as nginx fills `$ssl_client_s_dn` then too).
    pub fn cert(&self) -> Option<&ClientCert> {
        self.cert.as_ref()
    }

    /// `$ssl_client_verify`: `NONE`, `SUCCESS` or `FAILED:<reason>`.
    pub fn verify_text(&self) -> &str {
        &self.verify_text
    }

    /// nginx's decision for `mode`.
    pub fn admission(&self, mode: VerifyMode) -> Admission {
        match (mode, self.verdict) {
            (VerifyMode::Off, _) => Admission::Allow,
            (VerifyMode::On, Verdict::None) => Admission::NoCertificate,
            (_, Verdict::None | Verdict::Success) => Admission::Allow,
            (VerifyMode::OptionalNoCa, Verdict::Failed(e)) if e.tolerated_without_ca() => {
                Admission::Allow
            }
            (_, Verdict::Failed(e)) => Admission::CertificateError(e),
            (_, Verdict::OcspFailed(f)) => Admission::OcspError(f),
        }
    }
}

/// Verifies the chain a client presented (leaf first) under `auth`, at `now`.
/// Called once per connection after the handshake, for resumed sessions too.
pub fn verify_peer(
    presented: Option<&[CertificateDer<'_>]>,
    auth: &ClientAuth,
    now: UnixTime,
) -> PeerIdentity {
    let Some(chain) = presented.filter(|c| !c.is_empty()) else {
        return PeerIdentity::none();
    };
    if auth.mode == VerifyMode::Off {
        return PeerIdentity::none();
    }
    let cert = ClientCert::from_der(chain[0].as_ref()).ok();
    let (verdict, path) = match verified_path(chain, auth, now) {
        Ok(path) if cert.is_some() => (Verdict::Success, path),
        // webpki accepted a certificate x509-parser cannot read: without its
        // fields there is no identity to forward.
        Ok(_) => (Verdict::Failed(X509Error::Unspecified), Vec::new()),
        Err(e) => (Verdict::Failed(e), Vec::new()),
    };
    PeerIdentity::new(verdict, cert, path)
}

/// The whole decision for one chain.
///
/// # Errors
/// The OpenSSL reason nginx would report.
pub fn check_chain(
    chain: &[CertificateDer<'_>],
    auth: &ClientAuth,
    now: UnixTime,
) -> Result<(), X509Error> {
    verified_path(chain, auth, now).map(|_| ())
}

/// Like [`check_chain`], returning the verified path: the leaf, the
/// intermediates used, and the trust anchor's certificate, in that order
/// (for `mtls-gateway inspect`).
///
/// # Errors
/// The OpenSSL reason nginx would report.
pub fn verified_path(
    chain: &[CertificateDer<'_>],
    auth: &ClientAuth,
    now: UnixTime,
) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let algs = webpki::ALL_VERIFICATION_ALGS;
    if chain.is_empty() {
        return Err(X509Error::Unspecified);
    }
    // nginx never gets to verify a certificate OpenSSL cannot load: the
    // handshake fails (handshake.rs checks `openssl_loads`). Here only the
    // names are checked again: a structure webpki cannot parse fails below.
    if !chain.iter().all(|c| names_load(c.as_ref())) {
        return Err(X509Error::Unspecified);
    }
    let trust = &auth.trust;
    let outcome = webpki_path(chain, &trust.all, auth, now, algs).or_else(|first| {
        // A refusal of webpki's own policy: verify the relaxed view (see
        // relax.rs for why this stays sound), whose result then decides.
        match relax::View::new(chain, &trust.relaxed) {
            Some(view) => {
                let resigned = view.algorithms(algs);
                let algs: Vec<&dyn SignatureVerificationAlgorithm> = resigned
                    .iter()
                    .map(|a| -> &dyn SignatureVerificationAlgorithm { a })
                    .collect();
                webpki_path(&view.chain, &view.store, auth, now, &algs).map(|found| {
                    // Back from the view's certificates to the originals.
                    found
                        .into_iter()
                        .map(|c| original(&c, &view, chain, &trust.all))
                        .collect()
                })
            }
            None => Err(first),
        }
    });
    let outcome = outcome
        .map_err(|e| X509Error::from_webpki(&e))
        .and_then(|path| {
            let profiles = path_profiles(&path, trust).ok_or(X509Error::Unspecified)?;
            let refs: Vec<&Profile> = profiles.iter().map(|p| p.as_ref()).collect();
            rules::check_path(&refs)?;
            revocation(&path, &refs, auth, now, algs)?;
            Ok(path)
        });
    outcome.map_err(|e| {
        reason::classify(
            chain,
            auth,
            i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            algs,
        )
        .unwrap_or(e)
    })
}

/// The CRL check of a verified path (leaf first, anchor last): the last
/// error OpenSSL would report, if any.
fn revocation(
    path: &[CertificateDer<'static>],
    profiles: &[&Profile],
    auth: &ClientAuth,
    now: UnixTime,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<(), X509Error> {
    if auth.crl_records.is_empty() {
        return Ok(());
    }
    let scope = match auth.crl_check {
        CrlCheck::Chain => path.len(),
        CrlCheck::Leaf => 1,
    };
    let certs: Vec<(&[u8], &Profile)> = path
        .iter()
        .zip(profiles)
        .map(|(c, p)| (c.as_ref(), *p))
        .collect();
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match crl::check_path(
        &certs,
        scope,
        &auth.crl_records,
        auth.crl_expired,
        now,
        algs,
    ) {
        Some(errors) => errors.last().map_or(Ok(()), |e| Err(*e)),
        // A certificate of a verified path that cannot be read: refuse.
        None => Err(X509Error::Unspecified),
    }
}

/// Whether OpenSSL 3.0 loads this certificate (`d2i_X509`): exactly one
/// well-formed certificate whose issuer and subject names it can decode
/// ([`dn::openssl_decodes`]). nginx refuses the handshake otherwise.
pub fn openssl_loads(der: &[u8]) -> bool {
    // webpki's parser is the cheap check of the structure; x509-parser is
    // the fallback for what webpki refuses to parse but OpenSSL reads (an
    // unknown critical extension, for instance).
    let structure_ok = webpki::EndEntityCert::try_from(&CertificateDer::from(der)).is_ok()
        || matches!(
            x509_parser::certificate::X509CertificateParser::new()
                .with_deep_parse_extensions(false)
                .parse(der),
            Ok((rest, _)) if rest.is_empty()
        );
    structure_ok && names_load(der)
}

/// Whether OpenSSL decodes the issuer and subject names of a certificate.
fn names_load(der: &[u8]) -> bool {
    dn::certificate_names(der).is_ok_and(|(issuer, subject)| {
        dn::openssl_decodes(issuer).is_ok() && dn::openssl_decodes(subject).is_ok()
    })
}

/// rustls-webpki's verification of `chain` (leaf first) with `store` as
/// extra intermediates; the path found, leaf first, anchor certificate last.
fn webpki_path(
    chain: &[CertificateDer<'_>],
    store: &[CertificateDer<'_>],
    auth: &ClientAuth,
    now: UnixTime,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<Vec<CertificateDer<'static>>, webpki::Error> {
    let trust = &auth.trust;
    let leaf = chain.first().ok_or(webpki::Error::BadDer)?;
    let ee = webpki::EndEntityCert::try_from(leaf)?;
    // Borrowed views of the client's certificates and the store's: no
    // certificate bytes are copied per verification.
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .skip(1)
        .chain(store)
        .map(|c| CertificateDer::from(c.as_ref()))
        .collect();
    let max = usize::try_from(auth.verify_depth).unwrap_or(usize::MAX);
    let depth_ok = |path: &webpki::VerifiedPath<'_>| {
        if path.intermediate_certificates().count() > max {
            Err(webpki::Error::MaximumPathDepthExceeded)
        } else {
            Ok(())
        }
    };
    let path = ee.verify_for_usage(
        algs,
        &trust.anchors,
        &intermediates,
        now,
        webpki::KeyUsage::client_auth(),
        // Revocation is checked on the path found (crl.rs): webpki refuses
        // CRLs that OpenSSL uses.
        None,
        Some(&depth_ok),
    )?;
    let mut certs = vec![path.end_entity().der().into_owned()];
    certs.extend(
        path.intermediate_certificates()
            .map(|c| c.der().into_owned()),
    );
    let anchor = path.anchor();
    match trust.anchors.iter().position(|a| {
        a.subject == anchor.subject && a.subject_public_key_info == anchor.subject_public_key_info
    }) {
        Some(i) => certs.push(trust.anchor_ders[i].clone()),
        // Every anchor comes from a certificate of the store.
        None => return Err(webpki::Error::UnknownIssuer),
    }
    Ok(certs)
}

/// The original certificate of one the relaxed view's path names.
fn original(
    cert: &CertificateDer<'_>,
    view: &relax::View,
    chain: &[CertificateDer<'_>],
    store: &[CertificateDer<'static>],
) -> CertificateDer<'static> {
    if let Some(i) = view.chain.iter().position(|c| c == cert) {
        return chain[i].clone().into_owned();
    }
    if let Some(i) = view.store.iter().position(|c| c == cert) {
        return store[i].clone();
    }
    // The anchor's certificate, which the view does not rewrite.
    cert.clone().into_owned()
}

/// OpenSSL's view of each certificate of a path (the store's computed
/// once), or `None` if one cannot be read.
fn path_profiles<'a>(
    path: &[CertificateDer<'_>],
    trust: &'a TrustStore,
) -> Option<Vec<std::borrow::Cow<'a, Profile>>> {
    path.iter()
        .map(|c| match trust.all.iter().position(|s| s == c) {
            Some(i) => trust.profiles.get(i).map(std::borrow::Cow::Borrowed),
            None => Profile::parse(c.as_ref()).map(std::borrow::Cow::Owned),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::FailureMode;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    fn auth(root: &CertificateDer<'static>) -> ClientAuth {
        ClientAuth {
            mode: VerifyMode::On,
            failure: FailureMode::Http,
            verify_depth: 1,
            trust: TrustStore::new(std::slice::from_ref(root), &[]).expect("store"),
            crl_records: Vec::new(),
            crl_check: CrlCheck::Chain,
            crl_expired: CrlExpired::Reject,
            ocsp: ocsp::OcspPolicy::default(),
        }
    }

    /// A root and a client certificate it issued with `customize`d params.
    fn issue(customize: impl FnOnce(&mut CertificateParams)) -> (ClientAuth, Vec<u8>) {
        let mut ca = CertificateParams::default();
        ca.distinguished_name.push(DnType::CommonName, "Unit Root");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_key = KeyPair::generate().expect("key");
        let root = ca.self_signed(&ca_key).expect("root");
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
        leaf.distinguished_name
            .push(DnType::CommonName, "unit-leaf");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        customize(&mut leaf);
        let leaf_key = KeyPair::generate().expect("key");
        let cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
        (auth(root.der()), cert.der().to_vec())
    }

    fn check(auth: &ClientAuth, leaf: Vec<u8>) -> Result<(), X509Error> {
        check_chain(&[CertificateDer::from(leaf)], auth, UnixTime::now())
    }

    /// The byte position of the only `BOOLEAN TRUE` (01 01 FF) in `der`
    /// after `after`.
    fn true_flag(der: &[u8], after: &[u8]) -> usize {
        let start = der
            .windows(after.len())
            .position(|w| w == after)
            .expect("oid");
        start
            + der[start..]
                .windows(3)
                .position(|w| w == [1, 1, 0xFF])
                .expect("TRUE")
            + 2
    }

    #[test]
    fn a_ca_leaf_verifies_through_the_view_but_not_once_its_bytes_change() {
        let (auth, leaf) = issue(|p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
        assert_eq!(check(&auth, leaf.clone()), Ok(()));
        // The same certificate with cA set to FALSE by someone else: what
        // the view shows webpki, but not what the CA signed.
        let mut forged = leaf.clone();
        let at = true_flag(&forged, &[0x06, 0x03, 0x55, 0x1D, 0x13]);
        forged[at] = 0x00;
        assert!(check(&auth, forged).is_err());
        // Any other change is refused as well.
        let mut forged = leaf;
        let at = forged
            .windows(9)
            .position(|w| w == b"unit-leaf")
            .expect("cn");
        forged[at] = b'U';
        assert_eq!(check(&auth, forged), Err(X509Error::CertSignatureFailure));
    }

    #[test]
    fn a_critical_policy_extension_verifies_through_the_view_but_not_a_forged_flag() {
        let (auth, leaf) = issue(|p| {
            let mut ext = CustomExtension::from_oid_content(
                &[2, 5, 29, 32],
                vec![0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04],
            );
            ext.set_criticality(true);
            p.custom_extensions.push(ext);
        });
        assert_eq!(check(&auth, leaf.clone()), Ok(()));
        let mut forged = leaf;
        let at = true_flag(&forged, &[0x06, 0x03, 0x55, 0x1D, 0x20]);
        forged[at] = 0x00;
        assert!(check(&auth, forged).is_err());
    }

    #[test]
    fn an_unknown_critical_extension_is_34() {
        let (auth, leaf) = issue(|p| {
            let mut ext = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
            ext.set_criticality(true);
            p.custom_extensions.push(ext);
        });
        assert_eq!(
            check(&auth, leaf),
            Err(X509Error::UnhandledCriticalExtension)
        );
    }

    #[test]
    fn what_openssl_cannot_load_is_never_verified() {
        let (auth, leaf) = issue(|p| {
            p.distinguished_name.push(DnType::OrganizationName, "XXXX");
        });
        let mut bad = leaf;
        let at = bad.windows(4).position(|w| w == b"XXXX").expect("O");
        bad[at] = 0xC3; // invalid UTF-8 (C3 58)
        assert!(!openssl_loads(&bad));
        assert_eq!(check(&auth, bad), Err(X509Error::Unspecified));
    }
}
