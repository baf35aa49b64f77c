//! `identity_headers` presets: the usual identity header sets by name, so a
//! location need not spell out each `proxy_set_header` line.
//!
//! A preset adds its headers after the location's `proxy_set_header`
//! table; a header that the table sets too keeps the table's value
//! (explicit wins, also an empty value, which sends no header).
//!
//! Also `[identity_assertion]` ([`validate_assertion`]): its key files are
//! read here, so a bad key fails the load (and a reload keeps the old keys).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::Ctx;
use super::files::read_key;
use crate::assertion::{self, Assertion, PublicJwk, SigningKey};
use crate::config::raw::{OneOrMany, RawIdentityAssertion};
use crate::template::{Target, Template};

/// A named header set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Preset {
    Rfc9440,
    Xfcc,
    Nginx,
}

impl Preset {
    const NAMES: &'static str = "\"rfc9440\", \"xfcc\", \"nginx\"";

    fn from_name(name: &str) -> Option<Preset> {
        match name {
            "rfc9440" => Some(Preset::Rfc9440),
            "xfcc" => Some(Preset::Xfcc),
            "nginx" => Some(Preset::Nginx),
            _ => None,
        }
    }

    /// The headers of the preset, in the order they are sent
    /// (documented in docs/configuration.md, "identity_headers").
    fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::Rfc9440 => &[
                ("client-cert", "$ssl_client_cert_rfc9440"),
                ("client-cert-chain", "$ssl_client_cert_chain_rfc9440"),
            ],
            Preset::Xfcc => &[("x-forwarded-client-cert", "$ssl_client_xfcc")],
            Preset::Nginx => &[
                ("x-ssl-client-verify", "$ssl_client_verify"),
                ("x-ssl-client-dn", "$ssl_client_s_dn"),
                ("x-ssl-client-serial", "$ssl_client_serial"),
                ("x-ssl-client-fingerprint", "$ssl_client_fingerprint"),
                ("x-ssl-client-issuer", "$ssl_client_i_dn"),
            ],
        }
    }
}

/// Parses an `identity_headers` value (one name or a list).
pub(super) fn validate_presets(
    key: &str,
    raw: &OneOrMany<String>,
    ctx: &mut Ctx<'_>,
) -> Vec<Preset> {
    let mut out = Vec::new();
    for name in raw.clone().into_vec() {
        match Preset::from_name(&name) {
            Some(p) if !out.contains(&p) => out.push(p),
            Some(_) => ctx.error(key, format!("{name:?} is listed twice")),
            None => ctx.error(
                key,
                format!("{name:?} is not a preset (one of {})", Preset::NAMES),
            ),
        }
    }
    out
}

/// Adds the presets' headers to `headers` where it does not set them.
pub(super) fn expand(presets: &[Preset], headers: &mut Vec<(HeaderName, Template)>) {
    for preset in presets {
        for (name, value) in preset.headers() {
            // Lower-case constant names (checked by the test below), so
            // `from_static` cannot panic.
            let name = HeaderName::from_static(name);
            if headers.iter().any(|(h, _)| *h == name) {
                continue;
            }
            // The presets' templates are constants of this file, checked by
            // the test below: a parse failure cannot happen at run time.
            if let Ok(t) = Template::parse(value, Target::Header) {
                headers.push((name, t));
            }
        }
    }
}

/// `[identity_assertion]`: the signing key, the previous keys, issuer,
/// audience and lifetime. `None` when absent or broken (errors recorded).
pub(super) fn validate_assertion(
    raw: Option<&RawIdentityAssertion>,
    ctx: &mut Ctx<'_>,
) -> Option<Arc<Assertion>> {
    let raw = raw?;
    const KEY: &str = "identity_assertion";
    let mut ok = true;
    let mut required = |name: &str, value: &Option<String>, ctx: &mut Ctx<'_>| match value {
        Some(v) if !v.trim().is_empty() => Some(v.clone()),
        Some(_) => {
            ctx.error(format!("{KEY}.{name}"), "empty");
            ok = false;
            None
        }
        None => {
            ctx.error(format!("{KEY}.{name}"), "missing");
            ok = false;
            None
        }
    };
    let issuer = required("issuer", &raw.issuer, ctx);
    let audience = required("audience", &raw.audience, ctx);
    let key_file = required("key", &raw.key, ctx);
    let lifetime = ctx.duration(
        &format!("{KEY}.lifetime"),
        raw.lifetime.as_ref(),
        assertion::DEFAULT_LIFETIME,
    );
    if lifetime < Duration::from_secs(1) || lifetime > assertion::MAX_LIFETIME {
        ctx.error(
            format!("{KEY}.lifetime"),
            format!(
                "{lifetime:?} is out of range (1s to {}s: a leaked token must not stay good for long)",
                assertion::MAX_LIFETIME.as_secs()
            ),
        );
        ok = false;
    }
    let key = key_file.and_then(|file| {
        let path = ctx.resolve(&file);
        let loaded = read_key(&path).map_err(|e| e.to_string()).and_then(|k| {
            SigningKey::from_private_key(&k).map_err(|e| format!("{}: {e}", path.display()))
        });
        match loaded {
            Ok(k) => Some(k),
            Err(problem) => {
                ctx.error(format!("{KEY}.key"), problem);
                None
            }
        }
    });
    let mut previous = Vec::new();
    for (i, file) in raw
        .previous_keys
        .clone()
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = ctx.resolve(file);
        match read_public(&path) {
            Ok(jwk) => previous.push(jwk),
            Err(problem) => {
                ctx.error(format!("{KEY}.previous_keys[{i}]"), problem);
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    Some(Arc::new(Assertion::new(
        key?, previous, issuer?, audience?, lifetime,
    )))
}

/// A previous key: a private key (its public half is published) or a
/// `PUBLIC KEY` PEM.
fn read_public(path: &Path) -> Result<PublicJwk, String> {
    use rustls_pki_types::SubjectPublicKeyInfoDer;
    use rustls_pki_types::pem::PemObject;
    if let Ok(key) = read_key(path) {
        return SigningKey::from_private_key(&key)
            .map(|k| k.public)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    match SubjectPublicKeyInfoDer::from_pem_file(path) {
        Ok(spki) => {
            PublicJwk::from_spki(spki.as_ref()).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) => Err(format!(
            "{}: no private key or PUBLIC KEY block: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_sets_identity_headers() {
        for p in [Preset::Rfc9440, Preset::Xfcc, Preset::Nginx] {
            for (name, value) in p.headers() {
                assert!(HeaderName::from_bytes(name.as_bytes()).is_ok());
                let t = Template::parse(value, Target::Header).expect(value);
                assert!(t.vars().all(|v| v.is_client_identity()), "{value}");
            }
        }
    }

    #[test]
    fn explicit_headers_win() {
        let mut headers = vec![(
            HeaderName::from_static("client-cert"),
            Template::parse("", Target::Header).unwrap(),
        )];
        expand(&[Preset::Rfc9440], &mut headers);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].1, Template::parse("", Target::Header).unwrap());
        assert_eq!(headers[1].0, "client-cert-chain");
    }
}
