//! Locations and upstreams: `[[server.location]]` (match, `return` or
//! `proxy_pass`, `proxy_set_header`, proxy timeouts with nginx's
//! inheritance) and `[upstream.NAME]` blocks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use indexmap::IndexMap;

use super::Ctx;
use super::addr::{is_upstream_name, parse_host_port};
use super::upstream_tls::{ProxySslKeys, validate_upstream_tls};
use crate::config::raw::{OneOrMany, RawLocation, RawUpstream};
use crate::config::{
    Action, Location, Match, ProxySpec, ReturnSpec, UpstreamKeepalive, UpstreamServer, defaults,
};
use crate::template::{Target, Template, Var};

/// Headers whose meaning belongs to the connection between the gateway and
/// the upstream; `proxy_set_header` may only blank them (nginx idiom
/// `Connection ""`).
pub(crate) const CONNECTION_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

pub(super) fn validate_upstreams(
    raw: &IndexMap<String, RawUpstream>,
    ctx: &mut Ctx<'_>,
) -> HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)> {
    let mut out = HashMap::new();
    for (name, upstream) in raw {
        let key = format!("upstream.{name}");
        if !is_upstream_name(name) {
            ctx.error(
                &key,
                "upstream names may contain only letters, digits, `-`, `_` and `.`",
            );
        }
        let mut keepalive = UpstreamKeepalive::default();
        if let Some(n) = upstream.keepalive {
            match usize::try_from(n) {
                Ok(n) if n <= defaults::MAX_UPSTREAM_KEEPALIVE => keepalive.max_idle = n,
                _ => ctx.error(
                    format!("{key}.keepalive"),
                    format!(
                        "must be between 0 and {} idle connections, not {n}",
                        defaults::MAX_UPSTREAM_KEEPALIVE
                    ),
                ),
            }
        }
        let timeout_key = format!("{key}.keepalive_timeout");
        keepalive.timeout = ctx.duration(
            &timeout_key,
            upstream.keepalive_timeout.as_ref(),
            defaults::UPSTREAM_KEEPALIVE_TIMEOUT,
        );
        if keepalive.timeout.is_zero() {
            ctx.error(
                timeout_key,
                "must be more than 0 (to keep no idle connections, set keepalive = 0)",
            );
        }
        let entries = upstream.server.clone().map(OneOrMany::into_vec);
        let Some(entries) = entries.filter(|e| !e.is_empty()) else {
            ctx.error(
                format!("{key}.server"),
                "an upstream needs at least one server",
            );
            continue;
        };
        let mut servers = Vec::new();
        for (j, entry) in entries.iter().enumerate() {
            match parse_host_port(entry, 80) {
                Ok(s) => servers.push(s),
                Err(problem) => ctx.error(format!("{key}.server[{j}]"), problem),
            }
        }
        out.insert(name.clone(), (servers, keepalive));
    }
    out
}

pub(super) struct Inherited<'a> {
    pub(super) headers: Option<&'a [(HeaderName, Template)]>,
    pub(super) presets: Option<&'a [super::identity::Preset]>,
    /// Whether `[identity_assertion]` is configured (`$ssl_client_jwt`,
    /// `jwks = true` and `identity_assertion_audience` need it).
    pub(super) assertion: bool,
    pub(super) connect: Duration,
    pub(super) read: Duration,
    pub(super) send: Duration,
    /// The server's `proxy_ssl_*` keys.
    pub(super) proxy_ssl: ProxySslKeys,
    pub(super) access: super::access::InheritedAccess,
}

pub(super) fn validate_headers(
    key: &str,
    raw: &IndexMap<String, String>,
    ctx: &mut Ctx<'_>,
) -> Vec<(HeaderName, Template)> {
    let mut out: Vec<(HeaderName, Template)> = Vec::new();
    for (name, value) in raw {
        let hkey = format!("{key}.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            ctx.error(&hkey, format!("{name:?} is not a valid header name"));
            continue;
        };
        if out.iter().any(|(h, _)| *h == header) {
            ctx.error(&hkey, "set twice (header names are case-insensitive)");
            continue;
        }
        if CONNECTION_HEADERS.contains(&header.as_str()) {
            if value.is_empty() {
                // nginx's keep-alive idiom `proxy_set_header Connection "";`:
                // the gateway never forwards these anyway.
                continue;
            }
            ctx.error(
                &hkey,
                "this header belongs to the gateway↔upstream connection and cannot be set",
            );
            continue;
        }
        match Template::parse(value, Target::Header) {
            Ok(t) => out.push((header, t)),
            Err(e) => ctx.error(&hkey, e.to_string()),
        }
    }
    out
}

pub(super) fn validate_location(
    key: &str,
    raw: RawLocation,
    inherited: &Inherited<'_>,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<Location> {
    let proxy_ssl = ProxySslKeys::of_location(key, &raw);
    let matcher = match (raw.prefix, raw.exact) {
        (Some(p), None) => Some(Match::Prefix(p)),
        (None, Some(e)) => Some(Match::Exact(e)),
        (Some(_), Some(_)) => {
            ctx.error(key, "set either `prefix` or `exact`, not both");
            None
        }
        (None, None) => {
            ctx.error(key, "missing `prefix = \"/path\"` or `exact = \"/path\"`");
            None
        }
    };
    if let Some(Match::Prefix(p) | Match::Exact(p)) = &matcher
        && !p.starts_with('/')
    {
        ctx.error(key, format!("location path {p:?} must start with `/`"));
    }
    let connect = ctx.duration(
        &format!("{key}.proxy_connect_timeout"),
        raw.proxy_connect_timeout.as_ref(),
        inherited.connect,
    );
    let read = ctx.duration(
        &format!("{key}.proxy_read_timeout"),
        raw.proxy_read_timeout.as_ref(),
        inherited.read,
    );
    let send = ctx.duration(
        &format!("{key}.proxy_send_timeout"),
        raw.proxy_send_timeout.as_ref(),
        inherited.send,
    );
    for (name, d) in [
        ("proxy_connect_timeout", connect),
        ("proxy_read_timeout", read),
        ("proxy_send_timeout", send),
    ] {
        if d.is_zero() {
            ctx.error(format!("{key}.{name}"), "must be more than 0");
        }
    }
    let (access, deny_return) = super::access::location_access(
        key,
        raw.require_verified,
        &raw.allow,
        raw.deny_return,
        &inherited.access,
        ctx,
    );
    let action = match (raw.return_, raw.proxy_pass) {
        (Some(_), Some(_)) => {
            ctx.error(key, "set either `return` or `proxy_pass`, not both");
            None
        }
        (None, None) => {
            ctx.error(key, "missing an action: `return = { status = ..., text = ... }` or `proxy_pass = \"http://upstream\"`");
            None
        }
        (Some(ret), None) => {
            ssl_keys_unused(
                key,
                &proxy_ssl,
                "only meaningful with proxy_pass = \"https://...\"",
                ctx,
            );
            if raw.proxy_set_header.is_some() {
                ctx.error(
                    format!("{key}.proxy_set_header"),
                    "only meaningful with proxy_pass",
                );
            }
            if raw.identity_headers.is_some() {
                ctx.error(
                    format!("{key}.identity_headers"),
                    "only meaningful with proxy_pass",
                );
            }
            validate_return(&format!("{key}.return"), ret, inherited.assertion, ctx)
                .map(Action::Return)
        }
        (None, Some(target)) => {
            let mut headers = match &raw.proxy_set_header {
                Some(h) => validate_headers(&format!("{key}.proxy_set_header"), h, ctx),
                None => inherited.headers.map(<[_]>::to_vec).unwrap_or_default(),
            };
            let own_presets = raw.identity_headers.as_ref().map(|p| {
                super::identity::validate_presets(&format!("{key}.identity_headers"), p, ctx)
            });
            let presets = own_presets
                .as_deref()
                .or(inherited.presets)
                .unwrap_or_default();
            super::identity::expand(presets, &mut headers);
            if !inherited.assertion
                && let Some((name, _)) = headers
                    .iter()
                    .find(|(_, t)| t.vars().any(|v| *v == Var::SslClientJwt))
            {
                ctx.error(
                    format!("{key}.proxy_set_header.{name}"),
                    "$ssl_client_jwt needs an [identity_assertion] table (key, issuer, audience)",
                );
            }
            validate_proxy_pass(
                &format!("{key}.proxy_pass"),
                &target,
                upstreams,
                used_upstreams,
                ctx,
            )
            .and_then(|pass| {
                let tls = match &pass.tls_host {
                    None => {
                        ssl_keys_unused(
                            key,
                            &proxy_ssl,
                            "only meaningful with proxy_pass = \"https://...\" (this location proxies over plain http://)",
                            ctx,
                        );
                        None
                    }
                    Some(host) => Some(validate_upstream_tls(
                        key,
                        &proxy_ssl.inherit(&inherited.proxy_ssl),
                        host,
                        ctx,
                    )?),
                };
                Some(Action::Proxy(Box::new(ProxySpec {
                    target,
                    proxy_host: pass.proxy_host,
                    servers: pass.servers,
                    set_headers: headers,
                    connect_timeout: connect,
                    read_timeout: read,
                    send_timeout: send,
                    keepalive: pass.keepalive,
                    tls,
                })))
            })
        }
    };
    let matcher = matcher?;
    let label = match &matcher {
        Match::Prefix(p) => format!("location {p}"),
        Match::Exact(p) => format!("location = {p}"),
    };
    if raw.identity_assertion_audience.is_some() && !inherited.assertion {
        ctx.error(
            format!("{key}.identity_assertion_audience"),
            "needs an [identity_assertion] table",
        );
    }
    if raw
        .identity_assertion_audience
        .as_deref()
        .is_some_and(|a| a.trim().is_empty())
    {
        ctx.error(format!("{key}.identity_assertion_audience"), "empty");
    }
    Some(Location {
        label,
        matcher,
        action: action?,
        access,
        deny_return,
        assertion_audience: raw.identity_assertion_audience,
    })
}

pub(super) fn validate_return(
    key: &str,
    raw: crate::config::raw::RawReturn,
    assertion: bool,
    ctx: &mut Ctx<'_>,
) -> Option<ReturnSpec> {
    let jwks = raw.jwks.unwrap_or(false);
    if jwks {
        if !assertion {
            ctx.error(
                format!("{key}.jwks"),
                "needs an [identity_assertion] table: there is no key to publish",
            );
        }
        for (name, set) in [
            ("text", raw.text.is_some()),
            ("url", raw.url.is_some()),
            ("content_type", raw.content_type.is_some()),
        ] {
            if set {
                ctx.error(
                    format!("{key}.{name}"),
                    "not with `jwks = true` (the body is the JWKS, application/json)",
                );
            }
        }
    }
    let status = match raw.status {
        None if jwks => Some(StatusCode::OK),
        None => {
            ctx.error(format!("{key}.status"), "missing");
            None
        }
        Some(s) => match u16::try_from(s)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            Some(code) if code.as_u16() >= 200 => Some(code),
            _ => {
                ctx.error(
                    format!("{key}.status"),
                    format!("{s} is not an HTTP status from 200 to 999"),
                );
                None
            }
        },
    };
    let is_redirect = status.is_some_and(|s| matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308));
    let text = raw
        .text
        .as_deref()
        .and_then(|t| match Template::parse(t, Target::Body) {
            Ok(t) if !assertion && t.vars().any(|v| *v == Var::SslClientJwt) => {
                ctx.error(
                    format!("{key}.text"),
                    "$ssl_client_jwt needs an [identity_assertion] table (key, issuer, audience)",
                );
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                ctx.error(format!("{key}.text"), e.to_string());
                None
            }
        });
    let url = match raw.url.as_deref() {
        Some(_) if !is_redirect => {
            ctx.error(
                format!("{key}.url"),
                "only for redirects (status 301, 302, 303, 307, 308)",
            );
            None
        }
        Some(u) => match Template::parse(u, Target::Header) {
            Ok(t) => Some(t),
            Err(e) => {
                ctx.error(format!("{key}.url"), e.to_string());
                None
            }
        },
        None if is_redirect => {
            ctx.error(format!("{key}.url"), "a redirect needs `url`");
            None
        }
        None => None,
    };
    let default_type = if jwks {
        "application/json"
    } else {
        "text/plain"
    };
    let ct = raw.content_type.as_deref().unwrap_or(default_type);
    let content_type = match HeaderValue::from_str(ct) {
        Ok(v) => v,
        Err(_) => {
            ctx.error(
                format!("{key}.content_type"),
                format!("{ct:?} is not a valid header value"),
            );
            HeaderValue::from_static("text/plain")
        }
    };
    Some(ReturnSpec {
        status: status?,
        text,
        url,
        content_type,
        jwks,
    })
}

/// Location-level `proxy_ssl_*` keys where they cannot apply are an
/// error (a server's are inherited only by its `https://` locations).
fn ssl_keys_unused(key: &str, keys: &ProxySslKeys, why: &str, ctx: &mut Ctx<'_>) {
    for name in keys.set_names() {
        ctx.error(format!("{key}.{name}"), why);
    }
}

/// A `proxy_pass` target, resolved.
pub(super) struct ProxyPass {
    /// `$proxy_host`.
    proxy_host: String,
    servers: Vec<UpstreamServer>,
    keepalive: UpstreamKeepalive,
    /// For `https://`: the host as written (the upstream block's name or
    /// the host without port), the default `proxy_ssl_name`.
    tls_host: Option<String>,
}

pub(super) fn validate_proxy_pass(
    key: &str,
    target: &str,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<ProxyPass> {
    let (rest, tls, default_port) = if let Some(rest) = target.strip_prefix("http://") {
        (rest, false, 80)
    } else if let Some(rest) = target.strip_prefix("https://") {
        (rest, true, 443)
    } else {
        ctx.error(
            key,
            format!("{target:?} must start with http:// or https://"),
        );
        return None;
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('?') {
        ctx.error(
            key,
            "a URI part after the host (nginx's prefix replacement) is not supported: write proxy_pass = \"http://name\" and the request URI is passed unchanged",
        );
        return None;
    }
    if let Some((servers, keepalive)) = upstreams.get(authority) {
        used_upstreams.insert(authority.to_string());
        return Some(ProxyPass {
            proxy_host: authority.to_string(),
            servers: servers.clone(),
            keepalive: *keepalive,
            tls_host: tls.then(|| authority.to_string()),
        });
    }
    match parse_host_port(authority, default_port) {
        Ok(server) => {
            if !authority.contains(':')
                && !authority.starts_with('[')
                && server.host.parse::<std::net::IpAddr>().is_err()
            {
                // A bare name that is not an upstream: most likely a typo.
                ctx.error(
                    key,
                    format!("no [upstream.{authority}] is defined (to proxy to a host directly, give its port: {}{authority}:{default_port})", if tls { "https://" } else { "http://" }),
                );
                return None;
            }
            // $proxy_host: host[:port] as written, port omitted when it
            // is the scheme's (80, 443).
            let proxy_host = if server.port == default_port {
                if server.host.contains(':') {
                    format!("[{}]", server.host)
                } else {
                    server.host.clone()
                }
            } else {
                server.to_string()
            };
            Some(ProxyPass {
                proxy_host,
                tls_host: tls.then(|| server.host.clone()),
                servers: vec![server],
                keepalive: UpstreamKeepalive::default(),
            })
        }
        Err(problem) => {
            ctx.error(key, problem);
            None
        }
    }
}
