//! New connections to an upstream: its `server` list round-robin, the next
//! server when one refuses or times out (`proxy_connect_timeout` per
//! attempt), and the connection's setup: `TCP_NODELAY`, `proxy_send_timeout`
//! between writes ([`WriteTimeout`]) and the HTTP/1.1 handshake, its
//! connection task spawned.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Sender;
use super::error::{UpstreamError, UpstreamErrorKind};
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
}

impl Servers {
    pub(super) fn new(
        servers: &[UpstreamServer],
        connect_timeout: Duration,
        send_timeout: Duration,
    ) -> Servers {
        Servers {
            servers: servers
                .iter()
                .map(|s| (s.clone(), Arc::from(s.to_string())))
                .collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            send_timeout,
        }
    }

    /// A new connection: the servers round-robin, the next one when a
    /// connection attempt fails.
    pub(super) async fn connect(&self) -> Result<(Sender, Arc<str>), UpstreamError> {
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
