//! The HTTP side of an OCSP query, as nginx does it: `GET` of the
//! base64-encoded, percent-escaped DER request under the responder's path,
//! HTTP/1.0, the answer read until the responder closes (bounded), only a
//! `200` used. `http://` only, as nginx; host names are resolved with the
//! system resolver (nginx needs a `resolver` for them).

use std::fmt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read: nginx reads OCSP answers into a 16 KiB
/// buffer; real answers are 1-4 KiB, a delegated responder certificate included.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An `http://host[:port][/path]` OCSP responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    /// As written, for messages.
    url: String,
    host: String,
    port: u16,
    path: String,
}

/// Why a responder URL cannot be used, or a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("invalid URL prefix in OCSP responder {0:?}: only http:// is supported (as in nginx)")]
    Scheme(String),
    #[error("OCSP responder {0:?}: {1}")]
    Url(String, &'static str),
    #[error("OCSP responder {0}: {1}")]
    Io(String, std::io::Error),
    #[error("OCSP responder {0}: {1}")]
    Http(String, String),
}

impl fmt::Display for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Responder {
    /// Parses `http://host[:port][/path]` (an IPv6 host in brackets).
    ///
    /// # Errors
    /// [`ResponderError`] for another scheme, an empty host or a bad port.
    pub fn parse(url: &str) -> Result<Responder, ResponderError> {
        let bad = |why| ResponderError::Url(url.to_string(), why);
        let rest = url
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &url[7..])
            .ok_or_else(|| ResponderError::Scheme(url.to_string()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(bad("empty or invalid host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None => 80,
        };
        if path.contains(|c: char| c.is_ascii_control() || c == ' ') {
            return Err(bad("invalid path"));
        }
        Ok(Responder {
            url: url.to_string(),
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The request line's target for `request` (DER).
    fn target(&self, request: &[u8]) -> String {
        let mut target = self.path.clone();
        if !target.ends_with('/') {
            target.push('/');
        }
        for c in crate::identity::base64(request).chars() {
            match c {
                '+' => target.push_str("%2B"),
                '/' => target.push_str("%2F"),
                '=' => target.push_str("%3D"),
                c => target.push(c),
            }
        }
        target
    }

    /// Sends `request` and returns the body of a `200` answer. The caller
    /// bounds the time.
    ///
    /// # Errors
    /// [`ResponderError`]: no connection, another status, a body over
    /// [`MAX_RESPONSE_BYTES`].
    pub async fn fetch(&self, request: &[u8]) -> Result<Vec<u8>, ResponderError> {
        let io = |e| ResponderError::Io(self.url.clone(), e);
        let http = |why: String| ResponderError::Http(self.url.clone(), why);
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io)?;
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let head = format!(
            "GET {} HTTP/1.0\r\nHost: {host}\r\n\r\n",
            self.target(request)
        );
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        let mut answer = Vec::new();
        let limit = u64::try_from(MAX_RESPONSE_BYTES + 1).unwrap_or(u64::MAX);
        (&mut stream)
            .take(limit)
            .read_to_end(&mut answer)
            .await
            .map_err(io)?;
        if answer.len() > MAX_RESPONSE_BYTES {
            return Err(http(format!("answer over {MAX_RESPONSE_BYTES} bytes")));
        }
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| http("no complete HTTP head".into()))?;
        let head = String::from_utf8_lossy(&answer[..end]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default();
        if status != "200" {
            return Err(http(format!("HTTP status {status:?}, not 200")));
        }
        let mut body = answer[end + 4..].to_vec();
        let length = lines.find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        });
        if let Some(length) = length {
            if body.len() < length {
                return Err(http("answer shorter than its Content-Length".into()));
            }
            body.truncate(length);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_nginx_reads_them() {
        let r = Responder::parse("http://127.0.0.1:8888").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("127.0.0.1", 8888, "/")
        );
        let r = Responder::parse("HTTP://ocsp.example/ca/").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("ocsp.example", 80, "/ca/")
        );
        let r = Responder::parse("http://[::1]:81/x").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 81));
        assert!(matches!(
            Responder::parse("https://ocsp.example"),
            Err(ResponderError::Scheme(_))
        ));
        assert!(Responder::parse("http://:80/").is_err());
        assert!(Responder::parse("http://h:99999/").is_err());
        assert!(Responder::parse("http://h/a b").is_err());
    }

    #[test]
    fn the_request_goes_base64_and_escaped_under_the_path() {
        let r = Responder::parse("http://h/ocsp").unwrap();
        assert_eq!(r.target(&[0xFB, 0xFF]), "/ocsp/%2B%2F8%3D");
    }
}
