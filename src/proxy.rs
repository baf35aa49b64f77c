//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Each proxy location owns a [`Pool`] of idle keep-alive HTTP/1.1
//! connections to its upstream (hyper's client connections, one task each).
//! A request takes the most recently used idle connection, or makes a new
//! one with [`connect`], which walks the upstream's `server` list
//! round-robin and moves to the next server when one refuses or times out.
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

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, Response, Uri, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Sleep;

use crate::body::LimitedBody;
use crate::body::{Body, BoxError};
use crate::config::{ProxySpec, UpstreamKeepalive, UpstreamServer};
use crate::io_timeout::{Peer, WriteTimeout};

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
}

impl UpstreamErrorKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Refused => "refused",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Protocol => "protocol",
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

/// Why [`Upstream::forward`] returned no response: the upstream's failure,
/// or the client's own (which is no upstream error and counts as none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    ClientBody(ClientBodyError),
}

/// Longest interval between two sweeps of expired idle connections.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// The request body as sent upstream.
type UpstreamBody = SignalOnEnd<LimitedBody>;
type Sender = http1::SendRequest<UpstreamBody>;

/// A proxy location's upstream: its servers, timeouts and idle connections.
#[derive(Debug)]
pub struct Upstream {
    /// Each server with its `host:port` text (for logs and `$upstream_addr`).
    servers: Box<[(UpstreamServer, Arc<str>)]>,
    /// Round-robin position for new connections.
    next: AtomicUsize,
    connect_timeout: Duration,
    send_timeout: Duration,
    read_timeout: Duration,
    pool: Arc<Pool>,
}

impl Upstream {
    pub fn new(spec: &ProxySpec) -> Upstream {
        Upstream {
            servers: spec
                .servers
                .iter()
                .map(|s| (s.clone(), Arc::from(s.to_string())))
                .collect(),
            next: AtomicUsize::new(0),
            connect_timeout: spec.connect_timeout,
            send_timeout: spec.send_timeout,
            read_timeout: spec.read_timeout,
            pool: Arc::new(Pool::new(spec.keepalive)),
        }
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
            let (mut sender, addr, reused) = match self.pool.checkout() {
                Some((sender, addr)) => (sender, addr, true),
                None => {
                    let (sender, addr) = self.connect().await?;
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
                        pool: self.pool.clone(),
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

    /// A new connection: the servers round-robin, the next one when a
    /// connection attempt fails.
    async fn connect(&self) -> Result<(Sender, Arc<str>), UpstreamError> {
        let n = self.servers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut failures = Vec::new();
        let mut all_timed_out = true;
        for i in 0..n {
            let (server, addr) = &self.servers[(start + i) % n];
            let attempt = tokio::time::timeout(
                self.connect_timeout,
                TcpStream::connect((server.host.as_str(), server.port)),
            )
            .await;
            let stream = match attempt {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    all_timed_out = false;
                    tracing::warn!(upstream = %addr, error = %e, "connect to upstream server failed");
                    failures.push(format!("{addr}: {e}"));
                    continue;
                }
                Err(_) => {
                    tracing::warn!(upstream = %addr, timeout = ?self.connect_timeout, "connect to upstream server timed out");
                    failures.push(format!(
                        "{addr}: connect timed out after {:?}",
                        self.connect_timeout
                    ));
                    continue;
                }
            };
            tracing::debug!(upstream = %addr, "connected to upstream server");
            let _ = stream.set_nodelay(true);
            // proxy_send_timeout: between two successful writes.
            let io = WriteTimeout::new(TokioIo::new(stream), self.send_timeout, Peer::Upstream);
            match http1::Builder::new()
                .title_case_headers(true)
                .handshake(io)
                .await
            {
                Ok((sender, connection)) => {
                    let upstream = addr.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(upstream = %upstream, error = %e, "upstream connection ended with an error");
                        }
                    });
                    return Ok((sender, addr.clone()));
                }
                Err(e) => {
                    all_timed_out = false;
                    failures.push(format!("{addr}: {e}"));
                }
            }
        }
        let detail = format!("no upstream server reachable ({})", failures.join("; "));
        let kind = if all_timed_out {
            UpstreamErrorKind::Timeout
        } else {
            UpstreamErrorKind::Refused
        };
        Err(UpstreamError::new(kind, detail))
    }
}

/// Idle keep-alive connections of one location, most recently used last.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<IdleConn>>,
    settings: UpstreamKeepalive,
    /// Whether the task that closes expired idle connections runs.
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct IdleConn {
    sender: Sender,
    addr: Arc<str>,
    since: Instant,
}

impl IdleConn {
    fn usable(&self, timeout: Duration) -> bool {
        !self.sender.is_closed() && self.since.elapsed() < timeout
    }
}

impl Pool {
    fn new(settings: UpstreamKeepalive) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            settings,
            sweeping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IdleConn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle connection (LIFO keeps the fewest open).
    fn checkout(&self) -> Option<(Sender, Arc<str>)> {
        let mut idle = self.lock();
        while let Some(conn) = idle.pop() {
            if conn.usable(self.settings.timeout) {
                return Some((conn.sender, conn.addr));
            }
        }
        None
    }

    /// Returns a connection whose exchange is complete.
    fn give_back(self: &Arc<Self>, sender: Sender, addr: Arc<str>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.lock();
            if idle.len() >= self.settings.max_idle {
                return; // dropping the sender closes the connection
            }
            idle.push(IdleConn {
                sender,
                addr,
                since: Instant::now(),
            });
        }
        if !self.sweeping.swap(true, Ordering::Relaxed)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(sweep(Arc::downgrade(self)));
        }
    }
}

/// Closes idle connections past `keepalive_timeout` (and forgets those the
/// upstream closed) until the pool is dropped with its configuration.
async fn sweep(pool: Weak<Pool>) {
    let Some(timeout) = pool.upgrade().map(|p| p.settings.timeout) else {
        return;
    };
    let interval = (timeout / 4).clamp(Duration::from_millis(50), MAX_SWEEP_INTERVAL);
    loop {
        tokio::time::sleep(interval).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.lock().retain(|c| c.usable(timeout));
    }
}

/// The connection a response is being read from; back to the pool when the
/// response body has been read whole.
#[derive(Debug)]
struct PooledConn {
    sender: Sender,
    addr: Arc<str>,
    pool: Arc<Pool>,
}

impl PooledConn {
    fn give_back(self) {
        self.pool.give_back(self.sender, self.addr);
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
            sleep: None,
            conn: Some(self.conn),
        };
        if body.inner.is_end_stream() {
            body.finished();
        }
        Response::from_parts(parts, body.boxed())
    }
}

/// Sorts a failed exchange: the client's own request body (too large, or
/// failed or stalled), else an upstream timeout, a protocol error (the
/// upstream answered garbage) or a reset.
fn classify(e: &hyper::Error) -> ForwardError {
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

pin_project_lite::pin_project! {
    /// The client's request body, signalling when it has been sent whole.
    #[derive(Debug)]
    pub struct SignalOnEnd<B> {
        #[pin]
        inner: B,
        done: Option<oneshot::Sender<()>>,
    }
}

impl<B: HttpBody> SignalOnEnd<B> {
    fn new(inner: B, done: oneshot::Sender<()>) -> Self {
        let mut this = SignalOnEnd {
            done: Some(done),
            inner,
        };
        if this.inner.is_end_stream()
            && let Some(tx) = this.done.take()
        {
            let _ = tx.send(());
        }
        this
    }
}

impl<B: HttpBody> HttpBody for SignalOnEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none()
            && let Some(tx) = this.done.take()
        {
            let _ = tx.send(());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream's response body: fails after `timeout` without data, and
/// returns the connection to the pool once read to the end. Dropped before
/// that (the client went away, or the upstream stalled), the connection is
/// closed instead.
struct TimeoutBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    conn: Option<PooledConn>,
}

impl TimeoutBody {
    fn finished(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.give_back();
        }
    }
}

impl HttpBody for TimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                match &frame {
                    None => this.finished(),
                    Some(Err(_)) => this.conn = None,
                    Some(Ok(_)) if this.inner.is_end_stream() => this.finished(),
                    Some(Ok(_)) => {}
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.conn = None;
                        tracing::warn!(timeout = ?timeout, "upstream stalled mid-body (proxy_read_timeout); response cut");
                        Poll::Ready(Some(Err(format!(
                            "upstream sent no data for {timeout:?} (proxy_read_timeout)"
                        )
                        .into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
