//! Configuration: the TOML file as written ([`raw`]), then a validated
//! [`Config`] whose types cannot hold a bad state ([`validate`]).
//!
//! Loading reads every file the configuration names (certificates, keys, CA
//! bundles), checks that each key matches its certificate and that every
//! header template parses, and reports *every* problem at once, each naming
//! the file, the key and what is wrong. Nothing is bound or served from a
//! configuration that did not load completely.

pub mod duration;
pub mod raw;
pub mod size;
mod suggest;
mod validate;

pub(crate) use validate::CONNECTION_HEADERS;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use rustls::sign::CertifiedKey;

use crate::template::Template;
use crate::verify::access::AccessPolicy;
use crate::verify::policy::ClientAuth;

/// A fully validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was loaded from.
    pub source: PathBuf,
    pub global: Global,
    pub servers: Vec<Server>,
    /// Every file the configuration reads (itself included), for `watch`.
    pub files: Vec<PathBuf>,
    /// `[identity_assertion]`, keys loaded.
    pub assertion: Option<Arc<crate::assertion::Assertion>>,
}

/// Process-wide settings (top-level keys and `[admin]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub pid: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub watch: bool,
    pub access_log: AccessLog,
    pub access_log_format: AccessLogFormat,
    /// The admin listener (health, readiness, metrics), if any.
    pub admin: Option<SocketAddr>,
    /// Client connections served at once; accepting pauses beyond.
    pub max_connections: usize,
    /// Worker threads (`None`: `"auto"`, one per CPU the process may use).
    pub worker_processes: Option<usize>,
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    /// The default: apart from the diagnostics on stderr.
    Stdout,
    Stderr,
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    Json,
    Combined,
}

/// One `[[server]]` block.
#[derive(Debug)]
pub struct Server {
    /// `server[N]`, used in logs and errors.
    pub label: String,
    pub listen: Vec<SocketAddr>,
    pub names: Vec<ServerName>,
    pub tls: Tls,
    pub client_auth: Arc<ClientAuth>,
    pub locations: Vec<Location>,
    /// nginx's `underscores_in_headers` (default off: such headers are dropped).
    pub underscores_in_headers: bool,
    /// Whether gateway-generated pages name the product (`server_tokens`).
    pub server_tokens: bool,
    pub limits: Limits,
    /// Connections start with a PROXY protocol header (`proxy_protocol`).
    pub proxy_protocol: bool,
    /// Peers whose PROXY header sets `$remote_addr` (`set_real_ip_from`).
    pub set_real_ip_from: Vec<crate::proxy_protocol::IpNet>,
}

/// Per-server limits and client-side timeouts (nginx names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time to receive a request head (HTTP/1.1; also bounds idle keep-alive).
    pub client_header_timeout: Duration,
    /// Time between two reads of a request body.
    pub client_body_timeout: Duration,
    /// An idle connection (no request in flight) is closed after this.
    pub keepalive_timeout: Duration,
    /// Longest time a response may wait on the client: between two writes
    /// to the connection (HTTP/1.1 and HTTP/2), and between two reads of an
    /// HTTP/2 stream's response body. On expiry the connection is closed.
    pub send_timeout: Duration,
    /// Largest request body; 0 = unlimited. Beyond it: 413.
    pub client_max_body_size: u64,
    /// Largest request head (request line and headers). Beyond it: 431.
    pub max_request_header_size: usize,
    /// Most request header lines. Beyond it: 431.
    pub max_request_headers: usize,
    pub http2_max_concurrent_streams: u32,
    /// Largest value of a header the gateway sets (e.g. an escaped
    /// certificate). Beyond it: 400 instead of a request the backend rejects.
    pub max_proxy_header_size: usize,
    /// Lingering close: the longest time input is read and discarded after
    /// an answer that ends the connection (0 = no lingering).
    pub lingering_time: Duration,
    /// Lingering close: how long to wait for more input (0 = no lingering).
    pub lingering_timeout: Duration,
}

impl Limits {
    /// The bounds of a lingering close ([`crate::linger`]).
    pub fn lingering(&self) -> crate::linger::Lingering {
        crate::linger::Lingering {
            time: self.lingering_time,
            timeout: self.lingering_timeout,
        }
    }
}

/// A `server_name` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerName {
    /// `example.com` (stored lower-case).
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (stored as `.example.com`).
    WildcardPrefix(String),
    /// `.example.com`: `example.com` itself and every name under it.
    DomainAndSubdomains(String),
}

impl ServerName {
    /// Whether `host` (lower-case, no port, no trailing dot) is this name.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            ServerName::Exact(name) => name == host,
            ServerName::WildcardPrefix(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            ServerName::DomainAndSubdomains(domain) => {
                host == domain
                    || (host.len() > domain.len() + 1
                        && host.ends_with(domain.as_str())
                        && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
            }
        }
    }

    /// The name as written in the configuration.
    pub fn as_written(&self) -> String {
        match self {
            ServerName::Exact(n) => n.clone(),
            ServerName::WildcardPrefix(s) => format!("*{s}"),
            ServerName::DomainAndSubdomains(d) => format!(".{d}"),
        }
    }
}

/// TLS protocol versions (`protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tls12,
    Tls13,
}

/// `[server.tls]`.
pub struct Tls {
    pub certificate: PathBuf,
    pub certificate_key: PathBuf,
    /// The chain and its key, already checked to match.
    pub certified_key: Arc<CertifiedKey>,
    pub protocols: Vec<Protocol>,
    pub session_timeout: Duration,
    /// Sessions kept for session-ID resumption; 0 = off.
    pub session_cache: usize,
    pub session_tickets: bool,
    pub handshake_timeout: Duration,
    /// `session_ticket_key` files, read (the first encrypts); empty: keys
    /// made at random by this process.
    pub session_ticket_keys: Vec<crate::tickets::TicketKey>,
}

impl fmt::Debug for Tls {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("certificate", &self.certificate)
            .field("certificate_key", &self.certificate_key)
            .field("protocols", &self.protocols)
            .field("session_timeout", &self.session_timeout)
            .field("session_cache", &self.session_cache)
            .field("session_tickets", &self.session_tickets)
            .field("session_ticket_keys", &self.session_ticket_keys)
            .finish_non_exhaustive()
    }
}

/// How a location matches the normalized request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Prefix(String),
    Exact(String),
}

/// One `[[server.location]]`.
#[derive(Debug)]
pub struct Location {
    pub label: String,
    pub matcher: Match,
    pub action: Action,
    /// `require_verified` and `allow` rules (after inheritance).
    pub access: AccessPolicy,
    /// `deny_return`: the answer when `access` denies (`None`: nginx's 403 page).
    pub deny_return: Option<ReturnSpec>,
    /// `identity_assertion_audience`: the `aud` of `$ssl_client_jwt` here
    /// (`None`: `identity_assertion.audience`).
    pub assertion_audience: Option<String>,
}

#[derive(Debug)]
pub enum Action {
    Return(ReturnSpec),
    Proxy(Box<ProxySpec>),
}

/// `return = { status, text | url }`.
#[derive(Debug, Clone)]
pub struct ReturnSpec {
    pub status: StatusCode,
    /// Body text (may use variables); `None` sends the gateway's HTML page.
    pub text: Option<Template>,
    /// `Location` for redirects (301, 302, 303, 307, 308).
    pub url: Option<Template>,
    pub content_type: HeaderValue,
    /// `jwks = true`: the body is the identity assertion's JWKS.
    pub jwks: bool,
}

/// `proxy_pass` and everything that shapes the upstream request.
#[derive(Debug)]
pub struct ProxySpec {
    /// As written, e.g. `http://backend`.
    pub target: String,
    /// `$proxy_host`: the upstream name, or `host[:port]` as written.
    pub proxy_host: String,
    pub servers: Vec<UpstreamServer>,
    /// `proxy_set_header`, in configuration order (after inheritance).
    pub set_headers: Vec<(HeaderName, Template)>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    /// Idle keep-alive connections to the upstream kept open.
    pub keepalive: UpstreamKeepalive,
    /// TLS to the upstream (`proxy_pass = "https://..."`), else plain TCP.
    pub tls: Option<UpstreamTls>,
}

/// TLS to an `https://` upstream (nginx's `proxy_ssl_*`), every file read
/// and checked at load.
pub struct UpstreamTls {
    /// `proxy_ssl_certificate` and `proxy_ssl_certificate_key`: the
    /// gateway's client certificate, checked to match its key.
    pub client_cert: Option<Arc<CertifiedKey>>,
    /// `proxy_ssl_trusted_certificate`: its self-signed certificates are
    /// the trust anchors, the others extra intermediates (as OpenSSL, no
    /// partial chains). Empty when `proxy_ssl_verify` is off.
    pub anchors: Vec<rustls_pki_types::TrustAnchor<'static>>,
    pub intermediates: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// `proxy_ssl_verify` (default on, unlike nginx).
    pub verify: bool,
    /// `proxy_ssl_verify_depth`: at most this many intermediates between
    /// the upstream's certificate and the root (nginx's default 1).
    pub verify_depth: u32,
    /// `proxy_ssl_name`: the name the certificate must be valid for (and
    /// the SNI). Default: the host of `proxy_pass`.
    pub name: rustls_pki_types::ServerName<'static>,
    /// `proxy_ssl_server_name`: send `name` as SNI (default off, as nginx).
    pub server_name: bool,
    pub protocols: Vec<Protocol>,
    /// `proxy_ssl_session_reuse` (default on).
    pub session_reuse: bool,
}

impl fmt::Debug for UpstreamTls {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("client_cert", &self.client_cert.is_some())
            .field("anchors", &self.anchors.len())
            .field("verify", &self.verify)
            .field("verify_depth", &self.verify_depth)
            .field("name", &self.name)
            .field("server_name", &self.server_name)
            .field("protocols", &self.protocols)
            .field("session_reuse", &self.session_reuse)
            .finish_non_exhaustive()
    }
}

/// An upstream's idle connections (nginx's `keepalive` and
/// `keepalive_timeout` in an `upstream` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamKeepalive {
    /// At most this many idle connections per location; 0 keeps none.
    pub max_idle: usize,
    /// An idle connection is closed after this long.
    pub timeout: Duration,
}

impl Default for UpstreamKeepalive {
    fn default() -> Self {
        UpstreamKeepalive {
            max_idle: defaults::UPSTREAM_KEEPALIVE,
            timeout: defaults::UPSTREAM_KEEPALIVE_TIMEOUT,
        }
    }
}

/// One `server` of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for UpstreamServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `server[0].tls.certificate`; empty for whole-file problems.
    pub key: String,
    pub problem: String,
}

/// Every problem found in one configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if e.key.is_empty() {
                write!(f, "{}: {}", self.file.display(), e.problem)?;
            } else {
                write!(f, "{}: {}: {}", self.file.display(), e.key, e.problem)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Nginx's defaults, where the configuration is silent.
pub mod defaults {
    use std::time::Duration;

    pub const SESSION_TIMEOUT: Duration = Duration::from_secs(300);
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const PROXY_READ_TIMEOUT: Duration = Duration::from_secs(60);
    pub const PROXY_SEND_TIMEOUT: Duration = Duration::from_secs(60);
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
    pub const MAX_CONNECTIONS: usize = 16384;
    pub const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
    pub const CLIENT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
    pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
    pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
    pub const CLIENT_MAX_BODY_SIZE: u64 = 1 << 20;
    pub const MAX_REQUEST_HEADER_SIZE: usize = 32 << 10;
    pub const MAX_REQUEST_HEADERS: usize = 100;
    pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 128;
    pub const MAX_PROXY_HEADER_SIZE: usize = 16 << 10;
    pub const LINGERING_TIME: Duration = Duration::from_secs(30);
    pub const LINGERING_TIMEOUT: Duration = Duration::from_secs(5);
    pub const UPSTREAM_KEEPALIVE: usize = 128;
    pub const MAX_UPSTREAM_KEEPALIVE: usize = 100_000;
    pub const UPSTREAM_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
}

/// Whether PEM text holds a passphrase-protected private key (PKCS#8
/// `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED`
/// header), which the gateway does not read: it reloads unattended, with
/// nobody to type a passphrase.
pub fn is_encrypted_key_pem(pem: &[u8]) -> bool {
    let has = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}

/// Loads and validates the configuration at `path`, reading every file it names.
///
/// # Errors
/// Every problem found, each naming the key and what is wrong.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |problem: String| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError {
            key: String::new(),
            problem,
        }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(&text, path)
}

/// Validates configuration text as if it had been read from `path` (relative
/// paths inside resolve against `path`'s folder).
///
/// # Errors
/// Every problem found, each naming the key and what is wrong.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut unknown = Vec::new();
    let toml_error = |e: toml::de::Error| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError {
            key: String::new(),
            problem: suggest::toml_error(text, e.message(), e.span()),
        }],
    };
    let deserializer = toml::Deserializer::parse(text).map_err(toml_error)?;
    let raw: raw::RawConfig =
        serde_ignored::deserialize(deserializer, |p| unknown.push(key_path(&p)))
            .map_err(toml_error)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut errors: Vec<ConfigError> = unknown
        .into_iter()
        .map(|key| ConfigError {
            problem: match suggest::hint(&key) {
                Some(hint) => format!("unknown key; {hint}"),
                None => "unknown key".into(),
            },
            key,
        })
        .collect();
    let (global, servers, mut files, assertion) = validate::validate(raw, &base, &mut errors);
    files.insert(0, path.to_path_buf());
    if errors.is_empty() {
        Ok(Config {
            source: path.to_path_buf(),
            global,
            servers,
            files,
            assertion,
        })
    } else {
        Err(ConfigErrors {
            file: path.to_path_buf(),
            errors,
        })
    }
}

/// `server.0.tls.foo` → `server[0].tls.foo`.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        P::Map { parent, key } => {
            let parent = key_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            key_path(parent)
        }
    }
}
