//! Prometheus metrics (served by the admin listener, [`crate::admin`]).
//!
//! Every label has a bounded set of values: server and location labels come
//! from the configuration, verification results from OpenSSL's fixed reason
//! list, CAs are named by fingerprint, never by DN.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::runtime::Generation;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    /// `ok`, `failed`, `timeout`.
    pub outcome: &'static str,
    /// `TLSv1.2`, `TLSv1.3`, or empty when none was negotiated.
    pub version: &'static str,
    /// `full` or `resumed` (empty when failed).
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerifyLabels {
    pub server: String,
    /// `$ssl_client_verify`: `SUCCESS`, `NONE`, `FAILED:<OpenSSL reason>`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub server: String,
    pub location: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocationLabels {
    pub server: String,
    pub location: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub server: String,
    pub location: String,
    /// `refused`, `timeout`, `reset`, `protocol`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    pub server: String,
    /// `server` (the server's own certificate), `ca` or `crl`.
    pub kind: &'static str,
    /// First 16 hex digits of the SHA-256 fingerprint (CRL: of its issuer name).
    pub fingerprint: String,
}

/// One location's request counters and upstream latency histogram, looked
/// up in their families once (per configuration) rather than per request.
pub struct LocationMetrics {
    server: String,
    location: String,
    upstream_seconds: Histogram,
    /// Request counters by status, as they are first seen.
    requests: Mutex<Vec<(u16, Counter)>>,
}

impl std::fmt::Debug for LocationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationMetrics")
            .field("server", &self.server)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl LocationMetrics {
    /// The series of `location` (`-` for requests that matched none) of
    /// `server`.
    pub fn new(metrics: &Metrics, server: &str, location: &str) -> LocationMetrics {
        let labels = LocationLabels {
            server: server.to_string(),
            location: location.to_string(),
        };
        LocationMetrics {
            upstream_seconds: metrics.upstream_seconds.get_or_create(&labels).clone(),
            server: labels.server,
            location: labels.location,
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Counts one answered request with `status`.
    pub fn count_request(&self, metrics: &Metrics, status: u16) {
        let mut known = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, counter)) = known.iter().find(|(s, _)| *s == status) {
            counter.inc();
            return;
        }
        let counter = metrics
            .requests
            .get_or_create(&RequestLabels {
                server: self.server.clone(),
                location: self.location.clone(),
                status,
            })
            .clone();
        counter.inc();
        known.push((status, counter));
    }

    /// `upstream_response_seconds` of this location.
    pub fn upstream_seconds(&self) -> &Histogram {
        &self.upstream_seconds
    }
}

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    pub connections_total: Counter,
    pub handshakes: Family<HandshakeLabels, Counter>,
    pub client_verify: Family<VerifyLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub upstream_seconds: Family<LocationLabels, Histogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub reloads: Family<OutcomeLabels, Counter>,
    pub generation: Gauge,
    /// Seconds until notAfter (certificates) or nextUpdate (CRLs).
    pub expiry: Family<CertLabels, Gauge<f64, AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mtls_gateway");
        let m = Metrics {
            connections_open: Gauge::default(),
            connections_total: Counter::default(),
            handshakes: Family::default(),
            client_verify: Family::default(),
            requests: Family::default(),
            upstream_seconds: Family::new_with_constructor(latency_histogram),
            upstream_errors: Family::default(),
            reloads: Family::default(),
            generation: Gauge::default(),
            expiry: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections_open",
            "Client connections open now",
            m.connections_open.clone(),
        );
        registry.register(
            "connections",
            "Client connections accepted",
            m.connections_total.clone(),
        );
        registry.register(
            "tls_handshakes",
            "TLS handshakes by outcome, version and kind",
            m.handshakes.clone(),
        );
        registry.register(
            "client_certificate_verifications",
            "Client-certificate verdicts per connection, as $ssl_client_verify",
            m.client_verify.clone(),
        );
        registry.register(
            "requests",
            "Requests by server, location and status",
            m.requests.clone(),
        );
        registry.register(
            "upstream_response_seconds",
            "Time from sending the request upstream to its response head",
            m.upstream_seconds.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by kind",
            m.upstream_errors.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by outcome",
            m.reloads.clone(),
        );
        registry.register(
            "config_generation",
            "Generation of the configuration serving new connections",
            m.generation.clone(),
        );
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the server certificate or a CA expires, or a CRL's nextUpdate (negative: past)",
            m.expiry.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Re-computes the expiry gauges for `generation` at time `now`.
    pub fn refresh_expiry(&self, generation: &Generation, now: i64) {
        self.expiry.clear();
        for group in &generation.groups {
            for server in &group.servers {
                let label = &server.config.label;
                let set = |kind: &'static str, der: &[u8], not_after: i64| {
                    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
                    let fingerprint: String = digest.as_ref()[..8]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    self.expiry
                        .get_or_create(&CertLabels {
                            server: label.clone(),
                            kind,
                            fingerprint,
                        })
                        .set((not_after - now) as f64);
                };
                if let Some(leaf) = server.config.tls.certified_key.cert.first()
                    && let Ok((_, c)) = x509_parser::parse_x509_certificate(leaf)
                {
                    set("server", leaf, c.validity().not_after.timestamp());
                }
                for ca in server.config.client_auth.trust.certificates() {
                    if let Ok((_, c)) = x509_parser::parse_x509_certificate(ca) {
                        set("ca", ca, c.validity().not_after.timestamp());
                    }
                }
                for crl in &server.config.client_auth.crl_records {
                    if let Some(next) = crl.next_update {
                        set("crl", &crl.issuer_der, next);
                    }
                }
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
