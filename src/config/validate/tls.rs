//! `[server.tls]` and `[server.client_auth]`: the server's certificate and
//! key, protocols and sessions, and the client-certificate policy.

use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;

use super::Ctx;
use super::files::{read_certs, read_crls, read_key};
use crate::clock::unix_now;
use crate::config::raw::{RawClientAuth, RawTls};
use crate::config::{
    ClientAuth, CrlCheck, CrlExpired, FailureMode, Protocol, Tls, VerifyMode, defaults,
};
use crate::verify::TrustStore;

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
pub(super) fn check_server_cert_dates(key: &str, leaf: &CertificateDer<'_>, ctx: &mut Ctx<'_>) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return;
    };
    let now = unix_now();
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

pub(super) fn validate_client_auth(
    label: &str,
    raw: RawClientAuth,
    ctx: &mut Ctx<'_>,
) -> Option<ClientAuth> {
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
