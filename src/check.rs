//! Warnings about a configuration that loads but will not do what it was
//! written for: `mtls-gateway check` prints them, `run` logs them at start
//! and after each reload.
//!
//! - the server certificate has expired, is not valid yet, or expires
//!   within `expiry_days` (every client will refuse the server);
//! - the client CA bundle holds a certificate that is not a CA, or needs a
//!   larger `verify_depth` than configured ([`crate::verify::advice`]);
//! - a CA of the bundle has expired or expires soon, a CRL is past its
//!   nextUpdate (with `crl_expired = "reject"` every client under its CA is
//!   refused) or will be soon.
//!
//! An expired server certificate does not stop the gateway at start (nginx
//! starts and serves it; one server's certificate should not take every
//! other server down), but a reload to an expired certificate is refused
//! ([`expired_server_certificates`]): the one serving can only be as good.

use std::fmt;

use crate::config::Server;
use crate::runtime::Generation;
use crate::verify::policy::{CrlExpired, VerifyMode};

/// `check`'s default for "expires soon".
pub const DEFAULT_EXPIRY_DAYS: u32 = 30;

const DAY: i64 = 86_400;

/// One warning: the key it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Each server of the generation once (a server on several addresses is in
/// several listen groups).
fn servers(generation: &Generation) -> Vec<&Server> {
    let mut seen: Vec<&Server> = Vec::new();
    for group in &generation.groups {
        for server in &group.servers {
            if !seen.iter().any(|s| s.label == server.config.label) {
                seen.push(&server.config);
            }
        }
    }
    seen
}

/// notBefore and notAfter (Unix seconds) and the subject of a certificate.
fn dates(der: &[u8]) -> Option<(i64, i64, String)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    let subject = crate::identity::ClientCert::from_der(der)
        .map(|c| c.subject_dn().to_string())
        .unwrap_or_default();
    Some((v.not_before.timestamp(), v.not_after.timestamp(), subject))
}

/// A date as `2026-11-29 17:00:00 UTC`.
fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn days_left(at: i64, now: i64) -> i64 {
    at.saturating_sub(now) / DAY
}

/// Server certificates that have expired or are not valid yet at `now`.
pub fn expired_server_certificates(generation: &Generation, now: i64) -> Vec<Warning> {
    let mut out = Vec::new();
    for server in servers(generation) {
        let key = format!("{}.tls.certificate", server.label);
        let Some((not_before, not_after, _)) = server
            .tls
            .certified_key
            .cert
            .first()
            .and_then(|leaf| dates(leaf.as_ref()))
        else {
            continue;
        };
        if not_after < now {
            out.push(Warning {
                key,
                problem: format!(
                    "EXPIRED on {}: every client refuses this server (it is served anyway, as nginx does; renew it: docs/certificates.md)",
                    when(not_after)
                ),
            });
        } else if not_before > now {
            out.push(Warning {
                key,
                problem: format!(
                    "NOT VALID before {}: clients refuse this server until then (is the clock right?)",
                    when(not_before)
                ),
            });
        }
    }
    out
}

/// Every warning about `generation` at `now`; certificates and CRLs that
/// expire within `expiry_days` are named.
pub fn warnings(generation: &Generation, now: i64, expiry_days: u32) -> Vec<Warning> {
    let soon = i64::from(expiry_days).saturating_mul(DAY);
    let mut out = expired_server_certificates(generation, now);
    for server in servers(generation) {
        if let Some((_, not_after, _)) = server
            .tls
            .certified_key
            .cert
            .first()
            .and_then(|leaf| dates(leaf.as_ref()))
            && not_after >= now
            && not_after - now < soon
        {
            out.push(Warning {
                key: format!("{}.tls.certificate", server.label),
                problem: format!(
                    "expires in {} day(s), on {}",
                    days_left(not_after, now),
                    when(not_after)
                ),
            });
        }
        let auth = &server.client_auth;
        if auth.mode == VerifyMode::Off {
            continue;
        }
        let ca_key = format!("{}.client_auth.client_certificate", server.label);
        for problem in crate::verify::advice::warnings(auth) {
            out.push(Warning {
                key: ca_key.clone(),
                problem,
            });
        }
        for ca in auth.trust.certificates() {
            let Some((_, not_after, subject)) = dates(ca.as_ref()) else {
                continue;
            };
            let problem = if not_after < now {
                format!(
                    "CA `{subject}` EXPIRED on {}: its clients are refused",
                    when(not_after)
                )
            } else if not_after - now < soon {
                format!(
                    "CA `{subject}` expires in {} day(s), on {}: its clients are refused from then",
                    days_left(not_after, now),
                    when(not_after)
                )
            } else {
                continue;
            };
            out.push(Warning {
                key: ca_key.clone(),
                problem,
            });
        }
        for crl in &auth.crl_records {
            let Some(next) = crl.next_update else {
                continue;
            };
            let consequence = match auth.crl_expired {
                CrlExpired::Reject => {
                    "every client under its CA is refused (crl_expired = \"reject\")"
                }
                CrlExpired::Accept => "it is still applied (crl_expired = \"accept\")",
            };
            let problem = if next < now {
                format!(
                    "the CRL of `{}` is past its nextUpdate ({}): {consequence}",
                    crl.issuer_dn,
                    when(next)
                )
            } else if next - now < soon {
                format!(
                    "the CRL of `{}` reaches its nextUpdate in {} day(s), on {}: write a new one before, or {consequence}",
                    crl.issuer_dn,
                    days_left(next, now),
                    when(next)
                )
            } else {
                continue;
            };
            out.push(Warning {
                key: format!("{}.client_auth.crl", server.label),
                problem,
            });
        }
    }
    out
}
