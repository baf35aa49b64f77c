//! The rustls `ServerConfig` of each server: certificate, protocols, ALPN,
//! client-certificate request, session cache and session tickets.
//!
//! Session lifetime follows nginx's `ssl_session_timeout` for both resumption
//! mechanisms: cached session IDs expire after it, and tickets carry their
//! creation time (inside the encrypted ticket) and are refused once older.
//! Resumption never bypasses verification: the chain restored from a
//! session is verified again for every connection ([`crate::verify`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::server::{NoServerSessionStorage, ProducesTickets, StoresServerSessions};
use rustls::sign::SingleCertAndKey;
use rustls::{ServerConfig, SupportedProtocolVersion};

use crate::config::{Protocol, Server};
use crate::verify::VerifyMode;
use crate::verify::handshake::DeferredVerifier;

/// Session cache and ticket keys of one server. Random ticket keys are
/// kept across reloads so that clients keep resuming (resumed sessions are
/// verified again anyway); keys from `session_ticket_key` files are read
/// again by every reload (that is how they rotate).
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    cache: Option<Arc<SessionCache>>,
    ticket_keys: Option<Arc<dyn ProducesTickets>>,
    /// `ticket_keys` came from `session_ticket_key` files.
    from_files: bool,
}

impl SessionState {
    /// The state for `server`, reusing `previous` where the settings allow.
    ///
    /// # Errors
    /// [`TlsSetupError::TicketKeys`] if no ticket keys can be made (no
    /// randomness), [`TlsSetupError::TicketKeyFile`] if a key file's key is
    /// refused.
    pub fn for_server(
        server: &Server,
        previous: Option<&SessionState>,
    ) -> Result<SessionState, TlsSetupError> {
        let tls = &server.tls;
        let cache = (tls.session_cache > 0).then(|| {
            previous
                .and_then(|p| p.cache.clone())
                .filter(|c| c.capacity == tls.session_cache && c.timeout == tls.session_timeout)
                .unwrap_or_else(|| {
                    Arc::new(SessionCache::new(tls.session_cache, tls.session_timeout))
                })
        });
        let from_files = tls.session_tickets && !tls.session_ticket_keys.is_empty();
        let ticket_keys: Option<Arc<dyn ProducesTickets>> = if from_files {
            Some(Arc::new(
                crate::tickets::FileTicketer::new(&tls.session_ticket_keys).map_err(|source| {
                    TlsSetupError::TicketKeyFile {
                        server: server.label.clone(),
                        source,
                    }
                })?,
            ))
        } else if tls.session_tickets {
            match previous
                .filter(|p| !p.from_files)
                .and_then(|p| p.ticket_keys.clone())
            {
                Some(keys) => Some(keys),
                None => Some(
                    rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|source| {
                        TlsSetupError::TicketKeys {
                            server: server.label.clone(),
                            source,
                        }
                    })?,
                ),
            }
        } else {
            None
        };
        Ok(SessionState {
            cache,
            ticket_keys,
            from_files,
        })
    }
}

/// Builds the TLS configuration of `server`.
///
/// Why a server's TLS configuration cannot be made (each names the server).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{server}.tls.session_tickets: {source}")]
    TicketKeys {
        server: String,
        source: rustls::Error,
    },
    #[error("{server}.tls.session_ticket_key: {source}")]
    TicketKeyFile {
        server: String,
        source: crate::tickets::TicketerError,
    },
    #[error("{server}.tls: {source}")]
    Protocols {
        server: String,
        source: rustls::Error,
    },
    /// A location's TLS to its upstream (`proxy_ssl_*`).
    #[error("{location}: upstream TLS: {source}")]
    Upstream {
        location: String,
        source: rustls::Error,
    },
}

/// # Errors
/// [`TlsSetupError::Protocols`] if rustls refuses the combination (e.g. no
/// usable protocol).
pub fn server_config(
    server: &Server,
    sessions: &SessionState,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    prefer_aes128(&mut provider.cipher_suites);
    let provider = Arc::new(provider);
    let versions: Vec<&'static SupportedProtocolVersion> = server
        .tls
        .protocols
        .iter()
        .map(|p| match p {
            Protocol::Tls12 => &rustls::version::TLS12,
            Protocol::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| TlsSetupError::Protocols {
            server: server.label.clone(),
            source,
        })?;
    let builder = if server.client_auth.mode == VerifyMode::Off {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(Arc::new(DeferredVerifier::new(
            server.client_auth.clone(),
            provider.signature_verification_algorithms,
        )))
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(
        server.tls.certified_key.clone(),
    )));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // The server's suite order wins (see `prefer_aes128`).
    config.ignore_client_order = true;
    let timeout = server.tls.session_timeout;
    config.session_storage = match &sessions.cache {
        Some(cache) => cache.clone(),
        None => Arc::new(NoServerSessionStorage {}),
    };
    if let Some(inner) = &sessions.ticket_keys {
        config.ticketer = Arc::new(TimedTicketer {
            inner: inner.clone(),
            timeout,
        });
    } else {
        // TLS 1.3 "tickets" then fall back to stateful IDs in the cache.
        config.send_tls13_tickets = if server.tls.session_cache == 0 { 0 } else { 1 };
    }
    Ok(Arc::new(config))
}

/// Orders the suites AES-128-GCM first, then AES-256-GCM, then
/// ChaCha20-Poly1305 (stable within each group, TLS 1.3 before 1.2).
///
/// Clients such as curl and OpenSSL list AES-256-GCM/SHA-384 first; its
/// transcript hash, SHA-384, has no CPU instructions on most x86-64 servers
/// while SHA-256 has (SHA-NI), so AES-128-GCM/SHA-256 costs the server about
/// 10 % less per full handshake (docs/performance.md). Every suite offered
/// is AEAD with forward secrecy, as before.
fn prefer_aes128(suites: &mut [rustls::SupportedCipherSuite]) {
    use rustls::CipherSuite as C;
    let rank = |s: &rustls::SupportedCipherSuite| match s.suite() {
        C::TLS13_AES_128_GCM_SHA256
        | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        C::TLS13_AES_256_GCM_SHA384
        | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        _ => 2,
    };
    suites.sort_by_key(|s| (s.version() != &rustls::version::TLS13, rank(s)));
}

/// A bounded session-ID cache whose entries expire after `timeout`; when
/// full, the oldest entry is evicted (as nginx's shared cache does).
///
/// Every entry has exactly one slot in the eviction order, removed with it
/// however it leaves (evicted, expired, replaced, or taken by a TLS 1.3
/// resumption), so the cache holds at most `capacity` sessions whatever
/// the handshake rate.
pub struct SessionCache {
    capacity: usize,
    timeout: Duration,
    inner: Mutex<CacheInner>,
}

struct CacheEntry {
    value: Vec<u8>,
    created: Instant,
    /// Its key in `CacheInner::order`.
    seq: u64,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<Vec<u8>, CacheEntry>,
    /// Insertion order (oldest first): sequence number -> session ID, one
    /// slot per entry of `entries`.
    order: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
}

impl SessionCache {
    pub fn new(capacity: usize, timeout: Duration) -> SessionCache {
        SessionCache {
            capacity,
            timeout,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding this lock cannot leave the maps in a state
        // worse than "some sessions lost", so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl CacheInner {
    fn remove(&mut self, key: &[u8]) -> Option<CacheEntry> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.seq);
        Some(entry)
    }

    fn pop_oldest(&mut self) -> Option<CacheEntry> {
        let (_, key) = self.order.pop_first()?;
        self.entries.remove(&key)
    }

    /// Drops the entries older than `timeout` (they are the oldest in
    /// `order`: entries are stamped under the lock, in sequence order).
    fn expire(&mut self, now: Instant, timeout: Duration) {
        while let Some((_, key)) = self.order.first_key_value() {
            let fresh = self
                .entries
                .get(key)
                .is_some_and(|e| now.duration_since(e.created) < timeout);
            if fresh {
                break;
            }
            self.pop_oldest();
        }
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        inner.expire(now, self.timeout);
        inner.remove(&key);
        while inner.entries.len() >= self.capacity {
            if inner.pop_oldest().is_none() {
                break;
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.insert(seq, key.clone());
        inner.entries.insert(
            key,
            CacheEntry {
                value,
                created: now,
                seq,
            },
        );
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let inner = self.lock();
        let entry = inner.entries.get(key)?;
        (entry.created.elapsed() < self.timeout).then(|| entry.value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entry = self.lock().remove(key)?;
        (entry.created.elapsed() < self.timeout).then_some(entry.value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Wraps rustls's rotating ticket encrypter: the ticket's plaintext starts
/// with its creation time, and a ticket older than `timeout` is refused.
#[derive(Debug)]
struct TimedTicketer {
    inner: Arc<dyn ProducesTickets>,
    timeout: Duration,
}

/// Ticket stamps are unsigned seconds (0 before 1970).
fn unix_now() -> u64 {
    u64::try_from(crate::clock::unix_now()).unwrap_or(0)
}

impl ProducesTickets for TimedTicketer {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut stamped = Vec::with_capacity(8 + plain.len());
        stamped.extend_from_slice(&unix_now().to_be_bytes());
        stamped.extend_from_slice(plain);
        self.inner.encrypt(&stamped)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = self.inner.decrypt(cipher)?;
        let (stamp, rest) = plain.split_first_chunk::<8>()?;
        let created = u64::from_be_bytes(*stamp);
        let now = unix_now();
        (created <= now + 5 && now.saturating_sub(created) < self.timeout.as_secs())
            .then(|| rest.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_oldest_when_full() {
        let cache = SessionCache::new(2, Duration::from_secs(60));
        assert!(cache.put(b"a".to_vec(), b"1".to_vec()));
        assert!(cache.put(b"b".to_vec(), b"2".to_vec()));
        assert!(cache.put(b"c".to_vec(), b"3".to_vec()));
        assert_eq!(cache.get(b"a"), None);
        assert_eq!(cache.get(b"b"), Some(b"2".to_vec()));
        assert_eq!(cache.take(b"c"), Some(b"3".to_vec()));
        assert_eq!(cache.get(b"c"), None);
    }

    /// TLS 1.3 resumption without tickets takes the session it resumes and
    /// stores a new one: the cache (entries and eviction order) stays within
    /// `capacity` however many resumptions there are.
    #[test]
    fn cache_stays_bounded_under_resumptions_that_take() {
        let cache = SessionCache::new(4, Duration::from_secs(600));
        let id = |i: u32| format!("session-{i}").into_bytes();
        cache.put(id(0), b"s".to_vec());
        for i in 1..20_000 {
            assert_eq!(
                cache.take(&id(i - 1)),
                Some(b"s".to_vec()),
                "resumption {i}"
            );
            cache.put(id(i), b"s".to_vec());
            let inner = cache.lock();
            assert!(
                inner.entries.len() <= 4 && inner.order.len() == inner.entries.len(),
                "after {i} resumptions: {} entries, {} order slots",
                inner.entries.len(),
                inner.order.len()
            );
        }
        // Interleaved clients, replaced keys and misses keep it exact too.
        for i in 0..1000u32 {
            cache.put(id(i % 7), b"t".to_vec());
            cache.take(&id((i * 3) % 7));
            let _ = cache.get(&id(i % 5));
            let inner = cache.lock();
            assert!(inner.entries.len() <= 4);
            assert_eq!(inner.order.len(), inner.entries.len());
            for (seq, key) in &inner.order {
                assert_eq!(inner.entries[key].seq, *seq);
            }
        }
    }

    #[test]
    fn cache_replacing_a_key_keeps_one_slot_and_its_new_value() {
        let cache = SessionCache::new(2, Duration::from_secs(60));
        cache.put(b"a".to_vec(), b"1".to_vec());
        cache.put(b"a".to_vec(), b"2".to_vec());
        cache.put(b"b".to_vec(), b"3".to_vec());
        assert_eq!(
            cache.get(b"a"),
            Some(b"2".to_vec()),
            "a is not evicted by b"
        );
        assert_eq!(cache.lock().order.len(), 2);
        cache.put(b"c".to_vec(), b"4".to_vec());
        assert_eq!(cache.get(b"a"), None, "a (oldest) evicted");
        assert_eq!(cache.get(b"b"), Some(b"3".to_vec()));
    }

    #[test]
    fn cache_entries_expire() {
        let cache = SessionCache::new(10, Duration::from_millis(30));
        cache.put(b"a".to_vec(), b"1".to_vec());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(b"a"), None);
        cache.put(b"b".to_vec(), b"2".to_vec());
        assert_eq!(cache.lock().entries.len(), 1, "expired entry purged on put");
        assert_eq!(cache.lock().order.len(), 1);
    }

    #[test]
    fn tickets_round_trip_and_expire() {
        let inner = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
        let t = TimedTicketer {
            inner: inner.clone(),
            timeout: Duration::from_secs(300),
        };
        let c = t.encrypt(b"session").unwrap();
        assert_eq!(t.decrypt(&c), Some(b"session".to_vec()));
        assert_eq!(t.lifetime(), 300);
        // A ticket made 301 s ago (same keys) is refused.
        let mut old = (unix_now() - 301).to_be_bytes().to_vec();
        old.extend_from_slice(b"session");
        let c = inner.encrypt(&old).unwrap();
        assert_eq!(t.decrypt(&c), None);
        assert_eq!(t.decrypt(b"garbage"), None);
    }
}
