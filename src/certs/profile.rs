//! What each kind of certificate contains: names, extensions, validity and
//! serial. One function per kind, so the whole profile of, say, a client
//! certificate reads in one place.
//!
//! | kind | basicConstraints | keyUsage | extendedKeyUsage | default validity |
//! |---|---|---|---|---|
//! | root CA | CA, pathLen 1 | keyCertSign, cRLSign | none | 10 years |
//! | client CA | CA, pathLen 0 | keyCertSign, cRLSign | clientAuth | 10 years |
//! | server | not a CA | digitalSignature | serverAuth | 1 year |
//! | client | not a CA | digitalSignature | clientAuth | 1 year |
//!
//! Every certificate gets a random 16-byte serial, subject and authority
//! key identifiers, and a notBefore five minutes in the past so that a client
//! whose clock is slightly behind accepts it at once.

use super::error::ProfileError;
use std::net::IpAddr;

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Default validity of the root and client CAs, in days.
pub const CA_DAYS: u32 = 3650;
/// Default validity of server certificates, in days (browsers refuse public
/// server certificates beyond 398 days; a private CA follows the same habit).
pub const SERVER_DAYS: u32 = 365;
/// Default validity of client certificates, in days.
pub const CLIENT_DAYS: u32 = 365;
/// Backdating of notBefore, for clients whose clock is a little behind.
const BACKDATE: Duration = Duration::minutes(5);
/// Serial length: 128 random bits (CA/Browser Forum asks for at least 64).
const SERIAL_BYTES: usize = 16;

/// `emailAddress` (PKCS#9), which rcgen has no name for.
const EMAIL_ADDRESS: &[u64] = &[1, 2, 840, 113549, 1, 9, 1];

/// A serial number and its spelling in `$ssl_client_serial` (upper-case hex).
#[derive(Debug, Clone)]
pub struct Serial {
    pub number: SerialNumber,
    pub hex: String,
}

/// A new random serial: 16 bytes whose first byte is not zero, so the hex
/// spelling always has 32 digits (DER adds a sign byte where needed).
///
/// # Errors
/// The system random generator failed.
pub fn random_serial() -> Result<Serial, ProfileError> {
    let mut bytes = [0u8; SERIAL_BYTES];
    loop {
        aws_lc_rs::rand::fill(&mut bytes).map_err(ProfileError::Random)?;
        if bytes[0] != 0 {
            break;
        }
    }
    Ok(Serial {
        number: SerialNumber::from_slice(&bytes),
        hex: hex_upper(&bytes),
    })
}

/// Upper-case hex without separators (nginx's serial spelling).
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A validity period, whole seconds.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// As asked for (printed).
    pub days: u32,
}

impl Validity {
    /// From five minutes ago to `days` from now. Computed once for
    /// certificates made together (the two CAs of `init`), so that the
    /// second does not end a moment after the first.
    ///
    /// # Errors
    /// [`ProfileError::TooManyDays`]: the end would be after the year 9999.
    pub fn days(days: u32) -> Result<Validity, ProfileError> {
        let now = OffsetDateTime::now_utc();
        // The two subtractions cannot leave `time`'s range (years -9999 to
        // 9999, where `-` panics): they go back under a second and five
        // minutes from the clock's reading.
        let now = now - Duration::nanoseconds(i64::from(now.nanosecond()));
        let not_after = now
            .checked_add(Duration::days(i64::from(days)))
            .ok_or(ProfileError::TooManyDays(days))?;
        Ok(Validity {
            not_before: now - BACKDATE,
            not_after,
            days,
        })
    }
}

/// The subject of a new certificate, in the order it is written
/// (`C, O, OU, CN, emailAddress`, as OpenSSL's `-subj /C=../O=..` would).
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub country: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub common_name: String,
    pub email: Option<String>,
}

impl Subject {
    /// The rcgen name, with the ASN.1 string types OpenSSL uses
    /// (PrintableString for the country, IA5String for the e-mail address).
    ///
    /// # Errors
    /// A country that is not two letters, an e-mail address that is not ASCII.
    pub fn to_dn(&self) -> Result<DistinguishedName, ProfileError> {
        let mut dn = DistinguishedName::new();
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(ProfileError::Country(c.clone()));
            }
            let value = PrintableString::try_from(c.as_str()).map_err(|source| {
                ProfileError::CountryString {
                    value: c.clone(),
                    source,
                }
            })?;
            dn.push(DnType::CountryName, DnValue::PrintableString(value));
        }
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, non_empty("organization", o)?);
        }
        if let Some(ou) = &self.organizational_unit {
            dn.push(
                DnType::OrganizationalUnitName,
                non_empty("organizational unit", ou)?,
            );
        }
        dn.push(
            DnType::CommonName,
            non_empty("common name", &self.common_name)?,
        );
        if let Some(email) = &self.email {
            let value = Ia5String::try_from(non_empty("e-mail address", email)?)
                .map_err(|_| ProfileError::EmailNotAscii(email.clone()))?;
            dn.push(
                DnType::CustomDnType(EMAIL_ADDRESS.to_vec()),
                DnValue::Ia5String(value),
            );
        }
        Ok(dn)
    }
}

fn non_empty(what: &'static str, value: &str) -> Result<String, ProfileError> {
    if value.trim().is_empty() {
        Err(ProfileError::Empty(what))
    } else {
        Ok(value.to_string())
    }
}

fn base(
    subject: &Subject,
    validity: &Validity,
    serial: &Serial,
) -> Result<CertificateParams, ProfileError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = subject.to_dn()?;
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    p.serial_number = Some(serial.number.clone());
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

/// A self-signed root CA. pathLen 1: it signs the client CA (and the server
/// certificate), never a deeper hierarchy.
///
/// # Errors
/// An invalid subject.
pub fn root_ca(
    subject: &Subject,
    validity: &Validity,
    serial: &Serial,
) -> Result<CertificateParams, ProfileError> {
    let mut p = base(subject, validity, serial)?;
    // A self-signed certificate has no authority to identify.
    p.use_authority_key_identifier_extension = false;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

/// The intermediate that issues client certificates: pathLen 0 and the
/// clientAuth EKU, so it can issue nothing but client certificates.
///
/// # Errors
/// An invalid subject.
pub fn client_ca(
    subject: &Subject,
    validity: &Validity,
    serial: &Serial,
) -> Result<CertificateParams, ProfileError> {
    let mut p = base(subject, validity, serial)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

/// A TLS server certificate for `names` (DNS names and IP addresses, all in
/// the subjectAltName; the first is also the CN).
///
/// # Errors
/// No name, or a name that is neither an IP address nor a valid DNS name.
pub fn server(
    names: &[String],
    organization: Option<&str>,
    validity: &Validity,
    serial: &Serial,
) -> Result<CertificateParams, ProfileError> {
    let first = names.first().ok_or(ProfileError::NoServerName)?;
    let subject = Subject {
        organization: organization.map(str::to_string),
        common_name: first.clone(),
        ..Subject::default()
    };
    let mut p = base(&subject, validity, serial)?;
    p.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ia5String::try_from(name.as_str())
                .ok()
                .filter(|_| is_dns_name(name))
                .map(SanType::DnsName)
                .ok_or_else(|| ProfileError::ServerName(name.clone())),
        })
        .collect::<Result<_, _>>()?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(p)
}

/// A DNS name as certificates carry it: labels of letters, digits and `-`,
/// optionally a leading `*.` wildcard label.
fn is_dns_name(name: &str) -> bool {
    let rest = name.strip_prefix("*.").unwrap_or(name);
    !rest.is_empty()
        && rest.len() <= 253
        && rest.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A client certificate: clientAuth only, the e-mail address (if any) also
/// as an rfc822Name in the subjectAltName.
///
/// # Errors
/// An invalid subject.
pub fn client(
    subject: &Subject,
    validity: &Validity,
    serial: &Serial,
) -> Result<CertificateParams, ProfileError> {
    let mut p = base(subject, validity, serial)?;
    if let Some(email) = &subject.email {
        let value = Ia5String::try_from(email.as_str())
            .map_err(|_| ProfileError::EmailNotAscii(email.clone()))?;
        p.subject_alt_names = vec![SanType::Rfc822Name(value)];
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_16_bytes_with_a_non_zero_first_byte() {
        for _ in 0..200 {
            let s = random_serial().unwrap();
            assert_eq!(s.hex.len(), 32);
            assert_ne!(&s.hex[..2], "00");
        }
    }

    #[test]
    fn dns_names_and_wildcards() {
        assert!(is_dns_name("local.trusted.com"));
        assert!(is_dns_name("*.example.com"));
        assert!(is_dns_name("localhost"));
        assert!(!is_dns_name("exa mple.com"));
        assert!(!is_dns_name("-bad.com"));
        assert!(!is_dns_name("a..b"));
        assert!(
            server(
                &["bad name".into()],
                None,
                &Validity::days(1).unwrap(),
                &random_serial().unwrap()
            )
            .is_err()
        );
    }

    #[test]
    fn validity_ends_by_the_year_9999() {
        let v = Validity::days(365).unwrap();
        assert_eq!(v.not_after - v.not_before, Duration::days(365) + BACKDATE);
        // 2 000 000 days are about 5 476 years; 3 000 000 days (8 213
        // years) end after 9999 from any date after 1786.
        assert!(Validity::days(2_000_000).is_ok());
        let err = Validity::days(3_000_000).unwrap_err();
        assert!(
            matches!(err, ProfileError::TooManyDays(3_000_000)),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "a validity of 3000000 days ends after the year 9999; ask for fewer days"
        );
        assert!(Validity::days(u32::MAX).is_err());
    }

    #[test]
    fn country_must_be_two_letters() {
        let s = Subject {
            country: Some("Russia".into()),
            common_name: "x".into(),
            ..Subject::default()
        };
        let err = s.to_dn().unwrap_err();
        assert!(
            matches!(&err, ProfileError::Country(c) if c == "Russia"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "country `Russia` must be a two-letter code such as `RU` or `DE`"
        );
    }
}
