//! A builder for the gateway's TOML configuration, so that a test says what
//! differs from a usual server instead of writing the whole file.
//!
//! Methods apply to the server added last (`server`, `plain`, `mtls`,
//! `seed`) and to the location added last (`location`, `exact`, `proxy`,
//! `returns`). File names are relative to the work directory, with the
//! names [`TestPki`](super::TestPki) writes: `server.pem`,
//! `server-key.pem`, `ca.pem`.
//!
//! ```ignore
//! let gw = GatewayConfig::mtls("localhost", "on")
//!     .server_key("client_max_body_size", "1k")
//!     .proxy("/", backend.addr)
//!     .header("X-SSL-Client-Verify", "$ssl_client_verify")
//!     .start(&work);
//! ```
//!
//! Keep hand-written TOML for tests where the text itself is under test
//! (parse errors, `check` messages, relative paths).

use std::fmt::{self, Display, Write as _};
use std::path::PathBuf;

use super::{Gateway, Workdir};

/// A TOML value: a string (quoted and escaped), an integer, a boolean, a
/// list of strings, or raw TOML text.
#[derive(Clone, Debug)]
pub enum Toml {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    Raw(String),
}

impl Toml {
    /// TOML text used as it is (an inline table, a float, ...).
    pub fn raw(text: impl Into<String>) -> Toml {
        Toml::Raw(text.into())
    }
}

impl From<&str> for Toml {
    fn from(s: &str) -> Toml {
        Toml::Str(s.to_string())
    }
}

impl From<String> for Toml {
    fn from(s: String) -> Toml {
        Toml::Str(s)
    }
}

impl From<&String> for Toml {
    fn from(s: &String) -> Toml {
        Toml::Str(s.clone())
    }
}

impl From<bool> for Toml {
    fn from(b: bool) -> Toml {
        Toml::Bool(b)
    }
}

macro_rules! toml_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Toml {
            fn from(n: $t) -> Toml {
                Toml::Int(i64::try_from(n).expect("integer fits in TOML"))
            }
        }
    )*};
}
toml_int!(i32, i64, u16, u32, u64, usize);

impl From<&[&str]> for Toml {
    fn from(l: &[&str]) -> Toml {
        Toml::List(l.iter().map(|s| s.to_string()).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Toml {
    fn from(l: [&str; N]) -> Toml {
        Toml::List(l.iter().map(|s| s.to_string()).collect())
    }
}

impl From<Vec<String>> for Toml {
    fn from(l: Vec<String>) -> Toml {
        Toml::List(l)
    }
}

impl Display for Toml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Toml::Str(s) => f.write_str(&quote(s)),
            Toml::Int(n) => write!(f, "{n}"),
            Toml::Bool(b) => write!(f, "{b}"),
            Toml::List(l) => {
                let items: Vec<String> = l.iter().map(|s| quote(s)).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Toml::Raw(r) => f.write_str(r),
        }
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The proxy_set_header table of the seed's `/api/mtls` location
/// (config/gateway.toml).
pub const SEED_HEADERS: &[(&str, &str)] = &[
    ("Host", "$host"),
    ("X-Real-IP", "$remote_addr"),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", "$scheme"),
    ("X-SSL-Client-Verify", "$ssl_client_verify"),
    ("X-SSL-Client-DN", "$ssl_client_s_dn"),
    ("X-SSL-Client-Serial", "$ssl_client_serial"),
    ("X-SSL-Client-Fingerprint", "$ssl_client_fingerprint"),
    ("X-SSL-Client-Issuer", "$ssl_client_i_dn"),
];

/// The seed's text for `/`.
pub const SEED_404_TEXT: &str = "mTLS endpoints only. Use port 443 for regular access.";

#[derive(Clone, Debug, Default)]
struct Location {
    /// `prefix = ".."` or `exact = ".."`, then the action, then other keys.
    lines: Vec<String>,
    headers: Vec<(String, String)>,
    /// `[[server.location.allow]]` rules, each as raw `key = value` lines.
    allow: Vec<String>,
}

#[derive(Clone, Debug)]
struct Server {
    listen: Toml,
    server_name: Vec<String>,
    lines: Vec<String>,
    headers: Vec<(String, String)>,
    tls: Vec<String>,
    /// None: no `[server.client_auth]` table.
    client_auth: Option<Vec<String>>,
    locations: Vec<Location>,
}

#[derive(Clone, Debug)]
struct Upstream {
    name: String,
    lines: Vec<String>,
}

/// A gateway configuration, rendered to TOML by [`GatewayConfig::render`]
/// (or `to_string()`).
#[derive(Clone, Debug, Default)]
pub struct GatewayConfig {
    global: Vec<String>,
    admin: Option<String>,
    servers: Vec<Server>,
    upstreams: Vec<Upstream>,
}

fn line(key: &str, value: impl Into<Toml>) -> String {
    format!("{key} = {}", value.into())
}

impl GatewayConfig {
    /// Nothing yet: no server, no global key.
    pub fn new() -> GatewayConfig {
        GatewayConfig::default()
    }

    /// One TLS server for `name` on `127.0.0.1:0` (`server.pem`,
    /// `server-key.pem`), without client authentication.
    pub fn plain(name: &str) -> GatewayConfig {
        GatewayConfig::new().server(name)
    }

    /// One server for `name` with `verify_client = mode` and
    /// `client_certificate = "ca.pem"`.
    pub fn mtls(name: &str, mode: &str) -> GatewayConfig {
        GatewayConfig::plain(name).client_auth(mode, "ca.pem")
    }

    /// The seed's server block (config/gateway.toml) on `127.0.0.1:0` for
    /// `localhost`: `verify_client = "on"` with `ca.pem` and `verify_depth = 3`,
    /// `/` answering the seed's 404 text, and `/api/mtls` proxying to
    /// `[upstream.backend]` (`backend`) with the seed's headers
    /// ([`SEED_HEADERS`]).
    pub fn seed(backend: impl Display) -> GatewayConfig {
        GatewayConfig::mtls("localhost", "on")
            .client_auth_key("verify_depth", 3)
            .returns("/", 404, SEED_404_TEXT)
            .proxy("/api/mtls", "http://backend")
            .headers(SEED_HEADERS)
            .upstream("backend", [backend])
    }

    // --- global keys -----------------------------------------------------

    /// A top-level key: `.global("max_connections", 5)`.
    pub fn global(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.global.push(line(key, value));
        self
    }

    /// Raw top-level TOML lines (empty text adds nothing).
    pub fn global_extra(mut self, raw: &str) -> Self {
        if !raw.trim().is_empty() {
            self.global.push(raw.to_string());
        }
        self
    }

    /// `[admin] listen = addr`.
    pub fn admin(mut self, listen: impl Display) -> Self {
        self.admin = Some(listen.to_string());
        self
    }

    // --- servers ---------------------------------------------------------

    /// Adds a TLS server for `name` (empty: no `server_name`) on
    /// `127.0.0.1:0` with `server.pem` / `server-key.pem`; the methods
    /// below then apply to it.
    pub fn server(mut self, name: &str) -> Self {
        self.servers.push(Server {
            listen: Toml::from("127.0.0.1:0"),
            server_name: if name.is_empty() {
                Vec::new()
            } else {
                vec![name.to_string()]
            },
            lines: Vec::new(),
            headers: Vec::new(),
            tls: vec![
                line("certificate", "server.pem"),
                line("certificate_key", "server-key.pem"),
            ],
            client_auth: None,
            locations: Vec::new(),
        });
        self
    }

    fn cur(&mut self) -> &mut Server {
        self.servers
            .last_mut()
            .expect("add a server first (GatewayConfig::plain, mtls, seed or .server)")
    }

    /// Replaces the current server's `listen` (a string or a list).
    pub fn listen(mut self, listen: impl Into<Toml>) -> Self {
        self.cur().listen = listen.into();
        self
    }

    /// Replaces the current server's `server_name` list.
    pub fn server_names(mut self, names: &[&str]) -> Self {
        self.cur().server_name = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A key of the current `[[server]]`: `.server_key("keepalive_timeout", "1s")`.
    pub fn server_key(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.cur().lines.push(line(key, value));
        self
    }

    /// Raw `key = value` lines for the current `[[server]]` (no tables).
    pub fn server_extra(mut self, raw: &str) -> Self {
        if !raw.trim().is_empty() {
            self.cur().lines.push(raw.to_string());
        }
        self
    }

    /// A header of the current server's own `proxy_set_header` table
    /// (inherited by locations without one).
    pub fn server_header(mut self, name: &str, template: &str) -> Self {
        self.cur()
            .headers
            .push((name.to_string(), template.to_string()));
        self
    }

    /// The current server's certificate chain and key files.
    pub fn tls_files(mut self, certificate: &str, key: &str) -> Self {
        let s = self.cur();
        s.tls[0] = line("certificate", certificate);
        s.tls[1] = line("certificate_key", key);
        self
    }

    /// A key of `[server.tls]`: `.tls("protocols", ["TLSv1.3"])`.
    pub fn tls(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.cur().tls.push(line(key, value));
        self
    }

    /// Raw lines for `[server.tls]`.
    pub fn tls_extra(mut self, raw: &str) -> Self {
        if !raw.trim().is_empty() {
            self.cur().tls.push(raw.to_string());
        }
        self
    }

    /// `[server.client_auth]` with `verify_client = mode` and
    /// `client_certificate = ca_file` (replacing what was set).
    pub fn client_auth(mut self, mode: &str, ca_file: &str) -> Self {
        self.cur().client_auth = Some(vec![
            line("verify_client", mode),
            line("client_certificate", ca_file),
        ]);
        self
    }

    /// A key of `[server.client_auth]` (the table is created if needed):
    /// `.client_auth_key("crl", "crl.pem")`.
    pub fn client_auth_key(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.cur()
            .client_auth
            .get_or_insert_with(Vec::new)
            .push(line(key, value));
        self
    }

    /// Raw lines for `[server.client_auth]` (the table is created if needed,
    /// even for empty text).
    pub fn client_auth_extra(mut self, raw: &str) -> Self {
        let auth = self.cur().client_auth.get_or_insert_with(Vec::new);
        if !raw.trim().is_empty() {
            auth.push(raw.to_string());
        }
        self
    }

    // --- locations -------------------------------------------------------

    /// Adds `[[server.location]] prefix = path` to the current server.
    pub fn location(mut self, prefix: &str) -> Self {
        self.cur().locations.push(Location {
            lines: vec![line("prefix", prefix)],
            headers: Vec::new(),
            allow: Vec::new(),
        });
        self
    }

    /// Adds `[[server.location]] exact = path` to the current server.
    pub fn exact(mut self, path: &str) -> Self {
        self.cur().locations.push(Location {
            lines: vec![line("exact", path)],
            headers: Vec::new(),
            allow: Vec::new(),
        });
        self
    }

    fn loc(&mut self) -> &mut Location {
        self.cur()
            .locations
            .last_mut()
            .expect("add a location first (.location, .exact, .proxy or .returns)")
    }

    /// `return = { status, text }` for the current location.
    pub fn return_text(mut self, status: u16, text: &str) -> Self {
        let l = format!("return = {{ status = {status}, text = {} }}", quote(text));
        self.loc().lines.push(l);
        self
    }

    /// `proxy_pass` for the current location: an upstream URL
    /// (`"http://backend"`) or an address (`backend.addr`, given `http://`).
    pub fn proxy_pass(mut self, to: impl Display) -> Self {
        let to = to.to_string();
        let url = if to.starts_with("http://") || to.starts_with("https://") {
            to
        } else {
            format!("http://{to}")
        };
        self.loc().lines.push(line("proxy_pass", url));
        self
    }

    /// `location(prefix)` + `proxy_pass(to)`.
    pub fn proxy(self, prefix: &str, to: impl Display) -> Self {
        self.location(prefix).proxy_pass(to)
    }

    /// `location(prefix)` + `return_text(status, text)`.
    pub fn returns(self, prefix: &str, status: u16, text: &str) -> Self {
        self.location(prefix).return_text(status, text)
    }

    /// A key of the current location: `.location_key("proxy_read_timeout", "1s")`.
    pub fn location_key(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.loc().lines.push(line(key, value));
        self
    }

    /// Raw lines for the current location.
    pub fn location_extra(mut self, raw: &str) -> Self {
        if !raw.trim().is_empty() {
            self.loc().lines.push(raw.to_string());
        }
        self
    }

    /// One `[[server.location.allow]]` rule of the current location, as
    /// raw lines: `.allow(r#"subject = { OU = "admins" }"#)`.
    pub fn allow(mut self, rule: &str) -> Self {
        self.loc().allow.push(rule.to_string());
        self
    }

    /// One entry of the current location's `proxy_set_header`, in order.
    pub fn header(mut self, name: &str, template: &str) -> Self {
        self.loc()
            .headers
            .push((name.to_string(), template.to_string()));
        self
    }

    /// Several entries of the current location's `proxy_set_header`.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Self {
        for (n, t) in headers {
            self = self.header(n, t);
        }
        self
    }

    // --- upstreams -------------------------------------------------------

    /// `[upstream.NAME] server = [..]`; `upstream_key` then applies to it.
    pub fn upstream<I>(mut self, name: &str, servers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Display,
    {
        let servers: Vec<String> = servers.into_iter().map(|s| s.to_string()).collect();
        self.upstreams.push(Upstream {
            name: name.to_string(),
            lines: vec![line("server", servers)],
        });
        self
    }

    /// A key of the upstream added last: `.upstream_key("keepalive", 0)`.
    pub fn upstream_key(mut self, key: &str, value: impl Into<Toml>) -> Self {
        self.upstreams
            .last_mut()
            .expect("add an upstream first")
            .lines
            .push(line(key, value));
        self
    }

    /// Raw lines for the upstream added last.
    pub fn upstream_extra(mut self, raw: &str) -> Self {
        if !raw.trim().is_empty() {
            self.upstreams
                .last_mut()
                .expect("add an upstream first")
                .lines
                .push(raw.to_string());
        }
        self
    }

    // --- output ----------------------------------------------------------

    /// The TOML text.
    pub fn render(&self) -> String {
        self.to_string()
    }

    /// Writes the TOML to `name` in the work directory.
    pub fn write(&self, work: &Workdir, name: &str) -> PathBuf {
        work.write(name, self.render())
    }

    /// Runs a gateway on it (written to `gateway.toml` in the work directory).
    pub fn start(&self, work: &Workdir) -> Gateway {
        Gateway::start(work.path(), &self.render())
    }

    /// Like [`GatewayConfig::start`], returning the logs if it does not start.
    pub fn try_start(&self, work: &Workdir) -> Result<Gateway, String> {
        Gateway::try_start(work.path(), &self.render())
    }
}

fn table(out: &mut String, header: &str, entries: &[(String, String)]) {
    if entries.is_empty() {
        return;
    }
    out.push_str(header);
    out.push('\n');
    for (n, t) in entries {
        // Header names are bare keys when they can be.
        let key = if n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            n.clone()
        } else {
            quote(n)
        };
        let _ = writeln!(out, "{key} = {}", quote(t));
    }
}

impl Display for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for l in &self.global {
            out.push_str(l);
            out.push('\n');
        }
        for s in &self.servers {
            out.push_str("\n[[server]]\n");
            let _ = writeln!(out, "listen = {}", s.listen);
            match s.server_name.as_slice() {
                [] => {}
                [one] => {
                    let _ = writeln!(out, "server_name = {}", quote(one));
                }
                many => {
                    let _ = writeln!(out, "server_name = {}", Toml::List(many.to_vec()));
                }
            }
            for l in &s.lines {
                out.push_str(l);
                out.push('\n');
            }
            table(&mut out, "[server.proxy_set_header]", &s.headers);
            out.push_str("[server.tls]\n");
            for l in &s.tls {
                out.push_str(l);
                out.push('\n');
            }
            if let Some(auth) = &s.client_auth {
                out.push_str("[server.client_auth]\n");
                for l in auth {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            for loc in &s.locations {
                out.push_str("[[server.location]]\n");
                for l in &loc.lines {
                    out.push_str(l);
                    out.push('\n');
                }
                table(&mut out, "[server.location.proxy_set_header]", &loc.headers);
                for rule in &loc.allow {
                    out.push_str("[[server.location.allow]]\n");
                    out.push_str(rule);
                    out.push('\n');
                }
            }
        }
        for u in &self.upstreams {
            let _ = writeln!(out, "\n[upstream.{}]", u.name);
            for l in &u.lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        if let Some(listen) = &self.admin {
            let _ = writeln!(out, "\n[admin]\nlisten = {}", quote(listen));
        }
        f.write_str(&out)
    }
}
