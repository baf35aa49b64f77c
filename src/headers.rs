//! The request headers sent upstream: strip, then set.
//!
//! 1. Every header named in the location's `proxy_set_header` is removed
//!    from the client's request in every letter case and every copy, and so
//!    is every *identity header* of the configuration (a header that any
//!    location of any server sets from an `$ssl_client_*` variable), even in
//!    locations and servers that do not set it: a backend never sees a
//!    client's copy of an identity header, whichever server it came through.
//! 2. Hop-by-hop headers and the headers the client names in `Connection`
//!    are removed (never one the gateway sets: those are added afterwards).
//! 3. Header names with `_` are dropped (nginx's `underscores_in_headers
//!    off`); when allowed, a `_` spelling of a header the gateway sets is
//!    still dropped, since CGI-style backends fold `_` and `-` together.
//! 4. The configured headers are evaluated and set, in configuration order;
//!    one that evaluates to empty is not sent. `Host` defaults to
//!    `$proxy_host`, as in nginx.

use http::{HeaderMap, HeaderName, HeaderValue, Version, header};

use std::sync::Arc;

use crate::config::{Action, ProxySpec, Server};
use crate::respond::Reject;
use crate::template::RequestVars;

/// Headers that describe one hop, never forwarded (RFC 9110 7.6.1; nginx
/// also drops `Expect`, answering `100-continue` itself).
const HOP_BY_HOP: &[&str] = &[
    // Framing is recomputed for the upstream from the body itself.
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
];

/// Whether `name` (lower-case) equals `other` once `_` is read as `-`.
fn folds_to(name: &str, other: &str) -> bool {
    name.len() == other.len()
        && name
            .bytes()
            .zip(other.bytes())
            .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
}

/// Every header name that some location of some server sets from an
/// `$ssl_client_*` variable, once each.
///
/// Stripped from client requests in every server, not only the one that sets
/// it: two servers often proxy to the same backend (nginx's seed has a
/// verifying server on one port and plain access on another), and a header
/// only one of them strips could be planted through the other.
pub fn identity_headers(servers: &[Server]) -> Arc<[HeaderName]> {
    let mut names: Vec<HeaderName> = Vec::new();
    for name in servers.iter().flat_map(identity_header_names) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names.into()
}

/// The headers `server`'s locations set from an `$ssl_client_*` variable
/// (a name once per location that sets it).
pub fn identity_header_names(server: &Server) -> impl Iterator<Item = &HeaderName> {
    server
        .locations
        .iter()
        .filter_map(|location| match &location.action {
            Action::Proxy(spec) => Some(&spec.set_headers),
            Action::Return(_) => None,
        })
        .flatten()
        .filter(|(_, template)| template.vars().any(|v| v.is_client_identity()))
        .map(|(name, _)| name)
}

/// Computes the upstream request headers.
///
/// # Errors
/// [`Reject::ProxyHeaderTooLarge`] when a value the gateway sets is longer
/// than `max_value`.
pub fn upstream_headers(
    client: &HeaderMap,
    version: Version,
    spec: &ProxySpec,
    identity_headers: &[HeaderName],
    underscores_in_headers: bool,
    max_value: usize,
    vars: &RequestVars<'_>,
) -> Result<HeaderMap, Reject> {
    let mut out = HeaderMap::with_capacity(client.len() + spec.set_headers.len() + 1);

    // Gateway-set headers first, in configuration order. Each is rendered
    // into one reused buffer and copied into a value of its exact size: one
    // allocation per header, freed with one `free` (a value made from the
    // rendered `String` itself needs a second allocation, for the shared
    // buffer `Bytes` makes of a `Vec` with spare capacity).
    let mut host_set = false;
    let mut value = String::with_capacity(256);
    for (name, template) in &spec.set_headers {
        value.clear();
        template.render_into(vars, &mut value);
        if value.is_empty() {
            continue;
        }
        if value.len() > max_value {
            return Err(Reject::ProxyHeaderTooLarge {
                detail: format!(
                    "header {name} would be {} bytes, above max_proxy_header_size ({max_value})",
                    value.len()
                ),
                identity: template.vars().any(|v| v.is_client_identity()),
            });
        }
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(v) => {
                host_set |= name == header::HOST;
                out.insert(name.clone(), v);
            }
            Err(_) => tracing::warn!(
                header = %name,
                "header value is not valid in HTTP; header not sent"
            ),
        }
    }
    if !host_set {
        // $proxy_host is validated at config load (host[:port] or upstream name).
        if let Ok(v) = HeaderValue::from_str(vars.proxy_host) {
            out.insert(header::HOST, v);
        }
    }

    let nominated: Vec<String> = client
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let gateway_set = |name: &HeaderName| {
        spec.set_headers.iter().any(|(n, _)| n == name) || identity_headers.contains(name)
    };

    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in client {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || gateway_set(name) || nominated.iter().any(|t| t == n) {
            continue;
        }
        if n.contains('_') {
            if !underscores_in_headers {
                continue;
            }
            let spoofs = spec
                .set_headers
                .iter()
                .map(|(h, _)| h)
                .chain(identity_headers)
                .any(|h| folds_to(n, h.as_str()));
            if spoofs {
                continue;
            }
        }
        if version == Version::HTTP_2 && name == header::COOKIE {
            // HTTP/2 may split cookies; HTTP/1.1 needs one line (RFC 9113 8.2.3).
            cookies.push(value.as_bytes());
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if !cookies.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(&cookies.join(&b"; "[..]))
    {
        out.insert(header::COOKIE, v);
    }
    Ok(out)
}

/// Removes hop-by-hop headers (and those the upstream names in its
/// `Connection`) from an upstream response, plus `Server` and `Date`, which
/// the gateway writes itself as nginx does.
pub fn clean_response_headers(headers: &mut HeaderMap) {
    // One pass over the response's few names finds those to remove, so
    // only they are looked up (and hashed) again; a lookup by `&str` would
    // also parse the name, for each of the nine names every time.
    let found: Vec<HeaderName> = headers
        .keys()
        .filter(|name| removed_from_responses(name))
        .cloned()
        .collect();
    if found.is_empty() {
        return;
    }
    if found.contains(&header::CONNECTION) {
        let nominated: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in nominated {
            headers.remove(name);
        }
    }
    for name in found {
        headers.remove(name);
    }
}

/// Whether [`clean_response_headers`] removes `name` whatever `Connection`
/// says: the hop-by-hop headers that can come with a response, and
/// `Server` and `Date`.
fn removed_from_responses(name: &HeaderName) -> bool {
    name == header::SERVER
        || name == header::DATE
        || HOP_BY_HOP
            .iter()
            .any(|h| !matches!(*h, "host" | "expect" | "content-length") && name.as_str() == *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscore_folding() {
        assert!(folds_to("x_ssl_client_dn", "x-ssl-client-dn"));
        assert!(folds_to("x-ssl_client-dn", "x-ssl-client-dn"));
        assert!(!folds_to("x_ssl_client_dnx", "x-ssl-client-dn"));
        assert!(!folds_to("y_ssl_client_dn", "x-ssl-client-dn"));
    }

    #[test]
    fn response_hop_by_hop_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::SERVER, HeaderValue::from_static("backend/1.0"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        clean_response_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-app"], "kept");
    }

    #[test]
    fn each_removed_response_header_is_removed_on_its_own() {
        let removed = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "server",
            "date",
        ];
        for name in removed {
            let mut h = HeaderMap::new();
            h.append(name, HeaderValue::from_static("a"));
            h.append(name, HeaderValue::from_static("b"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            clean_response_headers(&mut h);
            assert!(!h.contains_key(name), "{name} kept");
            assert_eq!(h.len(), 2, "{name}: {h:?}");
        }
        // A name only `Connection` nominates goes too.
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("x-end", HeaderValue::from_static("1"));
        clean_response_headers(&mut h);
        assert_eq!(h.keys().collect::<Vec<_>>(), ["x-end"]);
        // None of them: unchanged.
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        h.append("x-app", HeaderValue::from_static("1"));
        h.append("x-app", HeaderValue::from_static("2"));
        let before = h.clone();
        clean_response_headers(&mut h);
        assert_eq!(h, before);
    }
}
