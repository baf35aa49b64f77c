//! From nginx directives to the gateway's configuration.
//!
//! Every `server` with an `ssl` listener becomes a `[[server]]`; what it
//! inherits from `http` is merged in as nginx merges it (a level that has any
//! occurrence of a directive replaces the parent's, which is nginx's rule for
//! `proxy_set_header` and, for single-valued directives, the only possible
//! one). Each directive is then looked up in [`rules::RULES`]; the ones that
//! cannot be carried over become one [`Warning`] each (reported once even
//! when several servers inherit the directive).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::emit::{self, Document, Keys, Value};
use super::load::Loaded;
use super::parser::Directive;
use super::rules::{self, Conv, Feature, Place};
use crate::config::raw::{RawDuration, RawSize};
use crate::template::{Target, Template};

/// The gateway accepts `verify_depth` up to this (docs/configuration.md).
const MAX_VERIFY_DEPTH: i64 = 6;
/// nginx: "one megabyte of the cache can store about 4000 sessions".
const SESSIONS_PER_MIB: u64 = 4000;
/// nginx's `builtin` cache size when none is given.
const BUILTIN_SESSIONS: i64 = 20480;
/// Arguments shown in a warning's directive (enough for `if (...)`).
const MAX_SHOWN_ARGS: usize = 6;
/// Answer of a location whose handler could not be carried: closed rather
/// than falling through to another location.
const FAIL_CLOSED_STATUS: i64 = 502;

/// One directive not carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `file:line`
    pub at: String,
    pub directive: String,
    pub why: String,
    pub todo: String,
    /// Dropping it weakens who gets through or what a backend sees.
    pub security: bool,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}{}: not carried over: {}; {}",
            self.at,
            if self.security { "[security] " } else { "" },
            self.directive,
            self.why,
            self.todo
        )
    }
}

/// The result of a conversion.
#[derive(Debug)]
pub struct Conversion {
    pub toml: String,
    pub warnings: Vec<Warning>,
    /// How many `[[server]]` blocks were written.
    pub servers: usize,
}

/// Why nothing could be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "no server block with an `ssl` listener and a certificate was found: nothing to convert"
    )]
    NothingToConvert,
}

/// Converts `loaded`; relative paths in the output are relative to
/// `out_dir` when the file lies under it, else absolute.
///
/// # Errors
/// No server could be converted.
pub fn convert(loaded: &Loaded, out_dir: Option<&Path>) -> Result<Conversion, ConvertError> {
    convert_with(loaded, out_dir, rules::supported)
}

/// [`convert`] for a gateway that supports the features `supported` says
/// (tests check the keys of features still being built this way).
///
/// # Errors
/// No server could be converted.
pub fn convert_with(
    loaded: &Loaded,
    out_dir: Option<&Path>,
    supported: fn(Feature) -> bool,
) -> Result<Conversion, ConvertError> {
    let mut cx = Cx {
        supported,
        loaded,
        out_dir,
        warnings: Vec::new(),
        seen: HashSet::new(),
        upstream_blocks: IndexMap::new(),
        upstreams: IndexMap::new(),
        verify_on: false,
    };
    let mut http: Vec<&Directive> = Vec::new();
    let mut servers: Vec<&Directive> = Vec::new();
    let mut main_level: Vec<&Directive> = Vec::new();
    for d in &loaded.directives {
        match d.name.as_str() {
            "http" => {
                for inner in d.block.iter().flatten() {
                    match inner.name.as_str() {
                        "server" => servers.push(inner),
                        "upstream" => {
                            if let Some(name) = inner.args.first() {
                                cx.upstream_blocks.entry(name.clone()).or_insert(inner);
                            }
                        }
                        _ => http.push(inner),
                    }
                }
            }
            _ => main_level.push(d),
        }
    }
    let mut doc = Document::default();
    let main = loaded
        .files
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    doc.header = vec![
        format!("Converted by `mtls-gateway import-nginx` from {main}."),
        "Check it with `mtls-gateway check --config FILE` before use.".into(),
    ];
    for d in main_level {
        cx.main_level(d, &mut doc.top);
    }
    for d in &http {
        if d.name == "access_log" {
            cx.access_log(d, &mut doc.top);
        }
    }
    // nginx makes an address TLS for every server if any listen on it says `ssl`.
    let mut ssl_addrs: HashSet<String> = HashSet::new();
    for s in &servers {
        for l in own(s).filter(|d| d.name == "listen") {
            if l.args.iter().skip(1).any(|a| a == "ssl")
                && let Some(Ok(addr)) = l.args.first().map(|a| listen_addr(a))
            {
                ssl_addrs.insert(addr);
            }
        }
    }
    let http_scope: Vec<&Directive> = http
        .iter()
        .copied()
        .filter(|d| d.name != "access_log")
        .collect();
    let mut converted: Vec<(emit::Server, Vec<String>)> = Vec::new();
    for s in &servers {
        if let Some(server) = cx.server(s, &http_scope, &ssl_addrs) {
            converted.push(server);
        }
    }
    if converted.is_empty() {
        return Err(ConvertError::NothingToConvert);
    }
    cx.dual_stack(&mut converted);
    let mut converted = cx.order_defaults(converted);
    cx.unique_names(&mut converted);
    let servers_written = converted.len();
    doc.servers = converted.into_iter().map(|(s, _)| s).collect();
    doc.upstreams = std::mem::take(&mut cx.upstreams);
    Ok(Conversion {
        toml: doc.render(),
        warnings: cx.warnings,
        servers: servers_written,
    })
}

/// The directives of a block (none for a simple directive).
fn own(d: &Directive) -> impl Iterator<Item = &Directive> {
    d.block.iter().flatten()
}

/// nginx's inheritance: the parent's directives, minus every name the child
/// sets itself, then the child's. The flag says whether the item is the
/// child's own.
fn merge<'a>(
    parent: &[(&'a Directive, bool)],
    child: impl Iterator<Item = &'a Directive>,
) -> Vec<(&'a Directive, bool)> {
    let child: Vec<&Directive> = child.collect();
    let names: HashSet<&str> = child.iter().map(|d| d.name.as_str()).collect();
    let mut out: Vec<(&Directive, bool)> = parent
        .iter()
        .filter(|(d, _)| !names.contains(d.name.as_str()))
        .map(|(d, _)| (*d, false))
        .collect();
    out.extend(child.into_iter().map(|d| (d, true)));
    out
}

/// A listen address as the gateway writes it.
fn listen_addr(arg: &str) -> Result<String, &'static str> {
    if arg.starts_with("unix:") {
        return Err("UNIX-domain sockets are not supported");
    }
    if arg.contains('$') {
        return Err("variables are not allowed here");
    }
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("0.0.0.0:{arg}"));
    }
    if let Some(port) = arg.strip_prefix("*:") {
        return Ok(format!("0.0.0.0:{port}"));
    }
    if arg.starts_with('[') {
        return Ok(if arg.ends_with(']') {
            format!("{arg}:80")
        } else {
            arg.to_string()
        });
    }
    if arg.contains(':') {
        return Ok(arg.to_string());
    }
    if arg == "*" {
        return Ok("0.0.0.0:80".into());
    }
    Ok(format!("{arg}:80"))
}

/// What a location answers with.
enum Handler {
    Return(Value),
    Proxy(String),
}

struct Cx<'a> {
    loaded: &'a Loaded,
    out_dir: Option<&'a Path>,
    warnings: Vec<Warning>,
    seen: HashSet<(usize, u32, String)>,
    upstream_blocks: IndexMap<String, &'a Directive>,
    upstreams: IndexMap<String, emit::Upstream>,
    /// The server being converted has `ssl_verify_client on`.
    verify_on: bool,
    supported: fn(Feature) -> bool,
}

impl<'a> Cx<'a> {
    fn at(&self, d: &Directive) -> String {
        let file = self
            .loaded
            .files
            .get(d.file)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        format!("{file}:{}", d.line)
    }

    /// Records a warning, once per directive.
    fn warn(
        &mut self,
        d: &Directive,
        why: impl Into<String>,
        todo: impl Into<String>,
        security: bool,
    ) {
        if !self.seen.insert((d.file, d.line, d.name.clone())) {
            return;
        }
        // The directive as written (a long one shortened), `)` glued back
        // to the word before it as in `if (...)`.
        let mut directive = d.name.clone();
        for a in d.args.iter().take(MAX_SHOWN_ARGS) {
            if a != ")" {
                directive.push(' ');
            }
            directive.push_str(a);
        }
        if d.args.len() > MAX_SHOWN_ARGS {
            directive.push_str(" ...");
        }
        self.warnings.push(Warning {
            at: self.at(d),
            directive,
            why: why.into(),
            todo: todo.into(),
            security,
        });
    }

    fn unknown(&mut self, d: &Directive) {
        let security = rules::unknown_is_security(&d.name);
        self.warn(
            d,
            "import-nginx does not know this directive",
            "check whether the gateway needs an equivalent (docs/configuration.md)",
            security,
        );
    }

    /// A path as nginx resolves it (against the prefix), written relative to
    /// the output's folder when it lies under it.
    fn path(&self, p: &str) -> String {
        let full: PathBuf = self.loaded.prefix.join(p);
        if let Some(dir) = self.out_dir
            && let Ok(rel) = full.strip_prefix(dir)
        {
            return rel.display().to_string();
        }
        full.display().to_string()
    }

    /// A directive of nginx's main context: the process settings the
    /// gateway shares (`worker_processes`, `worker_shutdown_timeout`) become
    /// top-level keys, the rest is boilerplate or dropped.
    fn main_level(&mut self, d: &Directive, top: &mut Keys) {
        match d.name.as_str() {
            "worker_processes" => {
                match d.args.as_slice() {
                    // The gateway's default: nothing to write.
                    [auto] if auto == "auto" => {}
                    [n] => match n.parse::<i64>() {
                        Ok(n) if n >= 1 => top.set("worker_processes", Value::Int(n)),
                        _ => self.warn(
                            d,
                            "expected `auto` or a number of at least 1",
                            "set `worker_processes` by hand",
                            false,
                        ),
                    },
                    _ => self.warn(
                        d,
                        "expected one value",
                        "set `worker_processes` by hand",
                        false,
                    ),
                }
                return;
            }
            "worker_shutdown_timeout" => {
                if let Some(v) = self.value(d, Conv::Duration) {
                    top.set("shutdown_timeout", v);
                }
                return;
            }
            _ => {}
        }
        match rules::find(&d.name).map(|r| r.place) {
            Some(Place::Silent) => {}
            Some(Place::Drop(why, todo)) => self.warn(d, why, todo, false),
            _ => self.unknown(d),
        }
    }

    fn access_log(&mut self, d: &Directive, top: &mut Keys) {
        match d.args.as_slice() {
            [off] if off == "off" => top.set("access_log", Value::Str("off".into())),
            [path] => {
                top.set("access_log", Value::Str(self.path(path)));
                top.set("access_log_format", Value::Str("combined".into()));
            }
            [path, format] if format == "combined" => {
                top.set("access_log", Value::Str(self.path(path)));
                top.set("access_log_format", Value::Str("combined".into()));
            }
            _ => self.warn(
                d,
                "the gateway writes nginx's `combined` format or JSON, without buffering options",
                "set `access_log` and `access_log_format` at the top of the output",
                false,
            ),
        }
    }

    /// The value of a table-driven directive, or `None` after a warning.
    fn value(&mut self, d: &Directive, conv: Conv) -> Option<Value> {
        let one = match d.args.as_slice() {
            [a] => Some(a.as_str()),
            _ => None,
        };
        let bad = |cx: &mut Self, why: String| {
            cx.warn(d, why, "set the key by hand", false);
            None
        };
        match conv {
            Conv::Duration => {
                let Some(a) = one else {
                    return bad(self, "expected one value".into());
                };
                match crate::config::duration::parse(&RawDuration::Text(a.into())) {
                    Ok(_) => Some(Value::Str(a.into())),
                    Err(e) => bad(self, e.to_string()),
                }
            }
            Conv::Size => {
                let Some(a) = one else {
                    return bad(self, "expected one value".into());
                };
                match crate::config::size::parse(&RawSize::Text(a.into())) {
                    Ok(_) => Some(Value::Str(a.into())),
                    Err(e) => bad(self, e.to_string()),
                }
            }
            Conv::Int => match one.map(str::parse::<i64>) {
                Some(Ok(n)) => Some(Value::Int(n)),
                _ => bad(self, "expected one number".into()),
            },
            Conv::OnOff => match one {
                Some("on") => Some(Value::Bool(true)),
                Some("off") => Some(Value::Bool(false)),
                _ => bad(self, "expected `on` or `off`".into()),
            },
            Conv::Str => match one {
                Some(a) if !a.contains('$') => Some(Value::Str(a.into())),
                _ => bad(self, "expected one value without variables".into()),
            },
            Conv::Path => match one {
                Some(a)
                    if !a.contains('$') && !a.starts_with("data:") && !a.starts_with("engine:") =>
                {
                    Some(Value::Str(self.path(a)))
                }
                _ => bad(
                    self,
                    "only a plain file path is supported (no variables, data: or engine:)".into(),
                ),
            },
            Conv::PathList => Some(Value::List(d.args.iter().map(|a| self.path(a)).collect())),
            Conv::StrList => Some(Value::List(d.args.clone())),
        }
    }

    /// Applies a table rule that writes one key; `None` when the directive
    /// is not table-driven.
    fn table_key(&mut self, d: &Directive) -> Option<(Place, Option<Value>)> {
        let rule = rules::find(&d.name)?;
        let (Place::Server(_, conv)
        | Place::Tls(_, conv)
        | Place::ClientAuth(_, conv)
        | Place::Location(_, conv)) = rule.place
        else {
            return None;
        };
        if let Some(feature) = rule.feature
            && !(self.supported)(feature)
        {
            self.needs(d, feature, rule.security);
            return Some((rule.place, None));
        }
        Some((rule.place, self.value(d, conv)))
    }

    fn needs(&mut self, d: &Directive, feature: Feature, security: bool) {
        self.warn(
            d,
            format!("needs a gateway that supports {}", feature.keys()),
            "upgrade the gateway, then run import-nginx again",
            security,
        );
    }

    /// One server block; `None` (after a warning) when it has no TLS
    /// listener or no certificate. Also returns the addresses on which it is
    /// the `default_server`.
    fn server(
        &mut self,
        s: &'a Directive,
        http: &[&'a Directive],
        ssl_addrs: &HashSet<String>,
    ) -> Option<(emit::Server, Vec<String>)> {
        let mut out = emit::Server {
            source: self.at(s),
            ..Default::default()
        };
        let mut listen = Vec::new();
        let mut defaults = Vec::new();
        let is_ssl = |l: &Directive| {
            l.args
                .first()
                .and_then(|a| listen_addr(a).ok())
                .is_some_and(|a| ssl_addrs.contains(&a))
        };
        if !own(s).any(|d| d.name == "listen" && is_ssl(d)) {
            // One warning for the whole server, not one per directive in it.
            self.warn(
                s,
                "a server without an ssl listener is not converted (the gateway serves TLS only)",
                "nothing, if it only redirected to https",
                false,
            );
            return None;
        }
        for l in own(s).filter(|d| d.name == "listen") {
            let Some(first) = l.args.first() else {
                continue;
            };
            let addr = match listen_addr(first) {
                Ok(a) => a,
                Err(why) => {
                    self.warn(l, why, "listen on a TCP address", false);
                    continue;
                }
            };
            if !ssl_addrs.contains(&addr) {
                self.warn(
                    l,
                    "a plain-HTTP listener (the gateway serves TLS only)",
                    "keep a plain-HTTP server elsewhere if you need one (e.g. a redirect to https)",
                    false,
                );
                continue;
            }
            let mut ignored = Vec::new();
            for p in l.args.iter().skip(1) {
                match p.as_str() {
                    "ssl" | "http2" => {}
                    "default_server" | "default" => defaults.push(addr.clone()),
                    "proxy_protocol" => {
                        if (self.supported)(Feature::ProxyProtocol) {
                            out.keys.set("proxy_protocol", Value::Bool(true));
                        } else {
                            ignored.push(format!(
                                "{p} (needs a gateway that supports {})",
                                Feature::ProxyProtocol.keys()
                            ));
                        }
                    }
                    other => ignored.push(other.to_string()),
                }
            }
            if !ignored.is_empty() {
                self.warn(
                    l,
                    format!("listen parameters not supported: {}", ignored.join(", ")),
                    "nothing, or tune the socket outside the gateway",
                    false,
                );
            }
            if !listen.contains(&addr) {
                listen.push(addr);
            }
        }
        if listen.is_empty() {
            // Its ssl listeners were all unusable (each has its warning).
            return None;
        }
        out.keys.set("listen", Value::List(listen));
        let mut names = Vec::new();
        for n in own(s).filter(|d| d.name == "server_name") {
            for name in &n.args {
                if name.starts_with('~') || name.contains('$') {
                    self.warn(
                        n,
                        format!("regular-expression or variable server name {name:?}"),
                        "list the names; a client sending this name now reaches the address's default server and its client_auth",
                        true,
                    );
                } else {
                    names.push(name.clone());
                }
            }
        }
        if !names.is_empty() {
            out.keys.set("server_name", Value::List(names));
        }

        let http_items: Vec<(&Directive, bool)> = http.iter().map(|d| (*d, false)).collect();
        let scope = merge(
            &http_items,
            own(s).filter(|d| !matches!(d.name.as_str(), "listen" | "server_name")),
        );
        self.verify_on = scope.iter().any(|(d, _)| {
            d.name == "ssl_verify_client" && d.args.first().is_some_and(|a| a == "on")
        });
        let mut locations: Vec<&Directive> = Vec::new();
        let mut server_return: Option<Value> = None;
        let mut require_verified = false;
        let mut real_ip_proxy_protocol = false;
        let mut psh: Option<Vec<(String, String)>> = None;
        let mut body_size: Option<String> = None;
        for (d, _) in &scope {
            let d: &Directive = d;
            match d.name.as_str() {
                "location" => locations.push(d),
                "return" => {
                    // A return that cannot be carried still answers every
                    // request (closed), never letting them reach a location.
                    server_return = Some(self.return_value(d).unwrap_or_else(|| {
                        Value::Table(vec![("status".into(), Value::Int(FAIL_CLOSED_STATUS))])
                    }));
                }
                "if" => {
                    if self.verify_idiom(d) {
                        require_verified = !self.verify_on;
                    }
                }
                "proxy_set_header" => {
                    if let Some(h) = self.header(d) {
                        psh.get_or_insert_with(Vec::new).push(h);
                    }
                }
                "proxy_redirect" => self.proxy_redirect(d),
                "ssl_session_cache" => {
                    if let Some(n) = self.session_cache(d) {
                        out.tls.set("session_cache", Value::Int(n));
                    }
                }
                "ssl_protocols" => self.protocols(d, &mut out.tls),
                "ssl_verify_depth" => match d.args.first().map(|a| a.parse::<i64>()) {
                    Some(Ok(n)) if (0..=MAX_VERIFY_DEPTH).contains(&n) => {
                        out.client_auth.set("verify_depth", Value::Int(n));
                    }
                    Some(Ok(n)) if n > MAX_VERIFY_DEPTH => {
                        out.client_auth
                            .set("verify_depth", Value::Int(MAX_VERIFY_DEPTH));
                        self.warn(
                            d,
                            format!("the gateway accepts at most {MAX_VERIFY_DEPTH} intermediates; written as {MAX_VERIFY_DEPTH}"),
                            "nothing, unless your clients send longer chains (they will be refused)",
                            false,
                        );
                    }
                    _ => self.warn(d, "expected one number", "set `verify_depth` by hand", true),
                },
                "client_max_body_size" => {
                    if let Some(v) = self.value(d, Conv::Size) {
                        if let Value::Str(s) = &v {
                            body_size = Some(s.clone());
                        }
                        out.keys.set("client_max_body_size", v);
                    }
                }
                "client_header_timeout" => {
                    if let Some(v) = self.value(d, Conv::Duration) {
                        out.tls.set("handshake_timeout", v.clone());
                        out.keys.set("client_header_timeout", v);
                    }
                }
                "real_ip_header" => {
                    if d.args.first().is_some_and(|a| a == "proxy_protocol")
                        && (self.supported)(Feature::ProxyProtocol)
                    {
                        real_ip_proxy_protocol = true;
                    } else if d.args.first().is_some_and(|a| a == "proxy_protocol") {
                        self.needs(d, Feature::ProxyProtocol, false);
                    } else {
                        self.warn(
                            d,
                            "the gateway takes the client address only from the connection or a PROXY protocol header",
                            "nothing; the backend sees the balancer's address in X-Real-IP",
                            false,
                        );
                    }
                }
                // Judged in each location, which inherits them.
                "allow" | "deny" => {}
                "proxy_pass" => self.warn(d, "proxy_pass belongs in a location", "move it", false),
                // Location keys are written on each location.
                _ if matches!(
                    rules::find(&d.name).map(|r| r.place),
                    Some(Place::Location(..))
                ) => {}
                _ => self.server_directive(d, &mut out),
            }
        }
        if !real_ip_proxy_protocol {
            // Without `real_ip_header proxy_protocol` nginx takes the address
            // from a header, which the gateway does not do (real_ip_header
            // has its warning).
            out.keys.0.shift_remove("set_real_ip_from");
        }
        if out.tls.0.get("certificate").is_none() || out.tls.0.get("certificate_key").is_none() {
            self.warn(
                s,
                "this ssl server has no ssl_certificate/ssl_certificate_key the gateway can use",
                "add [server.tls] certificate and certificate_key",
                false,
            );
            return None;
        }
        out.proxy_set_header = psh;
        let server_items: Vec<(&Directive, bool)> =
            scope.iter().map(|(d, _)| (*d, false)).collect();
        if let Some(ret) = server_return {
            // A server-level return answers every request before any location.
            let mut l = emit::Location {
                source: out.source.clone(),
                ..Default::default()
            };
            l.keys.set("prefix", Value::Str("/".into()));
            l.keys.set("return", ret);
            out.locations.push(l);
        } else {
            for l in locations {
                self.location(
                    l,
                    &server_items,
                    require_verified,
                    body_size.as_deref(),
                    None,
                    &mut out.locations,
                );
            }
        }
        if out.locations.is_empty() {
            // nginx serves its default location from files here.
            let mut l = emit::Location {
                source: out.source.clone(),
                ..Default::default()
            };
            l.keys.set("prefix", Value::Str("/".into()));
            l.keys.set(
                "return",
                Value::Table(vec![("status".into(), Value::Int(404))]),
            );
            out.locations.push(l);
            self.warn(
                s,
                "no location could be converted: nginx would serve files from its root",
                "the gateway answers 404 on every path; add a proxy location",
                false,
            );
        }
        Some((out, defaults))
    }

    /// A server-scope directive driven by the table.
    fn server_directive(&mut self, d: &Directive, out: &mut emit::Server) {
        let Some(rule) = rules::find(&d.name) else {
            self.unknown(d);
            return;
        };
        match rule.place {
            Place::Special if d.name == "access_log" => self.warn(
                d,
                "the gateway writes one access log for all servers",
                "set `access_log` at the top of the output",
                false,
            ),
            Place::Silent | Place::Special => {}
            Place::Drop(why, todo) => self.warn(d, why, todo, rule.security),
            Place::Server(key, _) | Place::Tls(key, _) | Place::ClientAuth(key, _) => {
                if let Some((place, Some(v))) = self.table_key(d) {
                    let target = match place {
                        Place::Tls(..) => &mut out.tls,
                        Place::ClientAuth(..) => &mut out.client_auth,
                        _ => &mut out.keys,
                    };
                    match (target.0.get_mut(key), v) {
                        // Repeated list directives add up
                        // (`ssl_session_ticket_key`, `set_real_ip_from`).
                        (Some(Value::List(have)), Value::List(more)) => have.extend(more),
                        // nginx takes a second ssl_certificate as another key
                        // type; the gateway has one certificate per server.
                        (Some(_), _) => self.warn(
                            d,
                            "the gateway takes one value per server; the first is kept",
                            "nothing, or choose the one to keep",
                            false,
                        ),
                        (None, v) => target.set(key, v),
                    }
                }
            }
            Place::Location(..) => {}
        }
    }

    /// `if ($ssl_client_verify != SUCCESS) { return 403; }`: `true` when it
    /// is that idiom and can be carried; a security warning otherwise.
    fn verify_idiom(&mut self, d: &Directive) -> bool {
        // The condition's words with spaces removed: `($ssl_client_verify
        // != "SUCCESS")` and `( $ssl_client_verify != SUCCESS )` alike (the
        // lexer has already removed the quotes).
        let cond: String = d.args.concat();
        let idiom_cond = cond == "($ssl_client_verify!=SUCCESS)";
        let body: Vec<&Directive> = own(d).collect();
        let idiom_body = matches!(body.as_slice(), [r] if r.name == "return" && r.args == ["403"]);
        if !(idiom_cond && idiom_body) {
            self.warn(
                d,
                "`if` blocks other than `if ($ssl_client_verify != SUCCESS) { return 403; }` are not supported",
                "express the condition in the backend, or with the gateway's verify_client modes",
                true,
            );
            return false;
        }
        if self.verify_on {
            // Every request that gets through has SUCCESS: the block is a no-op.
            return true;
        }
        if !(self.supported)(Feature::RequireVerified) {
            self.needs(d, Feature::RequireVerified, true);
            return false;
        }
        true
    }

    fn return_value(&mut self, d: &Directive) -> Option<Value> {
        let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
        let (status, rest) = match args.as_slice() {
            [url]
                if url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("$scheme") =>
            {
                (302, Some(*url))
            }
            [code] => (code.parse().unwrap_or(0), None),
            [code, rest] => (code.parse().unwrap_or(0), Some(*rest)),
            _ => (0, None),
        };
        if !(200..=999).contains(&status) || status == 444 {
            self.warn(
                d,
                "the gateway returns an HTTP status from 200 to 999 (nginx's 444 closes the connection)",
                "write `return` by hand",
                false,
            );
            return None;
        }
        let mut pairs = vec![("status".to_string(), Value::Int(status))];
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        if let Some(text) = rest {
            let target = if redirect {
                Target::Header
            } else {
                Target::Body
            };
            if let Err(e) = Template::parse(text, target) {
                self.warn(
                    d,
                    format!("the text cannot be carried: {e}"),
                    "write `return` by hand",
                    false,
                );
                return None;
            }
            pairs.push((
                if redirect { "url" } else { "text" }.to_string(),
                Value::Str(text.into()),
            ));
        } else if redirect {
            self.warn(
                d,
                "a redirect without a URL",
                "write `return` by hand",
                false,
            );
            return None;
        }
        Some(Value::Table(pairs))
    }

    fn header(&mut self, d: &Directive) -> Option<(String, String)> {
        let [name, value] = d.args.as_slice() else {
            self.warn(
                d,
                "expected a name and a value",
                "set the header by hand",
                true,
            );
            return None;
        };
        let identity = value.contains("$ssl_client") || value.contains("${ssl_client");
        let lower = name.to_ascii_lowercase();
        if crate::config::CONNECTION_HEADERS.contains(&lower.as_str()) {
            if !value.is_empty() {
                self.warn(
                    d,
                    "the gateway sets the connection headers to the upstream itself (WebSocket upgrades are not proxied)",
                    "nothing",
                    false,
                );
            }
            return None;
        }
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.warn(d, "not a valid header name", "fix the name", identity);
            return None;
        }
        if let Err(e) = Template::parse(value, Target::Header) {
            self.warn(
                d,
                format!("the value cannot be carried: {e}"),
                "compute it in the backend, or use one of the gateway's variables (docs/configuration.md)",
                true,
            );
            return None;
        }
        Some((name.clone(), value.clone()))
    }

    fn proxy_redirect(&mut self, d: &Directive) {
        if !matches!(d.args.first().map(String::as_str), Some("off" | "default")) {
            self.warn(
                d,
                "the gateway never rewrites Location headers",
                "make the backend send the public URL",
                false,
            );
        }
    }

    fn session_cache(&mut self, d: &Directive) -> Option<i64> {
        let mut sessions: Option<i64> = None;
        for a in &d.args {
            if a == "off" || a == "none" {
                return Some(0);
            }
            if a == "builtin" {
                sessions.get_or_insert(BUILTIN_SESSIONS);
            } else if let Some(n) = a.strip_prefix("builtin:") {
                if let Ok(n) = n.parse() {
                    sessions.get_or_insert(n);
                }
            } else if let Some(rest) = a.strip_prefix("shared:") {
                let size = rest.rsplit_once(':').map(|(_, s)| s).unwrap_or("");
                if let Ok(bytes) = crate::config::size::parse(&RawSize::Text(size.into())) {
                    let n = bytes.saturating_mul(SESSIONS_PER_MIB) / (1024 * 1024);
                    // The shared cache is what nginx's workers use between them.
                    sessions = Some(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
        if sessions.is_none() {
            self.warn(
                d,
                "unrecognised cache specification",
                "set `session_cache` (a number of sessions) by hand",
                false,
            );
        }
        sessions
    }

    fn protocols(&mut self, d: &Directive, tls: &mut Keys) {
        let (kept, dropped): (Vec<&String>, Vec<&String>) = d
            .args
            .iter()
            .partition(|p| matches!(p.as_str(), "TLSv1.2" | "TLSv1.3"));
        if !dropped.is_empty() {
            let dropped: Vec<&str> = dropped.iter().map(|s| s.as_str()).collect();
            self.warn(
                d,
                format!("the gateway does not implement {}", dropped.join(", ")),
                "clients limited to these versions cannot connect; upgrade them",
                false,
            );
        }
        if !kept.is_empty() {
            tls.set(
                "protocols",
                Value::List(kept.into_iter().cloned().collect()),
            );
        }
    }

    /// One location (and its nested ones, flattened) into `out`.
    fn location(
        &mut self,
        d: &'a Directive,
        parent: &[(&'a Directive, bool)],
        require_verified: bool,
        server_body_size: Option<&str>,
        parent_headers: Option<&[(String, String)]>,
        out: &mut Vec<emit::Location>,
    ) {
        let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
        let (kind, path) = match args.as_slice() {
            ["=", p] => ("exact", p.to_string()),
            ["^~", p] => ("prefix", p.to_string()),
            [p] if p.starts_with("^~") => ("prefix", p.trim_start_matches("^~").to_string()),
            [p] if p.starts_with('=') => ("exact", p.trim_start_matches('=').to_string()),
            [p] if p.starts_with('@') => {
                self.warn(
                    d,
                    "named locations are not supported (nothing can jump to them)",
                    "nothing",
                    false,
                );
                return;
            }
            [p] if !p.starts_with('~') => ("prefix", p.to_string()),
            _ => {
                self.warn(
                    d,
                    "regular-expression locations are not supported; requests they matched now reach the longest matching prefix location",
                    "write prefix or exact locations for these paths",
                    true,
                );
                return;
            }
        };
        let mut l = emit::Location {
            source: self.at(d),
            ..Default::default()
        };
        l.keys.set(kind, Value::Str(path));
        let scope = merge(parent, own(d).filter(|i| i.name != "location"));
        let mut handler: Option<Handler> = None;
        let mut require = require_verified;
        let mut psh: Option<Vec<(String, String)>> = None;
        let mut location_keys = Keys::default();
        let mut denies_all = false;
        let mut access_rules: Vec<&Directive> = Vec::new();
        let mut serves_files: Option<&Directive> = None;
        for (item, is_own) in &scope {
            let item: &Directive = item;
            // Access rules are inherited (from the server and a parent
            // location) as nginx inherits them.
            match item.name.as_str() {
                "deny" if item.args.first().is_some_and(|a| a == "all") => {
                    denies_all = true;
                    continue;
                }
                "allow" | "deny" => {
                    access_rules.push(item);
                    continue;
                }
                _ => {}
            }
            if !is_own {
                // Inherited: only the location keys matter here; the rest
                // was judged at the server (or parent location).
                if matches!(
                    rules::find(&item.name).map(|r| r.place),
                    Some(Place::Location(..))
                ) && let Some((Place::Location(key, _), Some(v))) = self.table_key(item)
                {
                    location_keys.set(key, v);
                }
                continue;
            }
            match item.name.as_str() {
                "return" => {
                    if handler.is_none() || matches!(handler, Some(Handler::Proxy(_))) {
                        match self.return_value(item) {
                            Some(v) => handler = Some(Handler::Return(v)),
                            None => {
                                handler = Some(Handler::Return(Value::Table(vec![(
                                    "status".into(),
                                    Value::Int(FAIL_CLOSED_STATUS),
                                )])))
                            }
                        }
                    }
                }
                "proxy_pass" => {
                    if handler.is_none() {
                        handler = Some(self.proxy_pass(item, &l));
                    }
                }
                "if" => {
                    if self.verify_idiom(item) {
                        require = !self.verify_on;
                    }
                }
                "proxy_set_header" => {
                    if let Some(h) = self.header(item) {
                        psh.get_or_insert_with(Vec::new).push(h);
                    }
                }
                "proxy_redirect" => self.proxy_redirect(item),
                "client_max_body_size" => {
                    if item.args.first().map(String::as_str) != server_body_size {
                        self.warn(
                            item,
                            "the gateway sets client_max_body_size per server, not per location",
                            "set it on the server (it then applies to every location)",
                            false,
                        );
                    }
                }
                "root" | "alias" | "try_files" | "index" | "autoindex" => {
                    serves_files.get_or_insert(item);
                    self.server_directive(item, &mut emit::Server::default());
                }
                _ => match rules::find(&item.name).map(|r| r.place) {
                    Some(Place::Location(..)) => {
                        if let Some((Place::Location(key, _), Some(v))) = self.table_key(item) {
                            location_keys.set(key, v);
                        }
                    }
                    Some(Place::Server(..) | Place::Tls(..) | Place::ClientAuth(..)) => self.warn(
                        item,
                        "the gateway sets this per server, not per location",
                        "set it on the server",
                        false,
                    ),
                    _ => self.server_directive(item, &mut emit::Server::default()),
                },
            }
        }
        // nginx's `return` runs before the access rules: it wins over them.
        let returns = own(d).any(|i| i.name == "return");
        if denies_all && access_rules.is_empty() {
            if !returns {
                handler = Some(Handler::Return(Value::Table(vec![(
                    "status".into(),
                    Value::Int(403),
                )])));
            }
        } else {
            for r in access_rules {
                self.warn(
                    r,
                    "access rules by client address are not supported",
                    "filter by address in front of the gateway or in the backend",
                    true,
                );
            }
            if denies_all && !returns {
                // `deny all` mixed with `allow` rules: closed is the safe side.
                handler = Some(Handler::Return(Value::Table(vec![(
                    "status".into(),
                    Value::Int(403),
                )])));
            }
        }
        let handler = handler.unwrap_or_else(|| {
            if serves_files.is_none() {
                self.warn(
                    d,
                    "this location has no proxy_pass or return: nginx would serve files from its root",
                    "the gateway answers 404 here; add proxy_pass or return",
                    false,
                );
            }
            Handler::Return(Value::Table(vec![("status".into(), Value::Int(404))]))
        });
        // A nested location without proxy_set_header of its own inherits
        // its parent location's (the gateway's own inheritance is from the
        // server only).
        let headers = psh.or_else(|| parent_headers.map(<[_]>::to_vec));
        match handler {
            Handler::Return(v) => {
                l.keys.set("return", v);
            }
            Handler::Proxy(target) => {
                let tls = target.starts_with("https://");
                l.keys.set("proxy_pass", Value::Str(target));
                for (k, v) in location_keys.0 {
                    // nginx ignores proxy_ssl_* for http:// (the gateway
                    // refuses them there).
                    if tls || !k.starts_with("proxy_ssl_") {
                        l.keys.set(&k, v);
                    }
                }
                if tls && !l.keys.0.contains_key("proxy_ssl_verify") {
                    // nginx's default is off, the gateway's on: keep what
                    // nginx did, and say so.
                    l.keys.set("proxy_ssl_verify", Value::Bool(false));
                    if let Some(p) = own(d).find(|i| i.name == "proxy_pass") {
                        self.warn(
                            p,
                            "nginx did not verify this upstream's certificate (proxy_ssl_verify is off by default there); written as proxy_ssl_verify = false",
                            "set proxy_ssl_trusted_certificate and remove proxy_ssl_verify = false (the gateway verifies by default)",
                            false,
                        );
                    }
                }
                l.proxy_set_header = headers.clone();
            }
        }
        if require && (self.supported)(Feature::RequireVerified) {
            l.keys.set("require_verified", Value::Bool(true));
        }
        out.push(l);
        let nested_parent: Vec<(&Directive, bool)> = scope
            .iter()
            .filter(|(i, _)| !matches!(i.name.as_str(), "return" | "proxy_pass" | "if"))
            .map(|(i, _)| (*i, false))
            .collect();
        for nested in own(d).filter(|i| i.name == "location") {
            self.location(
                nested,
                &nested_parent,
                require,
                server_body_size,
                headers.as_deref(),
                out,
            );
        }
    }

    /// The `proxy_pass` target, or a fail-closed answer after a warning.
    fn proxy_pass(&mut self, d: &Directive, l: &emit::Location) -> Handler {
        let closed = Handler::Return(Value::Table(vec![(
            "status".into(),
            Value::Int(FAIL_CLOSED_STATUS),
        )]));
        let Some(target) = d.args.first() else {
            return closed;
        };
        let (scheme, rest) = if let Some(r) = target.strip_prefix("http://") {
            ("http", r)
        } else if let Some(r) = target.strip_prefix("https://") {
            ("https", r)
        } else {
            self.warn(
                d,
                "only http:// and https:// upstreams are supported",
                "the location answers 502",
                false,
            );
            return closed;
        };
        if scheme == "https" && !(self.supported)(Feature::UpstreamTls) {
            self.needs(d, Feature::UpstreamTls, false);
            return closed;
        }
        let (authority, uri) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let path = match l.keys.0.get("prefix").or_else(|| l.keys.0.get("exact")) {
            Some(Value::Str(p)) => p.as_str(),
            _ => "",
        };
        // `location / { proxy_pass http://b/; }` maps every path to itself.
        let same_path = uri.is_empty() || (uri == "/" && path == "/");
        if !same_path {
            self.warn(
                d,
                "a URI part in proxy_pass (nginx replaces the location's prefix with it) is not supported",
                "the location answers 502; make the backend accept the original path and write proxy_pass without a URI",
                false,
            );
            return closed;
        }
        if authority.contains('$') || authority.starts_with("unix:") {
            self.warn(
                d,
                "variables and UNIX sockets in proxy_pass are not supported",
                "the location answers 502",
                false,
            );
            return closed;
        }
        if let Some(block) = self.upstream_blocks.get(authority).copied() {
            if self.upstream(authority, block) {
                return Handler::Proxy(format!("{scheme}://{authority}"));
            }
            return closed;
        }
        let has_port = authority.starts_with('[') && authority.contains("]:")
            || (!authority.starts_with('[') && authority.contains(':'));
        if has_port {
            Handler::Proxy(format!("{scheme}://{authority}"))
        } else {
            let port = if scheme == "https" { 443 } else { 80 };
            Handler::Proxy(format!("{scheme}://{authority}:{port}"))
        }
    }

    /// Converts an upstream block once; `false` if it has no usable server.
    fn upstream(&mut self, name: &str, block: &'a Directive) -> bool {
        if self.upstreams.contains_key(name) {
            return true;
        }
        let mut u = emit::Upstream {
            source: self.at(block),
            ..Default::default()
        };
        let mut servers = Vec::new();
        for d in own(block) {
            match d.name.as_str() {
                "server" => {
                    let Some(addr) = d.args.first() else { continue };
                    let params: Vec<&str> = d.args.iter().skip(1).map(String::as_str).collect();
                    if params.contains(&"down") {
                        continue;
                    }
                    if params.contains(&"backup") {
                        self.warn(
                            d,
                            "backup servers are not supported",
                            "nothing; the gateway never sends to it",
                            false,
                        );
                        continue;
                    }
                    if addr.starts_with("unix:") {
                        self.warn(
                            d,
                            "UNIX-domain sockets are not supported",
                            "listen on loopback TCP in the backend",
                            false,
                        );
                        continue;
                    }
                    let ignored: Vec<&str> = params
                        .into_iter()
                        .filter(|p| !p.starts_with("weight=1"))
                        .collect();
                    if !ignored.is_empty() {
                        self.warn(
                            d,
                            format!("server parameters not supported: {}", ignored.join(" ")),
                            "nothing; servers are used round-robin and skipped for the next connection when they fail",
                            false,
                        );
                    }
                    let has_port = if addr.starts_with('[') {
                        addr.contains("]:")
                    } else {
                        addr.contains(':')
                    };
                    servers.push(if has_port {
                        addr.clone()
                    } else {
                        format!("{addr}:80")
                    });
                }
                "keepalive" => {
                    if let Some(v) = self.value(d, Conv::Int) {
                        u.keys.set("keepalive", v);
                    }
                }
                "keepalive_timeout" => {
                    if let Some(v) = self.value(d, Conv::Duration) {
                        u.keys.set("keepalive_timeout", v);
                    }
                }
                "zone" => {}
                _ => self.warn(
                    d,
                    "the gateway balances round-robin with keep-alive pools only",
                    "nothing",
                    false,
                ),
            }
        }
        if servers.is_empty() {
            self.warn(
                block,
                "no usable server in this upstream",
                "its locations answer 502",
                false,
            );
            return false;
        }
        u.keys
            .0
            .shift_insert(0, "server".into(), Value::List(servers));
        self.upstreams.insert(name.to_string(), u);
        true
    }

    /// nginx's default server of an address is the one whose `listen` says
    /// `default_server`, else the first; the gateway's is the first server
    /// listing the address. Orders the servers so that each address's
    /// first is nginx's default (file order otherwise); where the defaults
    /// contradict each other, a security warning names the address (its
    /// clients without SNI, or with an unknown name, get another server's
    /// client_auth).
    fn order_defaults(
        &mut self,
        servers: Vec<(emit::Server, Vec<String>)>,
    ) -> Vec<(emit::Server, Vec<String>)> {
        let listens: Vec<Vec<String>> = servers
            .iter()
            .map(|(s, _)| match s.keys.0.get("listen") {
                Some(Value::List(l)) => l.clone(),
                _ => Vec::new(),
            })
            .collect();
        let mut desired: IndexMap<&str, usize> = IndexMap::new();
        for (i, (_, defaults)) in servers.iter().enumerate() {
            for a in defaults {
                desired.entry(a.as_str()).or_insert(i);
            }
        }
        for (i, l) in listens.iter().enumerate() {
            for a in l {
                desired.entry(a.as_str()).or_insert(i);
            }
        }
        // `before[j]`: servers that must come before server j.
        let mut before: Vec<HashSet<usize>> = vec![HashSet::new(); servers.len()];
        for (a, &d) in &desired {
            for (j, l) in listens.iter().enumerate() {
                if j != d
                    && l.iter().any(|x| x == a)
                    && let Some(set) = before.get_mut(j)
                {
                    set.insert(d);
                }
            }
        }
        // Kahn's algorithm, taking the earliest ready server each time so
        // that file order is kept where nothing forces another.
        let mut order: Vec<usize> = Vec::with_capacity(servers.len());
        let mut placed = vec![false; servers.len()];
        while order.len() < servers.len() {
            let ready =
                (0..servers.len()).find(|&j| !placed[j] && before[j].iter().all(|b| placed[*b]));
            // A cycle: place the earliest remaining server and go on.
            let Some(next) = ready.or_else(|| (0..servers.len()).find(|&j| !placed[j])) else {
                break;
            };
            placed[next] = true;
            order.push(next);
        }
        for (a, &d) in &desired {
            let first = order
                .iter()
                .copied()
                .find(|&j| listens[j].iter().any(|x| x == a));
            if first.is_some_and(|f| f != d) {
                let at = servers[d].0.source.clone();
                self.warnings.push(Warning {
                    at,
                    directive: format!("listen {a} default_server"),
                    why: "the default servers of several addresses contradict each other; the gateway's default for this address is another server".into(),
                    todo: "give this server its own address, or make the defaults agree".into(),
                    security: true,
                });
            }
        }
        let mut slots: Vec<Option<(emit::Server, Vec<String>)>> =
            servers.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take))
            .collect()
    }

    /// nginx binds `[::]:P` IPv6-only beside `0.0.0.0:P`; the gateway's
    /// `[::]` listener is dual-stack (Linux's default), so binding both
    /// fails. One `[::]:P` listener then serves both families.
    fn dual_stack(&mut self, servers: &mut [(emit::Server, Vec<String>)]) {
        let listens = |s: &emit::Server| match s.keys.0.get("listen") {
            Some(Value::List(l)) => l.clone(),
            _ => Vec::new(),
        };
        let all: HashSet<String> = servers.iter().flat_map(|(s, _)| listens(s)).collect();
        for (s, defaults) in servers.iter_mut() {
            let mut merged = Vec::new();
            let mut changed = Vec::new();
            for a in listens(s) {
                let v6 = a
                    .strip_prefix("0.0.0.0:")
                    .map(|port| format!("[::]:{port}"))
                    .filter(|v6| all.contains(v6));
                let a = match v6 {
                    Some(v6) => {
                        changed.push(a);
                        v6
                    }
                    None => a,
                };
                if !merged.contains(&a) {
                    merged.push(a);
                }
            }
            for d in defaults.iter_mut() {
                if let Some(port) = d.strip_prefix("0.0.0.0:")
                    && all.contains(&format!("[::]:{port}"))
                {
                    *d = format!("[::]:{port}");
                }
            }
            if changed.is_empty() {
                continue;
            }
            s.keys.set("listen", Value::List(merged));
            self.warnings.push(Warning {
                at: s.source.clone(),
                directive: format!("listen {}", changed.join(", ")),
                why: "the gateway's [::] listener also accepts IPv4 (dual-stack), so the IPv4 wildcard is served by it; IPv4 clients appear as ::ffff:a.b.c.d in $remote_addr".into(),
                todo: "nothing, or listen on IPv4 only if the backend needs plain IPv4 addresses".into(),
                security: false,
            });
        }
    }

    /// nginx ignores a server name repeated on one address (with a
    /// warning); the gateway refuses it, so later copies are dropped here.
    fn unique_names(&mut self, servers: &mut [(emit::Server, Vec<String>)]) {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for (s, _) in servers.iter_mut() {
            let listen = match s.keys.0.get("listen") {
                Some(Value::List(l)) => l.clone(),
                _ => continue,
            };
            let Some(Value::List(names)) = s.keys.0.get_mut("server_name") else {
                continue;
            };
            let mut dropped = Vec::new();
            names.retain(|n| {
                let lower = n.to_ascii_lowercase();
                if lower.is_empty() || lower == "_" {
                    return true;
                }
                let fresh = listen
                    .iter()
                    .all(|a| !seen.contains(&(a.clone(), lower.clone())));
                if fresh {
                    for a in &listen {
                        seen.insert((a.clone(), lower.clone()));
                    }
                } else {
                    dropped.push(n.clone());
                }
                fresh
            });
            if !dropped.is_empty() {
                self.warnings.push(Warning {
                    at: s.source.clone(),
                    directive: format!("server_name {}", dropped.join(" ")),
                    why: "the name is already used by an earlier server on the same address (nginx ignores it too)".into(),
                    todo: "nothing".into(),
                    security: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::convert_text;
    use super::super::{load::Loaded, parser};
    use super::{Feature, convert_with};
    use std::path::Path;

    /// A TLS server around `body`, converted: (TOML, warnings as text).
    fn server(body: &str) -> (String, Vec<String>) {
        let text = format!(
            "http {{ server {{\n listen 443 ssl;\n ssl_certificate s.pem;\n ssl_certificate_key k.pem;\n{body}\n}} }}"
        );
        let c = convert_text(&text, Path::new("/etc/nginx/nginx.conf")).unwrap();
        (c.toml, c.warnings.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn ipv4_and_ipv6_wildcards_become_one_dual_stack_listener() {
        let (toml, w) = server(" listen [::]:443 ssl;\n location / { return 200; }");
        assert!(toml.contains("listen = [\"[::]:443\"]"), "{toml}");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("listen 0.0.0.0:443"), "{w:?}");
    }

    /// `text` (a whole nginx.conf) converted: (TOML, warnings as text).
    fn whole(text: &str) -> (String, Vec<String>) {
        let c = convert_text(text, Path::new("/etc/nginx/nginx.conf")).unwrap();
        (c.toml, c.warnings.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn worker_processes_and_worker_shutdown_timeout_are_carried() {
        let http = "http { server {\n listen 443 ssl;\n ssl_certificate s.pem;\n ssl_certificate_key k.pem;\n location / { return 200; }\n} }";
        let (toml, w) = whole(&format!(
            "user www-data;\nworker_processes auto;\nworker_shutdown_timeout 20s;\n{http}"
        ));
        assert!(w.is_empty(), "{w:?}");
        // `auto` is the gateway's default.
        assert!(!toml.contains("worker_processes"), "{toml}");
        assert!(toml.contains("shutdown_timeout = \"20s\"\n"), "{toml}");
        let (toml, w) = whole(&format!("worker_processes 4;\n{http}"));
        assert!(w.is_empty(), "{w:?}");
        assert!(toml.contains("worker_processes = 4\n"), "{toml}");
        // Top-level keys, before the first table.
        assert!(toml.find("worker_processes").unwrap() < toml.find("[[server]]").unwrap());
        for bad in ["0", "many", "2 3"] {
            let (toml, w) = whole(&format!("worker_processes {bad};\n{http}"));
            assert!(!toml.contains("worker_processes"), "{bad}: {toml}");
            assert!(
                w.iter().any(|l| l.contains("worker_processes")),
                "{bad}: {w:?}"
            );
        }
        let (toml, w) = whole(&format!("worker_shutdown_timeout soon;\n{http}"));
        assert!(!toml.contains("shutdown_timeout"), "{toml}");
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn a_directive_with_the_wrong_arity_is_warned_not_lost() {
        let (toml, w) = server(" keepalive_timeout 65 60;\n location / { return 200; }");
        assert!(!toml.contains("keepalive_timeout"), "{toml}");
        assert!(
            w.iter()
                .any(|l| l.starts_with("/etc/nginx/nginx.conf:5: keepalive_timeout 65 60")),
            "{w:?}"
        );
    }

    #[test]
    fn per_server_access_logs_are_warned() {
        let (_, w) = server(" access_log /var/log/a.log;\n location / { return 200; }");
        assert!(w.iter().any(|l| l.contains("access_log")), "{w:?}");
    }

    #[test]
    fn a_server_level_return_answers_every_path() {
        let (toml, w) = server(" return 403;\n location /api { proxy_pass http://127.0.0.1:9; }");
        assert!(w.is_empty(), "{w:?}");
        assert!(
            toml.contains("prefix = \"/\"\nreturn = { status = 403 }"),
            "{toml}"
        );
        assert!(!toml.contains("/api"), "{toml}");
    }

    #[test]
    fn nested_locations_are_flattened_with_what_they_inherit() {
        let (toml, w) = server(
            " location /a {\n  proxy_read_timeout 5s;\n  proxy_pass http://127.0.0.1:9;\n  \
             location /a/b { proxy_pass http://127.0.0.1:10; }\n }",
        );
        assert!(w.is_empty(), "{w:?}");
        let b = &toml[toml.find("prefix = \"/a/b\"").unwrap()..];
        assert!(b.contains("proxy_pass = \"http://127.0.0.1:10\""), "{b}");
        assert!(b.contains("proxy_read_timeout = \"5s\""), "{b}");
    }

    #[test]
    fn a_proxy_pass_that_cannot_be_carried_closes_its_location() {
        let (toml, w) = server(" location /api/ { proxy_pass http://127.0.0.1:9/v1/; }");
        assert!(
            toml.contains("prefix = \"/api/\"\nreturn = { status = 502 }"),
            "{toml}"
        );
        assert_eq!(w.len(), 1, "{w:?}");
        // The same path is fine.
        let (toml, w) = server(" location / { proxy_pass http://127.0.0.1:9/; }");
        assert!(
            toml.contains("proxy_pass = \"http://127.0.0.1:9\""),
            "{toml}"
        );
        assert!(w.is_empty(), "{w:?}");
        // A host name without a port gets nginx's default port.
        let (toml, _) = server(" location / { proxy_pass http://app.internal; }");
        assert!(
            toml.contains("proxy_pass = \"http://app.internal:80\""),
            "{toml}"
        );
    }

    #[test]
    fn headers_the_gateway_cannot_carry_are_warned_by_kind() {
        let (toml, w) = server(
            " location / {\n  proxy_set_header Upgrade $http_upgrade;\n  proxy_set_header Connection \"\";\n  \
             proxy_set_header X-Client $ssl_client_cert_unknown;\n  proxy_pass http://127.0.0.1:9;\n }",
        );
        assert!(!toml.contains("Connection"), "{toml}");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(!w[0].contains("[security]"), "{w:?}");
        assert!(
            w[1].contains("[security] proxy_set_header X-Client"),
            "{w:?}"
        );
    }

    #[test]
    fn session_cache_sizes_follow_nginx() {
        for (spec, sessions) in [
            ("shared:SSL:10m", "40000"),
            ("builtin:1000", "1000"),
            ("builtin", "20480"),
            ("builtin:1000 shared:SSL:1m", "4000"),
            ("none", "0"),
            ("off", "0"),
        ] {
            let (toml, _) = server(&format!(
                " ssl_session_cache {spec};\n location / {{ return 200; }}"
            ));
            assert!(
                toml.contains(&format!("session_cache = {sessions}\n")),
                "{spec}: {toml}"
            );
        }
    }

    /// With every feature on, the keys are those of issues 13, 14 and 15.
    #[test]
    fn keys_of_features_in_progress_have_their_planned_names() {
        let text = "http { server {\n listen 443 ssl proxy_protocol;\n ssl_certificate s.pem;\n \
             ssl_certificate_key k.pem;\n ssl_client_certificate ca.pem;\n ssl_verify_client optional;\n \
             ssl_ocsp leaf;\n ssl_ocsp_responder http://ocsp.example/;\n \
             ssl_session_ticket_key t1.key;\n ssl_session_ticket_key t0.key;\n \
             set_real_ip_from 10.0.0.0/8;\n set_real_ip_from 127.0.0.1/32;\n real_ip_header proxy_protocol;\n \
             proxy_ssl_verify on;\n location / {\n  if ($ssl_client_verify != SUCCESS) { return 403; }\n  \
             proxy_pass https://up;\n  proxy_ssl_certificate c.pem;\n  proxy_ssl_certificate_key ck.pem;\n  \
             proxy_ssl_trusted_certificate ut.pem;\n  proxy_ssl_verify_depth 2;\n  proxy_ssl_name up.internal;\n  \
             proxy_ssl_server_name on;\n  proxy_ssl_protocols TLSv1.2 TLSv1.3;\n }\n}\n\
             upstream up { server 10.0.0.5:8443; } }";
        let loaded = Loaded {
            files: vec!["/etc/nginx/nginx.conf".into()],
            directives: parser::parse(text, 0).unwrap(),
            prefix: "/etc/nginx".into(),
        };
        let all = |_: Feature| true;
        let c = convert_with(&loaded, None, all).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let v: toml::Value = toml::from_str(&c.toml).unwrap();
        let s = &v["server"][0];
        assert_eq!(s["proxy_protocol"].as_bool(), Some(true));
        assert_eq!(
            s["set_real_ip_from"].as_array().unwrap().len(),
            2,
            "{}",
            c.toml
        );
        assert_eq!(s["client_auth"]["ocsp"].as_str(), Some("leaf"));
        assert_eq!(
            s["client_auth"]["ocsp_responder"].as_str(),
            Some("http://ocsp.example/")
        );
        assert_eq!(
            s["tls"]["session_ticket_key"].as_array().unwrap()[0].as_str(),
            Some("/etc/nginx/t1.key")
        );
        let l = &s["location"][0];
        assert_eq!(l["require_verified"].as_bool(), Some(true));
        assert_eq!(l["proxy_pass"].as_str(), Some("https://up"));
        assert_eq!(l["proxy_ssl_verify"].as_bool(), Some(true), "inherited");
        assert_eq!(
            l["proxy_ssl_certificate"].as_str(),
            Some("/etc/nginx/c.pem")
        );
        assert_eq!(
            l["proxy_ssl_certificate_key"].as_str(),
            Some("/etc/nginx/ck.pem")
        );
        assert_eq!(
            l["proxy_ssl_trusted_certificate"].as_str(),
            Some("/etc/nginx/ut.pem")
        );
        assert_eq!(l["proxy_ssl_verify_depth"].as_integer(), Some(2));
        assert_eq!(l["proxy_ssl_name"].as_str(), Some("up.internal"));
        assert_eq!(l["proxy_ssl_server_name"].as_bool(), Some(true));
        assert_eq!(l["proxy_ssl_protocols"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["upstream"]["up"]["server"][0].as_str(),
            Some("10.0.0.5:8443")
        );
    }

    fn servers(blocks: &[&str]) -> (String, Vec<String>) {
        let mut text = String::from("http {\n");
        for b in blocks {
            text.push_str(&format!(
                "server {{ ssl_certificate s.pem; ssl_certificate_key k.pem; location / {{ return 200; }} {b} }}\n"
            ));
        }
        text.push('}');
        let c = convert_text(&text, Path::new("/etc/nginx/nginx.conf")).unwrap();
        (c.toml, c.warnings.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn each_address_keeps_nginx_default_server() {
        // y is 443's default (first); x is only 8443's: x must not move first.
        let (toml, w) = servers(&[
            "server_name y; listen 443 ssl;",
            "server_name x; listen 443 ssl; listen 8443 ssl default_server;",
            "server_name z; listen 8443 ssl;",
        ]);
        assert!(w.is_empty(), "{w:?}");
        let pos = |n: &str| toml.find(&format!("server_name = [\"{n}\"]")).unwrap();
        assert!(pos("y") < pos("x") && pos("x") < pos("z"), "{toml}");
        // Contradicting defaults cannot both hold: a security warning.
        let (_, w) = servers(&[
            "server_name a; listen 1443 ssl default_server; listen 2443 ssl;",
            "server_name b; listen 1443 ssl; listen 2443 ssl default_server;",
        ]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("[security] listen 0.0.0.0:2443 default_server"),
            "{w:?}"
        );
    }

    #[test]
    fn a_server_return_that_cannot_be_carried_still_closes_every_path() {
        let (toml, w) = server(" return 444;\n location /api { proxy_pass http://127.0.0.1:9; }");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            toml.contains("prefix = \"/\"\nreturn = { status = 502 }"),
            "{toml}"
        );
        assert!(!toml.contains("/api"), "{toml}");
    }

    #[test]
    fn access_rules_and_headers_are_inherited_by_nested_locations() {
        let (toml, w) = server(
            " deny all;\n location /a {\n  proxy_set_header X-A a;\n  proxy_pass http://127.0.0.1:9;\n  \
             location /a/b { proxy_pass http://127.0.0.1:10; }\n }\n location /open { return 200 \"hi\"; }",
        );
        assert!(w.is_empty(), "{w:?}");
        // The server's `deny all` closes every location, nested ones too;
        // a `return` runs before access rules in nginx and still answers.
        assert!(
            toml.contains("prefix = \"/a\"\nreturn = { status = 403 }"),
            "{toml}"
        );
        assert!(
            toml.contains("prefix = \"/a/b\"\nreturn = { status = 403 }"),
            "{toml}"
        );
        assert!(
            toml.contains("prefix = \"/open\"\nreturn = { status = 200, text = \"hi\" }"),
            "{toml}"
        );
        let (toml, _) = server(
            " location /a {\n  proxy_set_header X-A a;\n  proxy_pass http://127.0.0.1:9;\n  \
             location /a/b { proxy_pass http://127.0.0.1:10; }\n }",
        );
        let b = &toml[toml.find("prefix = \"/a/b\"").unwrap()..];
        assert!(b.contains("X-A = \"a\""), "{toml}");
    }

    #[test]
    fn upstream_tls_keys_go_only_to_https_locations_and_keep_nginx_verify_default() {
        let (toml, w) = server(
            " proxy_ssl_protocols TLSv1.3;\n location /plain { proxy_pass http://127.0.0.1:9; }\n \
             location /tls { proxy_pass https://127.0.0.1:9443; }",
        );
        let plain = &toml
            [toml.find("prefix = \"/plain\"").unwrap()..toml.find("prefix = \"/tls\"").unwrap()];
        assert!(!plain.contains("proxy_ssl"), "{toml}");
        let tls = &toml[toml.find("prefix = \"/tls\"").unwrap()..];
        assert!(
            tls.contains("proxy_ssl_protocols = [\"TLSv1.3\"]"),
            "{toml}"
        );
        assert!(tls.contains("proxy_ssl_verify = false"), "{toml}");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("proxy_pass https://127.0.0.1:9443"), "{w:?}");
    }
}
