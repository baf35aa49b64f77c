//! Listening sockets and the life of one connection: accept, TLS handshake
//! (server chosen by SNI), client-certificate verdict, then HTTP/1.1 or
//! HTTP/2 until the client leaves or the gateway shuts down.
//!
//! Accept errors (e.g. out of file descriptors) back off instead of
//! spinning. Shutdown stops accepting, asks every connection to finish its
//! in-flight requests, and waits for them up to a deadline.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::server::Acceptor;
use rustls_pki_types::UnixTime;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::LazyConfigAcceptor;

use crate::access_log::AccessLogger;
use crate::conn::ConnCtx;
use crate::facts::{ConnFacts, TlsInfo, openssl_cipher_name, protocol_name};
use crate::io_timeout::{Peer, WriteTimeout};
use crate::linger::LingeringClose;
use crate::metrics::{HandshakeLabels, Metrics, VerifyLabels};
use crate::runtime::Generation;
use crate::send_watch::{SEND_TICKS, SendTick};
use crate::verify::Admission;
use crate::verify::ocsp::message::CertStatus;
use crate::verify::ocsp::{Event as OcspEvent, OcspMode};
use crate::verify::{FailureMode, Verdict, VerifyMode};
use crate::wake_gate::Gated;

/// HTTP/2 streams a client may reset before the server accepted them.
const MAX_PENDING_RESETS: usize = 20;
/// HTTP/2 streams the server may reset for protocol errors before it
/// closes the connection.
const MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// How long a connection of a replaced configuration may stay open idle.
const RETIRE_GRACE: Duration = Duration::from_secs(5);
/// Longest back-off after repeated accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest interval between two HTTP/2 send ticks (the timer's resolution).
const MIN_SEND_TICK: Duration = Duration::from_millis(1);

/// A listen address that cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({servers}): {source}{}", privileged_port_hint(.addr, .source))]
pub struct BindError {
    pub addr: SocketAddr,
    /// The server blocks that listen there (`server[0], server[2]`).
    pub servers: String,
    pub source: std::io::Error,
}

/// Below this port, binding needs root or `CAP_NET_BIND_SERVICE` (Linux's
/// default `net.ipv4.ip_unprivileged_port_start`).
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// What to do when a port below 1024 is refused to a non-root user.
fn privileged_port_hint(addr: &SocketAddr, source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::PermissionDenied
        && addr.port() < FIRST_UNPRIVILEGED_PORT
    {
        "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: the systemd unit \
         grants it (AmbientCapabilities=CAP_NET_BIND_SERVICE), or give it to the binary with \
         `sudo setcap cap_net_bind_service=+ep \"$(command -v mtls-gateway)\"`"
    } else {
        ""
    }
}

/// Binds every listen address of `generation`.
///
/// # Errors
/// The address that could not be bound and why.
pub async fn bind(generation: &Generation) -> Result<Vec<TcpListener>, BindError> {
    let mut listeners = Vec::new();
    for group in &generation.groups {
        let listener = TcpListener::bind(group.addr)
            .await
            .map_err(|source| BindError {
                addr: group.addr,
                servers: group
                    .servers
                    .iter()
                    .map(|s| s.config.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                source,
            })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Shared state of the running gateway.
pub struct Shared {
    /// The configuration serving new connections (shared with each
    /// connection: its access policy follows a reload at once).
    pub generation: Arc<ArcSwap<Generation>>,
    pub metrics: Arc<Metrics>,
    pub access_log: Arc<AccessLogger>,
    pub shutdown: watch::Receiver<bool>,
    /// Dropped by each connection when it ends; shutdown waits for all.
    /// Taken (dropped) at shutdown, so that only connections hold clones.
    pub alive: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    /// `max_connections` permits: accepting pauses while none is free.
    pub connection_slots: Arc<Semaphore>,
    /// Where accepted connections are served ([`crate::workers`]).
    pub workers: Arc<crate::workers::Workers>,
}

/// Accepts connections on `listener` (configured as `configured`) until shutdown.
pub async fn accept_loop(listener: TcpListener, configured: SocketAddr, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut backoff = Duration::from_millis(5);
    let mut full_logged = false;
    loop {
        // max_connections: wait for a free slot before accepting, so the
        // kernel's backlog (not this process) holds the excess.
        let slot = match shared.connection_slots.clone().try_acquire_owned() {
            Ok(slot) => {
                full_logged = false;
                slot
            }
            Err(_) => {
                if !full_logged {
                    tracing::warn!(addr = %configured, "max_connections reached; accepting paused");
                    full_logged = true;
                }
                tokio::select! {
                    s = shared.connection_slots.clone().acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    _ = shutdown.changed() => break,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((tcp, remote)) => {
                backoff = Duration::from_millis(5);
                let _ = tcp.set_nodelay(true);
                let serving = shared.clone();
                // From here to its close the connection stays on one worker.
                shared.workers.dispatch(tcp, move |tcp| async move {
                    connection(tcp, remote, configured, serving).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!(addr = %configured, error = %e, "accept failed; backing off {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

/// Keeps `connections_open` right however a connection ends.
struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    configured: SocketAddr,
    shared: Arc<Shared>,
) {
    let Some(_alive) = shared
        .alive
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    else {
        return; // shutting down
    };
    shared.metrics.connections_total.inc();
    shared.metrics.connections_open.inc();
    let _open = OpenConnection(shared.metrics.clone());
    // Two phases, so the task that lives as long as the connection is sized
    // for serving only: the accept phase (TLS handshake state, the buffered
    // ClientHello, the verdict) is boxed and freed when it ends.
    let Some((stream, ctx)) = Box::pin(accept(tcp, remote, configured, &shared)).await else {
        return;
    };
    // Built here, outside any await, so `stream` is never stored in the task.
    let conn = http_connection(stream, &ctx);
    serve(conn, ctx, &shared).await;
}

/// The accept phase: TLS handshake within `handshake_timeout`, server chosen
/// by SNI, client-certificate verdict. `None` when the connection ends here.
async fn accept(
    mut tcp: TcpStream,
    remote: SocketAddr,
    configured: SocketAddr,
    shared: &Shared,
) -> Option<(ClientStream, Arc<ConnCtx>)> {
    let metrics = &shared.metrics;
    let handshake_failed = |outcome: &'static str| {
        metrics
            .handshakes
            .get_or_create(&HandshakeLabels {
                outcome,
                version: "",
                kind: "",
            })
            .inc();
    };
    let generation = shared.generation.load_full();
    let Some(group_index) = generation.groups.iter().position(|g| g.addr == configured) else {
        // The address was dropped by a reload; the listener closes soon.
        return None;
    };
    let group = &generation.groups[group_index];
    let local = tcp.local_addr().unwrap_or(configured);
    // handshake_timeout: one deadline from accept to the end of the
    // handshake, for the first byte, the ClientHello and the rest alike.
    // Until the ClientHello names a server only the address's default
    // server is known, so its timeout bounds the wait for the ClientHello;
    // the server that SNI selects then sets the deadline, still counted
    // from accept.
    let accepted = Instant::now();
    let default_server = group.select(None);
    let default_deadline = accepted + default_server.config.tls.handshake_timeout;

    // `proxy_protocol`: the balancer's header comes first, within the
    // handshake timeout.
    let Ok(proxy_header) = crate::proxy_protocol::receive(
        &mut tcp,
        group.proxy_protocol,
        remote,
        default_deadline,
        metrics,
    )
    .await
    else {
        return None;
    };

    // nginx's 497: a plain HTTP request on the TLS port gets a readable answer.
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(default_deadline, tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) if first[0].is_ascii_uppercase() => {
            // The request is left unread: close lingeringly, so that it
            // does not turn the close into a reset that loses the page.
            let mut tcp = LingeringClose::new(tcp, default_server.config.limits.lingering());
            let page = crate::respond::plain_http_on_tls_port(default_server.config.server_tokens);
            let _ = tcp.write_all(&page).await;
            let _ = tcp.shutdown().await;
            tracing::info!(client = %remote, "plain HTTP request sent to the TLS port");
            return None;
        }
        _ => return None,
    }

    let handshake = async {
        let start = within(
            default_deadline,
            LazyConfigAcceptor::new(Acceptor::default(), tcp),
        )
        .await?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        let server = group.select(sni.as_deref()).clone();
        let deadline = accepted + server.config.tls.handshake_timeout;
        let stream = within(deadline, start.into_stream(server.tls.clone())).await?;
        Ok::<_, HandshakeError>((stream, server, sni))
    };
    let (stream, server, sni) = match handshake.await {
        Ok(done) => done,
        Err(HandshakeError::Failed(e)) => {
            tracing::debug!(client = %remote, error = %e, "TLS handshake failed");
            handshake_failed("failed");
            return None;
        }
        Err(HandshakeError::TimedOut) => {
            tracing::debug!(client = %remote, "TLS handshake timed out");
            handshake_failed("timeout");
            return None;
        }
    };
    let (_, session) = stream.get_ref();
    let tls = TlsInfo {
        protocol: session.protocol_version().map_or("", protocol_name),
        cipher: session
            .negotiated_cipher_suite()
            .map_or("", |s| openssl_cipher_name(s.suite())),
        server_name: sni,
        resumed: matches!(
            session.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed)
        ),
    };
    metrics
        .handshakes
        .get_or_create(&HandshakeLabels {
            outcome: "ok",
            version: tls.protocol,
            kind: if tls.resumed { "resumed" } else { "full" },
        })
        .inc();
    let auth = &server.config.client_auth;
    let mut peer = server
        .verdicts
        .verify(session.peer_certificates(), auth, UnixTime::now());
    // OCSP (nginx's ssl_ocsp) after a successful verification, in this
    // connection's task: a slow responder delays only this connection.
    if auth.ocsp.mode != OcspMode::Off && peer.verdict() == Verdict::Success {
        let record = |event| {
            let (family, result) = match event {
                OcspEvent::CacheHit(status) => {
                    (&metrics.ocsp_cache_hits, status_name(Some(status)))
                }
                OcspEvent::Query(status) => (&metrics.ocsp_queries, status_name(status)),
            };
            family
                .get_or_create(&VerifyLabels {
                    server: server.config.label.clone(),
                    result: result.to_string(),
                })
                .inc();
        };
        let now = i64::try_from(UnixTime::now().as_secs()).unwrap_or(i64::MAX);
        if let Err(failure) = server
            .ocsp
            .check(&auth.ocsp, peer.verified_path(), now, record)
            .await
        {
            peer = Arc::new(peer.refused_by_ocsp(failure));
        }
    }
    metrics
        .client_verify
        .get_or_create(&VerifyLabels {
            server: server.config.label.clone(),
            result: peer.verify_text().to_string(),
        })
        .inc();
    if auth.mode != VerifyMode::Off {
        tracing::debug!(client = %remote, server = %server.config.label, verify = peer.verify_text(), resumed = tls.resumed, "client certificate verdict");
    }
    if auth.failure == FailureMode::Handshake && peer.admission(auth.mode) != Admission::Allow {
        // Only reachable for resumed sessions (a full handshake was already
        // refused by the verifier): the trust changed since, so end it.
        tracing::info!(client = %remote, verify = peer.verify_text(), "resumed session no longer verifies; connection closed");
        return None;
    }
    // Closes lingeringly when it ends with an answer sent before the
    // request was read to the end (src/linger.rs).
    let stream = LingeringClose::new(stream, server.config.limits.lingering());
    let facts = ConnFacts {
        remote: crate::proxy_protocol::remote_addr(
            remote,
            proxy_header.as_ref(),
            &server.config.set_real_ip_from,
        ),
        proxy_protocol: proxy_header.and_then(|h| h.source),
        local,
        tls,
        server_name: server.server_name.clone(),
        peer,
    };
    let ctx = Arc::new(ConnCtx::new(
        facts,
        server,
        generation.clone(),
        shared.generation.clone(),
        group_index,
        shared.metrics.clone(),
        shared.access_log.clone(),
    ));
    Some((stream, ctx))
}

/// Why a TLS handshake did not complete.
enum HandshakeError {
    Failed(std::io::Error),
    TimedOut,
}

/// Runs one step of the handshake until `deadline` (none if it has passed).
async fn within<T>(
    deadline: Instant,
    step: impl Future<Output = std::io::Result<T>>,
) -> Result<T, HandshakeError> {
    if Instant::now() >= deadline {
        return Err(HandshakeError::TimedOut);
    }
    match tokio::time::timeout_at(deadline, step).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(HandshakeError::Failed(e)),
        Err(_) => Err(HandshakeError::TimedOut),
    }
}

/// A verified client's TLS stream, closed lingeringly.
type ClientStream = LingeringClose<tokio_rustls::server::TlsStream<TcpStream>>;

/// The HTTP connection of one verified client: HTTP/1.1, or HTTP/2 when the
/// client chose it by ALPN (or, without ALPN, speaks it by prior knowledge).
type HttpConnection = auto::Connection<
    'static,
    WriteTimeout<TokioIo<ClientStream>>,
    crate::service::Gateway,
    TokioExecutor,
>;

/// Builds the HTTP connection with the server's limits. Boxed, and built
/// outside the serve future, so the connection state exists once, on the
/// heap, rather than once moved-from in the task and once pinned.
fn http_connection(stream: ClientStream, ctx: &Arc<ConnCtx>) -> Pin<Box<HttpConnection>> {
    let limits = &ctx.server.config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.client_header_timeout)
        .max_buf_size(limits.max_request_header_size.max(8192))
        .max_headers(limits.max_request_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_request_header_size).unwrap_or(u32::MAX))
        // Rapid-reset protection (CVE-2023-44487): at most this many
        // streams reset by the client before the server has accepted them,
        // and a cap on streams the server resets for errors.
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS);
    // The protocol ALPN settled is served directly. Sniffing it instead
    // (hyper-util reads up to 24 bytes to look for the HTTP/2 preface)
    // hands hyper's HTTP/1 reader a partial first read, after which it
    // reserves another 8 KiB and its read buffer doubles to 16 KiB for the
    // life of the connection. Only a client without ALPN is sniffed.
    let builder = match stream.get_ref().get_ref().1.alpn_protocol() {
        Some(b"h2") => builder.http2_only(),
        Some(b"http/1.1") => builder.http1_only(),
        _ => builder,
    };
    let service = crate::service::Gateway::new(ctx.clone());
    // send_timeout for a client that stops reading the connection: a write
    // blocked that long ends it (HTTP/1.1, and HTTP/2 as a whole; single
    // HTTP/2 streams are watched in `serve`).
    let io = WriteTimeout::new(TokioIo::new(stream), limits.send_timeout, Peer::Client);
    Box::pin(builder.serve_connection(io, service).into_owned())
}

/// The serve phase: HTTP/1.1 or HTTP/2 on the verified connection until the
/// client leaves, the connection idles out or stops reading, or a reload or
/// shutdown drains it.
async fn serve(mut conn: Pin<Box<HttpConnection>>, ctx: Arc<ConnCtx>, shared: &Shared) {
    let remote = ctx.facts.remote;
    let keepalive_timeout = ctx.server.config.limits.keepalive_timeout;
    let mut shutdown = shared.shutdown.clone();
    let mut retired = ctx.generation.retired.subscribe();
    // The signals are gated (`crate::wake_gate`): the task wakes several
    // times per request for `conn`, and these are polled only when they
    // woke it. Shutdown and retirement fire once, so one future each.
    let shutdown = Gated::new(shutdown.changed());
    tokio::pin!(shutdown);
    let retired = Gated::new(retired.changed());
    tokio::pin!(retired);
    let wake = Gated::new(ctx.wake.notified());
    tokio::pin!(wake);
    let retire_grace = tokio::time::sleep(Duration::MAX);
    tokio::pin!(retire_grace);
    // One timer, for two checks (the task lives as long as the connection,
    // so it holds no more than one):
    // - keepalive_timeout: closed when no request has been in flight for
    //   it. Requests only record when they start and end; the timer checks
    //   that when it fires.
    // - send_timeout on HTTP/2 streams: while responses wait on the client,
    //   a tick every send_timeout / SEND_TICKS (`crate::send_watch`). The
    //   first response to wait wakes the task (`ctx.wake`).
    let idle = tokio::time::sleep(keepalive_timeout);
    tokio::pin!(idle);
    let mut next_tick: Option<Instant> = None;
    let mut retiring = false;
    let mut draining = false;
    loop {
        tokio::select! {
            // `conn` first: a branch that is ready ends the wait anyway.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    if let Some(timeout) = timed_out(&*e) {
                        tracing::info!(client = %remote, "{timeout}; connection closed");
                    } else {
                        tracing::debug!(client = %remote, error = %e, "connection ended with an error");
                    }
                }
                break;
            }
            _ = &mut wake => {
                wake.set(Gated::new(ctx.wake.notified()));
                if !draining && ctx.close_requested() {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                if next_tick.is_none() && ctx.send_watch.ticking() {
                    let tick = Instant::now() + send_tick(&ctx);
                    next_tick = Some(tick);
                    // While draining the timer may be stale: its branch was off.
                    if draining || tick < idle.deadline() {
                        idle.as_mut().reset(tick);
                    }
                }
            }
            _ = &mut shutdown, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut retired, if !retiring && !draining => {
                // A reload replaced this configuration. The next response
                // asks the client to reconnect; an idle connection is closed
                // after a short grace (so a request already on the wire is
                // answered rather than cut).
                retiring = true;
                ctx.retiring.store(true, Ordering::Relaxed);
                retire_grace.as_mut().reset(Instant::now() + RETIRE_GRACE);
            }
            _ = &mut retire_grace, if retiring && !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut idle, if !draining || next_tick.is_some() => {
                let now = Instant::now();
                if next_tick.is_some_and(|tick| tick <= now) {
                    match ctx.send_watch.tick() {
                        SendTick::Stalled => {
                            tracing::info!(client = %remote, "a response waited on the client for send_timeout; connection closed");
                            break;
                        }
                        SendTick::Waiting => next_tick = Some(now + send_tick(&ctx)),
                        SendTick::Quiet => next_tick = None,
                    }
                }
                let keepalive = if draining {
                    None
                } else {
                    match ctx.idle_deadline(keepalive_timeout) {
                        Some(deadline) => Some(Instant::from(deadline)),
                        None => {
                            tracing::debug!(client = %remote, "idle for keepalive_timeout; closing");
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                            None
                        }
                    }
                };
                // The earlier of the checks still due; none turns the branch off.
                if let Some(due) = match (keepalive, next_tick) {
                    (Some(k), Some(t)) => Some(k.min(t)),
                    (k, t) => k.or(t),
                } {
                    idle.as_mut().reset(due);
                }
            }
        }
    }
}

/// The interval of HTTP/2 send ticks.
fn send_tick(ctx: &ConnCtx) -> Duration {
    (ctx.server.config.limits.send_timeout / SEND_TICKS).max(MIN_SEND_TICK)
}

/// The timed-out write (`send_timeout`) that caused `e`, if one did.
fn timed_out<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Some(io);
        }
        source = err.source();
    }
    None
}

/// The `result` label of an OCSP status (`failed`: no usable answer).
fn status_name(status: Option<CertStatus>) -> &'static str {
    match status {
        Some(CertStatus::Good) => "good",
        Some(CertStatus::Revoked) => "revoked",
        Some(CertStatus::Unknown) => "unknown",
        None => "failed",
    }
}
