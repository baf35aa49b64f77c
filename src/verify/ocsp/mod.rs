//! OCSP for client certificates, as nginx's `ssl_ocsp` (`on` | `leaf`),
//! `ssl_ocsp_responder` and `ssl_ocsp_cache`.
//!
//! After a chain has verified ([`super::verify_peer`]), each certificate of
//! the verified path below the root (`on`) or the client certificate alone
//! (`leaf`) is looked up in the response cache or asked of its responder
//! (the configured URL, else the certificate's AIA OCSP URL; `http://` only,
//! as nginx). The answer must be signed by the certificate's issuer or by a
//! responder certificate the issuer signed with the OCSP-signing EKU, and
//! be current (see [`message`]). As in nginx:
//! - `good` for every certificate: `SUCCESS`;
//! - `revoked`: `FAILED:certificate revoked`; `unknown`: `FAILED:certificate status unknown`;
//! - no usable answer (responder down, slow, HTTP error, bad signature,
//!   stale): `FAILED:certificate status request failed`, **fail closed**;
//! - answers are cached (all three statuses) until their nextUpdate, one
//!   hour without one; failures are not cached.
//!
//! The query runs in the connection's task after the handshake, with a
//! timeout, so it never holds up other connections; concurrent connections
//! asking about the same certificate share one query.

mod http;
pub mod message;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::sync::OnceCell;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

pub use http::{Responder, ResponderError};
use message::{Answer, CertId, CertStatus, MAX_AGE_WITHOUT_NEXT_UPDATE};

/// nginx's fixed OCSP timeout is 60 s; ours is `ocsp_timeout`, this by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// What one cache entry costs, for turning `ocsp_cache`'s size into a count
/// (the key, 60 bytes as nginx's, plus the status, times and map overhead).
pub const ENTRY_BYTES: usize = 128;

/// `ocsp` (nginx's `ssl_ocsp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspMode {
    Off,
    /// Every certificate of the verified chain below the root.
    On,
    /// The client certificate only.
    Leaf,
}

impl super::policy::Keyword for OcspMode {
    const ALL: &'static [(&'static str, Self)] = &[
        ("off", OcspMode::Off),
        ("on", OcspMode::On),
        ("leaf", OcspMode::Leaf),
    ];
}

/// The OCSP settings of one server.
#[derive(Debug, Clone)]
pub struct OcspPolicy {
    pub mode: OcspMode,
    /// `ocsp_responder`: overrides the certificates' AIA URL.
    pub responder: Option<Responder>,
    /// `ocsp_cache = "shared:NAME:SIZE"`: the zone name and its entries.
    pub cache: Option<(String, usize)>,
    pub timeout: Duration,
}

impl Default for OcspPolicy {
    fn default() -> OcspPolicy {
        OcspPolicy {
            mode: OcspMode::Off,
            responder: None,
            cache: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a chain is refused by OCSP; the text is nginx's `$ssl_client_verify` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspFailure {
    Revoked,
    Unknown,
    RequestFailed,
}

impl OcspFailure {
    /// nginx's `ngx_ssl_ocsp_get_status` text.
    pub fn text(self) -> &'static str {
        match self {
            OcspFailure::Revoked => "certificate revoked",
            OcspFailure::Unknown => "certificate status unknown",
            OcspFailure::RequestFailed => "certificate status request failed",
        }
    }
}

/// What the metrics count (the caller labels them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An answer from the cache, with its status.
    CacheHit(CertStatus),
    /// A query to a responder: its status, or `None` when it failed.
    Query(Option<CertStatus>),
}

/// Verified answers by certificate, bounded, each until its nextUpdate
/// (nginx's `ssl_ocsp_cache` zone). Oldest entries go first when full.
#[derive(Debug)]
pub struct ResponseCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<CertId, (CertStatus, i64)>,
    order: VecDeque<CertId>,
}

impl ResponseCache {
    pub fn new(capacity: usize) -> ResponseCache {
        ResponseCache {
            capacity: capacity.max(1),
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &CertId, now: i64) -> Option<CertStatus> {
        let mut inner = self.lock();
        match inner.entries.get(id) {
            Some((status, valid)) if now < *valid => Some(*status),
            Some(_) => {
                inner.entries.remove(id);
                inner.order.retain(|k| k != id);
                None
            }
            None => None,
        }
    }

    fn put(&self, id: CertId, status: CertStatus, valid: i64) {
        let mut inner = self.lock();
        if inner.entries.insert(id.clone(), (status, valid)).is_none() {
            inner.order.push_back(id);
        }
        while inner.entries.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.entries.remove(&old);
                }
                None => break,
            }
        }
    }

    /// How many answers are kept (for tests).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Inflight = Arc<OnceCell<Result<Answer, ()>>>;

/// The OCSP state of one server: its cache (shared with the servers that
/// name the same zone) and the queries in flight.
#[derive(Debug, Default)]
pub struct OcspChecker {
    cache: Option<Arc<ResponseCache>>,
    inflight: Mutex<HashMap<CertId, Inflight>>,
}

impl OcspChecker {
    pub fn new(cache: Option<Arc<ResponseCache>>) -> OcspChecker {
        OcspChecker {
            cache,
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the verified `path` (leaf first, trust anchor last) under
    /// `policy`; `record` sees every cache hit and query.
    ///
    /// # Errors
    /// The first certificate whose status is not good, or whose status could
    /// not be learnt.
    pub async fn check(
        &self,
        policy: &OcspPolicy,
        path: &[CertificateDer<'static>],
        now: i64,
        mut record: impl FnMut(Event),
    ) -> Result<(), OcspFailure> {
        let count = match policy.mode {
            OcspMode::Off => return Ok(()),
            OcspMode::On => path.len().saturating_sub(1),
            OcspMode::Leaf => path.len().min(2).saturating_sub(1),
        };
        for i in 0..count {
            let (cert, issuer) = (&path[i], &path[i + 1]);
            let id = CertId::new(cert, issuer).ok_or(OcspFailure::RequestFailed)?;
            let status = match self.cache.as_ref().and_then(|c| c.get(&id, now)) {
                Some(status) => {
                    record(Event::CacheHit(status));
                    status
                }
                None => {
                    let answer = self.query(policy, cert, issuer, &id, now).await;
                    record(Event::Query(answer.as_ref().ok().map(|a| a.status)));
                    let answer = answer.map_err(|()| OcspFailure::RequestFailed)?;
                    if let Some(cache) = &self.cache {
                        let valid = answer
                            .next_update
                            .unwrap_or(now.saturating_add(MAX_AGE_WITHOUT_NEXT_UPDATE));
                        cache.put(id, answer.status, valid);
                    }
                    answer.status
                }
            };
            match status {
                CertStatus::Good => {}
                CertStatus::Revoked => return Err(OcspFailure::Revoked),
                CertStatus::Unknown => return Err(OcspFailure::Unknown),
            }
        }
        Ok(())
    }

    /// One query, shared with the connections asking about `id` meanwhile.
    async fn query(
        &self,
        policy: &OcspPolicy,
        cert: &CertificateDer<'static>,
        issuer: &CertificateDer<'static>,
        id: &CertId,
        now: i64,
    ) -> Result<Answer, ()> {
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(id.clone()).or_default().clone()
        };
        let answer = cell
            .get_or_init(|| async {
                let outcome = ask(policy, cert, issuer, id, now).await;
                if let Err(e) = &outcome {
                    tracing::info!(error = %e, "OCSP: certificate status request failed");
                }
                outcome.map_err(|_| ())
            })
            .await;
        let answer = *answer;
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(id);
        }
        answer
    }
}

/// Why a query got no usable answer (logged; the client sees nginx's text).
#[derive(Debug, thiserror::Error)]
enum QueryError {
    #[error("no OCSP responder URL in certificate")]
    NoResponder,
    #[error(transparent)]
    Responder(#[from] ResponderError),
    #[error("OCSP responder {0} did not answer within the timeout")]
    Timeout(String),
    #[error("OCSP responder {0}: {1}")]
    Response(String, message::ResponseError),
}

async fn ask(
    policy: &OcspPolicy,
    cert: &CertificateDer<'static>,
    issuer: &CertificateDer<'static>,
    id: &CertId,
    now: i64,
) -> Result<Answer, QueryError> {
    let responder = match &policy.responder {
        Some(r) => r.clone(),
        None => Responder::parse(&aia_ocsp_url(cert).ok_or(QueryError::NoResponder)?)?,
    };
    let body = tokio::time::timeout(policy.timeout, responder.fetch(&id.request()))
        .await
        .map_err(|_| QueryError::Timeout(responder.to_string()))??;
    message::verify(
        &body,
        id,
        issuer.as_ref(),
        now,
        webpki::ALL_VERIFICATION_ALGS,
    )
    .map_err(|e| QueryError::Response(responder.to_string(), e))
}

/// The first OCSP URL of a certificate's authorityInfoAccess.
fn aia_ocsp_url(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert.as_ref()).ok()?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                aia.accessdescs.iter().find_map(|d| {
                    match (&d.access_method.to_id_string()[..], &d.access_location) {
                        ("1.3.6.1.5.5.7.48.1", GeneralName::URI(uri)) => Some((*uri).to_string()),
                        _ => None,
                    }
                })
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> CertId {
        CertId::for_tests(n)
    }

    #[test]
    fn the_cache_is_bounded_and_honours_next_update() {
        let cache = ResponseCache::new(2);
        cache.put(id(1), CertStatus::Good, 100);
        cache.put(id(2), CertStatus::Revoked, 100);
        cache.put(id(3), CertStatus::Good, 100);
        assert_eq!(cache.len(), 2, "the oldest entry went");
        assert_eq!(cache.get(&id(1), 50), None);
        assert_eq!(cache.get(&id(2), 50), Some(CertStatus::Revoked));
        assert_eq!(cache.get(&id(3), 100), None, "past nextUpdate");
        assert_eq!(cache.len(), 1);
    }
}
