//! The admin listener: plain HTTP, meant for loopback (`[admin] listen`,
//! default `127.0.0.1:9901`).
//!
//! * `/healthz`: 200 while the process runs.
//! * `/readyz`: 200 once every listener is bound and the configuration is
//!   loaded (the admin listener starts only then), 503 while shutting down.
//! * `/metrics`: Prometheus text format ([`crate::metrics`]).
//! * `/.well-known/jwks.json`: the identity assertion's public keys
//!   ([`crate::assertion`]), 404 without `[identity_assertion]`.
//!
//! Its own limits, since it answers anyone who can reach it: a request head
//! must arrive within [`HEADER_TIMEOUT`] (also the longest an idle
//! keep-alive connection stays), at most [`MAX_CONNECTIONS`] are served at
//! once (further ones wait in the kernel's backlog), and accept errors are
//! logged and backed off. At shutdown it keeps answering while the gateway
//! drains (so `/readyz` can say 503), each connection closing after its
//! current request; when the gateway exits, [`Admin::drain`] lets the
//! requests in flight finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::listener::Shared;

/// How long an admin client may take to send a request head, and how long
/// an idle keep-alive admin connection is kept. Health probes and Prometheus
/// send their whole request at once; a client that dribbles holds one of
/// the [`MAX_CONNECTIONS`] slots for at most this long.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Admin connections served at once: enough for a scraper, the health
/// probes and an operator; beyond it accepting pauses and the excess waits
/// in the kernel's backlog, so the admin port cannot take the process's
/// descriptors or memory.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest back-off after repeated accept errors (e.g. out of descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The admin address cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (admin.listen): {source}")]
pub struct AdminBindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds the admin address.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, AdminBindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AdminBindError { addr, source })
}

/// The running admin listener.
pub struct Admin {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Admin {
    /// Serves the admin endpoints on `listener` until [`Admin::drain`]
    /// (also while the gateway drains, so that `/readyz` can say so).
    pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Admin {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, shared, stopped));
        Admin { stop, task }
    }

    /// Stops accepting and waits up to `deadline` for the admin requests in
    /// flight (connections are already closing after their current request
    /// since shutdown began).
    pub async fn drain(self, deadline: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(deadline, self.task).await.is_err() {
            tracing::debug!("admin connections still open at exit");
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    let mut full_logged = false;
    loop {
        // Reap finished connections so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                full_logged = false;
                slot
            }
            Err(_) => {
                if !full_logged {
                    tracing::warn!("admin: {MAX_CONNECTIONS} connections open; accepting paused");
                    full_logged = true;
                }
                tokio::select! {
                    s = slots.clone().acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    _ = stop.changed() => break,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((tcp, _)) => {
                backoff = Duration::from_millis(5);
                let shared = shared.clone();
                connections.spawn(async move {
                    connection(tcp, shared).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin: accept failed; backing off {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One admin connection: HTTP/1.1 with the header timeout; closed after its
/// current request once the gateway is shutting down.
async fn connection(tcp: TcpStream, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let draining = *shutdown.borrow_and_update();
    let service = {
        let shared = shared.clone();
        service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(route(req.uri().path(), &shared)) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // Accepted while draining: one request (`/readyz` says 503), then close.
        .keep_alive(!draining);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    if !draining {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = shutdown.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
        }
    }
    let _ = conn.await;
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

fn route(path: &str, shared: &Shared) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            if *shared.shutdown.borrow() {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "shutting down\n".into(),
                )
            } else {
                let generation = shared.generation.load().number;
                text(
                    StatusCode::OK,
                    "text/plain",
                    format!("ready (generation {generation})\n"),
                )
            }
        }
        "/metrics" => {
            shared.metrics.refresh_expiry(crate::clock::unix_now());
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                shared.metrics.encode(),
            )
        }
        // The identity assertion's keys, for backends that verify
        // `$ssl_client_jwt` (the current configuration's: a reload that
        // rotates keys is published here at once).
        "/.well-known/jwks.json" => match shared.generation.load().assertion.as_deref() {
            Some(a) => text(StatusCode::OK, "application/json", a.jwks().to_string()),
            None => text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "no [identity_assertion] is configured\n".into(),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /healthz, /readyz, /metrics, /.well-known/jwks.json\n".into(),
        ),
    }
}
