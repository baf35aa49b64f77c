//! Recent successful verdicts, so that a client that reconnects with the same
//! certificate chain is not verified from scratch every time.
//!
//! Verifying a chain (signatures, path building, revocation) and extracting
//! the identity costs about as much as the rest of a resumed handshake. A
//! [`VerdictCache`] belongs to one server of one configuration generation:
//! a reload makes a new, empty one, so a changed CA bundle or CRL applies
//! to the next connection, resumed or not.
//!
//! What makes reuse safe:
//! - the key is the SHA-256 of the exact chain the client presented (every
//!   certificate, in order), so a different chain is verified afresh;
//! - the handshake itself has already proved that the client holds the
//!   leaf's private key (CertificateVerify is always checked);
//! - only `SUCCESS` is kept, for at most [`MAX_AGE`], never past the
//!   notAfter of any presented certificate, and (with `crl_expired =
//!   "reject"`) never past a CRL's nextUpdate: a verdict that time would
//!   change is not reused across that time;
//! - at most [`MAX_ENTRIES`] chains are kept; the cache starts over when full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::policy::{ClientAuth, CrlExpired};
use super::{PeerIdentity, Verdict, verify_peer};

/// Longest time a verdict is reused, in seconds.
pub const MAX_AGE: i64 = 60;
/// Most chains remembered per server.
pub const MAX_ENTRIES: usize = 10_000;

type ChainDigest = [u8; 32];

/// Successful verdicts of one server's recent client chains.
#[derive(Default)]
pub struct VerdictCache {
    entries: Mutex<HashMap<ChainDigest, Entry>>,
}

struct Entry {
    peer: Arc<PeerIdentity>,
    /// Unix seconds after which the entry is not used.
    expires: i64,
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCache")
            .field("entries", &self.lock().len())
            .finish()
    }
}

impl VerdictCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChainDigest, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`verify_peer`], reusing a recent `SUCCESS` for the same chain.
    pub fn verify(
        &self,
        presented: Option<&[CertificateDer<'_>]>,
        auth: &ClientAuth,
        now: UnixTime,
    ) -> Arc<PeerIdentity> {
        let Some(chain) = presented.filter(|c| !c.is_empty()) else {
            return Arc::new(verify_peer(presented, auth, now));
        };
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let key = chain_digest(chain);
        if let Some(entry) = self.lock().get(&key)
            && now_secs < entry.expires
        {
            return entry.peer.clone();
        }
        let peer = Arc::new(verify_peer(presented, auth, now));
        if peer.verdict() == Verdict::Success {
            let expires = reuse_limit(chain, auth, now_secs);
            if now_secs < expires {
                let mut entries = self.lock();
                if entries.len() >= MAX_ENTRIES {
                    entries.retain(|_, e| now_secs < e.expires);
                    if entries.len() >= MAX_ENTRIES {
                        entries.clear();
                    }
                }
                entries.insert(
                    key,
                    Entry {
                        peer: peer.clone(),
                        expires,
                    },
                );
            }
        }
        peer
    }

    /// How many chains are remembered (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no chain is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn chain_digest(chain: &[CertificateDer<'_>]) -> ChainDigest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for cert in chain {
        // Length-prefixed, so that two chains cannot concatenate alike.
        ctx.update(&u64::try_from(cert.len()).unwrap_or(u64::MAX).to_be_bytes());
        ctx.update(cert.as_ref());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The Unix second from which a `SUCCESS` for `chain` must be verified
/// again: [`MAX_AGE`] from now, or earlier when a presented certificate
/// expires or (with `crl_expired = "reject"`) a CRL passes its nextUpdate.
fn reuse_limit(chain: &[CertificateDer<'_>], auth: &ClientAuth, now: i64) -> i64 {
    let mut limit = now.saturating_add(MAX_AGE);
    for der in chain {
        match X509Certificate::from_der(der.as_ref()) {
            // notAfter is the last valid second; the verdict changes after it.
            Ok((_, cert)) => limit = limit.min(cert.validity().not_after.timestamp() + 1),
            // Not parseable here although it verified: do not reuse.
            Err(_) => return now,
        }
    }
    if auth.crl_expired == CrlExpired::Reject {
        for crl in &auth.crl_records {
            // From nextUpdate on, the CRL has expired (OpenSSL's `X509_cmp_time`).
            if let Some(next) = crl.next_update {
                limit = limit.min(next);
            }
        }
    }
    limit
}
