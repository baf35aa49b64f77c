//! What import-nginx does with each nginx directive: one table entry each.
//!
//! A directive is carried to a gateway key ([`Place`]), handled by the
//! converter's own code ([`Place::Special`]: listen, location, if, ...),
//! ignored without a word ([`Place::Silent`]: boilerplate with no meaning for
//! the gateway), or dropped with a warning ([`Place::Drop`]). A directive not
//! in the table is dropped with a warning too, as not security-relevant
//! unless its name says otherwise ([`unknown_is_security`]).
//!
//! Keys of gateway features that are still being built carry a [`Feature`]:
//! they are written only when [`supported`] says the gateway has that
//! feature, and dropped with a warning ("needs a gateway that supports
//! it") otherwise. Switching one on is one line in [`supported`].

/// A gateway feature that some keys need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `require_verified = true` on a location (access policy, issue 14).
    RequireVerified,
    /// `[server.client_auth] ocsp`, `ocsp_responder` (issue 15).
    Ocsp,
    /// `[server.tls] session_ticket_key` (issue 15).
    SessionTicketKey,
    /// `[[server]] proxy_protocol`, `set_real_ip_from` (issue 15).
    ProxyProtocol,
    /// `proxy_pass = "https://..."` and the location's `proxy_ssl_*` keys (issue 13).
    UpstreamTls,
}

/// Whether this gateway build understands the keys of `feature`.
pub const fn supported(feature: Feature) -> bool {
    match feature {
        Feature::RequireVerified => true,
        Feature::Ocsp => true,
        Feature::SessionTicketKey => true,
        Feature::ProxyProtocol => true,
        Feature::UpstreamTls => true,
    }
}

impl Feature {
    /// The key(s) the feature adds, for warnings.
    pub fn keys(self) -> &'static str {
        match self {
            Feature::RequireVerified => "require_verified",
            Feature::Ocsp => "[server.client_auth] ocsp / ocsp_responder",
            Feature::SessionTicketKey => "[server.tls] session_ticket_key",
            Feature::ProxyProtocol => "proxy_protocol / set_real_ip_from",
            Feature::UpstreamTls => "https:// upstreams and proxy_ssl_*",
        }
    }
}

/// How a directive's arguments become a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// One duration (`10m`), checked with the gateway's own parser.
    Duration,
    /// One size (`1m`), checked with the gateway's own parser.
    Size,
    /// One integer.
    Int,
    /// `on` / `off` → `true` / `false`.
    OnOff,
    /// One string (a path, a mode).
    Str,
    /// One path, resolved against the prefix.
    Path,
    /// Every occurrence's path, resolved against the prefix, as a list.
    PathList,
    /// Every argument as a list of strings.
    StrList,
}

/// Where a directive goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Boilerplate with no meaning for the gateway: no key, no warning.
    Silent,
    /// A `[[server]]` key.
    Server(&'static str, Conv),
    /// A `[server.tls]` key.
    Tls(&'static str, Conv),
    /// A `[server.client_auth]` key.
    ClientAuth(&'static str, Conv),
    /// A `[[server.location]]` key (written on every proxy location that
    /// has it, itself or by inheritance).
    Location(&'static str, Conv),
    /// Handled by the converter's code.
    Special,
    /// Not carried over: why, and what to do.
    Drop(&'static str, &'static str),
}

/// One table entry.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub place: Place,
    /// Whether dropping it weakens who gets through or what identity a
    /// backend sees (exit status 2 instead of 1).
    pub security: bool,
    /// The gateway feature the key needs, if it is not in every gateway.
    pub feature: Option<Feature>,
}

const fn rule(name: &'static str, place: Place) -> Rule {
    Rule {
        name,
        place,
        security: false,
        feature: None,
    }
}

const fn security(name: &'static str, place: Place) -> Rule {
    Rule {
        name,
        place,
        security: true,
        feature: None,
    }
}

const fn pending(name: &'static str, place: Place, feature: Feature, security: bool) -> Rule {
    Rule {
        name,
        place,
        security,
        feature: Some(feature),
    }
}

use Conv::*;
use Place::*;

const NOT_CONFIGURABLE: &str = "the gateway has no such setting";
const STATIC: &str = "the gateway only proxies or returns; it serves no files";
const ACCESS: &str = "the gateway cannot express this access rule";

/// Every directive import-nginx knows.
pub const RULES: &[Rule] = &[
    // Structure, handled in code.
    rule("server", Special),
    rule("location", Special),
    rule("listen", Special),
    rule("server_name", Special),
    rule("upstream", Special),
    rule("return", Special),
    rule("proxy_pass", Special),
    rule("proxy_set_header", Special),
    rule("ssl_session_cache", Special),
    rule("client_max_body_size", Special),
    rule("client_header_timeout", Special),
    rule("access_log", Special),
    rule("http2", Silent), // the gateway always offers h2 by ALPN
    security("if", Special),
    security("deny", Special),
    security("allow", Special),
    // Main and events context: process management.
    rule("user", Silent),
    rule("worker_processes", Special), // → worker_processes
    rule("worker_connections", Silent),
    rule("worker_rlimit_nofile", Silent),
    rule("worker_cpu_affinity", Silent),
    rule("worker_priority", Silent),
    rule("worker_shutdown_timeout", Special), // → shutdown_timeout
    rule("multi_accept", Silent),
    rule("accept_mutex", Silent),
    rule("use", Silent),
    rule("pid", Silent),
    rule("daemon", Silent),
    rule("master_process", Silent),
    rule("error_log", Silent), // the gateway logs to stderr (the journal)
    rule("events", Silent),
    rule("load_module", Silent),
    rule("pcre_jit", Silent),
    rule("env", Silent),
    rule("timer_resolution", Silent),
    rule("lock_file", Silent),
    rule("working_directory", Silent),
    rule("thread_pool", Silent),
    // http context: file serving and buffering mechanics.
    rule("sendfile", Silent),
    rule("tcp_nopush", Silent),
    rule("tcp_nodelay", Silent),
    rule("types", Silent),
    rule("default_type", Silent),
    rule("types_hash_max_size", Silent),
    rule("types_hash_bucket_size", Silent),
    rule("server_names_hash_bucket_size", Silent),
    rule("server_names_hash_max_size", Silent),
    rule("variables_hash_max_size", Silent),
    rule("variables_hash_bucket_size", Silent),
    rule("proxy_headers_hash_max_size", Silent),
    rule("proxy_headers_hash_bucket_size", Silent),
    rule("map_hash_bucket_size", Silent),
    rule("client_body_temp_path", Silent),
    rule("proxy_temp_path", Silent),
    rule("fastcgi_temp_path", Silent),
    rule("uwsgi_temp_path", Silent),
    rule("scgi_temp_path", Silent),
    rule("client_body_buffer_size", Silent),
    rule("client_header_buffer_size", Silent),
    rule("output_buffers", Silent),
    rule("aio", Silent),
    rule("directio", Silent),
    rule("open_file_cache", Silent),
    rule("open_file_cache_valid", Silent),
    rule("open_file_cache_min_uses", Silent),
    rule("open_file_cache_errors", Silent),
    rule("reset_timedout_connection", Silent),
    rule("proxy_buffering", Silent), // the gateway streams both ways
    rule("proxy_buffer_size", Silent),
    rule("proxy_buffers", Silent),
    rule("proxy_busy_buffers_size", Silent),
    rule("proxy_max_temp_file_size", Silent),
    rule("proxy_temp_file_write_size", Silent),
    rule("proxy_request_buffering", Silent),
    rule("proxy_http_version", Silent), // always HTTP/1.1 with keep-alive
    rule("ssl_prefer_server_ciphers", Silent), // the server's order always wins
    rule("ssl_dhparam", Silent),        // no DHE suites: nothing uses it
    rule("ssl_buffer_size", Silent),
    rule("log_format", Silent), // judged where access_log uses it
    rule("log_not_found", Silent),
    // Server and location keys with a gateway equivalent.
    rule(
        "underscores_in_headers",
        Server("underscores_in_headers", OnOff),
    ),
    rule("server_tokens", Server("server_tokens", OnOff)),
    rule(
        "client_body_timeout",
        Server("client_body_timeout", Duration),
    ),
    rule("keepalive_timeout", Server("keepalive_timeout", Duration)),
    rule("send_timeout", Server("send_timeout", Duration)),
    rule("lingering_time", Server("lingering_time", Duration)),
    rule("lingering_timeout", Server("lingering_timeout", Duration)),
    rule(
        "http2_max_concurrent_streams",
        Server("http2_max_concurrent_streams", Int),
    ),
    rule(
        "proxy_connect_timeout",
        Location("proxy_connect_timeout", Duration),
    ),
    rule(
        "proxy_read_timeout",
        Location("proxy_read_timeout", Duration),
    ),
    rule(
        "proxy_send_timeout",
        Location("proxy_send_timeout", Duration),
    ),
    rule("ssl_certificate", Tls("certificate", Path)),
    rule("ssl_certificate_key", Tls("certificate_key", Path)),
    rule("ssl_protocols", Special),
    rule("ssl_session_timeout", Tls("session_timeout", Duration)),
    rule("ssl_session_tickets", Tls("session_tickets", OnOff)),
    security("ssl_verify_client", ClientAuth("verify_client", Str)),
    security(
        "ssl_client_certificate",
        ClientAuth("client_certificate", Path),
    ),
    security(
        "ssl_trusted_certificate",
        ClientAuth("trusted_certificate", Path),
    ),
    security("ssl_verify_depth", Special),
    security("ssl_crl", ClientAuth("crl", Path)),
    rule(
        "ssl",
        Drop(
            "the `ssl on` form was removed from nginx 1.25",
            "write `ssl` on the listen line",
        ),
    ),
    // Keys of features being built.
    pending("ssl_ocsp", ClientAuth("ocsp", Str), Feature::Ocsp, true),
    pending(
        "ssl_ocsp_responder",
        ClientAuth("ocsp_responder", Str),
        Feature::Ocsp,
        true,
    ),
    pending(
        "ssl_ocsp_cache",
        ClientAuth("ocsp_cache", Str),
        Feature::Ocsp,
        true,
    ),
    pending(
        "ssl_session_ticket_key",
        Tls("session_ticket_key", PathList),
        Feature::SessionTicketKey,
        false,
    ),
    pending(
        "set_real_ip_from",
        Server("set_real_ip_from", StrList),
        Feature::ProxyProtocol,
        false,
    ),
    rule("real_ip_header", Special),
    pending(
        "proxy_ssl_certificate",
        Location("proxy_ssl_certificate", Path),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_certificate_key",
        Location("proxy_ssl_certificate_key", Path),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_trusted_certificate",
        Location("proxy_ssl_trusted_certificate", Path),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_verify",
        Location("proxy_ssl_verify", OnOff),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_verify_depth",
        Location("proxy_ssl_verify_depth", Int),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_name",
        Location("proxy_ssl_name", Str),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_server_name",
        Location("proxy_ssl_server_name", OnOff),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_session_reuse",
        Location("proxy_ssl_session_reuse", OnOff),
        Feature::UpstreamTls,
        false,
    ),
    pending(
        "proxy_ssl_protocols",
        Location("proxy_ssl_protocols", StrList),
        Feature::UpstreamTls,
        false,
    ),
    // Dropped, with what to do.
    rule("proxy_redirect", Special),
    rule(
        "ssl_ciphers",
        Drop(
            "cipher suites are not configurable",
            "the gateway offers only AEAD suites with forward secrecy (docs/configuration.md); check that your clients have one",
        ),
    ),
    rule(
        "ssl_ecdh_curve",
        Drop(
            "key exchange groups are not configurable",
            "the gateway offers X25519MLKEM768, X25519, P-256 and P-384",
        ),
    ),
    rule(
        "ssl_stapling",
        Drop(
            "OCSP stapling of the server certificate is not supported",
            "nothing; clients fetch OCSP themselves",
        ),
    ),
    rule(
        "ssl_stapling_verify",
        Drop("OCSP stapling is not supported", "nothing"),
    ),
    rule(
        "ssl_early_data",
        Drop(
            "0-RTT is not supported",
            "nothing; clients fall back to a full handshake",
        ),
    ),
    rule(
        "ssl_password_file",
        Drop(
            "encrypted keys are not supported",
            "decrypt the key (openssl pkey -in KEY -out KEY.plain) and protect the file instead",
        ),
    ),
    rule(
        "large_client_header_buffers",
        Drop(
            "the gateway limits the whole request head instead of each line",
            "set `max_request_header_size` (default 32k) if you need more",
        ),
    ),
    rule("keepalive_requests", Drop(NOT_CONFIGURABLE, "nothing")),
    rule(
        "resolver",
        Drop(
            "the gateway resolves upstream names with the system resolver at connect time",
            "check /etc/resolv.conf",
        ),
    ),
    rule(
        "proxy_hide_header",
        Drop(
            "the gateway cannot hide upstream response headers",
            "remove the header in the backend",
        ),
    ),
    rule("proxy_pass_header", Drop(NOT_CONFIGURABLE, "nothing")),
    rule("proxy_ignore_headers", Drop(NOT_CONFIGURABLE, "nothing")),
    rule(
        "proxy_next_upstream",
        Drop(
            "the gateway tries the next server only on connect failures",
            "nothing",
        ),
    ),
    rule("proxy_intercept_errors", Drop(NOT_CONFIGURABLE, "nothing")),
    rule(
        "proxy_cache",
        Drop(
            "the gateway does not cache",
            "cache in the backend or in front of it",
        ),
    ),
    rule(
        "proxy_cache_path",
        Drop("the gateway does not cache", "nothing"),
    ),
    rule(
        "proxy_cookie_domain",
        Drop(NOT_CONFIGURABLE, "rewrite cookies in the backend"),
    ),
    rule(
        "proxy_cookie_path",
        Drop(NOT_CONFIGURABLE, "rewrite cookies in the backend"),
    ),
    rule(
        "error_page",
        Drop(
            "the gateway's error pages are fixed",
            "nothing; its pages are nginx's",
        ),
    ),
    rule(
        "add_header",
        Drop(
            "the gateway does not add response headers",
            "add them in the backend (e.g. HSTS)",
        ),
    ),
    rule(
        "expires",
        Drop(
            "the gateway does not add response headers",
            "set caching headers in the backend",
        ),
    ),
    rule(
        "gzip",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "gzip_types",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "gzip_vary",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "gzip_proxied",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "gzip_comp_level",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "gzip_min_length",
        Drop("the gateway does not compress", "compress in the backend"),
    ),
    rule(
        "charset",
        Drop(NOT_CONFIGURABLE, "set the charset in the backend"),
    ),
    rule("root", Drop(STATIC, "serve files from the backend")),
    rule("alias", Drop(STATIC, "serve files from the backend")),
    rule("index", Drop(STATIC, "serve files from the backend")),
    rule("try_files", Drop(STATIC, "serve files from the backend")),
    rule("autoindex", Drop(STATIC, "serve files from the backend")),
    rule(
        "limit_req",
        Drop(
            "the gateway has no request rate limit",
            "rate-limit in front of or behind the gateway",
        ),
    ),
    rule(
        "limit_req_zone",
        Drop(
            "the gateway has no request rate limit",
            "rate-limit in front of or behind the gateway",
        ),
    ),
    rule(
        "limit_conn",
        Drop(
            "the gateway has no per-client connection limit",
            "use `max_connections` for the total",
        ),
    ),
    rule(
        "limit_conn_zone",
        Drop(
            "the gateway has no per-client connection limit",
            "use `max_connections` for the total",
        ),
    ),
    rule("real_ip_recursive", Drop(NOT_CONFIGURABLE, "nothing")),
    rule(
        "ignore_invalid_headers",
        Drop(
            NOT_CONFIGURABLE,
            "nothing; invalid header lines are refused",
        ),
    ),
    rule(
        "map",
        Drop(
            "the gateway has no variables of its own",
            "compute the value in the backend",
        ),
    ),
    rule(
        "geo",
        Drop(
            "the gateway has no variables of its own",
            "filter by address in front of the gateway",
        ),
    ),
    rule(
        "set",
        Drop(
            "the gateway has no variables of its own",
            "compute the value in the backend",
        ),
    ),
    rule(
        "stream",
        Drop(
            "stream (TCP) servers are not converted",
            "keep nginx (or HAProxy) for TCP proxying",
        ),
    ),
    rule(
        "mail",
        Drop(
            "mail servers are not converted",
            "keep nginx for mail proxying",
        ),
    ),
    security(
        "rewrite",
        Drop(
            "rewrites change which location and path a request reaches",
            "move the rewrite into the backend, or write an exact location with `return`",
        ),
    ),
    security(
        "auth_basic",
        Drop(
            ACCESS,
            "authenticate in the backend, or rely on the client certificate",
        ),
    ),
    security(
        "auth_basic_user_file",
        Drop(
            ACCESS,
            "authenticate in the backend, or rely on the client certificate",
        ),
    ),
    security("auth_request", Drop(ACCESS, "authenticate in the backend")),
    security("auth_jwt", Drop(ACCESS, "verify the token in the backend")),
    security("satisfy", Drop(ACCESS, "authenticate in the backend")),
    security(
        "limit_except",
        Drop(
            "method restrictions are not supported",
            "refuse the methods in the backend",
        ),
    ),
    security(
        "proxy_pass_request_headers",
        Drop(
            NOT_CONFIGURABLE,
            "nothing; the gateway forwards the client's headers minus those it sets",
        ),
    ),
];

/// The table entry for `name`.
pub fn find(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// Whether dropping an unknown directive should count as security-relevant:
/// anything about authentication, access or certificate verification.
pub fn unknown_is_security(name: &str) -> bool {
    [
        "auth",
        "allow",
        "deny",
        "verify",
        "access",
        "acl",
        "secure_link",
        "ssl_client",
    ]
    .iter()
    .any(|w| name.contains(w))
        && !name.ends_with("access_log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directive_is_in_the_table_once() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                !RULES[..i].iter().any(|o| o.name == r.name),
                "{} twice",
                r.name
            );
        }
    }

    #[test]
    fn unknown_access_directives_count_as_security() {
        assert!(unknown_is_security("auth_ldap"));
        assert!(unknown_is_security("ssl_client_foo"));
        assert!(!unknown_is_security("gzip_static"));
    }
}
