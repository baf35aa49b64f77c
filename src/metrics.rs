//! Prometheus metrics (served by the admin listener, [`crate::admin`]).
//!
//! Every label has a bounded set of values: server and location labels come
//! from the configuration, verification results from OpenSSL's fixed reason
//! list, CAs are named by fingerprint, never by DN.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
pub struct PolicyLabels {
    pub server: String,
    pub location: String,
    /// `allowed`, `denied_unverified`, `denied_no_rule`
    /// ([`crate::verify::access::Decision::outcome`]).
    pub outcome: &'static str,
}

/// One location's `policy_decisions_total` series, looked up once per
/// configuration rather than per request.
pub struct PolicyCounters {
    allowed: Counter,
    denied_unverified: Counter,
    denied_no_rule: Counter,
}

impl std::fmt::Debug for PolicyCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyCounters")
    }
}

impl PolicyCounters {
    pub fn new(metrics: &Metrics, server: &str, location: &str) -> PolicyCounters {
        let get = |outcome: &'static str| {
            metrics
                .policy_decisions
                .get_or_create(&PolicyLabels {
                    server: server.to_string(),
                    location: location.to_string(),
                    outcome,
                })
                .clone()
        };
        PolicyCounters {
            allowed: get("allowed"),
            denied_unverified: get("denied_unverified"),
            denied_no_rule: get("denied_no_rule"),
        }
    }

    /// Counts one request decided with `outcome`.
    pub fn count(&self, outcome: &'static str) {
        match outcome {
            "allowed" => self.allowed.inc(),
            "denied_unverified" => self.denied_unverified.inc(),
            _ => self.denied_no_rule.inc(),
        };
    }
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
pub struct ProxyProtocolLabels {
    /// `timeout`, `truncated`, `signature`, `oversized`, `malformed`,
    /// `local`, `io` ([`crate::proxy_protocol::ProxyError::reason`]).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TicketKeyLabels {
    /// The first 8 hex digits of the ticket key's 16-byte name (the name
    /// is not secret: it travels in every ticket). Bounded by the keys
    /// configured.
    pub key: String,
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

/// The statuses with a counter slot of their own in [`LocationMetrics`]
/// (every status hyper can send is 100..=999; these are the ones in use).
const STATUS_SLOTS: std::ops::RangeInclusive<u16> = 100..=599;

/// One location's request counters and upstream latency histogram, looked
/// up in their families once (per configuration) rather than per request,
/// and counted without a lock: a request increments one atomic counter and
/// observes one atomic histogram.
pub struct LocationMetrics {
    server: String,
    location: String,
    upstream_seconds: AtomicHistogram,
    /// Request counters by status (`STATUS_SLOTS`), each made on first use.
    requests: Box<[OnceLock<Counter>]>,
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
            requests: STATUS_SLOTS.map(|_| OnceLock::new()).collect(),
        }
    }

    fn counter(&self, metrics: &Metrics, status: u16) -> Counter {
        metrics
            .requests
            .get_or_create(&RequestLabels {
                server: self.server.clone(),
                location: self.location.clone(),
                status,
            })
            .clone()
    }

    /// Counts one answered request with `status`.
    pub fn count_request(&self, metrics: &Metrics, status: u16) {
        let slot = status
            .checked_sub(*STATUS_SLOTS.start())
            .and_then(|i| self.requests.get(usize::from(i)));
        match slot {
            Some(cell) => cell.get_or_init(|| self.counter(metrics, status)).inc(),
            // Outside the slots (600..=999): the family's own lookup.
            None => self.counter(metrics, status).inc(),
        };
    }

    /// `upstream_response_seconds` of this location.
    pub fn upstream_seconds(&self) -> &AtomicHistogram {
        &self.upstream_seconds
    }
}

/// A histogram of durations without a lock (prometheus-client's
/// `Histogram` takes a mutex per observation): a bucket counter and the sum
/// in nanoseconds, each an atomic. Encoded like that `Histogram`.
#[derive(Clone, Debug)]
pub struct AtomicHistogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    /// Upper bounds in seconds; the last is +Inf.
    bounds: Box<[f64]>,
    /// Upper bounds in nanoseconds, for the comparison per observation.
    bounds_ns: Box<[u64]>,
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with these upper bounds (seconds; +Inf is added).
    pub fn new(bounds: &[f64]) -> AtomicHistogram {
        let bounds: Box<[f64]> = bounds
            .iter()
            .copied()
            .filter(|b| b.is_finite())
            .chain(std::iter::once(f64::INFINITY))
            .collect();
        let bounds_ns = bounds
            .iter()
            .map(|&b| {
                Duration::try_from_secs_f64(b).map_or(u64::MAX, |d| {
                    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
                })
            })
            .collect();
        let counts = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            inner: Arc::new(HistogramInner {
                bounds,
                bounds_ns,
                counts,
                sum_ns: AtomicU64::new(0),
            }),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let inner = &*self.inner;
        let i = inner
            .bounds_ns
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(inner.counts.len().saturating_sub(1));
        if let Some(c) = inner.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        inner.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .zip(inner.counts.iter())
            .map(|(&b, c)| (b, c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = Duration::from_nanos(inner.sum_ns.load(Ordering::Relaxed)).as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    pub connections_total: Counter,
    pub handshakes: Family<HandshakeLabels, Counter>,
    pub client_verify: Family<VerifyLabels, Counter>,
    /// OCSP queries by server and result (`good`, `revoked`, `unknown`, `failed`).
    pub ocsp_queries: Family<VerifyLabels, Counter>,
    /// OCSP answers taken from the cache, by server and status.
    pub ocsp_cache_hits: Family<VerifyLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub upstream_seconds: Family<LocationLabels, AtomicHistogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    /// Access-policy decisions per request, by outcome (no DN labels).
    pub policy_decisions: Family<PolicyLabels, Counter>,
    pub reloads: Family<OutcomeLabels, Counter>,
    /// Access-log lines dropped because the writer's queue was full.
    pub access_log_dropped: Counter,
    pub generation: Gauge,
    /// Seconds until notAfter (certificates) or nextUpdate (CRLs).
    pub expiry: Family<CertLabels, Gauge<f64, AtomicU64>>,
    /// Connections closed for their PROXY protocol header, by reason.
    pub proxy_protocol_errors: Family<ProxyProtocolLabels, Counter>,
    /// Session tickets accepted, by the configured key that decrypted them
    /// (`session_ticket_key`; shared with the ticketers, see
    /// [`crate::tickets`]).
    pub tls_resumptions: Family<TicketKeyLabels, Counter>,
    expiry_state: Mutex<ExpiryState>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&[
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
            ocsp_queries: Family::default(),
            ocsp_cache_hits: Family::default(),
            requests: Family::default(),
            upstream_seconds: Family::new_with_constructor(latency_histogram),
            upstream_errors: Family::default(),
            policy_decisions: Family::default(),
            reloads: Family::default(),
            access_log_dropped: Counter::default(),
            generation: Gauge::default(),
            expiry: Family::default(),
            proxy_protocol_errors: Family::default(),
            tls_resumptions: crate::tickets::resumptions().clone(),
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
            "ocsp_queries",
            "OCSP queries to responders by server and result (good, revoked, unknown; failed: no usable answer, the client gets FAILED:certificate status request failed)",
            m.ocsp_queries.clone(),
        );
        registry.register(
            "ocsp_cache_hits",
            "OCSP statuses answered from ocsp_cache, by server and status",
            m.ocsp_cache_hits.clone(),
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
            "policy_decisions",
            "Access-policy decisions of requests by server, location and outcome",
            m.policy_decisions.clone(),
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
        // Both outcomes exist from the start at 0, so that
        // `increase(...{outcome="failure"}[15m]) > 0` fires on the first failure
        // (a series that appears at 1 has no increase to see).
        for outcome in ["success", "failure"] {
            let _ = m.reloads.get_or_create(&OutcomeLabels { outcome });
        }
        registry.register(
            "proxy_protocol_errors",
            "Connections closed for a missing or malformed PROXY protocol header, by reason",
            m.proxy_protocol_errors.clone(),
        );
        registry.register(
            "tls_resumptions",
            "TLS sessions resumed from a ticket of a configured session_ticket_key, by key name",
            m.tls_resumptions.clone(),
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

    /// The atomic histogram encodes exactly as prometheus-client's own
    /// `Histogram` given the same observations (buckets, +Inf, sum, count).
    #[test]
    fn atomic_histogram_encodes_like_the_prometheus_client_histogram() {
        use prometheus_client::metrics::histogram::Histogram;
        let bounds = [0.0005, 0.001, 0.0025, 0.01, 1.0, 60.0];
        let ours = AtomicHistogram::new(&bounds);
        let theirs = Histogram::new(bounds);
        for micros in [
            0u64, 1, 499, 500, 501, 1000, 2600, 9_999, 750_000, 61_000_000,
        ] {
            let d = Duration::from_micros(micros);
            ours.observe(d);
            theirs.observe(d.as_secs_f64());
        }
        let encode = |register: &dyn Fn(&mut Registry)| {
            let mut registry = Registry::default();
            register(&mut registry);
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
            out
        };
        let a = encode(&|r| r.register("h", "help", ours.clone()));
        let b = encode(&|r| r.register("h", "help", theirs.clone()));
        assert_eq!(a, b);
        assert_eq!(ours.count(), 10);
    }

    /// Requests counted from several threads at once all arrive, each
    /// under its status.
    #[test]
    fn location_request_counters_count_every_request() {
        let metrics = Arc::new(Metrics::new());
        let location = Arc::new(LocationMetrics::new(&metrics, "server[0]", "/api"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (metrics, location) = (metrics.clone(), location.clone());
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let status = if i % 10 == 0 { 502 } else { 200 };
                        location.count_request(&metrics, status);
                    }
                    location.count_request(&metrics, 999);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = metrics.encode();
        for (status, n) in [(200, 3600), (502, 400), (999, 4)] {
            let line = format!(
                r#"mtls_gateway_requests_total{{server="server[0]",location="/api",status="{status}"}} {n}"#
            );
            assert!(text.contains(&line), "{line} not in\n{text}");
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
