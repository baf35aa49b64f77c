//! The client-certificate policy of one server: `verify_client`, how a
//! failure is reported, `verify_depth`, the CA certificates and the CRLs
//! with their rules. Verification owns these types; the configuration only
//! maps its TOML onto [`ClientAuthBuilder`], whose [`PolicyError`]s say which
//! setting is wrong.
//!
//! Each keyword enum has one spelling table ([`Keyword`]), used to parse the
//! configuration, to list the choices in an error, and to print the setting
//! (`check`, `inspect`).

use std::fmt;

use super::ocsp::{OcspMode, OcspPolicy};
use super::{CrlRecord, TrustStore};

/// nginx's default `ssl_verify_depth`: one intermediate between the client
/// certificate and the root.
pub const DEFAULT_VERIFY_DEPTH: u32 = 1;
/// The longest chain the verifier builds (rustls-webpki's `MAX_SUB_CA_COUNT`).
pub const MAX_VERIFY_DEPTH: u32 = 6;

/// A setting written as one of a fixed set of words.
pub trait Keyword: Sized + Copy + PartialEq + 'static {
    /// Every spelling with its value, in the order the documentation lists them.
    const ALL: &'static [(&'static str, Self)];

    /// The value `text` spells, if any.
    fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().find(|(k, _)| *k == text).map(|(_, v)| *v)
    }

    /// The configuration spelling of this value.
    fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(k, _)| k)
    }

    /// `"a", "b" or "c"`, for error messages.
    fn choices() -> String {
        let words: Vec<String> = Self::ALL.iter().map(|(k, _)| format!("{k:?}")).collect();
        match words.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

macro_rules! keyword_display {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.keyword())
            }
        }
    )*};
}

/// `verify_client` (nginx's `ssl_verify_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    Off,
    On,
    Optional,
    OptionalNoCa,
}

impl Keyword for VerifyMode {
    const ALL: &'static [(&'static str, Self)] = &[
        ("on", VerifyMode::On),
        ("optional", VerifyMode::Optional),
        ("optional_no_ca", VerifyMode::OptionalNoCa),
        ("off", VerifyMode::Off),
    ];
}

/// `failure`: how a rejected client certificate is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// nginx's behaviour: finish the handshake, answer 400 at the HTTP layer.
    Http,
    /// Abort the TLS handshake with an alert.
    Handshake,
}

impl Keyword for FailureMode {
    const ALL: &'static [(&'static str, Self)] = &[
        ("http", FailureMode::Http),
        ("handshake", FailureMode::Handshake),
    ];
}

/// `crl_check`: which certificates of the chain need a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlCheck {
    /// Every certificate below the root (nginx's `X509_V_FLAG_CRL_CHECK_ALL`).
    Chain,
    /// Only the client certificate.
    Leaf,
}

impl Keyword for CrlCheck {
    const ALL: &'static [(&'static str, Self)] =
        &[("chain", CrlCheck::Chain), ("leaf", CrlCheck::Leaf)];
}

/// `crl_expired`: what a CRL past its nextUpdate means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlExpired {
    /// nginx: `FAILED:CRL has expired`, every client under that CA is refused.
    Reject,
    /// Keep using the stale CRL (revocations still apply).
    Accept,
}

impl Keyword for CrlExpired {
    const ALL: &'static [(&'static str, Self)] = &[
        ("reject", CrlExpired::Reject),
        ("accept", CrlExpired::Accept),
    ];
}

keyword_display!(VerifyMode, FailureMode, CrlCheck, CrlExpired);

/// The client-certificate policy of one server (`[server.client_auth]`).
/// Made by [`ClientAuthBuilder::build`], so its settings are consistent.
#[derive(Debug)]
pub struct ClientAuth {
    pub mode: VerifyMode,
    pub failure: FailureMode,
    /// At most this many intermediates between the leaf and the root.
    pub verify_depth: u32,
    pub trust: TrustStore,
    /// CRLs (`crl`) as OpenSSL applies them (crl.rs), with the policy to
    /// apply them.
    pub crl_records: Vec<CrlRecord>,
    pub crl_check: CrlCheck,
    pub crl_expired: CrlExpired,
    /// `ocsp`, `ocsp_responder`, `ocsp_cache`, `ocsp_timeout`.
    pub ocsp: OcspPolicy,
}

impl ClientAuth {
    /// A policy in `mode` with nginx's defaults for everything else: no CA,
    /// no CRL, depth 1, failures answered at the HTTP layer.
    pub fn builder(mode: VerifyMode) -> ClientAuthBuilder {
        ClientAuthBuilder {
            mode,
            failure: FailureMode::Http,
            verify_depth: DEFAULT_VERIFY_DEPTH,
            trust: None,
            crls: None,
            crl_check: None,
            crl_expired: None,
            ocsp: OcspPolicy::default(),
            errors: Vec::new(),
        }
    }
}

/// Why a client-certificate policy cannot be built; each names the setting
/// at fault ([`PolicyError::setting`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "{0} is out of range: 0 to {MAX_VERIFY_DEPTH} intermediates between the client certificate and the root"
    )]
    DepthOutOfRange(i64),
    #[error(
        "verify_client needs a CA: set client_certificate (trusted and advertised) or trusted_certificate"
    )]
    NoCa,
    #[error(
        "no self-signed root CA in client_certificate or trusted_certificate: no client chain could ever verify (as in nginx, an intermediate alone is not a trust anchor)"
    )]
    NoTrustAnchor,
    #[error("crl_check / crl_expired need a `crl` file")]
    CrlRulesWithoutCrl,
    #[error(
        "ocsp needs verify_client = \"on\" or \"optional\" (as nginx's ssl_ocsp: an unverified chain has no issuer to ask about)"
    )]
    OcspWithoutVerification,
}

impl PolicyError {
    /// The `[server.client_auth]` key the error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            PolicyError::DepthOutOfRange(_) => "verify_depth",
            PolicyError::NoCa | PolicyError::NoTrustAnchor => "client_certificate",
            PolicyError::CrlRulesWithoutCrl => "crl",
            PolicyError::OcspWithoutVerification => "ocsp",
        }
    }
}

/// Builds a [`ClientAuth`]; [`build`](Self::build) reports every
/// inconsistency at once.
#[derive(Debug)]
pub struct ClientAuthBuilder {
    mode: VerifyMode,
    failure: FailureMode,
    verify_depth: u32,
    trust: Option<TrustStore>,
    crls: Option<Vec<CrlRecord>>,
    crl_check: Option<CrlCheck>,
    crl_expired: Option<CrlExpired>,
    ocsp: OcspPolicy,
    /// Problems found by the setters, reported by `build`.
    errors: Vec<PolicyError>,
}

impl ClientAuthBuilder {
    pub fn failure(mut self, failure: FailureMode) -> Self {
        self.failure = failure;
        self
    }

    /// `verify_depth`: 0 to [`MAX_VERIFY_DEPTH`] intermediates. Out of
    /// range, [`build`](Self::build) reports [`PolicyError::DepthOutOfRange`].
    pub fn verify_depth(mut self, depth: i64) -> Self {
        match u32::try_from(depth) {
            Ok(d) if d <= MAX_VERIFY_DEPTH => self.verify_depth = d,
            _ => self.errors.push(PolicyError::DepthOutOfRange(depth)),
        }
        self
    }

    /// The CA certificates (`client_certificate` and `trusted_certificate`).
    pub fn trust(mut self, trust: TrustStore) -> Self {
        self.trust = Some(trust);
        self
    }

    /// The CRLs of the `crl` file.
    pub fn crls(mut self, records: Vec<CrlRecord>) -> Self {
        self.crls = Some(records);
        self
    }

    pub fn crl_check(mut self, check: CrlCheck) -> Self {
        self.crl_check = Some(check);
        self
    }

    pub fn crl_expired(mut self, expired: CrlExpired) -> Self {
        self.crl_expired = Some(expired);
        self
    }

    /// The OCSP settings; `ocsp` other than `off` needs a verifying mode.
    pub fn ocsp(mut self, ocsp: OcspPolicy) -> Self {
        self.ocsp = ocsp;
        self
    }

    /// The policy, once its settings agree.
    ///
    /// # Errors
    /// Every inconsistency: a depth out of range, a verifying mode without a
    /// CA or without a self-signed root among them, CRL rules without CRLs.
    pub fn build(self) -> Result<ClientAuth, Vec<PolicyError>> {
        let mut errors = self.errors;
        let trust = self.trust.unwrap_or_else(TrustStore::empty);
        let verifies = matches!(self.mode, VerifyMode::On | VerifyMode::Optional);
        if verifies && trust.certificates().is_empty() {
            errors.push(PolicyError::NoCa);
        } else if verifies && !trust.has_anchor() {
            errors.push(PolicyError::NoTrustAnchor);
        }
        if self.crls.is_none() && (self.crl_check.is_some() || self.crl_expired.is_some()) {
            errors.push(PolicyError::CrlRulesWithoutCrl);
        }
        if self.ocsp.mode != OcspMode::Off && !verifies {
            errors.push(PolicyError::OcspWithoutVerification);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let crl_records = self.crls.unwrap_or_default();
        Ok(ClientAuth {
            mode: self.mode,
            failure: self.failure,
            verify_depth: self.verify_depth,
            trust,
            crl_records,
            crl_check: self.crl_check.unwrap_or(CrlCheck::Chain),
            crl_expired: self.crl_expired.unwrap_or(CrlExpired::Reject),
            ocsp: self.ocsp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_round_trip_and_list_their_choices() {
        for (word, mode) in VerifyMode::ALL {
            assert_eq!(VerifyMode::parse(word), Some(*mode));
            assert_eq!(mode.to_string(), *word);
        }
        assert_eq!(VerifyMode::parse("On"), None);
        assert_eq!(
            VerifyMode::choices(),
            r#""on", "optional", "optional_no_ca" or "off""#
        );
        assert_eq!(CrlCheck::choices(), r#""chain" or "leaf""#);
    }

    #[test]
    fn the_builder_names_every_inconsistency() {
        let errors = ClientAuth::builder(VerifyMode::On)
            .crl_check(CrlCheck::Leaf)
            .build()
            .unwrap_err();
        assert_eq!(
            errors,
            vec![PolicyError::NoCa, PolicyError::CrlRulesWithoutCrl]
        );
        assert_eq!(errors[0].setting(), "client_certificate");
        let errors = ClientAuth::builder(VerifyMode::Off)
            .verify_depth(7)
            .build()
            .unwrap_err();
        assert_eq!(errors, vec![PolicyError::DepthOutOfRange(7)]);
        let auth = ClientAuth::builder(VerifyMode::Off).build().unwrap();
        assert_eq!(auth.verify_depth, DEFAULT_VERIFY_DEPTH);
        assert_eq!(auth.crl_check, CrlCheck::Chain);
    }
}
