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
//! Idle connections are closed after the upstream's `keepalive_timeout`; at
//! most `keepalive` of them stay open per location (nginx's names).
//!
//! Timeouts follow nginx: `proxy_connect_timeout` per connection attempt;
//! `proxy_send_timeout` between two successful writes to the upstream;
//! `proxy_read_timeout` from the end of the request body to the response
//! head and between two reads of the response body.
//!
//! The parts: `pool` (idle connections), `connect` (new ones),
//! `body` (the request and response bodies around an exchange) and
//! `error` (how it fails, and whose fault that is). This file is the
//! request's path: [`Upstream::forward`] and the exchange on a pooled or
//! new connection.

mod body;
mod connect;
mod error;
mod pool;

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use http::{Request, Response, Uri, Version};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::sync::oneshot;

use crate::body::{Body, LimitedBody};
use crate::config::ProxySpec;
use crate::io_timeout::Stall;

use self::body::{SignalOnEnd, TimeoutBody};
use self::connect::Servers;
use self::error::classify;
pub use self::error::{ClientBodyError, ForwardError, UpstreamError, UpstreamErrorKind};
use self::pool::{Pool, PooledConn};

/// The request body as sent upstream.
type UpstreamBody = SignalOnEnd<LimitedBody>;
type Sender = http1::SendRequest<UpstreamBody>;

/// A proxy location's upstream: its servers, timeouts and idle connections
/// (a pool per worker).
#[derive(Debug)]
pub struct Upstream {
    servers: Servers,
    read_timeout: Duration,
    /// One per worker ([`crate::workers::count`]), never empty.
    pools: Box<[Arc<Pool>]>,
}

impl Upstream {
    pub fn new(spec: &ProxySpec) -> Upstream {
        Upstream {
            servers: Servers::new(&spec.servers, spec.connect_timeout, spec.send_timeout),
            read_timeout: spec.read_timeout,
            pools: (0..crate::workers::count())
                .map(|_| Arc::new(Pool::new(spec.keepalive)))
                .collect(),
        }
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
                    let (sender, addr) = self.servers.connect().await?;
                    (sender, addr, false)
                }
            };
            if let Err(e) = sender.ready().await {
                if reused {
                    continue; // closed while idle: take another
                }
                return Err(classify(&e));
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let conn = PooledConn {
                        sender,
                        addr,
                        pool: self.pool().clone(),
                    };
                    return Ok((response, conn));
                }
                Err(mut e) => match e.take_message() {
                    // Not written: the idle connection was closed by the
                    // upstream under us. Safe to send on another one.
                    Some(unsent) if reused => {
                        tracing::debug!(upstream = %addr, error = %e.error(), "idle upstream connection unusable; retrying");
                        request = unsent;
                    }
                    _ => return Err(classify(e.error())),
                },
            }
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
        let (parts, inner) = self.response.into_parts();
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
