//! Raw configuration → validated [`Config`](super::Config) parts.
//!
//! Every check pushes a [`ConfigError`] naming its key and carries on, so a
//! user sees all problems in one run (`mtls-gateway check`).

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use indexmap::IndexMap;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::raw::{
    OneOrMany, RawClientAuth, RawConfig, RawDuration, RawLocation, RawServer, RawSize, RawTls,
    RawUpstream,
};
use super::{
    AccessLog, AccessLogFormat, Action, ClientAuth, ConfigError, CrlCheck, CrlExpired, FailureMode,
    Global, Limits, Location, Match, Protocol, ProxySpec, ReturnSpec, Server, ServerName, Tls,
    UpstreamKeepalive, UpstreamServer, VerifyMode, defaults, duration, size,
};
use crate::template::{Target, Template};
use crate::verify::{CrlRecord, TrustStore};

struct Ctx<'a> {
    base: &'a Path,
    errors: &'a mut Vec<ConfigError>,
    /// Every file the configuration names.
    files: Vec<PathBuf>,
}

impl Ctx<'_> {
    fn error(&mut self, key: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.into(),
            problem: problem.into(),
        });
    }

    fn resolve(&mut self, file: &str) -> PathBuf {
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

    fn duration(&mut self, key: &str, raw: Option<&RawDuration>, default: Duration) -> Duration {
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

/// Headers whose meaning belongs to the connection between the gateway and
/// the upstream; `proxy_set_header` may only blank them (nginx idiom
/// `Connection ""`).
const CONNECTION_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

pub(super) fn validate(
    raw: RawConfig,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> (Global, Vec<Server>, Vec<PathBuf>) {
    let mut ctx = Ctx {
        base,
        errors,
        files: Vec::new(),
    };
    let global = validate_global(&raw, &mut ctx);
    let upstreams = validate_upstreams(&raw.upstream, &mut ctx);
    if raw.server.is_empty() {
        ctx.error("server", "no [[server]] block: nothing to serve");
    }
    let mut servers = Vec::new();
    let mut used_upstreams = HashSet::new();
    for (i, server) in raw.server.into_iter().enumerate() {
        if let Some(s) = validate_server(i, server, &upstreams, &mut used_upstreams, &mut ctx) {
            servers.push(s);
        }
    }
    check_name_conflicts(&servers, &mut ctx);
    if let Some(admin) = global.admin
        && servers.iter().any(|s| s.listen.contains(&admin))
    {
        ctx.error(
            "admin.listen",
            format!("{admin} is also a server's listen address"),
        );
    }
    (global, servers, ctx.files)
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
        None | Some("stderr") => AccessLog::Stderr,
        Some("off") => AccessLog::Off,
        Some("") => {
            ctx.error(
                "access_log",
                "empty: use \"stderr\", \"off\" or a file path",
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
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            ctx.error(
                "max_connections",
                format!("{n} is out of range (1 to 1000000)"),
            );
            defaults::MAX_CONNECTIONS
        }
    };
    Global {
        max_connections,
        pid,
        shutdown_timeout,
        watch: raw.watch.unwrap_or(false),
        access_log,
        access_log_format,
        admin,
    }
}

fn validate_upstreams(
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

fn is_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `host:port`, `[v6]:port` or `host` (default port).
fn parse_host_port(text: &str, default_port: u16) -> Result<UpstreamServer, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty address".into());
    }
    if text.contains("://") || text.contains('/') {
        return Err(format!(
            "{text:?} is not host:port (no scheme or path here; e.g. \"127.0.0.1:8080\")"
        ));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| format!("{text:?}: missing `]` after IPv6 address"))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{text:?}: unexpected text after `]`")),
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{text:?}: {host:?} is not an IPv6 address"));
        }
        (host.to_string(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(format!(
                    "{text:?}: write IPv6 addresses in brackets, e.g. \"[::1]:8080\""
                ));
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{text:?}: invalid port {p:?}"))?,
    };
    if host.is_empty() {
        return Err(format!("{text:?}: missing host"));
    }
    Ok(UpstreamServer {
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn parse_listen(text: &str) -> Result<Vec<SocketAddr>, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Some(port) = text.strip_prefix("*:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{text:?}: invalid port"))?;
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    match text.to_socket_addrs() {
        Ok(addrs) => {
            let mut addrs: Vec<_> = addrs.collect();
            addrs.dedup();
            if addrs.is_empty() {
                Err(format!("{text:?} resolves to no address"))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(format!(
            "{text:?} is not an address to listen on (e.g. \"0.0.0.0:3443\", \"[::]:3443\", \"3443\"): {e}"
        )),
    }
}

fn parse_server_name(text: &str) -> Result<Option<ServerName>, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "_" {
        // nginx's catch-all spellings: they match nothing by name.
        return Ok(None);
    }
    if name.starts_with('~') {
        return Err(format!(
            "{text:?}: regular-expression server names are not supported"
        ));
    }
    let (kind, body): (fn(String) -> ServerName, &str) = if let Some(rest) = name.strip_prefix("*.")
    {
        (|s| ServerName::WildcardPrefix(format!(".{s}")), rest)
    } else if let Some(rest) = name.strip_prefix('.') {
        (ServerName::DomainAndSubdomains, rest)
    } else {
        (ServerName::Exact, name.as_str())
    };
    let valid = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']'));
    if !valid {
        return Err(format!("{text:?} is not a host name"));
    }
    Ok(Some(kind(body.to_string())))
}

fn validate_server(
    index: usize,
    raw: RawServer,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<Server> {
    let label = format!("server[{index}]");
    let mut ok = true;
    let limits = validate_limits(&label, &raw, ctx);

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
    let inherited = Inherited {
        headers: server_headers.as_deref(),
        connect,
        read,
        send,
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
    })
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
        defaults::MAX_REQUEST_HEADER_SIZE as u64,
        8 << 10,
        1 << 20,
    ) as usize;
    let max_proxy_header_size = size(
        "max_proxy_header_size",
        &raw.max_proxy_header_size,
        defaults::MAX_PROXY_HEADER_SIZE as u64,
        1 << 10,
        1 << 20,
    ) as usize;
    let mut count = |key: &str, value: Option<i64>, default: u32, max: i64| -> u32 {
        match value {
            None => default,
            Some(n) if (1..=max).contains(&n) => n as u32,
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
        defaults::MAX_REQUEST_HEADERS as u32,
        1000,
    ) as usize;
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
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no `-----BEGIN CERTIFICATE-----` block found",
            path.display()
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(c) {
            return Err(format!(
                "{}: certificate #{} does not parse: {e}",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM; encrypted keys are not supported): {e}",
            path.display()
        )
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

type LoadedCrls = (Vec<webpki::CertRevocationList<'static>>, Vec<CrlRecord>);

/// Every CRL of a PEM file (nginx's `ssl_crl`: several in one file).
fn read_crls(path: &Path) -> Result<LoadedCrls, String> {
    use rustls_pki_types::CertificateRevocationListDer;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ders = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if ders.is_empty() {
        return Err(format!(
            "{}: no `-----BEGIN X509 CRL-----` block found",
            path.display()
        ));
    }
    let mut crls = Vec::new();
    let mut info = Vec::new();
    for (i, der) in ders.iter().enumerate() {
        let owned = webpki::OwnedCertRevocationList::from_der(der.as_ref())
            .map_err(|e| format!("{}: CRL #{} is not usable: {e:?}", path.display(), i + 1))?;
        let (_, parsed) = x509_parser::parse_x509_crl(der.as_ref())
            .map_err(|e| format!("{}: CRL #{} does not parse: {e}", path.display(), i + 1))?;
        info.push(CrlRecord {
            issuer_dn: parsed.issuer().to_string(),
            issuer_der: parsed.issuer().as_raw().to_vec(),
            next_update: parsed.next_update().map(|t| t.timestamp()),
            revoked_serials: parsed
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
        });
        crls.push(webpki::CertRevocationList::from(owned));
    }
    Ok((crls, info))
}

fn validate_tls(label: &str, raw: RawTls, ctx: &mut Ctx<'_>) -> Option<Tls> {
    let key = format!("{label}.tls");
    let cert_path = raw.certificate.as_deref().map(|p| ctx.resolve(p));
    let key_path = raw.certificate_key.as_deref().map(|p| ctx.resolve(p));
    let chain = match &cert_path {
        None => {
            ctx.error(
                format!("{key}.certificate"),
                "missing: the server certificate chain (PEM, leaf first)",
            );
            None
        }
        Some(p) => match read_certs(p) {
            Ok(c) => Some(c),
            Err(problem) => {
                ctx.error(format!("{key}.certificate"), problem);
                None
            }
        },
    };
    let private_key = match &key_path {
        None => {
            ctx.error(
                format!("{key}.certificate_key"),
                "missing: the server private key (PEM)",
            );
            None
        }
        Some(p) => match read_key(p) {
            Ok(k) => Some(k),
            Err(problem) => {
                ctx.error(format!("{key}.certificate_key"), problem);
                None
            }
        },
    };
    let mut certified_key = None;
    if let (Some(chain), Some(private_key)) = (chain, private_key) {
        check_server_cert_dates(&format!("{key}.certificate"), &chain[0], ctx);
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        match CertifiedKey::from_der(chain, private_key, &provider) {
            Ok(ck) => match ck.keys_match() {
                Ok(()) => certified_key = Some(Arc::new(ck)),
                Err(e) => ctx.error(
                    format!("{key}.certificate_key"),
                    format!("does not match the certificate's public key ({e})"),
                ),
            },
            Err(rustls::Error::InconsistentKeys(_)) => ctx.error(
                format!("{key}.certificate_key"),
                "does not match the certificate's public key (is it the key of another certificate?)",
            ),
            Err(e) => ctx.error(
                format!("{key}.certificate_key"),
                format!("unusable private key: {e}"),
            ),
        }
    }

    let mut protocols = Vec::new();
    for (j, p) in raw
        .protocols
        .unwrap_or_else(|| vec!["TLSv1.2".into(), "TLSv1.3".into()])
        .iter()
        .enumerate()
    {
        let proto = match p.as_str() {
            "TLSv1.2" => Protocol::Tls12,
            "TLSv1.3" => Protocol::Tls13,
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                ctx.error(
                    format!("{key}.protocols[{j}]"),
                    format!("{p} is not supported (only TLSv1.2 and TLSv1.3 are implemented)"),
                );
                continue;
            }
            other => {
                ctx.error(
                    format!("{key}.protocols[{j}]"),
                    format!("unknown protocol {other:?} (use \"TLSv1.2\" and/or \"TLSv1.3\")"),
                );
                continue;
            }
        };
        if !protocols.contains(&proto) {
            protocols.push(proto);
        }
    }
    if protocols.is_empty() {
        ctx.error(format!("{key}.protocols"), "no usable protocol left");
    }
    let session_cache = match raw.session_cache {
        None => 0,
        Some(n) if (0..=10_000_000).contains(&n) => n as usize,
        Some(n) => {
            ctx.error(
                format!("{key}.session_cache"),
                format!("{n} is out of range (0 = off, at most 10000000 sessions)"),
            );
            0
        }
    };
    let session_timeout = ctx.duration(
        &format!("{key}.session_timeout"),
        raw.session_timeout.as_ref(),
        defaults::SESSION_TIMEOUT,
    );
    if session_timeout.is_zero() {
        ctx.error(format!("{key}.session_timeout"), "must be more than 0");
    }
    let handshake_timeout = ctx.duration(
        &format!("{key}.handshake_timeout"),
        raw.handshake_timeout.as_ref(),
        defaults::HANDSHAKE_TIMEOUT,
    );
    if handshake_timeout.is_zero() {
        ctx.error(format!("{key}.handshake_timeout"), "must be more than 0");
    }
    Some(Tls {
        certificate: cert_path?,
        certificate_key: key_path?,
        certified_key: certified_key?,
        protocols,
        session_timeout,
        session_cache,
        session_tickets: raw.session_tickets.unwrap_or(true),
        handshake_timeout,
    })
}

/// A server certificate that every client will reject is a configuration
/// error, not something to discover from user reports.
fn check_server_cert_dates(key: &str, leaf: &CertificateDer<'_>, ctx: &mut Ctx<'_>) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let validity = cert.validity();
    if validity.not_after.timestamp() < now {
        ctx.error(
            key,
            format!("the server certificate expired on {}", validity.not_after),
        );
    } else if validity.not_before.timestamp() > now {
        ctx.error(
            key,
            format!(
                "the server certificate is not valid before {}",
                validity.not_before
            ),
        );
    }
}

fn validate_client_auth(label: &str, raw: RawClientAuth, ctx: &mut Ctx<'_>) -> Option<ClientAuth> {
    let key = format!("{label}.client_auth");
    let mut ok = true;
    let mode = match raw.verify_client.as_deref().unwrap_or("off") {
        "off" => VerifyMode::Off,
        "on" => VerifyMode::On,
        "optional" => VerifyMode::Optional,
        "optional_no_ca" => VerifyMode::OptionalNoCa,
        other => {
            ctx.error(
                format!("{key}.verify_client"),
                format!(
                    "{other:?} is not one of \"on\", \"optional\", \"optional_no_ca\", \"off\""
                ),
            );
            ok = false;
            VerifyMode::Off
        }
    };
    let failure = match raw.failure.as_deref().unwrap_or("http") {
        "http" => FailureMode::Http,
        "handshake" => FailureMode::Handshake,
        other => {
            ctx.error(
                format!("{key}.failure"),
                format!("{other:?} is not one of \"http\" (nginx's 400 page) or \"handshake\" (TLS alert)"),
            );
            ok = false;
            FailureMode::Http
        }
    };
    let verify_depth = match raw.verify_depth {
        None => defaults::VERIFY_DEPTH,
        Some(d) if (0..=i64::from(defaults::MAX_VERIFY_DEPTH)).contains(&d) => d as u32,
        Some(d) => {
            ctx.error(
                format!("{key}.verify_depth"),
                format!(
                    "{d} is out of range: 0 to {} intermediates between the client certificate and the root",
                    defaults::MAX_VERIFY_DEPTH
                ),
            );
            ok = false;
            defaults::VERIFY_DEPTH
        }
    };
    let load = |name: &str, value: &Option<String>, ctx: &mut Ctx<'_>| match value {
        None => Some(Vec::new()),
        Some(file) => match read_certs(&ctx.resolve(file)) {
            Ok(c) => Some(c),
            Err(problem) => {
                ctx.error(format!("{key}.{name}"), problem);
                None
            }
        },
    };
    let advertised = load("client_certificate", &raw.client_certificate, ctx);
    let trusted = load("trusted_certificate", &raw.trusted_certificate, ctx);
    let (advertised, trusted) = (advertised?, trusted?);
    if matches!(mode, VerifyMode::On | VerifyMode::Optional)
        && advertised.is_empty()
        && trusted.is_empty()
    {
        ctx.error(
            format!("{key}.client_certificate"),
            "verify_client needs a CA: set client_certificate (trusted and advertised) or trusted_certificate",
        );
        ok = false;
    }
    let crl_check = match raw.crl_check.as_deref().unwrap_or("chain") {
        "chain" => CrlCheck::Chain,
        "leaf" => CrlCheck::Leaf,
        other => {
            ctx.error(
                format!("{key}.crl_check"),
                format!("{other:?} is not one of \"chain\", \"leaf\""),
            );
            ok = false;
            CrlCheck::Chain
        }
    };
    let crl_expired = match raw.crl_expired.as_deref().unwrap_or("reject") {
        "reject" => CrlExpired::Reject,
        "accept" => CrlExpired::Accept,
        other => {
            ctx.error(
                format!("{key}.crl_expired"),
                format!("{other:?} is not one of \"reject\", \"accept\""),
            );
            ok = false;
            CrlExpired::Reject
        }
    };
    let (crls, crl_records) = match &raw.crl {
        None => (Vec::new(), Vec::new()),
        Some(file) => {
            let path = ctx.resolve(file);
            match read_crls(&path) {
                Ok(loaded) => loaded,
                Err(problem) => {
                    ctx.error(format!("{key}.crl"), problem);
                    ok = false;
                    (Vec::new(), Vec::new())
                }
            }
        }
    };
    if raw.crl.is_none() && (raw.crl_check.is_some() || raw.crl_expired.is_some()) {
        ctx.error(
            format!("{key}.crl"),
            "crl_check / crl_expired need a `crl` file",
        );
        ok = false;
    }
    let trust = match TrustStore::new(&advertised, &trusted) {
        Ok(t) => t,
        Err(problem) => {
            ctx.error(format!("{key}.client_certificate"), problem);
            return None;
        }
    };
    if matches!(mode, VerifyMode::On | VerifyMode::Optional) && !trust.has_anchor() {
        ctx.error(
            format!("{key}.client_certificate"),
            "no self-signed root CA in client_certificate or trusted_certificate: no client chain could ever verify (as in nginx, an intermediate alone is not a trust anchor)",
        );
        ok = false;
    }
    let now = unix_now();
    for record in &crl_records {
        let issuer = &record.issuer_dn;
        if record.next_update.is_some_and(|n| n < now) {
            tracing::warn!(
                "{key}.crl: the CRL of {issuer} is past its nextUpdate; {}",
                match crl_expired {
                    CrlExpired::Reject => "clients under that CA get FAILED:CRL has expired",
                    CrlExpired::Accept => "crl_expired = \"accept\" keeps using it",
                }
            );
        }
    }
    ok.then_some(ClientAuth {
        mode,
        failure,
        verify_depth,
        trust,
        crls,
        crl_records,
        crl_check,
        crl_expired,
    })
}

struct Inherited<'a> {
    headers: Option<&'a [(HeaderName, Template)]>,
    connect: Duration,
    read: Duration,
    send: Duration,
}

fn validate_headers(
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

fn validate_location(
    key: &str,
    raw: RawLocation,
    inherited: &Inherited<'_>,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<Location> {
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
            if raw.proxy_set_header.is_some() {
                ctx.error(
                    format!("{key}.proxy_set_header"),
                    "only meaningful with proxy_pass",
                );
            }
            validate_return(&format!("{key}.return"), ret, ctx).map(Action::Return)
        }
        (None, Some(target)) => {
            let headers = match &raw.proxy_set_header {
                Some(h) => validate_headers(&format!("{key}.proxy_set_header"), h, ctx),
                None => inherited.headers.map(<[_]>::to_vec).unwrap_or_default(),
            };
            validate_proxy_pass(
                &format!("{key}.proxy_pass"),
                &target,
                upstreams,
                used_upstreams,
                ctx,
            )
            .map(|(proxy_host, servers, keepalive)| {
                Action::Proxy(Box::new(ProxySpec {
                    target,
                    proxy_host,
                    servers,
                    set_headers: headers,
                    connect_timeout: connect,
                    read_timeout: read,
                    send_timeout: send,
                    keepalive,
                }))
            })
        }
    };
    let matcher = matcher?;
    let label = match &matcher {
        Match::Prefix(p) => format!("location {p}"),
        Match::Exact(p) => format!("location = {p}"),
    };
    Some(Location {
        label,
        matcher,
        action: action?,
    })
}

fn validate_return(key: &str, raw: super::raw::RawReturn, ctx: &mut Ctx<'_>) -> Option<ReturnSpec> {
    let status = match raw.status {
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
    let ct = raw.content_type.as_deref().unwrap_or("text/plain");
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
    })
}

fn validate_proxy_pass(
    key: &str,
    target: &str,
    upstreams: &HashMap<String, (Vec<UpstreamServer>, UpstreamKeepalive)>,
    used_upstreams: &mut HashSet<String>,
    ctx: &mut Ctx<'_>,
) -> Option<(String, Vec<UpstreamServer>, UpstreamKeepalive)> {
    let Some(rest) = target.strip_prefix("http://") else {
        if target.starts_with("https://") {
            ctx.error(
                key,
                "TLS to the upstream (https://) is not supported yet; use http://",
            );
        } else {
            ctx.error(key, format!("{target:?} must start with http://"));
        }
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
        return Some((authority.to_string(), servers.clone(), *keepalive));
    }
    match parse_host_port(authority, 80) {
        Ok(server) => {
            if !authority.contains(':')
                && !authority.starts_with('[')
                && server.host.parse::<std::net::IpAddr>().is_err()
            {
                // A bare name that is not an upstream: most likely a typo.
                ctx.error(
                    key,
                    format!("no [upstream.{authority}] is defined (to proxy to a host directly, give its port: http://{authority}:80)"),
                );
                return None;
            }
            // $proxy_host: host[:port] as written, port omitted when 80.
            let proxy_host = if server.port == 80 {
                if server.host.contains(':') {
                    format!("[{}]", server.host)
                } else {
                    server.host.clone()
                }
            } else {
                server.to_string()
            };
            Some((proxy_host, vec![server], UpstreamKeepalive::default()))
        }
        Err(problem) => {
            ctx.error(key, problem);
            None
        }
    }
}

/// The same server name twice on one listen address makes the second block
/// unreachable; nginx warns and ignores it, we refuse.
fn check_name_conflicts(servers: &[Server], ctx: &mut Ctx<'_>) {
    let mut seen: HashMap<(SocketAddr, String), &str> = HashMap::new();
    for server in servers {
        for addr in &server.listen {
            for name in &server.names {
                let k = (*addr, name.as_written());
                if let Some(first) = seen.get(&k) {
                    if *first != server.label {
                        ctx.error(
                            format!("{}.server_name", server.label),
                            format!("{} on {addr} is already used by {first}", k.1),
                        );
                    }
                } else {
                    seen.insert(k, &server.label);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("127.0.0.1:8080", 80).unwrap(),
            UpstreamServer {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(parse_host_port("backend.local", 80).unwrap().port, 80);
        assert_eq!(parse_host_port("[::1]:9000", 80).unwrap().host, "::1");
        assert!(
            parse_host_port("::1:9000", 80)
                .unwrap_err()
                .contains("brackets")
        );
        assert!(parse_host_port("h:0", 80).is_err());
        assert!(parse_host_port("http://h:1", 80).is_err());
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("3443").unwrap(),
            vec!["0.0.0.0:3443".parse().unwrap()]
        );
        assert_eq!(
            parse_listen("*:3443").unwrap(),
            vec!["0.0.0.0:3443".parse().unwrap()]
        );
        assert_eq!(
            parse_listen("[::]:3443").unwrap(),
            vec!["[::]:3443".parse().unwrap()]
        );
        assert!(parse_listen("nonsense").is_err());
    }

    #[test]
    fn server_name_kinds() {
        assert_eq!(
            parse_server_name("Local.Trusted.com.").unwrap(),
            Some(ServerName::Exact("local.trusted.com".into()))
        );
        let wild = parse_server_name("*.example.com").unwrap().unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("aexample.com"));
        let dom = parse_server_name(".example.com").unwrap().unwrap();
        assert!(dom.matches("example.com"));
        assert!(dom.matches("x.y.example.com"));
        assert!(!dom.matches("badexample.com"));
        assert_eq!(parse_server_name("_").unwrap(), None);
        assert!(parse_server_name("~^re$").is_err());
    }
}
