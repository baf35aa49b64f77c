//! New connections to an upstream: its `server` list round-robin, the next
//! server when one refuses, times out or fails the TLS handshake
//! (`proxy_connect_timeout` per attempt, TCP and TLS handshake together, as
//! nginx), and the connection's setup: `TCP_NODELAY`, TLS for `https://`
//! ([`super::tls`]), `proxy_send_timeout` between writes ([`WriteTimeout`])
//! and the HTTP/1.1 handshake (HTTP/2 when the upstream chose `h2` by
//! ALPN), its connection task spawned.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::error::rustls_error;
use super::error::{UpstreamError, UpstreamErrorKind};
use super::tls::{Alpn, UpstreamConnector};
use super::{Sender, SenderKind, UpstreamBody};
use crate::config::UpstreamServer;
use crate::io_timeout::{Peer, WriteTimeout};

/// An upstream's servers and how to connect to them.
#[derive(Debug)]
pub(super) struct Servers {
    /// Each server with its `host:port` text (for logs and `$upstream_addr`).
    servers: Box<[(UpstreamServer, Arc<str>)]>,
    /// Round-robin position for new connections.
    next: AtomicUsize,
    connect_timeout: Duration,
    send_timeout: Duration,
    /// TLS for an `https://` upstream.
    tls: Option<UpstreamConnector>,
}

/// One connection attempt's failure.
enum Failure {
    Refused(String),
    TimedOut(String),
    Tls(String),
}

impl Servers {
    pub(super) fn new(
        servers: &[UpstreamServer],
        connect_timeout: Duration,
        send_timeout: Duration,
        tls: Option<UpstreamConnector>,
    ) -> Servers {
        Servers {
            servers: servers
                .iter()
                .map(|s| (s.clone(), Arc::from(s.to_string())))
                .collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            send_timeout,
            tls,
        }
    }

    /// TLS to these servers, if `https://`.
    pub(super) fn tls(&self) -> Option<&UpstreamConnector> {
        self.tls.as_ref()
    }

    /// A new connection: the servers round-robin, the next one when a
    /// connection attempt fails.
    pub(super) async fn connect(&self) -> Result<(Sender, Arc<str>), UpstreamError> {
        let n = self.servers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..n {
            let (server, addr) = &self.servers[(start + i) % n];
            let attempt = tokio::time::timeout(self.connect_timeout, self.open(server, addr)).await;
            let failure = match attempt {
                Ok(Ok(sender)) => return Ok((sender, addr.clone())),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::TimedOut(format!(
                    "connect timed out after {:?}",
                    self.connect_timeout
                )),
            };
            match &failure {
                Failure::Refused(e) => {
                    tracing::warn!(upstream = %addr, error = %e, "connect to upstream server failed");
                }
                Failure::TimedOut(e) => {
                    tracing::warn!(upstream = %addr, timeout = ?self.connect_timeout, "{e}");
                }
                Failure::Tls(e) => {
                    tracing::warn!(upstream = %addr, "upstream TLS handshake failed: {e}");
                }
            }
            failures.push((addr, failure));
        }
        let texts = |want: fn(&Failure) -> Option<&String>| -> Vec<String> {
            failures
                .iter()
                .filter_map(|(addr, f)| want(f).map(|t| format!("{addr}: {t}")))
                .collect()
        };
        let tls = texts(|f| match f {
            Failure::Tls(t) => Some(t),
            _ => None,
        });
        let all = texts(|f| match f {
            Failure::Refused(t) | Failure::TimedOut(t) | Failure::Tls(t) => Some(t),
        });
        // A TLS failure is the one to act on (a certificate, a key, a CA).
        let (kind, detail) = if !tls.is_empty() {
            (
                UpstreamErrorKind::Tls,
                format!("upstream TLS handshake failed ({})", all.join("; ")),
            )
        } else if failures
            .iter()
            .all(|(_, f)| matches!(f, Failure::TimedOut(_)))
        {
            (
                UpstreamErrorKind::Timeout,
                format!("no upstream server reachable ({})", all.join("; ")),
            )
        } else {
            (
                UpstreamErrorKind::Refused,
                format!("no upstream server reachable ({})", all.join("; ")),
            )
        };
        Err(UpstreamError::new(kind, detail))
    }

    /// TCP, TLS if `https://`, and the HTTP handshake with one server.
    async fn open(&self, server: &UpstreamServer, addr: &Arc<str>) -> Result<Sender, Failure> {
        let stream = TcpStream::connect((server.host.as_str(), server.port))
            .await
            .map_err(|e| Failure::Refused(e.to_string()))?;
        tracing::debug!(upstream = %addr, "connected to upstream server");
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => {
                self.http(TokioIo::new(stream), Alpn::Http1, addr.clone())
                    .await
            }
            Some(tls) => {
                let (stream, alpn) = tls.handshake(stream).await.map_err(Failure::Tls)?;
                self.http(TokioIo::new(stream), alpn, addr.clone()).await
            }
        }
    }

    /// The HTTP/1.1 or HTTP/2 handshake on `io`, its connection task spawned.
    async fn http<T>(&self, io: T, alpn: Alpn, upstream: Arc<str>) -> Result<Sender, Failure>
    where
        T: Read + Write + Unpin + Send + 'static,
    {
        // proxy_send_timeout: between two successful writes.
        let io = WriteTimeout::new(io, self.send_timeout, Peer::Upstream);
        match alpn {
            Alpn::Http1 => {
                let (sender, connection) = http1::Builder::new()
                    .title_case_headers(true)
                    .handshake::<_, UpstreamBody>(io)
                    .await
                    .map_err(|e| Failure::Refused(e.to_string()))?;
                let (tls_end, end) = self.tls_end();
                drive(connection, upstream, "HTTP/1.1", tls_end);
                Ok(Sender {
                    kind: SenderKind::Http1(sender),
                    tls_end: end,
                })
            }
            Alpn::H2 => {
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .handshake::<_, UpstreamBody>(io)
                    .await
                    .map_err(|e| Failure::Refused(e.to_string()))?;
                let (tls_end, end) = self.tls_end();
                drive(connection, upstream, "HTTP/2", tls_end);
                Ok(Sender {
                    kind: SenderKind::Http2(sender),
                    tls_end: end,
                })
            }
        }
    }

    /// For TLS: where the connection task reports the TLS error it ends with.
    fn tls_end(
        &self,
    ) -> (
        Option<oneshot::Sender<rustls::Error>>,
        Option<oneshot::Receiver<rustls::Error>>,
    ) {
        match self.tls {
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        }
    }
}

/// Hands the TLS error that ended a connection to its sender's exchange.
/// Runs an upstream connection's task (HTTP/1.1 or HTTP/2) until it ends;
/// an error is logged and its TLS cause, if any, reported to the request
/// waiting on `tls_end`.
fn drive<F>(
    connection: F,
    upstream: Arc<str>,
    protocol: &'static str,
    tls_end: Option<oneshot::Sender<rustls::Error>>,
) where
    F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(upstream = %upstream, protocol, error = %e, "upstream connection ended with an error");
            report_tls_end(&e, tls_end);
        }
    });
}

fn report_tls_end(e: &hyper::Error, to: Option<oneshot::Sender<rustls::Error>>) {
    if let (Some(to), Some(tls)) = (to, rustls_error(e)) {
        let _ = to.send(tls.clone());
    }
}
