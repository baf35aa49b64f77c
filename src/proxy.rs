//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Each proxy location owns a keep-alive connection pool (hyper-util's
//! client over HTTP/1.1). Connections are made by [`Connector`], which walks
//! the upstream's `server` list round-robin and moves to the next server
//! when one refuses or times out, before any request byte is sent, so a
//! request body is never sent twice. Bodies stream both ways; nothing is
//! buffered whole.
//!
//! Timeouts follow nginx: `proxy_connect_timeout` per connection attempt;
//! `proxy_send_timeout` between two successful writes to the upstream;
//! `proxy_read_timeout` from the end of the request body to the response
//! head and between two reads of the response body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Sleep;

use crate::body::LimitedBody;
use crate::config::{ProxySpec, UpstreamServer};
use crate::respond::{Body, BoxError, Reject};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A proxy location's upstream: its servers, timeouts and connection pool.
#[derive(Debug)]
pub struct Upstream {
    client: Client<Connector, SignalOnEnd<LimitedBody>>,
    /// `http://<proxy_host>`, the pool key and absolute-form prefix.
    authority: String,
    read_timeout: Duration,
}

impl Upstream {
    pub fn new(spec: &ProxySpec) -> Upstream {
        let connector = Connector {
            servers: spec.servers.clone().into(),
            next: Arc::new(AtomicUsize::new(0)),
            connect_timeout: spec.connect_timeout,
            send_timeout: spec.send_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .http1_title_case_headers(true)
            .set_host(false)
            .build(connector);
        Upstream {
            client,
            authority: spec.proxy_host.clone(),
            read_timeout: spec.read_timeout,
        }
    }

    /// Sends `request` (already rewritten) and returns the streaming response.
    ///
    /// # Errors
    /// [`Reject::BadGateway`] or [`Reject::GatewayTimeout`], with the detail
    /// for the log.
    pub async fn forward(
        &self,
        request: Request<LimitedBody>,
    ) -> Result<Forwarded, (Reject, &'static str)> {
        let started = std::time::Instant::now();
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        parts.uri = format!("http://{}{}", self.authority, path)
            .parse::<Uri>()
            .map_err(|e| {
                (
                    Reject::BadGateway(format!("cannot form upstream URI: {e}")),
                    "protocol",
                )
            })?;
        parts.version = Version::HTTP_11;
        let (done_tx, done_rx) = oneshot::channel();
        let body = SignalOnEnd::new(body, done_tx);
        let mut response = std::pin::pin!(self.client.request(Request::from_parts(parts, body)));
        // proxy_read_timeout starts once the request body is sent (or the
        // upstream answers early).
        let result = tokio::select! {
            r = &mut response => r,
            _ = done_rx => match tokio::time::timeout(self.read_timeout, &mut response).await {
                Ok(r) => r,
                Err(_) => return Err((Reject::GatewayTimeout(format!(
                    "upstream timed out after {:?} waiting for the response head (proxy_read_timeout)",
                    self.read_timeout
                )), "timeout")),
            },
        };
        let response = result.map_err(classify)?;
        let addr = response
            .extensions()
            .get::<UpstreamAddr>()
            .map(|a| a.0.clone());
        Ok(Forwarded {
            response,
            addr,
            elapsed: started.elapsed(),
        })
    }

    /// The response body, with `proxy_read_timeout` between reads.
    pub fn response_body(&self, body: Incoming) -> Body {
        TimeoutBody {
            inner: body,
            timeout: self.read_timeout,
            sleep: None,
        }
        .boxed()
    }
}

/// A response head from the upstream.
pub struct Forwarded {
    pub response: Response<Incoming>,
    /// The server that answered (`host:port`).
    pub addr: Option<String>,
    /// From sending the request to the response head.
    pub elapsed: Duration,
}

/// Which upstream server a pooled connection goes to (response extension).
#[derive(Debug, Clone)]
struct UpstreamAddr(String);

/// Sorts an upstream failure into 502 or 504 with a log detail, and a kind
/// for metrics: `refused`, `timeout`, `reset` or `protocol`.
fn classify(e: hyper_util::client::legacy::Error) -> (Reject, &'static str) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut kind = "reset";
    while let Some(err) = source {
        if let Some(c) = err.downcast_ref::<ConnectFailure>() {
            return if c.timed_out {
                (Reject::GatewayTimeout(c.to_string()), "timeout")
            } else {
                (Reject::BadGateway(c.to_string()), "refused")
            };
        }
        if let Some(io) = err.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::TimedOut
        {
            return (
                Reject::GatewayTimeout(format!("upstream timed out: {io}")),
                "timeout",
            );
        }
        if let Some(b) = err.downcast_ref::<crate::body::BodyError>() {
            return match b {
                crate::body::BodyError::TooLarge { .. } => (Reject::PayloadTooLarge, "client"),
                _ => (Reject::BadRequest("client request body failed"), "client"),
            };
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            kind = "protocol";
        }
        source = err.source();
    }
    (
        Reject::BadGateway(format!("upstream failed: {}", error_chain(&e))),
        kind,
    )
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

/// Every server of the upstream failed to connect.
#[derive(Debug)]
struct ConnectFailure {
    timed_out: bool,
    detail: String,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ConnectFailure {}

/// Connects to the upstream's servers round-robin, trying the next one when
/// a connection attempt fails.
#[derive(Debug, Clone)]
struct Connector {
    servers: Arc<[UpstreamServer]>,
    next: Arc<AtomicUsize>,
    connect_timeout: Duration,
    send_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = UpstreamIo;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectFailure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let n = this.servers.len();
            let start = this.next.fetch_add(1, Ordering::Relaxed);
            let mut failures = Vec::new();
            let mut all_timed_out = true;
            for i in 0..n {
                let server = &this.servers[(start + i) % n];
                let attempt = tokio::time::timeout(
                    this.connect_timeout,
                    TcpStream::connect((server.host.as_str(), server.port)),
                )
                .await;
                match attempt {
                    Ok(Ok(stream)) => {
                        tracing::debug!(upstream = %server, "connected to upstream server");
                        let _ = stream.set_nodelay(true);
                        return Ok(UpstreamIo {
                            addr: server.to_string(),
                            inner: TokioIo::new(stream),
                            send_timeout: this.send_timeout,
                            stall: None,
                        });
                    }
                    Ok(Err(e)) => {
                        all_timed_out = false;
                        tracing::warn!(upstream = %server, error = %e, "connect to upstream server failed");
                        failures.push(format!("{server}: {e}"));
                    }
                    Err(_) => {
                        tracing::warn!(upstream = %server, timeout = ?this.connect_timeout, "connect to upstream server timed out");
                        failures.push(format!(
                            "{server}: connect timed out after {:?}",
                            this.connect_timeout
                        ));
                    }
                }
            }
            Err(ConnectFailure {
                timed_out: all_timed_out,
                detail: format!("no upstream server reachable ({})", failures.join("; ")),
            })
        })
    }
}

/// An upstream TCP connection whose writes fail after `send_timeout`
/// without progress (nginx's `proxy_send_timeout`).
#[derive(Debug)]
struct UpstreamIo {
    addr: String,
    inner: TokioIo<TcpStream>,
    send_timeout: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl UpstreamIo {
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.send_timeout;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("upstream accepted no data for {timeout:?} (proxy_send_timeout)"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        Connected::new().extra(UpstreamAddr(self.addr.clone()))
    }
}

impl hyper::rt::Read for UpstreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.stall = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.stall = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

pin_project_lite::pin_project! {
    /// The upstream's response body, failing after `timeout` without data.
    struct TimeoutBody {
        #[pin]
        inner: Incoming,
        timeout: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl HttpBody for TimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = *this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
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
