//! What the gateway accepts as a request, before routing: body framing
//! that no two parties can read differently ([`check_framing`]) and a valid
//! host ([`host`], [`validate_host`]: nginx's `$host` rules). Anything else
//! is a 400 ([`Reject::BadRequest`]).

use http::{HeaderValue, Request, Version, header};
use hyper::body::Incoming;

use crate::respond::Reject;

/// Refuses requests whose body framing two parties could read differently
/// (nginx: "client sent Content-Length and Transfer-Encoding at the same
/// time"), and transfer codings other than a final `chunked`.
///
/// # Errors
/// A 400 naming what is wrong.
pub fn check_framing(request: &Request<Incoming>) -> Result<(), Reject> {
    let te = request.headers().get_all(header::TRANSFER_ENCODING);
    let mut codings = te.iter().peekable();
    if codings.peek().is_none() {
        return Ok(());
    }
    if request.headers().contains_key(header::CONTENT_LENGTH) {
        return Err(Reject::BadRequest(
            "client sent Content-Length and Transfer-Encoding at the same time",
        ));
    }
    let joined: Vec<String> = codings
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if joined.as_slice() != ["chunked"] {
        return Err(Reject::BadRequest("unsupported Transfer-Encoding"));
    }
    Ok(())
}

/// nginx's `$host`: from the request target (absolute form or HTTP/2
/// `:authority`), else the single `Host` header, else the server's first
/// name (`default`); lower-case, without port or trailing dot.
///
/// # Errors
/// Two `Host` headers, an invalid host, or none in an HTTP/1.1 request.
pub fn host(request: &Request<Incoming>, default: &str) -> Result<String, Reject> {
    let mut headers = request.headers().get_all(header::HOST).iter();
    let first = headers.next();
    if headers.next().is_some() {
        return Err(Reject::BadRequest("client sent duplicate host header"));
    }
    let raw: Option<&[u8]> = match request.uri().authority() {
        Some(a) => Some(a.as_str().as_bytes()),
        None => first.map(HeaderValue::as_bytes),
    };
    match raw {
        Some(raw) => {
            validate_host(raw).ok_or(Reject::BadRequest("client sent invalid host header"))
        }
        None if request.version() == Version::HTTP_11 => Err(Reject::BadRequest(
            "client sent HTTP/1.1 request without \"Host\" header",
        )),
        None => Ok(default.to_string()),
    }
}

/// nginx's `ngx_http_validate_host`.
pub fn validate_host(raw: &[u8]) -> Option<String> {
    #[derive(PartialEq)]
    enum State {
        Usual,
        Literal,
        Rest,
    }
    let mut state = State::Usual;
    let mut host_len = raw.len();
    let mut prev_dot: Option<usize> = None;
    for (i, &ch) in raw.iter().enumerate() {
        match ch {
            b'.' => {
                if prev_dot == Some(i.wrapping_sub(1)) && i > 0 {
                    return None;
                }
                prev_dot = Some(i);
            }
            b':' if state == State::Usual => {
                host_len = i;
                state = State::Rest;
            }
            b'[' if i == 0 => state = State::Literal,
            b']' if state == State::Literal => {
                host_len = i + 1;
                state = State::Rest;
            }
            b'/' | b'\\' | 0 => return None,
            c if c <= 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    let mut host = &raw[..host_len];
    if host.last() == Some(&b'.') {
        host = &host[..host.len() - 1];
    }
    if host.is_empty() || host.first() == Some(&b'.') {
        return None;
    }
    std::str::from_utf8(host).ok().map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::validate_host;

    #[test]
    fn hosts_like_nginx() {
        assert_eq!(
            validate_host(b"LocalHost:3443").as_deref(),
            Some("localhost")
        );
        assert_eq!(
            validate_host(b"example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(validate_host(b"[::1]:3443").as_deref(), Some("[::1]"));
        assert_eq!(validate_host(b"a..b"), None);
        assert_eq!(validate_host(b"a/b"), None);
        assert_eq!(validate_host(b"a b"), None);
        assert_eq!(validate_host(b""), None);
        assert_eq!(validate_host(b":80"), None);
        assert_eq!(validate_host(b".example.com"), None);
    }
}
