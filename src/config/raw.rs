//! The configuration file exactly as written: serde structs and nothing else.
//!
//! Every field is optional or defaulted here so that *all* problems can be
//! reported by the validation step at once; unknown keys are collected by
//! `serde_ignored` in [`super::load`] instead of stopping at the first one.

use indexmap::IndexMap;
use serde::Deserialize;

/// A value that may be written as one item or as an array of items
/// (`listen = "0.0.0.0:3443"` or `listen = ["0.0.0.0:3443", "[::]:3443"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A duration written as nginx writes it (`"10m"`, `"30s"`, `"500ms"`) or as
/// a bare number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(i64),
    Text(String),
}

/// A size written as nginx writes it (`"1m"`, `"16k"`) or a number of bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

/// nginx's `worker_processes`: `"auto"` or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawWorkers {
    Count(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    /// nginx's `worker_connections`: client connections served at once.
    pub max_connections: Option<i64>,
    /// nginx's `worker_processes`: worker threads (`"auto"`: one per CPU).
    pub worker_processes: Option<RawWorkers>,
    /// nginx's `pid`: where `run` writes its process id (used by `reload`).
    pub pid: Option<String>,
    /// nginx's `worker_shutdown_timeout`.
    pub shutdown_timeout: Option<RawDuration>,
    /// Reload when the configuration or a file it names changes.
    pub watch: Option<bool>,
    pub access_log: Option<String>,
    pub access_log_format: Option<String>,
    pub admin: Option<RawAdmin>,
    /// The signed identity assertion (`$ssl_client_jwt`).
    pub identity_assertion: Option<RawIdentityAssertion>,
    #[serde(default)]
    pub server: Vec<RawServer>,
    #[serde(default)]
    pub upstream: IndexMap<String, RawUpstream>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAdmin {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawIdentityAssertion {
    pub key: Option<String>,
    pub previous_keys: Option<OneOrMany<String>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub lifetime: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub listen: Option<OneOrMany<String>>,
    pub server_name: Option<OneOrMany<String>>,
    pub tls: Option<RawTls>,
    pub client_auth: Option<RawClientAuth>,
    #[serde(default)]
    pub location: Vec<RawLocation>,
    /// Inherited by every location that has no `proxy_set_header` of its own.
    pub proxy_set_header: Option<IndexMap<String, String>>,
    /// Header presets (`"rfc9440"`, `"xfcc"`, `"nginx"`), inherited by every
    /// location without `identity_headers` of its own.
    pub identity_headers: Option<OneOrMany<String>>,
    pub underscores_in_headers: Option<bool>,
    pub proxy_connect_timeout: Option<RawDuration>,
    pub proxy_read_timeout: Option<RawDuration>,
    pub proxy_send_timeout: Option<RawDuration>,
    pub server_tokens: Option<bool>,
    pub client_header_timeout: Option<RawDuration>,
    pub client_body_timeout: Option<RawDuration>,
    pub keepalive_timeout: Option<RawDuration>,
    pub send_timeout: Option<RawDuration>,
    pub client_max_body_size: Option<RawSize>,
    pub max_request_header_size: Option<RawSize>,
    pub max_request_headers: Option<i64>,
    pub http2_max_concurrent_streams: Option<i64>,
    pub max_proxy_header_size: Option<RawSize>,
    pub lingering_time: Option<RawDuration>,
    pub lingering_timeout: Option<RawDuration>,
    /// nginx's `proxy_ssl_*`: TLS to an `https://` upstream.
    pub proxy_ssl_certificate: Option<String>,
    pub proxy_ssl_certificate_key: Option<String>,
    pub proxy_ssl_trusted_certificate: Option<String>,
    pub proxy_ssl_verify: Option<bool>,
    pub proxy_ssl_verify_depth: Option<i64>,
    pub proxy_ssl_name: Option<String>,
    pub proxy_ssl_server_name: Option<bool>,
    pub proxy_ssl_protocols: Option<Vec<String>>,
    pub proxy_ssl_session_reuse: Option<bool>,
    /// Inherited by every location that does not set it.
    pub require_verified: Option<bool>,
    /// Inherited by every location that has no `allow` rule of its own.
    #[serde(default)]
    pub allow: Vec<RawAllow>,
    /// Inherited by every location that has no `deny_return` of its own.
    pub deny_return: Option<RawReturn>,
    /// nginx's `listen ... proxy_protocol`: connections start with a PROXY
    /// protocol header (every server of the address must agree).
    pub proxy_protocol: Option<bool>,
    /// nginx's `set_real_ip_from` (with `real_ip_header proxy_protocol`).
    pub set_real_ip_from: Option<OneOrMany<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub certificate: Option<String>,
    pub certificate_key: Option<String>,
    pub protocols: Option<Vec<String>>,
    pub session_timeout: Option<RawDuration>,
    pub session_cache: Option<i64>,
    pub session_tickets: Option<bool>,
    pub handshake_timeout: Option<RawDuration>,
    /// nginx's `ssl_session_ticket_key` (one file or several; the first encrypts).
    pub session_ticket_key: Option<OneOrMany<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawClientAuth {
    pub verify_client: Option<String>,
    pub client_certificate: Option<String>,
    pub trusted_certificate: Option<String>,
    pub verify_depth: Option<i64>,
    pub failure: Option<String>,
    pub crl: Option<String>,
    pub crl_check: Option<String>,
    pub crl_expired: Option<String>,
    pub ocsp: Option<String>,
    pub ocsp_responder: Option<String>,
    pub ocsp_cache: Option<String>,
    pub ocsp_timeout: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLocation {
    pub prefix: Option<String>,
    pub exact: Option<String>,
    #[serde(rename = "return")]
    pub return_: Option<RawReturn>,
    pub proxy_pass: Option<String>,
    pub proxy_set_header: Option<IndexMap<String, String>>,
    pub identity_headers: Option<OneOrMany<String>>,
    /// The `aud` of `$ssl_client_jwt` here (default `identity_assertion.audience`).
    pub identity_assertion_audience: Option<String>,
    pub proxy_connect_timeout: Option<RawDuration>,
    pub proxy_read_timeout: Option<RawDuration>,
    pub proxy_send_timeout: Option<RawDuration>,
    /// nginx's `proxy_ssl_*`: TLS to an `https://` upstream.
    pub proxy_ssl_certificate: Option<String>,
    pub proxy_ssl_certificate_key: Option<String>,
    pub proxy_ssl_trusted_certificate: Option<String>,
    pub proxy_ssl_verify: Option<bool>,
    pub proxy_ssl_verify_depth: Option<i64>,
    pub proxy_ssl_name: Option<String>,
    pub proxy_ssl_server_name: Option<bool>,
    pub proxy_ssl_protocols: Option<Vec<String>>,
    pub proxy_ssl_session_reuse: Option<bool>,
    /// `$ssl_client_verify` must be `SUCCESS` (403 otherwise).
    pub require_verified: Option<bool>,
    /// Access rules: any rule admits; all conditions of a rule must hold.
    #[serde(default)]
    pub allow: Vec<RawAllow>,
    /// The answer to a request the access policy denies (default: 403 page).
    pub deny_return: Option<RawReturn>,
}

/// One `[[server.location.allow]]` rule ([`crate::verify::access`]).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawAllow {
    pub subject: Option<IndexMap<String, OneOrMany<String>>>,
    pub issuer: Option<IndexMap<String, OneOrMany<String>>>,
    pub san_dns: Option<OneOrMany<String>>,
    pub san_email: Option<OneOrMany<String>>,
    pub san_uri: Option<OneOrMany<String>>,
    pub san_ip: Option<OneOrMany<String>>,
    pub serial: Option<OneOrMany<String>>,
    pub fingerprint_sha256: Option<OneOrMany<String>>,
    pub spki_sha256: Option<OneOrMany<String>>,
    pub list: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawReturn {
    pub status: Option<i64>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub content_type: Option<String>,
    /// Answer the identity assertion's JWKS (`application/json`).
    pub jwks: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawUpstream {
    pub server: Option<OneOrMany<String>>,
    pub keepalive: Option<i64>,
    pub keepalive_timeout: Option<RawDuration>,
}
