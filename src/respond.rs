//! Every response the gateway makes up itself, and the one place where an
//! error becomes an HTTP status.
//!
//! Errors are sorted by who is at fault: the client (400, 404, 421), its
//! certificate (nginx's 495/496, sent as 400 with `Connection: close`), or
//! the upstream (502, 504). Details go to the log, never to the peer.
//!
//! A [`Reject`] carries everything about its answer: the status, the page,
//! whether the connection closes after it, and the log line and its level
//! ([`Reject::log`]).

use std::net::SocketAddr;

use crate::body::{Body, full};
use crate::proxy::{ClientBodyError, ForwardError, UpstreamError, UpstreamErrorKind};
use crate::verify::X509Error;
use crate::verify::ocsp::OcspFailure;
use http::{HeaderValue, Method, Response, StatusCode, Uri, header};

/// Why the gateway answers a request itself instead of proxying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// nginx 496: `verify_client on` and no certificate was sent.
    NoCertificate,
    /// nginx 495: the certificate did not verify.
    CertificateError(X509Error),
    /// nginx 495: OCSP did not answer `good` (`ssl_ocsp`).
    OcspError(OcspFailure),
    /// A malformed request; the text goes to the log only.
    BadRequest(&'static str),
    /// No location matches.
    NotFound,
    /// The location's access policy denied the client (nginx's 403); the
    /// text names the rule set and why, for the log.
    Forbidden(String),
    /// The request body exceeds `client_max_body_size`.
    PayloadTooLarge,
    /// A header the gateway sets would exceed `max_proxy_header_size`;
    /// `identity` when its value comes from the client certificate (the
    /// client gets nginx-style "certificate too large" wording then).
    ProxyHeaderTooLarge { detail: String, identity: bool },
    /// The request names a different server than the TLS handshake did.
    Misdirected,
    /// The upstream did not answer in time (504), or refused, reset or
    /// answered garbage (502).
    Upstream(UpstreamError),
}

impl From<ForwardError> for Reject {
    fn from(e: ForwardError) -> Reject {
        match e {
            ForwardError::Upstream(e) => Reject::Upstream(e),
            ForwardError::ClientBody(ClientBodyError::TooLarge) => Reject::PayloadTooLarge,
            ForwardError::ClientBody(ClientBodyError::Failed) => {
                Reject::BadRequest("client request body failed")
            }
        }
    }
}

impl Reject {
    /// The status the client sees and the access log records.
    pub fn status(&self) -> StatusCode {
        match self {
            Reject::NoCertificate
            | Reject::CertificateError(_)
            | Reject::OcspError(_)
            | Reject::BadRequest(_) => StatusCode::BAD_REQUEST,
            Reject::NotFound => StatusCode::NOT_FOUND,
            Reject::Forbidden(_) => StatusCode::FORBIDDEN,
            Reject::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::ProxyHeaderTooLarge { .. } => StatusCode::BAD_REQUEST,
            Reject::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            Reject::Upstream(e) => match e.kind {
                UpstreamErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                UpstreamErrorKind::Refused
                | UpstreamErrorKind::Reset
                | UpstreamErrorKind::Protocol
                | UpstreamErrorKind::Tls => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// The log line for this rejection of `method target` from `client` on
    /// `server`: `info` for the client's and its certificate's faults,
    /// `warn` for what an operator must look at (the upstream failing, a
    /// header the configuration makes too large), `debug` for the ordinary
    /// answers (404, 413, 421).
    pub fn log(&self, client: SocketAddr, server: &str, method: &Method, target: &Uri) {
        match self {
            Reject::NoCertificate => {
                tracing::info!(client = %client, server, %method, %target, "client sent no required SSL certificate")
            }
            Reject::CertificateError(e) => tracing::info!(
                client = %client, server, %method, %target,
                "client SSL certificate verify error: ({}:{})", e.code(), e.text()
            ),
            // nginx's line for OCSP carries no OpenSSL code.
            Reject::OcspError(f) => tracing::info!(
                client = %client, server, %method, %target,
                "client SSL certificate verify error: {}", f.text()
            ),
            Reject::BadRequest(why) => {
                tracing::info!(client = %client, server, %method, %target, "bad request: {why}")
            }
            Reject::Forbidden(why) => {
                tracing::info!(client = %client, server, %method, %target, "access forbidden: {why}")
            }
            Reject::ProxyHeaderTooLarge { detail, .. } => {
                tracing::warn!(client = %client, server, %method, %target, "{detail}")
            }
            Reject::NotFound | Reject::Misdirected | Reject::PayloadTooLarge => {
                tracing::debug!(client = %client, server, %method, %target, status = self.status().as_u16(), "answered by the gateway")
            }
            Reject::Upstream(e) => tracing::warn!(
                client = %client, server, %method, %target,
                status = self.status().as_u16(), "{}", e.detail
            ),
        }
    }

    /// Whether the connection must be closed after this response (nginx
    /// sets `keepalive = 0` for 495/496 and for malformed requests).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Reject::NoCertificate
                | Reject::CertificateError(_)
                | Reject::OcspError(_)
                | Reject::BadRequest(_)
                | Reject::PayloadTooLarge
                | Reject::ProxyHeaderTooLarge { .. }
        )
    }

    /// The HTML error page for this rejection.
    pub fn into_response(self, server_tokens: bool) -> Response<Body> {
        let status = self.status();
        let body = match &self {
            Reject::NoCertificate => special_page(
                "400 No required SSL certificate was sent",
                "400 Bad Request",
                "No required SSL certificate was sent",
                server_tokens,
            ),
            Reject::CertificateError(_) | Reject::OcspError(_) => special_page(
                "400 The SSL certificate error",
                "400 Bad Request",
                "The SSL certificate error",
                server_tokens,
            ),
            Reject::ProxyHeaderTooLarge { identity: true, .. } => special_page(
                "400 The SSL certificate is too large to forward",
                "400 Bad Request",
                "The SSL certificate is too large to forward",
                server_tokens,
            ),
            _ => error_page(status, server_tokens),
        };
        let mut response = html(status, body);
        if self.closes_connection() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// `<hr><center>…</center>` tail of every page.
fn tail(server_tokens: bool) -> String {
    if server_tokens {
        format!(
            "<hr><center>mtls-gateway/{}</center>\r\n</body>\r\n</html>\r\n",
            env!("CARGO_PKG_VERSION")
        )
    } else {
        "<hr><center>mtls-gateway</center>\r\n</body>\r\n</html>\r\n".to_string()
    }
}

/// nginx's page for 495/496/497 (`ngx_http_special_response.c`).
fn special_page(title: &str, heading: &str, text: &str, server_tokens: bool) -> String {
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{heading}</h1></center>\r\n<center>{text}</center>\r\n{}",
        tail(server_tokens)
    )
}

/// nginx's plain error page (`<title>404 Not Found</title>` ...).
pub fn error_page(status: StatusCode, server_tokens: bool) -> String {
    let line = format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n{}",
        tail(server_tokens)
    )
}

/// The response to plain HTTP sent to the TLS port (nginx's 497), written
/// raw because no HTTP server runs on such a connection.
pub fn plain_http_on_tls_port(server_tokens: bool) -> Vec<u8> {
    let body = special_page(
        "400 The plain HTTP request was sent to HTTPS port",
        "400 Bad Request",
        "The plain HTTP request was sent to HTTPS port",
        server_tokens,
    );
    format!(
        "HTTP/1.1 400 Bad Request\r\nServer: mtls-gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// A `return` location's response: the text as given (no newline added),
/// keep-alive kept; without text, the status's HTML page.
pub fn returned(
    status: StatusCode,
    text: Option<String>,
    location: Option<HeaderValue>,
    content_type: &HeaderValue,
    server_tokens: bool,
) -> Response<Body> {
    let mut response = match text {
        Some(text) => {
            let mut r = Response::new(full(text));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
            r
        }
        None => html(status, error_page(status, server_tokens)),
    };
    *response.status_mut() = status;
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nginx_tail_len_delta(server_tokens: bool) -> isize {
        // Our tail differs from nginx's "nginx/1.22.1" only in the product name.
        len(&tail(server_tokens))
            - len("<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n")
    }

    fn len(text: &str) -> isize {
        isize::try_from(text.len()).unwrap()
    }

    #[test]
    fn certificate_pages_have_nginx_layout() {
        // nginx 1.22.1 sends 237 and 215 bytes (measured).
        let no_cert = special_page(
            "400 No required SSL certificate was sent",
            "400 Bad Request",
            "No required SSL certificate was sent",
            true,
        );
        assert_eq!(len(&no_cert), 237 + nginx_tail_len_delta(true));
        let bad_cert = special_page(
            "400 The SSL certificate error",
            "400 Bad Request",
            "The SSL certificate error",
            true,
        );
        assert_eq!(len(&bad_cert), 215 + nginx_tail_len_delta(true));
        assert!(
            bad_cert.starts_with("<html>\r\n<head><title>400 The SSL certificate error</title>")
        );
    }

    #[test]
    fn not_found_page_has_nginx_layout() {
        let page = error_page(StatusCode::NOT_FOUND, true);
        assert_eq!(len(&page), 153 + nginx_tail_len_delta(true));
        assert!(page.contains("<center><h1>404 Not Found</h1></center>"));
    }

    #[test]
    fn certificate_rejections_close_the_connection() {
        let r = Reject::NoCertificate.into_response(true);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = Reject::NotFound.into_response(true);
        assert!(r.headers().get(header::CONNECTION).is_none());
    }
}
