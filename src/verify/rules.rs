//! The rules of OpenSSL 3.0's `X509_verify_cert` with the `ssl_client`
//! purpose (what nginx applies) that rustls-webpki does not apply, checked
//! on the path webpki verified. Each can only reject; none can accept a
//! chain webpki refused.
//!
//! | OpenSSL step | rule | code |
//! |---|---|---|
//! | `check_extensions` | no critical extension OpenSSL does not handle, also in the trust anchor | 34 |
//! | `check_extensions` | no proxy certificate | 40 |
//! | `check_extensions` | every issuer is a CA (`X509_check_ca`): intermediates exactly, the anchor at all | 79 |
//! | `check_purpose_ssl_client` | end entity: keyUsage (if present) allows digitalSignature or keyAgreement, Netscape cert type (if present) allows SSL client | 26 |
//! | `check_purpose_ssl_client` | issuers, trust anchor included: extendedKeyUsage (if present) lists clientAuth, and `check_ssl_ca` | 26 |
//! | `check_extensions` | pathLenConstraint, the trust anchor's included | 25 |
//! | `internal_verify` | every issuer's keyUsage (if present) allows keyCertSign | 32 |
//! | `check_name_constraints` | the subject's `emailAddress` attributes against rfc822Name constraints, a host-name-like `CN` of the end entity without DNS subjectAltName against dNSName constraints, and every other name as OpenSSL compares it | 47, 48, 49, 51, 53 |
//!
//! A certificate with an extension OpenSSL cannot decode (`EXFLAG_INVALID`)
//! is refused too: OpenSSL cannot link it into a chain at all.

use super::X509Error;
use super::names;
use super::profile::{
    KU_DIGITAL_SIGNATURE, KU_KEY_AGREEMENT, KU_KEY_CERT_SIGN, NS_ANY_CA, NS_SSL_CA, NS_SSL_CLIENT,
    Profile,
};

/// `check_ca`: 0 not a CA; 1 basicConstraints says CA; 3 a self-signed v1
/// certificate; 4 no basicConstraints but keyUsage with keyCertSign; 5 no
/// basicConstraints but Netscape CA bits.
pub(crate) fn check_ca(p: &Profile) -> u8 {
    if p.ku_rejects(KU_KEY_CERT_SIGN) {
        return 0;
    }
    match p.basic_constraints {
        Some(bc) => u8::from(bc.ca),
        None if p.version1 && p.self_issued() => 3,
        None if p.key_usage.is_some() => 4,
        None if p.ns_cert_type.is_some_and(|n| n & NS_ANY_CA != 0) => 5,
        None => 0,
    }
}

/// `check_purpose_ssl_client(x, require_ca = 0)`: the end entity.
pub(crate) fn client_purpose_ok(p: &Profile) -> bool {
    !p.eku_rejects_client()
        && !p.ku_rejects(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT)
        && !p.ns_rejects(NS_SSL_CLIENT)
}

/// `check_purpose_ssl_client(x, require_ca = 1)`: an issuer.
pub(crate) fn ca_purpose_ok(p: &Profile) -> bool {
    if p.eku_rejects_client() {
        return false;
    }
    // check_ssl_ca
    match check_ca(p) {
        0 => false,
        5 => p.ns_cert_type.is_some_and(|n| n & NS_SSL_CA != 0),
        _ => true,
    }
}

/// `x509_signing_allowed(issuer, subject)` for a non-proxy subject.
pub(crate) fn signing_allowed(issuer: &Profile) -> bool {
    !issuer.ku_rejects(KU_KEY_CERT_SIGN)
}

/// Checks a verified path, leaf first and the trust anchor last, and
/// returns the first OpenSSL error found (in OpenSSL's order of steps; the
/// reason nginx reports comes from [`super::reason::classify`]).
///
/// # Errors
/// The OpenSSL error of the first rule the path breaks.
pub(crate) fn check_path(path: &[&Profile]) -> Result<(), X509Error> {
    let num = path.len();
    if path.iter().any(|p| p.invalid) {
        return Err(X509Error::Unspecified);
    }
    // check_extensions
    let mut plen = 0_u64;
    for (i, p) in path.iter().enumerate() {
        if p.unhandled_critical {
            return Err(X509Error::UnhandledCriticalExtension);
        }
        if p.proxy {
            return Err(X509Error::ProxyCertificatesNotAllowed);
        }
        if i > 0 {
            let ca = check_ca(p);
            if ca == 0 || (i + 1 < num && ca != 1) {
                return Err(X509Error::InvalidCa);
            }
        }
        let purpose_ok = if i == 0 {
            client_purpose_ok(p)
        } else {
            ca_purpose_ok(p)
        };
        if !purpose_ok {
            return Err(X509Error::InvalidPurpose);
        }
        if let Some(limit) = p.basic_constraints.and_then(|bc| bc.path_len)
            && i > 1
            && plen > limit
        {
            return Err(X509Error::PathLengthExceeded);
        }
        if i > 0 && !p.self_issued() {
            plen += 1;
        }
    }
    // internal_verify: the issuer's keyUsage must allow certificate signing.
    if path.windows(2).any(|w| !signing_allowed(w[1])) {
        return Err(X509Error::KeyUsageNoCertSign);
    }
    name_constraints(path)
}

/// `check_name_constraints`: every certificate below a constrained CA
/// (self-issued intermediates excepted) against that CA's constraints.
///
/// # Errors
/// The OpenSSL error of the first violation in OpenSSL's order.
pub(crate) fn name_constraints(path: &[&Profile]) -> Result<(), X509Error> {
    let mut first = None;
    for_each_violation(path, |e| {
        first.get_or_insert(e);
    });
    first.map_or(Ok(()), Err)
}

/// Calls `report` with every name-constraint error OpenSSL reports for
/// `path` (leaf first), in OpenSSL's order: subjects from the top down, and
/// for each, constraints from the top down.
pub(crate) fn for_each_violation(path: &[&Profile], mut report: impl FnMut(X509Error)) {
    for i in (0..path.len()).rev() {
        let subject = path[i];
        if i != 0 && subject.self_issued() {
            continue;
        }
        for j in (i + 1..path.len()).rev() {
            if let Some(nc) = &path[j].name_constraints
                && let Err(e) = names::check(&subject.names_for_constraints(), nc, i == 0)
            {
                report(e);
            }
        }
    }
}
