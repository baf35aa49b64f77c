//! `[server.tls]` and `[server.client_auth]`: the server's certificate and
//! key, protocols and sessions, and the client-certificate policy.

use std::sync::Arc;

use rustls::sign::CertifiedKey;

use super::Ctx;
use super::files::{read_certs, read_crls, read_key};
use crate::clock::unix_now;
use crate::config::raw::{OneOrMany, RawClientAuth, RawSize, RawTls};
use crate::config::{Protocol, Tls, defaults, size};
use crate::tickets::TicketKey;
use crate::verify::TrustStore;
use crate::verify::ocsp::{self, OcspMode, OcspPolicy};
use crate::verify::policy::{
    ClientAuth, CrlCheck, CrlExpired, FailureMode, Keyword, PolicyError, VerifyMode,
};

pub(super) fn validate_tls(label: &str, raw: RawTls, ctx: &mut Ctx<'_>) -> Option<Tls> {
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
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        // Which certificate of the file the key belongs to, for a chain
        // written in the wrong order (root or intermediate first).
        let order_hint = key_position(&chain, &private_key, &provider)
            .filter(|&i| i > 0)
            .map(|i| {
                format!(
                    "the key belongs to certificate #{} of the file: the chain is in the wrong order; the server's own certificate must come first, then its intermediates (leaf, intermediate, ..., root)",
                    i + 1
                )
            });
        match CertifiedKey::from_der(chain, private_key, &provider) {
            Ok(ck) => match ck.keys_match() {
                Ok(()) => certified_key = Some(Arc::new(ck)),
                Err(e) => match order_hint {
                    Some(hint) => ctx.error(format!("{key}.certificate"), hint),
                    None => ctx.error(
                        format!("{key}.certificate_key"),
                        format!("does not match the certificate's public key ({e})"),
                    ),
                },
            },
            Err(rustls::Error::InconsistentKeys(_)) => match order_hint {
                Some(hint) => ctx.error(format!("{key}.certificate"), hint),
                None => ctx.error(
                    format!("{key}.certificate_key"),
                    "does not match the certificate's public key (is it the key of another certificate?)",
                ),
            },
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
        Some(n) if (0..=10_000_000).contains(&n) => usize::try_from(n).unwrap_or(0),
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
    let session_tickets = raw.session_tickets.unwrap_or(true);
    let session_ticket_keys =
        validate_ticket_keys(&key, raw.session_ticket_key, session_tickets, ctx);
    Some(Tls {
        certificate: cert_path?,
        certificate_key: key_path?,
        certified_key: certified_key?,
        protocols,
        session_timeout,
        session_cache,
        session_tickets,
        handshake_timeout,
        session_ticket_keys,
    })
}

/// `session_ticket_key`: nginx's key files, each read and checked; two
/// keys with one name would make tickets ambiguous.
fn validate_ticket_keys(
    key: &str,
    raw: Option<OneOrMany<String>>,
    session_tickets: bool,
    ctx: &mut Ctx<'_>,
) -> Vec<TicketKey> {
    let Some(files) = raw.map(OneOrMany::into_vec) else {
        return Vec::new();
    };
    let setting = format!("{key}.session_ticket_key");
    if files.is_empty() {
        ctx.error(
            &setting,
            "empty list (leave the key out for random per-process keys)",
        );
    }
    if !session_tickets {
        ctx.error(
            &setting,
            "set while session_tickets = false: remove one of them",
        );
    }
    // (index in the list, key)
    let mut keys: Vec<(usize, TicketKey)> = Vec::new();
    for (j, file) in files.iter().enumerate() {
        match TicketKey::read(&ctx.resolve(file)) {
            Ok(k) => {
                if let Some((first, _)) = keys.iter().find(|(_, other)| other.same_name(&k)) {
                    ctx.error(
                        format!("{setting}[{j}]"),
                        format!(
                            "has the same key name (first 16 bytes) as session_ticket_key[{first}]; tickets could not tell them apart"
                        ),
                    );
                }
                keys.push((j, k));
            }
            Err(problem) => ctx.error(format!("{setting}[{j}]"), problem),
        }
    }
    keys.into_iter().map(|(_, k)| k).collect()
}

pub(super) fn validate_client_auth(
    label: &str,
    raw: RawClientAuth,
    ctx: &mut Ctx<'_>,
) -> Option<ClientAuth> {
    let key = format!("{label}.client_auth");
    let mut ok = true;
    fn keyword<K: Keyword>(value: Option<&str>, default: K) -> Option<K> {
        value.map_or(Some(default), K::parse)
    }
    let mode = keyword(raw.verify_client.as_deref(), VerifyMode::Off);
    let failure = keyword(raw.failure.as_deref(), FailureMode::Http);
    let crl_check = keyword(raw.crl_check.as_deref(), CrlCheck::Chain);
    let crl_expired = keyword(raw.crl_expired.as_deref(), CrlExpired::Reject);
    for (name, value, bad, choices) in [
        (
            "verify_client",
            &raw.verify_client,
            mode.is_none(),
            VerifyMode::choices(),
        ),
        (
            "failure",
            &raw.failure,
            failure.is_none(),
            FailureMode::choices(),
        ),
        (
            "crl_check",
            &raw.crl_check,
            crl_check.is_none(),
            CrlCheck::choices(),
        ),
        (
            "crl_expired",
            &raw.crl_expired,
            crl_expired.is_none(),
            CrlExpired::choices(),
        ),
    ] {
        if bad {
            let text = value.as_deref().unwrap_or_default();
            ctx.error(
                format!("{key}.{name}"),
                format!("{text:?} is not one of {choices}"),
            );
            ok = false;
        }
    }
    let mut builder = ClientAuth::builder(mode.unwrap_or(VerifyMode::Off))
        .failure(failure.unwrap_or(FailureMode::Http));
    if let Some(depth) = raw.verify_depth {
        builder = builder.verify_depth(depth);
    }
    let load = |name: &str, value: &Option<String>, ctx: &mut Ctx<'_>| match value {
        None => Some(Vec::new()),
        Some(file) => match read_certs(&ctx.resolve(file)) {
            Ok(c) => Some(c),
            Err(problem) => {
                ctx.error(format!("{key}.{name}"), problem.to_string());
                None
            }
        },
    };
    let advertised = load("client_certificate", &raw.client_certificate, ctx);
    let trusted = load("trusted_certificate", &raw.trusted_certificate, ctx);
    let trust = match (advertised, trusted) {
        (Some(advertised), Some(trusted)) => match TrustStore::new(&advertised, &trusted) {
            Ok(t) => Some(t),
            Err(problem) => {
                ctx.error(format!("{key}.client_certificate"), problem.to_string());
                None
            }
        },
        _ => None,
    };
    // Without a usable CA file the policy cannot be complete; its other
    // settings are still checked below, so every error is reported.
    let ca_usable = trust.is_some();
    ok &= ca_usable;
    let trust = trust.unwrap_or_else(TrustStore::empty);

    builder = builder.trust(trust);
    if let Some(check) = raw.crl_check.as_ref().and(crl_check) {
        builder = builder.crl_check(check);
    }
    if let Some(expired) = raw.crl_expired.as_ref().and(crl_expired) {
        builder = builder.crl_expired(expired);
    }
    if let Some(ocsp) = validate_ocsp(&key, &raw, ctx) {
        builder = builder.ocsp(ocsp);
    } else {
        ok = false;
    }
    let mut crl_unreadable = false;
    if let Some(file) = &raw.crl {
        let path = ctx.resolve(file);
        match read_crls(&path) {
            Ok(records) => {
                let now = unix_now();
                for record in &records {
                    let issuer = &record.issuer_dn;
                    // nginx loads these too; say what they will do.
                    if let Some(why) = record.never_used() {
                        tracing::warn!(
                            "{key}.crl: the CRL of {issuer} is never used ({why}: OpenSSL, and so nginx, skips such CRLs); without another CRL for that CA its clients get FAILED:unable to get certificate CRL"
                        );
                    } else if record.has_unhandled_critical() {
                        tracing::warn!(
                            "{key}.crl: the CRL of {issuer} has a critical extension OpenSSL does not handle; as in nginx, clients under that CA get FAILED:unhandled critical CRL extension"
                        );
                    }
                    if record.next_update.is_some_and(|n| n < now) {
                        tracing::warn!(
                            "{key}.crl: the CRL of {issuer} is past its nextUpdate; {}",
                            match crl_expired.unwrap_or(CrlExpired::Reject) {
                                CrlExpired::Reject =>
                                    "clients under that CA get FAILED:CRL has expired",
                                CrlExpired::Accept => "crl_expired = \"accept\" keeps using it",
                            }
                        );
                    }
                }
                builder = builder.crls(records);
            }
            Err(problem) => {
                ctx.error(format!("{key}.crl"), problem.to_string());
                ok = false;
                crl_unreadable = true;
            }
        }
    }
    match builder.build() {
        Ok(auth) => ok.then_some(auth),
        Err(errors) => {
            // An unreadable `crl` or CA file was reported above, not as a
            // missing one.
            let errors = errors.into_iter().filter(|e| match e {
                PolicyError::CrlRulesWithoutCrl => !crl_unreadable,
                PolicyError::NoCa | PolicyError::NoTrustAnchor => ca_usable,
                PolicyError::DepthOutOfRange(_) | PolicyError::OcspWithoutVerification => true,
            });
            for e in errors {
                ctx.error(format!("{key}.{}", e.setting()), e.to_string());
            }
            None
        }
    }
}

/// The index of the certificate in `chain` whose public key is that of
/// `key` (None: none, or the key cannot be loaded).
fn key_position(
    chain: &[rustls_pki_types::CertificateDer<'static>],
    key: &rustls_pki_types::PrivateKeyDer<'static>,
    provider: &rustls::crypto::CryptoProvider,
) -> Option<usize> {
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .ok()?;
    let spki = signing.public_key()?;
    chain.iter().position(|cert| {
        x509_parser::parse_x509_certificate(cert)
            .is_ok_and(|(_, c)| c.tbs_certificate.subject_pki.raw == spki.as_ref())
    })
}

/// Largest `ocsp_cache`: 1 GiB (nginx's zones are sized alike; each entry
/// costs about [`ocsp::ENTRY_BYTES`]).
const MAX_OCSP_CACHE_BYTES: u64 = 1 << 30;

/// `ocsp`, `ocsp_responder`, `ocsp_cache`, `ocsp_timeout` (nginx's
/// `ssl_ocsp`, `ssl_ocsp_responder`, `ssl_ocsp_cache`); `None` after
/// reporting a problem.
fn validate_ocsp(key: &str, raw: &RawClientAuth, ctx: &mut Ctx<'_>) -> Option<OcspPolicy> {
    let mut ok = true;
    let mut policy = OcspPolicy::default();
    match raw.ocsp.as_deref().map(OcspMode::parse) {
        None => {}
        Some(Some(mode)) => policy.mode = mode,
        Some(None) => {
            ctx.error(
                format!("{key}.ocsp"),
                format!(
                    "{:?} is not one of {}",
                    raw.ocsp.as_deref().unwrap_or_default(),
                    OcspMode::choices()
                ),
            );
            ok = false;
        }
    }
    if let Some(url) = &raw.ocsp_responder {
        match ocsp::Responder::parse(url) {
            Ok(r) => policy.responder = Some(r),
            Err(e) => {
                ctx.error(format!("{key}.ocsp_responder"), e.to_string());
                ok = false;
            }
        }
    }
    match raw.ocsp_cache.as_deref() {
        None | Some("off") => {}
        Some(text) => {
            let parsed = text.strip_prefix("shared:").and_then(|rest| {
                let (name, size) = rest.rsplit_once(':')?;
                let bytes = size::parse(&RawSize::Text(size.to_string())).ok()?;
                (!name.is_empty() && bytes > 0 && bytes <= MAX_OCSP_CACHE_BYTES).then(|| {
                    let entries = usize::try_from(bytes).unwrap_or(usize::MAX) / ocsp::ENTRY_BYTES;
                    (name.to_string(), entries.max(1))
                })
            });
            match parsed {
                Some(cache) => policy.cache = Some(cache),
                None => {
                    ctx.error(
                        format!("{key}.ocsp_cache"),
                        format!(
                            "{text:?}: write \"off\" or \"shared:NAME:SIZE\" (nginx's ssl_ocsp_cache; SIZE as \"10m\", at most 1g)"
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    policy.timeout = ctx.duration(
        &format!("{key}.ocsp_timeout"),
        raw.ocsp_timeout.as_ref(),
        ocsp::DEFAULT_TIMEOUT,
    );
    if policy.mode == OcspMode::Off
        && (raw.ocsp_responder.is_some() || policy.cache.is_some() || raw.ocsp_timeout.is_some())
    {
        tracing::warn!(
            "{key}: ocsp_responder / ocsp_cache / ocsp_timeout have no effect while ocsp is \"off\""
        );
    }
    ok.then_some(policy)
}
