//! Object identifiers as OpenSSL 3.0 prints them in names: the attribute
//! types it knows by short name (`OBJ_nid2sn`), and the dotted text of any
//! other OID (`OBJ_obj2txt`), with OpenSSL's length limits.

use std::fmt::Write as _;

/// Attribute types OpenSSL 3.0 knows, as `(dotted OID, OBJ_nid2sn short name)`.
///
/// This is every object in `openssl list -objects` (3.0.19) under the arcs
/// used for name attributes: `2.5.4` (X.520), `1.2.840.113549.1.9.n`
/// (PKCS #9), `0.9.2342.19200300.100.1` (RFC 4519 pilot attributes),
/// `1.3.6.1.4.1.311.60.2.1` (EV jurisdiction), `1.3.6.1.5.5.7.9` (RFC 3739
/// personal data), and the Russian `1.2.643.3.131.1.1` / `1.2.643.100.*`.
/// OpenSSL knows about 1100 further OIDs (algorithms, extensions, ...); used as
/// an attribute type, such an OID is printed here as unknown (dotted OID and
/// `#`-hex value) where OpenSSL would print its short name and the value.
pub static KNOWN_ATTRIBUTES: &[(&str, &str)] = &[
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.2", "textEncodedORAddress"),
    ("0.9.2342.19200300.100.1.3", "mail"),
    ("0.9.2342.19200300.100.1.4", "info"),
    ("0.9.2342.19200300.100.1.5", "favouriteDrink"),
    ("0.9.2342.19200300.100.1.6", "roomNumber"),
    ("0.9.2342.19200300.100.1.7", "photo"),
    ("0.9.2342.19200300.100.1.8", "userClass"),
    ("0.9.2342.19200300.100.1.9", "host"),
    ("0.9.2342.19200300.100.1.10", "manager"),
    ("0.9.2342.19200300.100.1.11", "documentIdentifier"),
    ("0.9.2342.19200300.100.1.12", "documentTitle"),
    ("0.9.2342.19200300.100.1.13", "documentVersion"),
    ("0.9.2342.19200300.100.1.14", "documentAuthor"),
    ("0.9.2342.19200300.100.1.15", "documentLocation"),
    ("0.9.2342.19200300.100.1.20", "homeTelephoneNumber"),
    ("0.9.2342.19200300.100.1.21", "secretary"),
    ("0.9.2342.19200300.100.1.22", "otherMailbox"),
    ("0.9.2342.19200300.100.1.23", "lastModifiedTime"),
    ("0.9.2342.19200300.100.1.24", "lastModifiedBy"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.26", "aRecord"),
    ("0.9.2342.19200300.100.1.27", "pilotAttributeType27"),
    ("0.9.2342.19200300.100.1.28", "mXRecord"),
    ("0.9.2342.19200300.100.1.29", "nSRecord"),
    ("0.9.2342.19200300.100.1.30", "sOARecord"),
    ("0.9.2342.19200300.100.1.31", "cNAMERecord"),
    ("0.9.2342.19200300.100.1.37", "associatedDomain"),
    ("0.9.2342.19200300.100.1.38", "associatedName"),
    ("0.9.2342.19200300.100.1.39", "homePostalAddress"),
    ("0.9.2342.19200300.100.1.40", "personalTitle"),
    ("0.9.2342.19200300.100.1.41", "mobileTelephoneNumber"),
    ("0.9.2342.19200300.100.1.42", "pagerTelephoneNumber"),
    ("0.9.2342.19200300.100.1.43", "friendlyCountryName"),
    ("0.9.2342.19200300.100.1.44", "uid"),
    ("0.9.2342.19200300.100.1.45", "organizationalStatus"),
    ("0.9.2342.19200300.100.1.46", "janetMailbox"),
    ("0.9.2342.19200300.100.1.47", "mailPreferenceOption"),
    ("0.9.2342.19200300.100.1.48", "buildingName"),
    ("0.9.2342.19200300.100.1.49", "dSAQuality"),
    ("0.9.2342.19200300.100.1.50", "singleLevelQuality"),
    ("0.9.2342.19200300.100.1.51", "subtreeMinimumQuality"),
    ("0.9.2342.19200300.100.1.52", "subtreeMaximumQuality"),
    ("0.9.2342.19200300.100.1.53", "personalSignature"),
    ("0.9.2342.19200300.100.1.54", "dITRedirect"),
    ("0.9.2342.19200300.100.1.55", "audio"),
    ("0.9.2342.19200300.100.1.56", "documentPublisher"),
    ("1.2.643.3.131.1.1", "INN"),
    ("1.2.643.100.1", "OGRN"),
    ("1.2.643.100.3", "SNILS"),
    ("1.2.643.100.5", "OGRNIP"),
    ("1.2.643.100.111", "subjectSignTool"),
    ("1.2.643.100.112", "issuerSignTool"),
    ("1.2.643.100.113", "classSignTool"),
    ("1.2.643.100.113.1", "classSignToolKC1"),
    ("1.2.643.100.113.2", "classSignToolKC2"),
    ("1.2.643.100.113.3", "classSignToolKC3"),
    ("1.2.643.100.113.4", "classSignToolKB1"),
    ("1.2.643.100.113.5", "classSignToolKB2"),
    ("1.2.643.100.113.6", "classSignToolKA1"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.2.840.113549.1.9.3", "contentType"),
    ("1.2.840.113549.1.9.4", "messageDigest"),
    ("1.2.840.113549.1.9.5", "signingTime"),
    ("1.2.840.113549.1.9.6", "countersignature"),
    ("1.2.840.113549.1.9.7", "challengePassword"),
    ("1.2.840.113549.1.9.8", "unstructuredAddress"),
    ("1.2.840.113549.1.9.9", "extendedCertificateAttributes"),
    ("1.2.840.113549.1.9.14", "extReq"),
    ("1.2.840.113549.1.9.15", "SMIME-CAPS"),
    ("1.2.840.113549.1.9.16", "SMIME"),
    ("1.2.840.113549.1.9.20", "friendlyName"),
    ("1.2.840.113549.1.9.21", "localKeyID"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
    ("1.3.6.1.5.5.7.9.1", "id-pda-dateOfBirth"),
    ("1.3.6.1.5.5.7.9.2", "id-pda-placeOfBirth"),
    ("1.3.6.1.5.5.7.9.3", "id-pda-gender"),
    ("1.3.6.1.5.5.7.9.4", "id-pda-countryOfCitizenship"),
    ("1.3.6.1.5.5.7.9.5", "id-pda-countryOfResidence"),
    ("2.5.4", "X509"),
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.14", "searchGuide"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.18", "postOfficeBox"),
    ("2.5.4.19", "physicalDeliveryOfficeName"),
    ("2.5.4.20", "telephoneNumber"),
    ("2.5.4.21", "telexNumber"),
    ("2.5.4.22", "teletexTerminalIdentifier"),
    ("2.5.4.23", "facsimileTelephoneNumber"),
    ("2.5.4.24", "x121Address"),
    ("2.5.4.25", "internationaliSDNNumber"),
    ("2.5.4.26", "registeredAddress"),
    ("2.5.4.27", "destinationIndicator"),
    ("2.5.4.28", "preferredDeliveryMethod"),
    ("2.5.4.29", "presentationAddress"),
    ("2.5.4.30", "supportedApplicationContext"),
    ("2.5.4.31", "member"),
    ("2.5.4.32", "owner"),
    ("2.5.4.33", "roleOccupant"),
    ("2.5.4.34", "seeAlso"),
    ("2.5.4.35", "userPassword"),
    ("2.5.4.36", "userCertificate"),
    ("2.5.4.37", "cACertificate"),
    ("2.5.4.38", "authorityRevocationList"),
    ("2.5.4.39", "certificateRevocationList"),
    ("2.5.4.40", "crossCertificatePair"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "x500UniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.47", "enhancedSearchGuide"),
    ("2.5.4.48", "protocolInformation"),
    ("2.5.4.49", "distinguishedName"),
    ("2.5.4.50", "uniqueMember"),
    ("2.5.4.51", "houseIdentifier"),
    ("2.5.4.52", "supportedAlgorithms"),
    ("2.5.4.53", "deltaRevocationList"),
    ("2.5.4.54", "dmdName"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.72", "role"),
    ("2.5.4.97", "organizationIdentifier"),
    ("2.5.4.98", "c3"),
    ("2.5.4.99", "n3"),
    ("2.5.4.100", "dnsName"),
];

/// Short name of a dotted OID, if it is in [`KNOWN_ATTRIBUTES`].
pub fn short_name(dotted_oid: &str) -> Option<&'static str> {
    KNOWN_ATTRIBUTES
        .iter()
        .find(|(oid, _)| *oid == dotted_oid)
        .map(|(_, sn)| *sn)
}

/// OpenSSL's `OBJ_obj2txt` returns nothing for OIDs longer than this.
pub(crate) const MAX_OID_TEXT_CONTENT: usize = 586;

/// OpenSSL prints OIDs into an 80-byte buffer (`objtmp[80]`, `tmp_buf[80]`).
pub(crate) const MAX_OID_TEXT_LEN: usize = 79;

pub(crate) fn truncate_oid_text(text: &str) -> &str {
    // The text is ASCII, so every index is a char boundary.
    text.get(..MAX_OID_TEXT_LEN).unwrap_or(text)
}

/// Checks an OBJECT IDENTIFIER content the way `c2i_ASN1_OBJECT` does.
pub(crate) fn valid_oid(content: &[u8]) -> bool {
    let Some(&last) = content.last() else {
        return false;
    };
    if last & 0x80 != 0 {
        return false;
    }
    // A sub-identifier may not start with 0x80 (non-minimal encoding).
    let mut at_start = true;
    for &b in content {
        if at_start && b == 0x80 {
            return false;
        }
        at_start = b & 0x80 == 0;
    }
    true
}

/// Dotted-decimal form of a (valid) OID content, with arbitrarily large arcs,
/// as `OBJ_obj2txt(.., 1)`; empty for contents over 586 bytes like OpenSSL.
pub(crate) fn oid_to_text(content: &[u8]) -> String {
    let mut out = String::new();
    if content.len() > MAX_OID_TEXT_CONTENT {
        return out;
    }
    let mut arc = BigDec::default();
    let mut first = true;
    for &b in content {
        arc.mul_add(128, u32::from(b & 0x7F));
        if b & 0x80 != 0 {
            continue;
        }
        if first {
            first = false;
            let (lead, sub) = if arc.at_least(80) {
                ("2", 80)
            } else if arc.at_least(40) {
                ("1", 40)
            } else {
                ("0", 0)
            };
            arc.sub_small(sub);
            out.push_str(lead);
        }
        out.push('.');
        arc.write_to(&mut out);
        arc = BigDec::default();
    }
    out
}

/// A non-negative integer in base 10^9 limbs, least significant first.
#[derive(Default)]
pub(crate) struct BigDec {
    limbs: Vec<u32>,
}

pub(crate) const LIMB: u64 = 1_000_000_000;

impl BigDec {
    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.limbs {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = u32::try_from(v % LIMB).unwrap_or(0);
            carry = v / LIMB;
        }
        while carry > 0 {
            self.limbs.push(u32::try_from(carry % LIMB).unwrap_or(0));
            carry /= LIMB;
        }
    }

    fn at_least(&self, n: u32) -> bool {
        match self.limbs.as_slice() {
            [] => n == 0,
            [only] => *only >= n,
            _ => true,
        }
    }

    /// Subtracts `n` (the caller checked `self >= n`, `n < 10^9`).
    fn sub_small(&mut self, n: u32) {
        let mut borrow = n;
        for limb in &mut self.limbs {
            if *limb >= borrow {
                *limb -= borrow;
                break;
            }
            *limb = *limb + 1_000_000_000 - borrow;
            borrow = 1;
        }
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn write_to(&self, out: &mut String) {
        let mut iter = self.limbs.iter().rev();
        match iter.next() {
            None => out.push('0'),
            Some(top) => {
                let _ = write!(out, "{top}");
                for limb in iter {
                    let _ = write!(out, "{limb:09}");
                }
            }
        }
    }
}

/// The DER content octets of OIDs the verification rules look for.
pub mod encoded {
    pub const KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];
    pub const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
    pub const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x1E];
    pub const CRL_DISTRIBUTION_POINTS: &[u8] = &[0x55, 0x1D, 0x1F];
    pub const CERTIFICATE_POLICIES: &[u8] = &[0x55, 0x1D, 0x20];
    pub const POLICY_MAPPINGS: &[u8] = &[0x55, 0x1D, 0x21];
    pub const POLICY_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x24];
    pub const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x25];
    pub const INHIBIT_ANY_POLICY: &[u8] = &[0x55, 0x1D, 0x36];
    /// 2.16.840.1.113730.1.1
    pub const NETSCAPE_CERT_TYPE: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x86, 0xF8, 0x42, 0x01, 0x01];
    /// 1.3.6.1.5.5.7.1.7 and .8 (RFC 3779 IP address and AS blocks)
    pub const SBGP_IP_ADDR_BLOCK: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x07];
    pub const SBGP_AS_NUMBER: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x08];
    /// 1.3.6.1.5.5.7.1.14
    pub const PROXY_CERT_INFO: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0E];
    /// 1.3.6.1.5.5.7.48.1.5
    pub const OCSP_NO_CHECK: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05];
    /// 1.3.6.1.5.5.7.3.2 (id-kp-clientAuth)
    pub const CLIENT_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
    /// 1.3.6.1.5.5.7.8.9 (id-on-SmtpUTF8Mailbox)
    pub const SMTP_UTF8_MAILBOX: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x09];
    /// 2.5.4.3
    pub const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    /// 1.2.840.113549.1.9.1
    pub const EMAIL_ADDRESS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01];

    /// The extensions OpenSSL's verification may see marked critical
    /// (`X509_supported_extension` in OpenSSL 3.0's `v3_purp.c`).
    pub const OPENSSL_SUPPORTED: [&[u8]; 15] = [
        NETSCAPE_CERT_TYPE,
        KEY_USAGE,
        SUBJECT_ALT_NAME,
        BASIC_CONSTRAINTS,
        CERTIFICATE_POLICIES,
        CRL_DISTRIBUTION_POINTS,
        EXT_KEY_USAGE,
        SBGP_IP_ADDR_BLOCK,
        SBGP_AS_NUMBER,
        OCSP_NO_CHECK,
        POLICY_CONSTRAINTS,
        PROXY_CERT_INFO,
        NAME_CONSTRAINTS,
        POLICY_MAPPINGS,
        INHIBIT_ANY_POLICY,
    ];
}
