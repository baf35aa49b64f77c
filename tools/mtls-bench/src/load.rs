//! Connections, requests and the workers of each mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::stats::Stats;

/// Where requests go.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub server_name: ServerName<'static>,
    /// `Host` (HTTP/1.1) or `:authority` (HTTP/2).
    pub authority: String,
    pub path: String,
}

/// When requests are sent and when the run ends.
pub struct Plan {
    /// The clock's zero: intended send times count from here.
    pub start: Instant,
    pub deadline: Option<Instant>,
    /// `--requests`: how many requests in all.
    pub budget: Option<u64>,
    /// `--rate`: intended requests per second (open model).
    pub rate: Option<f64>,
    issued: AtomicU64,
}

impl Plan {
    pub fn new(
        start: Instant,
        duration: Option<Duration>,
        budget: Option<u64>,
        rate: Option<f64>,
    ) -> Plan {
        Plan {
            start,
            deadline: duration.map(|d| start + d),
            budget,
            rate,
            issued: AtomicU64::new(0),
        }
    }

    /// The next request to make, as the time it is meant to be sent, or
    /// `None` when the run is over. In the open model (`--rate`) request
    /// `i` is meant for `start + i / rate` whether or not earlier requests
    /// have been answered; latency is counted from that time, so a stalled
    /// server is charged for the requests it held up (no coordinated
    /// omission). In the closed model it is now.
    pub async fn next(&self) -> Option<Instant> {
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.budget.is_some_and(|n| i >= n) {
            return None;
        }
        match self.rate {
            Some(rate) => {
                let at = self.start + Duration::from_secs_f64(i as f64 / rate);
                if self.deadline.is_some_and(|d| at >= d) {
                    return None;
                }
                tokio::time::sleep_until(at.into()).await;
                Some(at)
            }
            None => {
                let now = Instant::now();
                if self.deadline.is_some_and(|d| now >= d) {
                    return None;
                }
                Some(now)
            }
        }
    }
}

/// Everything the workers share.
pub struct Shared {
    pub target: Target,
    pub connector: TlsConnector,
    pub http2: bool,
    pub timeout: Duration,
    pub expect: StatusCode,
    pub plan: Plan,
}

/// An HTTP connection over mTLS.
pub enum Conn {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

impl Conn {
    fn is_closed(&self) -> bool {
        match self {
            Conn::H1(s) => s.is_closed(),
            Conn::H2(s) => s.is_closed(),
        }
    }
}

/// How a handshake went, for the handshake counts.
pub struct Handshaken {
    pub conn: Conn,
    pub kind: Option<rustls::HandshakeKind>,
    pub version: &'static str,
}

fn version_name(v: Option<rustls::ProtocolVersion>) -> &'static str {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "other",
    }
}

/// A short, stable name for an I/O error from the TLS layer.
fn tls_error_kind(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(alert)) => format!("tls: alert {alert:?}"),
        Some(other) => format!("tls: {other}"),
        None => format!("tls: {:?}", e.kind()),
    }
}

/// Opens a TCP connection, does the mTLS handshake and the HTTP handshake.
pub async fn connect(shared: &Shared) -> Result<Handshaken, String> {
    let tcp = TcpStream::connect(shared.target.addr)
        .await
        .map_err(|e| format!("connect: {:?}", e.kind()))?;
    let _ = tcp.set_nodelay(true);
    let tls = shared
        .connector
        .connect(shared.target.server_name.clone(), tcp)
        .await
        .map_err(|e| tls_error_kind(&e))?;
    let (_, session) = tls.get_ref();
    let kind = session.handshake_kind();
    let version = version_name(session.protocol_version());
    let io = TokioIo::new(tls);
    let conn = if shared.http2 {
        let (send, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("http2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn::H2(send)
    } else {
        let (send, conn) = http1::handshake(io)
            .await
            .map_err(|e| format!("http1 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn::H1(send)
    };
    Ok(Handshaken {
        conn,
        kind,
        version,
    })
}

/// What came back for one request.
struct Answer {
    status: StatusCode,
    bytes: u64,
    closes: bool,
}

fn hyper_error_kind(e: &hyper::Error) -> String {
    if e.is_canceled() {
        "http: canceled".into()
    } else if e.is_closed() || e.is_incomplete_message() {
        "http: connection closed".into()
    } else if e.is_parse() {
        "http: parse error".into()
    } else {
        format!("http: {e}")
    }
}

async fn send(shared: &Shared, conn: &mut Conn, close: bool) -> Result<Answer, String> {
    let t = &shared.target;
    let mut builder = Request::get(match conn {
        // HTTP/2 carries the authority in the URI (`:authority`).
        Conn::H2(_) => format!("https://{}{}", t.authority, t.path),
        Conn::H1(_) => t.path.clone(),
    });
    if let Conn::H1(_) = conn {
        builder = builder.header(header::HOST, &t.authority);
        if close {
            builder = builder.header(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    let request = builder
        .header(header::USER_AGENT, "mtls-bench")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = match conn {
        Conn::H1(s) => {
            s.ready().await.map_err(|e| hyper_error_kind(&e))?;
            s.send_request(request).await
        }
        Conn::H2(s) => {
            s.ready().await.map_err(|e| hyper_error_kind(&e))?;
            s.send_request(request).await
        }
    }
    .map_err(|e| hyper_error_kind(&e))?;
    let status = response.status();
    let closes = response
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| hyper_error_kind(&e))?
        .to_bytes();
    Ok(Answer {
        status,
        bytes: body.len() as u64,
        closes,
    })
}

fn record_answer(
    shared: &Shared,
    stats: &mut Stats,
    intended: Instant,
    answer: &Result<Answer, String>,
) {
    match answer {
        Ok(a) if a.status == shared.expect => {
            stats.ok += 1;
            stats.response_bytes += a.bytes;
            stats.record_latency(intended.elapsed());
        }
        Ok(a) => stats.error(format!("status {}", a.status.as_u16())),
        Err(e) => stats.error(e.clone()),
    }
}

/// `keepalive`: one connection, many requests; reconnects (resuming the
/// session) when the server closes it.
pub async fn keepalive_worker(shared: Arc<Shared>, mut conn: Option<Conn>) -> Stats {
    let mut stats = Stats::default();
    while let Some(intended) = shared.plan.next().await {
        if conn.as_ref().is_none_or(Conn::is_closed) {
            match tokio::time::timeout(shared.timeout, connect(&shared)).await {
                Ok(Ok(h)) => {
                    stats.handshake(h.kind, h.version);
                    conn = Some(h.conn);
                }
                Ok(Err(e)) => {
                    stats.error(e);
                    // Do not spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => {
                    stats.error("timeout (connect and handshake)");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let answer = match tokio::time::timeout(shared.timeout, send(&shared, c, false)).await {
            Ok(a) => a,
            Err(_) => Err("timeout (response)".into()),
        };
        record_answer(&shared, &mut stats, intended, &answer);
        if answer.as_ref().map_or(true, |a| a.closes) {
            conn = None;
        }
    }
    stats
}

/// `handshake` and `resume`: a new connection, handshake and one request
/// (`Connection: close`) each time.
pub async fn connection_per_request_worker(shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::default();
    while let Some(intended) = shared.plan.next().await {
        let attempt = async {
            let h = connect(&shared).await?;
            let mut conn = h.conn;
            let answer = send(&shared, &mut conn, true).await;
            Ok::<_, String>((h.kind, h.version, answer))
        };
        match tokio::time::timeout(shared.timeout, attempt).await {
            Ok(Ok((kind, version, answer))) => {
                stats.handshake(kind, version);
                record_answer(&shared, &mut stats, intended, &answer);
            }
            Ok(Err(e)) => {
                stats.error(e);
                if shared.plan.rate.is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Err(_) => stats.error("timeout"),
        }
    }
    stats
}

/// Opens one connection and makes one request on it, for `idle` and the
/// warm-up of `keepalive`; the connection is kept.
pub async fn open(shared: &Shared, stats: &mut Stats, request: bool) -> Option<Conn> {
    let h = match tokio::time::timeout(shared.timeout, connect(shared)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            stats.error(e);
            return None;
        }
        Err(_) => {
            stats.error("timeout (connect and handshake)");
            return None;
        }
    };
    stats.handshake(h.kind, h.version);
    let mut conn = h.conn;
    if request {
        let started = Instant::now();
        let answer =
            match tokio::time::timeout(shared.timeout, send(shared, &mut conn, false)).await {
                Ok(a) => a,
                Err(_) => Err("timeout (response)".into()),
            };
        record_answer(shared, stats, started, &answer);
        if answer.map_or(true, |a| a.closes) {
            return None;
        }
    }
    Some(conn)
}
