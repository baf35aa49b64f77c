//! nginx's `proxy_ssl_*`: TLS to an `https://` upstream. Each key is set on
//! a location or inherited from its server, one by one (nginx's
//! inheritance); the files are read and checked here, so a bad one fails
//! the load (and a reload, which keeps the old configuration).

use std::path::Path;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor};

use super::Ctx;
use super::files::{read_certs, read_key};
use crate::clock::unix_now;
use crate::config::raw::{RawLocation, RawServer};
use crate::config::{Protocol, UpstreamTls};
use crate::verify::policy::MAX_VERIFY_DEPTH;

/// nginx's default `proxy_ssl_verify_depth`: one intermediate between the
/// upstream's certificate and the root.
const DEFAULT_VERIFY_DEPTH: u32 = 1;

/// A key's value and where it was written (`server[0]` or
/// `server[0].location[1]`), for error messages.
#[derive(Debug, Clone)]
struct At<T> {
    value: T,
    origin: Arc<str>,
}

impl<T> At<T> {
    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.origin)
    }
}

/// The `proxy_ssl_*` keys of one block, or of a location after inheritance.
#[derive(Debug, Clone, Default)]
pub(super) struct ProxySslKeys {
    certificate: Option<At<String>>,
    certificate_key: Option<At<String>>,
    trusted_certificate: Option<At<String>>,
    verify: Option<At<bool>>,
    verify_depth: Option<At<i64>>,
    name: Option<At<String>>,
    server_name: Option<At<bool>>,
    protocols: Option<At<Vec<String>>>,
    session_reuse: Option<At<bool>>,
}

macro_rules! keys_of {
    ($raw:expr, $origin:expr) => {{
        let origin: Arc<str> = Arc::from($origin);
        ProxySslKeys {
            certificate: at(&$raw.proxy_ssl_certificate, &origin),
            certificate_key: at(&$raw.proxy_ssl_certificate_key, &origin),
            trusted_certificate: at(&$raw.proxy_ssl_trusted_certificate, &origin),
            verify: at(&$raw.proxy_ssl_verify, &origin),
            verify_depth: at(&$raw.proxy_ssl_verify_depth, &origin),
            name: at(&$raw.proxy_ssl_name, &origin),
            server_name: at(&$raw.proxy_ssl_server_name, &origin),
            protocols: at(&$raw.proxy_ssl_protocols, &origin),
            session_reuse: at(&$raw.proxy_ssl_session_reuse, &origin),
        }
    }};
}

fn at<T: Clone>(value: &Option<T>, origin: &Arc<str>) -> Option<At<T>> {
    value.clone().map(|value| At {
        value,
        origin: origin.clone(),
    })
}

impl ProxySslKeys {
    pub(super) fn of_server(label: &str, raw: &RawServer) -> ProxySslKeys {
        keys_of!(raw, label)
    }

    pub(super) fn of_location(key: &str, raw: &RawLocation) -> ProxySslKeys {
        keys_of!(raw, key)
    }

    /// This location's keys, each one it does not set taken from `server`.
    pub(super) fn inherit(self, server: &ProxySslKeys) -> ProxySslKeys {
        ProxySslKeys {
            certificate: self.certificate.or_else(|| server.certificate.clone()),
            certificate_key: self
                .certificate_key
                .or_else(|| server.certificate_key.clone()),
            trusted_certificate: self
                .trusted_certificate
                .or_else(|| server.trusted_certificate.clone()),
            verify: self.verify.or_else(|| server.verify.clone()),
            verify_depth: self.verify_depth.or_else(|| server.verify_depth.clone()),
            name: self.name.or_else(|| server.name.clone()),
            server_name: self.server_name.or_else(|| server.server_name.clone()),
            protocols: self.protocols.or_else(|| server.protocols.clone()),
            session_reuse: self.session_reuse.or_else(|| server.session_reuse.clone()),
        }
    }

    /// The names of the keys set (for "only meaningful with https://").
    pub(super) fn set_names(&self) -> Vec<&'static str> {
        [
            ("proxy_ssl_certificate", self.certificate.is_some()),
            ("proxy_ssl_certificate_key", self.certificate_key.is_some()),
            (
                "proxy_ssl_trusted_certificate",
                self.trusted_certificate.is_some(),
            ),
            ("proxy_ssl_verify", self.verify.is_some()),
            ("proxy_ssl_verify_depth", self.verify_depth.is_some()),
            ("proxy_ssl_name", self.name.is_some()),
            ("proxy_ssl_server_name", self.server_name.is_some()),
            ("proxy_ssl_protocols", self.protocols.is_some()),
            ("proxy_ssl_session_reuse", self.session_reuse.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Records `problem` at `key` once: a server's bad `proxy_ssl_*` file is
/// reported once, not once per location that inherits it.
fn error_once(ctx: &mut Ctx<'_>, key: String, problem: impl std::fmt::Display) {
    let problem = problem.to_string();
    if !ctx
        .errors
        .iter()
        .any(|e| e.key == key && e.problem == problem)
    {
        ctx.error(key, problem);
    }
}

/// The TLS settings of an `https://` location (`loc` its key), whose
/// `proxy_pass` host is `host` (the default `proxy_ssl_name`).
pub(super) fn validate_upstream_tls(
    loc: &str,
    keys: &ProxySslKeys,
    host: &str,
    ctx: &mut Ctx<'_>,
) -> Option<UpstreamTls> {
    let mut ok = true;
    let client_cert = match (&keys.certificate, &keys.certificate_key) {
        (None, None) => None,
        (Some(cert), None) => {
            error_once(
                ctx,
                cert.key("proxy_ssl_certificate_key"),
                "missing: proxy_ssl_certificate needs its private key",
            );
            ok = false;
            None
        }
        (None, Some(key)) => {
            error_once(
                ctx,
                key.key("proxy_ssl_certificate"),
                "missing: proxy_ssl_certificate_key needs its certificate",
            );
            ok = false;
            None
        }
        (Some(cert), Some(key)) => {
            let loaded = client_certificate(cert, key, ctx);
            ok &= loaded.is_some();
            loaded
        }
    };

    let verify = keys.verify.as_ref().is_none_or(|v| v.value);
    let (mut anchors, mut intermediates) = (Vec::new(), Vec::new());
    match &keys.trusted_certificate {
        None if verify => {
            error_once(
                ctx,
                format!("{loc}.proxy_ssl_trusted_certificate"),
                "missing: proxy_ssl_verify is on (the default here, unlike nginx) and needs the CA \
                 certificate that issued the upstream's certificate; to skip verifying the upstream \
                 (not recommended) set proxy_ssl_verify = false",
            );
            ok = false;
        }
        None => {}
        Some(file) => match trusted(file, ctx) {
            Some((a, i)) => (anchors, intermediates) = (a, i),
            None => ok = false,
        },
    }
    if !verify {
        // As nginx: the file is read and checked but not used.
        anchors.clear();
        intermediates.clear();
    }

    let verify_depth = match &keys.verify_depth {
        None => DEFAULT_VERIFY_DEPTH,
        Some(d) => match u32::try_from(d.value) {
            Ok(n) if n <= MAX_VERIFY_DEPTH => n,
            _ => {
                error_once(
                    ctx,
                    d.key("proxy_ssl_verify_depth"),
                    format!(
                        "{} is out of range: 0 to {MAX_VERIFY_DEPTH} intermediates between the upstream's certificate and the root",
                        d.value
                    ),
                );
                ok = false;
                DEFAULT_VERIFY_DEPTH
            }
        },
    };

    let (name_text, name_key) = match &keys.name {
        Some(n) => (n.value.as_str(), n.key("proxy_ssl_name")),
        None => (host, format!("{loc}.proxy_pass")),
    };
    let name = match ServerName::try_from(name_text.to_string()) {
        Ok(n) => Some(n),
        Err(_) => {
            error_once(
                ctx,
                name_key,
                format!(
                    "{name_text:?} is not a DNS name or IP address the upstream's certificate could be checked against{}",
                    if keys.name.is_none() {
                        " (set proxy_ssl_name)"
                    } else {
                        ""
                    }
                ),
            );
            None
        }
    };

    let protocols = match &keys.protocols {
        None => vec![Protocol::Tls12, Protocol::Tls13],
        Some(list) => {
            let mut out = Vec::new();
            for (j, p) in list.value.iter().enumerate() {
                let proto = match p.as_str() {
                    "TLSv1.2" => Protocol::Tls12,
                    "TLSv1.3" => Protocol::Tls13,
                    other => {
                        error_once(
                            ctx,
                            format!("{}[{j}]", list.key("proxy_ssl_protocols")),
                            format!(
                                "{other:?} is not supported (only \"TLSv1.2\" and \"TLSv1.3\" are implemented)"
                            ),
                        );
                        continue;
                    }
                };
                if !out.contains(&proto) {
                    out.push(proto);
                }
            }
            if out.is_empty() {
                error_once(
                    ctx,
                    list.key("proxy_ssl_protocols"),
                    "no usable protocol left",
                );
                ok = false;
            }
            out
        }
    };

    if !ok {
        return None;
    }
    Some(UpstreamTls {
        client_cert,
        anchors,
        intermediates,
        verify,
        verify_depth,
        name: name?,
        server_name: keys.server_name.as_ref().is_some_and(|v| v.value),
        protocols,
        session_reuse: keys.session_reuse.as_ref().is_none_or(|v| v.value),
    })
}

/// `proxy_ssl_certificate` and its key: read, checked to match, dated.
fn client_certificate(
    cert: &At<String>,
    key: &At<String>,
    ctx: &mut Ctx<'_>,
) -> Option<Arc<CertifiedKey>> {
    let (cert_key, key_key) = (
        cert.key("proxy_ssl_certificate"),
        key.key("proxy_ssl_certificate_key"),
    );
    let chain = read_certs(&ctx.resolve(&cert.value))
        .map_err(|problem| error_once(ctx, cert_key.clone(), problem))
        .ok();
    let private_key = read_key(&ctx.resolve(&key.value))
        .map_err(|problem| error_once(ctx, key_key.clone(), problem))
        .ok();
    let (chain, private_key) = (chain?, private_key?);
    if let Some(leaf) = chain.first()
        && let Some(problem) = date_problem(leaf)
    {
        error_once(ctx, cert_key, problem);
        return None;
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let problem = match CertifiedKey::from_der(chain, private_key, &provider) {
        Ok(ck) => match ck.keys_match() {
            Ok(()) => return Some(Arc::new(ck)),
            Err(e) => format!("does not match the certificate's public key ({e})"),
        },
        Err(rustls::Error::InconsistentKeys(_)) => {
            "does not match the certificate's public key (is it the key of another certificate?)"
                .to_string()
        }
        Err(e) => format!("unusable private key: {e}"),
    };
    error_once(ctx, key_key, problem);
    None
}

/// Why the gateway's client certificate cannot be used today, if so: the
/// upstream would refuse every connection.
fn date_problem(leaf: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let now = unix_now();
    let validity = cert.validity();
    if validity.not_after.timestamp() < now {
        Some(format!(
            "the client certificate expired on {}",
            validity.not_after
        ))
    } else if validity.not_before.timestamp() > now {
        Some(format!(
            "the client certificate is not valid before {}",
            validity.not_before
        ))
    } else {
        None
    }
}

type TrustedCerts = (Vec<TrustAnchor<'static>>, Vec<CertificateDer<'static>>);

/// `proxy_ssl_trusted_certificate`: the self-signed certificates are the
/// anchors, the others intermediates for building the chain.
fn trusted(file: &At<String>, ctx: &mut Ctx<'_>) -> Option<TrustedCerts> {
    let key = file.key("proxy_ssl_trusted_certificate");
    let path = ctx.resolve(&file.value);
    let certs = read_certs(&path)
        .map_err(|problem| error_once(ctx, key.clone(), problem))
        .ok()?;
    let (mut anchors, mut intermediates) = (Vec::new(), Vec::new());
    for (i, der) in certs.into_iter().enumerate() {
        // read_certs checked that each parses.
        let self_signed = x509_parser::parse_x509_certificate(&der)
            .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw());
        if !self_signed {
            intermediates.push(der);
            continue;
        }
        match webpki::anchor_from_trusted_cert(&der) {
            Ok(anchor) => anchors.push(anchor.to_owned()),
            Err(e) => {
                error_once(
                    ctx,
                    key,
                    format!(
                        "{}: certificate #{} cannot be a trust anchor: {e:?}",
                        Path::display(&path),
                        i + 1
                    ),
                );
                return None;
            }
        }
    }
    if anchors.is_empty() {
        error_once(
            ctx,
            key,
            format!(
                "{}: no self-signed (root) CA certificate: the upstream's chain must end at one (an intermediate alone is not trusted, as in nginx)",
                path.display()
            ),
        );
        return None;
    }
    Some((anchors, intermediates))
}
