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

/// When one certificate or CRL of a configuration expires: pushed to
/// [`Metrics::set_expiry`] by the code that publishes a configuration
/// ([`crate::runtime::Generation::expiry_samples`]), turned into
/// `certificate_expiry_seconds` at each scrape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpirySample {
    pub labels: CertLabels,
    /// notAfter (certificates) or nextUpdate (CRLs), Unix seconds.
    pub at: i64,
}

/// The expiry samples of the configuration serving now, and the series the
/// family holds (to remove those of a replaced configuration).
#[derive(Default)]
struct ExpiryState {
    samples: Vec<ExpirySample>,
    shown: Vec<CertLabels>,
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
    /// Access-log lines dropped because the writer's queue was full.
    pub access_log_dropped: Counter,
    pub generation: Gauge,
    /// Seconds until notAfter (certificates) or nextUpdate (CRLs).
    pub expiry: Family<CertLabels, Gauge<f64, AtomicU64>>,
    expiry_state: Mutex<ExpiryState>,
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
            access_log_dropped: Counter::default(),
            generation: Gauge::default(),
            expiry: Family::default(),
            expiry_state: Mutex::new(ExpiryState::default()),
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
            "access_log_dropped_lines",
            "Access-log lines dropped because the log was written slower than requests came (the writer's queue was full)",
            m.access_log_dropped.clone(),
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

    /// Replaces the expiry samples (the configuration serving now). The
    /// gauges follow at the next [`Metrics::refresh_expiry`].
    pub fn set_expiry(&self, samples: Vec<ExpirySample>) {
        self.expiry_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .samples = samples;
    }

    /// Sets the expiry gauges to the seconds left at `now`, in place: a
    /// series of the current samples is never removed, so a scrape encoding
    /// meanwhile sees every one of them; only series of a replaced
    /// configuration are removed. Refreshes run one at a time, each with
    /// the latest samples.
    pub fn refresh_expiry(&self, now: i64) {
        let mut state = self.expiry_state.lock().unwrap_or_else(|p| p.into_inner());
        for sample in &state.samples {
            self.expiry
                .get_or_create(&sample.labels)
                .set(seconds_f64(sample.at.saturating_sub(now)));
        }
        let ExpiryState { samples, shown } = &mut *state;
        shown.retain(|labels| {
            let current = samples.iter().any(|s| s.labels == *labels);
            if !current {
                self.expiry.remove(labels);
            }
            current
        });
        for sample in samples.iter() {
            if !shown.contains(&sample.labels) {
                shown.push(sample.labels.clone());
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

/// Seconds as a gauge value.
#[allow(clippy::as_conversions)] // i64 → f64 has no `From`; exact below 2^53 s, far past any certificate's life.
fn seconds_f64(secs: i64) -> f64 {
    secs as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn samples(servers: std::ops::Range<usize>) -> Vec<ExpirySample> {
        servers
            .map(|i| ExpirySample {
                labels: CertLabels {
                    server: format!("server[{i}]"),
                    kind: "ca",
                    fingerprint: format!("{i:016x}"),
                },
                at: 1_000_000 + i64::try_from(i).unwrap(),
            })
            .collect()
    }

    fn expiry_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("mtls_gateway_certificate_expiry_seconds{"))
            .collect()
    }

    /// Scrapes running at the same time each see every series (the family
    /// used to be cleared and refilled on every scrape).
    #[test]
    fn concurrent_scrapes_see_every_expiry_series() {
        let metrics = Arc::new(Metrics::new());
        metrics.set_expiry(samples(0..40));
        let scrapers: Vec<_> = (0..4)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for round in 0..300 {
                        metrics.refresh_expiry(1_000_000 - round);
                        let text = metrics.encode();
                        let n = expiry_lines(&text).len();
                        assert_eq!(n, 40, "scrape {round} saw {n} of 40 expiry series");
                    }
                })
            })
            .collect();
        for s in scrapers {
            s.join().expect("scraper");
        }
    }

    #[test]
    fn expiry_follows_the_pushed_samples_and_drops_replaced_ones() {
        let metrics = Metrics::new();
        metrics.set_expiry(samples(0..3));
        metrics.refresh_expiry(1_000_000);
        let text = metrics.encode();
        assert_eq!(expiry_lines(&text).len(), 3);
        assert!(
            text.contains(r#"server="server[2]",kind="ca",fingerprint="0000000000000002"} 2.0"#),
            "{text}"
        );
        // A reload drops server[0] and keeps the others.
        metrics.set_expiry(samples(1..3));
        metrics.refresh_expiry(1_000_001);
        let text = metrics.encode();
        let lines = expiry_lines(&text);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(!text.contains(r#"server="server[0]""#), "{text}");
        assert!(
            text.contains(r#"fingerprint="0000000000000002"} 1.0"#),
            "{text}"
        );
    }
}
