//! Access policy on the verified identity: who may reach a location.
//!
//! A location's [`AccessPolicy`] is `require_verified` plus `allow` rules.
//! A request is admitted when the policy is open (neither is set), or when
//! the connection's `$ssl_client_verify` is `SUCCESS` and, if there are
//! rules, **any** rule matches; a rule matches when **all** of its
//! conditions hold. Only a verified identity is ever matched: a certificate
//! that failed verification (also one tolerated by `optional_no_ca`) or no
//! certificate never satisfies a rule, whatever its subject says.
//!
//! Conditions ([`Condition`]): subject / issuer attributes, SAN entries by
//! kind, serial, SHA-256 fingerprint, SPKI pin, and a list file of exact
//! entries ([`ListFile`]). Exact values live in hash sets, so an allow list
//! of 10,000 fingerprints or DNs costs one hash lookup per value; only
//! patterns with a wildcard are matched one by one ([`PatternSet`]).
//!
//! Glob semantics ([`Glob`]), documented in docs/configuration.md:
//! * `*` matches any run of characters (also none) that does not contain the
//!   kind's separator: `.` for DNS names and the domain of an email address,
//!   `/` for URIs; a subject/issuer attribute value has no separator (the
//!   value is matched on its own, never the whole DN, so `*` cannot reach
//!   into another attribute);
//! * `**` matches any run, separators included;
//! * `\` makes the next character literal (`\*`, `\\`); nothing else is
//!   special;
//! * DNS names and email domains compare ASCII case-insensitively; DN
//!   attribute values, email local parts and URIs are case-sensitive.
//!
//! This module only knows the identity ([`PeerIdentity`]); the
//! configuration builds the rules, the service asks for a [`Decision`].

use std::collections::HashSet;
use std::fmt;
use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::{PeerIdentity, Verdict};
use crate::identity::{ClientCert, dn, oid};

/// Longest glob pattern: bounds the matcher's table (pattern × value).
pub const MAX_PATTERN_LEN: usize = 1024;
/// Largest list file read: a million 80-byte entries, far beyond any
/// real allow list, and a bound on the memory a typo'd path (a log file,
/// a disk image) can take at reload.
pub const MAX_LIST_FILE_SIZE: u64 = 64 << 20;

/// A rule or list that cannot be built (the configuration names the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("empty pattern: it never matches")]
    EmptyPattern,
    #[error("pattern {0:?} is longer than {MAX_PATTERN_LEN} bytes")]
    PatternTooLong(String),
    #[error("pattern {0:?} ends with a lone `\\` (write `\\\\` for a backslash)")]
    TrailingBackslash(String),
    #[error("{0:?} is not an email pattern: it needs `@` (e.g. \"*@example.com\")")]
    EmailWithoutAt(String),
    #[error(
        "{0:?} is not an IP address or CIDR (e.g. \"192.0.2.1\", \"10.0.0.0/8\", \"2001:db8::/32\"); wildcards are not used for IPs"
    )]
    BadIp(String),
    #[error(
        "unknown attribute {0:?}: use an OpenSSL short name (CN, OU, O, L, ST, C, emailAddress, DC, UID, serialNumber, ...) or a dotted OID (2.5.4.11)"
    )]
    UnknownAttribute(String),
    #[error(
        "{0:?} is not a serial number in hex as $ssl_client_serial prints it (e.g. \"0A1B2C\")"
    )]
    BadSerial(String),
    #[error(
        "serial {0:?} has an odd number of hex digits; $ssl_client_serial prints two per byte (write {1:?})"
    )]
    OddSerial(String, String),
    #[error("{0:?} is not a SHA-256 fingerprint: 64 hex digits (colons allowed)")]
    BadFingerprint(String),
    #[error("{0:?} is not an SPKI pin: base64 of a 32-byte SHA-256 (44 characters ending in `=`)")]
    BadSpki(String),
    #[error("an empty list never matches")]
    EmptyList,
}

/// Why a list file cannot be used (with [`ListFile::load`]'s path in the
/// configuration error).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    #[error("larger than {MAX_LIST_FILE_SIZE} bytes")]
    TooLarge,
    #[error("not UTF-8 text")]
    NotText,
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
}

// ---------------------------------------------------------------------------
// Globs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    /// `*`: any run without the separator.
    Star,
    /// `**`: any run.
    AnyStar,
}

/// How values of one kind compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The byte `*` does not cross.
    pub separator: Option<u8>,
    /// ASCII case-insensitive.
    pub fold_case: bool,
}

impl Kind {
    /// A subject or issuer attribute value: case-sensitive, no separator.
    pub const ATTRIBUTE: Kind = Kind {
        separator: None,
        fold_case: false,
    };
    /// A DNS name (also the domain of an email address).
    pub const DNS: Kind = Kind {
        separator: Some(b'.'),
        fold_case: true,
    };
    /// A URI: case-sensitive, `*` stays within a path segment.
    pub const URI: Kind = Kind {
        separator: Some(b'/'),
        fold_case: false,
    };
    /// The local part of an email address (before the last `@`).
    pub const EMAIL_LOCAL: Kind = Kind {
        separator: None,
        fold_case: false,
    };

    fn normalize<'a>(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        if self.fold_case && value.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(value.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(value)
        }
    }
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    toks: Vec<Tok>,
    kind: Kind,
}

/// A pattern read: its literal text when it has no wildcard.
enum Parsed {
    Literal(String),
    Glob(Glob),
}

fn parse_glob(pattern: &str, kind: Kind) -> Result<Parsed, AccessError> {
    if pattern.is_empty() {
        return Err(AccessError::EmptyPattern);
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(AccessError::PatternTooLong(pattern.to_string()));
    }
    let bytes = pattern.as_bytes();
    let mut toks = Vec::with_capacity(bytes.len());
    let mut wild = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => match bytes.get(i + 1) {
                Some(&next) => {
                    toks.push(Tok::Byte(next));
                    i += 2;
                    continue;
                }
                None => return Err(AccessError::TrailingBackslash(pattern.to_string())),
            },
            b'*' if bytes.get(i + 1) == Some(&b'*') => {
                wild = true;
                toks.push(Tok::AnyStar);
                i += 2;
                continue;
            }
            b'*' => {
                wild = true;
                toks.push(Tok::Star);
            }
            other => toks.push(Tok::Byte(other)),
        }
        i += 1;
    }
    let fold = |b: u8| {
        if kind.fold_case {
            b.to_ascii_lowercase()
        } else {
            b
        }
    };
    for t in &mut toks {
        if let Tok::Byte(b) = t {
            *b = fold(*b);
        }
    }
    if wild {
        return Ok(Parsed::Glob(Glob { toks, kind }));
    }
    let literal: Vec<u8> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Byte(b) => Some(*b),
            _ => None,
        })
        .collect();
    // Removing an ASCII `\` from valid UTF-8 leaves valid UTF-8; the
    // fallback to a glob is never taken in practice.
    match String::from_utf8(literal) {
        Ok(s) => Ok(Parsed::Literal(s)),
        Err(_) => Ok(Parsed::Glob(Glob { toks, kind })),
    }
}

impl Glob {
    /// Whether `value` (already case-folded for folding kinds) matches.
    ///
    /// A table walk over (pattern position × value byte): at most
    /// [`MAX_PATTERN_LEN`] × value length steps, no backtracking.
    fn matches_normalized(&self, value: &[u8]) -> bool {
        let n = self.toks.len();
        let mut now = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        now[0] = true;
        self.close(&mut now);
        for &b in value {
            next.iter_mut().for_each(|x| *x = false);
            let mut any = false;
            for (j, tok) in self.toks.iter().enumerate() {
                if !now[j] {
                    continue;
                }
                match *tok {
                    Tok::Byte(x) if x == b => {
                        next[j + 1] = true;
                        any = true;
                    }
                    Tok::Byte(_) => {}
                    Tok::Star if Some(b) == self.kind.separator => {}
                    Tok::Star | Tok::AnyStar => {
                        next[j] = true;
                        any = true;
                    }
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut now, &mut next);
        }
        now[n]
    }

    /// A star may match nothing: its successor is reachable too.
    fn close(&self, states: &mut [bool]) {
        for (j, tok) in self.toks.iter().enumerate() {
            if states[j] && matches!(tok, Tok::Star | Tok::AnyStar) {
                states[j + 1] = true;
            }
        }
    }
}

/// Patterns of one kind: exact values in a hash set, wildcard patterns in
/// a list.
#[derive(Debug, Clone)]
pub struct PatternSet {
    kind: Kind,
    exact: HashSet<String>,
    globs: Vec<Glob>,
}

impl PatternSet {
    /// The set of `patterns`, each checked.
    ///
    /// # Errors
    /// The first pattern that is malformed, or [`AccessError::EmptyList`].
    pub fn new<S: AsRef<str>>(kind: Kind, patterns: &[S]) -> Result<PatternSet, AccessError> {
        if patterns.is_empty() {
            return Err(AccessError::EmptyList);
        }
        let mut set = PatternSet {
            kind,
            exact: HashSet::new(),
            globs: Vec::new(),
        };
        for p in patterns {
            match parse_glob(p.as_ref(), kind)? {
                Parsed::Literal(s) => {
                    set.exact.insert(kind.normalize(&s).into_owned());
                }
                Parsed::Glob(g) => set.globs.push(g),
            }
        }
        Ok(set)
    }

    /// Whether `value` matches one of the patterns.
    pub fn matches(&self, value: &str) -> bool {
        let value = self.kind.normalize(value);
        self.exact.contains(value.as_ref())
            || self
                .globs
                .iter()
                .any(|g| g.matches_normalized(value.as_bytes()))
    }
}

/// Email patterns: the local part (before the last `@`) case-sensitive and
/// without separator, the domain as a DNS name.
#[derive(Debug, Clone)]
pub struct EmailSet {
    exact: HashSet<String>,
    globs: Vec<(Glob, Glob)>,
}

/// Splits at the last `@` that is not escaped.
fn split_email_pattern(p: &str) -> Option<(&str, &str)> {
    let bytes = p.as_bytes();
    let mut at = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'@' => {
                at = Some(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    at.map(|i| (&p[..i], &p[i + 1..]))
}

fn normalize_email(value: &str) -> Option<String> {
    let (local, domain) = value.rsplit_once('@')?;
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

impl EmailSet {
    /// # Errors
    /// The first malformed pattern, or [`AccessError::EmptyList`].
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<EmailSet, AccessError> {
        if patterns.is_empty() {
            return Err(AccessError::EmptyList);
        }
        let mut set = EmailSet {
            exact: HashSet::new(),
            globs: Vec::new(),
        };
        for p in patterns {
            let p = p.as_ref();
            let (local, domain) =
                split_email_pattern(p).ok_or_else(|| AccessError::EmailWithoutAt(p.to_string()))?;
            let local = parse_glob(local, Kind::EMAIL_LOCAL)?;
            let domain = parse_glob(domain, Kind::DNS)?;
            match (local, domain) {
                (Parsed::Literal(l), Parsed::Literal(d)) => {
                    set.exact.insert(format!("{l}@{}", d.to_ascii_lowercase()));
                }
                (l, d) => set
                    .globs
                    .push((as_glob(l, Kind::EMAIL_LOCAL), as_glob(d, Kind::DNS))),
            }
        }
        Ok(set)
    }

    pub fn matches(&self, value: &str) -> bool {
        let Some(normal) = normalize_email(value) else {
            return false;
        };
        if self.exact.contains(&normal) {
            return true;
        }
        let Some((local, domain)) = normal.rsplit_once('@') else {
            return false;
        };
        self.globs.iter().any(|(l, d)| {
            l.matches_normalized(local.as_bytes()) && d.matches_normalized(domain.as_bytes())
        })
    }
}

fn as_glob(p: Parsed, kind: Kind) -> Glob {
    match p {
        Parsed::Glob(g) => g,
        Parsed::Literal(s) => Glob {
            toks: s
                .bytes()
                .map(|b| {
                    Tok::Byte(if kind.fold_case {
                        b.to_ascii_lowercase()
                    } else {
                        b
                    })
                })
                .collect(),
            kind,
        },
    }
}

/// IP addresses and CIDR blocks.
#[derive(Debug, Clone)]
pub struct IpSet {
    exact: HashSet<IpAddr>,
    nets: Vec<(IpAddr, u8)>,
}

impl IpSet {
    /// # Errors
    /// The first entry that is neither an address nor a CIDR block.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<IpSet, AccessError> {
        if entries.is_empty() {
            return Err(AccessError::EmptyList);
        }
        let mut set = IpSet {
            exact: HashSet::new(),
            nets: Vec::new(),
        };
        for e in entries {
            let e = e.as_ref();
            let bad = || AccessError::BadIp(e.to_string());
            match e.split_once('/') {
                None => {
                    set.exact.insert(e.parse::<IpAddr>().map_err(|_| bad())?);
                }
                Some((addr, len)) => {
                    let addr = addr.parse::<IpAddr>().map_err(|_| bad())?;
                    // Digits only, no leading zero (`/08` is a typo).
                    if len.is_empty()
                        || !len.bytes().all(|b| b.is_ascii_digit())
                        || (len.len() > 1 && len.starts_with('0'))
                    {
                        return Err(bad());
                    }
                    let len: u8 = len.parse().map_err(|_| bad())?;
                    let max = if addr.is_ipv4() { 32 } else { 128 };
                    if len > max {
                        return Err(bad());
                    }
                    set.nets.push((addr, len));
                }
            }
        }
        Ok(set)
    }

    pub fn matches(&self, ip: IpAddr) -> bool {
        self.exact.contains(&ip)
            || self.nets.iter().any(|&(net, len)| match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                    u32::from(n) & mask == u32::from(a) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(a)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                    u128::from(n) & mask == u128::from(a) & mask
                }
                _ => false,
            })
    }
}

// ---------------------------------------------------------------------------
// Exact values

/// `$ssl_client_serial` form: upper-case hex, colons removed.
///
/// # Errors
/// Not hex, or an odd number of digits.
pub fn parse_serial(text: &str) -> Result<String, AccessError> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let digits: String = digits.chars().filter(|&c| c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AccessError::BadSerial(text.to_string()));
    }
    let upper = format!("{sign}{}", digits.to_ascii_uppercase());
    if digits.len() % 2 == 1 {
        return Err(AccessError::OddSerial(
            text.to_string(),
            format!("{sign}0{}", digits.to_ascii_uppercase()),
        ));
    }
    Ok(upper)
}

/// 64 lower-case hex digits (colons and upper case accepted).
///
/// # Errors
/// Not 64 hex digits.
pub fn parse_fingerprint(text: &str) -> Result<String, AccessError> {
    let digits: String = text.chars().filter(|&c| c != ':').collect();
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AccessError::BadFingerprint(text.to_string()));
    }
    Ok(digits.to_ascii_lowercase())
}

/// Standard padded base64 of 32 bytes, as [`ClientCert::spki_sha256`] prints it.
///
/// # Errors
/// Not base64, or not 32 bytes.
pub fn parse_spki(text: &str) -> Result<String, AccessError> {
    let bad = || AccessError::BadSpki(text.to_string());
    let bytes = text.as_bytes();
    // 32 bytes: 43 characters and one `=`.
    if bytes.len() != 44 || bytes[43] != b'=' {
        return Err(bad());
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    for &c in &bytes[..43] {
        value(c).ok_or_else(bad)?;
    }
    // The last character carries 2 bits of the last byte and 4 zero bits.
    if value(bytes[42]).is_some_and(|v| v & 0x03 != 0) {
        return Err(bad());
    }
    Ok(text.to_string())
}

// ---------------------------------------------------------------------------
// List files

/// A list file: one entry a line, `#` comments and blank lines ignored.
///
/// ```text
/// sha256:<64 hex digits>        SHA-256 fingerprint of the certificate
/// spki:<base64>                 SHA-256 of the SubjectPublicKeyInfo
/// subject:<DN>                  the subject exactly as $ssl_client_s_dn prints it
/// serial:<hex>                  as $ssl_client_serial prints it
/// ```
#[derive(Debug, Default)]
pub struct ListFile {
    pub path: PathBuf,
    sha256: HashSet<String>,
    spki: HashSet<String>,
    subject: HashSet<String>,
    serial: HashSet<String>,
}

impl ListFile {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`ListError`]: unreadable, too large, or the first bad line.
    pub fn load(path: &Path) -> Result<ListFile, ListError> {
        let file = std::fs::File::open(path)?;
        let mut bytes = Vec::new();
        file.take(MAX_LIST_FILE_SIZE + 1).read_to_end(&mut bytes)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_LIST_FILE_SIZE {
            return Err(ListError::TooLarge);
        }
        let text = String::from_utf8(bytes).map_err(|_| ListError::NotText)?;
        let mut list = ListFile::parse(&text)?;
        list.path = path.to_path_buf();
        Ok(list)
    }

    /// The entries of `text`.
    ///
    /// # Errors
    /// [`ListError::Line`] for the first bad line.
    pub fn parse(text: &str) -> Result<ListFile, ListError> {
        let mut list = ListFile::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |problem: String| ListError::Line {
                line: i + 1,
                problem,
            };
            let Some((kind, value)) = line.split_once(':') else {
                return Err(fail(format!(
                    "{line:?} is not `sha256:`, `spki:`, `subject:` or `serial:` followed by a value"
                )));
            };
            let value = value.trim();
            match kind.trim() {
                "sha256" => {
                    list.sha256
                        .insert(parse_fingerprint(value).map_err(|e| fail(e.to_string()))?);
                }
                "spki" => {
                    list.spki
                        .insert(parse_spki(value).map_err(|e| fail(e.to_string()))?);
                }
                "serial" => {
                    list.serial
                        .insert(parse_serial(value).map_err(|e| fail(e.to_string()))?);
                }
                "subject" if value.is_empty() => return Err(fail("empty subject".into())),
                "subject" => {
                    list.subject.insert(value.to_string());
                }
                other => {
                    return Err(fail(format!(
                        "unknown entry kind {other:?} (use sha256, spki, subject or serial)"
                    )));
                }
            }
        }
        Ok(list)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.sha256.len() + self.spki.len() + self.subject.len() + self.serial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn matches(&self, cert: &ClientCert) -> bool {
        self.sha256.contains(cert.fingerprint_sha256())
            || self.spki.contains(cert.spki_sha256())
            || self.subject.contains(cert.subject_dn())
            || self.serial.contains(cert.serial())
    }
}

// ---------------------------------------------------------------------------
// Rules

/// Which name an attribute condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Subject,
    Issuer,
}

/// `CN = "pattern"`: some value of that attribute matches.
#[derive(Debug, Clone)]
pub struct AttributeMatch {
    /// Dotted OID.
    pub oid: String,
    /// As written in the configuration.
    pub written: String,
    pub patterns: PatternSet,
}

/// The dotted OID of an attribute name: an OpenSSL short name (exact case
/// first, then case-insensitively when that is unambiguous) or a dotted OID.
///
/// # Errors
/// [`AccessError::UnknownAttribute`].
pub fn attribute_oid(name: &str) -> Result<String, AccessError> {
    if let Some((dotted, _)) = oid::KNOWN_ATTRIBUTES.iter().find(|(_, sn)| *sn == name) {
        return Ok((*dotted).to_string());
    }
    let folded: Vec<&(&str, &str)> = oid::KNOWN_ATTRIBUTES
        .iter()
        .filter(|(_, sn)| sn.eq_ignore_ascii_case(name))
        .collect();
    if let [(dotted, _)] = folded.as_slice() {
        return Ok((*dotted).to_string());
    }
    let arcs: Vec<&str> = name.split('.').collect();
    let numeric = arcs.iter().all(|a| {
        !a.is_empty()
            && a.bytes().all(|b| b.is_ascii_digit())
            && (a.len() == 1 || !a.starts_with('0'))
    });
    let first_ok = matches!(arcs.first(), Some(&"0" | &"1" | &"2"));
    if arcs.len() >= 2 && numeric && first_ok {
        return Ok(name.to_string());
    }
    Err(AccessError::UnknownAttribute(name.to_string()))
}

/// One condition of a rule.
#[derive(Debug, Clone)]
pub enum Condition {
    Attributes(Name, Vec<AttributeMatch>),
    SanDns(PatternSet),
    SanEmail(EmailSet),
    SanUri(PatternSet),
    SanIp(IpSet),
    Serial(HashSet<String>),
    Fingerprint(HashSet<String>),
    Spki(HashSet<String>),
    List(Arc<ListFile>),
}

/// One `allow` rule: all conditions must hold.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `allow[N]`, named in logs and by `inspect`.
    pub label: String,
    pub conditions: Vec<Condition>,
}

/// The attribute values of a certificate's names, computed on first use.
struct Names<'a> {
    cert: &'a ClientCert,
    subject: OnceLock<Vec<(String, String)>>,
    issuer: OnceLock<Vec<(String, String)>>,
}

impl Names<'_> {
    fn values(&self, which: Name) -> &[(String, String)] {
        let cell = match which {
            Name::Subject => &self.subject,
            Name::Issuer => &self.issuer,
        };
        cell.get_or_init(|| {
            let Ok((issuer, subject)) = dn::certificate_names(self.cert.der()) else {
                return Vec::new();
            };
            let der = match which {
                Name::Subject => subject,
                Name::Issuer => issuer,
            };
            dn::values(der)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| {
                    let text = String::from_utf8(dn::to_utf8(v)?).ok()?;
                    Some((oid::oid_to_text(v.oid), text))
                })
                .collect()
        })
    }
}

impl Condition {
    fn holds(&self, names: &Names<'_>) -> bool {
        let cert = names.cert;
        let sans = cert.sans();
        match self {
            Condition::Attributes(which, attrs) => {
                let values = names.values(*which);
                attrs.iter().all(|a| {
                    values
                        .iter()
                        .any(|(oid, v)| *oid == a.oid && a.patterns.matches(v))
                })
            }
            Condition::SanDns(p) => sans.dns.iter().any(|v| p.matches(v)),
            Condition::SanEmail(p) => sans.email.iter().any(|v| p.matches(v)),
            Condition::SanUri(p) => sans.uri.iter().any(|v| p.matches(v)),
            Condition::SanIp(p) => sans.ip_addrs.iter().any(|&ip| p.matches(ip)),
            Condition::Serial(s) => s.contains(cert.serial()),
            Condition::Fingerprint(s) => s.contains(cert.fingerprint_sha256()),
            Condition::Spki(s) => s.contains(cert.spki_sha256()),
            Condition::List(l) => l.matches(cert),
        }
    }
}

/// A location's access policy.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// `require_verified`: `$ssl_client_verify` must be `SUCCESS`.
    pub require_verified: bool,
    /// `allow` rules; empty: no rule (any verified client when
    /// `require_verified`, anyone otherwise).
    pub rules: Arc<[Rule]>,
}

/// What a policy decided for one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No policy on the location.
    Open,
    /// `require_verified` without rules, and the client is verified.
    Verified,
    /// Admitted by the rule at this index.
    Rule(usize),
    /// Denied: `$ssl_client_verify` is not `SUCCESS`.
    NotVerified,
    /// Denied: verified, but no rule matched.
    NoRuleMatched,
}

impl Decision {
    pub fn admitted(self) -> bool {
        matches!(
            self,
            Decision::Open | Decision::Verified | Decision::Rule(_)
        )
    }

    /// The `outcome` label of `policy_decisions_total`.
    pub fn outcome(self) -> &'static str {
        match self {
            Decision::Open | Decision::Verified | Decision::Rule(_) => "allowed",
            Decision::NotVerified => "denied_unverified",
            Decision::NoRuleMatched => "denied_no_rule",
        }
    }
}

impl AccessPolicy {
    /// No `require_verified` and no rule: every request passes.
    pub fn is_open(&self) -> bool {
        !self.require_verified && self.rules.is_empty()
    }

    /// The decision for `peer`.
    pub fn decide(&self, peer: &PeerIdentity) -> Decision {
        if self.is_open() {
            return Decision::Open;
        }
        let cert = match (peer.verdict(), peer.cert()) {
            (Verdict::Success, Some(cert)) => cert,
            _ => return Decision::NotVerified,
        };
        if self.rules.is_empty() {
            return Decision::Verified;
        }
        let names = Names {
            cert,
            subject: OnceLock::new(),
            issuer: OnceLock::new(),
        };
        self.rules
            .iter()
            .position(|r| r.conditions.iter().all(|c| c.holds(&names)))
            .map_or(Decision::NoRuleMatched, Decision::Rule)
    }

    /// Words for a decision, for the access log and `inspect`.
    pub fn describe(&self, decision: Decision) -> DecisionText<'_> {
        DecisionText {
            policy: self,
            decision,
        }
    }
}

/// [`AccessPolicy::describe`].
pub struct DecisionText<'a> {
    policy: &'a AccessPolicy,
    decision: Decision,
}

impl fmt::Display for DecisionText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decision {
            Decision::Open => f.write_str("allowed: no access rules"),
            Decision::Verified => f.write_str("allowed: verified (require_verified)"),
            Decision::Rule(i) => match self.policy.rules.get(i) {
                Some(r) => write!(f, "allowed by {}", r.label),
                None => write!(f, "allowed by allow[{i}]"),
            },
            Decision::NotVerified => f.write_str("denied: client certificate not verified"),
            Decision::NoRuleMatched => f.write_str("denied: no allow rule matched"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(kind: Kind, p: &[&str]) -> PatternSet {
        PatternSet::new(kind, p).unwrap()
    }

    #[test]
    fn dns_globs_stay_within_a_label_and_fold_case() {
        let s = set(Kind::DNS, &["*.example.com"]);
        assert!(s.matches("a.example.com"));
        assert!(s.matches("A.EXAMPLE.COM"));
        assert!(!s.matches("a.b.example.com"));
        assert!(!s.matches("example.com"));
        assert!(!s.matches("a.example.com.evil.org"));
        let s = set(Kind::DNS, &["**.example.com"]);
        assert!(s.matches("a.b.example.com"));
        let s = set(Kind::DNS, &["API.example.com"]);
        assert!(s.matches("api.example.com"));
    }

    #[test]
    fn attribute_values_are_case_sensitive_and_star_takes_anything() {
        let s = set(Kind::ATTRIBUTE, &["admins"]);
        assert!(s.matches("admins"));
        assert!(!s.matches("Admins"));
        let s = set(Kind::ATTRIBUTE, &["Doe, *"]);
        assert!(s.matches("Doe, John"));
        assert!(s.matches("Doe, J. R."));
        assert!(!s.matches("Roe, John"));
    }

    #[test]
    fn escapes_make_stars_literal() {
        let s = set(Kind::ATTRIBUTE, &[r"a\*b"]);
        assert!(s.matches("a*b"));
        assert!(!s.matches("axb"));
        let s = set(Kind::ATTRIBUTE, &[r"a\\*"]);
        assert!(s.matches(r"a\xyz"));
        assert!(matches!(
            PatternSet::new(Kind::ATTRIBUTE, &["a\\"]),
            Err(AccessError::TrailingBackslash(_))
        ));
        assert!(matches!(
            PatternSet::new(Kind::ATTRIBUTE, &[""]),
            Err(AccessError::EmptyPattern)
        ));
    }

    #[test]
    fn uri_star_stays_within_a_segment() {
        let s = set(Kind::URI, &["spiffe://prod.example/ns/*/sa/robot"]);
        assert!(s.matches("spiffe://prod.example/ns/payments/sa/robot"));
        assert!(!s.matches("spiffe://prod.example/ns/a/b/sa/robot"));
        let s = set(Kind::URI, &["spiffe://prod.example/**"]);
        assert!(s.matches("spiffe://prod.example/ns/a/b"));
        assert!(!s.matches("spiffe://Prod.example/ns/a/b"));
    }

    #[test]
    fn email_local_part_is_exact_and_domain_folds() {
        let s = EmailSet::new(&["*@example.com"]).unwrap();
        assert!(s.matches("john.doe@example.com"));
        assert!(s.matches("john.doe@EXAMPLE.com"));
        assert!(!s.matches("john@sub.example.com"));
        assert!(!s.matches("john@example.com.evil.org"));
        assert!(!s.matches("no-at-sign"));
        let s = EmailSet::new(&["Admin@example.com"]).unwrap();
        assert!(s.matches("Admin@Example.COM"));
        assert!(!s.matches("admin@example.com"));
        let s = EmailSet::new(&["*@*.example.com"]).unwrap();
        assert!(s.matches("a@eu.example.com"));
        assert!(!s.matches("a@x.eu.example.com"));
        assert!(EmailSet::new(&["example.com"]).is_err());
    }

    #[test]
    fn ip_sets_take_addresses_and_cidrs() {
        let s = IpSet::new(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]).unwrap();
        assert!(s.matches("10.1.2.3".parse().unwrap()));
        assert!(!s.matches("11.1.2.3".parse().unwrap()));
        assert!(s.matches("2001:db8::1".parse().unwrap()));
        assert!(!s.matches("2001:db9::1".parse().unwrap()));
        assert!(s.matches("192.0.2.7".parse().unwrap()));
        assert!(!s.matches("192.0.2.8".parse().unwrap()));
        let all = IpSet::new(&["0.0.0.0/0"]).unwrap();
        assert!(all.matches("8.8.8.8".parse().unwrap()));
        for bad in ["10.*", "10.0.0.0/33", "10.0.0.0/08", "x", "10.0.0.0/"] {
            assert!(IpSet::new(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_values_are_checked_and_normalized() {
        assert_eq!(parse_serial("0a:1b").unwrap(), "0A1B");
        assert!(matches!(
            parse_serial("A1B"),
            Err(AccessError::OddSerial(..))
        ));
        assert!(parse_serial("xyz").is_err());
        let fp = "AB".repeat(32);
        assert_eq!(parse_fingerprint(&fp).unwrap(), "ab".repeat(32));
        assert!(parse_fingerprint("abc").is_err());
        assert!(parse_spki("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_ok());
        assert!(parse_spki("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=").is_err());
        assert!(parse_spki("47DEQpj8HBSa").is_err());
        assert!(parse_spki("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!U=").is_err());
    }

    #[test]
    fn attribute_names_resolve_to_oids() {
        assert_eq!(attribute_oid("CN").unwrap(), "2.5.4.3");
        assert_eq!(attribute_oid("cn").unwrap(), "2.5.4.3");
        assert_eq!(attribute_oid("OU").unwrap(), "2.5.4.11");
        assert_eq!(
            attribute_oid("emailAddress").unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(attribute_oid("1.2.3.4").unwrap(), "1.2.3.4");
        for bad in ["Team", "1", "3.1", "1..2", "1.02", ""] {
            assert!(attribute_oid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_files_parse_every_kind_and_name_the_bad_line() {
        let fp = "ab".repeat(32);
        let text = format!(
            "# robots\n\nsha256:{fp}\nspki: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nsubject:CN=Doe\\, John,O=Example\nserial:0a1b\n"
        );
        let list = ListFile::parse(&text).unwrap();
        assert_eq!(list.len(), 4);
        assert!(list.subject.contains("CN=Doe\\, John,O=Example"));
        assert!(list.serial.contains("0A1B"));
        let err = ListFile::parse("# x\nsha256:abc\n").unwrap_err();
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = ListFile::parse("cn:foo\n").unwrap_err();
        assert!(err.to_string().contains("unknown entry kind"), "{err}");
    }

    #[test]
    fn matching_is_linear_in_pattern_times_value() {
        // A pattern that makes a backtracking matcher exponential.
        let p = "*a".repeat(20) + "b";
        let s = set(Kind::ATTRIBUTE, &[p.as_str()]);
        assert!(!s.matches(&"a".repeat(4000)));
    }
}
