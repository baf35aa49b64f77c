//! What is known about one client connection once its TLS handshake and
//! client-certificate verdict are done: addresses, the negotiated TLS
//! parameters, the server block's name, and the client's [`PeerIdentity`].
//!
//! These are the facts every `$variable` is computed from
//! ([`crate::template`]) and that header rewrite reads ([`crate::headers`]).
//! A leaf module: nothing here knows the runtime, metrics or logs, so header
//! rewrite is a pure function of request + facts + location, testable and
//! fuzzable without a running gateway. The live handles of a connection
//! (its configuration generation, metrics, close and retire signals) are in
//! [`crate::conn`].

use std::net::SocketAddr;
use std::sync::Arc;

use crate::verify::PeerIdentity;

/// The facts of one connection, computed once after its handshake.
#[derive(Debug)]
pub struct ConnFacts {
    /// `$remote_addr`, `$remote_port`: the peer, or the client its PROXY
    /// protocol header names when the peer is in `set_real_ip_from`.
    pub remote: SocketAddr,
    /// `$proxy_protocol_addr`, `$proxy_protocol_port`: the source of the
    /// connection's PROXY header, whoever sent it (`None`: no header, or
    /// `UNKNOWN`).
    pub proxy_protocol: Option<SocketAddr>,
    /// `$server_port`.
    pub local: SocketAddr,
    pub tls: TlsInfo,
    /// `$server_name`: the first name of the server block SNI selected.
    pub server_name: Arc<str>,
    /// Every `$ssl_client_*` value. Shared by the connections that presented
    /// the same chain recently ([`crate::verify::VerdictCache`]).
    pub peer: Arc<PeerIdentity>,
}

/// TLS facts of a connection, as nginx's `$ssl_*` variables report them.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// `$ssl_protocol`: `TLSv1.2` or `TLSv1.3`.
    pub protocol: &'static str,
    /// `$ssl_cipher`, in OpenSSL's naming.
    pub cipher: &'static str,
    /// `$ssl_server_name`: the SNI the client sent, if any.
    pub server_name: Option<String>,
    /// `$ssl_session_reused`.
    pub resumed: bool,
}

/// OpenSSL's name for a rustls cipher suite (`$ssl_cipher`).
pub fn openssl_cipher_name(suite: rustls::CipherSuite) -> &'static str {
    use rustls::CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "UNKNOWN",
    }
}

/// `$ssl_protocol` for a rustls version.
pub fn protocol_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        _ => "unknown",
    }
}
