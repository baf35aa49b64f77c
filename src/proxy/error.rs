//! How forwarding fails, and who is at fault: [`UpstreamError`] (the
//! upstream refused, timed out, reset or answered garbage: the `kind` of
//! `mtls_gateway_upstream_errors_total`) or the client's own request body
//! ([`ClientBodyError`]), which is no upstream error. [`classify`] sorts a
//! failed hyper exchange into one of them.

use std::io;

/// What kind of upstream failure: the `kind` label of
/// `mtls_gateway_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// No server accepted a connection.
    Refused,
    /// Connecting, sending or waiting for the answer took too long.
    Timeout,
    /// The connection failed mid-exchange.
    Reset,
    /// The upstream answered something that is not HTTP/1.1.
    Protocol,
    /// TLS to the upstream failed: its certificate does not verify, it
    /// refused the gateway's (or the lack of one), no common protocol.
    Tls,
}

impl UpstreamErrorKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Refused => "refused",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Protocol => "protocol",
            UpstreamErrorKind::Tls => "tls",
        }
    }
}

/// The upstream failed a request: its kind, and the detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    pub detail: String,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, detail: String) -> UpstreamError {
        UpstreamError { kind, detail }
    }
}

/// How the client's request body failed on its way upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientBodyError {
    /// Over `client_max_body_size` (413).
    #[error("request body exceeds client_max_body_size")]
    TooLarge,
    /// Broken or stalled past `client_body_timeout` (400).
    #[error("client request body failed")]
    Failed,
}

/// Why [`super::Upstream::forward`] returned no response: the upstream's failure,
/// or the client's own (which is no upstream error and counts as none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    ClientBody(ClientBodyError),
}

/// Sorts a failed exchange: the client's own request body (too large, or
/// failed or stalled), else an upstream timeout, a protocol error (the
/// upstream answered garbage) or a reset. (A TLS failure mid-exchange is
/// told apart by the caller, which knows the connection: see
/// [`rustls_error`].)
pub(super) fn classify(e: &hyper::Error) -> ForwardError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut kind = UpstreamErrorKind::Reset;
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::TimedOut
        {
            return UpstreamError::new(
                UpstreamErrorKind::Timeout,
                format!("upstream timed out: {io}"),
            )
            .into();
        }
        if let Some(b) = err.downcast_ref::<crate::body::BodyError>() {
            return ForwardError::ClientBody(match b {
                crate::body::BodyError::TooLarge { .. } => ClientBodyError::TooLarge,
                _ => ClientBodyError::Failed,
            });
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            kind = UpstreamErrorKind::Protocol;
        }
        source = err.source();
    }
    UpstreamError::new(kind, format!("upstream failed: {}", error_chain(e))).into()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The rustls error inside `err` itself, if any (io::Error's `source()`
/// skips the error it wraps, so look inside).
fn as_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    err.downcast_ref::<rustls::Error>().or_else(|| {
        err.downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })
}

/// The rustls error anywhere in `e`'s chain.
pub(super) fn rustls_error(e: &hyper::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = as_rustls(err) {
            return Some(tls);
        }
        source = err.source();
    }
    None
}
