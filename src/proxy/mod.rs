//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Each proxy location owns a pool of idle keep-alive HTTP/1.1
//! connections to its upstream per worker (hyper's client connections, one
//! task each, on the worker that made them): a request only ever uses
//! connections of its own worker ([`crate::workers`]), so neither it nor
//! the connection's task wakes another thread.
//! A request takes the most recently used idle connection, or makes a new
//! one (`connect`), walking the upstream's `server` list
//! round-robin and moving to the next server when one refuses or times out.
//! A connection goes back to the pool when its response body has been read
//! to the end; one whose response was cut is dropped (and closed). A request
//! that an idle connection could not take (the upstream closed it while it
//! was idle) is retried on another connection: hyper hands it back unsent,
//! so a request body is never sent twice.
//!
//! An `https://` upstream is reached over TLS (`tls`: nginx's
//! `proxy_ssl_*`), in HTTP/2 when it chooses `h2` by ALPN; its TLS
//! connections are pooled like plain ones. A TLS failure (the upstream's
//! certificate does not verify, it refuses the gateway's client
//! certificate or the lack of one) is an upstream error of kind `tls`
//! whose log line says why.
//!
//! Idle connections are closed after the upstream's `keepalive_timeout`; at
//! most `keepalive` of them stay open per location (nginx's names).
//!
//! Timeouts follow nginx: `proxy_connect_timeout` per connection attempt;
//! `proxy_send_timeout` between two successful writes to the upstream;
//! `proxy_read_timeout` from the end of the request body to the response
//! head and between two reads of the response body.
//!
//! The parts: `pool` (idle connections), `connect` (new ones), `tls`
//! (TLS to the upstream),
//! `body` (the request and response bodies around an exchange) and
//! `error` (how it fails, and whose fault that is). This file is the
//! request's path: [`Upstream::forward`] and the exchange on a pooled or
//! new connection.

mod body;
mod connect;
mod error;
mod pool;
mod tls;

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version, header};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use tokio::sync::oneshot;

use crate::body::{Body, LimitedBody};
use crate::config::ProxySpec;
use crate::io_timeout::Stall;

use self::body::{SignalOnEnd, TimeoutBody};
use self::connect::Servers;
pub use self::error::{ClientBodyError, ForwardError, UpstreamError, UpstreamErrorKind};
use self::error::{classify, rustls_error};
use self::pool::{Pool, PooledConn};

/// The request body as sent upstream.
type UpstreamBody = SignalOnEnd<LimitedBody>;

/// How long a failed exchange waits for its TLS connection's task to end
/// with the reason (the task ends as the exchange fails; this only bounds
/// a wait that should not happen).
const CONNECTION_END_WAIT: Duration = Duration::from_secs(1);

/// A connection's request sender: HTTP/1.1, or HTTP/2 when an `https://`
/// upstream chose `h2` by ALPN.
#[derive(Debug)]
pub(super) enum SenderKind {
    Http1(http1::SendRequest<UpstreamBody>),
    Http2(http2::SendRequest<UpstreamBody>),
}

/// A connection's request sender, and for TLS the TLS error its connection
/// task ends with, if any: an exchange can fail with only "channel closed"
/// while the reason (say the upstream's TLS 1.3 alert refusing the client
/// certificate, which comes after the handshake) ended the connection task.
#[derive(Debug)]
pub(super) struct Sender {
    pub(super) kind: SenderKind,
    pub(super) tls_end: Option<oneshot::Receiver<rustls::Error>>,
}

impl Sender {
    pub(super) fn is_closed(&self) -> bool {
        match &self.kind {
            SenderKind::Http1(s) => s.is_closed(),
            SenderKind::Http2(s) => s.is_closed(),
        }
    }

    async fn ready(&mut self) -> Result<(), hyper::Error> {
        match &mut self.kind {
            SenderKind::Http1(s) => s.ready().await,
            SenderKind::Http2(s) => s.ready().await,
        }
    }

    /// Sends `request` (in HTTP/1.1 form); a request handed back unsent is
    /// in HTTP/1.1 form again.
    async fn send(
        &mut self,
        request: Request<UpstreamBody>,
        authority: &Authority,
    ) -> Result<Response<Incoming>, (hyper::Error, Option<Request<UpstreamBody>>)> {
        let split = |mut e: TrySendError<Request<UpstreamBody>>| {
            let unsent = e.take_message();
            (e.into_error(), unsent)
        };
        match &mut self.kind {
            SenderKind::Http1(s) => s.try_send_request(request).await.map_err(split),
            SenderKind::Http2(s) => s
                .try_send_request(h2_form(request, authority))
                .await
                .map_err(|e| {
                    let (e, unsent) = split(e);
                    (e, unsent.map(h1_form))
                }),
        }
    }
}

/// A request for an HTTP/2 upstream: absolute `https://` URI whose
/// authority is the `Host` the request would have carried (or
/// `$proxy_host`), no `Host` header.
fn h2_form<B>(request: Request<B>, fallback: &Authority) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|h| Authority::try_from(h.as_bytes()).ok())
        // `:authority` carries no userinfo (RFC 9113, 8.3.1).
        .filter(|a| !a.as_str().contains('@'))
        .unwrap_or_else(|| fallback.clone());
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTPS);
    uri.authority = Some(authority);
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    if let Ok(uri) = Uri::from_parts(uri) {
        parts.uri = uri;
        parts.headers.remove(header::HOST);
    }
    parts.version = Version::HTTP_2;
    Request::from_parts(parts, body)
}

/// [`h2_form`] undone, for a request that goes to an HTTP/1.1 connection
/// after all.
fn h1_form<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    if let Some(authority) = parts.uri.authority()
        && !parts.headers.contains_key(header::HOST)
        && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    let mut origin = http::uri::Parts::default();
    origin.path_and_query = parts.uri.path_and_query().cloned();
    if let Ok(uri) = Uri::from_parts(origin) {
        parts.uri = uri;
    }
    parts.version = Version::HTTP_11;
    Request::from_parts(parts, body)
}

/// A proxy location's upstream: its servers, timeouts and idle connections
/// (a pool per worker).
#[derive(Debug)]
pub struct Upstream {
    servers: Servers,
    read_timeout: Duration,
    /// One per worker ([`crate::workers::count`]), never empty.
    pools: Box<[Arc<Pool>]>,
    /// `$proxy_host`, the HTTP/2 `:authority` of a request without `Host`.
    authority: Authority,
}

impl Upstream {
    /// # Errors
    /// rustls's refusal of the location's upstream TLS settings (checked at
    /// load; see [`tls::UpstreamConnector::new`]).
    pub fn new(spec: &ProxySpec) -> Result<Upstream, rustls::Error> {
        let tls = spec
            .tls
            .as_ref()
            .map(tls::UpstreamConnector::new)
            .transpose()?;
        Ok(Upstream {
            servers: Servers::new(&spec.servers, spec.connect_timeout, spec.send_timeout, tls),
            read_timeout: spec.read_timeout,
            pools: (0..crate::workers::count())
                .map(|_| Arc::new(Pool::new(spec.keepalive)))
                .collect(),
            // $proxy_host is a host[:port] or an upstream name (validated).
            authority: Authority::try_from(spec.proxy_host.as_str())
                .unwrap_or_else(|_| Authority::from_static("localhost")),
        })
    }

    /// The pool of the worker running this request.
    fn pool(&self) -> &Arc<Pool> {
        let i = crate::workers::current() % self.pools.len().max(1);
        // `pools` is never empty (`new`), and i is below its length.
        &self.pools[i]
    }

    /// Sends `request` (already rewritten) and returns the response head.
    ///
    /// # Errors
    /// [`ForwardError::Upstream`] when the upstream failed (refused, timed
    /// out, reset, answered garbage), [`ForwardError::ClientBody`] when the
    /// client's own request body did.
    pub async fn forward(&self, request: Request<LimitedBody>) -> Result<Forwarded, ForwardError> {
        let started = Instant::now();
        let (mut parts, body) = request.into_parts();
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            // HTTP/2 and absolute-form targets carry scheme and authority:
            // the upstream gets origin form (the Host header names it).
            let mut origin = http::uri::Parts::default();
            origin.path_and_query = Some(
                parts
                    .uri
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            );
            parts.uri = Uri::from_parts(origin).map_err(|e| {
                UpstreamError::new(
                    UpstreamErrorKind::Protocol,
                    format!("cannot form upstream URI: {e}"),
                )
            })?;
        }
        parts.version = Version::HTTP_11;
        let (done_tx, done_rx) = oneshot::channel();
        let request = Request::from_parts(parts, SignalOnEnd::new(body, done_tx));
        let mut exchange = pin!(self.exchange(request));
        // proxy_read_timeout starts once the request body is sent (or the
        // upstream answers early).
        let (response, conn) = tokio::select! {
            r = &mut exchange => r?,
            _ = done_rx => match tokio::time::timeout(self.read_timeout, &mut exchange).await {
                Ok(r) => r?,
                Err(_) => return Err(UpstreamError::new(UpstreamErrorKind::Timeout, format!(
                    "upstream timed out after {:?} waiting for the response head (proxy_read_timeout)",
                    self.read_timeout
                )).into()),
            },
        };
        Ok(Forwarded {
            addr: conn.addr.clone(),
            elapsed: started.elapsed(),
            response,
            conn,
            read_timeout: self.read_timeout,
        })
    }

    /// One request on an idle connection, or on a new one.
    async fn exchange(
        &self,
        mut request: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, PooledConn), ForwardError> {
        loop {
            let (mut sender, addr, reused) = match self.pool().checkout() {
                Some((sender, addr)) => (sender, addr, true),
                None => {
                    // Boxed: connecting (TCP, TLS, the HTTP handshake) is a
                    // future of several KiB that only a new connection needs;
                    // inline, every request's future would carry it.
                    let (sender, addr) = Box::pin(self.servers.connect()).await?;
                    (sender, addr, false)
                }
            };
            if let Err(e) = sender.ready().await {
                if reused {
                    continue; // closed while idle: take another
                }
                return Err(self.failed(&e, &mut sender, &addr).await);
            }
            match sender.send(request, &self.authority).await {
                Ok(response) => {
                    let conn = PooledConn {
                        sender,
                        addr,
                        pool: self.pool().clone(),
                    };
                    return Ok((response, conn));
                }
                Err((e, unsent)) => match unsent {
                    // Not written: the idle connection was closed by the
                    // upstream under us. Safe to send on another one.
                    Some(unsent) if reused => {
                        tracing::debug!(upstream = %addr, error = %e, "idle upstream connection unusable; retrying");
                        request = unsent;
                    }
                    _ => return Err(self.failed(&e, &mut sender, &addr).await),
                },
            }
        }
    }
}

impl Upstream {
    /// Why an exchange with `addr` on `sender` failed with `e`:
    /// [`classify`], unless TLS failed: a TLS error in `e`, or the one that
    /// ended the connection task where `e` only says "channel closed" (the
    /// upstream's TLS 1.3 alert refusing the client certificate comes after
    /// the gateway's side of the handshake, with the first exchange).
    async fn failed(&self, e: &hyper::Error, sender: &mut Sender, addr: &str) -> ForwardError {
        let classified = classify(e);
        let Some(tls) = self.servers.tls() else {
            return classified;
        };
        if !matches!(&classified, ForwardError::Upstream(u) if u.kind != UpstreamErrorKind::Timeout)
        {
            return classified;
        }
        let found = match rustls_error(e) {
            Some(t) => Some(t.clone()),
            None => match sender.tls_end.take() {
                Some(end) => tokio::time::timeout(CONNECTION_END_WAIT, end)
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => None,
            },
        };
        match found {
            Some(t) => UpstreamError::new(
                UpstreamErrorKind::Tls,
                format!("upstream TLS with {addr} failed: {}", tls.describe(&t)),
            )
            .into(),
            None => classified,
        }
    }
}

/// A response head from the upstream.
pub struct Forwarded {
    pub response: Response<Incoming>,
    /// The server that answered (`host:port`).
    pub addr: Arc<str>,
    /// From sending the request to the response head.
    pub elapsed: Duration,
    conn: PooledConn,
    read_timeout: Duration,
}

impl Forwarded {
    /// The response with its streaming body: `proxy_read_timeout` between
    /// reads, and the connection back in the pool once the body is read.
    pub fn into_response(self) -> Response<Body> {
        let (mut parts, inner) = self.response.into_parts();
        // An HTTP/2 upstream's answer goes to the client in its own version.
        if parts.version == Version::HTTP_2 {
            parts.version = Version::HTTP_11;
        }
        let mut body = TimeoutBody {
            inner,
            timeout: self.read_timeout,
            stall: Stall::default(),
            conn: Some(self.conn),
        };
        if body.inner.is_end_stream() {
            body.finished();
        }
        Response::from_parts(parts, body.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>) -> Request<()> {
        let mut b = Request::get("/a/b?c=d");
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(()).unwrap_or_default()
    }

    #[test]
    fn h2_form_moves_host_to_the_authority_and_back() {
        let fallback = Authority::from_static("backend");
        let h2 = h2_form(request(Some("api.example:8443")), &fallback);
        assert_eq!(h2.uri().to_string(), "https://api.example:8443/a/b?c=d");
        assert_eq!(h2.version(), Version::HTTP_2);
        assert!(h2.headers().get(header::HOST).is_none());
        let h1 = h1_form(h2);
        assert_eq!(h1.uri().to_string(), "/a/b?c=d");
        assert_eq!(h1.version(), Version::HTTP_11);
        assert_eq!(
            h1.headers().get(header::HOST).map(|h| h.as_bytes()),
            Some(&b"api.example:8443"[..])
        );
    }

    #[test]
    fn h2_form_falls_back_to_proxy_host_without_a_usable_host() {
        let fallback = Authority::from_static("backend");
        for host in [None, Some("user@evil.example"), Some("bad host")] {
            let h2 = h2_form(request(host), &fallback);
            assert_eq!(h2.uri().to_string(), "https://backend/a/b?c=d", "{host:?}");
        }
    }
}
