//! What one worker measured, merged over workers at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with 3
/// significant digits.
const MAX_LATENCY_US: u64 = 600_000_000;

pub struct Stats {
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub full_handshakes: u64,
    pub resumed_handshakes: u64,
    /// Handshakes that needed a HelloRetryRequest (a key share the server
    /// did not accept): these cost an extra round trip.
    pub retried_handshakes: u64,
    pub tls_versions: BTreeMap<&'static str, u64>,
    pub response_bytes: u64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            // The bounds are constants that hdrhistogram accepts.
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            ok: 0,
            errors: BTreeMap::new(),
            full_handshakes: 0,
            resumed_handshakes: 0,
            retried_handshakes: 0,
            tls_versions: BTreeMap::new(),
            response_bytes: 0,
        }
    }
}

impl Stats {
    pub fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_LATENCY_US)
            .clamp(1, MAX_LATENCY_US);
        self.latency_us.saturating_record(us);
    }

    pub fn error(&mut self, kind: impl Into<String>) {
        let mut kind = kind.into();
        if kind.len() > 120 {
            let mut end = 120;
            while !kind.is_char_boundary(end) {
                end -= 1;
            }
            kind.truncate(end);
        }
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn handshake(&mut self, kind: Option<rustls::HandshakeKind>, version: &'static str) {
        match kind {
            Some(rustls::HandshakeKind::Resumed) => self.resumed_handshakes += 1,
            Some(rustls::HandshakeKind::FullWithHelloRetryRequest) => {
                self.full_handshakes += 1;
                self.retried_handshakes += 1;
            }
            _ => self.full_handshakes += 1,
        }
        *self.tls_versions.entry(version).or_default() += 1;
    }

    pub fn merge(&mut self, other: Stats) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.full_handshakes += other.full_handshakes;
        self.resumed_handshakes += other.resumed_handshakes;
        self.retried_handshakes += other.retried_handshakes;
        for (k, v) in other.tls_versions {
            *self.tls_versions.entry(k).or_default() += v;
        }
        self.response_bytes += other.response_bytes;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}
