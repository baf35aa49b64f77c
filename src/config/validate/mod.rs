//! Raw configuration → validated [`Config`](super::Config) parts.
//!
//! Every check pushes a [`ConfigError`] naming its key and carries on, so a
//! user sees all problems in one run (`mtls-gateway check`).
//!
//! One file per part of the configuration: [`addr`] (addresses and names),
//! [`files`] (PEM certificates, keys, CRLs), [`tls`] (`[server.tls]` and
//! `[server.client_auth]`), [`location`] (locations and upstreams) and
//! [`servers`] (checks across server blocks). This file holds the walk over
//! the whole file, the global keys, and per-server limits.

mod access;
mod addr;
mod files;
mod identity;
mod location;
mod servers;
mod tls;
mod upstream_tls;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::raw::{OneOrMany, RawConfig, RawDuration, RawServer, RawSize, RawWorkers};
use super::{
    AccessLog, AccessLogFormat, ConfigError, Global, Limits, Location, Server, UpstreamKeepalive,
    UpstreamServer, defaults, duration, size,
};

use addr::{parse_listen, parse_server_name};
/// Also read by import-nginx, which drops what validation would refuse.
pub(crate) use location::CONNECTION_HEADERS;
use location::{Inherited, validate_headers, validate_location, validate_upstreams};
use servers::{check_name_conflicts, check_proxy_protocol, warn_shared_upstreams};
use tls::{validate_client_auth, validate_tls};

/// Most `worker_processes`: a thread each, far beyond any useful CPU count.
const MAX_WORKERS: i64 = 1024;

pub(super) struct Ctx<'a> {
    pub(super) base: &'a Path,
    errors: &'a mut Vec<ConfigError>,
    /// Every file the configuration names.
    files: Vec<PathBuf>,
}

impl Ctx<'_> {
    /// Records `problem` (a message, or any error's text) at `key`.
    pub(super) fn error(&mut self, key: impl Into<String>, problem: impl std::fmt::Display) {
        self.errors.push(ConfigError {
            key: key.into(),
            problem: problem.to_string(),
        });
    }

    pub(super) fn resolve(&mut self, file: &str) -> PathBuf {
        let p = Path::new(file);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        };
        if !self.files.contains(&p) {
            self.files.push(p.clone());
        }
        p
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        raw: Option<&RawDuration>,
        default: Duration,
    ) -> Duration {
        match raw.map(duration::parse) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(problem)) => {
                self.error(key, problem);
                default
            }
        }
    }
}

pub(super) fn validate(
    raw: RawConfig,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> (
    Global,
    Vec<Server>,
    Vec<PathBuf>,
    Option<Arc<crate::assertion::Assertion>>,
) {
    let mut ctx = Ctx {
        base,
        errors,
        files: Vec::new(),
    };
    let global = validate_global(&raw, &mut ctx);
    let assertion = identity::validate_assertion(raw.identity_assertion.as_ref(), &mut ctx);
    let assertion_configured = raw.identity_assertion.is_some();
    let upstreams = validate_upstreams(&raw.upstream, &mut ctx);
    if raw.server.is_empty() {
        ctx.error("server", "no [[server]] block: nothing to serve");
    }
    let mut servers = Vec::new();
    let mut used_upstreams = HashSet::new();
    for (i, server) in raw.server.into_iter().enumerate() {
        if let Some(s) = validate_server(
            i,
            server,
            &upstreams,
            &mut used_upstreams,
            assertion_configured,
            &mut ctx,
        ) {
            servers.push(s);
        }
    }
    check_name_conflicts(&servers, &mut ctx);
    check_proxy_protocol(&servers, &mut ctx);
    warn_shared_upstreams(&servers);
    if let Some(admin) = global.admin
        && servers.iter().any(|s| s.listen.contains(&admin))
    {
        ctx.error(
            "admin.listen",
            format!("{admin} is also a server's listen address"),
        );
    }
    (global, servers, ctx.files, assertion)
}

fn validate_global(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Global {
    let shutdown_timeout = ctx.duration(
        "shutdown_timeout",
        raw.shutdown_timeout.as_ref(),
        defaults::SHUTDOWN_TIMEOUT,
    );
    let pid = raw.pid.as_deref().map(|p| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            ctx.base.join(p)
        }
    });
    let access_log = match raw.access_log.as_deref() {
        // stdout by default: the diagnostics are on stderr, and the two
        // kinds of lines stay apart (`2>/dev/null`, `| jq`).
        None | Some("stdout") => AccessLog::Stdout,
        Some("stderr") => AccessLog::Stderr,
        Some("off") => AccessLog::Off,
        Some("") => {
            ctx.error(
                "access_log",
                "empty: use \"stdout\", \"stderr\", \"off\" or a file path",
            );
            AccessLog::Off
        }
        Some(file) => {
            let p = Path::new(file);
            AccessLog::File(if p.is_absolute() {
                p.to_path_buf()
            } else {
                ctx.base.join(p)
            })
        }
    };
    let access_log_format = match raw.access_log_format.as_deref() {
        None | Some("json") => AccessLogFormat::Json,
        Some("combined") => AccessLogFormat::Combined,
        Some(other) => {
            ctx.error(
                "access_log_format",
                format!("{other:?} is not one of \"json\", \"combined\""),
            );
            AccessLogFormat::Json
        }
    };
    let admin = match raw.admin.as_ref().map(|a| a.listen.as_deref()) {
        None => None,
        Some(None) => Some(SocketAddr::from(([127, 0, 0, 1], 9901))),
        Some(Some(text)) => match parse_listen(text) {
            Ok(addrs) => addrs.first().copied(),
            Err(problem) => {
                ctx.error("admin.listen", problem);
                None
            }
        },
    };
    let max_connections = match raw.max_connections {
        None => defaults::MAX_CONNECTIONS,
        Some(n) if (1..=1_000_000).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            ctx.error(
                "max_connections",
                format!("{n} is out of range (1 to 1000000)"),
            );
            defaults::MAX_CONNECTIONS
        }
    };
    let worker_processes = match &raw.worker_processes {
        None => None,
        Some(RawWorkers::Text(t)) if t == "auto" => None,
        Some(RawWorkers::Count(n)) if (1..=MAX_WORKERS).contains(n) => usize::try_from(*n).ok(),
        Some(RawWorkers::Count(n)) => {
            ctx.error(
                "worker_processes",
                format!("{n} is out of range (1 to {MAX_WORKERS}, or \"auto\")"),
            );
            None
        }
        Some(RawWorkers::Text(t)) => {
            ctx.error(
                "worker_processes",
                format!("{t:?} is not \"auto\" or a number"),
            );
            None
        }
    };
    Global {
        max_connections,
        worker_processes,
        pid,
        shutdown_timeout,
        watch: raw.watch.unwrap_or(false),
        access_log,
        access_log_format,
        admin,
    }
}

fn validate_server(
    index: usize,
    raw: RawServer,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    assertion: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Server> {
    let label = format!("server[{index}]");
    let mut ok = true;
    let limits = validate_limits(&label, &raw, ctx);
    let proxy_ssl = upstream_tls::ProxySslKeys::of_server(&label, &raw);

    let mut listen = Vec::new();
    match raw.listen.map(OneOrMany::into_vec) {
        None => {
            ctx.error(
                format!("{label}.listen"),
                "missing: where should this server listen? (e.g. [\"0.0.0.0:3443\"])",
            );
            ok = false;
        }
        Some(entries) if entries.is_empty() => {
            ctx.error(format!("{label}.listen"), "empty list");
            ok = false;
        }
        Some(entries) => {
            for (j, entry) in entries.iter().enumerate() {
                match parse_listen(entry) {
                    Ok(addrs) => {
                        for a in addrs {
                            if !listen.contains(&a) {
                                listen.push(a);
                            }
                        }
                    }
                    Err(problem) => {
                        ctx.error(format!("{label}.listen[{j}]"), problem);
                        ok = false;
                    }
                }
            }
        }
    }

    let mut names = Vec::new();
    for (j, entry) in raw
        .server_name
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match parse_server_name(entry) {
            Ok(Some(n)) => names.push(n),
            Ok(None) => {}
            Err(problem) => ctx.error(format!("{label}.server_name[{j}]"), problem),
        }
    }

    let tls = match raw.tls {
        Some(tls) => validate_tls(&label, tls, ctx),
        None => {
            ctx.error(
                format!("{label}.tls"),
                "missing [server.tls] with certificate and certificate_key",
            );
            None
        }
    };
    let client_auth = validate_client_auth(&label, raw.client_auth.unwrap_or_default(), ctx);

    // Server-level values every location inherits (nginx inheritance rules).
    let server_headers = raw
        .proxy_set_header
        .as_ref()
        .map(|headers| validate_headers(&format!("{label}.proxy_set_header"), headers, ctx));
    let server_presets = raw
        .identity_headers
        .as_ref()
        .map(|p| identity::validate_presets(&format!("{label}.identity_headers"), p, ctx));
    let connect = ctx.duration(
        &format!("{label}.proxy_connect_timeout"),
        raw.proxy_connect_timeout.as_ref(),
        defaults::PROXY_CONNECT_TIMEOUT,
    );
    let read = ctx.duration(
        &format!("{label}.proxy_read_timeout"),
        raw.proxy_read_timeout.as_ref(),
        defaults::PROXY_READ_TIMEOUT,
    );
    let send = ctx.duration(
        &format!("{label}.proxy_send_timeout"),
        raw.proxy_send_timeout.as_ref(),
        defaults::PROXY_SEND_TIMEOUT,
    );
    let access = access::InheritedAccess::of_server(
        &label,
        raw.require_verified,
        &raw.allow,
        raw.deny_return,
        ctx,
    );
    let inherited = Inherited {
        headers: server_headers.as_deref(),
        presets: server_presets.as_deref(),
        assertion,
        connect,
        read,
        send,
        proxy_ssl,
        access,
    };

    let mut locations: Vec<Location> = Vec::new();
    for (j, loc) in raw.location.into_iter().enumerate() {
        let key = format!("{label}.location[{j}]");
        if let Some(l) = validate_location(&key, loc, &inherited, upstreams, used_upstreams, ctx) {
            if let Some(prev) = locations.iter().find(|p| p.matcher == l.matcher) {
                ctx.error(
                    &key,
                    format!(
                        "duplicate location: {} already matches {:?}",
                        prev.label, l.matcher
                    ),
                );
            }
            locations.push(l);
        }
    }

    if let Some(auth) = &client_auth
        && auth.mode == crate::verify::VerifyMode::Off
    {
        for (j, l) in locations.iter().enumerate() {
            if !l.access.is_open() {
                ctx.error(
                    format!("{label}.location[{j}]"),
                    "require_verified and allow rules need a verified client certificate, but this server's verify_client is off: no request could ever be admitted (set verify_client = \"optional\" or \"on\")",
                );
            }
        }
    }
    let set_real_ip_from = validate_real_ip_from(&label, raw.set_real_ip_from, ctx);

    let (tls, client_auth) = (tls?, client_auth?);
    if !ok {
        return None;
    }
    Some(Server {
        label,
        listen,
        names,
        tls,
        client_auth: Arc::new(client_auth),
        locations,
        underscores_in_headers: raw.underscores_in_headers.unwrap_or(false),
        server_tokens: raw.server_tokens.unwrap_or(true),
        limits,
        proxy_protocol: raw.proxy_protocol.unwrap_or(false),
        set_real_ip_from,
    })
}

/// `set_real_ip_from`: addresses or CIDR ranges of trusted PROXY senders.
fn validate_real_ip_from(
    label: &str,
    raw: Option<OneOrMany<String>>,
    ctx: &mut Ctx<'_>,
) -> Vec<crate::proxy_protocol::IpNet> {
    let mut nets = Vec::new();
    for (j, text) in raw
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match text.trim().parse() {
            Ok(net) => nets.push(net),
            Err(problem) => ctx.error(format!("{label}.set_real_ip_from[{j}]"), problem),
        }
    }
    nets
}

fn validate_limits(label: &str, raw: &RawServer, ctx: &mut Ctx<'_>) -> Limits {
    let mut size = |key: &str, value: &Option<RawSize>, default: u64, min: u64, max: u64| -> u64 {
        match value.as_ref().map(size::parse) {
            None => default,
            Some(Ok(n)) if (min..=max).contains(&n) || n == 0 && min == 0 => n,
            Some(Ok(n)) => {
                ctx.error(
                    format!("{label}.{key}"),
                    format!("{n} bytes is out of range ({min} to {max})"),
                );
                default
            }
            Some(Err(problem)) => {
                ctx.error(format!("{label}.{key}"), problem);
                default
            }
        }
    };
    let client_max_body_size = size(
        "client_max_body_size",
        &raw.client_max_body_size,
        defaults::CLIENT_MAX_BODY_SIZE,
        0,
        u64::MAX,
    );
    let max_request_header_size = size(
        "max_request_header_size",
        &raw.max_request_header_size,
        widen(defaults::MAX_REQUEST_HEADER_SIZE),
        8 << 10,
        1 << 20,
    );
    let max_proxy_header_size = size(
        "max_proxy_header_size",
        &raw.max_proxy_header_size,
        widen(defaults::MAX_PROXY_HEADER_SIZE),
        1 << 10,
        1 << 20,
    );
    let mut count = |key: &str, value: Option<i64>, default: u32, max: i64| -> u32 {
        match value {
            None => default,
            Some(n) if (1..=max).contains(&n) => u32::try_from(n).unwrap_or(u32::MAX),
            Some(n) => {
                ctx.error(
                    format!("{label}.{key}"),
                    format!("{n} is out of range (1 to {max})"),
                );
                default
            }
        }
    };
    let max_request_headers = count(
        "max_request_headers",
        raw.max_request_headers,
        u32::try_from(defaults::MAX_REQUEST_HEADERS).unwrap_or(u32::MAX),
        1000,
    );
    let http2_max_concurrent_streams = count(
        "http2_max_concurrent_streams",
        raw.http2_max_concurrent_streams,
        defaults::HTTP2_MAX_CONCURRENT_STREAMS,
        10_000,
    );
    let mut timeout = |key: &str, value: &Option<RawDuration>, default: Duration| {
        let d = ctx.duration(&format!("{label}.{key}"), value.as_ref(), default);
        if d.is_zero() {
            ctx.error(format!("{label}.{key}"), "must be more than 0");
        }
        d
    };
    // Each is within its range above, far below usize::MAX.
    let max_request_header_size = narrow(max_request_header_size);
    let max_proxy_header_size = narrow(max_proxy_header_size);
    let max_request_headers = narrow(u64::from(max_request_headers));
    Limits {
        client_header_timeout: timeout(
            "client_header_timeout",
            &raw.client_header_timeout,
            defaults::CLIENT_HEADER_TIMEOUT,
        ),
        client_body_timeout: timeout(
            "client_body_timeout",
            &raw.client_body_timeout,
            defaults::CLIENT_BODY_TIMEOUT,
        ),
        keepalive_timeout: timeout(
            "keepalive_timeout",
            &raw.keepalive_timeout,
            defaults::KEEPALIVE_TIMEOUT,
        ),
        send_timeout: timeout("send_timeout", &raw.send_timeout, defaults::SEND_TIMEOUT),
        client_max_body_size,
        max_request_header_size,
        max_request_headers,
        http2_max_concurrent_streams,
        max_proxy_header_size,
        // 0 is allowed: no lingering (nginx's meaning of `lingering_timeout 0`).
        lingering_time: ctx.duration(
            &format!("{label}.lingering_time"),
            raw.lingering_time.as_ref(),
            defaults::LINGERING_TIME,
        ),
        lingering_timeout: ctx.duration(
            &format!("{label}.lingering_timeout"),
            raw.lingering_timeout.as_ref(),
            defaults::LINGERING_TIMEOUT,
        ),
    }
}

/// A size or count as u64 (usize is at most 64 bits on every target).
fn widen(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A validated size or count as usize (saturating; the ranges checked
/// above are far below it).
fn narrow(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
