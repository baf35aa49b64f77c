//! A loaded configuration turned into what serves traffic: per server its
//! rustls config, its locations with what they do (a proxy location always
//! with its upstream pool) and the identity headers to strip; per listen
//! address the servers that share it.
//!
//! A [`Generation`] is built aside from a validated [`Config`] and only then
//! published, so a connection always sees one whole configuration.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http::HeaderName;
use rustls::ServerConfig;

use std::collections::HashMap;

use tokio::sync::watch;

use crate::config::{Action, Config, Global, Location, Match, ProxySpec, ReturnSpec, Server};
use crate::metrics::{LocationMetrics, Metrics, PolicyCounters};
use crate::proxy::Upstream;
use crate::tls::SessionState;
use crate::verify::access::AccessPolicy;

/// One `[[server]]`, ready to serve.
#[derive(Debug)]
pub struct ServerRuntime {
    pub config: Server,
    /// `$server_name`: the first name of the block (empty if none).
    pub server_name: Arc<str>,
    pub tls: Arc<ServerConfig>,
    pub locations: Vec<LocationRuntime>,
    /// Headers that any location of *any* server of the configuration sets
    /// from an `$ssl_client_*` variable: client copies are removed in every
    /// location of every server, so a client of a server without client
    /// authentication cannot plant them for a backend that another server
    /// shares ([`crate::headers::identity_headers`]).
    pub identity_headers: Arc<[HeaderName]>,
    /// Recent successful client-chain verdicts (dropped with this
    /// configuration on reload).
    pub verdicts: crate::verify::VerdictCache,
    /// OCSP queries in flight and the response cache (shared with the
    /// servers naming the same `ocsp_cache` zone; new on reload).
    pub ocsp: crate::verify::ocsp::OcspChecker,
    /// Metrics of requests that matched no location (`location="-"`).
    pub unrouted_metrics: OnceLock<LocationMetrics>,
}

impl ServerRuntime {
    /// The metric series of `location` (`None`: matched none), resolved on
    /// first use.
    pub fn location_metrics<'a>(
        &'a self,
        location: Option<&'a LocationRuntime>,
        metrics: &Metrics,
    ) -> &'a LocationMetrics {
        let (cell, label) = match location {
            Some(l) => (&l.metrics, l.label.as_str()),
            None => (&self.unrouted_metrics, "-"),
        };
        cell.get_or_init(|| LocationMetrics::new(metrics, &self.config.label, label))
    }

    /// The `policy_decisions_total` series of `location` (one of this
    /// server's), resolved on first use.
    pub fn policy_metrics<'a>(
        &self,
        location: &'a LocationRuntime,
        metrics: &Metrics,
    ) -> &'a PolicyCounters {
        location
            .policy_metrics
            .get_or_init(|| PolicyCounters::new(metrics, &self.config.label, &location.label))
    }

    /// `$server_name`: the first name of the block (empty if none).
    pub fn primary_name(&self) -> &str {
        &self.server_name
    }

    /// Whether `host` is one of this server's names.
    pub fn answers_to(&self, host: &str) -> bool {
        self.config.names.iter().any(|n| n.matches(host))
    }
}

/// One location, ready to serve.
#[derive(Debug)]
pub struct LocationRuntime {
    /// `location <matcher>` (the `location` metric label).
    pub label: String,
    pub matcher: Match,
    pub handler: Handler,
    pub metrics: OnceLock<LocationMetrics>,
    /// `require_verified` and `allow` rules.
    pub access: AccessPolicy,
    /// `deny_return` (`None`: nginx's 403 page).
    pub deny_return: Option<ReturnSpec>,
    /// `policy_decisions_total` of this location, resolved on first use.
    pub policy_metrics: OnceLock<PolicyCounters>,
    /// The `aud` of `$ssl_client_jwt` here, when not the default.
    pub assertion_audience: Option<String>,
}

/// What a location does with a request. A proxy location always has its
/// upstream (connection pool and servers).
#[derive(Debug)]
pub enum Handler {
    Return(ReturnSpec),
    Proxy {
        spec: Box<ProxySpec>,
        upstream: Upstream,
    },
}

impl LocationRuntime {
    fn new(location: Location) -> Result<LocationRuntime, rustls::Error> {
        let Location {
            label,
            matcher,
            action,
            access,
            deny_return,
            assertion_audience,
        } = location;
        let handler = match action {
            Action::Return(spec) => Handler::Return(spec),
            Action::Proxy(spec) => Handler::Proxy {
                upstream: Upstream::new(&spec)?,
                spec,
            },
        };
        Ok(LocationRuntime {
            label,
            matcher,
            handler,
            metrics: OnceLock::new(),
            access,
            deny_return,
            policy_metrics: OnceLock::new(),
            assertion_audience,
        })
    }
}

/// The servers sharing one listen address; the first is the default.
#[derive(Debug)]
pub struct ListenGroup {
    pub addr: SocketAddr,
    pub servers: Vec<Arc<ServerRuntime>>,
    /// Connections start with a PROXY protocol header (all servers of the
    /// address agree: checked by validation).
    pub proxy_protocol: bool,
}

impl ListenGroup {
    /// The server for a TLS SNI: an exact or wildcard name match, otherwise
    /// the first server of this address (nginx's default server).
    pub fn select(&self, sni: Option<&str>) -> &Arc<ServerRuntime> {
        let by_name = sni.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.servers.iter().find(|s| s.answers_to(&name))
        });
        // `servers` is never empty: groups are made from servers' addresses.
        by_name.unwrap_or(&self.servers[0])
    }
}

/// Everything one loaded configuration serves.
#[derive(Debug)]
pub struct Generation {
    /// 1 for the configuration loaded at start, +1 per successful reload.
    pub number: u64,
    pub groups: Vec<ListenGroup>,
    /// Session state per server label, handed to the next generation.
    pub sessions: HashMap<String, SessionState>,
    /// Set to `true` when a newer generation replaces this one: its
    /// connections finish what they are doing and close.
    pub retired: watch::Sender<bool>,
    pub global: Global,
    /// Every file the configuration reads (for `watch`).
    pub files: Vec<std::path::PathBuf>,
    /// `[identity_assertion]`: signs `$ssl_client_jwt`, publishes the JWKS.
    pub assertion: Option<Arc<crate::assertion::Assertion>>,
}

impl Generation {
    /// Builds the runtime for `config`.
    ///
    /// # Errors
    /// [`TlsSetupError`](crate::tls::TlsSetupError): the server whose TLS
    /// setup rustls refused.
    pub fn build(
        config: Config,
        previous: Option<&Generation>,
        number: u64,
    ) -> Result<Generation, crate::tls::TlsSetupError> {
        let mut groups: Vec<ListenGroup> = Vec::new();
        let mut sessions = HashMap::new();
        let identity_headers = crate::headers::identity_headers(&config.servers);
        // `ocsp_cache = "shared:NAME:SIZE"`: one cache per NAME, as nginx's
        // zones (the first server naming it sets its size).
        let mut ocsp_zones: HashMap<String, Arc<crate::verify::ocsp::ResponseCache>> =
            HashMap::new();
        for server in config.servers {
            let ocsp_cache = server
                .client_auth
                .ocsp
                .cache
                .as_ref()
                .map(|(name, entries)| {
                    ocsp_zones
                        .entry(name.clone())
                        .or_insert_with(|| {
                            Arc::new(crate::verify::ocsp::ResponseCache::new(*entries))
                        })
                        .clone()
                });
            let state = SessionState::for_server(
                &server,
                previous.and_then(|p| p.sessions.get(&server.label)),
            )?;
            let tls = crate::tls::server_config(&server, &state)?;
            sessions.insert(server.label.clone(), state);
            let listen = server.listen.clone();
            let mut config = server;
            let mut locations = Vec::new();
            for location in std::mem::take(&mut config.locations) {
                let label = location.label.clone();
                locations.push(LocationRuntime::new(location).map_err(|source| {
                    crate::tls::TlsSetupError::Upstream {
                        location: format!("{}, {label}", config.label),
                        source,
                    }
                })?);
            }
            let server_name = match config.names.first() {
                Some(crate::config::ServerName::Exact(n)) => Arc::from(n.as_str()),
                _ => Arc::from(""),
            };
            let runtime = Arc::new(ServerRuntime {
                config,
                server_name,
                tls,
                locations,
                identity_headers: identity_headers.clone(),
                verdicts: crate::verify::VerdictCache::default(),
                ocsp: crate::verify::ocsp::OcspChecker::new(ocsp_cache),
                unrouted_metrics: OnceLock::new(),
            });
            for addr in listen {
                match groups.iter_mut().find(|g| g.addr == addr) {
                    Some(g) => g.servers.push(runtime.clone()),
                    None => groups.push(ListenGroup {
                        addr,
                        proxy_protocol: runtime.config.proxy_protocol,
                        servers: vec![runtime.clone()],
                    }),
                }
            }
        }
        Ok(Generation {
            number,
            groups,
            sessions,
            retired: watch::channel(false).0,
            global: config.global,
            files: config.files,
            assertion: config.assertion,
        })
    }
}

impl Generation {
    /// When each server certificate, CA, CRL and upstream client
    /// certificate of this configuration expires, for [`Metrics::set_expiry`] (pushed when it is published).
    pub fn expiry_samples(&self) -> Vec<crate::metrics::ExpirySample> {
        use crate::metrics::{CertLabels, ExpirySample};
        let mut samples = Vec::new();
        for group in &self.groups {
            for server in &group.servers {
                let mut push = |kind: &'static str, der: &[u8], at: i64| {
                    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
                    let fingerprint: String = digest.as_ref()[..8]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let labels = CertLabels {
                        server: server.config.label.clone(),
                        kind,
                        fingerprint,
                    };
                    // A server on several addresses is listed once.
                    if !samples.iter().any(|s: &ExpirySample| s.labels == labels) {
                        samples.push(ExpirySample { labels, at });
                    }
                };
                if let Some(leaf) = server.config.tls.certified_key.cert.first()
                    && let Ok((_, c)) = x509_parser::parse_x509_certificate(leaf)
                {
                    push("server", leaf, c.validity().not_after.timestamp());
                }
                for ca in server.config.client_auth.trust.certificates() {
                    if let Ok((_, c)) = x509_parser::parse_x509_certificate(ca) {
                        push("ca", ca, c.validity().not_after.timestamp());
                    }
                }
                for crl in &server.config.client_auth.crl_records {
                    if let Some(next) = crl.next_update {
                        push("crl", &crl.issuer_der, next);
                    }
                }
                // The gateway's own client certificate for `https://`
                // upstreams: when it expires, every such upstream refuses.
                for location in &server.locations {
                    if let Handler::Proxy { spec, .. } = &location.handler
                        && let Some(leaf) = spec
                            .tls
                            .as_ref()
                            .and_then(|tls| tls.client_cert.as_ref())
                            .and_then(|ck| ck.cert.first())
                        && let Ok((_, c)) = x509_parser::parse_x509_certificate(leaf)
                    {
                        push("upstream_client", leaf, c.validity().not_after.timestamp());
                    }
                }
            }
        }
        samples
    }
}
