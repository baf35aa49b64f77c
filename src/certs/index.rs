//! `index.toml`: every certificate a CA folder issued and whether it was
//! revoked (OpenSSL's `index.txt`, readable). `certs revoke` and `certs crl`
//! make the CRLs from it, `certs list` prints it.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use toml::value::{Date, Datetime, Offset, Time};

use super::error::{CertsError, NotUtc};
use super::files::{self, Access};
use crate::identity::ClientCert;

/// The file name inside the CA folder.
pub const FILE: &str = "index.toml";

const HEADER: &str = "\
# Certificates issued from this folder by `mtls-gateway certs`, and their revocation.
# `mtls-gateway certs revoke` and `certs crl` write the CRLs from it: keep it with the CA keys.
";

/// Which CA signed a certificate (and so which CRL lists it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signer {
    /// Self-signed (the root CA itself).
    SelfSigned,
    /// The root CA (`ca.crt`).
    Root,
    /// The client CA (`client-ca.crt`).
    ClientCa,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    RootCa,
    ClientCa,
    Server,
    Client,
}

/// RFC 5280 revocation reasons an operator picks from (`--reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl Reason {
    /// The spelling of `--reason` and of the index.
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    pub fn to_rcgen(self) -> rcgen::RevocationReason {
        match self {
            Reason::Unspecified => rcgen::RevocationReason::Unspecified,
            Reason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            Reason::Superseded => rcgen::RevocationReason::Superseded,
            Reason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }
}

/// One issued certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Upper-case hex, as `$ssl_client_serial` spells it.
    pub serial: String,
    pub kind: Kind,
    pub signer: Signer,
    /// RFC 2253, as `$ssl_client_s_dn` spells it.
    pub subject: String,
    pub not_before: Datetime,
    pub not_after: Datetime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Datetime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// A server certificate's names (DNS names and IP addresses), which a
    /// renewal reuses; empty for other kinds and for older indexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The serial of the server certificate that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

impl Entry {
    /// The record of a certificate just signed from `params`.
    pub fn issued(
        kind: Kind,
        signer: Signer,
        serial: &str,
        params: &rcgen::CertificateParams,
        der: &CertificateDer<'_>,
    ) -> Entry {
        Entry {
            serial: serial.to_string(),
            kind,
            signer,
            subject: ClientCert::from_der(der)
                .map(|c| c.subject_dn().to_string())
                .unwrap_or_default(),
            not_before: to_toml(params.not_before),
            not_after: to_toml(params.not_after),
            revoked: None,
            reason: None,
            names: Vec::new(),
            superseded_by: None,
        }
    }
}

/// The whole index.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The number of the last CRLs written (RFC 5280: increases with each CRL).
    #[serde(default)]
    pub crl_number: u64,
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<Entry>,
}

impl Index {
    /// Reads `DIR/index.toml`.
    ///
    /// # Errors
    /// Missing or malformed file, named.
    pub fn load(dir: &Path) -> Result<Index, CertsError> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Err(CertsError::IndexMissing {
                path,
                dir: dir.to_path_buf(),
            });
        }
        let text = files::read_text(&path)?;
        toml::from_str(&text).map_err(|source| CertsError::IndexParse { path, source })
    }

    /// Writes `DIR/index.toml` (whole, atomically).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, CertsError> {
        let path = dir.join(FILE);
        let text = self.render().map_err(|source| CertsError::IndexSave {
            path: path.clone(),
            source,
        })?;
        files::write_atomic(&path, text.as_bytes(), Access::Public)?;
        Ok(path)
    }

    /// The file's text.
    ///
    /// # Errors
    /// The TOML encoder refused a value (not expected).
    pub fn render(&self) -> Result<String, toml::ser::Error> {
        let body = toml::to_string(self)?;
        Ok(format!("{HEADER}\n{body}"))
    }

    /// The entry with this serial. `serial` may be written as OpenSSL or a
    /// header shows it: any case, with `:` separators, a `0x` prefix or
    /// leading zero bytes.
    pub fn find_mut(&mut self, serial: &str) -> Option<&mut Entry> {
        let wanted = normalize_serial(serial);
        self.certificates
            .iter_mut()
            .find(|e| normalize_serial(&e.serial) == wanted)
    }
}

/// A serial in one spelling, for comparisons: upper-case hex digits, no
/// separators, no leading zeros.
pub fn normalize_serial(serial: &str) -> String {
    let s = serial.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let hex: String = s
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let digits = hex.trim_start_matches('0');
    if digits.is_empty() {
        "0".to_string()
    } else {
        digits.to_string()
    }
}

/// A time as TOML writes it (`2026-11-28T17:00:00Z`).
pub fn to_toml(t: OffsetDateTime) -> Datetime {
    let t = t.to_offset(time::UtcOffset::UTC);
    Datetime {
        date: Some(Date {
            // `certs` writes years from the clock's to 9999 (Validity::days);
            // a year before 0 cannot occur, and would read as 65535.
            year: u16::try_from(t.year()).unwrap_or(u16::MAX),
            month: u8::from(t.month()),
            day: t.day(),
        }),
        time: Some(Time {
            hour: t.hour(),
            minute: t.minute(),
            second: Some(t.second()),
            nanosecond: None,
        }),
        offset: Some(Offset::Z),
    }
}

/// The inverse of [`to_toml`], for times read back from the index.
///
/// # Errors
/// A value that is not a full UTC date and time.
pub fn from_toml(d: &Datetime) -> Result<OffsetDateTime, NotUtc> {
    let bad = || NotUtc(*d);
    let (Some(date), Some(t), Some(Offset::Z)) = (d.date, d.time, d.offset) else {
        return Err(bad());
    };
    let month = time::Month::try_from(date.month).map_err(|_| bad())?;
    let date =
        time::Date::from_calendar_date(i32::from(date.year), month, date.day).map_err(|_| bad())?;
    let t = time::Time::from_hms(t.hour, t.minute, t.second.unwrap_or(0)).map_err(|_| bad())?;
    Ok(date.with_time(t).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_spellings_are_one() {
        assert_eq!(normalize_serial("0a:1b:2c"), "A1B2C");
        assert_eq!(normalize_serial("0x0A1B2C"), "A1B2C");
        assert_eq!(normalize_serial("00:8F:01"), "8F01");
        assert_eq!(normalize_serial(" 8f01 "), "8F01");
        assert_eq!(normalize_serial("00"), "0");
    }

    #[test]
    fn times_round_trip_through_toml() {
        let t = time::macros::datetime!(2026-11-28 17:05:09 UTC);
        let d = to_toml(t);
        assert_eq!(d.to_string(), "2026-11-28T17:05:09Z");
        assert_eq!(from_toml(&d).unwrap(), t);
        let local: Datetime = "2026-11-28T17:05:09".parse().unwrap();
        assert_eq!(
            from_toml(&local).unwrap_err().to_string(),
            "`2026-11-28T17:05:09` is not a date and time in UTC (like 2026-11-28T17:00:00Z)"
        );
        let index = Index {
            crl_number: 2,
            certificates: vec![Entry {
                serial: "0A".into(),
                kind: Kind::Client,
                signer: Signer::ClientCa,
                subject: "CN=a".into(),
                not_before: d,
                not_after: d,
                revoked: Some(d),
                reason: Some(Reason::KeyCompromise),
                names: Vec::new(),
                superseded_by: None,
            }],
        };
        let text = toml::to_string(&index).unwrap();
        assert!(text.contains("reason = \"key-compromise\""), "{text}");
        let back: Index = toml::from_str(&text).unwrap();
        assert_eq!(back.certificates[0].revoked, Some(d));
    }
}
