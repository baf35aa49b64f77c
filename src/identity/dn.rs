//! Distinguished-name formatting exactly as nginx prints `$ssl_client_s_dn`
//! (`X509_NAME_print_ex(.., XN_FLAG_RFC2253)`) and `$ssl_client_s_dn_legacy`
//! (`X509_NAME_oneline`) with OpenSSL 3.0.
//!
//! Both functions take the complete DER TLV of an X.509 `Name` (a `SEQUENCE OF
//! RelativeDistinguishedName`) and parse it with the small panic-free DER
//! reader of [`super::der`]; attribute types are named by [`super::oid`]. Beware that x509-parser's `X509Name::as_raw()` returns a
//! truncated TLV for a name containing an empty RDN (OpenSSL accepts those);
//! [`ClientCert`](super::ClientCert) locates the names itself.
//!
//! The output is always ASCII without control characters: everything else is
//! escaped (`\XX` in RFC 2253 form, `\xXX` in legacy form), so both strings are
//! safe in an HTTP header.
//!
//! Where OpenSSL itself refuses to parse a certificate (values of a type that
//! is not allowed in a name, such as INTEGER or VisibleString, a BMPString of
//! odd length or with surrogates, a UniversalString whose length is not a
//! multiple of 4 or with code points outside Unicode, invalid UTF-8 in a
//! UTF8String) there is no nginx output to match: nginx refuses such a
//! client certificate in the handshake, and so does the gateway
//! ([`openssl_decodes`]). The formatters still print those values,
//! unambiguously, following the same rules (see [`rfc2253`]).
//!
//! The crate's verification also reads names through this module:
//! [`values`] (the attributes as OpenSSL stores them), [`to_utf8`]
//! (`ASN1_STRING_to_UTF8`) and [`canonical`] (the canonical encoding
//! OpenSSL compares directoryName constraints with).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::der::DerError;
pub(crate) use super::der::{Children, Tlv, read_tlv};
use super::oid::{oid_to_text, short_name, truncate_oid_text, valid_oid};

/// Why a DER `Name` could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    /// The input ends in the middle of an element.
    #[error("truncated DER in distinguished name")]
    Truncated,
    /// Indefinite length, or a length or tag that does not fit.
    #[error("unsupported DER length or tag encoding in distinguished name")]
    BadEncoding,
    /// The elements are not `SEQUENCE OF SET OF SEQUENCE { OID, value }`.
    #[error("malformed distinguished name: {0}")]
    Structure(&'static str),
    /// An attribute type is not a valid OBJECT IDENTIFIER encoding.
    #[error("invalid object identifier in distinguished name")]
    InvalidOid,
    /// A constructed (BER) string value is nested deeper than OpenSSL allows.
    #[error("constructed string value nested too deeply")]
    TooDeep,
    /// A value OpenSSL's decoder refuses (see [`openssl_decodes`]).
    #[error("attribute value OpenSSL cannot decode: {0}")]
    Undecodable(&'static str),
}

impl From<DerError> for DnError {
    fn from(e: DerError) -> DnError {
        match e {
            DerError::Truncated => DnError::Truncated,
            DerError::BadEncoding => DnError::BadEncoding,
        }
    }
}

/// `$ssl_client_s_dn` / `$ssl_client_i_dn`: the `Name` as OpenSSL's
/// `X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253)` prints it.
///
/// * Attributes in reverse DER order, RDNs joined by `,`, members of a
///   multi-valued RDN by `+` (the flat attribute list is reversed, so those
///   members come out reversed too).
/// * Attribute names are OpenSSL short names ([`KNOWN_ATTRIBUTES`]); other
///   OIDs are printed dotted (cut to 79 characters, and empty if the OID is
///   longer than 586 bytes, as OpenSSL does) with the value as `#` + upper-case
///   hex of its DER encoding.
/// * UTF8String bytes are taken one per character; Printable, Numeric,
///   Teletex, IA5, Visible strings and times are Latin-1 converted to UTF-8;
///   BMPString and UniversalString are converted to UTF-8. Every other type
///   (and a BMP/UniversalString that is not valid UCS-2/UCS-4) is printed as
///   `#` + hex of its DER encoding.
/// * Escaping: bytes >= 0x80, < 0x20 and 0x7F as `\XX`; `, + " \ < > ;` with a
///   backslash; a leading `#` and a leading or trailing space with a backslash
///   (a value that is just `#` is not escaped: OpenSSL's "last character" flag
///   replaces the "first character" one).
///
/// # Errors
/// [`DnError`] if `name_der` is not one well-formed DER `Name`.
pub fn rfc2253(name_der: &[u8]) -> Result<String, DnError> {
    let entries = parse_name(name_der)?;
    let mut out = String::new();
    let mut prev_set: Option<usize> = None;
    for entry in entries.iter().rev() {
        if let Some(prev) = prev_set {
            out.push(if prev == entry.set { '+' } else { ',' });
        }
        prev_set = Some(entry.set);
        let oid_text = oid_to_text(entry.oid);
        match short_name(&oid_text) {
            Some(sn) => {
                out.push_str(sn);
                out.push('=');
                write_rfc2253_value(&mut out, &entry.value)?;
            }
            None => {
                out.push_str(truncate_oid_text(&oid_text));
                out.push('=');
                write_dump(&mut out, &entry.value)?;
            }
        }
    }
    Ok(out)
}

/// `$ssl_client_s_dn_legacy` / `$ssl_client_i_dn_legacy`: the `Name` as
/// OpenSSL 3.0's `X509_NAME_oneline` prints it.
///
/// Attributes in DER order, each as `/` + short name (or dotted OID) + `=` +
/// value, with `+` instead of `/` for the 2nd and later members of a
/// multi-valued RDN. The value is the raw content bytes whatever the type
/// (a BMPString keeps its 0x00 bytes); bytes < 0x20 or > 0x7E become `\xXX`,
/// `/` and `+` get a backslash. GeneralString keeps OpenSSL's quirk of
/// printing only every 4th byte when the others are all zero.
///
/// # Errors
/// [`DnError`] if `name_der` is not one well-formed DER `Name`.
pub fn legacy(name_der: &[u8]) -> Result<String, DnError> {
    let entries = parse_name(name_der)?;
    let mut out = String::new();
    let mut prev_set: Option<usize> = None;
    for entry in &entries {
        out.push(if prev_set == Some(entry.set) {
            '+'
        } else {
            '/'
        });
        prev_set = Some(entry.set);
        let oid_text = oid_to_text(entry.oid);
        match short_name(&oid_text) {
            Some(sn) => out.push_str(sn),
            None => out.push_str(truncate_oid_text(&oid_text)),
        }
        out.push('=');
        let stored = Stored::decode(&entry.value)?;
        let data = stored.string_data();
        let general_string = stored.universal_tag() == Some(TAG_GENERALSTRING);
        let only_every_4th = general_string
            && data.len().is_multiple_of(4)
            && data.iter().enumerate().all(|(i, &b)| i % 4 == 3 || b == 0);
        for (i, &b) in data.iter().enumerate() {
            if only_every_4th && i % 4 != 3 {
                continue;
            }
            if !(0x20..=0x7E).contains(&b) {
                push_hex_byte(&mut out, "\\x", b);
            } else {
                if b == b'/' || b == b'+' {
                    out.push('\\');
                }
                out.push(char::from(b));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Attribute values

const TAG_BIT_STRING: u32 = 3;
const TAG_UTF8STRING: u32 = 12;
const TAG_SEQUENCE: u32 = 16;
const TAG_SET: u32 = 17;
const TAG_GENERALSTRING: u32 = 27;
const TAG_UNIVERSALSTRING: u32 = 28;
const TAG_BMPSTRING: u32 = 30;

/// OpenSSL's `ASN1_MAX_STRING_NEST`: how deep a BER constructed string may nest.
const MAX_STRING_NEST: usize = 5;

/// An attribute value as OpenSSL holds it after decoding (`ASN1_STRING`).
struct Stored<'a> {
    tlv: Tlv<'a>,
    /// SEQUENCE, SET and non-universal constructed values: kept as the whole
    /// original TLV, like OpenSSL keeps SEQUENCE "in encoded form".
    structured: bool,
    /// The content octets (concatenated for a BER constructed string).
    content: Cow<'a, [u8]>,
}

impl<'a> Stored<'a> {
    fn decode(tlv: &Tlv<'a>) -> Result<Stored<'a>, DnError> {
        let universal = tlv.class == 0;
        let structured =
            tlv.constructed && (!universal || tlv.tag == TAG_SEQUENCE || tlv.tag == TAG_SET);
        let content = if tlv.constructed && !structured {
            let mut buf = Vec::new();
            collect(tlv.content, 1, &mut buf)?;
            Cow::Owned(buf)
        } else {
            Cow::Borrowed(tlv.content)
        };
        Ok(Stored {
            tlv: *tlv,
            structured,
            content,
        })
    }

    fn universal_tag(&self) -> Option<u32> {
        (self.tlv.class == 0 && !self.structured).then_some(self.tlv.tag)
    }

    /// `ASN1_STRING` data: what the legacy form prints.
    fn string_data(&self) -> Cow<'_, [u8]> {
        if self.structured {
            return Cow::Borrowed(self.tlv.raw);
        }
        if self.universal_tag() == Some(TAG_BIT_STRING) {
            let (_, bits) = bit_string(&self.content);
            return Cow::Owned(bits);
        }
        Cow::Borrowed(&self.content)
    }

    /// The DER OpenSSL re-encodes for a `#` dump (`i2d_ASN1_TYPE`).
    fn dump_der(&self) -> Vec<u8> {
        if self.structured {
            return self.tlv.raw.to_vec();
        }
        let (ident0, ident_rest) = match self.tlv.ident.split_first() {
            Some((first, rest)) => (*first & !0x20, rest),
            // Unreachable: a parsed TLV has at least one identifier octet.
            None => (0, &[][..]),
        };
        let body: Cow<'_, [u8]> = if self.universal_tag() == Some(TAG_BIT_STRING) {
            let (unused, bits) = bit_string(&self.content);
            let mut b = Vec::with_capacity(bits.len() + 1);
            b.push(if bits.is_empty() { 0 } else { unused });
            b.extend_from_slice(&bits);
            Cow::Owned(b)
        } else {
            Cow::Borrowed(&self.content)
        };
        let mut der = Vec::with_capacity(body.len() + 8);
        der.push(ident0);
        der.extend_from_slice(ident_rest);
        push_der_length(&mut der, body.len());
        der.extend_from_slice(&body);
        der
    }
}

/// Splits BIT STRING content into (unused-bit count, data with the unused
/// bits cleared), as `c2i_ASN1_BIT_STRING` stores it.
fn bit_string(content: &[u8]) -> (u8, Vec<u8>) {
    let Some((&unused, data)) = content.split_first() else {
        return (0, Vec::new());
    };
    let mut data = data.to_vec();
    if unused <= 7
        && let Some(last) = data.last_mut()
    {
        *last &= 0xFF_u8 << unused;
    }
    (unused, data)
}

/// Concatenates the primitive contents inside a BER constructed string
/// (OpenSSL's `asn1_collect`).
fn collect(content: &[u8], depth: usize, out: &mut Vec<u8>) -> Result<(), DnError> {
    if depth > MAX_STRING_NEST {
        return Err(DnError::TooDeep);
    }
    let mut rest = content;
    while !rest.is_empty() {
        let (tlv, after) = read_tlv(rest)?;
        if tlv.constructed {
            collect(tlv.content, depth + 1, out)?;
        } else {
            out.extend_from_slice(tlv.content);
        }
        rest = after;
    }
    Ok(())
}

fn write_dump(out: &mut String, value: &Tlv<'_>) -> Result<(), DnError> {
    let stored = Stored::decode(value)?;
    out.push('#');
    for b in stored.dump_der() {
        push_hex_byte(out, "", b);
    }
    Ok(())
}

/// How the characters of a string value are encoded.
enum Width {
    /// UTF8String: one byte is one character, printed without conversion.
    Utf8Bytes,
    /// One byte per Latin-1 character, converted to UTF-8.
    Latin1,
    /// BMPString: big-endian UCS-2.
    Ucs2,
    /// UniversalString: big-endian UCS-4.
    Ucs4,
}

fn write_rfc2253_value(out: &mut String, value: &Tlv<'_>) -> Result<(), DnError> {
    let stored = Stored::decode(value)?;
    let width = match stored.universal_tag() {
        Some(TAG_UTF8STRING) => Width::Utf8Bytes,
        // Numeric, Printable, T61, IA5, UTCTime, GeneralizedTime, Visible.
        Some(18 | 19 | 20 | 22 | 23 | 24 | 26) => Width::Latin1,
        Some(TAG_BMPSTRING) => Width::Ucs2,
        Some(TAG_UNIVERSALSTRING) => Width::Ucs4,
        _ => return write_dump(out, value),
    };
    let data: &[u8] = &stored.content;
    let chars: Vec<u32> = match width {
        Width::Utf8Bytes | Width::Latin1 => data.iter().map(|&b| u32::from(b)).collect(),
        Width::Ucs2 => {
            if !data.len().is_multiple_of(2) {
                return write_dump(out, value);
            }
            data.chunks_exact(2)
                .map(|c| c.iter().fold(0_u32, |acc, &b| (acc << 8) | u32::from(b)))
                .collect()
        }
        Width::Ucs4 => {
            if !data.len().is_multiple_of(4) {
                return write_dump(out, value);
            }
            data.chunks_exact(4)
                .map(|c| c.iter().fold(0_u32, |acc, &b| (acc << 8) | u32::from(b)))
                .collect()
        }
    };
    if !matches!(width, Width::Utf8Bytes) && chars.iter().any(|&c| char::from_u32(c).is_none()) {
        // Surrogates or code points above U+10FFFF: OpenSSL rejects such a
        // certificate; print the value unambiguously instead of dropping
        // characters.
        return write_dump(out, value);
    }
    let last_index = chars.len().saturating_sub(1);
    for (i, &c) in chars.iter().enumerate() {
        // OpenSSL's do_buf: the "last" flag replaces the "first" flag, so a
        // one-character value "#" is not escaped but " " is.
        let last = i == last_index;
        let first = i == 0 && !last;
        match width {
            Width::Utf8Bytes => push_rfc2253_byte(out, c.to_le_bytes()[0], first, last),
            _ => {
                let mut buf = [0_u8; 4];
                if let Some(ch) = char::from_u32(c) {
                    for &b in ch.encode_utf8(&mut buf).as_bytes() {
                        push_rfc2253_byte(out, b, first, last);
                    }
                }
            }
        }
    }
    Ok(())
}

/// OpenSSL `do_esc_char` with `ESC_2253 | ESC_CTRL | ESC_MSB`.
fn push_rfc2253_byte(out: &mut String, b: u8, first: bool, last: bool) {
    let backslash = match b {
        b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => true,
        b'#' => first,
        b' ' => first || last,
        _ => false,
    };
    if backslash {
        out.push('\\');
        out.push(char::from(b));
    } else if !(0x20..0x7F).contains(&b) {
        push_hex_byte(out, "\\", b);
    } else {
        out.push(char::from(b));
    }
}

fn push_hex_byte(out: &mut String, prefix: &str, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{prefix}{b:02X}");
}

fn push_der_length(der: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        der.push(len.to_le_bytes()[0]);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    der.push(0x80 | significant.len().to_le_bytes()[0]);
    der.extend_from_slice(significant);
}

// ---------------------------------------------------------------------------
// Object identifiers

// ---------------------------------------------------------------------------
// Locating the names in a certificate

/// The issuer and subject `Name` TLVs of a DER certificate, found by walking
/// `Certificate` → `TBSCertificate` → `[version] serial signature issuer
/// validity subject`.
///
/// x509-parser's `X509Name::as_raw()` is not used for this: on a name with
/// an empty RDN (`SET {}`, which OpenSSL accepts) it stops there and returns
/// a truncated TLV.
pub(crate) fn certificate_names(cert_der: &[u8]) -> Result<(&[u8], &[u8]), DnError> {
    let (cert, _) = read_tlv(cert_der)?;
    let tbs = match Children::new(cert.content).next() {
        Some(t) => t?,
        None => return Err(DnError::Structure("empty certificate")),
    };
    let head = tbs_head(&tbs)?;
    Ok((head.issuer.raw, head.subject.raw))
}

/// The fields of a `TBSCertificate` up to its subject, and what follows.
pub(crate) struct TbsHead<'a> {
    /// The `[0] EXPLICIT Version` element, when present.
    pub version: Option<Tlv<'a>>,
    pub issuer: Tlv<'a>,
    pub subject: Tlv<'a>,
    /// The fields after the subject (subjectPublicKeyInfo, then the
    /// optional unique identifiers and extensions).
    pub rest: Children<'a>,
}

/// Walks `[version] serial signature issuer validity subject` of `tbs`.
pub(crate) fn tbs_head<'a>(tbs: &Tlv<'a>) -> Result<TbsHead<'a>, DnError> {
    let mut fields = Children::new(tbs.content);
    let mut next = || match fields.next() {
        Some(t) => t.map_err(DnError::from),
        None => Err(DnError::Structure("short TBSCertificate")),
    };
    let mut first = next()?;
    let mut version = None;
    if first.class == 2 && first.tag == 0 {
        version = Some(first);
        first = next()?;
    }
    let _serial = first;
    let _signature = next()?;
    let issuer = next()?;
    let _validity = next()?;
    let subject = next()?;
    Ok(TbsHead {
        version,
        issuer,
        subject,
        rest: fields,
    })
}

// ---------------------------------------------------------------------------
// What OpenSSL can decode, and the forms its verification compares

/// Checks that OpenSSL 3.0's decoder (`d2i_X509_NAME`) accepts every value
/// of a `Name`: a certificate with a name it refuses does not load, so nginx
/// never gets as far as verifying it (the TLS handshake fails).
///
/// Measured with `openssl x509` (3.0.19) on certificates whose CN was
/// patched to each form: a value must be of universal class and of a type
/// in OpenSSL's `DirectoryString`-like set (`ASN1_PRINTABLE`: BIT STRING,
/// UTF8String, Numeric, Printable, T61, IA5, Universal and BMP strings, a
/// constructed SEQUENCE, and the "unknown" tags 7-9, 11, 13-15, 29). So
/// INTEGER, OCTET STRING, ENUMERATED, SET, OBJECT IDENTIFIER, BOOLEAN, NULL,
/// times, VisibleString, GeneralString, GraphicString, VideotexString and
/// any context-specific tag are refused. The strings OpenSSL converts to
/// UTF-8 for its canonical name must convert: a UTF8String must be valid
/// UTF-8 (no overlong forms, surrogates or code points above U+10FFFF), a
/// BMPString of even length without surrogates (not even as a pair), a
/// UniversalString of a multiple of 4 bytes holding Unicode scalar values;
/// a BIT STRING needs its unused-bits octet, at most 7. Control bytes are
/// fine in every string type (PrintableString included).
///
/// # Errors
/// [`DnError::Undecodable`] naming the problem, or another [`DnError`] if
/// `name_der` is not a well-formed `Name` at all.
pub fn openssl_decodes(name_der: &[u8]) -> Result<(), DnError> {
    for entry in parse_name(name_der)? {
        decodable_value(&entry.value)?;
    }
    Ok(())
}

/// Universal tags OpenSSL's `ASN1_tag2bit` maps to `B_ASN1_UNKNOWN`, which
/// `ASN1_PRINTABLE` accepts and keeps as they are.
const UNKNOWN_TAGS: [u32; 8] = [7, 8, 9, 11, 13, 14, 15, 29];

fn decodable_value(value: &Tlv<'_>) -> Result<(), DnError> {
    if value.class != 0 {
        return Err(DnError::Undecodable("value of a non-universal tag"));
    }
    if value.constructed && value.tag == TAG_SEQUENCE {
        return Ok(());
    }
    let string_type = matches!(
        value.tag,
        TAG_BIT_STRING | TAG_UTF8STRING | 18 | 19 | 20 | 22
    ) || value.tag == TAG_UNIVERSALSTRING
        || value.tag == TAG_BMPSTRING
        || UNKNOWN_TAGS.contains(&value.tag);
    if !string_type {
        return Err(DnError::Undecodable(
            "value of a type not allowed in a name",
        ));
    }
    let stored = Stored::decode(value)?;
    let data: &[u8] = &stored.content;
    match value.tag {
        TAG_BIT_STRING if data.first().is_none_or(|&unused| unused > 7) => Err(
            DnError::Undecodable("BIT STRING without a valid unused-bits octet"),
        ),
        TAG_UTF8STRING if std::str::from_utf8(data).is_err() => {
            Err(DnError::Undecodable("UTF8String that is not valid UTF-8"))
        }
        TAG_BMPSTRING if ucs(data, 2).is_none() => Err(DnError::Undecodable(
            "BMPString of odd length or with surrogates",
        )),
        TAG_UNIVERSALSTRING if ucs(data, 4).is_none() => Err(DnError::Undecodable(
            "UniversalString of a length not a multiple of 4 or outside Unicode",
        )),
        _ => Ok(()),
    }
}

/// Big-endian UCS-2 (`width` 2) or UCS-4 (`width` 4) as characters, or
/// `None` if the length does not fit or a unit is not a Unicode scalar value
/// (OpenSSL refuses surrogates, paired or not, in both).
fn ucs(data: &[u8], width: usize) -> Option<Vec<char>> {
    if !data.len().is_multiple_of(width) {
        return None;
    }
    data.chunks_exact(width)
        .map(|c| char::from_u32(c.iter().fold(0_u32, |acc, &b| (acc << 8) | u32::from(b))))
        .collect()
}

/// One attribute of a `Name` as OpenSSL holds it after decoding.
#[derive(Debug, Clone)]
pub struct NameValue<'a> {
    /// Index of the RDN (SET) it belongs to.
    pub set: usize,
    /// Content octets of the attribute type OID.
    pub oid: &'a [u8],
    /// Universal tag of a string value; `None` for a SEQUENCE (kept encoded)
    /// and for non-universal tags.
    pub tag: Option<u32>,
    /// The string octets (a BER constructed string concatenated); for a
    /// SEQUENCE or a non-universal value, the whole original TLV.
    pub data: Cow<'a, [u8]>,
}

/// The attributes of a `Name`, in DER order.
///
/// # Errors
/// [`DnError`] if `name_der` is not one well-formed DER `Name`.
pub fn values(name_der: &[u8]) -> Result<Vec<NameValue<'_>>, DnError> {
    let mut out = Vec::new();
    for entry in parse_name(name_der)? {
        let stored = Stored::decode(&entry.value)?;
        let tag = stored.universal_tag();
        let data = match (stored.structured, stored.content) {
            (true, _) => Cow::Borrowed(entry.value.raw),
            (false, content) => content,
        };
        out.push(NameValue {
            set: entry.set,
            oid: entry.oid,
            tag,
            data,
        });
    }
    Ok(out)
}

/// OpenSSL's `ASN1_STRING_to_UTF8`: the value as UTF-8, or `None` for a
/// type it cannot convert (anything but UTF8, Numeric, Printable, T61, IA5,
/// UTC/GeneralizedTime, Visible, Universal and BMP strings) or an invalid
/// encoding.
pub fn to_utf8(value: &NameValue<'_>) -> Option<Vec<u8>> {
    let data: &[u8] = &value.data;
    match value.tag? {
        TAG_UTF8STRING => std::str::from_utf8(data)
            .ok()
            .map(|s| s.as_bytes().to_vec()),
        18 | 19 | 20 | 22 | 23 | 24 | 26 => Some(
            data.iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .into_bytes(),
        ),
        TAG_BMPSTRING => ucs(data, 2).map(|c| c.into_iter().collect::<String>().into_bytes()),
        TAG_UNIVERSALSTRING => ucs(data, 4).map(|c| c.into_iter().collect::<String>().into_bytes()),
        _ => None,
    }
}

/// OpenSSL's canonical encoding of a `Name` (`x509_name_canon`), which
/// `nc_dn` compares byte-wise for directoryName name constraints: every
/// RDN as `SET OF SEQUENCE { OID, value }` without the outer SEQUENCE, the
/// string values (UTF8, BMP, Universal, Printable, T61, IA5, Visible)
/// converted to a UTF8String with ASCII lowercased, leading and trailing
/// white space removed and inner runs of white space turned into one space;
/// other values as they were. An empty name has an empty encoding.
///
/// # Errors
/// [`DnError`] if the name is malformed or a string does not convert (such a
/// name never loads in OpenSSL).
pub fn canonical(name_der: &[u8]) -> Result<Vec<u8>, DnError> {
    let entries = parse_name(name_der)?;
    let mut sets: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut current: Option<usize> = None;
    for entry in &entries {
        if current != Some(entry.set) {
            sets.push(Vec::new());
            current = Some(entry.set);
        }
        let stored = Stored::decode(&entry.value)?;
        let canon_type = matches!(
            stored.universal_tag(),
            Some(TAG_UTF8STRING | TAG_BMPSTRING | TAG_UNIVERSALSTRING | 19 | 20 | 22 | 26)
        );
        let value_der = if canon_type {
            let value = NameValue {
                set: entry.set,
                oid: entry.oid,
                tag: stored.universal_tag(),
                data: stored.content.clone(),
            };
            let utf8 = to_utf8(&value).ok_or(DnError::Undecodable(
                "string that does not convert to UTF-8",
            ))?;
            let mut der = vec![0x0C];
            let canon = canonical_string(&utf8);
            push_der_length(&mut der, canon.len());
            der.extend_from_slice(&canon);
            der
        } else {
            stored.dump_der()
        };
        let mut atv = Vec::with_capacity(entry.oid.len() + value_der.len() + 8);
        atv.push(0x06);
        push_der_length(&mut atv, entry.oid.len());
        atv.extend_from_slice(entry.oid);
        atv.extend_from_slice(&value_der);
        let mut seq = vec![0x30];
        push_der_length(&mut seq, atv.len());
        seq.extend_from_slice(&atv);
        if let Some(set) = sets.last_mut() {
            set.push(seq);
        }
    }
    let mut out = Vec::new();
    for mut set in sets {
        // DER SET OF: members sorted by their encodings (i2d sorts them too).
        set.sort();
        let content = set.concat();
        out.push(0x31);
        push_der_length(&mut out, content.len());
        out.extend_from_slice(&content);
    }
    Ok(out)
}

/// `asn1_string_canon` on UTF-8 bytes.
fn canonical_string(utf8: &[u8]) -> Vec<u8> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
    let start = utf8.iter().position(|b| !space(b)).unwrap_or(utf8.len());
    let end = utf8
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end.saturating_sub(start));
    let mut in_space = false;
    for b in utf8.get(start..end).unwrap_or_default() {
        if space(b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            in_space = false;
            out.push(b.to_ascii_lowercase());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The Name structure

struct Entry<'a> {
    /// Index of the RDN (the SET) this attribute belongs to.
    set: usize,
    /// OID content octets of the attribute type.
    oid: &'a [u8],
    value: Tlv<'a>,
}

fn parse_name(name_der: &[u8]) -> Result<Vec<Entry<'_>>, DnError> {
    let (name, rest) = read_tlv(name_der)?;
    if !rest.is_empty() {
        return Err(DnError::Structure("trailing data after the Name"));
    }
    if !name.is_universal(TAG_SEQUENCE, true) {
        return Err(DnError::Structure("Name is not a SEQUENCE"));
    }
    let mut entries = Vec::new();
    for (set, rdn) in Children::new(name.content).enumerate() {
        let rdn = rdn?;
        if !rdn.is_universal(TAG_SET, true) {
            return Err(DnError::Structure("RDN is not a SET"));
        }
        for atv in Children::new(rdn.content) {
            let atv = atv?;
            if !atv.is_universal(TAG_SEQUENCE, true) {
                return Err(DnError::Structure("attribute is not a SEQUENCE"));
            }
            let mut parts = Children::new(atv.content);
            let oid = match parts.next() {
                Some(t) => t?,
                None => return Err(DnError::Structure("attribute without type")),
            };
            let value = match parts.next() {
                Some(t) => t?,
                None => return Err(DnError::Structure("attribute without value")),
            };
            if parts.next().is_some() {
                return Err(DnError::Structure("attribute with extra elements"));
            }
            if !oid.is_universal(6, false) {
                return Err(DnError::Structure("attribute type is not an OID"));
            }
            if !valid_oid(oid.content) {
                return Err(DnError::InvalidOid);
            }
            entries.push(Entry {
                set,
                oid: oid.content,
                value,
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::oid::KNOWN_ATTRIBUTES;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        push_der_length(&mut v, content.len());
        v.extend_from_slice(content);
        v
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u128> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut subids = vec![arcs[0] * 40 + arcs[1]];
        subids.extend_from_slice(&arcs[2..]);
        let mut content = Vec::new();
        for mut v in subids {
            let mut groups = vec![u8::try_from(v & 0x7F).unwrap()];
            v >>= 7;
            while v > 0 {
                groups.push(0x80 | u8::try_from(v & 0x7F).unwrap());
                v >>= 7;
            }
            groups.reverse();
            content.extend(groups);
        }
        tlv(0x06, &content)
    }

    fn atv(oid_dotted: &str, tag: u8, value: &[u8]) -> Vec<u8> {
        let mut c = oid(oid_dotted);
        c.extend(tlv(tag, value));
        tlv(0x30, &c)
    }

    fn rdn(atvs: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x31, &atvs.concat())
    }

    fn name(rdns: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &rdns.concat())
    }

    /// Name of single-attribute RDNs.
    fn simple(attrs: &[(&str, u8, &[u8])]) -> Vec<u8> {
        name(
            &attrs
                .iter()
                .map(|(o, t, v)| rdn(&[atv(o, *t, v)]))
                .collect::<Vec<_>>(),
        )
    }

    fn both(name_der: &[u8]) -> (String, String) {
        (rfc2253(name_der).unwrap(), legacy(name_der).unwrap())
    }

    const CN: &str = "2.5.4.3";
    const UTF8: u8 = 12;
    const PRINTABLE: u8 = 19;

    #[test]
    fn nginx_reference_example() {
        let n = simple(&[
            ("2.5.4.6", PRINTABLE, b"RU"),
            ("2.5.4.10", UTF8, b"Example"),
            ("2.5.4.11", UTF8, b"Dev"),
            (CN, UTF8, b"alice"),
            ("1.2.840.113549.1.9.1", 22, b"alice@example.com"),
        ]);
        let (s, l) = both(&n);
        assert_eq!(
            s,
            "emailAddress=alice@example.com,CN=alice,OU=Dev,O=Example,C=RU"
        );
        assert_eq!(
            l,
            "/C=RU/O=Example/OU=Dev/CN=alice/emailAddress=alice@example.com"
        );
    }

    #[test]
    fn empty_name_and_empty_value() {
        assert_eq!(both(&name(&[])), (String::new(), String::new()));
        let (s, l) = both(&simple(&[(CN, UTF8, b"")]));
        assert_eq!((s.as_str(), l.as_str()), ("CN=", "/CN="));
    }

    #[test]
    fn reversal_and_multi_valued_rdn() {
        let n = name(&[
            rdn(&[atv("2.5.4.6", PRINTABLE, b"RU")]),
            rdn(&[
                atv(CN, UTF8, b"a"),
                atv("2.5.4.11", UTF8, b"b"),
                atv("2.5.4.10", UTF8, b"c"),
            ]),
            rdn(&[atv(CN, UTF8, b"z")]),
        ]);
        let (s, l) = both(&n);
        assert_eq!(s, "CN=z,O=c+OU=b+CN=a,C=RU");
        assert_eq!(l, "/C=RU/CN=a+OU=b+O=c/CN=z");
    }

    #[test]
    fn empty_rdn_is_skipped_but_separates() {
        let n = name(&[
            rdn(&[atv(CN, UTF8, b"a")]),
            rdn(&[]),
            rdn(&[atv(CN, UTF8, b"b")]),
        ]);
        assert_eq!(both(&n), ("CN=b,CN=a".into(), "/CN=a/CN=b".into()));
    }

    #[test]
    fn rfc2253_escapes() {
        let (s, _) = both(&simple(&[(CN, UTF8, b"Doe, John+Jr \"Q\" <x>;=\\")]));
        assert_eq!(s, r#"CN=Doe\, John\+Jr \"Q\" \<x\>\;=\\"#);
        let (s, _) = both(&simple(&[(CN, UTF8, b" lead#space ")]));
        assert_eq!(s, r"CN=\ lead#space\ ");
        let (s, _) = both(&simple(&[(CN, UTF8, b"#hash#")]));
        assert_eq!(s, r"CN=\#hash#");
        // One character: the "last" flag replaces the "first" one.
        assert_eq!(rfc2253(&simple(&[(CN, UTF8, b"#")])).unwrap(), "CN=#");
        assert_eq!(rfc2253(&simple(&[(CN, UTF8, b" ")])).unwrap(), r"CN=\ ");
        assert_eq!(rfc2253(&simple(&[(CN, UTF8, b"  ")])).unwrap(), r"CN=\ \ ");
        assert_eq!(
            rfc2253(&simple(&[(CN, UTF8, b"   ")])).unwrap(),
            r"CN=\  \ "
        );
    }

    #[test]
    fn rfc2253_control_and_high_bytes() {
        let (s, l) = both(&simple(&[(CN, UTF8, b"\r\n\t\x01\x7f\x00 \xd0\x81")]));
        assert_eq!(s, r"CN=\0D\0A\09\01\7F\00 \D0\81");
        assert_eq!(l, r"/CN=\x0D\x0A\x09\x01\x7F\x00 \xD0\x81");
    }

    #[test]
    fn latin1_types_are_converted_to_utf8() {
        for tag in [18, 19, 20, 22, 23, 24, 26] {
            let (s, l) = both(&simple(&[(CN, tag, b"\xe9#\x80")]));
            assert_eq!(s, r"CN=\C3\A9#\C2\80", "tag {tag}");
            assert_eq!(l, r"/CN=\xE9#\x80", "tag {tag}");
        }
    }

    #[test]
    fn bmp_and_universal_strings() {
        let bmp: Vec<u8> = " #é€ф, "
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let (s, l) = both(&simple(&[(CN, 30, &bmp)]));
        assert_eq!(s, r"CN=\ #\C3\A9\E2\82\AC\D1\84\,\ ");
        assert_eq!(l, r"/CN=\x00 \x00#\x00\xE9 \xAC\x04D\x00,\x00 ");
        let univ: Vec<u8> = "#é😀+ "
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        let (s, _) = both(&simple(&[(CN, 28, &univ)]));
        assert_eq!(s, r"CN=\#\C3\A9\F0\9F\98\80\+\ ");
        assert_eq!(rfc2253(&simple(&[(CN, 30, b"\0\0")])).unwrap(), r"CN=\00");
    }

    #[test]
    fn invalid_bmp_and_universal_are_dumped() {
        // Odd length, lone surrogate, above U+10FFFF, length not a multiple of 4.
        assert_eq!(
            rfc2253(&simple(&[(CN, 30, b"\0a\0")])).unwrap(),
            "CN=#1E03006100"
        );
        assert_eq!(
            rfc2253(&simple(&[(CN, 30, b"\xd8\x00")])).unwrap(),
            "CN=#1E02D800"
        );
        assert_eq!(
            rfc2253(&simple(&[(CN, 28, b"\0\x11\0\0")])).unwrap(),
            "CN=#1C0400110000"
        );
        assert_eq!(
            rfc2253(&simple(&[(CN, 28, b"\0\0a")])).unwrap(),
            "CN=#1C03000061"
        );
        assert_eq!(
            legacy(&simple(&[(CN, 30, b"\0a\0")])).unwrap(),
            r"/CN=\x00a\x00"
        );
    }

    #[test]
    fn other_types_are_dumped() {
        let (s, l) = both(&simple(&[(CN, 2, b"\x05")]));
        assert_eq!((s.as_str(), l.as_str()), ("CN=#020105", r"/CN=\x05"));
        let (s, l) = both(&simple(&[(CN, 0x30, &tlv(2, b"\x01"))]));
        assert_eq!(
            (s.as_str(), l.as_str()),
            ("CN=#3003020101", r"/CN=0\x03\x02\x01\x01")
        );
        let (s, l) = both(&simple(&[(CN, 27, b"ab")]));
        assert_eq!((s.as_str(), l.as_str()), ("CN=#1B026162", "/CN=ab"));
        let (s, _) = both(&simple(&[(CN, 0x80, b"x")]));
        assert_eq!(s, "CN=#800178");
    }

    #[test]
    fn bit_string_is_stored_like_openssl() {
        // Unused bits are cleared; the legacy form prints the data octets only.
        let (s, l) = both(&simple(&[(CN, 3, b"\x04\xff")]));
        assert_eq!((s.as_str(), l.as_str()), ("CN=#030204F0", r"/CN=\xF0"));
        let (s, l) = both(&simple(&[(CN, 3, b"\x05")]));
        assert_eq!((s.as_str(), l.as_str()), ("CN=#030100", "/CN="));
    }

    #[test]
    fn ber_constructed_strings_are_collected() {
        let mut inner = tlv(0x04, b"ab");
        inner.extend(tlv(0x24, &tlv(0x04, b"c")));
        let n = name(&[rdn(&[{
            let mut c = oid(CN);
            c.extend(tlv(0x2C, &inner));
            tlv(0x30, &c)
        }])]);
        assert_eq!(both(&n), ("CN=abc".into(), "/CN=abc".into()));
        // Nested more than 5 levels.
        let mut v = tlv(0x04, b"x");
        for _ in 0..6 {
            v = tlv(0x24, &v);
        }
        let n = name(&[rdn(&[{
            let mut c = oid(CN);
            c.extend(tlv(0x2C, &v));
            tlv(0x30, &c)
        }])]);
        assert_eq!(rfc2253(&n), Err(DnError::TooDeep));
    }

    #[test]
    fn non_minimal_length_is_reencoded() {
        let mut c = oid("1.3.6.1.4.1.99999.1");
        c.extend_from_slice(b"\x0c\x81\x01x");
        let n = name(&[rdn(&[tlv(0x30, &c)])]);
        assert_eq!(
            both(&n),
            (
                "1.3.6.1.4.1.99999.1=#0C0178".into(),
                "/1.3.6.1.4.1.99999.1=x".into()
            )
        );
    }

    #[test]
    fn legacy_escapes() {
        let (_, l) = both(&simple(&[(CN, 22, b"/a+b\\,\"<>;=# ~\x7f")]));
        assert_eq!(l, r#"/CN=\/a\+b\,"<>;=# ~\x7F"#);
    }

    #[test]
    fn legacy_general_string_quirk() {
        assert_eq!(
            legacy(&simple(&[(CN, 27, b"\0\0\0a\0\0\0b")])).unwrap(),
            "/CN=ab"
        );
        assert_eq!(
            legacy(&simple(&[(CN, 27, b"\0\x01\0a")])).unwrap(),
            r"/CN=\x00\x01\x00a"
        );
        assert_eq!(
            legacy(&simple(&[(CN, 27, b"\0\0a")])).unwrap(),
            r"/CN=\x00\x00a"
        );
    }

    #[test]
    fn unknown_oids() {
        let (s, l) = both(&simple(&[("1.3.6.1.4.1.99999.1", UTF8, b"custom")]));
        assert_eq!(s, "1.3.6.1.4.1.99999.1=#0C06637573746F6D");
        assert_eq!(l, "/1.3.6.1.4.1.99999.1=custom");
        let (s, _) = both(&simple(&[("1.3.6.1.4.1.99999.1", UTF8, b"")]));
        assert_eq!(s, "1.3.6.1.4.1.99999.1=#0C00");
        // First arc >= 2 with a big second arc, and arcs beyond u64.
        let (s, _) = both(&simple(&[("2.999.1", UTF8, b"x")]));
        assert_eq!(s, "2.999.1=#0C0178");
        let (s, _) = both(&simple(&[("2.99999999999999999999999.5", UTF8, b"x")]));
        assert_eq!(s, "2.99999999999999999999999.5=#0C0178");
        let (s, _) = both(&simple(&[(
            "1.39.1000000000000000000000000000",
            UTF8,
            b"x",
        )]));
        assert_eq!(s, "1.39.1000000000000000000000000000=#0C0178");
    }

    #[test]
    fn long_oids_like_openssl() {
        let long = format!("1.3.6.1.4.1.{}", ["123456789"; 12].join("."));
        let (s, l) = both(&simple(&[(&long, UTF8, b"x")]));
        let cut = &long[..79];
        assert_eq!(s, format!("{cut}=#0C0178"));
        assert_eq!(l, format!("/{cut}=x"));
        // Over 586 content bytes: OpenSSL prints no name at all.
        let over = format!("1.3{}", ".1".repeat(586));
        assert_eq!(
            both(&simple(&[(&over, UTF8, b"x")])),
            ("=#0C0178".into(), "/=x".into())
        );
        let at = format!("1.3{}", ".1".repeat(585));
        assert!(
            rfc2253(&simple(&[(&at, UTF8, b"x")]))
                .unwrap()
                .starts_with("1.3.1.1")
        );
    }

    #[test]
    fn known_attribute_names() {
        for (oid_text, sn) in KNOWN_ATTRIBUTES {
            let (s, l) = both(&simple(&[(oid_text, UTF8, b"v")]));
            assert_eq!(s, format!("{sn}=v"));
            assert_eq!(l, format!("/{sn}=v"));
        }
        assert_eq!(short_name("2.5.4.3"), Some("CN"));
        assert_eq!(short_name("0.9.2342.19200300.100.1.1"), Some("UID"));
        assert_eq!(short_name("0.9.2342.19200300.100.1.44"), Some("uid"));
        assert_eq!(
            short_name("1.3.6.1.4.1.311.60.2.1.3"),
            Some("jurisdictionC")
        );
        assert_eq!(short_name("2.5.4.0"), None);
    }

    #[test]
    fn oid_round_trip() {
        for text in [
            "0.0",
            "0.39",
            "1.0",
            "1.39",
            "2.0",
            "2.40",
            "2.999.3",
            "1.2.840.113549.1.9.1",
        ] {
            let der = oid(text);
            assert_eq!(oid_to_text(&der[2..]), text);
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good = simple(&[(CN, UTF8, b"x")]);
        assert!(rfc2253(&good).is_ok());
        for cut in 0..good.len() {
            assert!(rfc2253(&good[..cut]).is_err(), "cut at {cut}");
            assert!(legacy(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(rfc2253(&trailing), Err(DnError::Structure(_))));
        // Indefinite length.
        assert_eq!(rfc2253(&[0x30, 0x80, 0, 0]), Err(DnError::BadEncoding));
        // Not a SEQUENCE / RDN not a SET / attribute not a SEQUENCE.
        assert!(rfc2253(&tlv(0x31, &[])).is_err());
        assert!(rfc2253(&name(&[tlv(0x30, &[])])).is_err());
        assert!(rfc2253(&name(&[rdn(&[tlv(0x31, &[])])])).is_err());
        // Missing value, extra element, type not an OID.
        assert!(rfc2253(&name(&[rdn(&[tlv(0x30, &oid(CN))])])).is_err());
        let mut extra = oid(CN);
        extra.extend(tlv(12, b"a"));
        extra.extend(tlv(12, b"b"));
        assert!(rfc2253(&name(&[rdn(&[tlv(0x30, &extra)])])).is_err());
        let mut not_oid = tlv(12, b"a");
        not_oid.extend(tlv(12, b"b"));
        assert!(rfc2253(&name(&[rdn(&[tlv(0x30, &not_oid)])])).is_err());
        // Invalid OID encodings.
        for bad in [&[][..], &[0x2b, 0x81], &[0x2b, 0x80, 0x01]] {
            let mut c = tlv(0x06, bad);
            c.extend(tlv(12, b"x"));
            assert_eq!(
                rfc2253(&name(&[rdn(&[tlv(0x30, &c)])])),
                Err(DnError::InvalidOid)
            );
        }
        // Absurd lengths.
        assert!(rfc2253(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
        assert!(rfc2253(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(rfc2253(&[0x1f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00]).is_err());
    }

    #[test]
    fn names_located_in_certificate() {
        let issuer = simple(&[(CN, UTF8, b"issuer")]);
        let subject = name(&[rdn(&[]), rdn(&[atv(CN, UTF8, b"s")])]);
        let algo = tlv(0x30, &oid("1.2.840.10045.4.3.2"));
        let validity = tlv(
            0x30,
            &[tlv(23, b"250101000000Z"), tlv(23, b"260101000000Z")].concat(),
        );
        for version in [tlv(0xA0, &tlv(2, b"\x02")), Vec::new()] {
            let tbs = tlv(
                0x30,
                &[
                    version,
                    tlv(2, b"\x01"),
                    algo.clone(),
                    issuer.clone(),
                    validity.clone(),
                    subject.clone(),
                    tlv(0x30, b""),
                ]
                .concat(),
            );
            let cert = tlv(0x30, &[tbs.clone(), algo.clone(), tlv(3, b"\x00")].concat());
            let (i, s) = certificate_names(&cert).unwrap();
            assert_eq!((i, s), (&issuer[..], &subject[..]));
            assert_eq!(rfc2253(s).unwrap(), "CN=s");
            for cut in 0..cert.len() {
                let _ = certificate_names(&cert[..cut]);
            }
        }
        assert!(certificate_names(&tlv(0x30, b"")).is_err());
        assert!(certificate_names(&tlv(0x30, &tlv(0x30, &tlv(2, b"\x01")))).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutate a rich Name byte by byte.
        let mut rich = vec![
            rdn(&[atv(CN, UTF8, b"a,b"), atv("2.5.4.11", 30, b"\0x")]),
            rdn(&[atv("1.3.6.1.4.1.99999.1", 3, b"\x03\xff")]),
            rdn(&[atv(CN, 28, b"\0\0\0x")]),
        ];
        rich.push(rdn(&[atv(CN, 27, b"\0\0\0y")]));
        let base = name(&rich);
        let mut state: u32 = 0x1234_5678;
        for i in 0..base.len() {
            for _ in 0..64 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let mut m = base.clone();
                m[i] = u8::try_from(state >> 24).unwrap();
                let _ = rfc2253(&m);
                let _ = legacy(&m);
                let _ = rfc2253(&m[..i]);
                let _ = openssl_decodes(&m);
                let _ = canonical(&m);
                let _ = values(&m).map(|v| v.iter().map(to_utf8).count());
            }
        }
    }

    /// Each value as `openssl x509` (3.0.19) loads or refuses it, measured
    /// on certificates whose CN was patched to that form.
    #[test]
    fn decodable_like_openssl_3_0() {
        let loads: &[(u8, &[u8])] = &[
            (UTF8, b"abc\x01defg"),
            (UTF8, b"abc\x00defg"),
            (UTF8, "\u{451}".as_bytes()),
            (PRINTABLE, b"abc\x01defg"),
            (PRINTABLE, b"abc@*"),
            (PRINTABLE, b"abc\xe9"),
            (22, b"abc\xe9"),
            (20, b"abc\xe9"),
            (18, b"letters"),
            (30, b"\x00a\x00b"),
            (28, b"\x00\x00\x00a"),
            (3, b"\x00bits"),
            (7, b"x"),
            (13, b"x"),
            (29, b"x"),
            (0x30, b"\x0c\x01x"),
            (0x2C, b"\x0c\x03abc"),
            (0x2C, b"\x04\x03abc"),
        ];
        for (tag, value) in loads {
            let n = simple(&[(CN, *tag, value)]);
            assert_eq!(openssl_decodes(&n), Ok(()), "tag {tag:#x} {value:?}");
        }
        let refused: &[(u8, &[u8])] = &[
            (UTF8, b"abc\xc3\x28"),
            (UTF8, b"ab\xed\xa0\x80"),
            (UTF8, b"abc\xc0\xaf"),
            (UTF8, b"\xf4\x90\x80\x80"),
            (30, b"\x00a\x00"),
            (30, b"\xd8\x00\x00a"),
            (30, b"\xd8\x3d\xde\x00"),
            (28, b"\x00\x00\x00a\x00\x00"),
            (28, b"\x00\x11\x00\x00"),
            (26, b"visible"),
            (27, b"general"),
            (25, b"graphic"),
            (21, b"videotex"),
            (2, b"\x01"),
            (4, b"octets"),
            (10, b"\x01"),
            (1, b"\xff"),
            (5, b""),
            (6, b"\x2a\x03"),
            (0x17, b"251231000000Z"),
            (0x31, b"\x0c\x01x"),
            (0x10, b"x"),
            (0x80, b"x"),
            (3, b"\x09bits"),
            (3, b""),
        ];
        for (tag, value) in refused {
            let n = simple(&[(CN, *tag, value)]);
            assert!(
                matches!(openssl_decodes(&n), Err(DnError::Undecodable(_))),
                "tag {tag:#x} {value:?} should be refused"
            );
        }
    }

    #[test]
    fn canonical_form_like_x509_name_canon() {
        // Case, leading/trailing and repeated white space, and the string
        // type do not matter; the RDN structure does.
        let a = simple(&[
            ("2.5.4.10", PRINTABLE, b"  Partner   Example "),
            (CN, UTF8, b"ALICE"),
        ]);
        let b = simple(&[
            ("2.5.4.10", UTF8, b"partner example"),
            (CN, 30, b"\x00a\x00l\x00i\x00c\x00e"),
        ]);
        assert_eq!(canonical(&a), canonical(&b));
        let prefix = simple(&[("2.5.4.10", UTF8, b"PARTNER example")]);
        assert!(
            canonical(&a)
                .unwrap()
                .starts_with(&canonical(&prefix).unwrap())
        );
        let other = simple(&[("2.5.4.10", UTF8, b"partner example2")]);
        assert!(
            !canonical(&a)
                .unwrap()
                .starts_with(&canonical(&other).unwrap())
        );
        // Multi-valued RDN members are sorted (DER SET OF).
        let ab = name(&[rdn(&[atv(CN, UTF8, b"a"), atv("2.5.4.11", UTF8, b"b")])]);
        let ba = name(&[rdn(&[atv("2.5.4.11", UTF8, b"b"), atv(CN, UTF8, b"a")])]);
        assert_eq!(canonical(&ab), canonical(&ba));
        assert_eq!(canonical(&name(&[])), Ok(Vec::new()));
        // NumericString is kept as it is.
        let numeric = simple(&[("2.5.4.5", 18, b"0042")]);
        let c = canonical(&numeric).unwrap();
        assert!(c.windows(6).any(|w| w == b"\x12\x040042"));
    }

    #[test]
    fn to_utf8_like_asn1_string_to_utf8() {
        let v = |tag: u8, data: &[u8]| {
            let n = simple(&[(CN, tag, data)]);
            values(&n).unwrap().first().and_then(to_utf8)
        };
        assert_eq!(v(PRINTABLE, b"abc"), Some(b"abc".to_vec()));
        assert_eq!(v(20, b"\xe9"), Some("\u{e9}".as_bytes().to_vec()));
        assert_eq!(v(30, b"\x04\x51"), Some("\u{451}".as_bytes().to_vec()));
        assert_eq!(v(UTF8, b"\xc3\x28"), None);
        assert_eq!(v(0x30, b"\x0c\x01x"), None);
        assert_eq!(v(3, b"\x00x"), None);
    }
}
