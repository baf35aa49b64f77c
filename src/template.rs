//! Header and `return` text templates: nginx's `$variable` syntax, parsed
//! once at config load and rendered per request.
//!
//! This is the one place where a forwarded header's value is computed: each
//! [`Var`] is resolved in [`Template::render`] from the connection (TLS facts
//! and the client-certificate verdict, computed once per connection) and the
//! request. Unknown variables are configuration errors, never empty strings.

use std::fmt::Write as _;

use http::HeaderName;

use crate::facts::ConnFacts;

/// One variable a template can reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    SslClientVerify,
    SslClientSDn,
    SslClientIDn,
    SslClientSDnLegacy,
    SslClientIDnLegacy,
    SslClientSerial,
    SslClientFingerprint,
    /// Ours, not nginx's: SHA-256 of the DER certificate, lower-case hex.
    SslClientFingerprintSha256,
    SslClientVStart,
    SslClientVEnd,
    SslClientVRemain,
    SslClientEscapedCert,
    SslClientRawCert,
    /// Ours: RFC 9440 `Client-Cert` (verified certificates only, as every
    /// variable below up to `SslClientXfcc`).
    SslClientCertRfc9440,
    /// Ours: RFC 9440 `Client-Cert-Chain`.
    SslClientCertChainRfc9440,
    /// Ours: base64 SHA-256 of the SubjectPublicKeyInfo.
    SslClientSpkiSha256,
    /// Ours: the SANs of one kind as an RFC 8941 List of Strings.
    SslClientSanDns,
    SslClientSanEmail,
    SslClientSanUri,
    SslClientSanIp,
    /// Ours: one Envoy `X-Forwarded-Client-Cert` element.
    SslClientXfcc,
    /// Ours: the signed identity assertion ([`crate::assertion`]).
    SslClientJwt,
    Host,
    RemoteAddr,
    RemotePort,
    /// `$proxy_protocol_addr`, `$proxy_protocol_port`: the PROXY header's
    /// source (empty without one).
    ProxyProtocolAddr,
    ProxyProtocolPort,
    Scheme,
    ProxyAddXForwardedFor,
    ProxyHost,
    RequestUri,
    RequestMethod,
    Uri,
    Args,
    ServerName,
    ServerPort,
    SslProtocol,
    SslCipher,
    SslServerName,
    SslSessionReused,
    /// `$http_<name>`: the request header, several lines joined with `, `.
    Http(HeaderName),
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "ssl_client_verify" => Var::SslClientVerify,
            "ssl_client_s_dn" => Var::SslClientSDn,
            "ssl_client_i_dn" => Var::SslClientIDn,
            "ssl_client_s_dn_legacy" => Var::SslClientSDnLegacy,
            "ssl_client_i_dn_legacy" => Var::SslClientIDnLegacy,
            "ssl_client_serial" => Var::SslClientSerial,
            "ssl_client_fingerprint" => Var::SslClientFingerprint,
            "ssl_client_fingerprint_sha256" => Var::SslClientFingerprintSha256,
            "ssl_client_v_start" => Var::SslClientVStart,
            "ssl_client_v_end" => Var::SslClientVEnd,
            "ssl_client_v_remain" => Var::SslClientVRemain,
            "ssl_client_escaped_cert" => Var::SslClientEscapedCert,
            "ssl_client_raw_cert" => Var::SslClientRawCert,
            "ssl_client_cert_rfc9440" => Var::SslClientCertRfc9440,
            "ssl_client_cert_chain_rfc9440" => Var::SslClientCertChainRfc9440,
            "ssl_client_spki_sha256" => Var::SslClientSpkiSha256,
            "ssl_client_san_dns" => Var::SslClientSanDns,
            "ssl_client_san_email" => Var::SslClientSanEmail,
            "ssl_client_san_uri" => Var::SslClientSanUri,
            "ssl_client_san_ip" => Var::SslClientSanIp,
            "ssl_client_xfcc" => Var::SslClientXfcc,
            "ssl_client_jwt" => Var::SslClientJwt,
            "host" => Var::Host,
            "remote_addr" => Var::RemoteAddr,
            "remote_port" => Var::RemotePort,
            "proxy_protocol_addr" => Var::ProxyProtocolAddr,
            "proxy_protocol_port" => Var::ProxyProtocolPort,
            "scheme" => Var::Scheme,
            "proxy_add_x_forwarded_for" => Var::ProxyAddXForwardedFor,
            "proxy_host" => Var::ProxyHost,
            "request_uri" => Var::RequestUri,
            "request_method" => Var::RequestMethod,
            "uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "server_name" => Var::ServerName,
            "server_port" => Var::ServerPort,
            "ssl_protocol" => Var::SslProtocol,
            "ssl_cipher" => Var::SslCipher,
            "ssl_server_name" => Var::SslServerName,
            "ssl_session_reused" => Var::SslSessionReused,
            _ => {
                let header = name.strip_prefix("http_")?;
                if header.is_empty() {
                    return None;
                }
                // nginx maps `_` in the variable name to `-` in the header name.
                let header = header.replace('_', "-").to_ascii_lowercase();
                return HeaderName::from_bytes(header.as_bytes())
                    .ok()
                    .map(Var::Http);
            }
        })
    }

    /// True for the variables that come from the client certificate.
    pub fn is_client_identity(&self) -> bool {
        matches!(
            self,
            Var::SslClientVerify
                | Var::SslClientSDn
                | Var::SslClientIDn
                | Var::SslClientSDnLegacy
                | Var::SslClientIDnLegacy
                | Var::SslClientSerial
                | Var::SslClientFingerprint
                | Var::SslClientFingerprintSha256
                | Var::SslClientVStart
                | Var::SslClientVEnd
                | Var::SslClientVRemain
                | Var::SslClientEscapedCert
                | Var::SslClientRawCert
                | Var::SslClientCertRfc9440
                | Var::SslClientCertChainRfc9440
                | Var::SslClientSpkiSha256
                | Var::SslClientSanDns
                | Var::SslClientSanEmail
                | Var::SslClientSanUri
                | Var::SslClientSanIp
                | Var::SslClientXfcc
                | Var::SslClientJwt
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// Where a template is used: header values must stay on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Header,
    Body,
}

/// A parsed template: literal text with `$variables` (or `${variables}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    target: Target,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable `${0}`")]
    UnknownVariable(String),
    #[error(
        "`$` at byte {0} is not followed by a variable name (nginx has no escape for a literal `$`)"
    )]
    EmptyName(usize),
    #[error("unterminated `${{` at byte {0}")]
    Unterminated(usize),
    #[error("contains a control character (byte {0:#04x}); header values must be one line")]
    ControlCharacter(u8),
}

impl Template {
    /// Parses `source`.
    ///
    /// # Errors
    /// An unknown `$variable`, a lone `$`, an unterminated `${`, or (for
    /// header templates) literal control characters.
    pub fn parse(source: &str, target: Target) -> Result<Template, TemplateError> {
        if target == Target::Header
            && let Some(b) = source
                .bytes()
                .find(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
        {
            return Err(TemplateError::ControlCharacter(b));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or(TemplateError::Unterminated(offset + pos))?;
                (&braced[..end], end + 2)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                return Err(TemplateError::EmptyName(offset + pos));
            }
            let var =
                Var::from_name(name).ok_or_else(|| TemplateError::UnknownVariable(name.into()))?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(var));
            let skip = pos + 1 + consumed;
            offset += skip;
            rest = &rest[skip..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts, target })
    }

    /// The variables this template references.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template for one request. An empty result means "send no
    /// header", as in nginx.
    pub fn render(&self, ctx: &RequestVars<'_>) -> String {
        // Most values (DNs, fingerprints, addresses) fit without regrowing.
        let mut out = String::with_capacity(128);
        self.render_into(ctx, &mut out);
        out
    }

    /// Renders the template for one request at the end of `out` (a buffer
    /// reused across the headers of a request: one allocation for all).
    pub fn render_into(&self, ctx: &RequestVars<'_>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => ctx.append(var, self.target, out),
            }
        }
    }
}

/// `X-Forwarded-For`, looked up by `$proxy_add_x_forwarded_for` (a
/// constant: no parsing of the name per request).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Appends `ip` as `Display` writes it. IPv4, the common case, by hand:
/// `write!` through `fmt` costs about ten times as much per request.
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

/// Everything a variable can be computed from, for one request.
pub struct RequestVars<'a> {
    /// The connection's facts (addresses, TLS, server name, identity).
    pub facts: &'a ConnFacts,
    pub request: &'a http::request::Parts,
    /// `$host`, already validated and lower-cased.
    pub host: &'a str,
    /// `$proxy_host` of the location being served (empty for `return`).
    pub proxy_host: &'a str,
    /// `$uri`: the normalized path used for routing.
    pub uri: &'a str,
    pub now_unix: i64,
    /// What `$ssl_client_jwt` is signed with (`None`: no
    /// `[identity_assertion]`, the variable is empty).
    pub assertion: Option<AssertionVars<'a>>,
}

/// The identity assertion of one request: the key, the location's audience
/// and the connection's token cache.
#[derive(Clone, Copy)]
pub struct AssertionVars<'a> {
    pub assertion: &'a crate::assertion::Assertion,
    pub audience: &'a str,
    pub tokens: &'a crate::assertion::TokenCache,
}

impl RequestVars<'_> {
    fn append(&self, var: &Var, target: Target, out: &mut String) {
        let peer = &self.facts.peer;
        let cert = peer.cert();
        let tls = &self.facts.tls;
        match var {
            Var::SslClientVerify => out.push_str(peer.verify_text()),
            Var::SslClientSDn => out.push_str(cert.map_or("", |c| c.subject_dn())),
            Var::SslClientIDn => out.push_str(cert.map_or("", |c| c.issuer_dn())),
            Var::SslClientSDnLegacy => out.push_str(cert.map_or("", |c| c.subject_dn_legacy())),
            Var::SslClientIDnLegacy => out.push_str(cert.map_or("", |c| c.issuer_dn_legacy())),
            Var::SslClientSerial => out.push_str(cert.map_or("", |c| c.serial())),
            Var::SslClientFingerprint => out.push_str(cert.map_or("", |c| c.fingerprint())),
            Var::SslClientFingerprintSha256 => {
                out.push_str(cert.map_or("", |c| c.fingerprint_sha256()))
            }
            Var::SslClientVStart => out.push_str(cert.map_or("", |c| c.v_start())),
            Var::SslClientVEnd => out.push_str(cert.map_or("", |c| c.v_end())),
            Var::SslClientVRemain => {
                if let Some(c) = cert {
                    out.push_str(&c.v_remain(self.now_unix));
                }
            }
            Var::SslClientEscapedCert => out.push_str(cert.map_or("", |c| c.escaped_pem())),
            Var::SslClientRawCert => {
                if let Some(c) = cert {
                    match target {
                        Target::Body => out.push_str(c.raw_pem()),
                        // A header cannot carry line breaks: the PEM lines are
                        // joined with single spaces (documented deviation).
                        Target::Header => out.push_str(&c.raw_pem_one_line()),
                    }
                }
            }
            Var::SslClientSpkiSha256 => {
                out.push_str(peer.verified_cert().map_or("", |c| c.spki_sha256()))
            }
            Var::SslClientCertRfc9440
            | Var::SslClientCertChainRfc9440
            | Var::SslClientSanDns
            | Var::SslClientSanEmail
            | Var::SslClientSanUri
            | Var::SslClientSanIp
            | Var::SslClientXfcc => {
                // Empty unless the chain verified (see PeerIdentity::forwarded).
                if let Some(f) = peer.forwarded() {
                    out.push_str(match var {
                        Var::SslClientCertRfc9440 => &f.cert_rfc9440,
                        Var::SslClientCertChainRfc9440 => &f.chain_rfc9440,
                        Var::SslClientSanDns => &f.san_dns,
                        Var::SslClientSanEmail => &f.san_email,
                        Var::SslClientSanUri => &f.san_uri,
                        Var::SslClientSanIp => &f.san_ip,
                        _ => &f.xfcc,
                    });
                }
            }
            Var::SslClientJwt => {
                if let Some(a) = &self.assertion
                    && let Some(token) =
                        a.tokens
                            .token(a.assertion, peer.verified_cert(), a.audience, self.now_unix)
                {
                    out.push_str(&token);
                }
            }
            Var::Host => out.push_str(self.host),
            Var::RemoteAddr => push_ip(out, self.facts.remote.ip()),
            Var::RemotePort => {
                let _ = write!(out, "{}", self.facts.remote.port());
            }
            Var::ProxyProtocolAddr => {
                if let Some(source) = self.facts.proxy_protocol {
                    push_ip(out, source.ip());
                }
            }
            Var::ProxyProtocolPort => {
                if let Some(source) = self.facts.proxy_protocol {
                    let _ = write!(out, "{}", source.port());
                }
            }
            Var::Scheme => out.push_str("https"),
            Var::ProxyAddXForwardedFor => {
                // Every client X-Forwarded-For line verbatim, each followed by
                // ", ", then the peer address (as nginx 1.22 does).
                for value in self.request.headers.get_all(X_FORWARDED_FOR) {
                    out.push_str(&String::from_utf8_lossy(value.as_bytes()));
                    out.push_str(", ");
                }
                push_ip(out, self.facts.remote.ip());
            }
            Var::ProxyHost => out.push_str(self.proxy_host),
            Var::RequestUri => out.push_str(
                self.request
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str()),
            ),
            Var::RequestMethod => out.push_str(self.request.method.as_str()),
            Var::Uri => out.push_str(self.uri),
            Var::Args => out.push_str(self.request.uri.query().unwrap_or("")),
            Var::ServerName => out.push_str(&self.facts.server_name),
            Var::ServerPort => {
                let _ = write!(out, "{}", self.facts.local.port());
            }
            Var::SslProtocol => out.push_str(tls.protocol),
            Var::SslCipher => out.push_str(tls.cipher),
            Var::SslServerName => out.push_str(tls.server_name.as_deref().unwrap_or("")),
            Var::SslSessionReused => out.push_str(if tls.resumed { "r" } else { "." }),
            Var::Http(name) => {
                let mut first = true;
                for value in self.request.headers.get_all(name) {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    out.push_str(&String::from_utf8_lossy(value.as_bytes()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Template, TemplateError> {
        Template::parse(s, Target::Header)
    }

    #[test]
    fn literal_text_around_variables() {
        let t = parse("cn=${ssl_client_s_dn};ip=$remote_addr!").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal("cn=".into()),
                Part::Var(Var::SslClientSDn),
                Part::Literal(";ip=".into()),
                Part::Var(Var::RemoteAddr),
                Part::Literal("!".into()),
            ]
        );
    }

    #[test]
    fn unknown_variable_is_named() {
        assert_eq!(
            parse("$ssl_client_dn").unwrap_err(),
            TemplateError::UnknownVariable("ssl_client_dn".into())
        );
        assert_eq!(
            parse("a ${nope} b").unwrap_err(),
            TemplateError::UnknownVariable("nope".into())
        );
    }

    #[test]
    fn lone_dollar_and_unterminated_brace_are_errors() {
        assert_eq!(parse("cost $ 5").unwrap_err(), TemplateError::EmptyName(5));
        assert_eq!(
            parse("x${host").unwrap_err(),
            TemplateError::Unterminated(1)
        );
    }

    #[test]
    fn header_templates_refuse_line_breaks() {
        assert_eq!(
            parse("a\r\nX-Evil: 1").unwrap_err(),
            TemplateError::ControlCharacter(b'\r')
        );
        assert!(Template::parse("line1\nline2", Target::Body).is_ok());
    }

    #[test]
    fn ip_addresses_are_written_as_display_writes_them() {
        let mut ips: Vec<std::net::IpAddr> = Vec::new();
        for a in [0u8, 1, 9, 10, 99, 100, 127, 199, 200, 255] {
            ips.push([a, 0, 1, 255].into());
            ips.push([255, a, 10, a].into());
        }
        ips.push("::1".parse().unwrap());
        ips.push("::ffff:192.0.2.1".parse().unwrap());
        ips.push("2001:db8::1".parse().unwrap());
        for ip in ips {
            let mut out = String::from("x");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}"));
        }
    }

    #[test]
    fn http_variables_map_underscores_to_dashes() {
        let t = parse("$http_x_request_id").unwrap();
        assert_eq!(
            t.vars().collect::<Vec<_>>(),
            vec![&Var::Http(HeaderName::from_static("x-request-id"))]
        );
        assert!(parse("$http_").is_err());
    }
}
