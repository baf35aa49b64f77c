//! One request's path through the gateway, in order:
//!
//! 1. **Admission**: the connection's client-certificate verdict against the
//!    server's `verify_client` mode, before anything else, as nginx does in
//!    `ngx_http_process_request` (a rejected client reaches no location).
//! 2. **Host**: what the gateway accepts as a request ([`crate::request`]:
//!    body framing, then `$host` from the request target or the single
//!    `Host` header), and a host naming another server gets 421.
//! 3. **Routing**: nginx's URI normalization, then exact / longest prefix;
//!    then the location's access policy (`require_verified`, `allow` rules:
//!    [`crate::verify::access`]), decided once per connection and location
//!    and by the newest configuration ([`authorize`]).
//! 4. **Action**: `return`, or header rewrite ([`crate::headers`]) and the
//!    upstream round trip ([`crate::proxy`]).
//!
//! Any failure is a [`Reject`]; [`crate::respond`] turns it into a status,
//! a page and a log line.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::access_log::Record;
use crate::body::LimitedBody;
use crate::metrics::UpstreamErrorLabels;
use crate::proxy::ForwardError;

use http::{HeaderValue, Request, Response, Version, header};
use hyper::body::Incoming;

use crate::body::Body;
use crate::config::ReturnSpec;
use crate::conn::{ConnCtx, InFlight};
use crate::request;
use crate::respond::{self, Reject};
use crate::routing;
use crate::runtime::{Handler, LocationRuntime};
use crate::template::RequestVars;
use crate::verify::Admission;

/// The hyper service of one connection: every request goes to [`handle`].
///
/// The future is boxed per request: hyper keeps one slot per connection
/// sized for the service future, and a pointer there means an idle
/// keep-alive connection does not hold the ~4 KiB a request in flight needs.
#[derive(Clone)]
pub struct Gateway(Arc<ConnCtx>);

impl Gateway {
    /// The service for the connection `conn`.
    pub fn new(conn: Arc<ConnCtx>) -> Self {
        Self(conn)
    }
}

impl hyper::service::Service<Request<Incoming>> for Gateway {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        Box::pin(handle(request, self.0.clone()))
    }
}

/// Serves one request of a connection.
pub async fn handle(
    request: Request<Incoming>,
    conn: Arc<ConnCtx>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    // In flight until this guard is dropped: with the response body once it
    // has been sent, or here if hyper drops this future (the client reset
    // the stream or closed the connection before the answer).
    let in_flight = conn.request_started(started);
    let conn = in_flight.conn();
    let version = request.version();
    let method = request.method().clone();
    let target = request.uri().clone();
    let server_tokens = conn.server.config.server_tokens;
    // Building the line costs more than the rest of a keep-alive request
    // (docs/performance.md): skip it when the access log is off.
    // Boxed: the request's future and its response body hold a pointer,
    // not the whole record, when the log is off (the common case).
    let mut record = conn
        .access_log
        .enabled()
        .then(|| Box::new(access_record(&request, conn)));
    let mut info = RequestInfo::default();
    let mut response = match serve(request, conn, &mut info).await {
        Ok(response) => response,
        Err(reject) => {
            reject.log(
                conn.facts.remote,
                &conn.server.config.label,
                &method,
                &target,
            );
            let closes = reject.closes_connection();
            let mut response = reject.into_response(server_tokens);
            if closes && version == Version::HTTP_2 {
                // HTTP/2 has no `Connection: close`: end the connection
                // with GOAWAY after this response instead.
                response.headers_mut().remove(header::CONNECTION);
                conn.request_close();
            }
            response
        }
    };
    if conn.retiring.load(Ordering::Relaxed) {
        if version == Version::HTTP_2 {
            conn.request_close();
        } else {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(if server_tokens {
            concat!("mtls-gateway/", env!("CARGO_PKG_VERSION"))
        } else {
            "mtls-gateway"
        }),
    );
    let status = response.status().as_u16();
    if let Some(record) = &mut record {
        record.status = status;
        record.host = info.host;
        record.upstream_addr = info.upstream_addr;
        record.upstream_time = info.upstream_time;
        record.policy = info.policy;
    }
    let (parts, body) = response.into_parts();
    let body = ClientBody {
        inner: body,
        record,
        started,
        rest: Bytes::new(),
        location: info.location,
        status,
        h2: version == Version::HTTP_2,
        in_flight,
    };
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Largest piece of response body handed to HTTP/2 at once: one DATA frame
/// at the default `SETTINGS_MAX_FRAME_SIZE`. hyper asks for the next piece
/// only once the client's window has room beyond everything handed over, and
/// one upstream read may be far larger than a window (hyper reads up to
/// ~400 KiB at once): in pieces, the wait `send_timeout` bounds is the time
/// the client takes to read 16 KiB, whatever the upstream's reads.
const H2_SEND_PIECE: usize = 16 * 1024;

pin_project_lite::pin_project! {
    /// A response body on its way to the client, holding its request's
    /// [`InFlight`] guard; it counts the bytes it sends, and when it is
    /// dropped (sent, or abandoned) it counts the request metric, then
    /// queues the access-log line, then ends the request.
    ///
    /// On HTTP/2 it also tells the connection when it waits on the client
    /// (`send_timeout`, [`crate::send_watch`]): from handing a chunk over
    /// until it is asked for the next one, which hyper does not do while
    /// the client's flow-control window is 0. HTTP/1.1 needs no such count:
    /// a client that stops reading blocks the connection's writes
    /// ([`crate::io_timeout`]). Chunks are handed over in pieces of at
    /// most [`H2_SEND_PIECE`], so that the wait measures how long the client
    /// takes to read that much, however large the upstream's reads are.
    struct ClientBody {
        #[pin]
        inner: Body,
        // The access-log line (`None`: the log is off); `bytes` grows as
        // the body is sent.
        record: Option<Box<Record>>,
        started: Instant,
        // HTTP/2: the part of the last chunk not handed over yet.
        rest: Bytes,
        // Index of the location in the server's list.
        location: Option<usize>,
        status: u16,
        h2: bool,
        in_flight: InFlight,
    }

    impl PinnedDrop for ClientBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let conn = this.in_flight.conn();
            let server = &conn.server;
            server
                .location_metrics(
                    this.location.and_then(|i| server.locations.get(i)),
                    &conn.metrics,
                )
                .count_request(&conn.metrics, *this.status);
            if let Some(mut record) = this.record.take() {
                record.request_time = this.started.elapsed();
                conn.access_log.write(&record);
            }
        }
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if !*this.h2 {
            let frame = this.inner.poll_frame(cx);
            if let (Poll::Ready(Some(Ok(f))), Some(record)) = (&frame, this.record.as_mut())
                && let Some(data) = f.data_ref()
            {
                record.count_bytes(data.len());
            }
            return frame;
        }
        this.in_flight.progressed();
        let mut data = if this.rest.is_empty() {
            match ready!(this.inner.poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return Poll::Ready(other),
            }
        } else {
            std::mem::take(this.rest)
        };
        if data.len() > H2_SEND_PIECE {
            *this.rest = data.split_off(H2_SEND_PIECE);
        }
        if let Some(record) = this.record.as_mut() {
            record.count_bytes(data.len());
        }
        this.in_flight.waiting();
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        if self.rest.is_empty() {
            return inner;
        }
        let rest = u64::try_from(self.rest.len()).unwrap_or(u64::MAX);
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint.set_lower(inner.lower().saturating_add(rest));
        hint
    }
}

/// What the pipeline learned about a request, for the access log and metrics.
#[derive(Default)]
struct RequestInfo {
    /// `$host` (kept only while the access log is on).
    host: String,
    /// Index of the location in the server's list.
    location: Option<usize>,
    upstream_addr: Option<std::sync::Arc<str>>,
    upstream_time: Option<std::time::Duration>,
    /// The access-policy decision (locations with a policy).
    policy: Option<String>,
}

fn access_record(request: &Request<Incoming>, conn: &ConnCtx) -> Record {
    let header = |name: header::HeaderName| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let cert = conn.facts.peer.cert();
    Record {
        time: Some(SystemTime::now()),
        client: Some(conn.facts.remote),
        server: conn.server.config.label.clone(),
        method: request.method().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().to_string(), |pq| pq.to_string()),
        protocol: match request.version() {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_11 => "HTTP/1.1",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP",
        },
        tls_version: conn.facts.tls.protocol,
        resumed: conn.facts.tls.resumed,
        verify: conn.facts.peer.verify_text().to_string(),
        subject_dn: cert.map(|c| c.subject_dn().to_string()).unwrap_or_default(),
        serial: cert.map(|c| c.serial().to_string()).unwrap_or_default(),
        fingerprint: cert
            .map(|c| c.fingerprint().to_string())
            .unwrap_or_default(),
        user_agent: header(header::USER_AGENT),
        referer: header(header::REFERER),
        ..Record::default()
    }
}

/// The answer of a `return` (or `deny_return`) spec, its templates rendered.
fn returned(spec: &ReturnSpec, vars: &RequestVars<'_>, server_tokens: bool) -> Response<Body> {
    let text = spec.text.as_ref().map(|t| t.render(vars));
    let url = spec
        .url
        .as_ref()
        .and_then(|t| HeaderValue::from_str(&t.render(vars)).ok());
    respond::returned(spec.status, text, url, &spec.content_type, server_tokens)
}

/// A request the access policy refused.
struct Denied {
    /// For the log: the rule set and why.
    reason: String,
    /// The location's `deny_return`, if any.
    deny_return: Option<Box<ReturnSpec>>,
}

/// The access policy's decision for this request at `location` (index
/// `index` of the connection's server). After a reload the newest
/// generation decides: the location a new connection with the same SNI
/// would reach for `uri` there, so a revoked permission holds from the next
/// request of a kept-alive connection. Decisions are cached per connection,
/// generation and location ([`ConnCtx::access_decision`]).
fn authorize(
    conn: &ConnCtx,
    uri: &str,
    index: usize,
    location: &LocationRuntime,
    info: &mut RequestInfo,
) -> Result<(), Denied> {
    let newer = conn.newer_generation();
    let (generation, server, index, location) = match &newer {
        None => (conn.generation.number, &*conn.server, index, location),
        Some(latest) => {
            let addr = conn.generation.groups.get(conn.group).map(|g| g.addr);
            let server = latest
                .groups
                .iter()
                .find(|g| Some(g.addr) == addr)
                .map(|g| g.select(conn.facts.tls.server_name.as_deref()));
            let found = server.and_then(|s| routing::find(&s.locations, uri).map(|l| (s, l)));
            let Some((server, (index, location))) = found else {
                return Err(Denied {
                    reason: format!(
                        "{}: no location for {uri} in configuration generation {}",
                        conn.server.config.label, latest.number
                    ),
                    deny_return: None,
                });
            };
            (latest.number, &**server, index, location)
        }
    };
    if location.access.is_open() {
        return Ok(());
    }
    let decision = conn.access_decision(generation, index, &location.access);
    server
        .policy_metrics(location, &conn.metrics)
        .count(decision.outcome());
    let describe = || {
        format!(
            "{}/{}: {}",
            server.config.label,
            location.label,
            location.access.describe(decision)
        )
    };
    if conn.access_log.enabled() {
        info.policy = Some(describe());
    }
    if decision.admitted() {
        Ok(())
    } else {
        Err(Denied {
            reason: describe(),
            deny_return: location.deny_return.clone().map(Box::new),
        })
    }
}

async fn serve(
    request: Request<Incoming>,
    conn: &Arc<ConnCtx>,
    info: &mut RequestInfo,
) -> Result<Response<Body>, Reject> {
    let server = &conn.server;
    // `$host` is known from the request head, whatever is refused below:
    // the access log of a 400 (no certificate, bad framing) names it too.
    let host = request::host(&request, server.primary_name());
    if let Ok(host) = &host
        && conn.access_log.enabled()
    {
        info.host = host.clone();
    }
    match conn.facts.peer.admission(server.config.client_auth.mode) {
        Admission::Allow => {}
        Admission::NoCertificate => return Err(Reject::NoCertificate),
        Admission::CertificateError(e) => return Err(Reject::CertificateError(e)),
        Admission::OcspError(f) => return Err(Reject::OcspError(f)),
    }
    request::check_framing(&request)?;
    if request.method() == http::Method::CONNECT {
        return Err(Reject::BadRequest("CONNECT is not proxied"));
    }
    let host = host?;
    // A certificate verified for one server name is never used to reach
    // another: a Host naming a different server of this address gets 421
    // (Traefik's CVE-2019-20894 class; nginx does this when verification is on).
    if !server.answers_to(&host) && conn.names_other_server(&host) {
        return Err(Reject::Misdirected);
    }
    let uri = routing::normalize(request.uri().path()).map_err(|e| Reject::BadRequest(e.text()))?;
    let (index, location) = routing::find(&server.locations, &uri).ok_or(Reject::NotFound)?;
    info.location = Some(index);
    let now_unix = crate::clock::unix_now();
    if let Err(denied) = authorize(conn, &uri, index, location, info) {
        let Some(spec) = denied.deny_return else {
            return Err(Reject::Forbidden(denied.reason));
        };
        tracing::info!(
            client = %conn.facts.remote, server = %server.config.label,
            method = %request.method(), target = %request.uri(),
            "access forbidden: {}", denied.reason
        );
        let (parts, _body) = request.into_parts();
        let vars = RequestVars {
            facts: &conn.facts,
            request: &parts,
            host: &host,
            proxy_host: "",
            uri: &uri,
            now_unix,
            // A denial's text never carries an assertion.
            assertion: None,
        };
        return Ok(returned(&spec, &vars, server.config.server_tokens));
    }

    let assertion = conn
        .generation
        .assertion
        .as_deref()
        .map(|a| crate::template::AssertionVars {
            assertion: a,
            audience: location
                .assertion_audience
                .as_deref()
                .unwrap_or(&a.audience),
            tokens: &conn.assertion_tokens,
        });
    match &location.handler {
        Handler::Return(spec) if spec.jwks => Ok(respond::returned(
            spec.status,
            Some(
                conn.generation
                    .assertion
                    .as_deref()
                    .map_or_else(String::new, |a| a.jwks().to_string()),
            ),
            None,
            &spec.content_type,
            server.config.server_tokens,
        )),
        Handler::Return(spec) => {
            let (parts, _body) = request.into_parts();
            let vars = RequestVars {
                facts: &conn.facts,
                request: &parts,
                host: &host,
                proxy_host: "",
                uri: &uri,
                now_unix,
                assertion,
            };
            Ok(returned(spec, &vars, server.config.server_tokens))
        }
        Handler::Proxy { spec, upstream } => {
            let (mut parts, body) = request.into_parts();
            let limits = &server.config.limits;
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if limits.client_max_body_size > 0
                && declared.is_some_and(|n| n > limits.client_max_body_size)
            {
                return Err(Reject::PayloadTooLarge);
            }
            let body = LimitedBody::new(
                body,
                limits.client_max_body_size,
                limits.client_body_timeout,
            );
            let headers = {
                let vars = RequestVars {
                    facts: &conn.facts,
                    request: &parts,
                    host: &host,
                    proxy_host: &spec.proxy_host,
                    uri: &uri,
                    now_unix,
                    assertion,
                };
                crate::headers::upstream_headers(
                    &parts.headers,
                    parts.version,
                    spec,
                    &server.identity_headers,
                    server.config.underscores_in_headers,
                    limits.max_proxy_header_size,
                    &vars,
                )?
            };
            parts.headers = headers;
            let forwarded = match upstream.forward(Request::from_parts(parts, body)).await {
                Ok(f) => f,
                Err(e) => {
                    // The client's own body failures page no one.
                    if let ForwardError::Upstream(e) = &e {
                        conn.metrics
                            .upstream_errors
                            .get_or_create(&UpstreamErrorLabels {
                                server: server.config.label.clone(),
                                location: location.label.clone(),
                                kind: e.kind.label(),
                            })
                            .inc();
                    }
                    return Err(e.into());
                }
            };
            server
                .location_metrics(Some(location), &conn.metrics)
                .upstream_seconds()
                .observe(forwarded.elapsed);
            info.upstream_addr = Some(forwarded.addr.clone());
            info.upstream_time = Some(forwarded.elapsed);
            let mut response = forwarded.into_response();
            crate::headers::clean_response_headers(response.headers_mut());
            Ok(response)
        }
    }
}
