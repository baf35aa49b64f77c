//! What `certs` prints about what it made: validity, the identity the
//! gateway will forward, and how to import a `.p12`.

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::profile::Validity;
use crate::identity::ClientCert;

/// `2026-11-28 17:05:09 UTC`.
pub fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// [`date`] of unix seconds.
pub fn date_unix(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| format!("@{secs}"), date)
}

/// `WHAT: valid 2026-11-28 17:00:09 UTC to 2027-11-28 17:05:09 UTC (365 days)`.
pub fn validity(what: &str, v: &Validity) -> String {
    format!(
        "{what}: valid {} to {} ({} days)",
        date(v.not_before),
        date(v.not_after),
        v.days
    )
}

/// The `$ssl_client_*` values the gateway forwards for this certificate.
pub fn identity(der: &CertificateDer<'_>) {
    let Ok(cert) = ClientCert::from_der(der) else {
        return;
    };
    println!("  the gateway forwards for it:");
    println!("    X-SSL-Client-DN: {}", cert.subject_dn());
    println!("    X-SSL-Client-Serial: {}", cert.serial());
    println!("    X-SSL-Client-Fingerprint: {}", cert.fingerprint());
    println!("    X-SSL-Client-Issuer: {}", cert.issuer_dn());
}

/// How the user imports the `.p12`.
pub fn import_help(p12: &str) {
    println!(
        "\
Hand {p12} to its user, and the password through another channel. To import it:
  Chrome / Edge on Windows: double-click the file (or Settings > Privacy and security > Security >
    Manage certificates > Personal > Import), enter the password, store: Personal.
  Chrome / Edge / Safari on macOS: double-click the file; it goes into the login keychain.
  Chrome / Chromium on Linux: Settings > Privacy and security > Security > Manage certificates >
    Your certificates > Import, or: pk12util -d sql:$HOME/.pki/nssdb -i {p12}
  Firefox: Settings > Privacy & Security > Certificates > View Certificates > Your Certificates > Import.
If an old importer says the password is wrong, issue it again with --p12-legacy (3DES/SHA-1)."
    );
}
